/* prog_threads.c: several threads decoding at once, for threads.sh: four
 * threads each on a stream of its own, one on its per-thread default stream
 * (the _ptsz entry points with stream 0), one on the legacy default stream.
 * Each thread's buffers are its own, so every thread's result is fixed
 * whatever the interleaving; the program prints them in thread order.
 *
 *   prog_threads [--steps=N]
 */
#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include "ck.h"

#include "simcuda.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 256
#define NT 6


static CUcontext ctx;
static CUmodule mod;
static int steps = 200;

typedef struct {
    int id;
    enum { OWN, PER_THREAD, LEGACY } kind;
    uint64_t result;
} worker_t;

/* The entry points a thread uses: per-thread ones for the _ptsz worker. */
typedef struct {
    __typeof__(&cuLaunchKernel) launch;
    __typeof__(&cuMemcpyDtoHAsync_v2) dtoh;
    __typeof__(&cuStreamSynchronize) sync;
} entry_t;

static void *worker(void *arg)
{
    worker_t *t = arg;
    snprintf(ck_context, sizeof ck_context, "thread %d", t->id);
    entry_t e = {cuLaunchKernel, cuMemcpyDtoHAsync_v2, cuStreamSynchronize};
    if (t->kind == PER_THREAD)
        e = (entry_t){cuLaunchKernel_ptsz, cuMemcpyDtoHAsync_v2_ptsz, cuStreamSynchronize_ptsz};
    CK(cuCtxSetCurrent(ctx));
    CUstream s = NULL;
    if (t->kind == OWN)
        CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CUfunction fill, axpy, scale, inc;
    CK(cuModuleGetFunction(&fill, mod, "sim_fill"));
    CK(cuModuleGetFunction(&axpy, mod, "sim_axpy"));
    CK(cuModuleGetFunction(&scale, mod, "sim_scale"));
    CK(cuModuleGetFunction(&inc, mod, "sim_inc_i32"));
    CUdeviceptr x, y, z, cnt;
    CK(cuMemAlloc_v2(&x, N * 4));
    CK(cuMemAlloc_v2(&y, N * 4));
    CK(cuMemAlloc_v2(&z, N * 4));
    CK(cuMemAlloc_v2(&cnt, 4));
    CK(cuMemsetD32_v2(y, 0, N));
    CK(cuMemsetD32_v2(cnt, 0, 1));
    int *pinned;
    CK(cuMemAllocHost_v2((void **)&pinned, sizeof(int)));
    uint64_t acc = 14695981039346656037ull;
    int n = N, one = 1;
    for (int step = 0; step < steps; step++) {
        float v = (float)(step % 7) + (float)t->id, a = 1.0f / (float)(1 + step % 5);
        float half = 0.5f;
        void *pf[] = {&x, &v, &n}, *pa[] = {&y, &x, &a, &n}, *ps[] = {&z, &y, &half, &n};
        void *pi[] = {&cnt, &one};
        CK(e.launch(fill, N / 64, 1, 1, 64, 1, 1, 0, s, pf, NULL));
        CK(e.launch(axpy, N / 64, 1, 1, 64, 1, 1, 0, s, pa, NULL));
        CK(e.launch(scale, N / 64, 1, 1, 64, 1, 1, 0, s, ps, NULL));
        CK(e.launch(inc, 1, 1, 1, 1, 1, 1, 0, s, pi, NULL));
        CK(e.dtoh(pinned, cnt, sizeof(int), s));
        CK(e.sync(s));
        acc = (acc ^ (uint64_t)*pinned) * 1099511628211ull;
    }
    float host[N];
    CK(cuCtxSynchronize());
    CK(cuMemcpyDtoH_v2(host, z, sizeof host));
    for (size_t i = 0; i < sizeof host; i++)
        acc = (acc ^ ((unsigned char *)host)[i]) * 1099511628211ull;
    t->result = acc;
    CK(cuMemFree_v2(x));
    CK(cuMemFree_v2(y));
    CK(cuMemFree_v2(z));
    CK(cuMemFree_v2(cnt));
    CK(cuMemFreeHost(pinned));
    if (s != NULL)
        CK(cuStreamDestroy_v2(s));
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = atoi(argv[i] + 8);
    worker_t w[NT];
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, "simcuda"));
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (worker_t){.id = i, .kind = i < 4 ? OWN : i == 4 ? PER_THREAD : LEGACY};
        if (pthread_create(&th[i], NULL, worker, &w[i]) != 0)
            return 1;
    }
    for (int i = 0; i < NT; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NT; i++)
        printf("thread %d (%s): %016llx\n", i,
               w[i].kind == OWN ? "own stream" : w[i].kind == PER_THREAD ? "per-thread" : "legacy",
               (unsigned long long)w[i].result);
    return 0;
}
