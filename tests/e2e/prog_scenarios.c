/* prog_scenarios.c: decode-like loops that exercise each behaviour of the
 * engine, for tests/e2e/replay_diff.sh, which runs every scenario with and
 * without the shim and compares the printed result and the simulated
 * driver's execution trace.
 *
 *   prog_scenarios SCENARIO [--steps=N]
 *
 * stable    the same step every time, constant arguments
 * scalar    scalar arguments (and a struct by value) change every step
 * grid      an attention kernel whose grid grows with the position
 * diverge   every 7th step has an extra kernel in the middle
 * barrier   every 5th step has a stream query in the middle
 * variants  steps alternate between two sequences with a common prefix
 * nosync    a loop that never synchronises until the end
 * overwrite host-to-device sources (pageable) overwritten right after the call
 * capture   the program captures and replays a graph of its own, between
 *           eager steps
 * prefix    steps of 4, 5 and 5 ops where the 4-op step is a prefix of the
 *           others (a whole template while longer ones still match), and
 *           now and then a 5th op no template has
 * phases    the step changes shape every 5 steps (one more kernel), so new
 *           templates keep forming
 * allops    every kind of op in one step: kernels by kernelParams and by
 *           `extra`, cuLaunchKernelEx with a cluster attribute, a 256-byte
 *           struct argument, host-to-device, device-to-host (page-locked),
 *           device-to-device, memsets of 8, 16 and 32 bits, cuMemcpyAsync
 *
 * Prints one line: a hash of every buffer at the end, and the tokens.
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

#define N 256
#define T 64 /* positions */

static CUmodule mod;
static CUstream s;
static CUdeviceptr x, y, z, w, kc, vc, q, att, cnt, tok, bytes16;
static int *pinned;
static uint64_t acc = 14695981039346656037ull;
static int n = N;

static CUfunction K(const char *name)
{
    CUfunction f;
    CK(cuModuleGetFunction(&f, mod, name));
    return f;
}

#define LAUNCH(name, grid, block, ...)                                       \
    do {                                                                     \
        void *a_[] = {__VA_ARGS__};                                          \
        CK(cuLaunchKernel(K(name), grid, 1, 1, block, 1, 1, 0, s, a_, NULL)); \
    } while (0)

static void fold(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        acc = (acc ^ b[i]) * 1099511628211ull;
}

static void readback(void)
{
    int dtoh = *pinned;
    CUdeviceptr bufs[] = {x, y, z, w, kc, vc, att, cnt, tok, bytes16};
    size_t sizes[] = {N * 4, N * 4, N * 4, N * 4, T * N * 4, T * N * 4, N * 4, 4, 4, 64};
    static float host[T * N];
    CK(cuCtxSynchronize());
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        CK(cuMemcpyDtoH_v2(host, bufs[i], sizes[i]));
        fold(host, sizes[i]);
    }
    fold(&dtoh, sizeof dtoh);
}

/* The end of every step: the token goes to page-locked memory, then sync. */
static void end_step(void)
{
    CK(cuMemcpyDtoHAsync_v2(pinned, cnt, sizeof(int), s));
    CK(cuStreamSynchronize(s));
    fold(pinned, sizeof(int));
}

static void step_common(int step, bool scalar)
{
    float v = scalar ? (float)step * 0.25f : 1.0f, a = scalar ? 1.0f / (float)(step + 1) : 0.5f;
    int one = 1;
    sim_affine_t p = {.scale = 0.5f, .bias = scalar ? (float)step : 1.0f};
    LAUNCH("sim_fill", N / 64, 64, &x, &v, &n);
    LAUNCH("sim_axpy", N / 64, 64, &y, &x, &a, &n);
    LAUNCH("sim_affine", N / 64, 64, &z, &y, &p, &n);
    LAUNCH("sim_inc_i32", 1, 1, &cnt, &one);
}

static void attention(int pos)
{
    /* grid = pos + 1: one block per position, growing every step. */
    LAUNCH("sim_kv_write", N / 64, 64, &kc, &x, &tok, &n);
    LAUNCH("sim_attn", (unsigned)pos + 1, 32, &att, &q, &kc, &vc, &pos, &n);
    LAUNCH("sim_add", N / 64, 64, &z, &z, &att, &n);
}

static void allops(int step)
{
    /* Arguments through `extra`, as a packed buffer. */
    struct { CUdeviceptr p; float v; int n; } packed = {w, (float)step, N};
    size_t psize = sizeof packed;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &psize, CU_LAUNCH_PARAM_END};
    CK(cuLaunchKernel(K("sim_fill"), N / 64, 1, 1, 64, 1, 1, 0, s, NULL, extra));
    /* cuLaunchKernelEx with a cluster dimension, as cuBLAS on Hopper. The
     * rest of the value union is left as it was (different every step), as
     * a program's stack would leave it: it must not change the signature. */
    CUlaunchAttribute attr;
    memset(&attr, 0x5a + step, sizeof attr);
    attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim.x = 2;
    attr.value.clusterDim.y = 1;
    attr.value.clusterDim.z = 1;
    float a = 0.125f * (float)(step % 3);
    void *args[] = {&y, &w, &a, &n};
    CUlaunchConfig cfg = {.gridDimX = N / 64, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 64,
                          .blockDimY = 1, .blockDimZ = 1, .hStream = s, .attrs = &attr,
                          .numAttrs = 1};
    CK(cuLaunchKernelEx(&cfg, K("sim_axpy"), args, NULL));
    /* A 256-byte struct by value. */
    sim_wide_t wide;
    for (int i = 0; i < 64; i++)
        wide.v[i] = (float)(i * step % 17);
    LAUNCH("sim_wide", 1, 64, &att, &wide);
    float host[N];
    for (int i = 0; i < N; i++)
        host[i] = (float)((i + step) % 11);
    CK(cuMemcpyHtoDAsync_v2(q, host, sizeof host, s));
    CK(cuMemcpyDtoDAsync_v2(vc + (CUdeviceptr)(step % T) * N * 4, q, N * 4, s));
    CK(cuMemcpyAsync(kc + (CUdeviceptr)((step + 1) % T) * N * 4, y, N * 4, s));
    CK(cuMemsetD8Async(bytes16, (unsigned char)step, 16, s));
    CK(cuMemsetD16Async(bytes16 + 16, (unsigned short)(step * 3), 8, s));
    CK(cuMemsetD32Async(bytes16 + 32, (unsigned)step, 8, s));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_scenarios SCENARIO [--steps=N]\n");
        return 2;
    }
    const char *sc = argv[1];
    int steps = 30;
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = atoi(argv[i] + 8);
    if (steps > T - 1)
        steps = T - 1;
    CUcontext ctx;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, "simcuda"));
    CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr *all[] = {&x, &y, &z, &w, &q, &att};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CK(cuMemAlloc_v2(all[i], N * 4));
        CK(cuMemsetD32_v2(*all[i], 0, N));
    }
    CK(cuMemAlloc_v2(&kc, T * N * 4));
    CK(cuMemAlloc_v2(&vc, T * N * 4));
    CK(cuMemsetD32_v2(kc, 0, T * N));
    CK(cuMemsetD32_v2(vc, 0, T * N));
    CK(cuMemAlloc_v2(&cnt, 4));
    CK(cuMemAlloc_v2(&tok, 4));
    CK(cuMemAlloc_v2(&bytes16, 64));
    CK(cuMemsetD32_v2(cnt, 0, 1));
    CK(cuMemsetD32_v2(tok, 0, 1));
    CK(cuMemsetD32_v2(bytes16, 0, 16));
    CK(cuMemAllocHost_v2((void **)&pinned, sizeof(int)));

    CUgraphExec app = NULL;
    for (int step = 0; step < steps; step++) {
        if (strcmp(sc, "stable") == 0 || strcmp(sc, "scalar") == 0) {
            step_common(step, sc[1] == 'c');
        } else if (strcmp(sc, "grid") == 0) {
            step_common(step, true);
            attention(step);
        } else if (strcmp(sc, "diverge") == 0) {
            step_common(step, true);
            if (step % 7 == 6) {
                float two = 2.0f;
                LAUNCH("sim_scale", N / 64, 64, &w, &x, &two, &n);
            }
            attention(step);
        } else if (strcmp(sc, "barrier") == 0) {
            step_common(step, true);
            if (step % 5 == 4)
                CK(cuStreamQuery(s));
            attention(step);
        } else if (strcmp(sc, "variants") == 0) {
            step_common(step, true);
            if (step % 2 == 0) {
                attention(step);
            } else {
                float three = 3.0f;
                LAUNCH("sim_scale", N / 64, 64, &w, &z, &three, &n);
            }
        } else if (strcmp(sc, "nosync") == 0) {
            /* Many iterations per "step", no synchronisation at all. */
            for (int k = 0; k < 40; k++)
                step_common(step * 40 + k, true);
            continue;
        } else if (strcmp(sc, "overwrite") == 0) {
            float host[N];
            for (int i = 0; i < N; i++)
                host[i] = (float)(i + step);
            CK(cuMemcpyHtoDAsync_v2(q, host, sizeof host, s));
            /* The driver has staged the pageable source: the program may
             * reuse it at once, and the shim must have snapshotted it. */
            memset(host, 0xff, sizeof host);
            float one = 1.0f;
            LAUNCH("sim_axpy", N / 64, 64, &y, &q, &one, &n);
            step_common(step, true);
        } else if (strcmp(sc, "capture") == 0) {
            if (step == 10) {
                CUgraph g;
                CK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
                step_common(1000, true);
                CK(cuStreamEndCapture(s, &g));
                CK(cuGraphInstantiateWithFlags(&app, g, 0));
                CK(cuGraphDestroy(g));
            }
            step_common(step, true);
            if (app != NULL)
                CK(cuGraphLaunch(app, s));
        } else if (strcmp(sc, "prefix") == 0) {
            step_common(step, true);
            float two = 2.0f;
            if (step % 7 == 5)
                CK(cuLaunchKernel(K("sim_scale"), N / 32, 1, 1, 32, 1, 1, 0, s,
                                  (void *[]){&w, &x, &two, &n}, NULL));
            else if (step % 3 == 1)
                LAUNCH("sim_scale", N / 64, 64, &w, &x, &two, &n);
            else if (step % 3 == 2)
                LAUNCH("sim_fill", N / 64, 64, &w, &two, &n);
            CK(cuStreamSynchronize(s));
            continue;
        } else if (strcmp(sc, "phases") == 0) {
            step_common(step, true);
            for (int k = 0; k < step / 5; k++) {
                float f = (float)k;
                LAUNCH("sim_fill", N / 64, 64, &w, &f, &n);
            }
        } else if (strcmp(sc, "allops") == 0) {
            step_common(step, true);
            allops(step);
        } else {
            fprintf(stderr, "unknown scenario %s\n", sc);
            return 2;
        }
        end_step();
    }
    if (app != NULL)
        CK(cuGraphExecDestroy(app));
    readback();
    printf("scenario=%s steps=%d result=%016llx\n", sc, steps, (unsigned long long)acc);
    return 0;
}
