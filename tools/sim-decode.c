/* sim-decode.c: the no-GPU demonstration. A decode loop shaped like an LLM
 * decode step, written against the CUDA driver API and run on simcuda's
 * built-in kernels, so the shim can be shown working (and measured) on a
 * machine without a GPU:
 *
 *   sim-decode [--layers=L] [--hidden=N] [--tokens=T] [--mode=eager|graph]
 *              [--irregular=K] [--pdl] [--per-thread] [--streams=N] [--host-func]
 *
 * Each step embeds the current token (which lives on the device), runs L
 * layers of about 35 small kernels each (norms, projections, rotary
 * embedding, KV-cache writes, attention over the positions so far, MLP,
 * residuals, and the small element-wise kernels real engines sprinkle in),
 * picks the next token on the device, and reads it back with one
 * device-to-host copy into page-locked memory and one stream synchronise:
 * the pattern the shim replays as a graph.
 *
 * --mode=graph captures one step by hand (cuStreamBeginCapture_v2) and
 * replays it with cuGraphLaunch: the ceiling the shim aims for. Because a
 * captured step cannot change its launch grid, graph mode launches attention
 * over all positions with sim_attn_dev, whose blocks beyond the position
 * stored on the device do nothing; the arithmetic is the same, so both modes
 * generate the same tokens. --irregular=K inserts one extra kernel into every
 * K-th step (after its first layer; before the graph launch in graph mode) so
 * the sequence of launches is not perfectly periodic; it changes no result.
 *
 * The options of tools/decode-bench, with the same meaning, on the driver
 * API; none changes a result, and all combine, in both modes:
 *
 *   --pdl         every kernel is simcuda's GDS twin of the built-in one
 *                 (sim_X_gds: same parameters and effect, flagged as waiting
 *                 for its grid dependency before touching memory), launched
 *                 with cuLaunchKernelEx and PROGRAMMATIC_STREAM_SERIALIZATION
 *                 = 1. The twins come with simcuda's PDL model; without them
 *                 sim-decode says so and exits.
 *   --per-thread  the steps go through the _ptsz entry points with stream 0,
 *                 the per-thread default stream (sim-decode.h).
 *   --streams=N   N-1 side streams (1 or 2), forked from the main stream by
 *                 an event after each layer's input norm, compute K and V
 *                 (projection, bias, rope, KV-cache write) while the main
 *                 stream computes Q, and are joined back by events before
 *                 attention.
 *   --host-func   cuLaunchHostFunc of a step counter after each step's
 *                 kernels, before the readback; the program dies unless it
 *                 ran once per step.
 *
 * Output: one line with the options in force, the tokens/s, the launches
 * (per token, and in all: every cuLaunchKernel/cuLaunchKernelEx the process
 * made, captured ones included, for comparison with the shim's count) and
 * two digests that must not change between runs, modes, options, or with
 * the shim preloaded: the sum of the generated tokens and an FNV-1a hash of
 * the final KV cache. */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/simcuda/simcuda.h"
#include "sim-decode.h"

#define VOCAB 256
#define BLOCK 32u

static void check(CUresult r, const char *what, int line)
{
    const char *name = NULL;
    if (r == CUDA_SUCCESS)
        return;
    cuGetErrorName(r, &name);
    fprintf(stderr, "sim-decode: line %d: %s failed: %s (%d)\n", line, what, name ? name : "unknown error",
            (int)r);
    exit(1);
}
#define CK(call) check((call), #call, __LINE__)

static struct {
    int layers, hidden, tokens, irregular, graph, pdl, per_thread, streams, host_func;
} opt = { 8, 64, 64, 0, 0, 0, 0, 1, 0 };

static int parse_int(const char *arg, const char *name, int *out, int min, int max)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    char *end;
    long v = strtol(arg + n, &end, 10);
    if (end == arg + n || *end || v < min || v > max) {
        fprintf(stderr, "sim-decode: %s wants an integer in [%d, %d]\n", name, min, max);
        exit(2);
    }
    *out = (int)v;
    return 1;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int big = 1 << 20;
        if (parse_int(a, "--layers=", &opt.layers, 1, big) || parse_int(a, "--hidden=", &opt.hidden, 2, big) ||
            parse_int(a, "--tokens=", &opt.tokens, 1, big) ||
            parse_int(a, "--irregular=", &opt.irregular, 0, big) || parse_int(a, "--streams=", &opt.streams, 1, 3))
            continue;
        if (!strcmp(a, "--mode=eager") || !strcmp(a, "--mode=graph")) {
            opt.graph = a[7] == 'g';
            continue;
        }
        int *flag = !strcmp(a, "--pdl") ? &opt.pdl : !strcmp(a, "--per-thread") ? &opt.per_thread
                  : !strcmp(a, "--host-func") ? &opt.host_func : NULL;
        if (flag) {
            *flag = 1;
            continue;
        }
        fprintf(stderr, "usage: sim-decode [--layers=L] [--hidden=N] [--tokens=T] [--mode=eager|graph] "
                        "[--irregular=K]\n"
                        "                  [--pdl] [--per-thread] [--streams=1|2|3] [--host-func]\n");
        exit(2);
    }
    if (opt.hidden % 2) {
        fprintf(stderr, "sim-decode: --hidden must be even (rotary embedding works on pairs)\n");
        exit(2);
    }
}

/* ------------------------------------------------------------- the model */

static uint32_t lcg = 12345u;

static float rnd(float scale)
{
    lcg = lcg * 1664525u + 1013904223u;
    return ((float)(lcg >> 8) / 16777216.0f - 0.5f) * scale;
}

/* Allocates n floats on the device, filled by the LCG (or with `fill` when
 * scale is 0), uploaded once. */
static CUdeviceptr weights(size_t n, float scale, float fill)
{
    CUdeviceptr d;
    float *h = malloc(n * sizeof *h);
    if (!h) {
        fprintf(stderr, "sim-decode: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        h[i] = scale != 0.0f ? rnd(scale) : fill;
    CK(cuMemAlloc_v2(&d, n * sizeof *h));
    CK(cuMemcpyHtoD_v2(d, h, n * sizeof *h));
    free(h);
    return d;
}

typedef struct {
    CUdeviceptr n1, wq, wk, wv, wo, n2, wg, wu, wd, gate, kc, vc;
} layer_t;

enum { K_FILL, K_AXPY, K_SCALE, K_ADD, K_MUL, K_SILU, K_AFFINE, K_RMS, K_GEMV, K_ROPE, K_KVW, K_ATTN,
       K_ATTN_DEV, K_ARGMAX, K_EMBED, K_INC, K_NEXT, K_COUNT };
static const char *const knames[K_COUNT] = {
    "sim_fill", "sim_axpy", "sim_scale", "sim_add", "sim_mul", "sim_silu_mul", "sim_affine", "sim_rmsnorm",
    "sim_gemv", "sim_rope", "sim_kv_write", "sim_attn", "sim_attn_dev", "sim_argmax", "sim_embed",
    "sim_inc_i32", "sim_next_token",
};

/* The ordinary entry points; sim-decode-ptsz.c holds the same table built
 * for the per-thread default stream. */
SD_API_TABLE(sd_api_legacy);

static CUfunction fn[K_COUNT];
/* The main stream, where each step begins and ends (0 with --per-thread:
 * through the _ptsz table that is the calling thread's per-thread stream),
 * the side streams of --streams, the stream the next launch goes to, and
 * the entry points everything stream-ordered goes through. */
static CUstream stream, side[2], cur;
static int nside;
static CUevent ev_fork, ev_join[2];
static const sd_api_t *api = &sd_api_legacy;
static int launches_this_step;
static unsigned long long launches_total;
/* Steps whose --host-func callback ran; the callback may run on another
 * thread (on a real driver it does), hence the atomics. */
static unsigned long long host_steps;

static unsigned blocks(int n)
{
    return ((unsigned)n + BLOCK - 1) / BLOCK;
}

/* One launch of kernel k on the current stream: cuLaunchKernel, or with
 * --pdl cuLaunchKernelEx with PROGRAMMATIC_STREAM_SERIALIZATION = 1 (fn[]
 * then holds the GDS twins). */
static void launch(int k, unsigned grid, unsigned block, void **args)
{
    if (opt.pdl) {
        CUlaunchAttribute attr = { .id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION };
        attr.value.programmaticStreamSerializationAllowed = 1;
        CUlaunchConfig cfg = { .gridDimX = grid, .gridDimY = 1, .gridDimZ = 1, .blockDimX = block,
                               .blockDimY = 1, .blockDimZ = 1, .hStream = cur, .attrs = &attr, .numAttrs = 1 };
        CK(api->launch_ex(&cfg, fn[k], args, NULL));
    } else {
        CK(api->launch(fn[k], grid, 1, 1, block, 1, 1, 0, cur, args, NULL));
    }
    launches_this_step++;
    launches_total++;
}

/* Issues `call` with its launches on stream st. */
#define ON(st, call)                                                                                        \
    do {                                                                                                    \
        cur = (st);                                                                                         \
        call;                                                                                               \
        cur = stream;                                                                                       \
    } while (0)

/* The side streams start after everything the main stream has issued; the
 * main stream goes on after everything they have. The events are reused by
 * every layer: a wait takes the event's state at the call. */
static void fork_side(void)
{
    if (nside == 0)
        return;
    CK(api->event_record(ev_fork, stream));
    for (int i = 0; i < nside; i++)
        CK(api->stream_wait_event(side[i], ev_fork, 0));
}

static void join_side(void)
{
    for (int i = 0; i < nside; i++) {
        CK(api->event_record(ev_join[i], side[i]));
        CK(api->stream_wait_event(stream, ev_join[i], 0));
    }
}

static void CUDA_CB count_step(void *counter)
{
    __atomic_fetch_add((unsigned long long *)counter, 1ull, __ATOMIC_RELEASE);
}

/* Element-wise kernels of the form (float *y, const float *a, X b, int n). */
static void ew3(int k, CUdeviceptr y, CUdeviceptr a, void *b, int n)
{
    void *args[] = { &y, &a, b, &n };
    launch(k, blocks(n), BLOCK, args);
}

static void fill(CUdeviceptr y, float v, int n)
{
    void *args[] = { &y, &v, &n };
    launch(K_FILL, blocks(n), BLOCK, args);
}

static void affine(CUdeviceptr y, CUdeviceptr x, float scale, float bias, int n)
{
    sim_affine_t p = { scale, bias };
    ew3(K_AFFINE, y, x, &p, n);
}

static void gemv(CUdeviceptr y, CUdeviceptr w, CUdeviceptr x, int rows, int cols)
{
    void *args[] = { &y, &w, &x, &rows, &cols };
    launch(K_GEMV, blocks(rows), BLOCK, args);
}

static void rmsnorm(CUdeviceptr y, CUdeviceptr x, CUdeviceptr w, int n)
{
    void *args[] = { &y, &x, &w, &n };
    launch(K_RMS, 1, BLOCK, args);
}

typedef struct {
    CUdeviceptr x, h, q, k, v, att, o, g, u, act, dn, scratch, extra, logits, am, tok, pos, wf, wvocab, table;
    layer_t *l;
} state_t;

/* One decode step at position p (known to the host only in eager mode);
 * `extra` inserts one more kernel after the first layer. With side streams,
 * K runs on the first and V on the second (or the first too) between the
 * fork after the norm and the join before attention, Q on the main stream;
 * the launches are issued in the same order whatever the streams. Between
 * fork and join the side streams read h (which nobody writes then) and write
 * only k, v and the layer's cache rows (which nobody else touches then). */
static void step(state_t *s, int p, int extra)
{
    int n = opt.hidden, f = 2 * opt.hidden, vocab = VOCAB, one = 1;
    float unit = 1.0f, half = 0.5f, quarter = 0.25f;
    {
        void *args[] = { &s->x, &s->table, &s->tok, &n };
        launch(K_EMBED, blocks(n), BLOCK, args);
    }
    for (int i = 0; i < opt.layers; i++) {
        layer_t *L = &s->l[i];
        CUstream sk = nside > 0 ? side[0] : stream, sv = nside > 1 ? side[1] : sk;
        rmsnorm(s->h, s->x, L->n1, n);
        fork_side();
        gemv(s->q, L->wq, s->h, n, n);
        affine(s->q, s->q, 1.0f, 0.01f, n);
        ON(sk, gemv(s->k, L->wk, s->h, n, n));
        ON(sk, affine(s->k, s->k, 1.0f, -0.01f, n));
        ON(sv, gemv(s->v, L->wv, s->h, n, n));
        ON(sv, affine(s->v, s->v, 1.0f, 0.02f, n));
        {
            void *rq[] = { &s->q, &s->pos, &n }, *rk[] = { &s->k, &s->pos, &n };
            launch(K_ROPE, blocks(n / 2), BLOCK, rq);
            ON(sk, launch(K_ROPE, blocks(n / 2), BLOCK, rk));
        }
        ew3(K_SCALE, s->q, s->q, &unit, n);
        {
            void *wk[] = { &L->kc, &s->k, &s->pos, &n }, *wv[] = { &L->vc, &s->v, &s->pos, &n };
            ON(sk, launch(K_KVW, blocks(n), BLOCK, wk));
            ON(sv, launch(K_KVW, blocks(n), BLOCK, wv));
        }
        fill(s->att, 0.0f, n);
        join_side();
        if (opt.graph) {
            void *args[] = { &s->att, &s->q, &L->kc, &L->vc, &s->pos, &n };
            launch(K_ATTN_DEV, (unsigned)opt.tokens, BLOCK, args);
        } else {
            void *args[] = { &s->att, &s->q, &L->kc, &L->vc, &p, &n };
            launch(K_ATTN, (unsigned)p + 1, BLOCK, args);
        }
        gemv(s->o, L->wo, s->att, n, n);
        affine(s->o, s->o, 1.0f, 0.0f, n);
        {
            void *args[] = { &s->x, &s->x, &s->o, &n };
            launch(K_ADD, blocks(n), BLOCK, args);
        }
        rmsnorm(s->h, s->x, L->n2, n);
        gemv(s->g, L->wg, s->h, f, n);
        affine(s->g, s->g, 1.0f, 0.05f, f);
        gemv(s->u, L->wu, s->h, f, n);
        affine(s->u, s->u, 1.0f, -0.05f, f);
        {
            void *sm[] = { &s->act, &s->g, &s->u, &f }, *mg[] = { &s->act, &s->act, &L->gate, &f };
            launch(K_SILU, blocks(f), BLOCK, sm);
            launch(K_MUL, blocks(f), BLOCK, mg);
        }
        gemv(s->dn, L->wd, s->act, n, f);
        affine(s->dn, s->dn, 1.0f, 0.0f, n);
        ew3(K_SCALE, s->dn, s->dn, &half, n);
        {
            void *args[] = { &s->x, &s->x, &s->dn, &n };
            launch(K_ADD, blocks(n), BLOCK, args);
        }
        /* Bookkeeping kernels of the kind engines launch between layers. */
        fill(s->scratch, 0.0f, n);
        ew3(K_AXPY, s->scratch, s->x, &unit, n);
        ew3(K_SCALE, s->scratch, s->scratch, &half, n);
        affine(s->scratch, s->scratch, 2.0f, 0.0f, n);
        fill(s->g, 0.0f, f);
        fill(s->u, 0.0f, f);
        ew3(K_AXPY, s->scratch, s->h, &quarter, n);
        if (extra && i == 0)
            fill(s->extra, (float)p, n);
    }
    rmsnorm(s->h, s->x, s->wf, n);
    gemv(s->logits, s->wvocab, s->h, vocab, n);
    {
        void *am[] = { &s->am, &s->logits, &vocab }, *nt[] = { &s->tok, &s->am, &s->pos, &vocab },
             *inc[] = { &s->pos, &one };
        launch(K_ARGMAX, 1, BLOCK, am);
        launch(K_NEXT, 1, 1, nt);
        launch(K_INC, 1, 1, inc);
    }
}

/* The step's end: the --host-func callback, then the token readback. */
static void step_end(int *pinned, CUdeviceptr tok)
{
    if (opt.host_func)
        CK(api->host_func(stream, count_step, &host_steps));
    CK(api->dtoh_async(pinned, tok, sizeof(int), stream));
}

/* Looks the kernels up, the GDS twins with --pdl: those come with simcuda's
 * PDL model, and a simcuda without it is told apart from a real failure. */
static void load_kernels(CUmodule mod)
{
    for (int k = 0; k < K_COUNT; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", knames[k], opt.pdl ? "_gds" : "");
        CUresult r = cuModuleGetFunction(&fn[k], mod, name);
        if (r == CUDA_ERROR_NOT_FOUND && opt.pdl) {
            fprintf(stderr, "sim-decode: --pdl needs simcuda's GDS twins of its kernels, and this simcuda "
                            "has no %s\n", name);
            exit(1);
        }
        CK(r);
    }
}

/* The main stream (a blocking stream of its own, or with --per-thread the
 * per-thread default stream, which the _ptsz table reaches as stream 0),
 * the side streams and their events. */
static void streams_init(void)
{
    if (opt.per_thread) {
        api = &sd_api_ptsz;
        stream = NULL;
    } else {
        CK(cuStreamCreate(&stream, 0));
    }
    cur = stream;
    nside = opt.streams - 1;
    if (nside > 0)
        CK(cuEventCreate(&ev_fork, CU_EVENT_DISABLE_TIMING));
    for (int i = 0; i < nside; i++) {
        CK(cuStreamCreate(&side[i], CU_STREAM_NON_BLOCKING));
        CK(cuEventCreate(&ev_join[i], CU_EVENT_DISABLE_TIMING));
    }
}

static void streams_free(void)
{
    for (int i = 0; i < nside; i++) {
        CK(cuEventDestroy_v2(ev_join[i]));
        CK(cuStreamDestroy_v2(side[i]));
    }
    if (nside > 0)
        CK(cuEventDestroy_v2(ev_fork));
    if (!opt.per_thread)
        CK(cuStreamDestroy_v2(stream));
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    int n = opt.hidden, f = 2 * opt.hidden, T = opt.tokens, start[2] = { 1, 0 };
    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CK(cuInit(0));
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, "simcuda built-in kernels"));
    load_kernels(mod);
    streams_init();

    state_t s;
    memset(&s, 0, sizeof s);
    s.l = calloc((size_t)opt.layers, sizeof *s.l);
    if (!s.l)
        return 1;
    float ws = 2.0f / (float)n;
    for (int i = 0; i < opt.layers; i++) {
        layer_t *L = &s.l[i];
        L->n1 = weights((size_t)n, 0.0f, 1.0f);
        L->wq = weights((size_t)n * n, ws, 0);
        L->wk = weights((size_t)n * n, ws, 0);
        L->wv = weights((size_t)n * n, ws, 0);
        L->wo = weights((size_t)n * n, ws, 0);
        L->n2 = weights((size_t)n, 0.0f, 1.0f);
        L->wg = weights((size_t)f * n, ws, 0);
        L->wu = weights((size_t)f * n, ws, 0);
        L->wd = weights((size_t)n * f, ws, 0);
        L->gate = weights((size_t)f, 0.5f, 0);
        L->kc = weights((size_t)T * n, 0.0f, 0.0f);
        L->vc = weights((size_t)T * n, 0.0f, 0.0f);
    }
    s.wf = weights((size_t)n, 0.0f, 1.0f);
    s.wvocab = weights((size_t)VOCAB * n, 4.0f, 0);
    s.table = weights((size_t)VOCAB * n, 2.0f, 0);
    CUdeviceptr *bufs[] = { &s.x, &s.h, &s.q, &s.k, &s.v, &s.att, &s.o, &s.dn, &s.scratch, &s.extra };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        CK(cuMemAlloc_v2(bufs[i], (size_t)n * sizeof(float)));
    CK(cuMemAlloc_v2(&s.g, (size_t)f * sizeof(float)));
    CK(cuMemAlloc_v2(&s.u, (size_t)f * sizeof(float)));
    CK(cuMemAlloc_v2(&s.act, (size_t)f * sizeof(float)));
    CK(cuMemAlloc_v2(&s.logits, VOCAB * sizeof(float)));
    CK(cuMemAlloc_v2(&s.am, sizeof(int)));
    CK(cuMemAlloc_v2(&s.tok, 2 * sizeof(int)));
    s.pos = s.tok + sizeof(int);
    CK(cuMemcpyHtoD_v2(s.tok, start, sizeof start));
    int *pinned;
    CK(cuMemAllocHost_v2((void **)&pinned, sizeof(int)));

    CUgraph graph = NULL;
    CUgraphExec exec = NULL;
    if (opt.graph) {
        CK(api->begin_capture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL));
        launches_this_step = 0;
        step(&s, -1, 0);
        step_end(pinned, s.tok);
        CK(api->end_capture(stream, &graph));
        CK(cuGraphInstantiateWithFlags(&exec, graph, 0));
        CK(api->graph_upload(exec, stream));
    }
    int per_token = launches_this_step;
    long long checksum = 0;
    double t0 = now();
    for (int p = 0; p < T; p++) {
        int extra = opt.irregular && (p + 1) % opt.irregular == 0;
        if (opt.graph) {
            /* A captured step cannot change: the extra kernel goes before it. */
            if (extra)
                fill(s.extra, (float)p, n);
            CK(api->graph_launch(exec, stream));
        } else {
            launches_this_step = 0;
            step(&s, p, extra);
            per_token = launches_this_step - extra;
            step_end(pinned, s.tok);
        }
        CK(api->stream_sync(stream));
        checksum += *pinned;
    }
    double dt = now() - t0;
    unsigned long long ran = __atomic_load_n(&host_steps, __ATOMIC_ACQUIRE);
    if (opt.host_func && ran != (unsigned long long)T) {
        fprintf(stderr, "sim-decode: the host callback ran %llu times in %d steps\n", ran, T);
        return 1;
    }

    uint64_t state = 0xcbf29ce484222325ull;
    float *cache = malloc((size_t)T * n * sizeof *cache);
    if (!cache)
        return 1;
    for (int i = 0; i < opt.layers; i++) {
        CK(cuMemcpyDtoH_v2(cache, s.l[i].kc, (size_t)T * n * sizeof *cache));
        state = fnv1a(state, cache, (size_t)T * n * sizeof *cache);
        CK(cuMemcpyDtoH_v2(cache, s.l[i].vc, (size_t)T * n * sizeof *cache));
        state = fnv1a(state, cache, (size_t)T * n * sizeof *cache);
    }
    free(cache);
    printf("mode=%s layers=%d tokens=%d pdl=%d per_thread=%d streams=%d host_func=%d launches_per_token=%d "
           "tokens/s=%.1f checksum=%lld state=%016llx launches_total=%llu\n",
           opt.graph ? "graph" : "eager", opt.layers, T, opt.pdl, opt.per_thread, opt.streams, opt.host_func,
           per_token, dt > 0 ? T / dt : 0.0, checksum, (unsigned long long)state, launches_total);

    if (opt.graph) {
        CK(cuGraphExecDestroy(exec));
        CK(cuGraphDestroy(graph));
    }
    for (int i = 0; i < opt.layers; i++) {
        CUdeviceptr *w = &s.l[i].n1;
        for (size_t j = 0; j < sizeof(layer_t) / sizeof(CUdeviceptr); j++)
            CK(cuMemFree_v2(w[j]));
    }
    free(s.l);
    CUdeviceptr rest[] = { s.wf, s.wvocab, s.table, s.x, s.h, s.q, s.k, s.v, s.att, s.o, s.dn, s.scratch,
                           s.extra, s.g, s.u, s.act, s.logits, s.am, s.tok };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        CK(cuMemFree_v2(rest[i]));
    CK(cuMemFreeHost(pinned));
    streams_free();
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease_v2(dev));
    return 0;
}
