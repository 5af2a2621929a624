/*
 * tests/gpu/graph_probe.cu: checks on the real driver what graphshim's DAG
 * builder assumes, and reports what stream capture makes of the same work,
 * so the shim's graphs can match it (tests/gpu/gpu-graph.sh runs it).
 *
 *  pdl-capture  capture of kernels launched with programmatic stream
 *               serialisation (PDL): the type and ports of every edge, and
 *               what it makes of a PDL launch after a copy
 *  pdl-manual   the same chain built node by node with programmatic edges
 *               (cuGraphAddDependencies_v2): accepted, and results right
 *  attrs        which launch attributes a kernel node takes as node
 *               attributes (cuGraphKernelNodeSetAttribute), by id
 *  events       event record nodes of a timing event, and
 *               cuEventElapsedTime between them; an event wait node on an
 *               event recorded outside the graph; changing the events of an
 *               executable graph (cuGraphExecEvent*NodeSetEvent)
 *  host         a host node, and cuGraphExecHostNodeSetParams
 *  timing       eager chains of tiny kernels with and without PDL, and
 *               graphs with programmatic and full edges: microseconds per
 *               kernel (a first look; the benchmark measures properly)
 *  nodecost     what event record nodes and host nodes add to a graph
 *               launch: host microseconds per launch, and per launch and
 *               synchronisation
 *  callcost     host nodes against one host function after the launch
 *               (on the graph's stream, or on another that waits for the
 *               graph), back to back and one at a time; what patching an event,
 *               a kernel and a host node costs; the eager calls
 *
 * Each check prints "name: key=value ..." lines; a broken assumption prints
 * "FAIL: ..." and makes the exit status 1. Exit 77 without a usable GPU.
 */
#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

static int failures;

#define CKR(call)                                                               \
    do {                                                                        \
        cudaError_t e_ = (call);                                                \
        if (e_ != cudaSuccess) {                                                \
            fprintf(stderr, "graph_probe: line %d: %s: %s\n", __LINE__, #call,  \
                    cudaGetErrorString(e_));                                    \
            exit(1);                                                            \
        }                                                                       \
    } while (0)
#define CKD(call)                                                               \
    do {                                                                        \
        CUresult r_ = (call);                                                   \
        if (r_ != CUDA_SUCCESS) {                                               \
            fprintf(stderr, "graph_probe: line %d: %s: CUresult %d\n", __LINE__, \
                    #call, (int)r_);                                            \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static void expect(bool ok, const char *what)
{
    if (!ok) {
        printf("FAIL: %s\n", what);
        failures++;
    }
}

/* Each kernel of a chain reads the previous one's output after the grid
 * dependency synchronisation, so a missing dependency gives a wrong sum. */
__global__ void k_step(float *y, const float *x, int n, float add)
{
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = x[i] + add;
}

__global__ void k_spin(long long cycles)
{
    long long t0 = clock64();
    while (clock64() - t0 < cycles)
        ;
}

static void launch_step(cudaStream_t s, float *y, const float *x, int n, float add, bool pdl)
{
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute a[1];
    a[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    a[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.gridDim = dim3((n + 127) / 128);
    cfg.blockDim = dim3(128);
    cfg.stream = s;
    cfg.attrs = pdl ? a : NULL;
    cfg.numAttrs = pdl ? 1 : 0;
    CKR(cudaLaunchKernelEx(&cfg, k_step, y, x, n, add));
}

static const char *node_type(CUgraphNode nd)
{
    CUgraphNodeType t;
    CKD(cuGraphNodeGetType(nd, &t));
    switch (t) {
    case CU_GRAPH_NODE_TYPE_KERNEL: return "kernel";
    case CU_GRAPH_NODE_TYPE_MEMCPY: return "memcpy";
    case CU_GRAPH_NODE_TYPE_MEMSET: return "memset";
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD: return "event-record";
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: return "event-wait";
    case CU_GRAPH_NODE_TYPE_HOST: return "host";
    case CU_GRAPH_NODE_TYPE_EMPTY: return "empty";
    default: return "other";
    }
}

/* Prints every edge of g; returns how many are programmatic. */
static int print_edges(const char *tag, cudaGraph_t g)
{
    size_t n = 0;
    CKD(cuGraphGetEdges((CUgraph)g, NULL, NULL, NULL, &n));
    CUgraphNode from[64], to[64];
    CUgraphEdgeData data[64];
    if (n > 64)
        n = 64;
    CKD(cuGraphGetEdges((CUgraph)g, from, to, data, &n));
    int prog = 0;
    for (size_t i = 0; i < n; i++) {
        printf("%s: edge %zu %s->%s type=%d from_port=%d to_port=%d\n", tag, i,
               node_type(from[i]), node_type(to[i]), data[i].type, data[i].from_port,
               data[i].to_port);
        prog += data[i].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
    }
    return prog;
}

static float run_chain_check(float *x, float *y, int n, int len, float *host)
{
    CKR(cudaMemcpy(host, y, n * sizeof(float), cudaMemcpyDeviceToHost));
    (void)x;
    (void)len;
    return host[n - 1];
}

static void pdl_capture(float *a, float *b, int n, float *host)
{
    cudaStream_t s;
    CKR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaGraph_t g;
    CKR(cudaMemset(a, 0, n * sizeof(float)));
    CKR(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    launch_step(s, b, a, n, 1.0f, false);
    launch_step(s, a, b, n, 1.0f, true);
    launch_step(s, b, a, n, 1.0f, true);
    CKR(cudaMemcpyAsync(a, b, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
    launch_step(s, b, a, n, 1.0f, true);
    CKR(cudaStreamEndCapture(s, &g));
    int prog = print_edges("pdl-capture", g);
    printf("pdl-capture: programmatic-edges=%d of 4\n", prog);
    size_t nn = 0;
    CKR(cudaGraphGetNodes(g, NULL, &nn));
    cudaGraphNode_t nodes[16];
    CKR(cudaGraphGetNodes(g, nodes, &nn));
    for (size_t i = 0; i < nn; i++) {
        CUkernelNodeAttrValue v;
        memset(&v, 0, sizeof v);
        if (strcmp(node_type((CUgraphNode)nodes[i]), "kernel") != 0)
            continue;
        CUresult r = cuGraphKernelNodeGetAttribute(
            (CUgraphNode)nodes[i], CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, &v);
        printf("pdl-capture: node %zu get-attr(PSS) result=%d value=%d\n", i, (int)r,
               (int)v.programmaticStreamSerializationAllowed);
    }
    cudaGraphExec_t e;
    CKR(cudaGraphInstantiate(&e, g, 0));
    CKR(cudaGraphLaunch(e, s));
    CKR(cudaStreamSynchronize(s));
    float last = run_chain_check(a, b, n, 4, host);
    printf("pdl-capture: result=%g (expect 4)\n", last);
    expect(last == 4.0f, "the captured PDL chain computed a wrong result");
    CKR(cudaGraphExecDestroy(e));
    CKR(cudaGraphDestroy(g));
    CKR(cudaStreamDestroy(s));
}

static void add_kernel(CUgraph g, CUgraphNode *nd, CUfunction f, float **y, float **x, int *n,
                       float *add)
{
    void *args[] = {y, x, n, add};
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    p.func = f;
    p.gridDimX = (unsigned)(*n + 127) / 128;
    p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = 128;
    p.blockDimY = p.blockDimZ = 1;
    p.kernelParams = args;
    CKD(cuGraphAddKernelNode(nd, g, NULL, 0, &p));
}

/* A chain of `len` k_step nodes joined by programmatic (or full) edges. */
static CUgraph manual_chain(float *a, float *b, int n, int len, bool programmatic, float one)
{
    CUfunction f;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)k_step));
    CUgraph g;
    CKD(cuGraphCreate(&g, 0));
    CUgraphNode prev = NULL;
    float add = one;
    for (int i = 0; i < len; i++) {
        CUgraphNode nd;
        float *y = i % 2 ? a : b, *x = i % 2 ? b : a;
        add_kernel(g, &nd, f, &y, &x, &n, &add);
        if (prev) {
            CUgraphEdgeData ed;
            memset(&ed, 0, sizeof ed);
            if (programmatic) {
                ed.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
                ed.from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
            }
            CKD(cuGraphAddDependencies(g, &prev, &nd, &ed, 1));
        }
        prev = nd;
    }
    return g;
}

static void pdl_manual(float *a, float *b, int n, float *host)
{
    CUgraph g = manual_chain(a, b, n, 4, true, 1.0f);
    int prog = print_edges("pdl-manual", (cudaGraph_t)g);
    expect(prog == 3, "programmatic edges were not kept");
    CUgraphExec e;
    CKD(cuGraphInstantiateWithFlags(&e, g, 0));
    CKR(cudaMemset(a, 0, n * sizeof(float)));
    CKD(cuGraphLaunch(e, NULL));
    CKR(cudaDeviceSynchronize());
    float last = run_chain_check(a, a, n, 4, host);
    printf("pdl-manual: result=%g (expect 4)\n", last);
    expect(last == 4.0f, "the manual programmatic chain computed a wrong result");
    CKD(cuGraphExecDestroy(e));
    CKD(cuGraphDestroy(g));
}

static void attrs(float *a, float *b, int n)
{
    CUfunction f;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)k_step));
    for (int id = 0; id <= 17; id++) {
        CUgraph g;
        CKD(cuGraphCreate(&g, 0));
        CUgraphNode nd;
        float one = 1.0f;
        add_kernel(g, &nd, f, &b, &a, &n, &one);
        CUkernelNodeAttrValue v;
        memset(&v, 0, sizeof v);
        switch (id) {
        case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
            v.clusterDim.x = 1, v.clusterDim.y = 1, v.clusterDim.z = 1;
            break;
        case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: v.sharedMemCarveout = 50; break;
        case CU_LAUNCH_ATTRIBUTE_COOPERATIVE: v.cooperative = 1; break;
        case CU_LAUNCH_ATTRIBUTE_PRIORITY: v.priority = 0; break;
        default: break;
        }
        CUresult r = cuGraphKernelNodeSetAttribute(nd, (CUkernelNodeAttrID)id, &v);
        CUresult ri = CUDA_ERROR_NOT_SUPPORTED;
        if (r == CUDA_SUCCESS) {
            CUgraphExec e;
            ri = cuGraphInstantiateWithFlags(&e, g, 0);
            if (ri == CUDA_SUCCESS) {
                ri = cuGraphLaunch(e, NULL);
                cudaDeviceSynchronize();
                cuGraphExecDestroy(e);
            }
        }
        printf("attrs: id=%d set=%d launch=%d\n", id, (int)r, (int)ri);
        CKD(cuGraphDestroy(g));
    }
}

static void events(void)
{
    CUevent start, stop, ext, other;
    CKD(cuEventCreate(&start, CU_EVENT_DEFAULT));
    CKD(cuEventCreate(&stop, CU_EVENT_DEFAULT));
    CKD(cuEventCreate(&ext, CU_EVENT_DISABLE_TIMING));
    CKD(cuEventCreate(&other, CU_EVENT_DEFAULT));
    CUfunction spin;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&spin, (const void *)k_spin));
    CUgraph g;
    CKD(cuGraphCreate(&g, 0));
    CUgraphNode wait, rec1, k, rec2;
    CKD(cuGraphAddEventWaitNode(&wait, g, NULL, 0, ext));
    CKD(cuGraphAddEventRecordNode(&rec1, g, &wait, 1, start));
    long long cycles = 2000000; /* about a millisecond */
    void *args[] = {&cycles};
    CUDA_KERNEL_NODE_PARAMS p;
    memset(&p, 0, sizeof p);
    p.func = spin;
    p.gridDimX = p.gridDimY = p.gridDimZ = 1;
    p.blockDimX = p.blockDimY = p.blockDimZ = 1;
    p.kernelParams = args;
    CKD(cuGraphAddKernelNode(&k, g, &rec1, 1, &p));
    CKD(cuGraphAddEventRecordNode(&rec2, g, &k, 1, stop));
    CUgraphExec e;
    CKD(cuGraphInstantiateWithFlags(&e, g, 0));
    CUstream s2;
    CKD(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    /* The wait node waits for work recorded on another stream. */
    void *sargs[] = {&cycles};
    CKD(cuLaunchKernel(spin, 1, 1, 1, 1, 1, 1, 0, s2, sargs, NULL));
    CKD(cuEventRecord(ext, s2));
    CKD(cuGraphLaunch(e, NULL));
    CKD(cuCtxSynchronize());
    float ms = -1;
    CUresult r = cuEventElapsedTime(&ms, start, stop);
    printf("events: elapsed-result=%d ms=%.3f\n", (int)r, ms);
    expect(r == CUDA_SUCCESS && ms > 0.1f, "timing events recorded by graph nodes give no elapsed time");
    /* Another event for the second record node, through the exec. */
    CKD(cuGraphExecEventRecordNodeSetEvent(e, rec2, other));
    CKD(cuGraphExecEventWaitNodeSetEvent(e, wait, stop));
    CKD(cuGraphLaunch(e, NULL));
    CKD(cuCtxSynchronize());
    r = cuEventElapsedTime(&ms, start, other);
    printf("events: after-set-event elapsed-result=%d ms=%.3f\n", (int)r, ms);
    expect(r == CUDA_SUCCESS && ms > 0.1f, "an event set on an executable record node was not recorded");
    /* Query of an event whose record node has not run yet. */
    CKD(cuGraphLaunch(e, NULL));
    printf("events: query-while-running=%d\n", (int)cuEventQuery(other));
    CKD(cuCtxSynchronize());
    CKD(cuGraphExecDestroy(e));
    CKD(cuGraphDestroy(g));
    CKD(cuStreamDestroy(s2));
}

static int host_count;
static void CUDA_CB host_fn(void *p) { host_count += *(int *)p; }

static void host_node(void)
{
    static int one = 1, ten = 10;
    CUgraph g;
    CKD(cuGraphCreate(&g, 0));
    CUgraphNode h;
    CUDA_HOST_NODE_PARAMS hp = {host_fn, &one};
    CKD(cuGraphAddHostNode(&h, g, NULL, 0, &hp));
    CUgraphExec e;
    CKD(cuGraphInstantiateWithFlags(&e, g, 0));
    CKD(cuGraphLaunch(e, NULL));
    hp.userData = &ten;
    CKD(cuGraphExecHostNodeSetParams(e, h, &hp));
    CKD(cuGraphLaunch(e, NULL));
    CKD(cuCtxSynchronize());
    printf("host: count=%d (expect 11)\n", host_count);
    expect(host_count == 11, "host node parameters were not set");
    CKD(cuGraphExecDestroy(e));
    CKD(cuGraphDestroy(g));
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

static void timing(float *a, float *b, int n)
{
    const int len = 256, reps = 20;
    cudaStream_t s;
    CKR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    for (int pdl = 0; pdl < 2; pdl++) {
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            CKR(cudaStreamSynchronize(s));
            double t0 = now_us();
            for (int i = 0; i < len; i++)
                launch_step(s, i % 2 ? a : b, i % 2 ? b : a, n, 1.0f, pdl && i > 0);
            CKR(cudaStreamSynchronize(s));
            double t = now_us() - t0;
            best = t < best ? t : best;
        }
        printf("timing: eager pdl=%d us_per_kernel=%.3f\n", pdl, best / len);
    }
    for (int prog = 0; prog < 2; prog++) {
        CUgraph g = manual_chain(a, b, n, len, prog, 1.0f);
        CUgraphExec e;
        CKD(cuGraphInstantiateWithFlags(&e, g, 0));
        CKD(cuGraphUpload(e, (CUstream)s));
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            CKR(cudaStreamSynchronize(s));
            double t0 = now_us();
            CKD(cuGraphLaunch(e, (CUstream)s));
            CKR(cudaStreamSynchronize(s));
            double t = now_us() - t0;
            best = t < best ? t : best;
        }
        printf("timing: graph programmatic=%d us_per_kernel=%.3f\n", prog, best / len);
        CKD(cuGraphExecDestroy(e));
        CKD(cuGraphDestroy(g));
    }
    CKR(cudaStreamDestroy(s));
}

/* nodecost: what event record and host nodes add to a launch. A step of
 * XLA's eager ops as the shim graphs it: 6 kernels in a chain, each with
 * two records of events without timing hanging off it (leaves) and a host
 * function after them; the same without the host nodes, without the
 * records, and kernels alone. Host microseconds per cuGraphLaunch, and per
 * launch and synchronisation. */
static void CUDA_CB host_nop(void *p) { (void)p; }

static void nodecost(float *a, float *b, int n)
{
    CUfunction f;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)k_step));
    CUevent ev[12];
    for (int i = 0; i < 12; i++)
        CKD(cuEventCreate(&ev[i], CU_EVENT_DISABLE_TIMING));
    CUstream s;
    CKD(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    for (int variant = 0; variant < 4; variant++) {
        bool recs = variant & 1, hosts = variant & 2;
        CUgraph g;
        CKD(cuGraphCreate(&g, 0));
        CUgraphNode prev = NULL;
        float add = 1.0f;
        for (int i = 0; i < 6; i++) {
            CUgraphNode k, r[2] = {NULL, NULL}, h;
            float *y = i % 2 ? a : b, *x = i % 2 ? b : a;
            add_kernel(g, &k, f, &y, &x, &n, &add);
            if (prev)
                CKD(cuGraphAddDependencies(g, &prev, &k, NULL, 1));
            prev = k;
            for (int j = 0; j < 2 && recs; j++)
                CKD(cuGraphAddEventRecordNode(&r[j], g, &k, 1, ev[2 * i + j]));
            if (hosts) {
                CUDA_HOST_NODE_PARAMS hp = {host_nop, NULL};
                CKD(cuGraphAddHostNode(&h, g, recs ? &r[0] : &k, 1, &hp));
            }
        }
        CUgraphExec e;
        CKD(cuGraphInstantiateWithFlags(&e, g, 0));
        CKD(cuGraphUpload(e, s));
        const int reps = 200;
        double launch = 0, t0 = now_us();
        for (int r = 0; r < reps; r++) {
            double l0 = now_us();
            CKD(cuGraphLaunch(e, s));
            launch += now_us() - l0;
            CKD(cuStreamSynchronize(s));
        }
        double total = now_us() - t0;
        printf("nodecost: kernels=6 records=%d hosts=%d launch_us=%.2f launch_sync_us=%.2f\n",
               recs ? 12 : 0, hosts ? 6 : 0, launch / reps, total / reps);
        CKD(cuGraphExecDestroy(e));
        CKD(cuGraphDestroy(g));
    }
    CKD(cuStreamDestroy(s));
    for (int i = 0; i < 12; i++)
        CKD(cuEventDestroy(ev[i]));
}

/* callcost: host microseconds of the calls a JAX step's replay is made of,
 * as the shim makes them. Graphs of 6 chained kernels with 12 leaf records
 * and either 6 host nodes or one eager cuLaunchHostFunc after the launch
 * (GRAPHSHIM_HOST_AFTER), launched back to back (JAX never waits between
 * them) and one at a time; patching an event record, a kernel argument and
 * a host node's data; and the eager calls they replace. */
static void callcost(float *a, float *b, int n)
{
    CUfunction f;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)k_step));
    CUevent ev[14];
    for (int i = 0; i < 14; i++)
        CKD(cuEventCreate(&ev[i], CU_EVENT_DISABLE_TIMING));
    CUstream s;
    CKD(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    const int reps = 400;
    /* after: 0 host nodes; 1 one host function after the launch on its
     * stream; 2 on a second stream that waits for the graph (JAX's
     * callback stream, GRAPHSHIM_HOST_AFTER). */
    CUstream cbs;
    CUevent gev;
    CKD(cuStreamCreate(&cbs, CU_STREAM_NON_BLOCKING));
    CKD(cuEventCreate(&gev, CU_EVENT_DISABLE_TIMING));
    for (int after = 0; after < 3; after++) {
        CUgraph g;
        CKD(cuGraphCreate(&g, 0));
        CUgraphNode prev = NULL, k0 = NULL, r0 = NULL, h0 = NULL;
        float add = 1.0f;
        for (int i = 0; i < 6; i++) {
            CUgraphNode k, r[2], h;
            float *y = i % 2 ? a : b, *x = i % 2 ? b : a;
            add_kernel(g, &k, f, &y, &x, &n, &add);
            if (prev)
                CKD(cuGraphAddDependencies(g, &prev, &k, NULL, 1));
            prev = k;
            for (int j = 0; j < 2; j++)
                CKD(cuGraphAddEventRecordNode(&r[j], g, &k, 1, ev[2 * i + j]));
            if (!after) {
                CUDA_HOST_NODE_PARAMS hp = {host_nop, NULL};
                CKD(cuGraphAddHostNode(&h, g, &r[0], 1, &hp));
                if (i == 0)
                    h0 = h;
            }
            if (i == 0) {
                k0 = k;
                r0 = r[0];
            }
        }
        CUgraphExec e;
        CKD(cuGraphInstantiateWithFlags(&e, g, 0));
        CKD(cuGraphUpload(e, s));
        for (int sync = 0; sync < 2; sync++) {
            double launch = 0, t0 = now_us();
            for (int r = 0; r < reps; r++) {
                double l0 = now_us();
                CKD(cuGraphLaunch(e, s));
                if (after == 1)
                    CKD(cuLaunchHostFunc(s, host_nop, NULL));
                if (after == 2) {
                    CKD(cuEventRecord(gev, s));
                    CKD(cuStreamWaitEvent(cbs, gev, 0));
                    CKD(cuLaunchHostFunc(cbs, host_nop, NULL));
                }
                launch += now_us() - l0;
                if (sync) {
                    CKD(cuStreamSynchronize(s));
                    CKD(cuStreamSynchronize(cbs));
                }
            }
            CKD(cuStreamSynchronize(s));
            CKD(cuStreamSynchronize(cbs));
            printf("callcost: kernels=6 records=12 hosts=%s %s launch_us=%.2f total_us=%.2f\n",
                   after == 0 ? "6-nodes" : after == 1 ? "1-after" : "1-after-other-stream",
                   sync ? "one-at-a-time" : "back-to-back",
                   launch / reps, (now_us() - t0) / reps);
        }
        if (!after) {
            /* Patches between launches (each launch back to back). */
            double pe = 0, pk = 0, ph = 0;
            for (int r = 0; r < reps; r++) {
                double l0 = now_us();
                CKD(cuGraphExecEventRecordNodeSetEvent(e, r0, ev[12 + r % 2]));
                pe += now_us() - l0;
                CUDA_KERNEL_NODE_PARAMS kp;
                memset(&kp, 0, sizeof kp);
                float *y = r % 2 ? a : b, *x = r % 2 ? b : a;
                void *args[] = {&y, &x, &n, &add};
                kp.func = f;
                kp.gridDimX = (unsigned)(n + 127) / 128;
                kp.gridDimY = kp.gridDimZ = 1;
                kp.blockDimX = 128;
                kp.blockDimY = kp.blockDimZ = 1;
                kp.kernelParams = args;
                l0 = now_us();
                CKD(cuGraphExecKernelNodeSetParams(e, k0, &kp));
                pk += now_us() - l0;
                CUDA_HOST_NODE_PARAMS hp = {host_nop, (void *)(size_t)(r % 2)};
                l0 = now_us();
                CKD(cuGraphExecHostNodeSetParams(e, h0, &hp));
                ph += now_us() - l0;
                CKD(cuGraphLaunch(e, s));
            }
            CKD(cuStreamSynchronize(s));
            printf("callcost: patch_event_us=%.2f patch_kernel_us=%.2f patch_host_us=%.2f\n",
                   pe / reps, pk / reps, ph / reps);
        }
        CKD(cuGraphExecDestroy(e));
        CKD(cuGraphDestroy(g));
    }
    /* Eager: a kernel, two records, a wait and a host function an op. */
    double tk = 0, tr = 0, tw = 0, th = 0;
    float add_one = 1.0f;
    CUstream s2;
    CKD(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    for (int r = 0; r < reps; r++) {
        float *y = r % 2 ? a : b, *x = r % 2 ? b : a;
        void *args[] = {&y, &x, &n, &add_one};
        double l0 = now_us();
        CKD(cuLaunchKernel(f, (unsigned)(n + 127) / 128, 1, 1, 128, 1, 1, 0, s, args, NULL));
        tk += now_us() - l0;
        l0 = now_us();
        CKD(cuEventRecord(ev[r % 12], s));
        tr += now_us() - l0;
        l0 = now_us();
        CKD(cuStreamWaitEvent(s2, ev[r % 12], 0));
        tw += now_us() - l0;
        l0 = now_us();
        CKD(cuLaunchHostFunc(s2, host_nop, NULL));
        th += now_us() - l0;
    }
    CKD(cuCtxSynchronize());
    printf("callcost: eager kernel_us=%.2f record_us=%.2f wait_us=%.2f hostfunc_us=%.2f\n",
           tk / reps, tr / reps, tw / reps, th / reps);
    CKD(cuStreamDestroy(cbs));
    CKD(cuEventDestroy(gev));
    CKD(cuStreamDestroy(s2));
    CKD(cuStreamDestroy(s));
    for (int i = 0; i < 14; i++)
        CKD(cuEventDestroy(ev[i]));
}

int main(int argc, char **argv)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("graph_probe: no usable GPU\n");
        return 77;
    }
    CKR(cudaSetDevice(0));
    CKR(cudaFree(0));
    const int n = 1024;
    float *a, *b, *hbuf;
    CKR(cudaMalloc(&a, n * sizeof(float)));
    CKR(cudaMalloc(&b, n * sizeof(float)));
    CKR(cudaMallocHost(&hbuf, n * sizeof(float)));
    const char *only = argc > 1 ? argv[1] : NULL;
#define RUN(name, call)                                                         \
    if (!only || strcmp(only, name) == 0)                                       \
        call;
    RUN("pdl-capture", pdl_capture(a, b, n, hbuf))
    RUN("pdl-manual", pdl_manual(a, b, n, hbuf))
    RUN("attrs", attrs(a, b, n))
    RUN("events", events())
    RUN("host", host_node())
    RUN("timing", timing(a, b, n))
    RUN("nodecost", nodecost(a, b, n))
    RUN("callcost", callcost(a, b, n))
    printf("graph_probe: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
