/* prog_paths.c: a small decode-like loop that reaches the driver by the path
 * named on the command line, so tests/e2e/paths.sh and getproc.sh can show
 * that the shim intercepts each path and changes nothing.
 *
 *   prog_paths --path=direct|dlsym|runtime [--ptsz] [--steps=N]
 *              [--version=CUDAVERSION]
 *
 * Prints the result (a hash of the final device memory), the number of
 * kernel launches it issued, and which object the resolver and launch
 * pointers it was handed live in.
 */
#include "config.h"
#include "drv.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1024

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int main(int argc, char **argv)
{
    drv_path_t path = DRV_DIRECT;
    bool ptsz = false;
    int steps = 20, ver = 12000;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--path=", 7) == 0 && drv_parse_path(argv[i] + 7, &path))
            continue;
        if (strcmp(argv[i], "--ptsz") == 0)
            ptsz = true;
        else if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "--version=", 10) == 0)
            ver = atoi(argv[i] + 10);
        else {
            fprintf(stderr, "prog_paths: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    drv_t d;
    if (!drv_load(&d, path, ptsz, ver))
        return 3;

    CUdevice dev = 0;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fill, axpy, inc;
    CK(d.Init(0));
    CK(d.DevicePrimaryCtxRetain(&ctx, dev));
    CK(d.CtxSetCurrent(ctx));
    CK(d.ModuleLoadData(&mod, "simcuda"));
    CK(d.ModuleGetFunction(&fill, mod, "sim_fill"));
    CK(d.ModuleGetFunction(&axpy, mod, "sim_axpy"));
    CK(d.ModuleGetFunction(&inc, mod, "sim_inc_i32"));

    /* With --ptsz the work goes to stream 0 of per-thread entry points: the
     * calling thread's per-thread default stream. */
    CUstream s = NULL;
    if (!ptsz)
        CK(d.StreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUdeviceptr x, y, cnt, z;
    CK(d.MemAlloc(&x, N * sizeof(float)));
    CK(d.MemAlloc(&y, N * sizeof(float)));
    CK(d.MemAlloc(&z, N * sizeof(float)));
    CK(d.MemAlloc(&cnt, sizeof(int)));
    int *pinned;
    CK(d.MemAllocHost((void **)&pinned, sizeof(int)));
    CK(d.MemsetD32Async(y, 0, N, s));
    CK(d.MemsetD32Async(cnt, 0, 1, s));

    float host[N];
    int n = N, launches = 0, last = 0;
    unsigned grid = N / 128;
    for (int step = 0; step < steps; step++) {
        float v = (float)step * 0.5f, a = 1.0f / (float)(step + 1);
        int one = 1;
        for (int i = 0; i < N; i++)
            host[i] = (float)(i % 7) + (float)step;
        void *fill_args[] = {&x, &v, &n};
        void *axpy_args[] = {&y, &x, &a, &n};
        void *inc_args[] = {&cnt, &one};
        CK(d.LaunchKernel(fill, grid, 1, 1, 128, 1, 1, 0, s, fill_args, NULL));
        CK(d.LaunchKernel(axpy, grid, 1, 1, 128, 1, 1, 0, s, axpy_args, NULL));
        CK(d.MemcpyHtoDAsync(z, host, sizeof host, s));
        void *axpy_z[] = {&y, &z, &a, &n};
        CK(d.LaunchKernel(axpy, grid, 1, 1, 128, 1, 1, 0, s, axpy_z, NULL));
        CUlaunchConfig cfg = {.gridDimX = 1, .gridDimY = 1, .gridDimZ = 1,
                              .blockDimX = 1, .blockDimY = 1, .blockDimZ = 1,
                              .hStream = s};
        CK(d.LaunchKernelEx(&cfg, inc, inc_args, NULL));
        CK(d.MemcpyDtoHAsync(pinned, cnt, sizeof(int), s));
        CK(d.StreamSynchronize(s));
        launches += 4;
        last = *pinned;
    }
    float out[N];
    CK(d.MemcpyDtoH(out, y, sizeof out));
    printf("result=%016llx count=%d\n", (unsigned long long)fnv1a(out, sizeof out, 14695981039346656037ull), last);
    printf("launches=%d\n", launches);
    printf("resolver=%s launch=%s\n", path == DRV_RUNTIME ? drv_owner(d.resolver) : "n/a",
           drv_owner(d.launch));
    CK(d.MemFree(x));
    CK(d.MemFree(y));
    CK(d.MemFree(z));
    CK(d.MemFree(cnt));
    CK(d.MemFreeHost(pinned));
    if (s != NULL)
        CK(d.StreamDestroy(s));
    return 0;
}
