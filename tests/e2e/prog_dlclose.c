/* prog_dlclose.c: opens libcuda, looks functions up, runs a little work and
 * closes it again, several times over, as plugins that load the driver on
 * demand do. Under the shim the lookups keep working and nothing crashes. */
#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define LOOK(h, name) ((__typeof__(&name))dlsym(h, #name))

int main(void)
{
    unsigned total = 0;
    for (int round = 0; round < 5; round++) {
        void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (h == NULL)
            return 3;
        __typeof__(&cuMemsetD32_v2) memset32 = LOOK(h, cuMemsetD32_v2);
        __typeof__(&cuMemcpyDtoH_v2) dtoh = LOOK(h, cuMemcpyDtoH_v2);
        __typeof__(&cuMemAlloc_v2) alloc = LOOK(h, cuMemAlloc_v2);
        __typeof__(&cuMemFree_v2) mfree = LOOK(h, cuMemFree_v2);
        CUcontext ctx;
        CUdeviceptr p;
        unsigned v = 0;
        if (LOOK(h, cuInit)(0) || LOOK(h, cuDevicePrimaryCtxRetain)(&ctx, 0) ||
            LOOK(h, cuCtxSetCurrent)(ctx) || alloc(&p, 4) || memset32(p, 7u + (unsigned)round, 1) ||
            dtoh(&v, p, 4) || mfree(p))
            return 1;
        total += v;
        if (dlclose(h) != 0)
            return 1;
    }
    printf("total=%u\n", total);
    return 0;
}
