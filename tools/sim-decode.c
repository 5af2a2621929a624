/* sim-decode.c: the no-GPU demonstration. A decode loop shaped like an LLM
 * decode step, written against the CUDA driver API and run on simcuda's
 * built-in kernels, so the shim can be shown working (and measured) on a
 * machine without a GPU:
 *
 *   sim-decode [--layers=L] [--hidden=N] [--tokens=T] [--mode=eager|graph]
 *              [--irregular=K]
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
 * Output: one line with the tokens/s and two digests that must not change
 * between runs, modes, or with the shim preloaded: the sum of the generated
 * tokens and an FNV-1a hash of the final KV cache. */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/simcuda/simcuda.h"

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
    int layers, hidden, tokens, irregular, graph;
} opt = { 8, 64, 64, 0, 0 };

static int parse_int(const char *arg, const char *name, int *out, int min)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    char *end;
    long v = strtol(arg + n, &end, 10);
    if (*end || v < min || v > 1 << 20) {
        fprintf(stderr, "sim-decode: %s wants an integer >= %d\n", name, min);
        exit(2);
    }
    *out = (int)v;
    return 1;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (parse_int(a, "--layers=", &opt.layers, 1) || parse_int(a, "--hidden=", &opt.hidden, 2) ||
            parse_int(a, "--tokens=", &opt.tokens, 1) || parse_int(a, "--irregular=", &opt.irregular, 0))
            continue;
        if (!strcmp(a, "--mode=eager") || !strcmp(a, "--mode=graph")) {
            opt.graph = a[7] == 'g';
            continue;
        }
        fprintf(stderr, "usage: sim-decode [--layers=L] [--hidden=N] [--tokens=T] [--mode=eager|graph] "
                        "[--irregular=K]\n");
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

static CUfunction fn[K_COUNT];
static CUstream stream;
static int launches_this_step;

static unsigned blocks(int n)
{
    return ((unsigned)n + BLOCK - 1) / BLOCK;
}

static void launch(int k, unsigned grid, unsigned block, void **args)
{
    CK(cuLaunchKernel(fn[k], grid, 1, 1, block, 1, 1, 0, stream, args, NULL));
    launches_this_step++;
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
 * `extra` inserts one more kernel after the first layer. */
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
        rmsnorm(s->h, s->x, L->n1, n);
        gemv(s->q, L->wq, s->h, n, n);
        affine(s->q, s->q, 1.0f, 0.01f, n);
        gemv(s->k, L->wk, s->h, n, n);
        affine(s->k, s->k, 1.0f, -0.01f, n);
        gemv(s->v, L->wv, s->h, n, n);
        affine(s->v, s->v, 1.0f, 0.02f, n);
        {
            void *rq[] = { &s->q, &s->pos, &n }, *rk[] = { &s->k, &s->pos, &n };
            launch(K_ROPE, blocks(n / 2), BLOCK, rq);
            launch(K_ROPE, blocks(n / 2), BLOCK, rk);
        }
        ew3(K_SCALE, s->q, s->q, &unit, n);
        {
            void *wk[] = { &L->kc, &s->k, &s->pos, &n }, *wv[] = { &L->vc, &s->v, &s->pos, &n };
            launch(K_KVW, blocks(n), BLOCK, wk);
            launch(K_KVW, blocks(n), BLOCK, wv);
        }
        fill(s->att, 0.0f, n);
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
    for (int k = 0; k < K_COUNT; k++)
        CK(cuModuleGetFunction(&fn[k], mod, knames[k]));
    CK(cuStreamCreate(&stream, 0));

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
        CK(cuStreamBeginCapture_v2(stream, CU_STREAM_CAPTURE_MODE_GLOBAL));
        launches_this_step = 0;
        step(&s, -1, 0);
        CK(cuMemcpyDtoHAsync_v2(pinned, s.tok, sizeof(int), stream));
        CK(cuStreamEndCapture(stream, &graph));
        CK(cuGraphInstantiateWithFlags(&exec, graph, 0));
        CK(cuGraphUpload(exec, stream));
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
            CK(cuGraphLaunch(exec, stream));
        } else {
            launches_this_step = 0;
            step(&s, p, extra);
            per_token = launches_this_step - extra;
            CK(cuMemcpyDtoHAsync_v2(pinned, s.tok, sizeof(int), stream));
        }
        CK(cuStreamSynchronize(stream));
        checksum += *pinned;
    }
    double dt = now() - t0;

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
    printf("mode=%s layers=%d tokens=%d launches_per_token=%d tokens/s=%.1f checksum=%lld state=%016llx\n",
           opt.graph ? "graph" : "eager", opt.layers, T, per_token, dt > 0 ? T / dt : 0.0, checksum,
           (unsigned long long)state);

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
    CK(cuStreamDestroy_v2(stream));
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease_v2(dev));
    return 0;
}
