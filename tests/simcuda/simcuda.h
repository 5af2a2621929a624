/* simcuda.h: the test-side API of simcuda, the simulated libcuda.so.1.
 *
 * Programs that run on the simulated driver use this header to register
 * host-implemented kernels, to reach device memory from inside a kernel, to
 * inject failures and to read counters. Everything else they do through the
 * ordinary driver API of <cuda.h>. See tests/simcuda/README.md for the
 * semantics. */
#ifndef SIMCUDA_H
#define SIMCUDA_H

#include <stddef.h>
#include <cuda.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIMCUDA_API __attribute__((visibility("default")))

typedef struct simcuda_dim3 {
    unsigned x, y, z;
} simcuda_dim3;

/* What a kernel sees of its launch. The kernel must honour gridDim and
 * blockDim exactly as GPU code would: it handles the indices
 * blockIdx * blockDim + threadIdx that exist, and no others. */
typedef struct simcuda_launch {
    const char *name;           /* registered kernel name */
    simcuda_dim3 gridDim;
    simcuda_dim3 blockDim;
    unsigned sharedMemBytes;
    simcuda_dim3 clusterDim;    /* CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION, 0 if unset */
    int priority;               /* CU_LAUNCH_ATTRIBUTE_PRIORITY, 0 if unset */
    int cooperative;            /* cuLaunchCooperativeKernel or the attribute */
    int fromGraph;              /* 1 when run as a node of a graph */
    int streamOrdinal;          /* 0 legacy, -1, -2, ... per-thread default
                                   streams by first use in the context,
                                   else creation index */
} simcuda_launch_t;

/* args[i] points at a copy of parameter i, laid out as nvcc would. */
typedef void (*simcuda_kernel_fn)(const simcuda_launch_t *launch, void *const *args);

/* Registers (or, with the same layout, replaces) a kernel that modules and
 * libraries can then find by name. sizes[i] is the size of parameter i.
 * Returns 0, or -1 for bad arguments or a different layout under a name
 * already registered. */
SIMCUDA_API int simcuda_register_kernel(const char *name, simcuda_kernel_fn fn,
                                        unsigned nparams, const size_t *sizes);

/* The kernel calls cudaGridDependencySynchronize() before it touches memory:
 * launched with programmatic stream serialisation (or reached by a
 * programmatic graph edge) it still runs only after its predecessor. A
 * kernel without it may run entirely before its predecessor completes. */
#define SIMCUDA_KERNEL_GDS 1u

/* The same with flags, and for a GDS kernel an optional prologue: what the
 * kernel does before its cudaGridDependencySynchronize(), which may run
 * before the predecessor completes (the body runs after both). */
SIMCUDA_API int simcuda_register_kernel_ex(const char *name, simcuda_kernel_fn fn,
                                           unsigned nparams, const size_t *sizes,
                                           unsigned flags, simcuda_kernel_fn prologue);

/* From inside a kernel: the host backing of [p, p + bytes). Outside every
 * live allocation it records a sticky CUDA_ERROR_ILLEGAL_ADDRESS and returns
 * a scratch buffer of at least `bytes` so the kernel can finish harmlessly. */
SIMCUDA_API void *simcuda_ptr(CUdeviceptr p, size_t bytes);

/* Makes calls nth .. nth+count-1 (1-based; count 0 = all from nth on) of the
 * entry point `fn` fail with `code`, without effect. `fn` is matched as
 * simcuda_calls() matches it. Returns 0, or -1 for bad arguments. */
SIMCUDA_API int simcuda_fail(const char *fn, unsigned nth, unsigned count, CUresult code);
SIMCUDA_API void simcuda_fail_clear(void);

/* Calls made to `fn`, failed or not. A base name ("cuLaunchKernel") counts
 * every exported variant of it (cuLaunchKernel_ptsz too); a variant name
 * that is not itself a base name ("cuMemcpyHtoDAsync_v2_ptsz") counts that
 * variant; "=cuLaunchKernel" counts exactly the entry point of that name. */
SIMCUDA_API unsigned long long simcuda_calls(const char *fn);

/* Seeds the scheduler's choices again, as SIMCUDA_SEED does at load: the
 * order in which queued independent work runs, and how much of the work a
 * stream or event synchronisation does not need runs anyway. */
SIMCUDA_API void simcuda_seed(unsigned long long seed);

/* Runs every submitted command whose dependencies have completed, and what
 * they make ready, as a GPU goes on while the host does something else: a
 * program that waits for a host function's effect without a synchronising
 * call (JAX waits so for every value it reads back) calls this in its
 * loop. It is not a driver entry point: the shim never sees it. */
SIMCUDA_API void simcuda_progress(void);

/* Kernels executed so far as nodes of graphs, and from ordinary launches. */
SIMCUDA_API unsigned long long simcuda_graph_kernels(void);
SIMCUDA_API unsigned long long simcuda_eager_kernels(void);

/* Parameter types of built-in kernels that take structs by value. */
typedef struct sim_affine {
    float scale, bias;
} sim_affine_t;

typedef struct sim_wide {
    float v[64];
} sim_wide_t;

#ifdef __cplusplus
}
#endif

#endif /* SIMCUDA_H */
