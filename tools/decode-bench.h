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

/* How a step is issued; none of it changes the arithmetic, so every
 * combination prints the same checksum and state as the default. */
struct launch_opts {
    int pdl;        /* cudaLaunchKernelEx with PROGRAMMATIC_STREAM_SERIALIZATION */
    int per_thread; /* the main stream is cudaStreamPerThread */
    int streams;    /* 1 to 3: streams - 1 side streams take K and V */
    int host_func;  /* a cudaLaunchHostFunc counter at the end of each step */
    int check;      /* cudaGetLastError after each <<<>>> launch */
};

/* Process-wide because every launch site goes through LAUNCH_ON, which keeps
 * g_launches exact by construction.  g_stream is the main stream (where a
 * step begins and ends), g_side the side streams (g_nside of them). */
extern launch_opts g_lo;
extern cudaStream_t g_stream, g_side[2];
extern int g_nside;
extern unsigned long long g_launches;
/* Steps whose host callback ran (--host-func); written by the driver's
 * callback thread, read after a synchronisation. */
extern unsigned long long g_host_steps;

/* One launch of kern on stream s.  Without --pdl it is <<<>>> (the runtime
 * calls cuLaunchKernel), followed with --check by cudaGetLastError, which
 * the runtime answers from thread-local state without entering the driver,
 * so the shim sees the same driver calls either way.  With --pdl it is
 * cudaLaunchKernelEx (cuLaunchKernelEx) with the one attribute
 * PROGRAMMATIC_STREAM_SERIALIZATION = 1, whose result is checked always
 * (it costs nothing: the error is the return value). */
template <typename... P, typename... A>
static inline void launch_on(cudaStream_t s, const char *what, const char *file, int line,
                             void (*kern)(P...), unsigned grid, unsigned block, A... args)
{
    if (g_lo.pdl) {
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(grid);
        cfg.blockDim = dim3(block);
        cfg.dynamicSmemBytes = 0;
        cfg.stream = s;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
        db_check(cudaLaunchKernelEx(&cfg, kern, args...), what, file, line);
    } else {
        kern<<<grid, block, 0, s>>>(args...);
        if (g_lo.check)
            db_check(cudaGetLastError(), what, file, line);
    }
    g_launches++;
}
#define LAUNCH_ON(s, kern, grid, block, ...)                                  \
    launch_on((s), "launch of " #kern, __FILE__, __LINE__, kern, (grid), (block), __VA_ARGS__)
#define LAUNCH(kern, grid, block, ...) LAUNCH_ON(g_stream, kern, grid, block, __VA_ARGS__)

/* Creates the main stream (or takes cudaStreamPerThread), the side streams
 * and their fork/join events, as g_lo says; streams_free undoes it. */
void streams_init(void);
void streams_free(void);

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
 * irregular_step >= 0 (the scratch kernel before the middle layer).  With
 * side streams each layer forks them after its input norm and joins them
 * before attention. */
void enqueue_step(const model &M, int p_val, const int *p_ptr, unsigned attn_blocks,
                  int irregular_step);
/* The step's end: the host callback (--host-func), then the 4-byte copy of
 * the next token into page-locked memory. */
void enqueue_step_end(const model &M);
/* Back to the initial state (token 1, position 0, empty KV cache), synchronised. */
void reset_state(const model &M);

#endif /* DECODE_BENCH_H */
