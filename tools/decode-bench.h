/*
 * tools/decode-bench.h: what the three translation units of decode-bench
 * share.  decode-bench is a native LLM decode loop on the CUDA runtime API
 * (see decode-bench.cu for what it measures and prints); it is split by
 * concern:
 *
 *   decode-bench-kernels.cu  the device code: every __global__ kernel
 *   decode-bench-model.cu    the model (weights, buffers) and the launches
 *                            of one decode step
 *   decode-bench.cu          options, the generation loop, the hand-captured
 *                            graph, the state digest and main()
 *
 * The kernels are declared here so that the model's launch sites, in another
 * translation unit, can launch them (nvcc needs no relocatable device code
 * for that: a launch goes through the host stub, an ordinary function).
 */
#ifndef DECODE_BENCH_H
#define DECODE_BENCH_H

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

enum {
    HD = 64,        /* head dimension; hidden must be a multiple of it */
    TPB = 256,      /* threads per block of the generic kernels */
    PER_LAYER = 35, /* launches per layer: enqueue_layer() issues exactly these */
    PER_STEP = 7,   /* launches per step outside the layers */
};

/* ------------------------------------------------------------------ checks */

/* Every runtime call goes through CK: a failure names the place, the call and
 * the error, and ends the program, so a wrong result is never printed. */
void db_check(cudaError_t e, const char *what, const char *file, int line);
#define CK(call) db_check((call), #call, __FILE__, __LINE__)
[[noreturn]] void db_die(const char *msg);

/* ------------------------------------------------------------- launching */

/* The launch counter and the stream are process-wide because every launch
 * site goes through LAUNCH, which keeps the count exact by construction. */
extern cudaStream_t g_stream;
extern unsigned long long g_launches;
extern int g_check;

/* With --check (the default) each launch is followed by cudaGetLastError,
 * which the runtime answers from thread-local state without entering the
 * driver, so the shim sees the same driver calls either way. */
#define LAUNCH(kern, grid, block, ...)                                        \
    do {                                                                      \
        kern<<<(grid), (block), 0, g_stream>>>(__VA_ARGS__);                  \
        g_launches++;                                                         \
        if (g_check)                                                          \
            CK(cudaGetLastError());                                           \
    } while (0)

/* ---------------------------------------------- kernels (decode-bench-kernels.cu) */

/* Position-dependent kernels take (int p_val, const int *p_ptr): the
 * position by value in eager mode, from device memory (p_ptr not NULL) in
 * the captured graph. */
__global__ void k_reset(int *ctl);
__global__ void k_embed(float *x, const float *emb, const int *ctl, int n);
__global__ void k_copy(float *dst, const float *src, int n);
__global__ void k_rms_apply(float *y, const float *x, const float *w, const float *r, int n);
__global__ void k_add_bias(float *y, const float *b, int n);
__global__ void k_scale(float *y, float s, int n);
__global__ void k_add2(float *x, const float *a, const float *b, int n);
__global__ void k_silu_mul(float *m, const float *g, const float *u, int n);
__global__ void k_clamp(float *x, float c, int n);
__global__ void k_kv_write(float *cache, const float *src, int p_val, const int *p_ptr, int n);
__global__ void k_scratch(float *scratch, const float *x, int step, int n);
__global__ void k_rms_stats(float *r, const float *x, int n);
__global__ void k_gemv(float *y, const float *__restrict__ W, const float *__restrict__ x,
                       int N, int K);
__global__ void k_rope(float *v, int pairs, int p_val, const int *p_ptr);
__global__ void k_attn_scores(float *scores, const float *q, const float *kc, int nh, int n,
                              int cap, int p_val, const int *p_ptr);
__global__ void k_attn_stats(float *smax, float *ssum, const float *scores, int cap,
                             int p_val, const int *p_ptr);
__global__ void k_attn_probs(float *probs, const float *scores, const float *smax,
                             const float *ssum, int nh, int cap, int p_val, const int *p_ptr);
__global__ void k_attn_out(float *out, const float *probs, const float *vc, int n, int cap,
                           int p_val, const int *p_ptr);
__global__ void k_argmax_partial(float *pv, int *pi, const float *logits, int n);
__global__ void k_argmax_final(int *amax, const float *pv, const int *pi, int nb);
__global__ void k_next_token(int *ctl, const int *amax, int vocab);

/* ---------------------------------------------------- model (decode-bench-model.cu) */

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

void model_init(model &M, int L, int H, int V, int cap);
void model_free(model &M);
unsigned blocks_for(int n);

/* One step's kernels: PER_LAYER * L + PER_STEP launches, one more when
 * irregular_step >= 0 (the scratch kernel before the middle layer). */
void enqueue_step(const model &M, int p_val, const int *p_ptr, unsigned attn_blocks,
                  int irregular_step);
void enqueue_readback(const model &M);
/* Back to the initial state (token 1, position 0, empty KV cache), synchronised. */
void reset_state(const model &M);

#endif /* DECODE_BENCH_H */
