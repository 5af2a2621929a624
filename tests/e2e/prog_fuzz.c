/* prog_fuzz.c: seeded random programs of ops and barriers, for the
 * differential fuzzer (tests/e2e/fuzz.sh), which runs the same seeds with
 * and without the shim and compares what this prints.
 *
 *   prog_fuzz --first=SEED --count=N [--classic] [--torchlike] [--swaps] [--skip=S1,S2,...]
 *             [--verbose] [--module=FILE.ptx]
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
 * That is the classic generator (--classic: exactly the programs it always
 * made, which tests/e2e/fuzz-regressions.txt relies on). By default the
 * extensions of fuzz_ext.c are added to each program, drawn from a second
 * generator so that the classic part stays what it was: programmatic
 * dependent launches, launch attributes, per-thread default streams, work
 * forked to other streams, host functions, timing, a second thread; with
 * --swaps, two adjacent ops now and then the other way round.
 *
 * Prints "seed hash" per program: the hash of every buffer and of every value
 * the program read back.
 */
#include "fuzz.h"

#include "ck.h"

#include "simcuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fz_rng_t rng;

unsigned fz_rnd(fz_rng_t *r, unsigned n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (unsigned)((r->s >> 11) % n);
}
bool fz_chance(fz_rng_t *r, unsigned percent) { return fz_rnd(r, 100) < percent; }
static unsigned rnd(unsigned n) { return fz_rnd(&rng, n); }
static bool chance(unsigned percent) { return fz_chance(&rng, percent); }

static CUmodule mod;
CUfunction kfill, kaxpy, kscale, kadd, kaffine, kinc;
CUfunction kgds[6];
CUdeviceptr buf[NB], cnt;
CUstream s1, s2;
static CUevent ev;
float *pinned_src, *pinned_dst;
float pageable_src[N];
bool on_gpu;
static uint64_t acc;

void fold(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        acc = (acc ^ b[i]) * 1099511628211ull;
}

void random_op(fz_rng_t *r, op_t *o)
{
    memset(o, 0, sizeof *o);
    o->kind = (kind_t)fz_rnd(r, NKINDS);
    o->a = (int)fz_rnd(r, NB);
    o->b = (int)fz_rnd(r, NB);
    o->c = (int)fz_rnd(r, NB);
    o->v = (float)fz_rnd(r, 17) * 0.25f;
    o->block = 32u << fz_rnd(r, 3);
    o->grid = 1 + fz_rnd(r, N / o->block);
    o->len = 1 + fz_rnd(r, N / 2);
    o->off = fz_rnd(r, N - o->len);
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

/* The entry points an op uses: the per-thread-stream (_ptsz) ones when it
 * names the per-thread main stream as 0 that way. */
typedef struct {
    __typeof__(&cuLaunchKernel) launch;
    __typeof__(&cuMemcpyHtoDAsync_v2) htod;
    __typeof__(&cuMemcpyDtoHAsync_v2) dtoh;
    __typeof__(&cuMemcpyDtoDAsync_v2) dtod;
    __typeof__(&cuMemcpyAsync) copy;
    __typeof__(&cuMemsetD8Async) set8;
    __typeof__(&cuMemsetD16Async) set16;
    __typeof__(&cuMemsetD32Async) set32;
} api_t;
static const api_t plain_api = { cuLaunchKernel, cuMemcpyHtoDAsync_v2, cuMemcpyDtoHAsync_v2, cuMemcpyDtoDAsync_v2,
                                 cuMemcpyAsync, cuMemsetD8Async, cuMemsetD16Async, cuMemsetD32Async };
static const api_t ptsz_api = { cuLaunchKernel_ptsz, cuMemcpyHtoDAsync_v2_ptsz, cuMemcpyDtoHAsync_v2_ptsz,
                                cuMemcpyDtoDAsync_v2_ptsz, cuMemcpyAsync_ptsz, cuMemsetD8Async_ptsz,
                                cuMemsetD16Async_ptsz, cuMemsetD32Async_ptsz };

static bool capturing; /* disturb() is issuing into a capture of its own */
#define LANE_S2 (-1)     /* the second stream of a disturbance */
#define LANE_LEGACY (-2) /* the legacy stream */

/* Lanes other than the main one keep to their own buffers (fx_own), their
 * own counter and their own part of pinned_dst, and read no page-locked
 * source (the program changes it after the main stream's sync). */
void issue(const op_t *o, int lane)
{
    int n = N;
    CUstream s = lane == LANE_S2 ? s2 : lane == LANE_LEGACY ? NULL : fx_lane_stream(lane, o->ptsz);
    bool pt = o->ptsz && lane == 0 && s == NULL; /* the per-thread stream as 0 */
    const api_t *api = pt ? &ptsz_api : &plain_api;
    if (lane < 0)
        lane = 0; /* s2 or the legacy stream: the main lane's buffers */
    CUdeviceptr a = buf[fx_own(lane, o->a)], b = buf[fx_own(lane, o->b)], c = buf[fx_own(lane, o->c)];
    CUdeviceptr counter = lane ? cnt + (CUdeviceptr)lane * sizeof(int) : cnt;
    float *dst = pinned_dst + lane * N;
    size_t bytes = o->len * sizeof(float);
    CUdeviceptr ao = a + o->off * sizeof(float), bo = b + o->off * sizeof(float);
    kind_t kind = o->kind == C_HTOD_PIN && lane ? C_HTOD_PAGE : o->kind;
    if (kind <= K_INC && (o->attrs || o->pdl)) {
        static CUfunction *const fns[] = { &kfill, &kaxpy, &kscale, &kadd, &kaffine, &kinc };
        int one = 1;
        sim_affine_t af = { .scale = 0.5f, .bias = o->v };
        void *pf[] = { &a, (void *)&o->v, &n }, *pa[] = { &a, &b, (void *)&o->v, &n }, *pd[] = { &a, &b, &c, &n },
             *pw[] = { &a, &b, &af, &n }, *pi[] = { &counter, &one };
        void **p[] = { pf, pa, pa, pd, pw, pi };
        fx_launch(o, kind, o->pdl ? kgds[kind] : *fns[kind], p[kind], s, pt, capturing);
        return;
    }
    switch (kind) {
    case K_FILL: { void *p[] = {&a, (void *)&o->v, &n}; CK(api->launch(kfill, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_AXPY: { void *p[] = {&a, &b, (void *)&o->v, &n}; CK(api->launch(kaxpy, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_SCALE: { void *p[] = {&a, &b, (void *)&o->v, &n}; CK(api->launch(kscale, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
    case K_ADD: { void *p[] = {&a, &b, &c, &n}; CK(api->launch(kadd, o->grid, 1, 1, o->block, 1, 1, 0, s, p, NULL)); break; }
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
        CK(pt ? cuLaunchKernelEx_ptsz(&cfg, kaffine, p, NULL) : cuLaunchKernelEx(&cfg, kaffine, p, NULL));
        break;
    }
    case K_INC: { int one = 1; void *p[] = {&counter, &one}; CK(api->launch(kinc, 1, 1, 1, 1, 1, 1, 0, s, p, NULL)); break; }
    case C_HTOD_PAGE:
        for (unsigned i = 0; i < o->len; i++)
            pageable_src[i] = o->v + (float)i;
        CK(api->htod(ao, pageable_src, bytes, s));
        /* Pageable sources are staged at the call: overwrite at once. */
        memset(pageable_src, 0xa5, sizeof pageable_src);
        break;
    case C_HTOD_PIN:
        /* Page-locked sources are left alone until the step synchronises. */
        CK(api->htod(ao, pinned_src + o->off, bytes, s));
        break;
    case C_DTOH: CK(api->dtoh(dst + o->off, ao, bytes, s)); break;
    case C_DTOD: CK(api->dtod(ao, bo, bytes, s)); break;
    case C_UNIFIED: CK(api->copy(bo, ao, bytes, s)); break;
    case M_8: CK(api->set8(ao, (unsigned char)o->v, bytes, s)); break;
    case M_16: CK(api->set16(ao, (unsigned short)(o->v * 8), o->len * 2, s)); break;
    case M_32: CK(api->set32(ao, (unsigned)o->v, o->len, s)); break;
    default: break;
    }
}

/* A barrier or other disturbance in the middle of a step. With work forked
 * to other lanes and not joined yet, the ops here keep to the main lane's
 * buffers (issue maps them), and a free first waits for all work. */
static void disturb(bool *synced)
{
    CUstream m = fx_main();
    switch (rnd(8)) {
    case 0: (void)cuStreamQuery(m); *synced = true; break;
    case 1: CK(cuStreamSynchronize(m)); *synced = true; break;
    case 2: CK(cuCtxSynchronize()); *synced = true; break;
    case 3: /* cross-stream ordering through an event */
        CK(cuEventRecord(ev, m));
        CK(cuStreamWaitEvent(s2, ev, 0));
        break;
    case 4: { /* an op on the second stream, ordered after the main stream's work */
        op_t o;
        random_op(&rng, &o);
        CK(cuEventRecord(ev, m));
        CK(cuStreamWaitEvent(s2, ev, 0));
        issue(&o, LANE_S2);
        CK(cuEventRecord(ev, s2));
        CK(cuStreamWaitEvent(m, ev, 0));
        break;
    }
    case 5: { /* free a buffer and allocate it again */
        int i = (int)rnd(NB);
        if (fx_open())
            CK(cuCtxSynchronize());
        CK(cuStreamSynchronize(m));
        CK(cuStreamSynchronize(s2));
        CK(cuMemFree_v2(buf[i]));
        CK(cuMemAlloc_v2(&buf[i], N * sizeof(float)));
        CK(cuMemsetD32_v2(buf[i], rnd(1000), N));
        *synced = true;
        break;
    }
    case 6: { /* the legacy stream, which orders against s1 (blocking) */
        op_t o;
        random_op(&rng, &o);
        CK(cuStreamSynchronize(m));
        issue(&o, LANE_LEGACY);
        CK(cuCtxSynchronize());
        *synced = true;
        break;
    }
    default: { /* the program captures and launches a graph of its own */
        CUgraph g;
        CUgraphExec e;
        op_t o;
        do
            random_op(&rng, &o);
        while (o.kind == C_HTOD_PAGE || o.kind == C_DTOH);
        fx_capturing(true);
        CK(cuStreamBeginCapture_v2(s2, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
        capturing = true;
        issue(&o, LANE_S2);
        capturing = false;
        CK(cuStreamEndCapture(s2, &g));
        fx_capturing(false);
        CK(cuGraphInstantiateWithFlags(&e, g, 0));
        /* On a GPU s2 runs beside s1: order the graph after s1's work. */
        CK(cuEventRecord(ev, m));
        CK(cuStreamWaitEvent(s2, ev, 0));
        CK(cuGraphLaunch(e, s2));
        CK(cuStreamSynchronize(s2));
        CK(cuGraphExecDestroy(e));
        CK(cuGraphDestroy(g));
        break;
    }
    }
}

static void program(unsigned long long seed, bool verbose, bool classic)
{
    snprintf(ck_context, sizeof ck_context, "seed %llu", seed);
    rng.s = seed * 0x9e3779b97f4a7c15ull + 1;
    acc = 14695981039346656037ull;
    for (int i = 0; i < NB; i++) {
        CK(cuMemAlloc_v2(&buf[i], N * sizeof(float)));
        CK(cuMemsetD32_v2(buf[i], (unsigned)i, N));
    }
    CK(cuMemsetD32_v2(cnt, 0, LANES));
    for (int i = 0; i < N; i++)
        pinned_src[i] = (float)(i % 13);
    memset(pinned_dst, 0, LANES * N * sizeof(float));
    op_t step[MAXOPS];
    unsigned nops = 2 + rnd(MAXOPS - 3), reps = 3 + rnd(22);
    for (unsigned i = 0; i < nops; i++)
        random_op(&rng, &step[i]);
    unsigned p_change = rnd(40), p_disturb = rnd(15), p_nosync = rnd(20);
    fx_program_begin(classic ? 0 : seed, nops);
    for (unsigned i = 0; i < nops; i++)
        fx_decorate_op(&step[i]);
    for (unsigned r = 0; r < reps; r++) {
        bool synced = false;
        fx_rep_begin();
        if (chance(p_change))
            perturb(&step[rnd(nops)]);
        unsigned skip = chance(5) ? rnd(nops) : MAXOPS;
        unsigned extra = chance(5) ? rnd(nops) : MAXOPS;
        unsigned mid = chance(p_disturb) ? rnd(nops) : MAXOPS;
        unsigned sw = fx_swap(nops);
        if (sw + 1 == skip || sw + 1 == extra || sw + 1 == mid)
            sw = MAXOPS;
        for (unsigned i = 0; i < nops; i++) {
            if (i == extra) {
                op_t o;
                random_op(&rng, &o);
                fx_decorate_op(&o);
                issue(&o, 0);
            }
            if (i == mid)
                disturb(&synced);
            int lane = fx_before_op(i);
            if (i == sw) {
                /* --swaps: op i after op i + 1 this time. */
                int next = fx_before_op(i + 1);
                if (i + 1 != skip)
                    issue(&step[i + 1], next);
                if (i != skip)
                    issue(&step[i], lane);
                i++;
                continue;
            }
            if (i != skip)
                issue(&step[i], lane);
        }
        fx_before_op(nops);
        bool sync = !chance(p_nosync);
        if (sync) {
            CUstream m = fx_main();
            CK(cuMemcpyDtoHAsync_v2(pinned_dst, cnt, sizeof(int), m));
            CK(cuStreamSynchronize(m));
            fold(pinned_dst, N * sizeof(float));
            /* The next repetition reads new page-locked data. */
            pinned_src[rnd(N)] += 1.0f;
        }
        fx_rep_end(sync);
        (void)synced;
    }
    fx_program_end();
    CK(cuCtxSynchronize());
    float host[N];
    for (int i = 0; i < NB; i++) {
        CK(cuMemcpyDtoH_v2(host, buf[i], sizeof host));
        fold(host, sizeof host);
        CK(cuMemFree_v2(buf[i]));
    }
    int c[LANES];
    CK(cuMemcpyDtoH_v2(c, cnt, sizeof c));
    fold(c, classic ? sizeof c[0] : sizeof c);
    fold(pinned_dst, (classic ? 1 : LANES) * N * sizeof(float));
    printf("%llu %016llx", seed, (unsigned long long)acc);
    if (verbose) {
        char d[256];
        fx_describe(d, sizeof d);
        printf(" ops=%u reps=%u%s", nops, reps, d);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    unsigned long long first = 0, count = 100;
    bool verbose = false, classic = false;
    const char *module = NULL, *skip = "";
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--first=", 8) == 0)
            first = strtoull(argv[i] + 8, NULL, 10);
        else if (strncmp(argv[i], "--count=", 8) == 0)
            count = strtoull(argv[i] + 8, NULL, 10);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else if (strcmp(argv[i], "--classic") == 0)
            classic = true;
        else if (strcmp(argv[i], "--torchlike") == 0)
            fx_set_torchlike(true);
        else if (strcmp(argv[i], "--swaps") == 0)
            fx_set_swaps(true);
        else if (strncmp(argv[i], "--module=", 9) == 0)
            module = argv[i] + 9;
        else if (strncmp(argv[i], "--skip=", 7) == 0)
            skip = argv[i] + 7; /* seeds known to fail, left out */
        else {
            fprintf(stderr, "usage: prog_fuzz --first=SEED --count=N [--classic] [--torchlike] [--swaps] [--skip=S,...] [--verbose] "
                            "[--module=PTX]\n");
            return 2;
        }
    }
    on_gpu = module != NULL;
    CUcontext ctx;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, module ? ck_read_file(module) : "simcuda"));
    static const char *const names[] = { "sim_fill", "sim_axpy", "sim_scale", "sim_add", "sim_affine", "sim_inc_i32" };
    CUfunction *fns[] = { &kfill, &kaxpy, &kscale, &kadd, &kaffine, &kinc };
    for (int i = 0; i < 6; i++) {
        char gds[32];
        snprintf(gds, sizeof gds, "%s_gds", names[i]);
        CK(cuModuleGetFunction(fns[i], mod, names[i]));
        CK(cuModuleGetFunction(&kgds[i], mod, gds));
    }
    CK(cuStreamCreate(&s1, 0));
    CK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
    CK(cuMemAlloc_v2(&cnt, LANES * sizeof(int)));
    CK(cuMemAllocHost_v2((void **)&pinned_src, N * sizeof(float)));
    CK(cuMemAllocHost_v2((void **)&pinned_dst, LANES * N * sizeof(float)));
    fx_init(ctx);
    for (unsigned long long s = first; s < first + count; s++) {
        bool skipped = false;
        for (const char *p = skip; *p && !skipped; p += strcspn(p, ","), p += *p == ',')
            skipped = strtoull(p, NULL, 10) == s;
        if (!skipped)
            program(s, verbose, classic);
    }
    return 0;
}
