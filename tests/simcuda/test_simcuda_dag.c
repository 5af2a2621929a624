/* test_simcuda_dag.c: the fourth suite of simcuda's own tests: the graph
 * API as a DAG builder uses it, and launch attributes. Edges with edge data
 * (validation as strict as the driver's: programmatic edges only between
 * kernel nodes, ports, reserved bytes, duplicates, cycles; the queries and
 * their lossy cases; removal), cuGraphExecUpdate against topology changes,
 * host node and event node parameters on graphs and executable graphs,
 * what stream capture makes of programmatic launches and external event
 * records and waits, every launch attribute of cuda.h on launches and on
 * kernel nodes, and the trace of attributes.
 *
 * How graphs and launches are scheduled (what a missing or programmatic
 * edge lets run early) is tested in test_simcuda_sched.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

/* The v1 entry points without edge data, which cuda.h renames to _v2. */
#undef cuGraphAddDependencies
#undef cuGraphGetEdges
#undef cuGraphNodeGetDependencies
CUresult CUDAAPI cuGraphAddDependencies(CUgraph g, const CUgraphNode *from, const CUgraphNode *to, size_t n);
CUresult CUDAAPI cuGraphGetEdges(CUgraph g, CUgraphNode *from, CUgraphNode *to, size_t *n);
CUresult CUDAAPI cuGraphNodeGetDependencies(CUgraphNode h, CUgraphNode *deps, size_t *n);

static CUdeviceptr y;
static int n1 = 1;
static float one = 1.0f;

static int setup(void **state)
{
    return group_setup(state) || cuMemAlloc(&y, 64) ? -1 : 0;
}

static CUgraphNode knode(CUgraph g, const char *k)
{
    CUgraphNode node;
    void *args[] = { &y, &one, &n1 };
    CUDA_KERNEL_NODE_PARAMS kp = { .func = K(k), .gridDimX = 2, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1,
                                   .blockDimY = 1, .blockDimZ = 1, .kernelParams = args };
    OK(cuGraphAddKernelNode(&node, g, NULL, 0, &kp));
    return node;
}

static CUgraphEdgeData edge(unsigned char type, unsigned char from_port)
{
    CUgraphEdgeData e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.from_port = from_port;
    return e;
}
#define PROG edge(CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC, CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC)

static size_t nedges(CUgraph g)
{
    size_t n = 0;
    OK(cuGraphGetEdges_v2(g, NULL, NULL, NULL, &n));
    return n;
}

/* ------------------------------------------------------------------ edges */

static void test_edge_validation(void **state)
{
    (void)state;
    CUgraph g, other;
    CUgraphNode m, x;
    OK(cuGraphCreate(&g, 0));
    OK(cuGraphCreate(&other, 0));
    CUgraphNode k1 = knode(g, "sim_fill"), k2 = knode(g, "sim_fill_gds"), k3 = knode(g, "sim_fill");
    CUDA_MEMSET_NODE_PARAMS mp = { .dst = y, .value = 0, .elementSize = 4, .width = 1, .height = 1 };
    OK(cuGraphAddMemsetNode(&m, g, NULL, 0, &mp, primary));
    CUgraphNode xk = knode(other, "sim_fill");
    CUgraphEdgeData e = PROG;
    /* Programmatic edges join two kernel nodes. */
    FAILS(cuGraphAddDependencies_v2(g, &k1, &m, &e, 1), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuGraphAddDependencies_v2(g, &m, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    OK(cuGraphAddMemsetNode(&x, g, &k1, 1, &mp, primary)); /* default edges go anywhere */
    /* Ports, types and reserved bytes. */
    e = edge(CU_GRAPH_DEPENDENCY_TYPE_DEFAULT, CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    e = edge(CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC, CU_GRAPH_KERNEL_NODE_PORT_DEFAULT);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    e = edge(7, 0);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    e = PROG;
    e.to_port = 1;
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    e = PROG;
    e.reserved[4] = 1;
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    e = edge(CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC, 3);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1), CUDA_ERROR_INVALID_VALUE);
    /* Nodes of this graph, no self edge, no duplicate, no cycle. */
    e = PROG;
    FAILS(cuGraphAddDependencies_v2(g, &k1, &xk, &e, 1), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k1, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    size_t before = nedges(g);
    OK(cuGraphAddDependencies_v2(g, &k1, &k2, &e, 1));
    assert_int_equal(nedges(g), before + 1);
    FAILS(cuGraphAddDependencies_v2(g, &k1, &k2, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuGraphAddDependencies_v2(g, &k2, &k1, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    e = edge(CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC, CU_GRAPH_KERNEL_NODE_PORT_LAUNCH_ORDER);
    OK(cuGraphAddDependencies_v2(g, &k2, &k3, &e, 1));
    FAILS(cuGraphAddDependencies_v2(g, &k3, &k1, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    /* All or nothing: the first edge of a failing batch is not added. */
    before = nedges(g);
    CUgraphNode from[] = { k3, k3 }, to[] = { m, k1 };
    FAILS(cuGraphAddDependencies_v2(g, from, to, NULL, 2), CUDA_ERROR_INVALID_VALUE);
    assert_int_equal(nedges(g), before);
    OK(cuGraphAddDependencies_v2(g, from, to, NULL, 1));
    /* The v1 entry point adds default edges. */
    CUgraphNode k4 = knode(g, "sim_fill");
    OK(cuGraphAddDependencies(g, &m, &k4, 1));
    assert_int_equal(nedges(g), before + 2);
    CUgraphExec ex;
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuGraphDestroy(other));
}

static void test_edge_queries(void **state)
{
    (void)state;
    CUgraph g;
    CUgraphNode from[4], to[4], deps[4];
    CUgraphEdgeData ed[4];
    size_t n;
    OK(cuGraphCreate(&g, 0));
    CUgraphNode a = knode(g, "sim_fill"), b = knode(g, "sim_fill_gds"), c = knode(g, "sim_fill");
    CUgraphEdgeData e = PROG;
    OK(cuGraphAddDependencies_v2(g, &a, &b, &e, 1));
    OK(cuGraphAddDependencies_v2(g, &b, &c, NULL, 1));
    n = 4;
    OK(cuGraphGetEdges_v2(g, from, to, ed, &n));
    assert_int_equal(n, 2);
    assert_true(from[0] == a && to[0] == b && ed[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC &&
                ed[0].from_port == CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    assert_true(from[1] == b && to[1] == c && ed[1].type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT);
    assert_null(from[2]);
    n = 1; /* fewer slots than edges: the first ones */
    OK(cuGraphGetEdges_v2(g, from, to, ed, &n));
    assert_true(n == 1 && from[0] == a);
    /* Without room for edge data, a programmatic edge makes it lossy. */
    n = 4;
    FAILS(cuGraphGetEdges(g, from, to, &n), CUDA_ERROR_LOSSY_QUERY);
    n = 0;
    OK(cuGraphGetEdges(g, NULL, NULL, &n));
    assert_int_equal(n, 2);
    n = 4;
    FAILS(cuGraphNodeGetDependencies(b, deps, &n), CUDA_ERROR_LOSSY_QUERY);
    n = 4;
    OK(cuGraphNodeGetDependencies(c, deps, &n));
    assert_true(n == 1 && deps[0] == b);
    n = 4;
    OK(cuGraphNodeGetDependencies_v2(b, deps, ed, &n));
    assert_true(n == 1 && deps[0] == a && ed[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC);
    n = 4;
    OK(cuGraphNodeGetDependentNodes_v2(a, deps, ed, &n));
    assert_true(n == 1 && deps[0] == b && ed[0].from_port == CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    FAILS(cuGraphNodeGetDependencies_v2(b, NULL, ed, &n), CUDA_ERROR_INVALID_VALUE);
    /* Removal needs the edge's data. */
    FAILS(cuGraphRemoveDependencies_v2(g, &a, &b, NULL, 1), CUDA_ERROR_INVALID_VALUE);
    OK(cuGraphRemoveDependencies_v2(g, &a, &b, &e, 1));
    assert_int_equal(nedges(g), 1);
    OK(cuGraphDestroy(g));
}

/* An executable graph takes the parameters of a graph of the same
 * topology, edge data included, and refuses another. */
static void test_exec_update(void **state)
{
    (void)state;
    CUgraph g[4];
    CUgraphNode a[4], b[4];
    CUgraphExec ex;
    CUgraphExecUpdateResultInfo info;
    CUgraphEdgeData e = PROG;
    for (int i = 0; i < 4; i++) {
        OK(cuGraphCreate(&g[i], 0));
        a[i] = knode(g[i], "sim_fill");
        b[i] = knode(g[i], "sim_fill");
    }
    OK(cuGraphAddDependencies_v2(g[0], &a[0], &b[0], &e, 1));
    OK(cuGraphAddDependencies_v2(g[1], &a[1], &b[1], &e, 1));
    OK(cuGraphAddDependencies_v2(g[2], &a[2], &b[2], NULL, 1)); /* same edge, other data */
    OK(cuGraphInstantiateWithFlags(&ex, g[0], 0));
    OK(cuGraphExecUpdate(ex, g[1], &info));
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    FAILS(cuGraphExecUpdate(ex, g[2], &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
    FAILS(cuGraphExecUpdate(ex, g[3], &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE); /* no edge */
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED);
    OK(cuGraphExecDestroy(ex));
    for (int i = 0; i < 4; i++)
        OK(cuGraphDestroy(g[i]));
}

/* ----------------------------------------------------- host, event nodes */

static int host_a, host_b;
static void add_a(void *p) { host_a += *(int *)p; }
static void add_b(void *p) { host_b += *(int *)p; }

static void test_host_nodes(void **state)
{
    (void)state;
    CUgraph g;
    CUgraphNode h;
    CUgraphExec ex;
    CUstream s;
    int one_i = 1, ten = 10;
    CUDA_HOST_NODE_PARAMS hp = { .fn = add_a, .userData = &one_i }, got;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuGraphCreate(&g, 0));
    OK(cuGraphAddHostNode(&h, g, NULL, 0, &hp));
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(host_a == 1 && host_b == 0);
    /* The executable graph's node changes, the graph's does not. */
    CUDA_HOST_NODE_PARAMS hb = { .fn = add_b, .userData = &ten };
    OK(cuGraphExecHostNodeSetParams(ex, h, &hb));
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(host_a == 1 && host_b == 10);
    OK(cuGraphHostNodeGetParams(h, &got));
    assert_true(got.fn == add_a && got.userData == &one_i);
    hb.fn = NULL;
    FAILS(cuGraphExecHostNodeSetParams(ex, h, &hb), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuGraphHostNodeSetParams(h, &hb), CUDA_ERROR_INVALID_VALUE);
    hb.fn = add_b;
    OK(cuGraphHostNodeSetParams(h, &hb));
    OK(cuGraphHostNodeGetParams(h, &got));
    assert_true(got.fn == add_b);
    CUgraphNode k = knode(g, "sim_fill");
    FAILS(cuGraphExecHostNodeSetParams(ex, k, &hb), CUDA_ERROR_INVALID_VALUE); /* not in the exec */
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuStreamDestroy(s));
}

static void test_event_node_api(void **state)
{
    (void)state;
    CUgraph g;
    CUgraphNode r, w;
    CUgraphExec ex;
    CUgraphNodeType t;
    CUevent e, e2, got;
    CUstream s;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&e, 0));
    OK(cuEventCreate(&e2, 0));
    OK(cuGraphCreate(&g, 0));
    OK(cuGraphAddEventRecordNode(&r, g, NULL, 0, e));
    OK(cuGraphAddEventWaitNode(&w, g, &r, 1, e2));
    FAILS(cuGraphAddEventRecordNode(&r, g, NULL, 0, (CUevent)(uintptr_t)0x77), CUDA_ERROR_INVALID_HANDLE);
    OK(cuGraphNodeGetType(r, &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_EVENT_RECORD);
    OK(cuGraphNodeGetType(w, &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    OK(cuGraphEventRecordNodeGetEvent(r, &got));
    assert_ptr_equal(got, e);
    OK(cuGraphEventWaitNodeGetEvent(w, &got));
    assert_ptr_equal(got, e2);
    FAILS(cuGraphEventRecordNodeGetEvent(w, &got), CUDA_ERROR_INVALID_VALUE);
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    FAILS(cuGraphExecEventRecordNodeSetEvent(ex, w, e), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuGraphExecEventWaitNodeSetEvent(ex, r, e), CUDA_ERROR_INVALID_VALUE);
    /* A record node records its event each launch: it can be timed. */
    float ms;
    OK(cuEventRecord(e2, s));
    OK(cuGraphLaunch(ex, s));
    OK(cuEventSynchronize(e));
    OK(cuEventElapsedTime(&ms, e2, e));
    assert_float_equal(ms, 0.0f, 1e-9);
    OK(cuGraphEventRecordNodeSetEvent(r, e2));
    OK(cuGraphEventRecordNodeGetEvent(r, &got));
    assert_ptr_equal(got, e2);
    /* A launch whose event was destroyed fails. */
    OK(cuEventDestroy(e2));
    FAILS(cuGraphLaunch(ex, s), CUDA_ERROR_INVALID_HANDLE);
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuEventDestroy(e));
    OK(cuStreamDestroy(s));
}

/* ----------------------------------------------------------------- capture */

static void launch_pss(CUstream s, const char *k, int pss)
{
    void *args[] = { &y, &one, &n1 };
    CUlaunchAttribute at;
    memset(&at, 0, sizeof at);
    at.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    at.value.programmaticStreamSerializationAllowed = pss;
    CUlaunchConfig cfg = { .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = &at, .numAttrs = 1 };
    OK(cuLaunchKernelEx(&cfg, K(k), args, NULL));
}

static void test_capture_edges(void **state)
{
    (void)state;
    CUstream s;
    CUgraph g;
    CUevent e, e2;
    CUgraphNode from[8], to[8];
    CUgraphEdgeData ed[8];
    CUgraphNodeType t;
    size_t n = 8;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&e, 0));
    OK(cuEventCreate(&e2, 0));
    FAILS(cuEventRecordWithFlags(e, s, CU_EVENT_RECORD_EXTERNAL), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuStreamWaitEvent(s, e, CU_EVENT_WAIT_EXTERNAL), CUDA_ERROR_INVALID_VALUE);
    OK(cuEventRecord(e2, s));
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    launch_pss(s, "sim_fill", 0);                  /* node 0 */
    launch_pss(s, "sim_fill_gds", 1);              /* node 1: programmatic edge from 0 */
    launch_pss(s, "sim_fill", 0);                  /* node 2: default edge */
    OK(cuEventRecord(e, s));                       /* no node: a fork point */
    OK(cuEventRecordWithFlags(e, s, CU_EVENT_RECORD_EXTERNAL)); /* node 3 */
    launch_pss(s, "sim_fill_gds", 1);              /* node 4: after a record node, default edge */
    OK(cuStreamWaitEvent(s, e2, CU_EVENT_WAIT_EXTERNAL)); /* node 5 */
    OK(cuStreamEndCapture(s, &g));
    size_t nn = 0;
    OK(cuGraphGetNodes(g, NULL, &nn));
    assert_int_equal(nn, 6);
    OK(cuGraphGetEdges_v2(g, from, to, ed, &n));
    assert_int_equal(n, 5);
    assert_true(ed[0].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC &&
                ed[0].from_port == CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC);
    for (size_t i = 1; i < n; i++)
        assert_true(ed[i].type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT && ed[i].from_port == 0);
    OK(cuGraphNodeGetType(to[2], &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_EVENT_RECORD);
    OK(cuGraphNodeGetType(to[4], &t));
    assert_int_equal(t, CU_GRAPH_NODE_TYPE_WAIT_EVENT);
    CUgraphExec ex;
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuMemsetD32(y, 0, 1));
    OK(cuGraphLaunch(ex, s));
    OK(cuEventSynchronize(e));
    assert_true(dget(y, 0) == 1.0f);
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
    OK(cuEventDestroy(e));
    OK(cuEventDestroy(e2));
    OK(cuStreamDestroy(s));
}

/* -------------------------------------------------------- launch attributes */

static CUresult launch_attr(CUstream s, const CUlaunchAttribute *at)
{
    int tag = 3;
    void *args[] = { &tag };
    CUlaunchConfig cfg = { .gridDimX = 4, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 32, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = (CUlaunchAttribute *)at, .numAttrs = 1 };
    return cuLaunchKernelEx(&cfg, K("t_probe"), args, NULL);
}

/* One attribute with its value set by `set`. */
#define ATTR(name, id_, set)                                                \
    CUlaunchAttribute name;                                                 \
    memset(&name, 0, sizeof name);                                          \
    name.id = (id_);                                                        \
    {                                                                       \
        CUlaunchAttributeValue *av = &name.value;                           \
        set;                                                                \
    }

static void test_launch_attributes(void **state)
{
    (void)state;
    CUstream s;
    CUevent timed, e;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&timed, 0));
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    /* Valid values of every launch attribute. */
    ATTR(ign, CU_LAUNCH_ATTRIBUTE_IGNORE, av->priority = 12345);
    ATTR(apw, CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW,
         (av->accessPolicyWindow.base_ptr = (void *)(uintptr_t)y, av->accessPolicyWindow.num_bytes = 64,
          av->accessPolicyWindow.hitRatio = 0.5f, av->accessPolicyWindow.hitProp = CU_ACCESS_PROPERTY_PERSISTING,
          av->accessPolicyWindow.missProp = CU_ACCESS_PROPERTY_STREAMING));
    ATTR(coop, CU_LAUNCH_ATTRIBUTE_COOPERATIVE, av->cooperative = 1);
    ATTR(cl, CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION, (av->clusterDim.x = 2, av->clusterDim.y = 1, av->clusterDim.z = 1));
    ATTR(pol, CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE,
         av->clusterSchedulingPolicyPreference = CU_CLUSTER_SCHEDULING_POLICY_SPREAD);
    ATTR(pss, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, av->programmaticStreamSerializationAllowed = 1);
    ATTR(pev, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT, (av->programmaticEvent.event = e, av->programmaticEvent.triggerAtBlockStart = 1));
    ATTR(prio, CU_LAUNCH_ATTRIBUTE_PRIORITY, av->priority = -3);
    ATTR(map, CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP, (av->memSyncDomainMap.default_ = 1, av->memSyncDomainMap.remote = 3));
    ATTR(dom, CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN, av->memSyncDomain = CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE);
    ATTR(pcl, CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION,
         (av->preferredClusterDim.x = 4, av->preferredClusterDim.y = 1, av->preferredClusterDim.z = 1));
    ATTR(lce, CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT, av->launchCompletionEvent.event = e);
    ATTR(carve, CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, av->sharedMemCarveout = 50);
    ATTR(carve_def, CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, av->sharedMemCarveout = (unsigned)-1);
    ATTR(nv, CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING, av->nvlinkUtilCentricScheduling = 1);
    const CUlaunchAttribute *good[] = { &ign, &apw, &coop, &cl, &pol, &pss, &pev, &prio, &map, &dom, &pcl, &lce,
                                        &carve, &carve_def, &nv };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (launch_attr(s, good[i]) != CUDA_SUCCESS)
            fail_msg("attribute %d was refused", (int)good[i]->id);
    OK(cuStreamSynchronize(s));
    /* Two attributes that go together, in one launch. */
    CUlaunchAttribute both[] = { cl, pcl };
    int tag = 3;
    void *args[] = { &tag };
    CUlaunchConfig cfg = { .gridDimX = 4, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 32, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = both, .numAttrs = 2 };
    OK(cuLaunchKernelEx(&cfg, K("t_probe"), args, NULL));
    both[1].value.preferredClusterDim.x = 3; /* not a multiple of the cluster */
    FAILS(cuLaunchKernelEx(&cfg, K("t_probe"), args, NULL), CUDA_ERROR_INVALID_CLUSTER_SIZE);

    /* Invalid values, ids, and attributes that are not for launches. */
    CUlaunchAttribute bad[14];
    for (size_t i = 0; i < 14; i++)
        memset(&bad[i], 0, sizeof bad[i]);
    bad[0] = apw, bad[0].value.accessPolicyWindow.hitRatio = 1.5f;
    bad[1] = apw, bad[1].value.accessPolicyWindow.missProp = CU_ACCESS_PROPERTY_PERSISTING;
    bad[2] = apw, bad[2].value.accessPolicyWindow.num_bytes = (size_t)1 << 40;
    bad[3] = pol, bad[3].value.clusterSchedulingPolicyPreference = (CUclusterSchedulingPolicy)3;
    bad[4] = map, bad[4].value.memSyncDomainMap.remote = 4;
    bad[5] = dom, bad[5].value.memSyncDomain = (CUlaunchMemSyncDomain)2;
    bad[6] = carve, bad[6].value.sharedMemCarveout = 101;
    bad[7] = nv, bad[7].value.nvlinkUtilCentricScheduling = 2;
    bad[8].id = CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY;
    bad[9].id = CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE; /* graphs only */
    bad[10].id = (CUlaunchAttributeID)15;
    bad[11].id = (CUlaunchAttributeID)99;
    bad[12] = pev, bad[12].value.programmaticEvent.event = timed; /* must disable timing */
    bad[13] = lce, bad[13].value.launchCompletionEvent.flags = CU_EVENT_RECORD_EXTERNAL;
    for (size_t i = 0; i < 14; i++)
        if (launch_attr(s, &bad[i]) != CUDA_ERROR_INVALID_VALUE)
            fail_msg("bad attribute #%zu (id %d) was accepted", i, (int)bad[i].id);
    OK(cuStreamSynchronize(s));
    OK(cuEventDestroy(timed));
    OK(cuEventDestroy(e));
    OK(cuStreamDestroy(s));
}

/* The programmatic and launch completion events are recorded by their
 * kernel: synchronising on them runs it. */
static void test_launch_events(void **state)
{
    (void)state;
    CUstream s;
    CUevent e;
    OK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    OK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    for (int pe = 0; pe < 2; pe++)
        for (unsigned long long seed = 1; seed <= 16; seed++) {
            simcuda_seed(seed);
            OK(cuMemsetD32(y, 0, 1));
            float v = 5.0f + (float)pe;
            void *args[] = { &y, &v, &n1 };
            ATTR(at, pe ? CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT : CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT,
                 (pe ? (av->programmaticEvent.event = e) : (av->launchCompletionEvent.event = e)));
            CUlaunchConfig cfg = { .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                                   .blockDimZ = 1, .hStream = s, .attrs = &at, .numAttrs = 1 };
            OK(cuLaunchKernelEx(&cfg, K("sim_fill"), args, NULL));
            fill(s, y + 4, 1.0f, 1, 1, 1); /* later work need not run */
            OK(cuEventSynchronize(e));
            assert_true(dget(y, 0) == v);
            OK(cuStreamSynchronize(s));
        }
    simcuda_seed(1);
    OK(cuEventDestroy(e));
    OK(cuStreamDestroy(s));
}

/* --------------------------------------------------------- node attributes */

static void test_node_attributes(void **state)
{
    (void)state;
    CUgraph g;
    CUkernelNodeAttrValue v, got;
    OK(cuGraphCreate(&g, 0));
    CUgraphNode k = knode(g, "sim_fill"); /* grid 2 */
    memset(&v, 0, sizeof v);
    /* Every attribute cuda.h names for kernel nodes round-trips. */
    v.accessPolicyWindow.base_ptr = (void *)(uintptr_t)y;
    v.accessPolicyWindow.num_bytes = 32;
    v.accessPolicyWindow.hitRatio = 0.25f;
    OK(cuGraphKernelNodeSetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_ACCESS_POLICY_WINDOW, &v));
    OK(cuGraphKernelNodeGetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_ACCESS_POLICY_WINDOW, &got));
    assert_true(got.accessPolicyWindow.num_bytes == 32 && got.accessPolicyWindow.hitRatio == 0.25f);
    memset(&v, 0, sizeof v);
    v.clusterDim.x = 2, v.clusterDim.y = 1, v.clusterDim.z = 1;
    OK(cuGraphKernelNodeSetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_CLUSTER_DIMENSION, &v));
    OK(cuGraphKernelNodeGetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_CLUSTER_DIMENSION, &got));
    assert_int_equal(got.clusterDim.x, 2);
    memset(&v, 0, sizeof v);
    v.preferredClusterDim.x = 3, v.preferredClusterDim.y = 1, v.preferredClusterDim.z = 1;
    FAILS(cuGraphKernelNodeSetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION, &v),
          CUDA_ERROR_INVALID_CLUSTER_SIZE);
    OK(cuGraphKernelNodeGetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION, &got));
    assert_int_equal(got.preferredClusterDim.x, 0); /* a failed set changes nothing */
    v.preferredClusterDim.x = 2;
    OK(cuGraphKernelNodeSetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION, &v));
#define ROUND(id, field, val)                                               \
    do {                                                                    \
        memset(&v, 0, sizeof v);                                            \
        v.field = (val);                                                    \
        OK(cuGraphKernelNodeSetAttribute(k, id, &v));                       \
        OK(cuGraphKernelNodeGetAttribute(k, id, &got));                     \
        assert_true(got.field == (val));                                    \
    } while (0)
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_COOPERATIVE, cooperative, 1);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE, clusterSchedulingPolicyPreference,
          CU_CLUSTER_SCHEDULING_POLICY_LOAD_BALANCING);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_PRIORITY, priority, -4);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_MEM_SYNC_DOMAIN, memSyncDomain, CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP, memSyncDomainMap.remote, 2);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, sharedMemCarveout, 75u);
    ROUND(CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING, nvlinkUtilCentricScheduling, 1u);
    ROUND(CU_KERNEL_NODE_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE, deviceUpdatableKernelNode.deviceUpdatable, 1);
#undef ROUND
    memset(&v, 0, sizeof v); /* a device-updatable node cannot opt out */
    FAILS(cuGraphKernelNodeSetAttribute(k, CU_KERNEL_NODE_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE, &v),
          CUDA_ERROR_INVALID_VALUE);
    /* Launch-only attributes, the stream one, IGNORE and unknown ids. */
    static const int refused[] = { CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
                                   CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT, CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT,
                                   CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY, CU_LAUNCH_ATTRIBUTE_IGNORE, 15, 99 };
    memset(&v, 0, sizeof v);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        FAILS(cuGraphKernelNodeSetAttribute(k, (CUkernelNodeAttrID)refused[i], &v), CUDA_ERROR_INVALID_VALUE);
        FAILS(cuGraphKernelNodeGetAttribute(k, (CUkernelNodeAttrID)refused[i], &got), CUDA_ERROR_INVALID_VALUE);
    }
    /* Device-updatable graphs cannot be updated. */
    CUgraphExec ex;
    CUgraphExecUpdateResultInfo info;
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    FAILS(cuGraphExecUpdate(ex, g, &info), CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE);
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED);
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));
}

/* ------------------------------------------------------------------ trace */

/* A launch with node attributes and a graph node given the same ones trace
 * the same line; the attributes appear in it. */
static void test_trace_attributes(void **state)
{
    (void)state;
    char path[] = "/tmp/simcuda-dag-XXXXXX", env[64], a[512] = "", b[512] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    snprintf(env, sizeof env, "SIMCUDA_TRACE=%s", path);
    assert_int_equal(run_child("--child-trace", env, NULL), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(a, sizeof a, f));
    assert_non_null(fgets(b, sizeof b, f));
    fclose(f);
    unlink(path);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, " priority=-2 policy=1 apw="));
    assert_non_null(strstr(a, " domain=1 dmap=2,3 carveout=40 nvlink=1\n"));
}

static int child_trace(void)
{
    CUstream s;
    CUgraph g;
    CUgraphNode node;
    CUgraphExec ex;
    if (group_setup(NULL) || cuMemAlloc(&y, 64) || cuStreamCreate(&s, CU_STREAM_NON_BLOCKING))
        return 2;
    CUlaunchAttribute at[7];
    memset(at, 0, sizeof at);
    at[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY, at[0].value.priority = -2;
    at[1].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
    at[1].value.clusterSchedulingPolicyPreference = CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
    at[2].id = CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW;
    at[2].value.accessPolicyWindow.base_ptr = (void *)(uintptr_t)y;
    at[2].value.accessPolicyWindow.num_bytes = 64;
    at[2].value.accessPolicyWindow.hitRatio = 1.0f;
    at[3].id = CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN, at[3].value.memSyncDomain = CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE;
    at[4].id = CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP;
    at[4].value.memSyncDomainMap.default_ = 2, at[4].value.memSyncDomainMap.remote = 3;
    at[5].id = CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, at[5].value.sharedMemCarveout = 40;
    at[6].id = CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING, at[6].value.nvlinkUtilCentricScheduling = 1;
    void *args[] = { &y, &one, &n1 };
    CUlaunchConfig cfg = { .gridDimX = 2, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = at, .numAttrs = 7 };
    if (cuLaunchKernelEx(&cfg, K("sim_fill"), args, NULL) || cuStreamSynchronize(s))
        return 3;
    CUDA_KERNEL_NODE_PARAMS kp = { .func = K("sim_fill"), .gridDimX = 2, .gridDimY = 1, .gridDimZ = 1,
                                   .blockDimX = 1, .blockDimY = 1, .blockDimZ = 1, .kernelParams = args };
    if (cuGraphCreate(&g, 0) || cuGraphAddKernelNode(&node, g, NULL, 0, &kp))
        return 4;
    for (int i = 0; i < 7; i++)
        if (cuGraphKernelNodeSetAttribute(node, at[i].id, &at[i].value))
            return 5;
    if (cuGraphInstantiateWithFlags(&ex, g, 0) || cuGraphLaunch(ex, s) || cuStreamSynchronize(s))
        return 6;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return !strcmp(argv[1], "--child-trace") ? child_trace() : 99;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_validation),
        cmocka_unit_test(test_edge_queries),
        cmocka_unit_test(test_exec_update),
        cmocka_unit_test(test_host_nodes),
        cmocka_unit_test(test_event_node_api),
        cmocka_unit_test(test_capture_edges),
        cmocka_unit_test(test_launch_attributes),
        cmocka_unit_test(test_launch_events),
        cmocka_unit_test(test_node_attributes),
        cmocka_unit_test(test_trace_attributes),
    };
    return cmocka_run_group_tests_name("test_simcuda_dag", tests, setup, NULL);
}
