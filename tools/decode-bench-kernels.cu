/*
 * tools/decode-bench-kernels.cu: the device code of decode-bench, every
 * kernel one decode step launches (declared in decode-bench.h).
 *
 * Reductions have a fixed order and there are no float atomics, so a kernel
 * computes bitwise the same result whatever the mode, the stream or the
 * launch API; that is what lets eager, graph and eager under the shim print
 * the same checksum.  Every position-dependent kernel takes
 * (int p_val, const int *p_ptr) and uses *p_ptr when it is not NULL, so eager
 * and graph mode run the very same binaries.
 */
#include "decode-bench.h"

#include <climits>
#include <cmath>


/* Programmatic dependent launch (--pdl).  Every kernel begins with this,
 * before its first access to global memory, in every mode:
 *
 * - cudaGridDependencySynchronize() waits until the grids this one depends
 *   on programmatically have completed and their writes are visible.  It
 *   must come before any global read (inputs, the device-side position) and
 *   before any global write too (the predecessor may still be reading what
 *   this kernel overwrites: k_copy writes res, which k_add2 before it read).
 *   Kernel arguments are not memory: they may be used before it.
 * - cudaTriggerProgrammaticLaunchCompletion() only lets the next kernel be
 *   scheduled early; it gives that kernel no visibility of this one's writes
 *   (its own wait covers that, for the whole grid).  So its place is a
 *   matter of speed, not correctness: right after the wait, so that the
 *   next kernel's launch and its blocks' wait overlap all of this kernel's
 *   work.  Triggering before the wait would let a chain of successors pile
 *   up on the SMs behind a kernel that has not even started.
 *
 * Both are no-ops in a kernel launched without a programmatic dependency,
 * so eager with and without --pdl run the very same binaries and differ
 * only in the launch API and attribute, which is what the comparison should
 * measure.  They need sm_90; the compute_80 PTX of the fat binary (for older
 * GPUs, where decode-bench refuses --pdl) leaves them out. */
__device__ __forceinline__ void pdl_enter(void)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    cudaGridDependencySynchronize();
    cudaTriggerProgrammaticLaunchCompletion();
#endif
}

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
    pdl_enter();
    ctl[0] = 1; /* first input token */
    ctl[1] = 0; /* position */
}

/* The elementwise kernels: one thread per element i < n (n comes last), the
 * body a statement about element i. */
#define ELEMENTWISE(name, body, ...)                                          \
    __global__ void name(__VA_ARGS__, int n)                                  \
    {                                                                         \
        pdl_enter();                                                          \
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
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
    pdl_enter();
    if (threadIdx.x == 0) {
        long long pos = ctl[1];
        ctl[0] = (int)(((long long)amax[0] + pos * 7919LL) % vocab);
        ctl[1] = (int)pos + 1;
    }
}
