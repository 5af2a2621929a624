/*
 * tests/gpu/gpu_drvapi.c: a decode-like loop written against the CUDA driver
 * API alone, linked directly with -lcuda, so the shim is reached through the
 * exported symbols (path 1 of DESIGN.md section 2) rather than through the
 * runtime's cuGetProcAddress.
 *
 * It loads the PTX of drv_kernels.cu (path in argv[1]) with cuModuleLoadData,
 * then runs 200 steps on a created stream: each step launches kernels with
 * cuLaunchKernel (by-value arguments and one grid change from step to step,
 * an extra kernel every tenth step), copies a slice of the result into
 * page-locked memory with cuMemcpyDtoHAsync and synchronises, as a decode
 * loop reads back its token.  One launch goes through cuLaunchKernelEx and
 * one passes its arguments through the `extra` buffer, the two other ways a
 * program can hand the driver a kernel's parameters.
 *
 * The stdout lines are deterministic (the float arithmetic is exact for the
 * values used), so gpu-drvapi.sh compares them byte for byte with and without
 * the shim, and checks the shim's launch count against `launches=`.
 * Exit status: 0 success, 77 no usable GPU or driver, 1 any error.
 */
#include <cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4096        /* elements of the vectors */
#define STEPS 200     /* decode-like steps */
#define SLICE 16      /* floats read back per step */
#define COUNTERS 64   /* slots of count_step */

/* Every driver call goes through CK: the place, the call and the error name
 * are printed and the program ends, so no wrong result line is printed. */
#define CK(call)                                                               \
    do {                                                                       \
        CUresult ck_r_ = (call);                                               \
        if (ck_r_ != CUDA_SUCCESS)                                             \
            fail(__FILE__, __LINE__, #call, ck_r_);                            \
    } while (0)

static unsigned launches; /* cuLaunchKernel + cuLaunchKernelEx calls made */

static void fail(const char *file, int line, const char *call, CUresult r)
{
    const char *name = NULL;
    if (cuGetErrorName(r, &name) != CUDA_SUCCESS || !name)
        name = "unknown error";
    fprintf(stderr, "gpu_drvapi: %s:%d: %s failed: %s (%d)\n", file, line, call, name, (int)r);
    exit(1);
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The whole PTX file, NUL-terminated as cuModuleLoadData wants it. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        perror(path);
        exit(1);
    }
    long size = ftell(f);
    if (size <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "gpu_drvapi: %s: empty or unreadable\n", path);
        exit(1);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "gpu_drvapi: %s: cannot read\n", path);
        exit(1);
    }
    buf[size] = '\0';
    fclose(f);
    return buf;
}

static void launch(CUfunction fn, unsigned grid, unsigned block, CUstream s, void **args)
{
    CK(cuLaunchKernel(fn, grid, 1, 1, block, 1, 1, 0, s, args, NULL));
    launches++;
}

/* cuInit's answers that mean "no GPU here" rather than "bug": skip. */
static int no_gpu(CUresult r)
{
    return r == CUDA_ERROR_NO_DEVICE || r == CUDA_ERROR_NOT_INITIALIZED ||
           r == CUDA_ERROR_STUB_LIBRARY || r == CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE ||
           r == CUDA_ERROR_SYSTEM_DRIVER_MISMATCH || r == CUDA_ERROR_DEVICE_UNAVAILABLE;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gpu_drvapi drv_kernels.ptx\n");
        return 1;
    }
    char *ptx = read_file(argv[1]);

    CUresult r = cuInit(0);
    if (r != CUDA_SUCCESS) {
        const char *name = NULL;
        cuGetErrorName(r, &name);
        if (no_gpu(r)) {
            printf("gpu_drvapi: no usable GPU: cuInit returned %s (%d): skipped\n",
                   name ? name : "an unnamed error", (int)r);
            return 77;
        }
        fail(__FILE__, __LINE__, "cuInit(0)", r);
    }
    int ndev = 0;
    CK(cuDeviceGetCount(&ndev));
    if (ndev == 0) {
        printf("gpu_drvapi: no GPU: cuDeviceGetCount is 0: skipped\n");
        return 77;
    }
    CUdevice dev;
    CUcontext ctx;
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));

    CUmodule mod;
    CUfunction f_vadd, f_scale, f_count;
    CK(cuModuleLoadData(&mod, ptx));
    CK(cuModuleGetFunction(&f_vadd, mod, "vadd"));
    CK(cuModuleGetFunction(&f_scale, mod, "scale"));
    CK(cuModuleGetFunction(&f_count, mod, "count_step"));

    /* a[i] = i/4, b[i] = (i%7)/2, c = 0: every later value is a small
     * multiple of 1/8, exact in float whatever the order of the sums. */
    static float ha[N], hb[N], hc[N];
    int hcount[COUNTERS];
    for (int i = 0; i < N; i++) {
        ha[i] = (float)i * 0.25f;
        hb[i] = (float)(i % 7) * 0.5f;
        hc[i] = 0.0f;
    }
    memset(hcount, 0, sizeof hcount);
    CUdeviceptr a, b, c, cnt;
    CK(cuMemAlloc(&a, sizeof ha));
    CK(cuMemAlloc(&b, sizeof hb));
    CK(cuMemAlloc(&c, sizeof hc));
    CK(cuMemAlloc(&cnt, sizeof hcount));
    CK(cuMemcpyHtoD(a, ha, sizeof ha));
    CK(cuMemcpyHtoD(b, hb, sizeof hb));
    CK(cuMemcpyHtoD(c, hc, sizeof hc));
    CK(cuMemcpyHtoD(cnt, hcount, sizeof hcount));

    CUstream st;
    CK(cuStreamCreate(&st, CU_STREAM_NON_BLOCKING));
    float *pinned;
    CK(cuMemAllocHost((void **)&pinned, SLICE * sizeof(float)));

    uint64_t readback = 0xcbf29ce484222325ull; /* hash of every step's slice */
    for (int step = 0; step < STEPS; step++) {
        float s = (step % 2) ? 2.0f : 0.5f; /* a alternates between i/8 and i/4 */
        int n = N, nv = N - (step % 3) * 32; /* vadd's n and grid vary */
        void *scale_args[] = {&a, &s, &n};
        void *vadd_args[] = {&c, &c, &a, &nv};
        void *vaddb_args[] = {&c, &c, &b, &n};
        void *count_args[] = {&cnt, &step};
        launch(f_scale, (N + 255) / 256, 256, st, scale_args);
        launch(f_vadd, (unsigned)(nv + 255) / 256, 256, st, vadd_args);
        if (step % 10 == 9) /* the sequence changes now and then */
            launch(f_vadd, (N + 255) / 256, 256, st, vaddb_args);
        launch(f_count, 1, COUNTERS, st, count_args);
        size_t off = (size_t)((step * SLICE) % N) * sizeof(float);
        CK(cuMemcpyDtoHAsync(pinned, c + off, SLICE * sizeof(float), st));
        CK(cuStreamSynchronize(st));
        readback = fnv1a(readback, pinned, SLICE * sizeof(float));
    }

    /* cuLaunchKernelEx: what cuBLAS uses on Hopper. */
    int ex_step = 1000;
    void *ex_args[] = {&cnt, &ex_step};
    CUlaunchConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = COUNTERS;
    cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.hStream = st;
    CK(cuLaunchKernelEx(&cfg, f_count, ex_args, NULL));
    launches++;

    /* Parameters packed in a buffer through `extra`: scale(b, 2, N) with
     * the pointer at offset 0, the float at 8 and the int at 12. */
    struct {
        CUdeviceptr x;
        float s;
        int n;
    } packed = {b, 2.0f, N};
    size_t packed_size = sizeof packed;
    void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &packed, CU_LAUNCH_PARAM_BUFFER_SIZE,
                     &packed_size, CU_LAUNCH_PARAM_END};
    CK(cuLaunchKernel(f_scale, (N + 255) / 256, 1, 1, 256, 1, 1, 0, st, NULL, extra));
    launches++;
    CK(cuStreamSynchronize(st));

    CK(cuMemcpyDtoH(ha, a, sizeof ha));
    CK(cuMemcpyDtoH(hb, b, sizeof hb));
    CK(cuMemcpyDtoH(hc, c, sizeof hc));
    CK(cuMemcpyDtoH(hcount, cnt, sizeof hcount));
    uint64_t mem = 0xcbf29ce484222325ull;
    mem = fnv1a(mem, ha, sizeof ha);
    mem = fnv1a(mem, hb, sizeof hb);
    mem = fnv1a(mem, hc, sizeof hc);
    mem = fnv1a(mem, hcount, sizeof hcount);
    double csum = 0.0;
    long long counter_sum = 0;
    for (int i = 0; i < N; i++)
        csum += hc[i];
    for (int i = 0; i < COUNTERS; i++)
        counter_sum += hcount[i];

    printf("gpu_drvapi steps=%d readback=%016llx memory=%016llx c_sum=%.3f counter_sum=%lld\n",
           STEPS, (unsigned long long)readback, (unsigned long long)mem, csum, counter_sum);
    printf("launches=%u\n", launches);

    CK(cuMemFreeHost(pinned));
    CK(cuMemFree(a));
    CK(cuMemFree(b));
    CK(cuMemFree(c));
    CK(cuMemFree(cnt));
    CK(cuStreamDestroy(st));
    CK(cuModuleUnload(mod));
    CK(cuDevicePrimaryCtxRelease(dev));
    free(ptx);
    return 0;
}
