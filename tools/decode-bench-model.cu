/*
 * tools/decode-bench-model.cu: the model of decode-bench and the launches of
 * one decode step.
 *
 * The model is a small Llama-like transformer with random weights from a
 * fixed LCG (identical on every host): L layers of 35 small kernels each
 * (rmsnorm, q/k/v GEMVs, rope, KV-cache write, attention whose grid grows
 * with the position, output projection, MLP, residual adds), plus 7 kernels
 * of embedding, final norm, LM head, argmax and next-token update.  Every
 * launch site goes through LAUNCH_ON (decode-bench.h), so g_launches counts
 * exactly what the process issued.  Also here: the streams and events of
 * --per-thread and --streams, the layer's fork and join, and the
 * --host-func callback.
 */
#include "decode-bench.h"

#include <cmath>
#include <cstdlib>
#include <initializer_list>

launch_opts g_lo = {0, 0, 1, 0, 1};
cudaStream_t g_stream, g_side[2];
int g_nside;
unsigned long long g_launches;
unsigned long long g_host_steps;

/* The fork event (recorded on the main stream, waited for by every side
 * stream) and one join event per side stream, reused by every layer: a wait
 * takes the event's state at the call, so reuse is exact in eager mode, and
 * stream capture turns each record/wait pair into edges. */
static cudaEvent_t g_fork, g_join[2];

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
        db_die("out of host memory");
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
        db_die("out of host memory");
    for (size_t i = 0; i < n; i++)
        hbuf[i] = offset + amp * lcg_uniform();
    float *p = dev_alloc(n);
    CK(cudaMemcpy(p, hbuf, n * sizeof(float), cudaMemcpyHostToDevice));
    free(hbuf);
    return p;
}

void model_init(model &M, int L, int H, int V, int cap)
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
        db_die("out of host memory");
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

void model_free(model &M)
{
    for (size_t i = 0; i < g_nallocs; i++)
        CK(cudaFree(g_allocs[i]));
    free(g_allocs);
    free(M.lw);
    CK(cudaFreeHost(M.tok_host));
}

/* ------------------------------------------------------------- streams */

void streams_init(void)
{
    if (g_lo.per_thread)
        g_stream = cudaStreamPerThread;
    else
        CK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
    g_nside = g_lo.streams - 1;
    if (g_nside > 0)
        CK(cudaEventCreateWithFlags(&g_fork, cudaEventDisableTiming));
    for (int i = 0; i < g_nside; i++) {
        CK(cudaStreamCreateWithFlags(&g_side[i], cudaStreamNonBlocking));
        CK(cudaEventCreateWithFlags(&g_join[i], cudaEventDisableTiming));
    }
}

void streams_free(void)
{
    for (int i = 0; i < g_nside; i++) {
        CK(cudaEventDestroy(g_join[i]));
        CK(cudaStreamDestroy(g_side[i]));
    }
    if (g_nside > 0)
        CK(cudaEventDestroy(g_fork));
    if (!g_lo.per_thread)
        CK(cudaStreamDestroy(g_stream));
}

/* The side streams start after everything the main stream has issued. */
static void fork_side(void)
{
    if (g_nside == 0)
        return;
    CK(cudaEventRecord(g_fork, g_stream));
    for (int i = 0; i < g_nside; i++)
        CK(cudaStreamWaitEvent(g_side[i], g_fork, 0));
}

/* The main stream goes on after everything the side streams have issued. */
static void join_side(void)
{
    for (int i = 0; i < g_nside; i++) {
        CK(cudaEventRecord(g_join[i], g_side[i]));
        CK(cudaStreamWaitEvent(g_stream, g_join[i], 0));
    }
}

/* The --host-func callback, run by the driver's callback thread. */
static void CUDART_CB count_step(void *counter)
{
    __atomic_fetch_add((unsigned long long *)counter, 1ull, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ one step */

unsigned blocks_for(int n)
{
    return (unsigned)((n + TPB - 1) / TPB);
}

/* Rows of a GEMV per block: one warp each. */
static unsigned gemv_blocks(int rows)
{
    return (unsigned)((rows + TPB / 32 - 1) / (TPB / 32));
}

/* Exactly PER_LAYER launches (numbered): a pre-norm attention block and a
 * gated MLP block, each with its residual saved and added back.  With side
 * streams, K (5, 8, 11, 13) runs on the first and V (6, 9, 14) on the second
 * (or the first too, with one side stream) between the fork after the norm
 * and the join before attention, while the main stream does Q (4, 7, 10,
 * 12).  The launches are issued in the same interleaved order in every mode,
 * and each stream runs its kernels in that order, so the arithmetic is the
 * default's.  Nothing on a side stream reads or writes what the main stream
 * touches between fork and join: h is read by both, written by neither. */
static void enqueue_layer(const model &M, int l, int p_val, const int *p_ptr,
                          unsigned attn_blocks)
{
    const layer_w &w = M.lw[l];
    const int H = M.H, F = M.F, NH = M.NH, cap = M.cap;
    const unsigned gh = blocks_for(H), gf = blocks_for(F), gp = blocks_for(H / 2);
    float *kc = M.kc + (size_t)l * cap * H, *vc = M.vc + (size_t)l * cap * H;
    cudaStream_t sk = g_nside > 0 ? g_side[0] : g_stream;
    cudaStream_t sv = g_nside > 1 ? g_side[1] : sk;

    LAUNCH(k_copy, gh, TPB, M.res, M.x, H);                               /*  1 */
    LAUNCH(k_rms_stats, 1, TPB, M.rms, M.x, H);                           /*  2 */
    LAUNCH(k_rms_apply, gh, TPB, M.h, M.x, w.n1, M.rms, H);               /*  3 */
    fork_side();
    LAUNCH(k_gemv, gemv_blocks(H), TPB, M.q, w.wq, M.h, H, H);            /*  4 */
    LAUNCH_ON(sk, k_gemv, gemv_blocks(H), TPB, M.k, w.wk, M.h, H, H);     /*  5 */
    LAUNCH_ON(sv, k_gemv, gemv_blocks(H), TPB, M.v, w.wv, M.h, H, H);     /*  6 */
    LAUNCH(k_add_bias, gh, TPB, M.q, w.bq, H);                            /*  7 */
    LAUNCH_ON(sk, k_add_bias, gh, TPB, M.k, w.bk, H);                     /*  8 */
    LAUNCH_ON(sv, k_add_bias, gh, TPB, M.v, w.bv, H);                     /*  9 */
    LAUNCH(k_rope, gp, TPB, M.q, H / 2, p_val, p_ptr);                    /* 10 */
    LAUNCH_ON(sk, k_rope, gp, TPB, M.k, H / 2, p_val, p_ptr);             /* 11 */
    LAUNCH(k_scale, gh, TPB, M.q, 0.125f /* 1/sqrt(HD) */, H);            /* 12 */
    LAUNCH_ON(sk, k_kv_write, gh, TPB, kc, M.k, p_val, p_ptr, H);         /* 13 */
    LAUNCH_ON(sv, k_kv_write, gh, TPB, vc, M.v, p_val, p_ptr, H);         /* 14 */
    join_side();
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
void enqueue_step(const model &M, int p_val, const int *p_ptr, unsigned attn_blocks,
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

void enqueue_step_end(const model &M)
{
    if (g_lo.host_func)
        CK(cudaLaunchHostFunc(g_stream, count_step, &g_host_steps));
    CK(cudaMemcpyAsync(M.tok_host, M.ctl, sizeof(int), cudaMemcpyDeviceToHost, g_stream));
}

/* Back to the initial state: token 1, position 0, empty KV cache. */
void reset_state(const model &M)
{
    size_t kv = (size_t)M.L * M.cap * M.H * sizeof(float);
    CK(cudaMemsetAsync(M.kc, 0, kv, g_stream));
    CK(cudaMemsetAsync(M.vc, 0, kv, g_stream));
    LAUNCH(k_reset, 1, 1, M.ctl);
    CK(cudaStreamSynchronize(g_stream));
}

