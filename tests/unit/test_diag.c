/* test_diag.c: src/diag.c and src/caller.c: every step-breaker reason is
 * counted by (reason, detail) and names the program function that called
 * it (and that function's caller); only the first GS_BREAKER_SAMPLES
 * occurrences are sampled; frames in libcuda are skipped (a breaker raised
 * from a host function the simulated driver runs names the program function
 * that synchronised); the step history keeps its first half and a ring of
 * the latest; costs, the median and the saving estimate.
 *
 * This program is linked with -export-dynamic, so dladdr names its
 * functions, as it names those a shared library exports. The app_*
 * functions stand for the program; they are kept out of line and do work
 * after their call so that no tail call hides their frames. */
#include "cm.h"
#include "gs.h"

#include <dlfcn.h>

static volatile int sink;

/* One function per reason, so each reason is checked with its own caller. */
#define GS_X(name, doc)                                                      \
    __attribute__((noinline)) void app_breaks_##name(unsigned detail);       \
    __attribute__((noinline)) void app_breaks_##name(unsigned detail)        \
    {                                                                        \
        gs_breaker(GS_BRK_##name, detail);                                   \
        sink++;                                                              \
    }
GS_BREAKERS(GS_X)
#undef GS_X

static void (*const breakers_of[GS_BRK_COUNT])(unsigned) = {
#define GS_X(name, doc) app_breaks_##name,
    GS_BREAKERS(GS_X)
#undef GS_X
};
static const char *const fn_of[GS_BRK_COUNT] = {
#define GS_X(name, doc) "app_breaks_" #name,
    GS_BREAKERS(GS_X)
#undef GS_X
};

__attribute__((noinline)) void app_decode_loop(gs_breaker_t why, unsigned detail, int times);
__attribute__((noinline)) void app_decode_loop(gs_breaker_t why, unsigned detail, int times)
{
    for (int i = 0; i < times; i++)
        breakers_of[why](detail);
    sink++;
}

static gs_breaker_info_t info[64];

static const gs_breaker_info_t *find(size_t n, gs_breaker_t why, unsigned detail)
{
    for (size_t i = 0; i < n && i < 64; i++)
        if (info[i].why == why && info[i].detail == detail)
            return &info[i];
    return NULL;
}

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void test_every_reason_names_its_caller(void **state)
{
    (void)state;
    gs_diag_reset();
    for (int r = 0; r < GS_BRK_COUNT; r++)
        app_decode_loop((gs_breaker_t)r, 7, r + 1);
    size_t n = gs_diag_breakers(info, 64);
    assert_int_equal(n, GS_BRK_COUNT);
    /* Most frequent first. */
    assert_int_equal(info[0].why, GS_BRK_COUNT - 1);
    for (int r = 0; r < GS_BRK_COUNT; r++) {
        const gs_breaker_info_t *b = find(n, (gs_breaker_t)r, 7);
        assert_non_null(b);
        assert_int_equal(b->count, (unsigned long long)r + 1);
        assert_int_equal(gs_diag_breaker_count((gs_breaker_t)r), (unsigned long long)r + 1);
        /* All samples came from one place: one caller. */
        assert_int_equal(b->ncallers, 1);
        const gs_caller_t *c = &b->callers[0];
        assert_int_equal(c->hits, r + 1 < GS_BREAKER_SAMPLES ? r + 1 : GS_BREAKER_SAMPLES);
        assert_true(c->depth >= 2);
        if (strcmp(c->chain[0].sym, fn_of[r]) != 0)
            fail_msg("reason %s: caller %s, expected %s", gs_breaker_name((gs_breaker_t)r),
                     c->chain[0].sym, fn_of[r]);
        assert_string_equal(c->chain[1].sym, "app_decode_loop");
        assert_string_equal(base(c->chain[0].lib), "test_diag");
        assert_true(c->chain[0].offset > 0 && c->chain[0].offset < 4096);
    }
}

static void test_details_and_names(void **state)
{
    (void)state;
    char buf[64];
    gs_diag_reset();
    app_decode_loop(GS_BRK_barrier, GS_ID_cuStreamSynchronize, 3);
    app_decode_loop(GS_BRK_barrier, GS_ID_cuCtxSynchronize, 1);
    app_decode_loop(GS_BRK_attribute, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, 2);
    size_t n = gs_diag_breakers(info, 64);
    assert_int_equal(n, 3);
    assert_int_equal(info[0].detail, GS_ID_cuStreamSynchronize);
    assert_int_equal(info[0].count, 3);
    assert_int_equal(gs_diag_breaker_count(GS_BRK_barrier), 4);
    assert_string_equal(gs_breaker_detail_name(GS_BRK_barrier, GS_ID_cuCtxSynchronize, buf,
                                               sizeof buf), "cuCtxSynchronize");
    assert_string_equal(gs_breaker_detail_name(GS_BRK_attribute, 6, buf, sizeof buf),
                        "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION");
    assert_string_equal(gs_breaker_detail_name(GS_BRK_attribute, 99, buf, sizeof buf),
                        "launch attribute 99");
    assert_null(gs_breaker_detail_name(GS_BRK_mismatch, 0, buf, sizeof buf));
    assert_null(gs_breaker_detail_name(GS_BRK_full, 0, buf, sizeof buf));
    assert_string_equal(gs_breaker_detail_name(GS_BRK_failed, GS_ID_cuGraphInstantiateWithFlags,
                                               buf, sizeof buf), "cuGraphInstantiateWithFlags");
    assert_string_equal(gs_breaker_detail_name(GS_BRK_pageable, GS_ID_cuMemcpyDtoHAsync_v2, buf,
                                               sizeof buf), "cuMemcpyDtoHAsync_v2");
    assert_null(gs_breaker_detail_name(GS_BRK_barrier, GS_FN_COUNT + 5, buf, sizeof buf));
    assert_int_equal(gs_breaker_by_name("staging"), GS_BRK_staging);
    assert_int_equal(gs_breaker_by_name("nonsense"), GS_BRK_COUNT);
    assert_non_null(strstr(gs_breaker_doc(GS_BRK_full), "GRAPHSHIM_MAX_OPS"));
}

/* Only the first samples are taken; distinct call sites are told apart. */
__attribute__((noinline)) void app_other_site(void);
__attribute__((noinline)) void app_other_site(void)
{
    gs_breaker(GS_BRK_stream, 1);
    sink++;
}

static void test_samples_bounded(void **state)
{
    (void)state;
    gs_diag_reset();
    app_other_site();
    app_decode_loop(GS_BRK_stream, 1, 100);
    size_t n = gs_diag_breakers(info, 64);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].count, 101);
    assert_int_equal(info[0].ncallers, 2);
    unsigned hits = 0;
    for (unsigned i = 0; i < info[0].ncallers; i++)
        hits += info[0].callers[i].hits;
    assert_int_equal(hits, GS_BREAKER_SAMPLES);
    assert_string_equal(info[0].callers[0].chain[0].sym, "app_other_site");
    assert_int_equal(info[0].callers[1].hits, GS_BREAKER_SAMPLES - 1);
}

/* Through the driver: a host function run by the simulated libcuda inside
 * cuStreamSynchronize raises a breaker from unnamed (shim-like) code; the
 * frames of libcuda are skipped and the program function that called the
 * driver is the caller. The driver's functions are found with dlsym while
 * gs_depth says "inside the shim", so the shim's own dlsym (linked into
 * this program) hands back the real pointers. */
static void host_breaks(void *user)
{
    (void)user;
    gs_breaker(GS_BRK_event, 3);
    sink++;
}

static struct {
    CUresult (*init)(unsigned);
    CUresult (*dev_get)(CUdevice *, int);
    CUresult (*retain)(CUcontext *, CUdevice);
    CUresult (*set)(CUcontext);
    CUresult (*create)(CUstream *, unsigned);
    CUresult (*host)(CUstream, CUhostFn, void *);
    CUresult (*sync)(CUstream);
} drv;

__attribute__((noinline)) void app_sync_through_driver(CUstream s);
__attribute__((noinline)) void app_sync_through_driver(CUstream s)
{
    assert_int_equal(drv.host(s, host_breaks, NULL), CUDA_SUCCESS);
    assert_int_equal(drv.sync(s), CUDA_SUCCESS);
    sink++;
}

static void test_skips_libcuda(void **state)
{
    (void)state;
    const char *top = getenv("top_builddir");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/simcuda/.libs/libcuda.so.1", top ? top : ".");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        skip();
    gs_depth++;
    *(void **)&drv.init = dlsym(h, "cuInit");
    *(void **)&drv.dev_get = dlsym(h, "cuDeviceGet");
    *(void **)&drv.retain = dlsym(h, "cuDevicePrimaryCtxRetain");
    *(void **)&drv.set = dlsym(h, "cuCtxSetCurrent");
    *(void **)&drv.create = dlsym(h, "cuStreamCreate");
    *(void **)&drv.host = dlsym(h, "cuLaunchHostFunc");
    *(void **)&drv.sync = dlsym(h, "cuStreamSynchronize");
    gs_depth--;
    assert_non_null(drv.sync);
    CUdevice dev;
    CUcontext ctx;
    CUstream s;
    assert_int_equal(drv.init(0), CUDA_SUCCESS);
    assert_int_equal(drv.dev_get(&dev, 0), CUDA_SUCCESS);
    assert_int_equal(drv.retain(&ctx, dev), CUDA_SUCCESS);
    assert_int_equal(drv.set(ctx), CUDA_SUCCESS);
    assert_int_equal(drv.create(&s, 0), CUDA_SUCCESS);
    gs_diag_reset();
    app_sync_through_driver(s);
    size_t n = gs_diag_breakers(info, 64);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].why, GS_BRK_event);
    assert_int_equal(info[0].ncallers, 1);
    assert_string_equal(info[0].callers[0].chain[0].sym, "app_sync_through_driver");
    assert_true(gs_caller_skips_object(path));
}

static void test_skipped_objects(void **state)
{
    (void)state;
    assert_true(gs_caller_skips_object("/usr/lib/x86_64-linux-gnu/libcuda.so.1"));
    assert_true(gs_caller_skips_object("/opt/conda/lib/libcudart.so.12"));
    assert_true(gs_caller_skips_object("libasan.so.8"));
    assert_false(gs_caller_skips_object("/usr/lib/libcudnn.so.9"));
    assert_false(gs_caller_skips_object("/opt/torch/lib/libtorch_cuda.so"));
    assert_false(gs_caller_skips_object("/opt/cuda/lib64/libcublasLt.so.12"));
}

static void test_history(void **state)
{
    (void)state;
    static gs_hist_t h[64];
    unsigned long long seen;
    gs_diag_reset();
    gs_opt.history = 8;
    for (unsigned i = 0; i < 20; i++)
        gs_diag_step(i % 2 ? 0xbeef : 0xcafe, i + 1,
                     i < 3 ? GS_STEP_LEARNING : i % 5 ? GS_STEP_REPLAYED : GS_STEP_EAGER,
                     i % 5 ? GS_BRK_COUNT : GS_BRK_barrier);
    size_t n = gs_diag_history(h, 64, &seen);
    assert_int_equal(seen, 20);
    assert_int_equal(n, 8);
    /* The first four, then the last four, in order. */
    const unsigned want[8] = {0, 1, 2, 3, 16, 17, 18, 19};
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(h[i].seq, want[i]);
        assert_int_equal(h[i].nops, want[i] + 1);
        assert_int_equal(h[i].stream, want[i] % 2 ? 1 : 0);
        if (i > 0)
            assert_true(h[i].t_ns >= h[i - 1].t_ns);
    }
    assert_int_equal(h[0].outcome, GS_STEP_LEARNING);
    assert_int_equal(h[4].outcome, GS_STEP_REPLAYED);
    gs_stream_diag_t st[4];
    assert_int_equal(gs_diag_streams(st, 4), 2);
    assert_true(st[0].key == 0xcafe && st[1].key == 0xbeef);
    assert_int_equal(st[0].steps[GS_STEP_EAGER] + st[1].steps[GS_STEP_EAGER], 3);
    unsigned long long steps, ops;
    gs_diag_steps_by_reason(GS_STEP_EAGER, GS_BRK_barrier, &steps, &ops);
    assert_int_equal(steps, 3);
    assert_int_equal(ops, 6 + 11 + 16);
    gs_opt.history = gs_opt_defaults.history;
}

static void test_costs_and_saving(void **state)
{
    (void)state;
    gs_costs_t c;
    gs_saving_t sv;
    gs_diag_reset();
    assert_false(gs_diag_saving(100, 0, &sv));
    for (int i = 0; i < 99; i++)
        gs_diag_eager_ns(4000);
    gs_diag_eager_ns(400000); /* one outlier moves the mean, not the median */
    for (int i = 0; i < 10; i++)
        gs_diag_graph_ns(20000, 100, 5);
    for (int i = 0; i < 10; i++)
        gs_diag_hold_ns(100);
    gs_diag_costs(&c);
    assert_int_equal(c.eager.n, 100);
    assert_int_equal(c.eager.min_ns, 4000);
    assert_int_equal(c.eager.max_ns, 400000);
    assert_true(c.eager.median_ns >= 3300 && c.eager.median_ns <= 4800);
    assert_int_equal(c.graph.total_ns, 200000);
    assert_int_equal(c.graph_nodes, 1000);
    assert_int_equal(c.graph_patched, 50);
    assert_true(gs_diag_saving(1000, 0, &sv));
    /* 1000 ops x 7960 ns - 200000 ns of graphs - 1000 held x 100 ns. */
    assert_true(sv.eager_ns_per_op > 7959 && sv.eager_ns_per_op < 7961);
    assert_true(sv.saved_ns > 7960000.0 - 200000 - 100000 - 1 &&
                sv.saved_ns < 7960000.0 - 200000 - 100000 + 1);
    /* Without timed event calls, they count as launches. */
    assert_true(gs_diag_saving(1000, 400, &sv));
    assert_true(sv.eager_ns > 7960000.0 - 1 && sv.eager_ns < 7960000.0 + 1);
    /* Timed at 500 ns, 400 of the 1000 ops cost that much each. */
    for (int i = 0; i < 10; i++)
        gs_diag_eager_ev_ns(500);
    assert_true(gs_diag_saving(1000, 400, &sv));
    assert_true(sv.eager_ns > 600 * 7960.0 + 400 * 500.0 - 1 &&
                sv.eager_ns < 600 * 7960.0 + 400 * 500.0 + 1);
    assert_int_equal(sv.ev_replayed, 400);
    /* Held event calls are a cost of their own, apart from held launches. */
    for (int i = 0; i < 5; i++)
        gs_diag_hold_ev_ns(300);
    gs_diag_costs(&c);
    assert_int_equal(c.hold_ev.n, 5);
    assert_int_equal(c.hold_ev.total_ns, 1500);
    assert_true(c.hold_ev.median_ns >= 250 && c.hold_ev.median_ns <= 350);
    assert_int_equal(c.hold.total_ns, 1000); /* the ten held launches only */
    gs_diag_reset();
    gs_diag_costs(&c);
    assert_int_equal(c.hold_ev.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_reason_names_its_caller),
        cmocka_unit_test(test_details_and_names),
        cmocka_unit_test(test_samples_bounded),
        cmocka_unit_test(test_skips_libcuda),
        cmocka_unit_test(test_skipped_objects),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_costs_and_saving),
    };
    return cmocka_run_group_tests_name("diag", tests, NULL, NULL);
}
