/* test_engine.c: the wrappers (src/wrappers.c) and the engine (src/engine.c,
 * detect.c, graph.c, record.c) against fake driver functions.
 *
 * In passthrough mode: arguments reach the driver unchanged, results come
 * back unchanged, calls are counted on the path they came by, ops and
 * barriers are counted, calls made from inside the driver are forwarded
 * without side effects, and a function the driver lacks answers
 * CUDA_ERROR_NOT_FOUND.
 *
 * In replay mode: the first GRAPHSHIM_WARMUP steps run eagerly, then a graph
 * is built from the records, later steps are held and replayed through it,
 * only nodes whose arguments changed are patched, and an op that does not
 * match issues what was held, in order.
 *
 * The event table (detect.c): the cache in front of its hash gives the
 * event of the handle asked for when two handles share a slot, and never
 * an event that was forgotten (a driver hands a destroyed handle out
 * again, and it must be a new event). Two ops of a step may change places
 * only when nothing orders them (src/hold.c). The engine steps aside only
 * where templates keep being retired and the replays have saved nothing
 * (engine.c). */
#include "cm.h"
#include "eng.h"
#include "diag.h"

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
    gs_opt.mode = GS_MODE_PASSTHROUGH;
    gs_stats_reset();
    return 0;
}

static unsigned long long calls(int id, int path) { return gs_calls_of(id, path); }

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
    assert_int_equal(gs_counter(GS_CTR_launches), 1);
    assert_int_equal(gs_counter(GS_CTR_ops), 1);
    /* The nested cuStreamSynchronize reached the driver uncounted. */
    assert_int_equal(syncs, 1);
    assert_int_equal(calls(GS_ID_cuStreamSynchronize, GS_PATH_DIRECT), 0);
    assert_int_equal(gs_counter(GS_CTR_barriers), 0);
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
    assert_int_equal(gs_counter(GS_CTR_barriers), 3);
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

/* ------------------------------------------------------------- replay */

/* A fake driver that knows one kernel of two parameters (pointer, int). */
static int eager_launches, graph_nodes, graph_launches, set_params, instantiated;
static int issued_args[64], nissued;

static CUresult r_launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                         unsigned by, unsigned bz, unsigned shmem, CUstream s, void **p,
                         void **extra)
{
    (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shmem,
        (void)s, (void)extra;
    eager_launches++;
    if (nissued < 64)
        issued_args[nissued++] = *(int *)p[1];
    return CUDA_SUCCESS;
}
static CUresult r_param_info(CUfunction f, size_t i, size_t *off, size_t *size)
{
    (void)f;
    if (i >= 2)
        return CUDA_ERROR_INVALID_VALUE;
    *off = i == 0 ? 0 : 8;
    *size = i == 0 ? 8 : 4;
    return CUDA_SUCCESS;
}
static CUresult r_name(const char **name, CUfunction f)
{
    (void)f;
    *name = "fake_kernel";
    return CUDA_SUCCESS;
}
static CUresult r_ctx(CUcontext *c)
{
    *c = (CUcontext)0x77;
    return CUDA_SUCCESS;
}
static CUresult r_sync(CUstream s)
{
    (void)s;
    return CUDA_SUCCESS;
}
static CUresult r_graph_create(CUgraph *g, unsigned flags)
{
    (void)flags;
    *g = (CUgraph)0x1;
    return CUDA_SUCCESS;
}
static CUresult r_add_kernel(CUgraphNode *n, CUgraph g, const CUgraphNode *d, size_t nd,
                             const CUDA_KERNEL_NODE_PARAMS *p)
{
    (void)g, (void)d;
    /* A straight line: every node after the first depends on one node. */
    if (nd != (graph_nodes > 0) || p->func != (CUfunction)0x42)
        return CUDA_ERROR_INVALID_VALUE;
    *n = (CUgraphNode)(uintptr_t)(0x100 + graph_nodes++);
    return CUDA_SUCCESS;
}
static CUresult r_instantiate(CUgraphExec *e, CUgraph g, unsigned long long flags)
{
    (void)g, (void)flags;
    instantiated++;
    *e = (CUgraphExec)0x2;
    return CUDA_SUCCESS;
}
static CUresult r_upload(CUgraphExec e, CUstream s)
{
    (void)e, (void)s;
    return CUDA_SUCCESS;
}
static CUresult r_graph_launch(CUgraphExec e, CUstream s)
{
    (void)e, (void)s;
    graph_launches++;
    return CUDA_SUCCESS;
}
static CUresult r_set_params(CUgraphExec e, CUgraphNode n, const CUDA_KERNEL_NODE_PARAMS *p)
{
    (void)e, (void)n, (void)p;
    set_params++;
    return CUDA_SUCCESS;
}
static CUresult r_any(void) { return CUDA_SUCCESS; }

static void launch_step(int changing, int extra_op)
{
    CUdeviceptr buf = 0x1000;
    int constant = 7;
    void *a[] = {&buf, &constant}, *b[] = {&buf, &changing};
    CUstream s = (CUstream)0x5000;
    assert_int_equal(cuLaunchKernel((CUfunction)0x42, 1, 1, 1, 32, 1, 1, 0, s, a, NULL),
                     CUDA_SUCCESS);
    if (extra_op) {
        int x = 99;
        void *c[] = {&buf, &x};
        assert_int_equal(cuLaunchKernel((CUfunction)0x42, 1, 1, 1, 64, 1, 1, 0, s, c, NULL),
                         CUDA_SUCCESS);
    }
    assert_int_equal(cuLaunchKernel((CUfunction)0x42, 2, 1, 1, 32, 1, 1, 0, s, b, NULL),
                     CUDA_SUCCESS);
    assert_int_equal(cuStreamSynchronize(s), CUDA_SUCCESS);
}

/* The fake driver of the replay tests; graph calls not faked succeed. */
static void replay_fakes(void)
{
    memset(gs_real_fn, 0, sizeof gs_real_fn);
    gs_real_fn[GS_ID_cuLaunchKernel] = (void *)r_launch;
    gs_real_fn[GS_ID_cuFuncGetParamInfo] = (void *)r_param_info;
    gs_real_fn[GS_ID_cuFuncGetName] = (void *)r_name;
    gs_real_fn[GS_ID_cuCtxGetCurrent] = (void *)r_ctx;
    gs_real_fn[GS_ID_cuStreamSynchronize] = (void *)r_sync;
    gs_real_fn[GS_ID_cuGraphCreate] = (void *)r_graph_create;
    gs_real_fn[GS_ID_cuGraphAddKernelNode_v2] = (void *)r_add_kernel;
    gs_real_fn[GS_ID_cuGraphInstantiateWithFlags] = (void *)r_instantiate;
    gs_real_fn[GS_ID_cuGraphUpload] = (void *)r_upload;
    gs_real_fn[GS_ID_cuGraphLaunch] = (void *)r_graph_launch;
    gs_real_fn[GS_ID_cuGraphExecKernelNodeSetParams_v2] = (void *)r_set_params;
    /* Present; the tests that reach them fake them after this. */
    gs_fn_id_t others[] = {GS_ID_cuGraphAddMemcpyNode, GS_ID_cuGraphAddMemsetNode,
                           GS_ID_cuGraphKernelNodeSetAttribute,
                           GS_ID_cuGraphExecMemcpyNodeSetParams,
                           GS_ID_cuGraphExecMemsetNodeSetParams, GS_ID_cuGraphExecDestroy,
                           GS_ID_cuGraphDestroy, GS_ID_cuMemHostAlloc, GS_ID_cuMemFreeHost,
                           GS_ID_cuEventCreate, GS_ID_cuEventRecord, GS_ID_cuEventQuery,
                           GS_ID_cuEventDestroy_v2, GS_ID_cuPointerGetAttribute};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        gs_real_fn[others[i]] = (void *)r_any;
}

static void test_replay(void **state)
{
    (void)state;
    replay_fakes();
    gs_opt.mode = GS_MODE_REPLAY;
    gs_opt.warmup = 3;
    gs_eng_setup();
    gs_stats_reset();

    /* Warm-up: three steps run eagerly; the graph is built at the third. */
    for (int i = 0; i < 3; i++)
        launch_step(i, 0);
    assert_int_equal(eager_launches, 6);
    assert_int_equal(instantiated, 1);
    assert_int_equal(graph_nodes, 2);
    assert_int_equal(graph_launches, 0);
    /* Replays: no eager launch; only the node whose argument changed is
     * patched (the argument of the first step, 3, differs from the graph's
     * 2; the next step repeats it, so nothing is patched). */
    launch_step(3, 0);
    launch_step(3, 0);
    launch_step(4, 0);
    assert_int_equal(eager_launches, 6);
    assert_int_equal(graph_launches, 3);
    assert_int_equal(set_params, 2);
    assert_int_equal(gs_counter(GS_CTR_ops_replayed), 6);
    /* A step with an op in the middle that no template has: what was held
     * goes out first, in order, then the rest. */
    nissued = 0;
    launch_step(5, 1);
    assert_int_equal(graph_launches, 3);
    assert_int_equal(eager_launches, 9);
    assert_int_equal(nissued, 3);
    assert_int_equal(issued_args[0], 7);
    assert_int_equal(issued_args[1], 99);
    assert_int_equal(issued_args[2], 5);
    assert_int_equal(gs_counter(GS_CTR_div_mismatch), 1);
    /* Back to the usual step: replayed again. */
    launch_step(6, 0);
    assert_int_equal(graph_launches, 4);
    gs_opt.mode = GS_MODE_PASSTHROUGH;
}

/* After the program frees memory, the graph's device-to-host nodes are set
 * again (unchanged) before the next launch, once: the driver keeps the
 * allocations of such nodes and crashes launching them if one was freed and
 * allocated again at the same address. Kernel nodes are left alone. */
static int copy_nodes_set;
static CUresult r_add_copy(CUgraphNode *n, CUgraph g, const CUgraphNode *d, size_t nd,
                           const CUDA_MEMCPY3D *p, CUcontext c)
{
    (void)g, (void)d, (void)c;
    if (nd != (graph_nodes > 0) || p->dstMemoryType != CU_MEMORYTYPE_HOST)
        return CUDA_ERROR_INVALID_VALUE;
    *n = (CUgraphNode)(uintptr_t)(0x100 + graph_nodes++);
    return CUDA_SUCCESS;
}
static CUresult r_set_copy(CUgraphExec e, CUgraphNode n, const CUDA_MEMCPY3D *p, CUcontext c)
{
    (void)e, (void)n, (void)p, (void)c;
    copy_nodes_set++;
    return CUDA_SUCCESS;
}
static CUresult r_dtoh(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
    (void)dst, (void)src, (void)n, (void)s;
    eager_launches++;
    return CUDA_SUCCESS;
}
static CUresult r_ptr_host(void *data, CUpointer_attribute a, CUdeviceptr p)
{
    (void)a, (void)p;
    *(unsigned *)data = CU_MEMORYTYPE_HOST;
    return CUDA_SUCCESS;
}

static void copy_step(void)
{
    static float pinned[4];
    CUdeviceptr buf = 0x1000;
    int v = 1;
    void *a[] = {&buf, &v};
    CUstream s = (CUstream)0x6000;
    assert_int_equal(cuLaunchKernel((CUfunction)0x42, 1, 1, 1, 32, 1, 1, 0, s, a, NULL),
                     CUDA_SUCCESS);
    assert_int_equal(cuMemcpyDtoHAsync_v2(pinned, buf, sizeof pinned, s), CUDA_SUCCESS);
    assert_int_equal(cuStreamSynchronize(s), CUDA_SUCCESS);
}

static void test_copy_nodes_set_again_after_free(void **state)
{
    (void)state;
    replay_fakes();
    gs_real_fn[GS_ID_cuMemcpyDtoHAsync_v2] = (void *)r_dtoh;
    gs_real_fn[GS_ID_cuPointerGetAttribute] = (void *)r_ptr_host;
    gs_real_fn[GS_ID_cuGraphAddMemcpyNode] = (void *)r_add_copy;
    gs_real_fn[GS_ID_cuGraphExecMemcpyNodeSetParams] = (void *)r_set_copy;
    gs_real_fn[GS_ID_cuMemFree_v2] = (void *)r_any;
    gs_opt.mode = GS_MODE_REPLAY;
    gs_opt.warmup = 3;
    gs_eng_setup();
    graph_nodes = graph_launches = set_params = 0;
    for (int i = 0; i < 3; i++)
        copy_step();
    assert_int_equal(graph_nodes, 2);
    copy_step();
    copy_step();
    assert_int_equal(graph_launches, 2);
    assert_int_equal(copy_nodes_set, 0);
    assert_int_equal(cuMemFree_v2(0x9000), CUDA_SUCCESS);
    copy_step();
    assert_int_equal(copy_nodes_set, 1); /* the copy node, unchanged, set again */
    assert_int_equal(set_params, 0);     /* not the kernel node */
    copy_step();
    assert_int_equal(copy_nodes_set, 1); /* once per free */
    assert_int_equal(graph_launches, 4);
    gs_opt.mode = GS_MODE_PASSTHROUGH;
}

/* Two handles whose events share a slot of the cache. */
static void colliding(CUevent *a, CUevent *b)
{
    *a = (CUevent)(uintptr_t)0x7f0000001000ull;
    for (uintptr_t k = 1;; k++) {
        *b = (CUevent)((uintptr_t)*a + (k << 4));
        if (gs_event_slot(*b) == gs_event_slot(*a))
            return;
    }
}

static void test_event_table(void **state)
{
    (void)state;
    CUevent a, b;
    colliding(&a, &b);
    assert_null(gs_event_get(a, false));
    gs_event_t *ea = gs_event_get(a, true), *eb = gs_event_get(b, true);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_ptr_not_equal(ea, eb);
    /* b took the slot; a is still found, and takes it back. */
    assert_ptr_equal(gs_event_get(a, false), ea);
    assert_ptr_equal(gs_event_get(b, false), eb);
    assert_ptr_equal(gs_event_get(a, true), ea);
    ea->notiming = true;
    ea->queries = 3;
    gs_event_forget(a);
    /* A slot left pointing at the freed event is read after free here (the
     * ASan build of tools/check.sh sees it; the allocator's own use of the
     * freed bytes usually hides it from the plain build). */
    assert_null(gs_event_get(a, false));
    assert_ptr_equal(gs_event_get(b, false), eb);
    /* The handle again: a new event, nothing of the old one's state. */
    gs_event_t *again = gs_event_get(a, true);
    assert_non_null(again);
    assert_false(again->notiming);
    assert_int_equal(again->queries, 0);
    assert_ptr_equal(again->key, a);
    gs_event_forget(b); /* found through the slot a holds, which it takes, then clears: a stays */
    assert_null(gs_event_get(b, false));
    assert_ptr_equal(gs_event_get(a, false), again);
    gs_event_forget(a);
}

/* Which two ops of a step may change places (src/hold.c). */
static void test_commute(void **state)
{
    (void)state;
    static gs_stream_t st, side, legacy;
    st.slots[0] = &st;
    st.slots[1] = &side;
    st.slots[2] = &legacy;
    st.nslots = 3;
    legacy.legacy = true;
    gs_rec_t k = {.kind = GS_OP_KERNEL, .slot = 0};
    gs_rec_t h = {.kind = GS_OP_HOST, .slot = 1};
    gs_rec_t k1 = {.kind = GS_OP_KERNEL, .slot = 1};
    gs_rec_t rec = {.kind = GS_OP_EVREC, .slot = 0};
    gs_rec_t wait = {.kind = GS_OP_EVWAIT, .slot = 1};
    rec.u.e.ev = (CUevent)0x10;
    wait.u.e.ev = (CUevent)0x20;
    assert_true(gs_hold_commute(&st, &k, &h));
    assert_true(gs_hold_commute(&st, &h, &k));
    assert_true(gs_hold_commute(&st, &rec, &wait)); /* two events */
    wait.u.e.ev = rec.u.e.ev;
    assert_false(gs_hold_commute(&st, &rec, &wait)); /* one event */
    assert_false(gs_hold_commute(&st, &wait, &rec));
    assert_false(gs_hold_commute(&st, &k1, &h)); /* one stream */
    gs_rec_t l = {.kind = GS_OP_KERNEL, .slot = 2};
    assert_false(gs_hold_commute(&st, &l, &h)); /* the legacy stream */
    side.per_thread = true;
    assert_false(gs_hold_commute(&st, &k, &h)); /* a per-thread stream */
    gs_rec_t far = {.kind = GS_OP_KERNEL, .slot = 3};
    assert_false(gs_hold_commute(&st, &k, &far)); /* not a slot of the step */
}

/* The payoff rule's last word: GS_ASIDE_RETIRED retirements and replays
 * that saved nothing by the summary's estimate; never with the rule off,
 * never while the replays so far have saved more than they cost. */
static void test_step_aside(void **state)
{
    (void)state;
    gs_stats_reset();
    gs_opt.mode = GS_MODE_REPLAY;
    gs_opt.payoff = 1;
    atomic_store(&gs_aside, false);
    for (int i = 0; i < 16; i++) {
        gs_diag_eager_ns(4000); /* an eager launch: 4 us */
        gs_diag_hold_ns(300);
    }
    gs_diag_graph_ns(600000, 100, 0); /* 600 us of graph launches */
    gs_count(GS_CTR_ops_replayed, 100);  /* 400 us eagerly: they did not pay */
    gs_count(GS_CTR_retired, GS_ASIDE_RETIRED - 1);
    gs_eng_judge_aside(); /* one retirement short */
    assert_false(atomic_load(&gs_aside));
    gs_count(GS_CTR_retired, 1);
    gs_opt.payoff = 0;
    gs_eng_judge_aside();
    assert_false(atomic_load(&gs_aside));
    gs_opt.payoff = 1;
    gs_count(GS_CTR_ops_replayed, 100); /* 800 us eagerly, 60 us held: they paid */
    gs_eng_judge_aside();
    assert_false(atomic_load(&gs_aside));
    gs_diag_graph_ns(400000, 100, 0); /* 1 ms: they did not */
    assert_true(gs_engine_on());
    gs_eng_judge_aside();
    assert_true(atomic_load(&gs_aside));
    assert_int_equal(gs_counter(GS_CTR_stepped_aside), 1);
    assert_false(gs_engine_on());
    gs_eng_judge_aside(); /* once */
    assert_int_equal(gs_counter(GS_CTR_stepped_aside), 1);
    atomic_store(&gs_aside, false);
    gs_opt.mode = GS_MODE_PASSTHROUGH;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launch_forwarded_and_counted),
        cmocka_unit_test(test_paths_counted_separately),
        cmocka_unit_test(test_memset_args),
        cmocka_unit_test(test_missing_function),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_copy_nodes_set_again_after_free),
        cmocka_unit_test(test_event_table),
        cmocka_unit_test(test_commute),
        cmocka_unit_test(test_step_aside),
    };
    return cmocka_run_group_tests_name("engine", tests, setup, NULL);
}
