/* callcost.c: the shim's own cost per intercepted call.
 *
 * Times three calls through the dlsym path (the same wrappers every path
 * uses): a harmless query (cuStreamGetFlags: pure wrapper overhead), a
 * kernel launch of an empty kernel (the op path), and an async memset. Run
 * it with and without LD_PRELOAD=libgraphshim.so (tools/shim-cost.sh does)
 * and subtract: the difference is what the shim adds per call. Works on the
 * simulated driver (LD_LIBRARY_PATH=tests/simcuda/.libs) and on a GPU, where
 * the empty kernel is loaded from the PTX below.
 *
 * launch_ns is the mean of a batch, so under the shim it includes the
 * graph launches a replayed step makes. held_ns is the median of single
 * launches each timed on its own (less the cost of reading the clock):
 * under the shim, once the batch repeats, that is the cost of holding one
 * op, the one every launch of a replayed step pays; the few launches that
 * send a chunk of the graph are the batch mean's business.
 *
 *   callcost [--iters=N] [--reps=R]     prints medians in ns per call
 *   callcost --xla=KB [--iters=STEPS]   XLA's calls, caches cold (400 steps)
 *
 * --xla: the calls XLA makes for each op it dispatches eagerly (a kernel,
 * two records of events without timing from a pool, a callback stream's
 * wait and a host function there), 24 ops a step and a readback, with KB
 * kilobytes of other memory touched before every call, as JAX's own work
 * between its driver calls leaves the shim's data out of the CPU's caches
 * (the shim's cost per call there is several times its cost in a loop).
 * Prints the median time of each of the five calls. Run it on the
 * simulated driver with and without the shim (GRAPHSHIM_PAYOFF=0: there a
 * graph never pays, and the shim would stop holding).
 */
#define __CUDA_API_VERSION_INTERNAL 1
#include "config.h"
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An empty kernel named like the simulated driver's sim_noop, so one image
 * serves both (the simulated driver ignores the image's bytes). */
static const char ptx[] = ".version 7.0\n.target sm_80\n.address_size 64\n"
                          ".visible .entry sim_noop()\n{\n\tret;\n}\n";

#define LOAD(h, name) ((__typeof__(&name))load(h, #name))
static void *load(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (p == NULL) {
        fprintf(stderr, "callcost: %s not found\n", name);
        exit(1);
    }
    return p;
}

#define CK(x)                                                                \
    do {                                                                     \
        CUresult r_ = (x);                                                   \
        if (r_ != CUDA_SUCCESS) {                                            \
            fprintf(stderr, "callcost: %s failed: %d\n", #x, (int)r_);       \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void CUDA_CB xla_cb(void *p) { (void)p; }

/* --xla=KB: see the top of the file. */
static int xla(void *h, CUfunction k, CUstream s, CUdeviceptr buf, size_t kb, int steps)
{
    enum { OPS = 24, POOL = 256, KINDS = 5 };
    static const char *const names[KINDS] = {"kernel", "record", "record2", "wait", "hostfn"};
    __typeof__(&cuLaunchKernel) launch = LOAD(h, cuLaunchKernel);
    __typeof__(&cuEventRecord) record = LOAD(h, cuEventRecord);
    __typeof__(&cuStreamWaitEvent) wait = LOAD(h, cuStreamWaitEvent);
    __typeof__(&cuLaunchHostFunc) hostfn = LOAD(h, cuLaunchHostFunc);
    __typeof__(&cuMemcpyDtoHAsync_v2) dtoh = LOAD(h, cuMemcpyDtoHAsync_v2);
    __typeof__(&cuStreamSynchronize) sync = LOAD(h, cuStreamSynchronize);
    CUstream cb, d2h;
    CK(LOAD(h, cuStreamCreate)(&cb, CU_STREAM_NON_BLOCKING));
    CK(LOAD(h, cuStreamCreate)(&d2h, CU_STREAM_NON_BLOCKING));
    CUevent ev[POOL];
    for (int i = 0; i < POOL; i++)
        CK(LOAD(h, cuEventCreate)(&ev[i], CU_EVENT_DISABLE_TIMING));
    unsigned char *junk = calloc(kb * 1024 + 64, 1);
    unsigned *pin = NULL;
    CK(LOAD(h, cuMemAllocHost_v2)((void **)&pin, 64));
    size_t timed = (size_t)(steps - steps / 4) * OPS;
    double *t = malloc(KINDS * timed * sizeof *t);
    if (junk == NULL || t == NULL) {
        fprintf(stderr, "callcost: out of memory\n");
        return 1;
    }
    volatile unsigned sink = 0;
    size_t n = 0;
    unsigned e = 0;
#define COLD(kind, call)                                                     \
    do {                                                                     \
        for (size_t j = 0; j < kb * 1024; j += 64)                            \
            sink += junk[j]++;                                               \
        double a = now_ns();                                                 \
        CK(call);                                                            \
        if (st >= steps / 4)                                                 \
            t[(kind) * timed + n] = now_ns() - a;                            \
    } while (0)
    for (int st = 0; st < steps; st++) {
        for (int o = 0; o < OPS; o++) {
            CUevent e1 = ev[e++ % POOL], e2 = ev[e++ % POOL];
            COLD(0, launch(k, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL));
            COLD(1, record(e1, s));
            COLD(2, record(e2, s));
            COLD(3, wait(cb, e1, 0));
            COLD(4, hostfn(cb, xla_cb, NULL));
            if (st >= steps / 4)
                n++;
        }
        CUevent r = ev[e++ % POOL];
        CK(record(r, s));
        CK(wait(d2h, r, 0));
        CK(dtoh(pin, buf, sizeof *pin, d2h));
        CK(sync(d2h));
    }
#undef COLD
    printf("callcost xla thrash=%zuKB", kb);
    for (int q = 0; q < KINDS; q++) {
        qsort(t + q * timed, timed, sizeof *t, cmp_double);
        printf(" %s_ns=%.0f", names[q], t[q * timed + timed / 2]);
    }
    printf(" (median of %zu each)\n", timed);
    free(t);
    free(junk);
    (void)sink; /* volatile: the touches above are not optimised away */
    return 0;
}

int main(int argc, char **argv)
{
    int iters = 20000, reps = 7, steps = 400;
    long xla_kb = -1;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--iters=", 8) == 0)
            iters = steps = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "--reps=", 7) == 0)
            reps = atoi(argv[i] + 7);
        else if (strncmp(argv[i], "--xla=", 6) == 0)
            xla_kb = atol(argv[i] + 6);
        else {
            fprintf(stderr, "usage: callcost [--iters=N] [--reps=R] [--xla=KB]\n");
            return 2;
        }
    }
    if (iters < 256 || reps < 1 || reps > 99 || (xla_kb != -1 && (xla_kb < 0 || xla_kb > 65536))) {
        fprintf(stderr, "callcost: need --iters >= 256, 1 <= --reps <= 99 and 0 <= --xla <= 65536\n");
        return 2;
    }
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "callcost: cannot load libcuda.so.1: %s\n", dlerror());
        return 77;
    }
    __typeof__(&cuStreamGetFlags) getflags = LOAD(h, cuStreamGetFlags);
    __typeof__(&cuLaunchKernel) launch = LOAD(h, cuLaunchKernel);
    __typeof__(&cuMemsetD32Async) memset32 = LOAD(h, cuMemsetD32Async);
    __typeof__(&cuStreamSynchronize) sync = LOAD(h, cuStreamSynchronize);
    CUcontext ctx;
    CUmodule mod;
    CUfunction noop;
    CUstream s;
    CUdeviceptr buf;
    CK(LOAD(h, cuInit)(0));
    CK(LOAD(h, cuDevicePrimaryCtxRetain)(&ctx, 0));
    CK(LOAD(h, cuCtxSetCurrent)(ctx));
    CK(LOAD(h, cuModuleLoadData)(&mod, ptx));
    CK(LOAD(h, cuModuleGetFunction)(&noop, mod, "sim_noop"));
    CK(LOAD(h, cuStreamCreate)(&s, CU_STREAM_NON_BLOCKING));
    CK(LOAD(h, cuMemAlloc_v2)(&buf, 4096));
    if (xla_kb >= 0)
        return xla(h, noop, s, buf, (size_t)xla_kb, steps);

    /* The cost of reading the clock twice, subtracted from single timings. */
    double clk = 1e9;
    for (int i = 0; i < 1000; i++) {
        double a = now_ns(), b = now_ns();
        if (b - a < clk)
            clk = b - a;
    }
    static double one[256];
    double q[99], l[99], m[99], hd[99];
    for (int r = 0; r < reps; r++) {
        unsigned flags;
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            CK(getflags(s, &flags));
        q[r] = (now_ns() - t0) / iters;
        /* Launches and memsets are timed in batches with the synchronisation
         * outside the timed region, so a full queue never blocks a timed call. */
        double tl = 0, tm = 0;
        for (int done = 0; done < iters; done += 256) {
            double t1 = now_ns();
            for (int i = 0; i < 256; i++)
                CK(launch(noop, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL));
            double t2 = now_ns();
            for (int i = 0; i < 256; i++)
                CK(memset32(buf, (unsigned)i, 16, s));
            tm += now_ns() - t2;
            tl += t2 - t1;
            CK(sync(s));
        }
        /* The same batch again, each launch timed alone. */
        double hsum = 0;
        int hn = 0;
        for (int done = 0; done < iters; done += 256) {
            for (int i = 0; i < 256; i++) {
                double t1 = now_ns();
                CK(launch(noop, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL));
                one[i] = now_ns() - t1 - clk;
            }
            for (int i = 0; i < 256; i++)
                CK(memset32(buf, (unsigned)i, 16, s));
            CK(sync(s));
            qsort(one, 256, sizeof one[0], cmp_double);
            hsum += one[128];
            hn++;
        }
        hd[r] = hsum / hn;
        int batches = (iters + 255) / 256;
        l[r] = tl / (batches * 256.0);
        m[r] = tm / (batches * 256.0);
    }
    qsort(q, (size_t)reps, sizeof q[0], cmp_double);
    qsort(l, (size_t)reps, sizeof l[0], cmp_double);
    qsort(m, (size_t)reps, sizeof m[0], cmp_double);
    qsort(hd, (size_t)reps, sizeof hd[0], cmp_double);
    printf("callcost query_ns=%.1f launch_ns=%.1f memset_ns=%.1f held_ns=%.1f "
           "(median of %d x %d)\n",
           q[reps / 2], l[reps / 2], m[reps / 2], hd[reps / 2], reps, iters);
    return 0;
}
