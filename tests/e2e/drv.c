/* drv.c: loads driver entry points by one of the three paths (see drv.h). */
#include "config.h"
#include "drv.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool drv_parse_path(const char *s, drv_path_t *out)
{
    static const char *const names[] = {"direct", "dlsym", "runtime"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return *out = (drv_path_t)i, true;
    return false;
}

const char *drv_owner(void *fn)
{
    Dl_info info;
    if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL)
        return "other";
    /* By file name only: the build directory may itself be "graphshim-x.y". */
    const char *base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    if (strncmp(base, "libgraphshim", 12) == 0)
        return "graphshim";
    if (strncmp(base, "libcuda", 7) == 0)
        return "libcuda";
    return "other";
}

#define ALL_FIELDS(X)                                                        \
    X(Init, cuInit, cuInit)                                                  \
    X(DevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain) \
    X(CtxSetCurrent, cuCtxSetCurrent, cuCtxSetCurrent)                       \
    X(ModuleLoadData, cuModuleLoadData, cuModuleLoadData)                    \
    X(ModuleGetFunction, cuModuleGetFunction, cuModuleGetFunction)           \
    X(MemAlloc, cuMemAlloc_v2, cuMemAlloc)                                   \
    X(MemFree, cuMemFree_v2, cuMemFree)                                      \
    X(MemAllocHost, cuMemAllocHost_v2, cuMemAllocHost)                       \
    X(MemFreeHost, cuMemFreeHost, cuMemFreeHost)                             \
    X(StreamCreate, cuStreamCreate, cuStreamCreate)                          \
    X(StreamDestroy, cuStreamDestroy_v2, cuStreamDestroy)                    \
    X(StreamSynchronize, cuStreamSynchronize, cuStreamSynchronize)           \
    X(LaunchKernel, cuLaunchKernel, cuLaunchKernel)                          \
    X(LaunchKernelEx, cuLaunchKernelEx, cuLaunchKernelEx)                    \
    X(MemcpyHtoDAsync, cuMemcpyHtoDAsync_v2, cuMemcpyHtoDAsync)              \
    X(MemcpyDtoHAsync, cuMemcpyDtoHAsync_v2, cuMemcpyDtoHAsync)              \
    X(MemcpyDtoH, cuMemcpyDtoH_v2, cuMemcpyDtoH)                             \
    X(MemsetD32Async, cuMemsetD32Async, cuMemsetD32Async)                    \
    X(CtxSynchronize, cuCtxSynchronize, cuCtxSynchronize)

static bool load_direct(drv_t *d)
{
#define X(field, exported, base) d->field = exported;
    ALL_FIELDS(X)
#undef X
    return true;
}

static bool load_dlsym(drv_t *d)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("no driver: %s\n", dlerror());
        return false;
    }
#define X(field, exported, base)                                             \
    if ((*(void **)&d->field = dlsym(h, #exported)) == NULL) {               \
        printf("dlsym(%s) failed\n", #exported);                             \
        return false;                                                        \
    }
    ALL_FIELDS(X)
#undef X
    return true;
}

/* What libcudart does: only cuGetProcAddress_v2 comes from dlsym. */
static bool load_runtime(drv_t *d, bool ptsz, int ver)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("no driver: %s\n", dlerror());
        return false;
    }
    __typeof__(&cuGetProcAddress_v2) boot =
        (__typeof__(&cuGetProcAddress_v2))dlsym(h, "cuGetProcAddress_v2");
    CUdriverProcAddressQueryResult st;
    void *p = NULL;
    if (boot == NULL || boot("cuGetProcAddress", &p, ver, 0, &st) != CUDA_SUCCESS ||
        p == NULL) {
        printf("cuGetProcAddress bootstrap failed\n");
        return false;
    }
    d->resolver = p;
    cuuint64_t pt = ptsz ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
                         : CU_GET_PROC_ADDRESS_DEFAULT;
    /* Below 12000 the driver hands back the 4-argument cuGetProcAddress;
     * everything else is then looked up at 12000 (cuLaunchKernelEx is
     * newer than 11030). */
    __typeof__(&cuGetProcAddress) v1 = ver < 12000 ? (__typeof__(&cuGetProcAddress))p : NULL;
    d->GetProcAddress = ver < 12000 ? NULL : (__typeof__(&cuGetProcAddress_v2))p;
    int lver = ver < 12000 ? 12000 : ver;
#define X(field, exported, base)                                             \
    if ((v1 ? v1(#base, (void **)&d->field, lver, pt)                        \
            : d->GetProcAddress(#base, (void **)&d->field, lver, pt, &st)) != \
            CUDA_SUCCESS || d->field == NULL) {                              \
        printf("cuGetProcAddress(%s) failed\n", #base);                      \
        return false;                                                        \
    }
    ALL_FIELDS(X)
#undef X
    return true;
}

bool drv_load(drv_t *d, drv_path_t path, bool ptsz, int ver)
{
    memset(d, 0, sizeof *d);
    bool ok = path == DRV_DIRECT  ? load_direct(d)
              : path == DRV_DLSYM ? load_dlsym(d)
                                  : load_runtime(d, ptsz, ver);
    d->launch = *(void **)&d->LaunchKernel;
    return ok;
}
