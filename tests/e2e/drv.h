/* drv.h: driver entry points for the end-to-end test programs, obtained in
 * one of the three ways real programs obtain them (DESIGN.md section 2):
 * linked directly, dlopen + dlsym, or the way the CUDA runtime does it
 * (dlsym cuGetProcAddress_v2, ask it for "cuGetProcAddress", resolve every
 * other function through the pointer it returns). The same program can then
 * prove that the shim intercepts each path.
 */
#ifndef DRV_H
#define DRV_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <stdbool.h>

typedef enum { DRV_DIRECT, DRV_DLSYM, DRV_RUNTIME } drv_path_t;

/* Field names are the cuda.h names; types are those of the exact exported
 * variant each path resolves (the runtime path asks for per-thread variants
 * when `ptsz` is set, as a program built with --default-stream per-thread). */
typedef struct {
    __typeof__(&cuInit) Init;
    __typeof__(&cuDevicePrimaryCtxRetain) DevicePrimaryCtxRetain;
    __typeof__(&cuCtxSetCurrent) CtxSetCurrent;
    __typeof__(&cuModuleLoadData) ModuleLoadData;
    __typeof__(&cuModuleGetFunction) ModuleGetFunction;
    __typeof__(&cuMemAlloc_v2) MemAlloc;
    __typeof__(&cuMemFree_v2) MemFree;
    __typeof__(&cuMemAllocHost_v2) MemAllocHost;
    __typeof__(&cuMemFreeHost) MemFreeHost;
    __typeof__(&cuStreamCreate) StreamCreate;
    __typeof__(&cuStreamDestroy_v2) StreamDestroy;
    __typeof__(&cuStreamSynchronize) StreamSynchronize;
    __typeof__(&cuLaunchKernel) LaunchKernel;
    __typeof__(&cuLaunchKernelEx) LaunchKernelEx;
    __typeof__(&cuMemcpyHtoDAsync_v2) MemcpyHtoDAsync;
    __typeof__(&cuMemcpyDtoHAsync_v2) MemcpyDtoHAsync;
    __typeof__(&cuMemcpyDtoH_v2) MemcpyDtoH;
    __typeof__(&cuMemsetD32Async) MemsetD32Async;
    __typeof__(&cuCtxSynchronize) CtxSynchronize;
    __typeof__(&cuGetProcAddress_v2) GetProcAddress; /* runtime path, 12000+ */
    void *resolver; /* what the runtime path was given for "cuGetProcAddress" */
    void *launch;   /* the LaunchKernel pointer, for where-does-it-live checks */
} drv_t;

/* Fills `d` by `path`; prints the reason and returns false on failure. */
bool drv_load(drv_t *d, drv_path_t path, bool ptsz, int cuda_version);
/* Parses "direct", "dlsym" or "runtime". */
bool drv_parse_path(const char *s, drv_path_t *out);
/* Name of the object a function pointer lives in ("graphshim", "libcuda"
 * or "other"), to show which one a lookup handed out. */
const char *drv_owner(void *fn);
#include "ck.h"

#endif
