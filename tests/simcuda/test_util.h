/* test_util.h: what the two cmocka suites of simcuda, test_simcuda.c and
 * test_simcuda_graph.c, share: assertion shorthands, the per-thread entry
 * points that cuda.h hides, the group setup (primary context, a module, the
 * t_probe kernel) and small helpers for kernels and device memory. They are
 * defined once, in test_util.c, which both programs link. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stddef.h>

#include "simcuda.h"

/* Per-thread entry points, which cuda.h declares only to the driver itself
 * (or under CUDA_API_PER_THREAD_DEFAULT_STREAM, under other names). */
CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                     unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                     CUstream hStream, void **kernelParams, void **extra);
CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long *streamId);

#define OK(call) assert_int_equal((call), CUDA_SUCCESS)
#define FAILS(call, code) assert_int_equal((call), (code))

extern CUcontext primary; /* the primary context, current after group_setup */
extern CUmodule mod;      /* a module: every registered kernel by name */

/* Kernel t_probe (one int parameter) records how it was last launched. */
extern simcuda_launch_t probe_seen;
extern int probe_arg;
void probe_kernel(const simcuda_launch_t *L, void *const *args);

CUfunction K(const char *name);
CUdeviceptr dalloc(size_t bytes);
void fill(CUstream s, CUdeviceptr y, float v, int n, unsigned grid, unsigned block);
float dget(CUdeviceptr p, int i);
/* Launches t_probe with argument `tag` on s (through cuLaunchKernel_ptsz if
 * ptsz) and synchronises the context. */
void launch_probe(CUstream s, int ptsz, int tag);
int group_setup(void **state);

#endif /* TEST_UTIL_H */
