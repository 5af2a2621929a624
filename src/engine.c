/* engine.c: what the shim does with ops and barriers.
 *
 * This is the pass-through engine: it counts every op and barrier and
 * forwards each call unchanged, in order, in every mode. The recording,
 * detection and replay engine (DESIGN.md sections 3-5) replaces these
 * bodies; the interface in gs.h is what the wrappers call.
 */
#include "config.h"
#include "gs.h"

/* Forward an op to the driver entry point it came in on: every entry of a
 * class shares the prototype, so the cast through the id is exact. */
#define FORWARD(type, id, ...) (((type)gs_real_fn[id])(__VA_ARGS__))

typedef CUresult (*launch_fn)(CUfunction, unsigned, unsigned, unsigned,
                              unsigned, unsigned, unsigned, unsigned, CUstream,
                              void **, void **);
typedef CUresult (*launch_ex_fn)(const CUlaunchConfig *, CUfunction, void **,
                                 void **);
typedef CUresult (*htod_fn)(CUdeviceptr, const void *, size_t, CUstream);
typedef CUresult (*dtoh_fn)(void *, CUdeviceptr, size_t, CUstream);
typedef CUresult (*dtod_fn)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
typedef CUresult (*memset8_fn)(CUdeviceptr, unsigned char, size_t, CUstream);
typedef CUresult (*memset16_fn)(CUdeviceptr, unsigned short, size_t, CUstream);
typedef CUresult (*memset32_fn)(CUdeviceptr, unsigned int, size_t, CUstream);

/* The class prototypes above must match what hooks.def says of each entry. */
_Static_assert(__builtin_types_compatible_p(launch_fn, __typeof__(&cuLaunchKernel_ptsz)), "launch");
_Static_assert(__builtin_types_compatible_p(launch_ex_fn, __typeof__(&cuLaunchKernelEx_ptsz)), "launch-ex");
_Static_assert(__builtin_types_compatible_p(htod_fn, __typeof__(&cuMemcpyHtoDAsync_v2_ptsz)), "htod");
_Static_assert(__builtin_types_compatible_p(dtoh_fn, __typeof__(&cuMemcpyDtoHAsync_v2_ptsz)), "dtoh");
_Static_assert(__builtin_types_compatible_p(dtod_fn, __typeof__(&cuMemcpyAsync_ptsz)), "copy");
_Static_assert(__builtin_types_compatible_p(memset32_fn, __typeof__(&cuMemsetD32Async_ptsz)), "memset32");

static inline void count_op(void) { gs_count(GS_CTR_ops, 1); }

CUresult gs_eng_launch(gs_fn_id_t id, CUfunction f, unsigned gx, unsigned gy,
                       unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream s, void **params, void **extra)
{
    count_op();
    gs_count(GS_CTR_launches, 1);
    return FORWARD(launch_fn, id, f, gx, gy, gz, bx, by, bz, shmem, s, params,
                   extra);
}

CUresult gs_eng_launch_ex(gs_fn_id_t id, const CUlaunchConfig *cfg, CUfunction f,
                          void **params, void **extra)
{
    count_op();
    gs_count(GS_CTR_launches, 1);
    return FORWARD(launch_ex_fn, id, cfg, f, params, extra);
}

CUresult gs_eng_htod(gs_fn_id_t id, CUdeviceptr dst, const void *src, size_t n,
                     CUstream s)
{
    count_op();
    return FORWARD(htod_fn, id, dst, src, n, s);
}

CUresult gs_eng_dtoh(gs_fn_id_t id, void *dst, CUdeviceptr src, size_t n,
                     CUstream s)
{
    count_op();
    return FORWARD(dtoh_fn, id, dst, src, n, s);
}

CUresult gs_eng_dtod(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s)
{
    count_op();
    return FORWARD(dtod_fn, id, dst, src, n, s);
}

CUresult gs_eng_copy(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s)
{
    count_op();
    return FORWARD(dtod_fn, id, dst, src, n, s);
}

CUresult gs_eng_memset8(gs_fn_id_t id, CUdeviceptr dst, unsigned char v,
                        size_t n, CUstream s)
{
    count_op();
    return FORWARD(memset8_fn, id, dst, v, n, s);
}

CUresult gs_eng_memset16(gs_fn_id_t id, CUdeviceptr dst, unsigned short v,
                         size_t n, CUstream s)
{
    count_op();
    return FORWARD(memset16_fn, id, dst, v, n, s);
}

CUresult gs_eng_memset32(gs_fn_id_t id, CUdeviceptr dst, unsigned int v,
                         size_t n, CUstream s)
{
    count_op();
    return FORWARD(memset32_fn, id, dst, v, n, s);
}

void gs_eng_barrier_stream(gs_fn_id_t id, CUstream s)
{
    (void)id;
    (void)s;
    gs_count(GS_CTR_barriers, 1);
}

void gs_eng_barrier_all(gs_fn_id_t id)
{
    (void)id;
    gs_count(GS_CTR_barriers, 1);
}
