/* test_engine.c: the wrappers (src/wrappers.c) and the pass-through engine
 * (src/engine.c) against fake driver functions: arguments reach the driver
 * unchanged, results come back unchanged, calls are counted on the path they
 * came by, ops and barriers are counted, calls made from inside the driver
 * are forwarded without side effects, and a function the driver lacks
 * answers CUDA_ERROR_NOT_FOUND. */
#include "cm.h"
#include "gs.h"

static struct {
    CUfunction f;
    unsigned g[3], b[3], shmem;
    CUstream s;
    void **params, **extra;
    int calls;
} seen;

static CUresult fake_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                            unsigned bx, unsigned by, unsigned bz, unsigned shmem,
                            CUstream s, void **params, void **extra)
{
    seen.f = f;
    seen.g[0] = gx, seen.g[1] = gy, seen.g[2] = gz;
    seen.b[0] = bx, seen.b[1] = by, seen.b[2] = bz;
    seen.shmem = shmem, seen.s = s, seen.params = params, seen.extra = extra;
    seen.calls++;
    /* A driver calling one of its own exported functions comes back through
     * the shim's wrapper: it must be forwarded, not counted. */
    if (seen.calls == 1)
        cuStreamSynchronize(s);
    return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
}

static int syncs;
static CUresult fake_sync(CUstream s)
{
    (void)s;
    syncs++;
    return CUDA_SUCCESS;
}

static CUresult fake_memset(CUdeviceptr d, unsigned int v, size_t n, CUstream s)
{
    (void)s;
    return d == 0x1000 && v == 0xdeadbeef && n == 12 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static int setup(void **state)
{
    (void)state;
    memset(gs_real_fn, 0, sizeof gs_real_fn);
    gs_real_fn[GS_ID_cuLaunchKernel] = (void *)fake_launch;
    gs_real_fn[GS_ID_cuStreamSynchronize] = (void *)fake_sync;
    gs_real_fn[GS_ID_cuMemsetD32Async_ptsz] = (void *)fake_memset;
    /* Mark the shim initialised so no real driver is looked for. */
    atomic_store(&gs_ready, 1);
    gs_stats_reset();
    return 0;
}

static unsigned long long calls(int id, int path) { return atomic_load(&gs_calls[id].n[path]); }

static void test_launch_forwarded_and_counted(void **state)
{
    (void)state;
    int a = 1;
    void *params[] = {&a};
    CUstream s = (CUstream)0x1234;
    CUresult r = cuLaunchKernel((CUfunction)0x42, 1, 2, 3, 4, 5, 6, 7, s, params, NULL);
    assert_int_equal(r, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
    assert_int_equal(seen.calls, 1);
    assert_ptr_equal(seen.f, (CUfunction)0x42);
    assert_int_equal(seen.g[2], 3);
    assert_int_equal(seen.b[0], 4);
    assert_int_equal(seen.shmem, 7);
    assert_ptr_equal(seen.s, s);
    assert_ptr_equal(seen.params, params);
    assert_null(seen.extra);
    assert_int_equal(calls(GS_ID_cuLaunchKernel, GS_PATH_DIRECT), 1);
    assert_int_equal(atomic_load(&gs_counters[GS_CTR_launches]), 1);
    assert_int_equal(atomic_load(&gs_counters[GS_CTR_ops]), 1);
    /* The nested cuStreamSynchronize reached the driver uncounted. */
    assert_int_equal(syncs, 1);
    assert_int_equal(calls(GS_ID_cuStreamSynchronize, GS_PATH_DIRECT), 0);
    assert_int_equal(atomic_load(&gs_counters[GS_CTR_barriers]), 0);
    assert_int_equal(gs_depth, 0);
}

static void test_paths_counted_separately(void **state)
{
    (void)state;
    typedef CUresult (*sync_fn)(CUstream);
    sync_fn via_dlsym = (sync_fn)gs_hooks[GS_ID_cuStreamSynchronize].fn[GS_PATH_DLSYM];
    sync_fn via_getproc = (sync_fn)gs_hooks[GS_ID_cuStreamSynchronize].fn[GS_PATH_GETPROC];
    assert_int_equal(via_dlsym(NULL), CUDA_SUCCESS);
    assert_int_equal(via_getproc(NULL), CUDA_SUCCESS);
    assert_int_equal(via_getproc(NULL), CUDA_SUCCESS);
    assert_int_equal(calls(GS_ID_cuStreamSynchronize, GS_PATH_DLSYM), 1);
    assert_int_equal(calls(GS_ID_cuStreamSynchronize, GS_PATH_GETPROC), 2);
    assert_int_equal(atomic_load(&gs_counters[GS_CTR_barriers]), 3);
}

static void test_memset_args(void **state)
{
    (void)state;
    assert_int_equal(cuMemsetD32Async_ptsz(0x1000, 0xdeadbeef, 12, NULL), CUDA_SUCCESS);
    assert_int_equal(cuMemsetD32Async_ptsz(0x1000, 0xdeadbeee, 12, NULL), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(calls(GS_ID_cuMemsetD32Async_ptsz, GS_PATH_DIRECT), 2);
}

static void test_missing_function(void **state)
{
    (void)state;
    assert_int_equal(cuMemcpyDtoDAsync_v2(1, 2, 3, NULL), CUDA_ERROR_NOT_FOUND);
    assert_int_equal(cuCtxSynchronize(), CUDA_ERROR_NOT_FOUND);
    assert_int_equal(gs_depth, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launch_forwarded_and_counted),
        cmocka_unit_test(test_paths_counted_separately),
        cmocka_unit_test(test_memset_args),
        cmocka_unit_test(test_missing_function),
    };
    return cmocka_run_group_tests_name("engine", tests, setup, NULL);
}
