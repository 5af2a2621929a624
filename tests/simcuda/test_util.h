/* test_util.h: what the cmocka suites of simcuda (test_simcuda.c,
 * test_simcuda_graph.c, test_simcuda_sched.c, test_simcuda_dag.c) share:
 * assertion shorthands, the per-thread entry points that cuda.h hides, the group setup (primary context, a module, the
 * t_probe kernel), small helpers for kernels and device memory, and the
 * re-execution of a test program as a child. They are defined once, in
 * test_util.c, which every suite links. */
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
/* Runs this program again with up to two VAR=value settings and argv[1] =
 * scenario; returns its exit status (128: killed by a signal). */
int run_child(const char *scenario, const char *env1, const char *env2);

#endif /* TEST_UTIL_H */
