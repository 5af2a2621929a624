/* patch_probe.cu: what it costs the host to change an instantiated graph,
 * per node kind, and the device-side alternative (issue 11).
 *
 * The shim patches every node whose arguments changed since the last
 * replay with cuGraphExecKernelNodeSetParams before it launches the graph.
 * This measures, on the GPU at hand, the host time of one such patch for
 * each kind of node the shim builds (kernel with changed and with unchanged
 * arguments, the generic cuGraphExecNodeSetParams, memset, memcpy, event
 * record, host function), the launch of a patched graph against an
 * unpatched one (whether the driver defers work to the launch), and the
 * other method: device-updatable kernel nodes
 * (CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE) changed by an updater
 * kernel at the graph's root, which applies every update from a page-locked
 * ring with cudaGraphKernelNodeUpdatesApply. The host then only writes the
 * new values and launches. Both methods run the same steps, and the result
 * of the last one is checked.
 *
 *   patch_probe [nodes] [steps]     prints one "patch:" line per figure
 *
 * Exits 77 without a GPU. Built with -rdc (the device-side update calls).
 */
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CKR(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "patch_probe: %s: %s (line %d)\n", #x, cudaGetErrorString(e_), __LINE__); exit(1); } } while (0)
#define CKD(x) do { CUresult r_ = (x); if (r_ != CUDA_SUCCESS) { \
    fprintf(stderr, "patch_probe: %s: CUresult %d (line %d)\n", #x, (int)r_, __LINE__); exit(1); } } while (0)

/* Each node writes its own value: after a step, out[i] is node i's v. */
__global__ void k_set(float *out, int i, float v) { out[i] = v; }

/* The ring of updates: RING slots, each with the update list of every node
 * and the values it points at. The updater takes slot (*turn)++ % RING and
 * says it is done with it in done[slot], so the host never rewrites a slot
 * a launch still has to read. */
#define RING 8
#define MAXN 256
struct slot {
    cudaGraphKernelNodeUpdate u[MAXN];
    float v[MAXN];
};

__global__ void k_apply(slot *ring, unsigned *turn, volatile unsigned *done, int n)
{
    unsigned t = *turn;
    slot *s = &ring[t % RING];
    cudaGraphKernelNodeUpdatesApply(s->u, n);
    *turn = t + 1;
    __threadfence_system();
    done[t % RING] = t + 1;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int failures;
static void CUDA_CB host_noop(void *p) { (void)p; }

/* A serial chain of n k_set nodes (device-updatable when asked), with the
 * updater first when given. */
static CUgraph chain(CUfunction f, float **out, int n, bool dev, CUfunction apply,
                     void **apply_args, CUgraphNode *nodes, CUgraphDeviceNode *dn)
{
    CUgraph g;
    CKD(cuGraphCreate(&g, 0));
    CUgraphNode prev = NULL;
    if (apply) {
        CUDA_KERNEL_NODE_PARAMS p;
        memset(&p, 0, sizeof p);
        p.func = apply;
        p.gridDimX = p.gridDimY = p.gridDimZ = 1;
        p.blockDimX = p.blockDimY = p.blockDimZ = 1;
        p.kernelParams = apply_args;
        CKD(cuGraphAddKernelNode(&prev, g, NULL, 0, &p));
    }
    for (int i = 0; i < n; i++) {
        float v = 0;
        void *args[] = {out, &i, &v};
        CUDA_KERNEL_NODE_PARAMS p;
        memset(&p, 0, sizeof p);
        p.func = f;
        p.gridDimX = p.gridDimY = p.gridDimZ = 1;
        p.blockDimX = p.blockDimY = p.blockDimZ = 1;
        p.kernelParams = args;
        CKD(cuGraphAddKernelNode(&nodes[i], g, prev ? &prev : NULL, prev ? 1 : 0, &p));
        if (dev) {
            CUlaunchAttributeValue a;
            memset(&a, 0, sizeof a);
            a.deviceUpdatableKernelNode.deviceUpdatable = 1;
            CKD(cuGraphKernelNodeSetAttribute(nodes[i], CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE, &a));
            memset(&a, 0, sizeof a);
            CKD(cuGraphKernelNodeGetAttribute(nodes[i], CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE, &a));
            dn[i] = a.deviceUpdatableKernelNode.devNode;
        }
        prev = nodes[i];
    }
    return g;
}

/* Median over reps of the host time per node of `what` applied to n nodes. */
#define TIME_PER_NODE(label, n, reps, body)                                    \
    do {                                                                       \
        double t_[64];                                                         \
        for (int rep_ = 0; rep_ < (reps); rep_++) {                                  \
            double a_ = now_ns();                                              \
            for (int i = 0; i < (n); i++) { body; }                            \
            t_[rep_] = (now_ns() - a_) / (n);                                    \
        }                                                                      \
        qsort(t_, (size_t)(reps), sizeof t_[0], cmp);                          \
        printf("patch: %-34s %8.0f ns per node (median of %d x %d)\n", label, t_[(reps) / 2], (reps), (n)); \
    } while (0)

int main(int argc, char **argv)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("patch_probe: no usable GPU\n");
        return 77;
    }
    int n = argc > 1 ? atoi(argv[1]) : 64, steps = argc > 2 ? atoi(argv[2]) : 2000;
    if (n < 1 || n > MAXN || steps < 10) {
        fprintf(stderr, "usage: patch_probe [nodes 1..%d] [steps >= 10]\n", MAXN);
        return 2;
    }
    CKR(cudaSetDevice(0));
    CKR(cudaFree(0));
    CUfunction f, apply;
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&f, (const void *)k_set));
    CKR(cudaGetFuncBySymbol((cudaFunction_t *)&apply, (const void *)k_apply));
    float *out, *host;
    CKR(cudaMalloc(&out, MAXN * sizeof(float)));
    CKR(cudaMallocHost(&host, MAXN * sizeof(float)));
    cudaStream_t s;
    CKR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const int reps = 21;

    /* ---- host patching, per node kind ---- */
    CUgraphNode *nodes = (CUgraphNode *)calloc(MAXN, sizeof *nodes);
    CUgraphDeviceNode *dn = (CUgraphDeviceNode *)calloc(MAXN, sizeof *dn);
    CUgraph g = chain(f, &out, n, false, NULL, NULL, nodes, NULL);
    CUgraphExec e;
    CKD(cuGraphInstantiateWithFlags(&e, g, 0));
    float val = 1;
    int idx = 0;
    void *args[] = {&out, &idx, &val};
    CUDA_KERNEL_NODE_PARAMS kp;
    memset(&kp, 0, sizeof kp);
    kp.func = f;
    kp.gridDimX = kp.gridDimY = kp.gridDimZ = 1;
    kp.blockDimX = kp.blockDimY = kp.blockDimZ = 1;
    kp.kernelParams = args;
    TIME_PER_NODE("kernel, argument changed", n, reps,
                  idx = i; val = (float)(rep_ * n + i);
                  CKD(cuGraphExecKernelNodeSetParams(e, nodes[i], &kp)));
    TIME_PER_NODE("kernel, arguments the same", n, reps,
                  idx = i; CKD(cuGraphExecKernelNodeSetParams(e, nodes[i], &kp)));
    CUgraphNodeParams gp;
    memset(&gp, 0, sizeof gp);
    gp.type = CU_GRAPH_NODE_TYPE_KERNEL;
    gp.kernel.func = f;
    gp.kernel.gridDimX = gp.kernel.gridDimY = gp.kernel.gridDimZ = 1;
    gp.kernel.blockDimX = gp.kernel.blockDimY = gp.kernel.blockDimZ = 1;
    gp.kernel.kernelParams = args;
    TIME_PER_NODE("kernel, cuGraphExecNodeSetParams", n, reps,
                  idx = i; val = (float)(rep_ * n + i + 7);
                  CKD(cuGraphExecNodeSetParams(e, nodes[i], &gp)));
    /* The launch after patching every node, against one after none. */
    {
        double tp[64], tu[64];
        for (int r = 0; r < reps; r++) {
            for (int i = 0; i < n; i++) {
                idx = i; val = (float)(r + i);
                CKD(cuGraphExecKernelNodeSetParams(e, nodes[i], &kp));
            }
            CKR(cudaStreamSynchronize(s));
            double a = now_ns();
            CKD(cuGraphLaunch(e, (CUstream)s));
            tp[r] = now_ns() - a;
            CKR(cudaStreamSynchronize(s));
            a = now_ns();
            CKD(cuGraphLaunch(e, (CUstream)s));
            tu[r] = now_ns() - a;
        }
        qsort(tp, reps, sizeof tp[0], cmp);
        qsort(tu, reps, sizeof tu[0], cmp);
        printf("patch: launch of %d nodes, all patched %8.0f ns, none patched %8.0f ns\n", n,
               tp[reps / 2], tu[reps / 2]);
    }
    CKD(cuGraphExecDestroy(e));
    CKD(cuGraphDestroy(g));

    /* Memset, memcpy, event record and host nodes: n independent nodes. */
    {
        CUgraph g2;
        CKD(cuGraphCreate(&g2, 0));
        CUdeviceptr d = (CUdeviceptr)out;
        CUDA_MEMSET_NODE_PARAMS mp;
        memset(&mp, 0, sizeof mp);
        mp.dst = d; mp.elementSize = 4; mp.width = 1; mp.height = 1; mp.value = 1;
        CUDA_MEMCPY3D cp;
        memset(&cp, 0, sizeof cp);
        cp.srcMemoryType = CU_MEMORYTYPE_DEVICE; cp.srcDevice = d;
        cp.dstMemoryType = CU_MEMORYTYPE_DEVICE; cp.dstDevice = d + 512;
        cp.WidthInBytes = 4; cp.Height = 1; cp.Depth = 1;
        CUcontext ctx;
        CKD(cuCtxGetCurrent(&ctx));
        CUevent ev[2];
        CKD(cuEventCreate(&ev[0], CU_EVENT_DISABLE_TIMING));
        CKD(cuEventCreate(&ev[1], CU_EVENT_DISABLE_TIMING));
        static int one = 1;
        CUDA_HOST_NODE_PARAMS hp = {host_noop, &one};
        CUgraphNode *ms = (CUgraphNode *)calloc(n, sizeof *ms), *mc = (CUgraphNode *)calloc(n, sizeof *mc),
                    *er = (CUgraphNode *)calloc(n, sizeof *er), *hn = (CUgraphNode *)calloc(n, sizeof *hn);
        for (int i = 0; i < n; i++) {
            mp.dst = d + 4 * (i % 64);
            CKD(cuGraphAddMemsetNode(&ms[i], g2, NULL, 0, &mp, ctx));
            cp.dstDevice = d + 512 + 4 * (i % 64);
            CKD(cuGraphAddMemcpyNode(&mc[i], g2, NULL, 0, &cp, ctx));
            CKD(cuGraphAddEventRecordNode(&er[i], g2, NULL, 0, ev[0]));
            CKD(cuGraphAddHostNode(&hn[i], g2, NULL, 0, &hp));
        }
        CUgraphExec e2;
        CKD(cuGraphInstantiateWithFlags(&e2, g2, 0));
        TIME_PER_NODE("memset, value changed", n, reps,
                      mp.dst = d + 4 * (i % 64); mp.value = (unsigned)(rep_ + i);
                      CKD(cuGraphExecMemsetNodeSetParams(e2, ms[i], &mp, ctx)));
        TIME_PER_NODE("memcpy, destination changed", n, reps,
                      cp.dstDevice = d + 512 + 4 * ((i + rep_) % 64);
                      CKD(cuGraphExecMemcpyNodeSetParams(e2, mc[i], &cp, ctx)));
        TIME_PER_NODE("event record, event changed", n, reps,
                      CKD(cuGraphExecEventRecordNodeSetEvent(e2, er[i], ev[(rep_ + i) & 1])));
        TIME_PER_NODE("host function, data changed", n, reps,
                      CKD(cuGraphExecHostNodeSetParams(e2, hn[i], &hp)));
        CKD(cuGraphExecDestroy(e2));
        CKD(cuGraphDestroy(g2));
        CKD(cuEventDestroy(ev[0]));
        CKD(cuEventDestroy(ev[1]));
    }

    /* ---- the two methods over the same steps: every node's value changes
     * every step; the host time per step, and the wall time per step ---- */
    double host_ns[2], wall_ns[2];
    for (int method = 0; method < 2; method++) {
        bool dev = method == 1;
        slot *ring = NULL;
        unsigned *turn = NULL, *done = NULL;
        void *apply_args[4];
        int nn = n;
        if (dev) {
            CKR(cudaHostAlloc(&ring, RING * sizeof(slot), cudaHostAllocMapped));
            CKR(cudaHostAlloc(&done, RING * sizeof(unsigned), cudaHostAllocMapped));
            memset(done, 0, RING * sizeof(unsigned));
            CKR(cudaMalloc(&turn, sizeof(unsigned)));
            CKR(cudaMemset(turn, 0, sizeof(unsigned)));
            apply_args[0] = &ring; apply_args[1] = &turn; apply_args[2] = &done; apply_args[3] = &nn;
        }
        CUgraph gm = chain(f, &out, n, dev, dev ? apply : NULL, apply_args, nodes, dn);
        CUgraphExec em;
        CKD(cuGraphInstantiateWithFlags(&em, gm, 0));
        if (dev)
            for (int k = 0; k < RING; k++)
                for (int i = 0; i < n; i++) {
                    cudaGraphKernelNodeUpdate *u = &ring[k].u[i];
                    memset(u, 0, sizeof *u);
                    u->node = (cudaGraphDeviceNode_t)dn[i];
                    u->field = cudaGraphKernelNodeFieldParam;
                    u->updateData.param.pValue = &ring[k].v[i];
                    u->updateData.param.offset = 12; /* (float *, int, float) */
                    u->updateData.param.size = sizeof(float);
                }
        CKR(cudaStreamSynchronize(s));
        double spent = 0, w0 = now_ns();
        for (int st = 0; st < steps; st++) {
            double a = now_ns();
            if (dev) {
                slot *sl = &ring[st % RING];
                /* The launch RING steps ago must have taken its updates. */
                while (st >= RING && ((volatile unsigned *)done)[st % RING] < (unsigned)(st - RING + 1))
                    ;
                for (int i = 0; i < n; i++)
                    sl->v[i] = (float)(st * 1000 + i);
            } else {
                for (int i = 0; i < n; i++) {
                    idx = i; val = (float)(st * 1000 + i);
                    CKD(cuGraphExecKernelNodeSetParams(em, nodes[i], &kp));
                }
            }
            CKD(cuGraphLaunch(em, (CUstream)s));
            spent += now_ns() - a;
        }
        CKR(cudaStreamSynchronize(s));
        wall_ns[method] = (now_ns() - w0) / steps;
        host_ns[method] = spent / steps;
        CKR(cudaMemcpy(host, out, n * sizeof(float), cudaMemcpyDeviceToHost));
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += host[i] != (float)((steps - 1) * 1000 + i);
        printf("patch: %-12s %d nodes all changed: host %8.0f ns per step (%6.0f per node, launch "
               "included), wall %8.0f ns per step, result %s\n",
               dev ? "device-side" : "host-side", n, host_ns[method], host_ns[method] / n,
               wall_ns[method], bad ? "WRONG" : "right");
        failures += bad != 0;
        /* One executable per graph of device-updatable nodes. */
        if (dev) {
            CUgraphExec e3;
            CUresult r = cuGraphInstantiateWithFlags(&e3, gm, 0);
            printf("patch: a second executable of a device-updatable graph: CUresult %d\n", (int)r);
            if (r == CUDA_SUCCESS)
                cuGraphExecDestroy(e3);
        }
        CKD(cuGraphExecDestroy(em));
        CKD(cuGraphDestroy(gm));
        if (dev) {
            CKR(cudaFreeHost(ring));
            CKR(cudaFreeHost(done));
            CKR(cudaFree(turn));
        }
    }
    printf("patch_probe: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
