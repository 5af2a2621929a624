/* test_simcuda_sched.c: the third suite of simcuda's own tests: the
 * scheduler. Queued work runs in a seeded random order that respects only
 * declared dependencies, so each test here runs a small program under many
 * seeds (simcuda_seed) and looks at the set of outcomes: a program with a
 * missing dependency (an event edge, a graph edge, a programmatic launch of
 * a kernel that does not synchronise on its grid dependency, a non-blocking
 * stream against the legacy one) must show more than one outcome, and the
 * same program with the dependency must show exactly one. That makes these
 * tests able to fail both ways: a scheduler that serialised everything would
 * fail the first kind, one that ignored a dependency the second.
 *
 * Also here: what a stream or event synchronisation runs (its target's
 * ancestors, sometimes more), virtual time, per-thread stream ordinals, the
 * prologue of a GDS kernel, and SIMCUDA_SCHED=fifo (in a child). Graph
 * edges, event and host nodes, capture and launch attributes are the
 * subject of test_simcuda_dag.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "test_util.h"

#define SEEDS 48

static CUstream nb1, nb2, blk;  /* two non-blocking streams, one blocking */
static CUdeviceptr y, z;        /* one float each */
static float *pin;

static int setup(void **state)
{
    if (group_setup(state) || cuStreamCreate(&nb1, CU_STREAM_NON_BLOCKING) ||
        cuStreamCreate(&nb2, CU_STREAM_NON_BLOCKING) || cuStreamCreate(&blk, 0) || cuMemAlloc(&y, 4) ||
        cuMemAlloc(&z, 4) || cuMemAllocHost((void **)&pin, 16))
        return -1;
    return 0;
}

/* Both buffers zero, nothing queued. */
static void reset(void)
{
    OK(cuCtxSynchronize());
    OK(cuMemsetD32(y, 0, 1));
    OK(cuMemsetD32(z, 0, 1));
}

/* z = a * y on stream s, with kernel `k` (sim_scale or a twin). */
static void scale(CUstream s, const char *k, float a)
{
    int n = 1;
    void *args[] = { &z, &y, &a, &n };
    OK(cuLaunchKernel(K(k), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
}

/* The same through cuLaunchKernelEx with programmatic stream
 * serialisation `pss`. */
static void scale_ex(CUstream s, const char *k, float a, int pss)
{
    int n = 1;
    void *args[] = { &z, &y, &a, &n };
    CUlaunchAttribute at;
    memset(&at, 0, sizeof at);
    at.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    at.value.programmaticStreamSerializationAllowed = pss;
    CUlaunchConfig cfg = { .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = &at, .numAttrs = 1 };
    OK(cuLaunchKernelEx(&cfg, K(k), args, NULL));
}

/* The value of z once everything ran (0 stale, 2 fresh for a = 2). */
static int zval(void)
{
    OK(cuCtxSynchronize());
    return (int)dget(z, 0);
}

/* The set of results (bit r for result r) of scenario fn under seeds
 * 1..SEEDS. */
static unsigned outcomes(int (*fn)(int), int arg)
{
    unsigned seen = 0;
    for (unsigned long long seed = 1; seed <= SEEDS; seed++) {
        simcuda_seed(seed);
        reset();
        int r = fn(arg);
        assert_true(r >= 0 && r < 32);
        seen |= 1u << r;
    }
    simcuda_seed(1);
    return seen;
}
#define BOTH ((1u << 0) | (1u << 2)) /* stale and fresh both seen */
#define FRESH (1u << 2)              /* only the fresh value */

/* ------------------------------------------------------------- streams */

/* Two non-blocking streams write the same word: either may run last. */
static int race(int unused)
{
    (void)unused;
    fill(nb1, z, 1.0f, 1, 1, 1);
    fill(nb2, z, 2.0f, 1, 1, 1);
    return zval();
}

static void test_independent_streams(void **state)
{
    (void)state;
    assert_int_equal(outcomes(race, 0), (1u << 1) | (1u << 2));
    /* In fifo mode everything runs in submission order. */
    assert_int_equal(run_child("--child-fifo", "SIMCUDA_SCHED=fifo", NULL), 2);
    assert_int_equal(run_child("--child-fifo", "SIMCUDA_SCHED=fifo", "SIMCUDA_SEED=7"), 2);
}

/* y = 1 on one stream, z = 2 y on another, ordered by an event or not. */
static int event_edge(int with_edge)
{
    CUevent e;
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    fill(nb1, y, 1.0f, 1, 1, 1);
    OK(cuEventRecord(e, nb1));
    if (with_edge)
        OK(cuStreamWaitEvent(nb2, e, 0));
    scale(nb2, "sim_scale", 2.0f);
    int r = zval();
    OK(cuEventDestroy(e));
    return r;
}

/* The wait follows the record as it was at the time of the wait: a later
 * record of the same event does not move it. */
static int event_rerecorded(int unused)
{
    CUevent e;
    (void)unused;
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    OK(cuEventRecord(e, nb1)); /* before the fill */
    OK(cuStreamWaitEvent(nb2, e, 0));
    fill(nb1, y, 1.0f, 1, 1, 1);
    OK(cuEventRecord(e, nb1)); /* too late for the wait above */
    scale(nb2, "sim_scale", 2.0f);
    int r = zval();
    OK(cuEventDestroy(e));
    return r;
}

/* A wait on an event whose record completed long ago adds no dependency
 * and must drop none: simcuda reuses a completed command's memory for the
 * next one, and once compared dependencies by pointer, so this wait forgot
 * the fill queued in the record's place (fuzz seeds 918230, 918231 and
 * 918256 in one process, under the shim, gave a wrong result through it). */
static int stale_record(int unused)
{
    CUevent e;
    (void)unused;
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    OK(cuEventRecord(e, nb2));
    OK(cuEventSynchronize(e)); /* the record's command completes and is reused: */
    fill(nb1, y, 1.0f, 1, 1, 1);
    OK(cuStreamWaitEvent(nb1, e, 0));
    scale(nb1, "sim_scale", 2.0f);
    int r = zval();
    OK(cuEventDestroy(e));
    return r;
}

static void test_event_edges(void **state)
{
    (void)state;
    assert_int_equal(outcomes(event_edge, 0), BOTH);
    assert_int_equal(outcomes(event_edge, 1), FRESH);
    assert_int_equal(outcomes(event_rerecorded, 0), BOTH);
    assert_int_equal(outcomes(stale_record, 0), FRESH);
}

/* The legacy stream against a blocking, a per-thread and a non-blocking
 * stream, in both directions: (writer << 1 | reader-is-legacy). */
static int legacy(int how)
{
    static const CUstream *const other[] = { &blk, &nb1 };
    CUstream o = how >= 4 ? CU_STREAM_PER_THREAD : *other[(how >> 1) & 1];
    int legacy_reads = how & 1;
    fill(legacy_reads ? o : NULL, y, 1.0f, 1, 1, 1);
    scale(legacy_reads ? NULL : o, "sim_scale", 2.0f);
    return zval();
}

static void test_legacy_stream(void **state)
{
    (void)state;
    assert_int_equal(outcomes(legacy, 0), FRESH); /* legacy writes, blocking stream reads */
    assert_int_equal(outcomes(legacy, 1), FRESH); /* blocking stream writes, legacy reads */
    assert_int_equal(outcomes(legacy, 2), BOTH);  /* non-blocking streams do not sync */
    assert_int_equal(outcomes(legacy, 3), BOTH);
    assert_int_equal(outcomes(legacy, 4), FRESH); /* per-thread default streams do */
    assert_int_equal(outcomes(legacy, 5), FRESH);
}

/* A destroyed blocking stream's queued work still comes before later
 * legacy work. */
static int destroyed(int unused)
{
    CUstream s;
    (void)unused;
    OK(cuStreamCreate(&s, 0));
    fill(s, y, 1.0f, 1, 1, 1);
    OK(cuStreamDestroy(s));
    scale(NULL, "sim_scale", 2.0f);
    return zval();
}

static void test_destroyed_stream(void **state)
{
    (void)state;
    assert_int_equal(outcomes(destroyed, 0), FRESH);
}

/* --------------------------------------------------------- what syncs run */

/* A stream synchronisation runs its stream's work, and sometimes the
 * independent work of another stream: result 1 (only its own) or 2. */
static int stream_sync(int unused)
{
    (void)unused;
    unsigned long long before = simcuda_eager_kernels();
    fill(nb1, y, 1.0f, 1, 1, 1);
    fill(nb2, z, 1.0f, 1, 1, 1);
    OK(cuMemcpyDtoHAsync(pin, z, 4, nb2));
    pin[0] = 0;
    OK(cuStreamSynchronize(nb2));
    assert_true(pin[0] == 1.0f);
    return (int)(simcuda_eager_kernels() - before);
}

/* An event synchronisation runs what the record follows. */
static int event_sync(int unused)
{
    CUevent e;
    (void)unused;
    OK(cuEventCreate(&e, 0));
    fill(nb1, y, 3.0f, 1, 1, 1);
    OK(cuEventRecord(e, nb1));
    fill(nb2, z, 1.0f, 1, 1, 1);
    unsigned long long before = simcuda_eager_kernels();
    OK(cuEventSynchronize(e));
    int ran = (int)(simcuda_eager_kernels() - before);
    OK(cuEventQuery(e));
    assert_true(dget(y, 0) == 3.0f); /* the legacy copy does not wait for nb1: the sync ran it */
    OK(cuEventDestroy(e));
    return ran;
}

static void test_partial_sync(void **state)
{
    (void)state;
    assert_int_equal(outcomes(stream_sync, 0), (1u << 1) | (1u << 2));
    assert_int_equal(outcomes(event_sync, 0), (1u << 1) | (1u << 2));
}

/* ------------------------------------------------------------------- PDL */

/* K writes y, P reads it: P launched with programmatic serialisation
 * (mode 1), P a GDS kernel so launched (2), P without it (0), or P
 * launched with it after a memset rather than a kernel (3). */
static int pdl(int mode)
{
    fill(nb1, y, 1.0f, 1, 1, 1);
    if (mode == 3)
        OK(cuMemsetD32Async(y, 0x3f800000u, 1, nb1));
    scale_ex(nb1, mode == 2 ? "sim_scale_gds" : "sim_scale", 2.0f, mode != 0);
    return zval();
}

/* A chain: K, then two PDL kernels; the last reads what the first wrote. */
static int pdl_chain(int gds)
{
    fill(nb1, y, 1.0f, 1, 1, 1);
    scale_ex(nb1, gds ? "sim_scale_gds" : "sim_scale", 2.0f, 1);
    int n = 1;
    float a = 1.0f;
    void *args[] = { &y, &z, &a, &n }; /* y = z: 2 once the chain ran in order */
    CUlaunchAttribute at;
    memset(&at, 0, sizeof at);
    at.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    at.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig cfg = { .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = nb1, .attrs = &at, .numAttrs = 1 };
    OK(cuLaunchKernelEx(&cfg, K(gds ? "sim_scale_gds" : "sim_scale"), args, NULL));
    OK(cuCtxSynchronize());
    return (int)dget(y, 0);
}

static void test_pdl(void **state)
{
    (void)state;
    assert_int_equal(outcomes(pdl, 1), BOTH);  /* may run entirely before K */
    assert_int_equal(outcomes(pdl, 2), FRESH); /* GDS: never before K */
    assert_int_equal(outcomes(pdl, 0), FRESH); /* no PSS: stream order */
    assert_int_equal(outcomes(pdl, 3), FRESH); /* after a memset: stream order */
    assert_true(outcomes(pdl_chain, 0) != FRESH);
    assert_int_equal(outcomes(pdl_chain, 1), FRESH);
}

/* A GDS kernel's prologue may run before its predecessor, its body never. */
static float pro_saw, body_saw;
static void pro_prologue(const simcuda_launch_t *L, void *const *args)
{
    (void)L;
    pro_saw = *(float *)simcuda_ptr(*(const CUdeviceptr *)args[0], 4);
}
static void pro_body(const simcuda_launch_t *L, void *const *args)
{
    (void)L;
    body_saw = *(float *)simcuda_ptr(*(const CUdeviceptr *)args[0], 4);
}

static int prologue(int unused)
{
    (void)unused;
    CUlaunchAttribute at;
    memset(&at, 0, sizeof at);
    at.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    at.value.programmaticStreamSerializationAllowed = 1;
    CUlaunchConfig cfg = { .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = nb1, .attrs = &at, .numAttrs = 1 };
    void *args[] = { &y };
    pro_saw = body_saw = -1;
    fill(nb1, y, 2.0f, 1, 1, 1);
    OK(cuLaunchKernelEx(&cfg, K("t_prologue"), args, NULL));
    OK(cuCtxSynchronize());
    assert_true(body_saw == 2.0f);
    return (int)pro_saw;
}

static void test_prologue(void **state)
{
    (void)state;
    static const size_t sz[] = { sizeof(CUdeviceptr) };
    assert_int_equal(simcuda_register_kernel_ex("t_prologue", pro_body, 1, sz, SIMCUDA_KERNEL_GDS, pro_prologue), 0);
    assert_int_equal(simcuda_register_kernel_ex("t_bad", pro_body, 1, sz, 0, pro_prologue), -1);
    assert_int_equal(simcuda_register_kernel_ex("t_bad", pro_body, 1, sz, 0x100, NULL), -1);
    assert_int_equal(outcomes(prologue, 0), BOTH);
}

/* ----------------------------------------------------------------- graphs */

/* A kernel node of one thread. */
static CUgraphNode knode(CUgraph g, const char *k, void **args, const CUgraphNode *deps, size_t n)
{
    CUgraphNode node;
    CUDA_KERNEL_NODE_PARAMS kp = { .func = K(k), .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1,
                                   .blockDimY = 1, .blockDimZ = 1, .kernelParams = args };
    OK(cuGraphAddKernelNode(&node, g, deps, n, &kp));
    return node;
}

/* Launches g on nb1, runs it, destroys both. */
static int run_graph(CUgraph g)
{
    CUgraphExec ex;
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphLaunch(ex, nb1));
    int r = zval();
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    return r;
}

/* Node A writes y, node B reads it: no edge (0), an edge given when B is
 * added (1) or added afterwards (2), a programmatic edge to sim_scale (3)
 * or to its GDS twin (4), a launch-order one to sim_scale (5). */
static int graph_edge(int mode)
{
    static const char *const names[] = { "sim_scale", "sim_scale", "sim_scale", "sim_scale", "sim_scale_gds",
                                         "sim_scale" };
    CUgraph g;
    float one = 1.0f, two = 2.0f;
    int n = 1;
    void *fa[] = { &y, &one, &n }, *sa[] = { &z, &y, &two, &n };
    OK(cuGraphCreate(&g, 0));
    CUgraphNode a = knode(g, "sim_fill", fa, NULL, 0);
    CUgraphNode b = knode(g, names[mode], sa, mode == 1 ? &a : NULL, mode == 1);
    CUgraphEdgeData ed;
    memset(&ed, 0, sizeof ed);
    if (mode >= 3) {
        ed.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
        ed.from_port = mode == 5 ? CU_GRAPH_KERNEL_NODE_PORT_LAUNCH_ORDER : CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
    }
    if (mode >= 2)
        OK(cuGraphAddDependencies(g, &a, &b, &ed, 1));
    return run_graph(g);
}

static void test_graph_edges(void **state)
{
    (void)state;
    assert_int_equal(outcomes(graph_edge, 0), BOTH);
    assert_int_equal(outcomes(graph_edge, 1), FRESH);
    assert_int_equal(outcomes(graph_edge, 2), FRESH);
    assert_int_equal(outcomes(graph_edge, 3), BOTH);
    assert_int_equal(outcomes(graph_edge, 4), FRESH);
    assert_int_equal(outcomes(graph_edge, 5), BOTH);
}

/* Event record and wait nodes order a graph against another stream: the
 * graph records after its kernel and nb2 waits (0); nb1 records and the
 * graph waits (1); the graph without its wait node (2); the record node's
 * event set on the executable graph (3); the wait node's (4). */
static int event_nodes(int mode)
{
    CUevent e, e2;
    CUgraph g;
    CUgraphExec ex;
    CUgraphNode a, w, rec;
    float one = 1.0f, two = 2.0f;
    int n = 1;
    void *fa[] = { &y, &one, &n }, *sa[] = { &z, &y, &two, &n };
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    OK(cuEventCreate(&e2, CU_EVENT_DISABLE_TIMING));
    OK(cuGraphCreate(&g, 0));
    if (mode == 0 || mode == 3) {
        a = knode(g, "sim_fill", fa, NULL, 0);
        OK(cuGraphAddEventRecordNode(&rec, g, &a, 1, e));
        OK(cuGraphInstantiateWithFlags(&ex, g, 0));
        if (mode == 3)
            OK(cuGraphExecEventRecordNodeSetEvent(ex, rec, e2));
        OK(cuGraphLaunch(ex, nb1));
        OK(cuStreamWaitEvent(nb2, mode == 3 ? e2 : e, 0));
        scale(nb2, "sim_scale", 2.0f);
    } else {
        if (mode != 2)
            OK(cuGraphAddEventWaitNode(&w, g, NULL, 0, e));
        knode(g, "sim_scale", sa, mode != 2 ? &w : NULL, mode != 2);
        OK(cuGraphInstantiateWithFlags(&ex, g, 0));
        fill(nb1, y, 1.0f, 1, 1, 1);
        OK(cuEventRecord(mode == 4 ? e2 : e, nb1));
        if (mode == 4)
            OK(cuGraphExecEventWaitNodeSetEvent(ex, w, e2));
        OK(cuGraphLaunch(ex, nb2));
    }
    int r = zval();
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuEventDestroy(e));
    OK(cuEventDestroy(e2));
    return r;
}

/* Two record nodes of one event that no path orders: on a GPU the one that
 * runs last leaves the event as nb2's wait finds it. The one after the fill
 * comes last in topological order; the other follows only a kernel that
 * touches nothing, so which one nb2 follows decides what it reads. With
 * an edge from the first record to the second (1), the second is the
 * latest every time. */
static int racing_records(int ordered)
{
    CUevent e;
    CUgraph g;
    CUgraphExec ex;
    CUgraphNode k, first, fl, second;
    float one = 1.0f;
    int n = 1;
    void *fa[] = { &y, &one, &n };
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    OK(cuGraphCreate(&g, 0));
    k = knode(g, "sim_noop", NULL, NULL, 0);
    OK(cuGraphAddEventRecordNode(&first, g, &k, 1, e));
    fl = knode(g, "sim_fill", fa, NULL, 0);
    CUgraphNode deps[2] = { fl, first };
    OK(cuGraphAddEventRecordNode(&second, g, deps, ordered ? 2 : 1, e));
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphLaunch(ex, nb1));
    OK(cuStreamWaitEvent(nb2, e, 0));
    scale(nb2, "sim_scale", 2.0f);
    int r = zval();
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuEventDestroy(e));
    return r;
}

static void test_event_nodes(void **state)
{
    (void)state;
    assert_int_equal(outcomes(event_nodes, 0), FRESH);
    assert_int_equal(outcomes(event_nodes, 1), FRESH);
    assert_int_equal(outcomes(event_nodes, 2), BOTH);
    assert_int_equal(outcomes(event_nodes, 3), FRESH);
    assert_int_equal(outcomes(event_nodes, 4), FRESH);
    assert_int_equal(outcomes(racing_records, 0), BOTH);
    assert_int_equal(outcomes(racing_records, 1), FRESH);
}

/* The stream's work after a graph follows all of its nodes. */
static int after_graph(int unused)
{
    CUgraph g;
    float one = 1.0f;
    int n = 1;
    void *fa[] = { &y, &one, &n };
    (void)unused;
    OK(cuGraphCreate(&g, 0));
    knode(g, "sim_noop", NULL, NULL, 0);
    knode(g, "sim_fill", fa, NULL, 0); /* two roots, two sinks */
    CUgraphExec ex;
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphLaunch(ex, nb1));
    scale(nb1, "sim_scale", 2.0f);
    int r = zval();
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    return r;
}

static void test_after_graph(void **state)
{
    (void)state;
    assert_int_equal(outcomes(after_graph, 0), FRESH);
}

/* --------------------------------------------------------------- time */

/* Elapsed times are the longest chains of timed work between the records,
 * whatever order the scheduler picks. */
static void test_virtual_time(void **state)
{
    (void)state;
    for (unsigned long long seed = 1; seed <= 16; seed++) {
        CUstream a, b;
        CUevent e0, e1, e2, f;
        float ms01, ms02;
        simcuda_seed(seed);
        OK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
        OK(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
        OK(cuEventCreate(&e0, 0));
        OK(cuEventCreate(&e1, 0));
        OK(cuEventCreate(&e2, 0));
        OK(cuEventCreate(&f, CU_EVENT_DISABLE_TIMING));
        OK(cuEventRecord(e0, a));
        fill(a, y, 1.0f, 1, 1, 1);
        OK(cuEventRecord(f, a));
        fill(a, y, 1.0f, 1, 1, 1);
        OK(cuEventRecord(e1, a));
        OK(cuStreamWaitEvent(b, f, 0));
        for (int i = 0; i < 3; i++)
            fill(b, z, 1.0f, 1, 1, 1);
        OK(cuEventRecord(e2, b));
        OK(cuStreamSynchronize(a));
        OK(cuStreamSynchronize(b));
        OK(cuEventElapsedTime(&ms01, e0, e1));
        OK(cuEventElapsedTime(&ms02, e0, e2));
        assert_float_equal(ms01, 0.002f, 1e-7);
        assert_float_equal(ms02, 0.004f, 1e-7);
        OK(cuEventDestroy(e0));
        OK(cuEventDestroy(e1));
        OK(cuEventDestroy(e2));
        OK(cuEventDestroy(f));
        OK(cuStreamDestroy(a));
        OK(cuStreamDestroy(b));
    }
    simcuda_seed(1);
}

/* A GPU stamps a record when it runs: two records nothing orders give a
 * negative time for some schedules (as a record a graph hangs off its
 * stream's chain did on an H200); two in stream order never do. */
static void test_unordered_records_time(void **state)
{
    (void)state;
    int negative = 0;
    for (unsigned long long seed = 1; seed <= 32; seed++) {
        CUstream a, b;
        CUevent e0, e1, e2;
        float ms, ordered;
        simcuda_seed(seed);
        OK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
        OK(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING));
        OK(cuEventCreate(&e0, 0));
        OK(cuEventCreate(&e1, 0));
        OK(cuEventCreate(&e2, 0));
        fill(a, y, 1.0f, 1, 1, 1);
        OK(cuEventRecord(e0, a));
        fill(a, y, 1.0f, 1, 1, 1);
        OK(cuEventRecord(e2, a));
        fill(b, z, 1.0f, 1, 1, 1);
        fill(b, z, 1.0f, 1, 1, 1);
        OK(cuEventRecord(e1, b));
        OK(cuCtxSynchronize());
        OK(cuEventElapsedTime(&ms, e0, e1));
        OK(cuEventElapsedTime(&ordered, e0, e2));
        negative += ms < 0.0f;
        assert_float_equal(ordered, 0.001f, 1e-7);
        if (ms >= 0.0f)
            assert_float_equal(ms, 0.001f, 1e-7);
        OK(cuEventDestroy(e0));
        OK(cuEventDestroy(e1));
        OK(cuEventDestroy(e2));
        OK(cuStreamDestroy(a));
        OK(cuStreamDestroy(b));
    }
    simcuda_seed(1);
    assert_true(negative > 0 && negative < 32);
}

/* ------------------------------------------------ per-thread ordinals */

static void *second_thread(void *arg)
{
    int *ordinal = arg;
    if (cuCtxSetCurrent(primary) == CUDA_SUCCESS) {
        launch_probe(CU_STREAM_PER_THREAD, 0, 9);
        *ordinal = probe_seen.streamOrdinal;
    }
    return NULL;
}

static void test_per_thread_ordinals(void **state)
{
    (void)state;
    int theirs = 0;
    launch_probe(CU_STREAM_PER_THREAD, 0, 8);
    assert_int_equal(probe_seen.streamOrdinal, -1); /* first used by test_legacy_stream */
    launch_probe(NULL, 1, 8);
    assert_int_equal(probe_seen.streamOrdinal, -1);
    pthread_t t;
    pthread_create(&t, NULL, second_thread, &theirs);
    pthread_join(t, NULL);
    assert_int_equal(theirs, -2);
}

/* The main thread's per-thread stream is the first one used: -1. */
static int child_fifo(void)
{
    if (group_setup(NULL) || cuStreamCreate(&nb1, CU_STREAM_NON_BLOCKING) ||
        cuStreamCreate(&nb2, CU_STREAM_NON_BLOCKING) || cuMemAlloc(&z, 4))
        return 100;
    int r = race(0);
    launch_probe(CU_STREAM_PER_THREAD, 0, 1);
    return probe_seen.streamOrdinal == -1 ? r : 101;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return !strcmp(argv[1], "--child-fifo") ? child_fifo() : 99;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_independent_streams),
        cmocka_unit_test(test_event_edges),
        cmocka_unit_test(test_legacy_stream),
        cmocka_unit_test(test_destroyed_stream),
        cmocka_unit_test(test_partial_sync),
        cmocka_unit_test(test_pdl),
        cmocka_unit_test(test_prologue),
        cmocka_unit_test(test_graph_edges),
        cmocka_unit_test(test_event_nodes),
        cmocka_unit_test(test_after_graph),
        cmocka_unit_test(test_virtual_time),
        cmocka_unit_test(test_unordered_records_time),
        cmocka_unit_test(test_per_thread_ordinals),
    };
    return cmocka_run_group_tests_name("test_simcuda_sched", tests, setup, NULL);
}
