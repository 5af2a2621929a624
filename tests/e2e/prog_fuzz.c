/* prog_fuzz.c: seeded random programs of ops and barriers, for the
 * differential fuzzer (tests/e2e/fuzz.sh), which runs the same seeds with
 * and without the shim and compares what this prints.
 *
 *   prog_fuzz --first=SEED --count=N [--verbose] [--module=FILE.ptx]
 *
 * On the simulated driver the kernels are its built-ins; on a GPU,
 * --module names the PTX of tests/gpu/fuzz_kernels.cu, which has kernels of
 * the same names and layouts (tests/gpu/gpu-fuzz.sh builds and runs it).
 *
 * Each program allocates a few buffers and streams, makes a random step of
 * 2..14 ops (kernels with random arguments and grids, host-to-device copies
 * from pageable and page-locked memory, device-to-host into page-locked
 * memory, device-to-device copies, memsets of 8/16/32 bits, cuMemcpyAsync;
 * cuLaunchKernelEx with and without a launch attribute)
 * and repeats it 3..24 times; every repetition may be perturbed: changed
 * arguments or grids, an inserted or removed kernel, a barrier in the middle
 * (stream query or synchronisation, context synchronisation, event record and
 * wait across streams), a buffer freed and allocated again, an op on a second
 * stream or on the legacy stream, a pageable host source overwritten right
 * after the call, the program capturing and launching a graph of its own;
 * page-locked sources change between steps. Steps end with a
 * device-to-host copy and a synchronisation, except when they do not.
 * Programs run one after the other in one process, so the shim's templates
 * meet programs they were not learned from.
 *
 * Prints "seed hash" per program: the hash of every buffer and of every value
 * the program read back.
 */
#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include "ck.h"

#include "simcuda.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB 6      /* device buffers */
#define N 256     /* floats per buffer */
#define MAXOPS 16


static uint64_t rng;
static unsigned rnd(unsigned n) /* 0..n-1 */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)((rng >> 11) % n);
}
static bool chance(unsigned percent) { return rnd(100) < percent; }

static CUmodule mod;
static CUfunction kfill, kaxpy, kscale, kadd, kaffine, kinc;
static CUdeviceptr buf[NB], cnt;
static CUstream s1, s2;
static CUevent ev;
static float *pinned_src, *pinned_dst;
static float pageable_src[N];
static uint64_t acc;

static void fold(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        acc = (acc ^ b[i]) * 1099511628211ull;
}

typedef enum {
    K_FILL, K_AXPY, K_SCALE, K_ADD, K_AFFINE, K_INC,
    C_HTOD_PAGE, C_HTOD_PIN, C_DTOH, C_DTOD, C_UNIFIED,
    M_8, M_16, M_32, NKINDS
} kind_t;

typedef struct {
    kind_t kind;
    int a, b, c;      /* buffer indices */
    float v;
    unsigned grid, block;
    unsigned off, len; /* elements */
} op_t;

static void random_op(op_t *o)
{
    o->kind = (kind_t)rnd(NKINDS);
    o->a = (int)rnd(NB);
    o->b = (int)rnd(NB);
    o->c = (int)rnd(NB);
    o->v = (float)rnd(17) * 0.25f;
    o->block = 32u << rnd(3);
    o->grid = 1 + rnd(N / o->block);
    o->len = 1 + rnd(N / 2);
    o->off = rnd(N - o->len);
}

static void perturb(op_t *o)
{
    switch (rnd(4)) {
    case 0: o->v += 1.0f; break;
    case 1: o->grid = 1 + rnd(N / o->block); break;
    case 2: o->len = 1 + rnd(N / 2); o->off = rnd(N - o->len); break;
    default: o->a = (int)rnd(NB); break;
    }
}

static void issue(const op_t *o, CUstream s)
{
    int n = N;
    CUdeviceptr a = buf[o->a], b = buf[o->b], c = buf[o->c];
    size_t bytes = o->len * sizeof(float);
    CUdeviceptr ao = a + o->off * sizeof(float), bo = b + o->off * sizeof(float);
    switch (o->kind) {
    case K_FILL: { void *p[] = {&a, (void *)&o->v, &n}; CK(cuLaunchKernel(kfill, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_AXPY: { void *p[] = {&a, &b, (void *)&o->v, &n}; CK(cuLaunchKernel(kaxpy, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_SCALE: { void *p[] = {&a, &b, (void *)&o->v, &n}; CK(cuLaunchKernel(kscale, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_ADD: { void *p[] = {&a, &b, &c, &n}; CK(cuLaunchKernel(kadd, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_AFFINE: {
        sim_affine_t af = {.scale = 0.5f, .bias = o->v};
        void *p[] = {&a, &b, &af, &n};
        /* With an odd grid, a launch attribute too (the graph node then
         * needs cuGraphKernelNodeSetAttribute); decided without the random
         * stream, so every seed stays the program it was. */
        CUlaunchAttribute prio = {.id = CU_LAUNCH_ATTRIBUTE_PRIORITY};
        CUlaunchConfig cfg = {.gridDimX = o->grid, .gridDimY = 1, .gridDimZ = 1,
                              .blockDimX = o->block, .blockDimY = 1, .blockDimZ = 1,
                              .hStream = s, .attrs = o->grid % 2 ? &prio : NULL,
                              .numAttrs = o->grid % 2};
        CK(cuLaunchKernelEx(&cfg, kaffine, p, NULL));
        break;
    }
    case K_INC: { int one = 1; void *p[] = {&cnt, &one}; CK(cuLaunchKernel(kinc, 1, 1, 1, 1, 1, 1, 0, s, p, NULL)); break; }
    case C_HTOD_PAGE:
        for (unsigned i = 0; i < o->len; i++)
            pageable_src[i] = o->v + (float)i;
        CK(cuMemcpyHtoDAsync_v2(ao, pageable_src, bytes, s));
        /* Pageable sources are staged at the call: overwrite at once. */
        memset(pageable_src, 0xa5, sizeof pageable_src);
        break;
    case C_HTOD_PIN:
        /* Page-locked sources are left alone until the step synchronises. */
        CK(cuMemcpyHtoDAsync_v2(ao, pinned_src + o->off, bytes, s));
        break;
    case C_DTOH: CK(cuMemcpyDtoHAsync_v2(pinned_dst + o->off, ao, bytes, s)); break;
    case C_DTOD: CK(cuMemcpyDtoDAsync_v2(ao, bo, bytes, s)); break;
    case C_UNIFIED: CK(cuMemcpyAsync(bo, ao, bytes, s)); break;
    case M_8: CK(cuMemsetD8Async(ao, (unsigned char)o->v, bytes, s)); break;
    case M_16: CK(cuMemsetD16Async(ao, (unsigned short)(o->v * 8), o->len * 2, s)); break;
    case M_32: CK(cuMemsetD32Async(ao, (unsigned)o->v, o->len, s)); break;
    default: break;
    }
}

/* A barrier or other disturbance in the middle of a step. */
static void disturb(bool *synced)
{
    switch (rnd(8)) {
    case 0: (void)cuStreamQuery(s1); *synced = true; break;
    case 1: CK(cuStreamSynchronize(s1)); *synced = true; break;
    case 2: CK(cuCtxSynchronize()); *synced = true; break;
    case 3: /* cross-stream ordering through an event */
        CK(cuEventRecord(ev, s1));
        CK(cuStreamWaitEvent(s2, ev, 0));
        break;
    case 4: { /* an op on the second stream, ordered after s1's work */
        op_t o;
        random_op(&o);
        CK(cuEventRecord(ev, s1));
        CK(cuStreamWaitEvent(s2, ev, 0));
        issue(&o, s2);
        CK(cuEventRecord(ev, s2));
        CK(cuStreamWaitEvent(s1, ev, 0));
        break;
    }
    case 5: { /* free a buffer and allocate it again */
        int i = (int)rnd(NB);
        CK(cuStreamSynchronize(s1));
        CK(cuStreamSynchronize(s2));
        CK(cuMemFree_v2(buf[i]));
        CK(cuMemAlloc_v2(&buf[i], N * sizeof(float)));
        CK(cuMemsetD32_v2(buf[i], rnd(1000), N));
        *synced = true;
        break;
    }
    case 6: { /* the legacy stream, which orders against s1 (blocking) */
        op_t o;
        random_op(&o);
        CK(cuStreamSynchronize(s1));
        issue(&o, NULL);
        CK(cuCtxSynchronize());
        *synced = true;
        break;
    }
    default: { /* the program captures and launches a graph of its own */
        CUgraph g;
        CUgraphExec e;
        op_t o;
        do
            random_op(&o);
        while (o.kind == C_HTOD_PAGE || o.kind == C_DTOH);
        CK(cuStreamBeginCapture_v2(s2, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
        issue(&o, s2);
        CK(cuStreamEndCapture(s2, &g));
        CK(cuGraphInstantiateWithFlags(&e, g, 0));
        /* On a GPU s2 runs beside s1: order the graph after s1's work. */
        CK(cuEventRecord(ev, s1));
        CK(cuStreamWaitEvent(s2, ev, 0));
        CK(cuGraphLaunch(e, s2));
        CK(cuStreamSynchronize(s2));
        CK(cuGraphExecDestroy(e));
        CK(cuGraphDestroy(g));
        break;
    }
    }
}

static void program(unsigned long long seed, bool verbose)
{
    snprintf(ck_context, sizeof ck_context, "seed %llu", seed);
    rng = seed * 0x9e3779b97f4a7c15ull + 1;
    acc = 14695981039346656037ull;
    for (int i = 0; i < NB; i++) {
        CK(cuMemAlloc_v2(&buf[i], N * sizeof(float)));
        CK(cuMemsetD32_v2(buf[i], (unsigned)i, N));
    }
    CK(cuMemsetD32_v2(cnt, 0, 1));
    for (int i = 0; i < N; i++)
        pinned_src[i] = (float)(i % 13), pinned_dst[i] = 0;
    op_t step[MAXOPS];
    unsigned nops = 2 + rnd(MAXOPS - 3), reps = 3 + rnd(22);
    for (unsigned i = 0; i < nops; i++)
        random_op(&step[i]);
    unsigned p_change = rnd(40), p_disturb = rnd(15), p_nosync = rnd(20);
    for (unsigned r = 0; r < reps; r++) {
        bool synced = false;
        if (chance(p_change))
            perturb(&step[rnd(nops)]);
        unsigned skip = chance(5) ? rnd(nops) : MAXOPS;
        unsigned extra = chance(5) ? rnd(nops) : MAXOPS;
        unsigned mid = chance(p_disturb) ? rnd(nops) : MAXOPS;
        for (unsigned i = 0; i < nops; i++) {
            if (i == extra) {
                op_t o;
                random_op(&o);
                issue(&o, s1);
            }
            if (i == mid)
                disturb(&synced);
            if (i != skip)
                issue(&step[i], s1);
        }
        if (!chance(p_nosync)) {
            CK(cuMemcpyDtoHAsync_v2(pinned_dst, cnt, sizeof(int), s1));
            CK(cuStreamSynchronize(s1));
            fold(pinned_dst, N * sizeof(float));
            /* The next repetition reads new page-locked data. */
            pinned_src[rnd(N)] += 1.0f;
        }
        (void)synced;
    }
    CK(cuCtxSynchronize());
    float host[N];
    for (int i = 0; i < NB; i++) {
        CK(cuMemcpyDtoH_v2(host, buf[i], sizeof host));
        fold(host, sizeof host);
        CK(cuMemFree_v2(buf[i]));
    }
    int c;
    CK(cuMemcpyDtoH_v2(&c, cnt, sizeof c));
    fold(&c, sizeof c);
    fold(pinned_dst, N * sizeof(float));
    printf("%llu %016llx", seed, (unsigned long long)acc);
    if (verbose)
        printf(" ops=%u reps=%u", nops, reps);
    printf("\n");
}

int main(int argc, char **argv)
{
    unsigned long long first = 0, count = 100;
    bool verbose = false;
    const char *module = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--first=", 8) == 0)
            first = strtoull(argv[i] + 8, NULL, 10);
        else if (strncmp(argv[i], "--count=", 8) == 0)
            count = strtoull(argv[i] + 8, NULL, 10);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (strncmp(argv[i], "--module=", 9) == 0)
            module = argv[i] + 9;
        else {
            fprintf(stderr, "usage: prog_fuzz --first=SEED --count=N [--verbose]\n");
            return 2;
        }
    }
    CUcontext ctx;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, module ? ck_read_file(module) : "simcuda"));
    CK(cuModuleGetFunction(&kfill, mod, "sim_fill"));
    CK(cuModuleGetFunction(&kaxpy, mod, "sim_axpy"));
    CK(cuModuleGetFunction(&kscale, mod, "sim_scale"));
    CK(cuModuleGetFunction(&kadd, mod, "sim_add"));
    CK(cuModuleGetFunction(&kaffine, mod, "sim_affine"));
    CK(cuModuleGetFunction(&kinc, mod, "sim_inc_i32"));
    CK(cuStreamCreate(&s1, 0));
    CK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
    CK(cuMemAlloc_v2(&cnt, sizeof(int)));
    CK(cuMemAllocHost_v2((void **)&pinned_src, N * sizeof(float)));
    CK(cuMemAllocHost_v2((void **)&pinned_dst, N * sizeof(float)));
    for (unsigned long long s = first; s < first + count; s++)
        program(s, verbose);
    return 0;
}
