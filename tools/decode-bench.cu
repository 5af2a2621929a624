/*
 * tools/decode-bench.cu: a native LLM decode loop written against the CUDA
 * runtime API, the workload graphshim exists for.
 *
 * Each generated token is one "step": L transformer layers of 35 small
 * kernels each (rmsnorm, q/k/v GEMVs, rope, KV-cache write, attention whose
 * grid grows with the position, output projection, MLP, residual adds) plus
 * 7 kernels of embedding, final norm, LM head, argmax and next-token update,
 * then one 4-byte device-to-host copy of the token into page-locked memory
 * and a stream synchronisation.  With the defaults that is 287 launches of
 * microseconds of work each, so a step is bound by launch overhead: the case
 * where replaying the step as a CUDA graph pays.
 *
 * --mode=eager launches every kernel with <<<>>>, passing the position by
 * value and sizing the attention grids to p+1 blocks, as native engines do.
 * The runtime reaches the driver through cuGetProcAddress, the path the shim
 * must intercept.  --mode=graph is the hand-written ceiling for the same
 * kernels: the step is captured once with the position read from device
 * memory and attention grids sized to the KV capacity (blocks past the
 * position exit at once), then replayed with cudaGraphLaunch.
 *
 * Both modes run the very same kernel binaries: every position-dependent
 * kernel takes (int p_val, const int *p_ptr) and uses *p_ptr when it is not
 * NULL.  Reductions have a fixed order and there are no float atomics, so
 * eager, graph, and eager under the shim must print the same checksum (sum
 * of the generated tokens) and state (FNV-1a 64 of the KV cache, the hidden
 * state and the token/position words), run after run.
 *
 * stdout carries exactly one line, the result; --verbose adds per-repetition
 * lines on stderr.  launches_total counts every <<<>>> launch the process
 * issued (setup, warmup, capture and all repetitions) so a test can compare
 * it with the shim's own counters.
 */
#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>

/* ------------------------------------------------------------------ checks */

/* Every runtime call goes through CK: a failure names the place, the call and
 * the error, and ends the program, so a wrong result is never printed. */
static void check(cudaError_t e, const char *what, int line)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "decode-bench: %s:%d: %s failed: %s (%s)\n", __FILE__, line, what,
                cudaGetErrorName(e), cudaGetErrorString(e));
        exit(1);
    }
}
#define CK(call) check((call), #call, __LINE__)

static void die(const char *msg)
{
    fprintf(stderr, "decode-bench: %s\n", msg);
    exit(1);
}

/* ------------------------------------------------------------ constants */

enum {
    HD = 64,        /* head dimension; hidden must be a multiple of it */
    TPB = 256,      /* threads per block of the generic kernels */
    PER_LAYER = 35, /* launches per layer: enqueue_layer() issues exactly these */
    PER_STEP = 7,   /* launches per step outside the layers */
};

/* The launch counter and the stream are process-wide because every launch
 * site goes through LAUNCH, which keeps the count exact by construction. */
static cudaStream_t g_stream;
static unsigned long long g_launches;
static int g_check = 1;

/* With --check (the default) each launch is followed by cudaGetLastError,
 * which the runtime answers from thread-local state without entering the
 * driver, so the shim sees the same driver calls either way. */
#define LAUNCH(kern, grid, block, ...)                                        \
    do {                                                                      \
        kern<<<(grid), (block), 0, g_stream>>>(__VA_ARGS__);                  \
        g_launches++;                                                         \
        if (g_check)                                                          \
            check(cudaGetLastError(), "launch of " #kern, __LINE__);          \
    } while (0)

/* ------------------------------------------------------------- kernels */

/* The position: by value in eager mode, from device memory in the graph. */
__device__ __forceinline__ int cur_pos(int p_val, const int *p_ptr)
{
    return p_ptr ? *p_ptr : p_val;
}

/* Butterfly sum; lane 0 always adds in the same order, so its result is
 * bitwise reproducible. */
__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Fixed-shape tree reduction (sum, or max when MAX) over a TPB-thread
 * block: the same order every time. */
template <bool MAX>
__device__ float block_reduce(float v, float *sh)
{
    int t = threadIdx.x;
    sh[t] = v;
    __syncthreads();
    for (int s = TPB / 2; s > 0; s >>= 1) {
        if (t < s)
            sh[t] = MAX ? fmaxf(sh[t], sh[t + s]) : sh[t] + sh[t + s];
        __syncthreads();
    }
    float r = sh[0];
    __syncthreads();
    return r;
}

__global__ void k_reset(int *ctl)
{
    ctl[0] = 1; /* first input token */
    ctl[1] = 0; /* position */
}

/* The elementwise kernels: one thread per element i < n (n comes last), the
 * body a statement about element i. */
#define ELEMENTWISE(name, body, ...)                                          \
    __global__ void name(__VA_ARGS__, int n)                                  \
    {                                                                         \
        int i = blockIdx.x * blockDim.x + threadIdx.x;                        \
        if (i < n) {                                                          \
            body;                                                             \
        }                                                                     \
    }

ELEMENTWISE(k_embed, x[i] = emb[(size_t)ctl[0] * n + i], float *x, const float *emb, const int *ctl)
ELEMENTWISE(k_copy, dst[i] = src[i], float *dst, const float *src)
ELEMENTWISE(k_rms_apply, y[i] = x[i] * r[0] * w[i], float *y, const float *x, const float *w,
            const float *r)
ELEMENTWISE(k_add_bias, y[i] += b[i], float *y, const float *b)
ELEMENTWISE(k_scale, y[i] *= s, float *y, float s)
ELEMENTWISE(k_add2, x[i] = a[i] + b[i], float *x, const float *a, const float *b)
ELEMENTWISE(k_silu_mul, m[i] = g[i] / (1.0f + expf(-g[i])) * u[i], float *m, const float *g,
            const float *u)
ELEMENTWISE(k_clamp, x[i] = fminf(fmaxf(x[i], -c), c), float *x, float c)
/* cache[p][:] = src: the rows of a layer's cache are positions. */
ELEMENTWISE(k_kv_write, cache[(size_t)cur_pos(p_val, p_ptr) * n + i] = src[i], float *cache,
            const float *src, int p_val, const int *p_ptr)
/* The --irregular extra kernel: writes a buffer nothing else reads. */
ELEMENTWISE(k_scratch, scratch[i] = x[i] * 0.5f + (float)step, float *scratch, const float *x,
            int step)

/* r[0] = 1/rms(x); one block so the sum has one order. */
__global__ void k_rms_stats(float *r, const float *x, int n)
{
    __shared__ float sh[TPB];
    float acc = 0.0f;
    for (int i = threadIdx.x; i < n; i += TPB)
        acc = fmaf(x[i], x[i], acc);
    float s = block_reduce<false>(acc, sh);
    if (threadIdx.x == 0)
        r[0] = rsqrtf(s / (float)n + 1e-6f);
}

/* y = W x with W row-major [N][K]: one warp per output row. */
__global__ void k_gemv(float *y, const float *__restrict__ W, const float *__restrict__ x,
                       int N, int K)
{
    int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (row >= N)
        return; /* whole warps leave together: the shuffle below stays full */
    const float *w = W + (size_t)row * K;
    float acc = 0.0f;
    for (int k = lane; k < K; k += 32)
        acc = fmaf(w[k], x[k], acc);
    acc = warp_sum(acc);
    if (lane == 0)
        y[row] = acc;
}

/* Rotary embedding of n/2 adjacent pairs, each head's pair j at frequency
 * 10000^(-2j/HD), angle p * frequency. */
__global__ void k_rope(float *v, int pairs, int p_val, const int *p_ptr)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= pairs)
        return;
    int p = cur_pos(p_val, p_ptr);
    int j = i % (HD / 2);
    float freq = exp2f(-(float)(2 * j) / (float)HD * 13.287712379549449f);
    float s, c;
    sincosf((float)p * freq, &s, &c);
    float a = v[2 * i], b = v[2 * i + 1];
    v[2 * i] = a * c - b * s;
    v[2 * i + 1] = a * s + b * c;
}

/* Block j scores position j for every head: scores[h][j] = q_h . k_j,h.
 * Eager launches p+1 blocks, the graph launches the capacity and the blocks
 * past p leave; a block's arithmetic never depends on the grid. */
__global__ void k_attn_scores(float *scores, const float *q, const float *kc, int nh, int n,
                              int cap, int p_val, const int *p_ptr)
{
    int j = blockIdx.x;
    if (j > cur_pos(p_val, p_ptr))
        return;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const float *k = kc + (size_t)j * n;
    for (int h = warp; h < nh; h += TPB / 32) {
        float acc = 0.0f;
        for (int d = lane; d < HD; d += 32)
            acc = fmaf(q[h * HD + d], k[h * HD + d], acc);
        acc = warp_sum(acc);
        if (lane == 0)
            scores[(size_t)h * cap + j] = acc;
    }
}

/* Per head (one block each): max and sum of exp over positions 0..p. */
__global__ void k_attn_stats(float *smax, float *ssum, const float *scores, int cap,
                             int p_val, const int *p_ptr)
{
    __shared__ float sh[TPB];
    int p = cur_pos(p_val, p_ptr);
    const float *s = scores + (size_t)blockIdx.x * cap;
    float m = -INFINITY;
    for (int j = threadIdx.x; j <= p; j += TPB)
        m = fmaxf(m, s[j]);
    m = block_reduce<true>(m, sh);
    float e = 0.0f;
    for (int j = threadIdx.x; j <= p; j += TPB)
        e += expf(s[j] - m);
    e = block_reduce<false>(e, sh);
    if (threadIdx.x == 0) {
        smax[blockIdx.x] = m;
        ssum[blockIdx.x] = e;
    }
}

/* Block j normalises position j for every head; grid grows like the scores'. */
__global__ void k_attn_probs(float *probs, const float *scores, const float *smax,
                             const float *ssum, int nh, int cap, int p_val, const int *p_ptr)
{
    int j = blockIdx.x;
    if (j > cur_pos(p_val, p_ptr))
        return;
    for (int h = threadIdx.x; h < nh; h += blockDim.x) {
        size_t o = (size_t)h * cap + j;
        probs[o] = expf(scores[o] - smax[h]) / ssum[h];
    }
}

/* out[h][d] = sum_j probs[h][j] * v_j[h][d]; one block per head, one thread
 * per dimension, positions summed in order. */
__global__ void k_attn_out(float *out, const float *probs, const float *vc, int n, int cap,
                           int p_val, const int *p_ptr)
{
    int h = blockIdx.x, d = threadIdx.x;
    int p = cur_pos(p_val, p_ptr);
    const float *pr = probs + (size_t)h * cap;
    float acc = 0.0f;
    for (int j = 0; j <= p; j++)
        acc = fmaf(pr[j], vc[(size_t)j * n + h * HD + d], acc);
    out[h * HD + d] = acc;
}

/* Larger value wins; on a tie the smaller index, so the result is unique. */
__device__ __forceinline__ void better(float &v, int &i, float v2, int i2)
{
    if (v2 > v || (v2 == v && i2 < i)) {
        v = v2;
        i = i2;
    }
}

__device__ void block_argmax(float v, int i, float *sv, int *si)
{
    int t = threadIdx.x;
    sv[t] = v;
    si[t] = i;
    __syncthreads();
    for (int s = TPB / 2; s > 0; s >>= 1) {
        if (t < s) {
            float a = sv[t];
            int ai = si[t];
            better(a, ai, sv[t + s], si[t + s]);
            sv[t] = a;
            si[t] = ai;
        }
        __syncthreads();
    }
}

__global__ void k_argmax_partial(float *pv, int *pi, const float *logits, int n)
{
    __shared__ float sv[TPB];
    __shared__ int si[TPB];
    int i = blockIdx.x * TPB + threadIdx.x;
    block_argmax(i < n ? logits[i] : -INFINITY, i < n ? i : INT_MAX, sv, si);
    if (threadIdx.x == 0) {
        pv[blockIdx.x] = sv[0];
        pi[blockIdx.x] = si[0];
    }
}

__global__ void k_argmax_final(int *amax, const float *pv, const int *pi, int nb)
{
    __shared__ float sv[TPB];
    __shared__ int si[TPB];
    float v = -INFINITY;
    int idx = INT_MAX;
    for (int b = threadIdx.x; b < nb; b += TPB)
        better(v, idx, pv[b], pi[b]);
    block_argmax(v, idx, sv, si);
    if (threadIdx.x == 0)
        amax[0] = si[0];
}

/* The next input token and position are decided on the device, so the graph
 * needs nothing from the host; the mix with the position keeps the token
 * stream varied (as torch_decode.py does). */
__global__ void k_next_token(int *ctl, const int *amax, int vocab)
{
    if (threadIdx.x == 0) {
        long long pos = ctl[1];
        ctl[0] = (int)(((long long)amax[0] + pos * 7919LL) % vocab);
        ctl[1] = (int)pos + 1;
    }
}

/* --------------------------------------------------------------- model */

struct layer_w {
    float *wq, *wk, *wv, *wo, *wg, *wu, *wd;
    float *bq, *bk, *bv, *bo, *bg, *bu, *bd;
    float *n1, *n2;
    float ls_attn, ls_mlp; /* layer scales: keep the residual stream tame */
};

struct model {
    int L, H, F, V, NH, cap; /* cap: KV-cache capacity in positions */
    int argmax_blocks;
    layer_w *lw;
    float *emb, *nf, *head;
    float *x, *res, *h, *q, *k, *v, *att, *o, *g, *u, *m, *d, *rms;
    float *scores, *probs, *smax, *ssum, *kc, *vc, *logits, *pv, *scratch;
    int *pi, *amax, *ctl; /* ctl[0] = token, ctl[1] = position */
    int *tok_host;        /* page-locked: target of the per-step copy */
};

static uint64_t lcg_state = 0x9E3779B97F4A7C15ull;

/* Uniform in [-1, 1) from the top 24 bits of a 64-bit LCG: exact in float,
 * identical on every host. */
static float lcg_uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(lcg_state >> 40) / 8388608.0f - 1.0f;
}

/* Every device allocation, so that model_free needs no second list. */
static void **g_allocs;
static size_t g_nallocs;

/* n bytes of zeroed device memory: buffers a step reads before writing
 * (none should) could then not make the output depend on garbage. */
static void *dev_bytes(size_t n)
{
    void *p;
    CK(cudaMalloc(&p, n));
    CK(cudaMemset(p, 0, n));
    void **grown = (void **)realloc(g_allocs, (g_nallocs + 1) * sizeof *g_allocs);
    if (!grown)
        die("out of host memory");
    g_allocs = grown;
    g_allocs[g_nallocs++] = p;
    return p;
}

static float *dev_alloc(size_t n)
{
    return (float *)dev_bytes(n * sizeof(float));
}

/* A device tensor of offset + amp * uniform values, in generation order. */
static float *dev_random(size_t n, float amp, float offset)
{
    float *hbuf = (float *)malloc(n * sizeof(float));
    if (!hbuf)
        die("out of host memory");
    for (size_t i = 0; i < n; i++)
        hbuf[i] = offset + amp * lcg_uniform();
    float *p = dev_alloc(n);
    CK(cudaMemcpy(p, hbuf, n * sizeof(float), cudaMemcpyHostToDevice));
    free(hbuf);
    return p;
}

static void model_init(model &M, int L, int H, int V, int cap)
{
    M.L = L;
    M.H = H;
    M.F = 2 * H; /* a small MLP keeps every kernel tiny: launch-bound */
    M.V = V;
    M.NH = H / HD;
    M.cap = cap;
    M.argmax_blocks = (V + TPB - 1) / TPB;
    size_t hh = (size_t)H * H, hf = (size_t)H * M.F;
    /* Uniform amplitude sqrt(3/K) gives rows of unit-variance dot products. */
    float ah = sqrtf(3.0f / (float)H), af = sqrtf(3.0f / (float)M.F);
    M.lw = (layer_w *)calloc((size_t)L, sizeof(layer_w));
    if (!M.lw)
        die("out of host memory");
    for (int l = 0; l < L; l++) {
        layer_w &w = M.lw[l];
        for (float **t : {&w.wq, &w.wk, &w.wv, &w.wo})
            *t = dev_random(hh, ah, 0.0f);
        for (float **t : {&w.wg, &w.wu})
            *t = dev_random(hf, ah, 0.0f);
        w.wd = dev_random(hf, af, 0.0f);
        for (float **t : {&w.bq, &w.bk, &w.bv, &w.bo, &w.bd})
            *t = dev_random((size_t)H, 0.02f, 0.0f);
        for (float **t : {&w.bg, &w.bu})
            *t = dev_random((size_t)M.F, 0.02f, 0.0f);
        for (float **t : {&w.n1, &w.n2})
            *t = dev_random((size_t)H, 0.1f, 1.0f);
        w.ls_attn = 0.5f;
        w.ls_mlp = 0.5f;
    }
    M.emb = dev_random((size_t)V * H, 1.0f, 0.0f);
    M.nf = dev_random((size_t)H, 0.1f, 1.0f);
    M.head = dev_random((size_t)V * H, ah, 0.0f);

    for (float **t : {&M.x, &M.res, &M.h, &M.q, &M.k, &M.v, &M.att, &M.o, &M.d, &M.scratch})
        *t = dev_alloc(H);
    for (float **t : {&M.g, &M.u, &M.m})
        *t = dev_alloc(M.F);
    for (float **t : {&M.scores, &M.probs})
        *t = dev_alloc((size_t)M.NH * cap);
    M.smax = dev_alloc(M.NH);
    M.ssum = dev_alloc(M.NH);
    M.kc = dev_alloc((size_t)L * cap * H);
    M.vc = dev_alloc((size_t)L * cap * H);
    M.logits = dev_alloc(V);
    M.pv = dev_alloc(M.argmax_blocks);
    M.rms = dev_alloc(1);
    M.pi = (int *)dev_bytes((size_t)M.argmax_blocks * sizeof(int));
    M.amax = (int *)dev_bytes(sizeof(int));
    M.ctl = (int *)dev_bytes(2 * sizeof(int));
    CK(cudaMallocHost((void **)&M.tok_host, sizeof(int)));
}

static void model_free(model &M)
{
    for (size_t i = 0; i < g_nallocs; i++)
        CK(cudaFree(g_allocs[i]));
    free(g_allocs);
    free(M.lw);
    CK(cudaFreeHost(M.tok_host));
}

/* ------------------------------------------------------------ one step */

static unsigned blocks_for(int n)
{
    return (unsigned)((n + TPB - 1) / TPB);
}

/* Rows of a GEMV per block: one warp each. */
static unsigned gemv_blocks(int rows)
{
    return (unsigned)((rows + TPB / 32 - 1) / (TPB / 32));
}

/* Exactly PER_LAYER launches (numbered): a pre-norm attention block and a
 * gated MLP block, each with its residual saved and added back. */
static void enqueue_layer(const model &M, int l, int p_val, const int *p_ptr,
                          unsigned attn_blocks)
{
    const layer_w &w = M.lw[l];
    const int H = M.H, F = M.F, NH = M.NH, cap = M.cap;
    const unsigned gh = blocks_for(H), gf = blocks_for(F), gp = blocks_for(H / 2);
    float *kc = M.kc + (size_t)l * cap * H, *vc = M.vc + (size_t)l * cap * H;

    LAUNCH(k_copy, gh, TPB, M.res, M.x, H);                               /*  1 */
    LAUNCH(k_rms_stats, 1, TPB, M.rms, M.x, H);                           /*  2 */
    LAUNCH(k_rms_apply, gh, TPB, M.h, M.x, w.n1, M.rms, H);               /*  3 */
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.q, w.wq, M.h, H, H);            /*  4 */
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.k, w.wk, M.h, H, H);            /*  5 */
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.v, w.wv, M.h, H, H);            /*  6 */
    LAUNCH(k_add_bias, gh, TPB, M.q, w.bq, H);                            /*  7 */
    LAUNCH(k_add_bias, gh, TPB, M.k, w.bk, H);                            /*  8 */
    LAUNCH(k_add_bias, gh, TPB, M.v, w.bv, H);                            /*  9 */
    LAUNCH(k_rope, gp, TPB, M.q, H / 2, p_val, p_ptr);                    /* 10 */
    LAUNCH(k_rope, gp, TPB, M.k, H / 2, p_val, p_ptr);                    /* 11 */
    LAUNCH(k_scale, gh, TPB, M.q, 0.125f /* 1/sqrt(HD) */, H);            /* 12 */
    LAUNCH(k_kv_write, gh, TPB, kc, M.k, p_val, p_ptr, H);                /* 13 */
    LAUNCH(k_kv_write, gh, TPB, vc, M.v, p_val, p_ptr, H);                /* 14 */
    LAUNCH(k_attn_scores, attn_blocks, TPB, M.scores, M.q, kc, NH, H, cap,
           p_val, p_ptr);                                                 /* 15 */
    LAUNCH(k_attn_stats, NH, TPB, M.smax, M.ssum, M.scores, cap, p_val, p_ptr); /* 16 */
    LAUNCH(k_attn_probs, attn_blocks, 32, M.probs, M.scores, M.smax, M.ssum, NH,
           cap, p_val, p_ptr);                                            /* 17 */
    LAUNCH(k_attn_out, NH, HD, M.att, M.probs, vc, H, cap, p_val, p_ptr); /* 18 */
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.o, w.wo, M.att, H, H);          /* 19 */
    LAUNCH(k_add_bias, gh, TPB, M.o, w.bo, H);                            /* 20 */
    LAUNCH(k_scale, gh, TPB, M.o, w.ls_attn, H);                          /* 21 */
    LAUNCH(k_add2, gh, TPB, M.x, M.res, M.o, H);                          /* 22 */
    LAUNCH(k_copy, gh, TPB, M.res, M.x, H);                               /* 23 */
    LAUNCH(k_rms_stats, 1, TPB, M.rms, M.x, H);                           /* 24 */
    LAUNCH(k_rms_apply, gh, TPB, M.h, M.x, w.n2, M.rms, H);               /* 25 */
    LAUNCH(k_gemv, gemv_blocks(F), TPB, M.g, w.wg, M.h, F, H);            /* 26 */
    LAUNCH(k_gemv, gemv_blocks(F), TPB, M.u, w.wu, M.h, F, H);            /* 27 */
    LAUNCH(k_add_bias, gf, TPB, M.g, w.bg, F);                            /* 28 */
    LAUNCH(k_add_bias, gf, TPB, M.u, w.bu, F);                            /* 29 */
    LAUNCH(k_silu_mul, gf, TPB, M.m, M.g, M.u, F);                        /* 30 */
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.d, w.wd, M.m, H, F);            /* 31 */
    LAUNCH(k_add_bias, gh, TPB, M.d, w.bd, H);                            /* 32 */
    LAUNCH(k_scale, gh, TPB, M.d, w.ls_mlp, H);                           /* 33 */
    LAUNCH(k_add2, gh, TPB, M.x, M.res, M.d, H);                          /* 34 */
    LAUNCH(k_clamp, gh, TPB, M.x, 64.0f, H);                              /* 35 */
}

/* Enqueue one decode step's kernels: PER_LAYER * L + PER_STEP launches, one
 * more when irregular_step >= 0 (the scratch kernel before the middle layer,
 * so the shim sees the sequence change inside a step). */
static void enqueue_step(const model &M, int p_val, const int *p_ptr, unsigned attn_blocks,
                         int irregular_step)
{
    const int H = M.H;
    LAUNCH(k_embed, blocks_for(H), TPB, M.x, M.emb, M.ctl, H);            /* 1 */
    for (int l = 0; l < M.L; l++) {
        if (irregular_step >= 0 && l == M.L / 2)
            LAUNCH(k_scratch, blocks_for(H), TPB, M.scratch, M.x, irregular_step, H);
        enqueue_layer(M, l, p_val, p_ptr, attn_blocks);
    }
    LAUNCH(k_rms_stats, 1, TPB, M.rms, M.x, H);                           /* 2 */
    LAUNCH(k_rms_apply, blocks_for(H), TPB, M.h, M.x, M.nf, M.rms, H);    /* 3 */
    LAUNCH(k_gemv, gemv_blocks(M.V), TPB, M.logits, M.head, M.h, M.V, H); /* 4 */
    LAUNCH(k_argmax_partial, M.argmax_blocks, TPB, M.pv, M.pi, M.logits, M.V); /* 5 */
    LAUNCH(k_argmax_final, 1, TPB, M.amax, M.pv, M.pi, M.argmax_blocks); /* 6 */
    LAUNCH(k_next_token, 1, 32, M.ctl, M.amax, M.V);                      /* 7 */
}

static void enqueue_readback(const model &M)
{
    CK(cudaMemcpyAsync(M.tok_host, M.ctl, sizeof(int), cudaMemcpyDeviceToHost, g_stream));
}

/* Back to the initial state: token 1, position 0, empty KV cache. */
static void reset_state(const model &M)
{
    size_t kv = (size_t)M.L * M.cap * M.H * sizeof(float);
    CK(cudaMemsetAsync(M.kc, 0, kv, g_stream));
    CK(cudaMemsetAsync(M.vc, 0, kv, g_stream));
    LAUNCH(k_reset, 1, 1, M.ctl);
    CK(cudaStreamSynchronize(g_stream));
}

/* ------------------------------------------------------------ options */

struct options {
    int graph, layers, hidden, tokens, warmup, reps, irregular, vocab, verbose;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: decode-bench [--mode=eager|graph] [--layers=L] [--hidden=H]\n"
            "       [--tokens=T] [--warmup=W] [--reps=R] [--irregular=K]\n"
            "       [--vocab=V] [--check|--no-check] [--verbose]\n"
            "  --mode=eager    every kernel launched with <<<>>> (default)\n"
            "  --mode=graph    the step captured once and replayed (the ceiling)\n"
            "  --layers=8 --hidden=512 (multiple of %d) --tokens=256 --warmup=16\n"
            "  --reps=5        repetitions, each from the same initial state\n"
            "  --irregular=K   every K-th step launches one extra kernel (0: never)\n"
            "  --vocab=4096    vocabulary of the LM head\n"
            "  --no-check      skip cudaGetLastError after each launch\n",
            HD);
}

/* Parses --name=N into *out within [lo, hi]; 0 when arg is not --name=. */
static int int_opt(const char *arg, const char *name, int lo, int hi, int *out)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return 0;
    char *end;
    long v = strtol(arg + n + 1, &end, 10);
    if (end == arg + n + 1 || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "decode-bench: %s: expected an integer in [%d, %d]\n", arg, lo, hi);
        exit(2);
    }
    *out = (int)v;
    return 1;
}

static void parse_options(int argc, char **argv, options &o)
{
    o = {0, 8, 512, 256, 16, 5, 0, 4096, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--mode=eager"))
            o.graph = 0;
        else if (!strcmp(a, "--mode=graph"))
            o.graph = 1;
        else if (!strcmp(a, "--check"))
            g_check = 1;
        else if (!strcmp(a, "--no-check"))
            g_check = 0;
        else if (!strcmp(a, "--verbose"))
            o.verbose = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!int_opt(a, "--layers", 1, 1024, &o.layers) &&
                   !int_opt(a, "--hidden", HD, 16384, &o.hidden) &&
                   !int_opt(a, "--tokens", 1, 1 << 16, &o.tokens) &&
                   !int_opt(a, "--warmup", 0, 1 << 16, &o.warmup) &&
                   !int_opt(a, "--reps", 1, 1000, &o.reps) &&
                   !int_opt(a, "--irregular", 0, INT_MAX, &o.irregular) &&
                   !int_opt(a, "--vocab", 2, 1 << 24, &o.vocab)) {
            fprintf(stderr, "decode-bench: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (o.hidden % HD != 0) {
        fprintf(stderr, "decode-bench: --hidden must be a multiple of %d\n", HD);
        exit(2);
    }
}

/* ---------------------------------------------------------- generation */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct runner {
    const model *M;
    const options *o;
    cudaGraphExec_t exec; /* NULL in eager mode */
    unsigned long long kpt; /* launches per regular step */
};

/* Generates n tokens from the initial state; returns their sum and sets
 * *secs to the wall time of the steps alone.  The launch count of every step
 * is checked against kpt, so the printed figure is the one really issued. */
static unsigned long long generate(const runner &r, int n, double *secs)
{
    const model &M = *r.M;
    unsigned long long sum = 0;
    reset_state(M);
    double t0 = now_s();
    for (int s = 0; s < n; s++) {
        int irr = (r.o->irregular > 0 && (s + 1) % r.o->irregular == 0) ? s : -1;
        unsigned long long before = g_launches;
        if (r.exec) {
            /* The extra kernel cannot join the graph; issuing it beside the
             * replay keeps the graph mode's work equal to eager's. */
            if (irr >= 0)
                LAUNCH(k_scratch, blocks_for(M.H), TPB, M.scratch, M.x, irr, M.H);
            CK(cudaGraphLaunch(r.exec, g_stream));
        } else {
            enqueue_step(M, s, NULL, (unsigned)s + 1, irr);
            enqueue_readback(M);
        }
        CK(cudaStreamSynchronize(g_stream));
        unsigned long long want = (r.exec ? 0 : r.kpt) + (irr >= 0 ? 1 : 0);
        if (g_launches - before != want)
            die("internal error: a step issued an unexpected number of launches");
        sum += (unsigned long long)*M.tok_host;
    }
    *secs = now_s() - t0;
    return sum;
}

/* Captures one step, position read from device memory and attention grids
 * sized to the capacity, readback included; returns the launches captured. */
static unsigned long long capture_step(const model &M, cudaGraphExec_t *exec)
{
    cudaGraph_t graph;
    unsigned long long before = g_launches;
    CK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
    enqueue_step(M, 0, M.ctl + 1, (unsigned)M.cap, -1);
    enqueue_readback(M);
    CK(cudaStreamEndCapture(g_stream, &graph));
    CK(cudaGraphInstantiate(exec, graph, 0));
    CK(cudaGraphDestroy(graph));
    CK(cudaGraphUpload(*exec, g_stream));
    CK(cudaStreamSynchronize(g_stream));
    return g_launches - before;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* FNV-1a 64 of KV cache, hidden state and token/position, after a rep. */
static uint64_t state_hash(const model &M, int tokens)
{
    size_t kv = (size_t)M.L * M.cap * M.H * sizeof(float);
    unsigned char *buf = (unsigned char *)malloc(kv);
    if (!buf)
        die("out of host memory");
    uint64_t h = 0xcbf29ce484222325ull;
    int ctl[2];
    const struct { const void *src; size_t n; } parts[] = {
        {M.kc, kv}, {M.vc, kv}, {M.x, (size_t)M.H * sizeof(float)}, {M.ctl, sizeof ctl}};
    for (const auto &part : parts) {
        CK(cudaMemcpyAsync(buf, part.src, part.n, cudaMemcpyDeviceToHost, g_stream));
        CK(cudaStreamSynchronize(g_stream));
        h = fnv1a(h, buf, part.n);
    }
    memcpy(ctl, buf, sizeof ctl);
    free(buf);
    if (ctl[1] != tokens)
        die("internal error: the device position does not match the steps run");
    return h;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, o);

    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        fprintf(stderr, "decode-bench: no usable CUDA device (%s)\n",
                e != cudaSuccess ? cudaGetErrorName(e) : "device count is 0");
        return 1;
    }
    CK(cudaSetDevice(0));
    CK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));

    model M;
    memset(&M, 0, sizeof M);
    /* One capacity for warmup and reps: both start at position 0. */
    model_init(M, o.layers, o.hidden, o.vocab, o.tokens > o.warmup ? o.tokens : o.warmup);

    runner r = {&M, &o, NULL, (unsigned long long)PER_LAYER * o.layers + PER_STEP};
    double secs;
    if (o.graph) {
        /* One eager step first, so that lazy module loading happens
         * outside the capture. */
        generate(r, 1, &secs);
        if (capture_step(M, &r.exec) != r.kpt)
            die("internal error: the captured step has an unexpected launch count");
    }
    if (o.warmup > 0)
        generate(r, o.warmup, &secs);

    double *tps = (double *)malloc((size_t)o.reps * sizeof(double));
    if (!tps)
        die("out of host memory");
    unsigned long long checksum = 0;
    for (int i = 0; i < o.reps; i++) {
        unsigned long long sum = generate(r, o.tokens, &secs);
        tps[i] = (double)o.tokens / secs;
        if (o.verbose)
            fprintf(stderr, "decode-bench: rep %d: %.1f tokens/s checksum=%llu\n", i, tps[i], sum);
        if (i > 0 && sum != checksum)
            die("repetitions generated different tokens: kernels are not deterministic");
        checksum = sum;
    }
    uint64_t state = state_hash(M, o.tokens);

    qsort(tps, (size_t)o.reps, sizeof(double), cmp_double);
    double median = (o.reps % 2) ? tps[o.reps / 2]
                                 : 0.5 * (tps[o.reps / 2 - 1] + tps[o.reps / 2]);
    char irr[32] = "";
    if (o.irregular > 0)
        snprintf(irr, sizeof irr, " irregular=%d", o.irregular);
    printf("decode-bench mode=%s layers=%d hidden=%d tokens=%d%s kernels_per_token=%llu "
           "tokens/s=%.1f min=%.1f max=%.1f us_per_token=%.2f checksum=%llu "
           "state=%016llx launches_total=%llu\n",
           o.graph ? "graph" : "eager", o.layers, o.hidden, o.tokens, irr, r.kpt, median,
           tps[0], tps[o.reps - 1], 1e6 / median, checksum, (unsigned long long)state,
           g_launches);
    fflush(stdout);

    free(tps);
    if (r.exec)
        CK(cudaGraphExecDestroy(r.exec));
    model_free(M);
    CK(cudaStreamDestroy(g_stream));
    return 0;
}
