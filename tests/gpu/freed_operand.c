/* freed_operand.c: what the driver does when a graph node's operand is freed
 * and allocated again (at the same address, as the driver hands it back)
 * between two launches of an executable graph. graphshim's replay relies on
 * the answer (src/eng.h, gs_frees): memcpy nodes with a host side crash the
 * launch unless they are set again, and setting them again, unchanged, is
 * enough. tests/gpu/gpu-freed.sh runs every case in a process of its own.
 *
 *   freed_operand KIND MODE PTX
 *   KIND: htod-dev (host-to-device, device destination freed), dtoh-dev
 *         (device-to-host, device source freed), dtoh-host (device-to-host,
 *         page-locked destination freed), dtod (device-to-device, source
 *         freed), memset, kernel (a pointer argument freed)
 *   MODE: as-is (launch again untouched) or set-again (set the node's
 *         parameters again, unchanged, first)
 *
 * Prints "KIND MODE same-address=0|1 survived" and exits 0, or dies in the
 * launch; exits 1 on a driver error (CK), 77 without a usable GPU. */
#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck.h"

static CUDA_MEMCPY3D copy(CUmemorytype st, CUdeviceptr sd, void *sh, CUmemorytype dt,
                          CUdeviceptr dd, void *dh, size_t n)
{
    CUDA_MEMCPY3D c;
    memset(&c, 0, sizeof c);
    c.srcMemoryType = st;
    c.srcDevice = sd;
    c.srcHost = sh;
    c.dstMemoryType = dt;
    c.dstDevice = dd;
    c.dstHost = dh;
    c.WidthInBytes = n;
    c.Height = c.Depth = 1;
    return c;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: freed_operand KIND as-is|set-again PTX\n");
        return 2;
    }
    const char *kind = argv[1];
    int again = strcmp(argv[2], "set-again") == 0;
    CUdevice dev;
    CUcontext ctx;
    int ndev = 0;
    if (cuInit(0) != CUDA_SUCCESS || cuDeviceGetCount(&ndev) != CUDA_SUCCESS || ndev == 0)
        return 77;
    CK(cuDeviceGet(&dev, 0));
    CK(cuDevicePrimaryCtxRetain(&ctx, dev));
    CK(cuCtxSetCurrent(ctx));
    CUmodule mod;
    CUfunction fill;
    CK(cuModuleLoadData(&mod, ck_read_file(argv[3])));
    CK(cuModuleGetFunction(&fill, mod, "sim_fill"));

    const size_t n = 1024;
    CUdeviceptr a, b;
    void *h;
    CK(cuMemAlloc(&a, n));
    CK(cuMemAlloc(&b, n));
    CK(cuMemAllocHost(&h, n));
    float v = 1.5f;
    int cnt = (int)(n / sizeof(float));
    void *kp[] = {&a, &v, &cnt};
    CUDA_KERNEL_NODE_PARAMS_v2 k;
    memset(&k, 0, sizeof k);
    k.func = fill;
    k.gridDimX = k.gridDimY = k.gridDimZ = 1;
    k.blockDimX = 256;
    k.blockDimY = k.blockDimZ = 1;
    k.kernelParams = kp;
    CUDA_MEMSET_NODE_PARAMS m;
    memset(&m, 0, sizeof m);
    m.dst = a;
    m.value = 7;
    m.elementSize = 4;
    m.width = n / 4;
    m.height = 1;
    CUDA_MEMCPY3D c;
    /* Which operand is freed: 'a' (device), 'b' (device) or 'h' (host). */
    char freed = 'a';
    if (!strcmp(kind, "htod-dev"))
        c = copy(CU_MEMORYTYPE_HOST, 0, h, CU_MEMORYTYPE_DEVICE, a, NULL, n);
    else if (!strcmp(kind, "dtoh-dev"))
        c = copy(CU_MEMORYTYPE_DEVICE, a, NULL, CU_MEMORYTYPE_HOST, 0, h, n);
    else if (!strcmp(kind, "dtoh-host")) {
        c = copy(CU_MEMORYTYPE_DEVICE, b, NULL, CU_MEMORYTYPE_HOST, 0, h, n);
        freed = 'h';
    } else if (!strcmp(kind, "dtod"))
        c = copy(CU_MEMORYTYPE_DEVICE, a, NULL, CU_MEMORYTYPE_DEVICE, b, NULL, n);
    else if (strcmp(kind, "memset") != 0 && strcmp(kind, "kernel") != 0) {
        fprintf(stderr, "unknown kind %s\n", kind);
        return 2;
    }

    CUgraph g;
    CUgraphNode node;
    CUgraphExec e;
    CUstream s;
    CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    CK(cuGraphCreate(&g, 0));
    if (!strcmp(kind, "memset"))
        CK(cuGraphAddMemsetNode(&node, g, NULL, 0, &m, ctx));
    else if (!strcmp(kind, "kernel"))
        CK(cuGraphAddKernelNode_v2(&node, g, NULL, 0, &k));
    else
        CK(cuGraphAddMemcpyNode(&node, g, NULL, 0, &c, ctx));
    CK(cuGraphInstantiateWithFlags(&e, g, 0));
    CK(cuGraphLaunch(e, s));
    CK(cuStreamSynchronize(s));

    int same;
    if (freed == 'h') {
        void *old = h;
        CK(cuMemFreeHost(h));
        CK(cuMemAllocHost(&h, n));
        same = h == old;
    } else {
        CUdeviceptr old = a;
        CK(cuMemFree(a));
        CK(cuMemAlloc(&a, n));
        same = a == old;
    }
    if (again) {
        if (!strcmp(kind, "memset"))
            CK(cuGraphExecMemsetNodeSetParams(e, node, &m, ctx));
        else if (!strcmp(kind, "kernel"))
            CK(cuGraphExecKernelNodeSetParams_v2(e, node, &k));
        else
            CK(cuGraphExecMemcpyNodeSetParams(e, node, &c, ctx));
    }
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        CK(cuGraphLaunch(e, s));
        CK(cuStreamSynchronize(s));
    }
    printf("%s %s same-address=%d survived\n", kind, argv[2], same);
    return 0;
}
