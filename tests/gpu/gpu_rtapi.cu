/*
 * tests/gpu/gpu_rtapi.cu: a decode-like loop written against the CUDA
 * runtime API.  The runtime finds the driver through cuGetProcAddress
 * (DESIGN.md section 2, path 3), so this program proves the shim intercepts
 * what real applications issue: <<<>>> launches, cudaMemcpyAsync in both
 * directions with page-locked memory, cudaStreamSynchronize.
 *
 * The main loop runs on a created non-blocking stream: each step uploads an
 * "input token" (4 bytes, host-to-device), launches five kernels whose
 * by-value arguments change every step and one of whose grids varies, reads
 * a slice back into page-locked memory and synchronises.  After it, a few
 * launches go to the per-thread default stream (the runtime reaches the
 * _ptsz entry points for those) and to the legacy default stream, and one
 * through cudaLaunchKernelEx (cuLaunchKernelEx underneath).
 *
 * stdout is deterministic (exact float arithmetic, no atomics), so
 * gpu-rtapi.sh compares it byte for byte with and without the shim and
 * checks the shim's launch count against `launches=`.
 * Exit status: 0 success, 77 no usable GPU, 1 any error.
 */
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

enum { N = 4096, STEPS = 150, SLICE = 16, SLOTS = 64 };

#define CK(call)                                                              \
    do {                                                                      \
        cudaError_t ck_e_ = (call);                                           \
        if (ck_e_ != cudaSuccess) {                                           \
            fprintf(stderr, "gpu_rtapi: %s:%d: %s failed: %s (%s)\n",         \
                    __FILE__, __LINE__, #call, cudaGetErrorName(ck_e_),       \
                    cudaGetErrorString(ck_e_));                               \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

static unsigned launches; /* every <<<>>> and cudaLaunchKernelEx issued */

/* Counts the launch and checks it; the count is what the shim must report. */
#define LAUNCH(kern, grid, block, stream, ...)                                \
    do {                                                                      \
        kern<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__);                  \
        launches++;                                                           \
        CK(cudaGetLastError());                                               \
    } while (0)

__global__ void rt_scale(float *x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] *= s;
}

/* y += a * x; with the values used every product and sum is exact. */
__global__ void rt_axpy(float *y, const float *x, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] += a * x[i];
}

/* A template, so the runtime registers a mangled name too. */
template <int K>
__global__ void rt_bump(int *slots, int step)
{
    int i = threadIdx.x;
    if (i < SLOTS && step % (i + 1) == 0)
        slots[i] += step * K + i;
}

/* out[i] = y[(tok + 17 i) % n]: the step's read-back depends on the token
 * the host uploaded, as a decode step depends on its input token. */
__global__ void rt_pick(float *out, const float *y, const int *tok, int n)
{
    int i = threadIdx.x;
    if (i < SLICE)
        out[i] = y[(tok[0] + 17 * i) % n];
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

int main()
{
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("gpu_rtapi: no usable GPU: %s: skipped\n",
               e != cudaSuccess ? cudaGetErrorName(e) : "cudaGetDeviceCount is 0");
        return 77;
    }
    CK(cudaSetDevice(0));

    /* a[i] = i/4, c = 0: later values are multiples of 1/16 below 2^20. */
    static float ha[N], hc[N];
    int hslots[SLOTS], hslots2[SLOTS];
    for (int i = 0; i < N; i++) {
        ha[i] = (float)i * 0.25f;
        hc[i] = 0.0f;
    }
    float *a, *c, *out;
    int *slots, *slots2, *tok;
    CK(cudaMalloc((void **)&a, sizeof ha));
    CK(cudaMalloc((void **)&c, sizeof hc));
    CK(cudaMalloc((void **)&out, SLICE * sizeof(float)));
    CK(cudaMalloc((void **)&slots, SLOTS * sizeof(int)));
    CK(cudaMalloc((void **)&slots2, SLOTS * sizeof(int)));
    CK(cudaMalloc((void **)&tok, sizeof(int)));
    CK(cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(c, hc, sizeof hc, cudaMemcpyHostToDevice));
    CK(cudaMemset(slots, 0, SLOTS * sizeof(int)));
    CK(cudaMemset(slots2, 0, SLOTS * sizeof(int)));

    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    int *tok_in;
    float *slice;
    CK(cudaMallocHost((void **)&tok_in, sizeof(int)));
    CK(cudaMallocHost((void **)&slice, SLICE * sizeof(float)));

    const unsigned gN = (N + 255) / 256;
    uint64_t readback = 0xcbf29ce484222325ull;
    for (int step = 0; step < STEPS; step++) {
        /* The previous step's synchronisation makes rewriting tok_in safe. */
        *tok_in = (step * 31 + 7) % N;
        CK(cudaMemcpyAsync(tok, tok_in, sizeof(int), cudaMemcpyHostToDevice, st));
        int nv = N - (step % 4) * 64; /* a grid that changes from step to step */
        LAUNCH(rt_scale, gN, 256, st, a, (step % 2) ? 2.0f : 0.5f, N);
        LAUNCH(rt_axpy, (unsigned)(nv + 255) / 256, 256, st, c, a, (step % 3) ? 0.5f : 1.0f, nv);
        LAUNCH(rt_bump<3>, 1, SLOTS, st, slots, step);
        LAUNCH(rt_bump<5>, 1, SLOTS, st, slots, step + 1);
        LAUNCH(rt_pick, 1, 32, st, out, c, tok, N);
        CK(cudaMemcpyAsync(slice, out, SLICE * sizeof(float), cudaMemcpyDeviceToHost, st));
        CK(cudaStreamSynchronize(st));
        readback = fnv1a(readback, slice, SLICE * sizeof(float));
    }

    /* The per-thread default stream: the runtime resolved the _ptsz
     * variants for it through cuGetProcAddress. */
    for (int k = 0; k < 3; k++)
        LAUNCH(rt_bump<7>, 1, SLOTS, cudaStreamPerThread, slots2, k);
    CK(cudaStreamSynchronize(cudaStreamPerThread));
    /* The legacy default stream, both as 0 and as its named handle. */
    for (int k = 3; k < 6; k++)
        LAUNCH(rt_bump<11>, 1, SLOTS, 0, slots2, k);
    LAUNCH(rt_bump<13>, 1, SLOTS, cudaStreamLegacy, slots2, 6);
    CK(cudaStreamSynchronize(0));

    /* cudaLaunchKernelEx, which reaches cuLaunchKernelEx. */
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(1);
    cfg.blockDim = dim3(SLOTS);
    cfg.stream = st;
    CK(cudaLaunchKernelEx(&cfg, rt_bump<17>, slots2, 60));
    launches++;
    CK(cudaStreamSynchronize(st));

    CK(cudaMemcpy(ha, a, sizeof ha, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hc, c, sizeof hc, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hslots, slots, sizeof hslots, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hslots2, slots2, sizeof hslots2, cudaMemcpyDeviceToHost));
    uint64_t mem = 0xcbf29ce484222325ull;
    mem = fnv1a(mem, ha, sizeof ha);
    mem = fnv1a(mem, hc, sizeof hc);
    mem = fnv1a(mem, hslots, sizeof hslots);
    mem = fnv1a(mem, hslots2, sizeof hslots2);
    double csum = 0.0;
    long long ssum = 0;
    for (int i = 0; i < N; i++)
        csum += hc[i];
    for (int i = 0; i < SLOTS; i++)
        ssum += hslots[i] + hslots2[i];

    printf("gpu_rtapi steps=%d readback=%016llx memory=%016llx c_sum=%.4f slot_sum=%lld\n",
           STEPS, (unsigned long long)readback, (unsigned long long)mem, csum, ssum);
    printf("launches=%u\n", launches);

    CK(cudaFreeHost(tok_in));
    CK(cudaFreeHost(slice));
    CK(cudaFree(a));
    CK(cudaFree(c));
    CK(cudaFree(out));
    CK(cudaFree(slots));
    CK(cudaFree(slots2));
    CK(cudaFree(tok));
    CK(cudaStreamDestroy(st));
    return 0;
}
