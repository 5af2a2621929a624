/* prog_churn.c: a long run whose templates keep changing, for churn.sh:
 * the step changes shape every 50 steps, cycling through 12 shapes (each
 * with a host-to-device copy, so staging churns too), with --mix every step
 * has the next shape (more kinds of step than graphs kept), and every 10000
 * steps the module is unloaded and loaded again (so every kernel handle,
 * layout and template must go).
 *
 *   prog_churn [--steps=N] [--mix] [--module=FILE.ptx]
 *
 * Prints a hash of all it read back, and the device memory in use (from
 * cuMemGetInfo) after the first 1000 steps and at the end. On a GPU,
 * --module names the PTX of tests/gpu/fuzz_kernels.cu.
 */
#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include "ck.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 128

static CUmodule mod;
static CUfunction fill, axpy;
static char *image = "simcuda";

static void load(void)
{
    CK(cuModuleLoadData(&mod, image));
    CK(cuModuleGetFunction(&fill, mod, "sim_fill"));
    CK(cuModuleGetFunction(&axpy, mod, "sim_axpy"));
}

int main(int argc, char **argv)
{
    long steps = 100000;
    int mix = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = atol(argv[i] + 8);
        else if (strcmp(argv[i], "--mix") == 0)
            mix = 1;
        else if (strncmp(argv[i], "--module=", 9) == 0)
            image = ck_read_file(argv[i] + 9);
    }
    size_t free0 = 0, total = 0, used1000 = 0;
    CUcontext ctx;
    CUstream s;
    CUdeviceptr x, y;
    int *pinned, n = N;
    float src[N];
    uint64_t acc = 14695981039346656037ull;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    load();
    CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CK(cuMemAlloc_v2(&x, N * 4));
    CK(cuMemAlloc_v2(&y, N * 4));
    CK(cuMemsetD32_v2(y, 0, N));
    CK(cuMemAllocHost_v2((void **)&pinned, N * 4));
    for (long step = 0; step < steps; step++) {
        if (step > 0 && step % 10000 == 0) {
            CK(cuStreamSynchronize(s));
            CK(cuModuleUnload(mod));
            load();
        }
        unsigned shape = (unsigned)((mix ? step : step / 50) % 12);
        for (int i = 0; i < N; i++)
            src[i] = (float)((step + i) % 9);
        /* Each shape: its own copy size and block size, so its own signature. */
        CK(cuMemcpyHtoDAsync_v2(x, src, (8 + shape) * 4, s));
        float a = 0.5f, v = (float)(step % 5);
        void *pa[] = {&y, &x, &a, &n}, *pf[] = {&x, &v, &n};
        for (unsigned k = 0; k <= shape % 4; k++)
            CK(cuLaunchKernel(axpy, N / 32, 1, 1, 32u << (shape % 3), 1, 1, 0, s, pa, NULL));
        CK(cuLaunchKernel(fill, 2, 1, 1, 64, 1, 1, 0, s, pf, NULL));
        CK(cuMemcpyDtoHAsync_v2(pinned, y, N * 4, s));
        CK(cuStreamSynchronize(s));
        acc = (acc ^ (uint64_t)pinned[step % N]) * 1099511628211ull;
        if (step == 999) {
            CK(cuMemGetInfo_v2(&free0, &total));
            used1000 = total - free0;
        }
    }
    CK(cuMemGetInfo_v2(&free0, &total));
    printf("steps=%ld result=%016llx\n", steps, (unsigned long long)acc);
    /* On stderr: it differs with the shim (its graphs take device memory). */
    fprintf(stderr, "device memory in use: %zu bytes after 1000 steps, %zu at the end\n",
            used1000, total - free0);
    return 0;
}
