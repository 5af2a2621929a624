/* sim_builtins.c: the built-in kernels of simcuda (the table in
 * tests/simcuda/README.md), registered when the library loads, each also
 * as a twin sim_X_gds with the same layout and effect, flagged
 * SIMCUDA_KERNEL_GDS: what a kernel that calls cudaGridDependencySynchronize()
 * before touching memory is to programmatic dependent launch.
 *
 * They honour gridDim and blockDim the way GPU code written in the obvious
 * style would: an element-wise kernel handles the indices
 * blockIdx.x * blockDim.x + threadIdx.x below n, once per (y, z) thread and
 * block index, so a launch with a stale or short grid gives another result.
 * They reach memory only through simcuda_ptr(), as any registered kernel. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"

/* ----------------------------------------------------------------- kernels */

#define ARG(T, i) (*(const T *)args[i])
#define PTR(T, i, n) ((T *)simcuda_ptr(ARG(CUdeviceptr, i), (size_t)(n) * sizeof(T)))

/* Indices 0 .. count-1 exist in x; every one of them runs once per (y, z). */
static size_t span_x(const simcuda_launch_t *L, long long n)
{
    size_t t = (size_t)L->gridDim.x * L->blockDim.x;
    return n <= 0 ? 0 : (size_t)n < t ? (size_t)n : t;
}

static size_t reps(const simcuda_launch_t *L)
{
    return (size_t)L->gridDim.y * L->gridDim.z * L->blockDim.y * L->blockDim.z;
}

#define ELEMENTWISE(name, nidx, decl, body)                                 \
    static void k_##name(const simcuda_launch_t *L, void *const *args)     \
    {                                                                       \
        int n = ARG(int, nidx);                                             \
        size_t m = span_x(L, n);                                            \
        if (m == 0)                                                         \
            return;                                                         \
        decl;                                                               \
        for (size_t r = reps(L); r > 0; r--)                                \
            for (size_t i = 0; i < m; i++)                                  \
                body;                                                       \
    }

ELEMENTWISE(fill, 2, float *y = PTR(float, 0, m); float v = ARG(float, 1), y[i] = v)
ELEMENTWISE(axpy, 3, float *y = PTR(float, 0, m); const float *x = PTR(const float, 1, m);
            float a = ARG(float, 2), y[i] += a * x[i])
ELEMENTWISE(scale, 3, float *y = PTR(float, 0, m); const float *x = PTR(const float, 1, m);
            float a = ARG(float, 2), y[i] = a * x[i])
ELEMENTWISE(add, 3, float *y = PTR(float, 0, m); const float *a = PTR(const float, 1, m);
            const float *b = PTR(const float, 2, m), y[i] = a[i] + b[i])
ELEMENTWISE(mul, 3, float *y = PTR(float, 0, m); const float *a = PTR(const float, 1, m);
            const float *b = PTR(const float, 2, m), y[i] = a[i] * b[i])
ELEMENTWISE(silu_mul, 3, float *y = PTR(float, 0, m); const float *g = PTR(const float, 1, m);
            const float *u = PTR(const float, 2, m), y[i] = g[i] / (1.0f + expf(-g[i])) * u[i])
ELEMENTWISE(affine, 3, float *y = PTR(float, 0, m); const float *x = PTR(const float, 1, m);
            sim_affine_t p = ARG(sim_affine_t, 2), y[i] = x[i] * p.scale + p.bias)

/* One block; the result does not depend on how many threads it has. */
static void k_rmsnorm(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 3);
    (void)L;
    if (n <= 0)
        return;
    float *y = PTR(float, 0, n);
    const float *x = PTR(const float, 1, n), *w = PTR(const float, 2, n);
    float ss = 0.0f;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + 1e-5f);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * inv * w[i];
}

static void k_gemv(const simcuda_launch_t *L, void *const *args)
{
    int rows = ARG(int, 3), cols = ARG(int, 4);
    size_t m = span_x(L, rows);
    if (m == 0 || cols <= 0)
        return;
    float *y = PTR(float, 0, m);
    const float *W = PTR(const float, 1, m * (size_t)cols), *x = PTR(const float, 2, cols);
    for (size_t r = 0; r < m; r++) {
        float acc = 0.0f;
        for (int c = 0; c < cols; c++)
            acc += W[r * (size_t)cols + (size_t)c] * x[c];
        y[r] = acc;
    }
}

/* One thread per pair (x[2i], x[2i+1]). */
static void k_rope(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 2);
    size_t m = span_x(L, n / 2);
    if (m == 0)
        return;
    float *x = PTR(float, 0, 2 * m);
    int pos = *PTR(const int, 1, 1);
    for (size_t i = 0; i < m; i++) {
        float theta = (float)pos * powf(10000.0f, -2.0f * (float)i / (float)n);
        float c = cosf(theta), s = sinf(theta), a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = a * s + b * c;
    }
}

static void k_kv_write(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 3);
    size_t m = span_x(L, n);
    if (m == 0)
        return;
    int pos = *PTR(const int, 2, 1);
    float *cache = (float *)simcuda_ptr(ARG(CUdeviceptr, 0) + (CUdeviceptr)pos * (size_t)n * sizeof(float),
                                        m * sizeof(float));
    const float *x = PTR(const float, 1, m);
    memcpy(cache, x, m * sizeof(float));
}

/* Block j scores position j, for j <= p; a grid of fewer than p + 1 blocks
 * attends to fewer positions. */
static void attn(const simcuda_launch_t *L, void *const *args, int p, int n)
{
    static float *score;
    static size_t cap;
    if (n <= 0 || p < 0 || L->blockDim.x == 0)
        return;
    size_t np = (size_t)p + 1 < L->gridDim.x ? (size_t)p + 1 : L->gridDim.x;
    if (np > cap) {
        float *s = realloc(score, np * sizeof *s);
        if (!s)
            return;
        score = s;
        cap = np;
    }
    float *out = PTR(float, 0, n);
    const float *q = PTR(const float, 1, n), *kc = PTR(const float, 2, np * (size_t)n),
                *vc = PTR(const float, 3, np * (size_t)n);
    float mx = -INFINITY, sum = 0.0f, scale = 1.0f / sqrtf((float)n);
    for (size_t j = 0; j < np; j++) {
        float d = 0.0f;
        for (int i = 0; i < n; i++)
            d += q[i] * kc[j * (size_t)n + (size_t)i];
        score[j] = d * scale;
        mx = score[j] > mx ? score[j] : mx;
    }
    for (size_t j = 0; j < np; j++) {
        score[j] = expf(score[j] - mx);
        sum += score[j];
    }
    for (int i = 0; i < n; i++) {
        float acc = 0.0f;
        for (size_t j = 0; j < np; j++)
            acc += score[j] * vc[j * (size_t)n + (size_t)i];
        out[i] = acc / sum;
    }
}

static void k_attn(const simcuda_launch_t *L, void *const *args)
{
    attn(L, args, ARG(int, 4), ARG(int, 5));
}

static void k_attn_dev(const simcuda_launch_t *L, void *const *args)
{
    attn(L, args, *PTR(const int, 4, 1), ARG(int, 5));
}

static void k_softmax(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 1);
    (void)L;
    if (n <= 0)
        return;
    float *x = PTR(float, 0, n), mx = -INFINITY, sum = 0.0f;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++)
        sum += (x[i] = expf(x[i] - mx));
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}

static void k_argmax(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 2), best = 0;
    (void)L;
    if (n <= 0)
        return;
    const float *x = PTR(const float, 1, n);
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    *PTR(int, 0, 1) = best;
}

static void k_embed(const simcuda_launch_t *L, void *const *args)
{
    int n = ARG(int, 3);
    size_t m = span_x(L, n);
    if (m == 0)
        return;
    int tok = *PTR(const int, 2, 1);
    const float *row = (const float *)simcuda_ptr(ARG(CUdeviceptr, 1) + (CUdeviceptr)tok * (size_t)n * sizeof(float),
                                                  m * sizeof(float));
    memcpy(PTR(float, 0, m), row, m * sizeof(float));
}

/* Scalar kernels: thread 0 of block 0 does the work. */
static void k_inc_i32(const simcuda_launch_t *L, void *const *args)
{
    (void)L;
    *PTR(int, 0, 1) += ARG(int, 1);
}

static void k_next_token(const simcuda_launch_t *L, void *const *args)
{
    int vocab = ARG(int, 3);
    (void)L;
    if (vocab <= 0)
        return;
    long long t = (long long)*PTR(const int, 1, 1) + (long long)*PTR(const int, 2, 1) * 7919;
    *PTR(int, 0, 1) = (int)(((t % vocab) + vocab) % vocab);
}

static void k_wide(const simcuda_launch_t *L, void *const *args)
{
    size_t m = span_x(L, 64);
    const sim_wide_t *w = (const sim_wide_t *)args[1];
    if (m)
        memcpy(PTR(float, 0, m), w->v, m * sizeof(float));
}

static void k_noop(const simcuda_launch_t *L, void *const *args)
{
    (void)L;
    (void)args;
}

void sim_kernels_init(void)
{
    enum { P = sizeof(CUdeviceptr), F = sizeof(float), I = sizeof(int) };
    static const struct {
        const char *name;
        simcuda_kernel_fn fn;
        unsigned n;
        size_t sizes[6];
    } builtins[] = {
        { "sim_fill", k_fill, 3, { P, F, I } },
        { "sim_axpy", k_axpy, 4, { P, P, F, I } },
        { "sim_scale", k_scale, 4, { P, P, F, I } },
        { "sim_add", k_add, 4, { P, P, P, I } },
        { "sim_mul", k_mul, 4, { P, P, P, I } },
        { "sim_silu_mul", k_silu_mul, 4, { P, P, P, I } },
        { "sim_affine", k_affine, 4, { P, P, sizeof(sim_affine_t), I } },
        { "sim_rmsnorm", k_rmsnorm, 4, { P, P, P, I } },
        { "sim_gemv", k_gemv, 5, { P, P, P, I, I } },
        { "sim_rope", k_rope, 3, { P, P, I } },
        { "sim_kv_write", k_kv_write, 4, { P, P, P, I } },
        { "sim_attn", k_attn, 6, { P, P, P, P, I, I } },
        { "sim_attn_dev", k_attn_dev, 6, { P, P, P, P, P, I } },
        { "sim_softmax", k_softmax, 2, { P, I } },
        { "sim_argmax", k_argmax, 3, { P, P, I } },
        { "sim_embed", k_embed, 4, { P, P, P, I } },
        { "sim_inc_i32", k_inc_i32, 2, { P, I } },
        { "sim_next_token", k_next_token, 4, { P, P, P, I } },
        { "sim_wide", k_wide, 2, { P, sizeof(sim_wide_t) } },
        { "sim_noop", k_noop, 0, { 0 } },
    };
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        char gds[64];
        snprintf(gds, sizeof gds, "%s_gds", builtins[i].name);
        simcuda_register_kernel(builtins[i].name, builtins[i].fn, builtins[i].n, builtins[i].sizes);
        simcuda_register_kernel_ex(gds, builtins[i].fn, builtins[i].n, builtins[i].sizes, SIMCUDA_KERNEL_GDS, NULL);
    }
}

