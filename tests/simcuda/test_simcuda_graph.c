/* test_simcuda_graph.c: the second suite of simcuda's own tests: stream
 * capture, graphs and their exec updates, and the machinery around the
 * entry points: cuGetProcAddress, failure injection, the call counters, and
 * the trace and verbose output.
 *
 * These are what graphshim leans on beyond plain driver semantics: it
 * captures and replays graphs, reaches the driver through cuGetProcAddress,
 * and its tests inject failures, count calls and compare traces. They make a
 * program of their own so that neither suite outgrows the size guideline;
 * test_simcuda.c has the rest, test_util.c the helpers both use. Scenarios
 * that need environment variables read at load time run in a re-executed
 * child of this program. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* ---------------------------------------------------------- capture, graphs */

static int host_node_runs;
static void host_node(void *user)
{
    (void)user;
    host_node_runs++;
}

static void test_capture(void **state)
{
    (void)state;
    CUstream s, s2;
    CUgraph g;
    CUgraphExec ex;
    CUstreamCaptureStatus st;
    OK(cuStreamCreate(&s, 0));
    OK(cuStreamCreate(&s2, CU_STREAM_NON_BLOCKING));
    CUdeviceptr y = dalloc(8 * sizeof(float));
    float *pin;
    OK(cuMemAllocHost((void **)&pin, 8 * sizeof(float)));
    OK(cuMemsetD32(y, 0, 8));
    FAILS(cuStreamBeginCapture(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    OK(cuStreamIsCapturing(s, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_ACTIVE);
    unsigned long long k0 = simcuda_graph_kernels();
    fill(s, y, 3.0f, 8, 1, 8);
    OK(cuMemsetD32Async(y, 0, 1, s));
    OK(cuMemcpyDtoHAsync(pin, y, 8 * sizeof(float), s));
    OK(cuLaunchHostFunc(s, host_node, NULL));
    FAILS(cuMemcpyDtoHAsync((float[8]){ 0 }, y, 8 * sizeof(float), s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    OK(cuStreamEndCapture(s, &g) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN);
    assert_null(g);

    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill(s, y, 3.0f, 8, 1, 8);
    OK(cuMemsetD32Async(y, 0, 1, s));
    OK(cuMemcpyDtoHAsync(pin, y, 8 * sizeof(float), s));
    OK(cuLaunchHostFunc(s, host_node, NULL));
    const CUgraphNode *deps;
    size_t nd;
    cuuint64_t id;
    CUgraph cg;
    OK(cuStreamGetCaptureInfo(s, &st, &id, &cg, &deps, NULL, &nd));
    assert_int_equal(nd, 1);
    OK(cuStreamEndCapture(s, &g));
    size_t nn = 0;
    OK(cuGraphGetNodes(g, NULL, &nn));
    assert_int_equal(nn, 4);
    assert_true(dget(y, 5) == 0.0f && host_node_runs == 0); /* nothing ran */
    OK(cuGraphInstantiate(&ex, g, 0));
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(pin[0] == 0.0f && pin[5] == 3.0f && host_node_runs == 1);
    assert_int_equal(simcuda_graph_kernels(), k0 + 1);
    OK(cuGraphExecDestroy(ex));
    OK(cuGraphDestroy(g));

    /* A synchronising call during capture fails and invalidates it. */
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    fill(s, y, 1.0f, 8, 1, 8);
    FAILS(cuStreamSynchronize(s), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    OK(cuStreamIsCapturing(s, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_INVALIDATED);
    FAILS(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
    assert_null(g);
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
    FAILS(cuCtxSynchronize(), CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
    FAILS(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);

    /* Fork and join through events; an unjoined fork fails. */
    CUevent fork, join;
    OK(cuEventCreate(&fork, 0));
    OK(cuEventCreate(&join, 0));
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    fill(s, y, 1.0f, 8, 1, 8);
    OK(cuEventRecord(fork, s));
    OK(cuStreamWaitEvent(s2, fork, 0));
    fill(s2, y + 16, 2.0f, 4, 1, 4);
    OK(cuEventRecord(join, s2));
    OK(cuStreamWaitEvent(s, join, 0));
    OK(cuStreamEndCapture(s, &g));
    OK(cuStreamIsCapturing(s2, &st));
    assert_int_equal(st, CU_STREAM_CAPTURE_STATUS_NONE);
    OK(cuGraphDestroy(g));
    OK(cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED));
    OK(cuEventRecord(fork, s));
    OK(cuStreamWaitEvent(s2, fork, 0));
    fill(s2, y, 2.0f, 4, 1, 4);
    FAILS(cuStreamEndCapture(s, &g), CUDA_ERROR_STREAM_CAPTURE_UNJOINED);
    OK(cuEventDestroy(fork));
    OK(cuEventDestroy(join));
    OK(cuMemFreeHost(pin));
    OK(cuMemFree(y));
    OK(cuStreamDestroy(s));
    OK(cuStreamDestroy(s2));
}

static void test_graph_api(void **state)
{
    (void)state;
    CUstream s;
    CUgraph g;
    CUgraphNode nk, nc, nm, ne;
    CUgraphExec ex;
    OK(cuStreamCreate(&s, 0));
    CUdeviceptr y = dalloc(16 * sizeof(float));
    float *pin, v = 5.0f;
    int n = 16;
    OK(cuMemAllocHost((void **)&pin, 16 * sizeof(float)));
    OK(cuMemsetD32(y, 0, 16));
    void *args[] = { &y, &v, &n };
    CUDA_KERNEL_NODE_PARAMS kp = { .func = K("sim_fill"), .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1,
                                   .blockDimX = 16, .blockDimY = 1, .blockDimZ = 1, .kernelParams = args };
    OK(cuGraphCreate(&g, 0));
    OK(cuGraphAddKernelNode(&nk, g, NULL, 0, &kp));
    v = 9.0f; /* arguments were copied when the node was added */
    CUDA_MEMSET_NODE_PARAMS mp = { .dst = y, .value = 0x3f800000u, .elementSize = 4, .width = 2, .height = 1 };
    OK(cuGraphAddMemsetNode(&nm, g, &nk, 1, &mp, primary));
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = y;
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = pin;
    cp.WidthInBytes = 16 * sizeof(float);
    cp.Height = cp.Depth = 1;
    OK(cuGraphAddMemcpyNode(&nc, g, &nm, 1, &cp, primary));
    OK(cuGraphAddEmptyNode(&ne, g, &nc, 1));
    FAILS(cuGraphAddEmptyNode(&ne, g, (CUgraphNode[]){ nc, nc }, 2), CUDA_ERROR_INVALID_VALUE);
    CUkernelNodeAttrValue av, got;
    memset(&av, 0, sizeof av);
    av.priority = -1;
    OK(cuGraphKernelNodeSetAttribute(nk, CU_LAUNCH_ATTRIBUTE_PRIORITY, &av));
    OK(cuGraphKernelNodeGetAttribute(nk, CU_LAUNCH_ATTRIBUTE_PRIORITY, &got));
    assert_int_equal(got.priority, -1);
    OK(cuGraphInstantiateWithFlags(&ex, g, 0));
    OK(cuGraphUpload(ex, s));
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(pin[0] == 1.0f && pin[1] == 1.0f && pin[2] == 5.0f && pin[15] == 5.0f);

    /* New arguments and grid take effect at the next launch only. */
    float v2 = 7.0f;
    void *args2[] = { &y, &v2, &n };
    kp.kernelParams = args2;
    kp.blockDimX = 4;
    OK(cuGraphLaunch(ex, s));
    OK(cuGraphExecKernelNodeSetParams(ex, nk, &kp));
    v2 = 8.0f;
    OK(cuStreamSynchronize(s));
    assert_true(pin[2] == 5.0f);
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(pin[3] == 7.0f && pin[4] == 5.0f);
    kp.func = K("sim_noop");
    FAILS(cuGraphExecKernelNodeSetParams(ex, nk, &kp), CUDA_ERROR_INVALID_VALUE);
    mp.width = 4;
    mp.value = 0;
    OK(cuGraphExecMemsetNodeSetParams(ex, nm, &mp, primary));
    cp.WidthInBytes = 4 * sizeof(float);
    OK(cuGraphExecMemcpyNodeSetParams(ex, nc, &cp, primary));
    pin[3] = -1.0f;
    OK(cuGraphLaunch(ex, s));
    OK(cuStreamSynchronize(s));
    assert_true(pin[0] == 0.0f && pin[3] == 0.0f);
    FAILS(cuGraphExecMemsetNodeSetParams(ex, nk, &mp, primary), CUDA_ERROR_INVALID_VALUE);
    CUgraphExecUpdateResultInfo info;
    OK(cuGraphExecUpdate(ex, g, &info));
    assert_int_equal(info.result, CU_GRAPH_EXEC_UPDATE_SUCCESS);
    OK(cuGraphDestroy(g));
    OK(cuGraphLaunch(ex, s)); /* an executable graph outlives its graph */
    OK(cuStreamSynchronize(s));
    FAILS(cuGraphExecKernelNodeSetParams(ex, nk, &kp), CUDA_ERROR_INVALID_VALUE);
    OK(cuGraphExecDestroy(ex));
    FAILS(cuGraphLaunch(ex, s), CUDA_ERROR_INVALID_VALUE);
    OK(cuMemFreeHost(pin));
    OK(cuMemFree(y));
    OK(cuStreamDestroy(s));
}

/* A buffer freed and allocated again with the same size comes back at the
 * same address, as on the real driver; a memcpy node with a host side whose
 * operand went through that crashes the launch (as the real driver does),
 * unless the node was set again. The crash runs in a child. */
static int child_freed_operand(void)
{
    CUstream s;
    CUgraph g;
    CUgraphNode nc;
    CUgraphExec ex;
    float *pin;
    CUdeviceptr y;
    if (cuInit(0) || cuDevicePrimaryCtxRetain(&primary, 0) || cuCtxSetCurrent(primary) ||
        cuStreamCreate(&s, 0) || cuMemAlloc(&y, 64) || cuMemAllocHost((void **)&pin, 64))
        return 2;
    CUDA_MEMCPY3D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = y;
    cp.dstMemoryType = CU_MEMORYTYPE_HOST;
    cp.dstHost = pin;
    cp.WidthInBytes = 64;
    cp.Height = cp.Depth = 1;
    if (cuGraphCreate(&g, 0) || cuGraphAddMemcpyNode(&nc, g, NULL, 0, &cp, primary) ||
        cuGraphInstantiateWithFlags(&ex, g, 0) || cuGraphLaunch(ex, s) || cuStreamSynchronize(s))
        return 3;
    CUdeviceptr old = y;
    if (cuMemFree(y) || cuMemAlloc(&y, 64) || y != old)
        return 4;
    if (getenv("SIM_TEST_SET_AGAIN") && cuGraphExecMemcpyNodeSetParams(ex, nc, &cp, primary))
        return 5;
    return cuGraphLaunch(ex, s) || cuStreamSynchronize(s) ? 6 : 0;
}

static void test_freed_operand(void **state)
{
    (void)state;
    CUdeviceptr a = dalloc(1000), b;
    OK(cuMemFree(a));
    OK(cuMemAlloc(&b, 1000));
    assert_true(b == a); /* same size: the same address again */
    OK(cuMemFree(b));
    OK(cuMemAlloc(&b, 5000));
    assert_true(b != a);
    OK(cuMemFree(b));
    assert_int_equal(run_child("--child-freed", NULL, NULL), 128); /* killed (abort) */
    assert_int_equal(run_child("--child-freed", "SIM_TEST_SET_AGAIN=1", NULL), 0);
}

/* ------------------------------------------------------- cuGetProcAddress */

static void *gpa(const char *sym, int ver, cuuint64_t flags, CUdriverProcAddressQueryResult *st)
{
    void *p = NULL;
    cuGetProcAddress(sym, &p, ver, flags, st);
    return p;
}

/* Every exported cu* name, read from the library's dynamic symbol table. */
static int exported_names(char names[][64], int max)
{
    Dl_info info;
    int n = 0;
    if (!dladdr((void *)cuInit, &info))
        return -1;
    FILE *f = fopen(info.dli_fname, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    unsigned char *b = malloc((size_t)len);
    rewind(f);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len)
        len = 0;
    fclose(f);
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
    const Elf64_Shdr *sh = len ? (const Elf64_Shdr *)(b + eh->e_shoff) : NULL;
    for (int i = 0; sh && i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(b + sh[i].sh_offset);
        const char *str = (const char *)(b + sh[sh[i].sh_link].sh_offset);
        for (size_t j = 0; j < sh[i].sh_size / sizeof *sym && n < max; j++)
            if (sym[j].st_shndx != SHN_UNDEF && !strncmp(str + sym[j].st_name, "cu", 2))
                snprintf(names[n++], 64, "%s", str + sym[j].st_name);
    }
    free(b);
    return n;
}

static void test_get_proc_address(void **state)
{
    (void)state;
    CUdriverProcAddressQueryResult st;
    void *self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(self);
    assert_ptr_equal(gpa("cuMemcpyHtoDAsync", 3000, 0, &st), dlsym(self, "cuMemcpyHtoDAsync"));
    assert_ptr_equal(gpa("cuMemcpyHtoDAsync", 3020, 0, &st), dlsym(self, "cuMemcpyHtoDAsync_v2"));
    assert_ptr_equal(gpa("cuMemcpyHtoDAsync", 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
                     dlsym(self, "cuMemcpyHtoDAsync_v2_ptsz"));
    assert_ptr_equal(gpa("cuLaunchKernel", 6050, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
                     dlsym(self, "cuLaunchKernel"));
    assert_ptr_equal(gpa("cuLaunchKernel", 7000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
                     dlsym(self, "cuLaunchKernel_ptsz"));
    assert_ptr_equal(gpa("cuLaunchKernel", 13000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st),
                     dlsym(self, "cuLaunchKernel"));
    assert_int_equal(st, CU_GET_PROC_ADDRESS_SUCCESS);
    assert_ptr_equal(gpa("cuGetProcAddress", 11030, 0, &st), dlsym(self, "cuGetProcAddress"));
    assert_ptr_equal(gpa("cuGetProcAddress", 12000, 0, &st), dlsym(self, "cuGetProcAddress_v2"));
    assert_ptr_equal(gpa("cuCtxSynchronize", 13000, 0, &st), dlsym(self, "cuCtxSynchronize_v2"));
    assert_null(gpa("cuLaunchKernelEx", 11030, 0, &st));
    assert_int_equal(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    assert_null(gpa("cuNoSuchFunction", 13000, 0, &st));
    assert_int_equal(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    assert_null(gpa("cuLaunchKernel_ptsz", 13000, 0, &st)); /* base names only */
    void *p;
    FAILS(cuGetProcAddress("cuInit", &p, 13000, 4, &st), CUDA_ERROR_INVALID_VALUE);

    /* Every exported entry point is what some request resolves to. */
    static char names[400][64];
    static const int versions[] = { 2000, 2010, 2020, 2030, 3000, 3020, 4000, 5000, 5050, 6000, 6050, 7000,
                                    9000, 9020, 10000, 10010, 10020, 11000, 11010, 11020, 11030, 11040,
                                    11060, 12000, 12030, 12040, 12050, 12080, 13000 };
    int n = exported_names(names, 400);
    assert_true(n > 150);
    for (int i = 0; i < n; i++) {
        char base[64];
        void *want = dlsym(self, names[i]), *hit = NULL;
        memcpy(base, names[i], sizeof base);
        char *suffix = strstr(base, "_pt");
        if (suffix)
            *suffix = '\0';
        char *v = strrchr(base, '_');
        if (v && v[1] == 'v')
            *v = '\0';
        for (size_t j = 0; j < sizeof versions / sizeof versions[0] && hit != want; j++)
            for (cuuint64_t fl = 0; fl < 3 && hit != want; fl += 2)
                hit = gpa(base, versions[j], fl, &st);
        if (hit != want)
            fail_msg("%s is not reachable through cuGetProcAddress(\"%s\")", names[i], base);
    }
    assert_int_equal(run_child("--child-hidden", "SIMCUDA_GPA_HIDDEN=1", NULL), 0);
}

static int child_hidden(void)
{
    void *self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    CUdriverProcAddressQueryResult st;
    Dl_info info;
    void *p = gpa("cuDriverGetVersion", 13000, 0, &st), *q = gpa("cuLaunchKernel", 13000, 2, &st);
    int v = 0;
    if (!p || p == dlsym(self, "cuDriverGetVersion") || !q || q == dlsym(self, "cuLaunchKernel_ptsz"))
        return 1;
    if (dladdr(p, &info) && info.dli_sname && !strncmp(info.dli_sname, "cu", 2))
        return 2;
    if (((CUresult(*)(int *))p)(&v) != CUDA_SUCCESS || v != 13000)
        return 3;
    return simcuda_calls("cuDriverGetVersion") == 1 ? 0 : 4;
}

/* ---------------------------------------------------- injection, counting */

static void test_fail_injection(void **state)
{
    (void)state;
    CUdeviceptr d = 0;
    size_t f0, f1, t;
    assert_int_equal(simcuda_fail("cuMemAlloc", 2, 2, CUDA_ERROR_OUT_OF_MEMORY), 0);
    OK(cuMemGetInfo(&f0, &t));
    CUdeviceptr a = dalloc(8);
    FAILS(cuMemAlloc(&d, 8), CUDA_ERROR_OUT_OF_MEMORY);
    FAILS(cuMemAlloc(&d, 8), CUDA_ERROR_OUT_OF_MEMORY);
    assert_int_equal(d, 0); /* a failed call has no effect */
    OK(cuMemGetInfo(&f1, &t));
    assert_int_equal(f0 - f1, 8);
    CUdeviceptr b = dalloc(8);
    simcuda_fail_clear();
    assert_int_equal(simcuda_fail("cuLaunchKernel", 1, 0, CUDA_ERROR_LAUNCH_FAILED), 0);
    int tag = 0;
    void *args[] = { &tag };
    FAILS(cuLaunchKernel_ptsz(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_LAUNCH_FAILED);
    FAILS(cuLaunchKernel(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_LAUNCH_FAILED);
    simcuda_fail_clear();
    assert_int_equal(simcuda_fail("=cuLaunchKernel_ptsz", 1, 1, CUDA_ERROR_UNKNOWN), 0);
    OK(cuLaunchKernel(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
    FAILS(cuLaunchKernel_ptsz(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_UNKNOWN);
    simcuda_fail_clear();
    assert_int_equal(simcuda_fail(NULL, 1, 1, CUDA_ERROR_UNKNOWN), -1);
    assert_int_equal(simcuda_fail("cuInit", 0, 1, CUDA_ERROR_UNKNOWN), -1);
    OK(cuMemFree(a));
    OK(cuMemFree(b));
    assert_int_equal(run_child("--child-fail", "SIMCUDA_FAIL=cuStreamCreate@2x1=2,cuStreamQuery", NULL), 0);
}

static int child_fail(void)
{
    CUdevice dev;
    CUcontext c;
    CUstream s1, s2, s3;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&c, dev) || cuCtxSetCurrent(c))
        return 1;
    if (cuStreamCreate(&s1, 0) != CUDA_SUCCESS || cuStreamCreate(&s2, 0) != CUDA_ERROR_OUT_OF_MEMORY ||
        cuStreamCreate(&s3, 0) != CUDA_SUCCESS)
        return 2;
    if (cuStreamQuery(s1) != CUDA_ERROR_UNKNOWN || cuStreamQuery(s1) != CUDA_SUCCESS)
        return 3;
    return 0;
}

static void test_calls(void **state)
{
    (void)state;
    unsigned long long q = simcuda_calls("cuStreamQuery"), lk = simcuda_calls("cuLaunchKernel"),
                       exact = simcuda_calls("=cuLaunchKernel"), pt = simcuda_calls("cuLaunchKernel_ptsz");
    FAILS(cuStreamQuery((CUstream)(uintptr_t)0x99), CUDA_ERROR_INVALID_HANDLE);
    launch_probe(NULL, 1, 0);
    assert_int_equal(simcuda_calls("cuStreamQuery"), q + 1);
    assert_int_equal(simcuda_calls("cuLaunchKernel"), lk + 1);
    assert_int_equal(simcuda_calls("=cuLaunchKernel"), exact);
    assert_int_equal(simcuda_calls("cuLaunchKernel_ptsz"), pt + 1);
    assert_int_equal(simcuda_calls("cuNothing"), 0);
}

/* ------------------------------------------------------------ trace, verbose */

static void test_trace_and_verbose(void **state)
{
    (void)state;
    char path[] = "/tmp/simcuda-trace-XXXXXX", errpath[64], line[4][256], env[64];
    int fd = mkstemp(path), n = 0;
    unsigned long long digest;
    assert_true(fd >= 0);
    close(fd);
    snprintf(errpath, sizeof errpath, "%s.err", path);
    snprintf(env, sizeof env, "SIMCUDA_TRACE=%s", path);
    assert_int_equal(run_child("--child-trace", env, "SIMCUDA_VERBOSE=1"), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (n < 4 && fgets(line[n], sizeof line[n], f))
        n++;
    fclose(f);
    assert_int_equal(n, 3);
    assert_int_equal(sscanf(line[0], "1 memset D32 grid=0,0,0 block=0,0,0 shmem=0 args=%16llx\n", &digest), 1);
    assert_int_equal(sscanf(line[1], "1 kernel sim_fill grid=2,1,1 block=32,1,1 shmem=0 args=%16llx\n", &digest), 1);
    assert_string_equal(line[1], line[2]); /* a graph's kernel traces as if launched on the stream */
    f = fopen(errpath, "r");
    assert_non_null(f);
    assert_non_null(fgets(line[0], sizeof line[0], f));
    fclose(f);
    assert_true(!strncmp(line[0], "simcuda: error: cuStreamSynchronize: ", 37));
    unlink(path);
    unlink(errpath);
}

static int child_trace(void)
{
    CUdevice dev;
    CUcontext c;
    CUstream s;
    CUgraph g;
    CUgraphExec ex;
    CUdeviceptr y;
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s.err", getenv("SIMCUDA_TRACE"));
    if (!freopen(errpath, "w", stderr))
        return 1;
    if (cuInit(0) || cuDeviceGet(&dev, 0) || cuDevicePrimaryCtxRetain(&c, dev) || cuCtxSetCurrent(c) ||
        cuModuleLoadData(&mod, "x") || cuStreamCreate(&s, 0) || cuMemAlloc(&y, 256))
        return 2;
    float v = 1.0f;
    int n = 64;
    void *args[] = { &y, &v, &n };
    CUfunction f = K("sim_fill");
    if (cuMemsetD32Async(y, 0, 64, s) || cuLaunchKernel(f, 2, 1, 1, 32, 1, 1, 0, s, args, NULL) ||
        cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_GLOBAL) ||
        cuLaunchKernel(f, 2, 1, 1, 32, 1, 1, 0, s, args, NULL) || cuStreamEndCapture(s, &g) ||
        cuGraphInstantiate(&ex, g, 0) || cuGraphLaunch(ex, s) || cuStreamSynchronize(s))
        return 3;
    if (cuStreamSynchronize((CUstream)(uintptr_t)0x42) != CUDA_ERROR_INVALID_HANDLE)
        return 4;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "--child-hidden"))
            return child_hidden();
        if (!strcmp(argv[1], "--child-fail"))
            return child_fail();
        if (!strcmp(argv[1], "--child-trace"))
            return child_trace();
        if (!strcmp(argv[1], "--child-freed"))
            return child_freed_operand();
        return 99;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_graph_api),
        cmocka_unit_test(test_freed_operand),
        cmocka_unit_test(test_get_proc_address),
        cmocka_unit_test(test_fail_injection),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_trace_and_verbose),
    };
    return cmocka_run_group_tests_name("test_simcuda_graph", tests, group_setup, NULL);
}
