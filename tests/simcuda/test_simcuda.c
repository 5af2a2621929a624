/* test_simcuda.c: tests of simcuda itself, linked directly against it.
 *
 * The shim's end-to-end tests are only as good as the simulated driver they
 * run on, so this suite pins down the behaviour they rely on: memory and
 * copy timing (deferred execution, pinned vs pageable sources), strictness
 * (handles, sticky faults, CUkernel vs CUfunction), parameter layouts,
 * kernels that honour their grids, streams and events, per-thread streams,
 * capture, graphs and their exec updates, cuGetProcAddress, failure
 * injection, the trace and call counters. Scenarios that need environment
 * variables read at load time run in a re-executed child of this program. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simcuda.h"

/* Per-thread entry points, which cuda.h declares only to the driver itself
 * (or under CUDA_API_PER_THREAD_DEFAULT_STREAM, under other names). */
CUresult CUDAAPI cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
                                     unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
                                     CUstream hStream, void **kernelParams, void **extra);
CUresult CUDAAPI cuStreamGetId_ptsz(CUstream hStream, unsigned long long *streamId);

#define OK(call) assert_int_equal((call), CUDA_SUCCESS)
#define FAILS(call, code) assert_int_equal((call), (code))

static CUcontext primary;
static CUmodule mod;

static CUfunction K(const char *name)
{
    CUfunction f;
    OK(cuModuleGetFunction(&f, mod, name));
    return f;
}

static CUdeviceptr dalloc(size_t bytes)
{
    CUdeviceptr d;
    OK(cuMemAlloc(&d, bytes));
    return d;
}

static void fill(CUstream s, CUdeviceptr y, float v, int n, unsigned grid, unsigned block)
{
    void *args[] = { &y, &v, &n };
    OK(cuLaunchKernel(K("sim_fill"), grid, 1, 1, block, 1, 1, 0, s, args, NULL));
}

static float dget(CUdeviceptr p, int i)
{
    float v;
    OK(cuMemcpyDtoH(&v, p + (CUdeviceptr)i * sizeof(float), sizeof v));
    return v;
}

/* A kernel that records how it was launched. */
static simcuda_launch_t probe_seen;
static int probe_arg;
static void probe_kernel(const simcuda_launch_t *L, void *const *args)
{
    probe_seen = *L;
    probe_arg = *(const int *)args[0];
}

/* Runs this program again with `env` set and argv[1] = `scenario`; returns
 * its exit status. */
static int run_child(const char *scenario, const char *env1, const char *env2)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char *e1 = env1 ? strdup(env1) : NULL, *e2 = env2 ? strdup(env2) : NULL;
        if (e1)
            putenv(e1);
        if (e2)
            putenv(e2);
        execl("/proc/self/exe", "test_simcuda", scenario, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int group_setup(void **state)
{
    (void)state;
    static const size_t sz[] = { sizeof(int) };
    CUdevice dev;
    if (simcuda_register_kernel("t_probe", probe_kernel, 1, sz) != 0 || cuInit(0) || cuDeviceGet(&dev, 0) ||
        cuDevicePrimaryCtxRetain(&primary, dev) || cuCtxSetCurrent(primary) || cuModuleLoadData(&mod, "x"))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_device(void **state)
{
    (void)state;
    int v, n;
    char name[64];
    OK(cuDriverGetVersion(&v));
    assert_int_equal(v, 13000);
    OK(cuDeviceGetCount(&n));
    assert_int_equal(n, 1);
    OK(cuDeviceGetName(name, sizeof name, 0));
    assert_string_equal(name, "simcuda device");
    OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0));
    assert_int_equal(v, 9);
    OK(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
    assert_int_equal(v, 132);
    FAILS(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_MAX, 0), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuDeviceGet((CUdevice *)&v, 1), CUDA_ERROR_INVALID_DEVICE);
    const char *s;
    OK(cuGetErrorName(CUDA_ERROR_INVALID_HANDLE, &s));
    assert_string_equal(s, "CUDA_ERROR_INVALID_HANDLE");
    OK(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &s));
    assert_string_equal(s, "an illegal memory access was encountered");
    FAILS(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
}

static void test_memory(void **state)
{
    (void)state;
    size_t free0, free1, total;
    OK(cuMemGetInfo(&free0, &total));
    CUdeviceptr a = dalloc(1000), b = dalloc(1000);
    OK(cuMemGetInfo(&free1, &total));
    assert_int_equal(free0 - free1, 2000);
    assert_true(a % 256 == 0 && b > a + 1000);
    unsigned char in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = (unsigned char)i;
    OK(cuMemcpyHtoD(a, in, 1000));
    OK(cuMemcpyDtoD(b, a, 1000));
    OK(cuMemcpyDtoH(out, b, 1000));
    assert_memory_equal(in, out, 1000);
    OK(cuMemcpy((CUdeviceptr)(uintptr_t)out, a + 10, 10)); /* unified: device to host */
    assert_memory_equal(out, in + 10, 10);
    OK(cuMemsetD8(a, 0xab, 3));
    OK(cuMemsetD16(a + 4, 0x1234, 2));
    OK(cuMemsetD32Async(a + 8, 0xdeadbeef, 1, NULL));
    OK(cuMemcpyDtoH(out, a, 12));
    uint16_t u16;
    uint32_t u32;
    memcpy(&u16, out + 6, 2);
    memcpy(&u32, out + 8, 4);
    assert_true(out[0] == 0xab && out[2] == 0xab && out[3] == 3 && u16 == 0x1234 && u32 == 0xdeadbeef);
    FAILS(cuMemsetD32(a + 2, 0, 1), CUDA_ERROR_INVALID_VALUE);          /* misaligned */
    FAILS(cuMemcpyHtoD(a + 990, in, 20), CUDA_ERROR_INVALID_VALUE);     /* past the end */
    FAILS(cuMemcpyDtoH(out, a + 1000 + 16, 4), CUDA_ERROR_INVALID_VALUE); /* in the gap */
    CUdeviceptr base;
    size_t size;
    OK(cuMemGetAddressRange(&base, &size, a + 17));
    assert_true(base == a && size == 1000);

    /* Pointer attributes: device, page-locked, pageable. */
    unsigned type;
    void *pinned;
    OK(cuMemAllocHost(&pinned, 64));
    OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, a));
    assert_int_equal(type, CU_MEMORYTYPE_DEVICE);
    OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)pinned + 8));
    assert_int_equal(type, CU_MEMORYTYPE_HOST);
    FAILS(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)in),
          CUDA_ERROR_INVALID_VALUE);
    OK(cuMemHostRegister(in, sizeof in, 0));
    FAILS(cuMemHostRegister(in + 10, 10, 0), CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
    OK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr)(uintptr_t)in));
    assert_int_equal(type, CU_MEMORYTYPE_HOST);
    OK(cuMemHostUnregister(in));
    FAILS(cuMemHostUnregister(in), CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    unsigned flags;
    void *wc;
    OK(cuMemHostAlloc(&wc, 16, CU_MEMHOSTALLOC_PORTABLE));
    OK(cuMemHostGetFlags(&flags, wc));
    assert_int_equal(flags, CU_MEMHOSTALLOC_PORTABLE);
    FAILS(cuMemFreeHost(in), CUDA_ERROR_INVALID_VALUE);
    OK(cuMemFreeHost(wc));
    OK(cuMemFreeHost(pinned));
    OK(cuMemFree(a));
    FAILS(cuMemFree(a), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuMemcpyDtoH(out, a, 4), CUDA_ERROR_INVALID_VALUE);
    OK(cuMemFree(b));
}

/* Work runs at synchronisation; page-locked sources are read then,
 * pageable ones at the call; pinned destinations are written then. */
static void test_deferred(void **state)
{
    (void)state;
    CUstream s;
    OK(cuStreamCreate(&s, 0));
    CUdeviceptr d = dalloc(2 * sizeof(int));
    int *pin, pageable = 1, back[2];
    OK(cuMemAllocHost((void **)&pin, 2 * sizeof(int)));
    pin[0] = 1;
    OK(cuMemcpyHtoDAsync(d, pin, sizeof(int), s));
    OK(cuMemcpyHtoDAsync(d + sizeof(int), &pageable, sizeof(int), s));
    pin[0] = 2;
    pageable = 2;
    OK(cuStreamSynchronize(s));
    OK(cuMemcpyDtoH(back, d, sizeof back));
    assert_int_equal(back[0], 2); /* read when the copy ran */
    assert_int_equal(back[1], 1); /* copied at the call */

    /* A DtoH into pinned memory lands at synchronisation, not before. */
    pin[1] = -1;
    OK(cuMemcpyDtoHAsync(&pin[1], d, sizeof(int), s));
    assert_int_equal(pin[1], -1);
    OK(cuStreamQuery(s));
    assert_int_equal(pin[1], 2);
    /* Into pageable memory the call itself synchronises. */
    int now = 0;
    fill(s, d, 0.0f, 1, 1, 1);
    OK(cuMemcpyDtoHAsync(&now, d + sizeof(int), sizeof(int), s));
    assert_int_equal(now, 1);
    /* A kernel is not run before synchronisation. */
    CUdeviceptr f = dalloc(sizeof(float));
    OK(cuMemsetD32(f, 0, 1));
    unsigned long long before = simcuda_eager_kernels();
    fill(s, f, 5.0f, 1, 1, 1);
    assert_int_equal(simcuda_eager_kernels(), before);
    assert_true(dget(f, 0) == 5.0f); /* cuMemcpyDtoH synchronises */
    /* More than 4096 pending commands run without a synchronisation. */
    before = simcuda_eager_kernels();
    for (int i = 0; i < 5000; i++)
        fill(s, f, 1.0f, 1, 1, 1);
    assert_true(simcuda_eager_kernels() > before);
    OK(cuStreamSynchronize(s));
    OK(cuMemFreeHost(pin));
    OK(cuMemFree(d));
    OK(cuMemFree(f));
    OK(cuStreamDestroy(s));
}

static void test_strict(void **state)
{
    (void)state;
    CUstream s;
    CUevent e;
    CUfunction fn;
    OK(cuStreamCreate(&s, 0));
    OK(cuEventCreate(&e, 0));
    OK(cuStreamDestroy(s));
    OK(cuEventDestroy(e));
    FAILS(cuStreamSynchronize(s), CUDA_ERROR_INVALID_HANDLE);
    FAILS(cuEventRecord(e, NULL), CUDA_ERROR_INVALID_HANDLE);
    FAILS(cuStreamSynchronize((CUstream)(uintptr_t)0x1234), CUDA_ERROR_INVALID_HANDLE);
    FAILS(cuModuleGetFunction(&fn, mod, "no_such_kernel"), CUDA_ERROR_NOT_FOUND);
    FAILS(cuLaunchKernel((CUfunction)e, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_HANDLE);
    CUdeviceptr y = dalloc(64);
    float v = 1;
    int n = 16;
    void *args[] = { &y, &v, &n };
    FAILS(cuLaunchKernel(K("sim_fill"), 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuLaunchKernel(K("sim_fill"), 0, 1, 1, 1, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuLaunchKernel(K("sim_fill"), 1, 1, 1, 2048, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuLaunchKernel(K("sim_fill"), 1, 1, 1, 1, 1, 1, 65536, NULL, args, NULL), CUDA_ERROR_INVALID_VALUE);
    unsigned char buf[16] = { 0 };
    size_t bad = 12;
    void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &bad, CU_LAUNCH_PARAM_END };
    FAILS(cuLaunchKernel(K("sim_fill"), 1, 1, 1, 1, 1, 1, 0, NULL, NULL, extra), CUDA_ERROR_INVALID_VALUE);
    FAILS(cuCtxDestroy(primary), CUDA_ERROR_INVALID_CONTEXT);
    OK(cuMemFree(y));
}

static void test_illegal_address_is_sticky(void **state)
{
    (void)state;
    CUcontext c;
    CUmodule m;
    CUfunction f, other = K("sim_fill");
    OK(cuCtxCreate(&c, NULL, 0, 0));
    OK(cuModuleLoadData(&m, "x"));
    OK(cuModuleGetFunction(&f, m, "sim_fill"));
    CUdeviceptr y = dalloc(16);
    float v = 1.0f;
    int n = 4;
    void *args[] = { &y, &v, &n };
    FAILS(cuLaunchKernel(other, 1, 1, 1, 4, 1, 1, 0, NULL, args, NULL), CUDA_ERROR_INVALID_CONTEXT);
    OK(cuMemFree(y));
    OK(cuLaunchKernel(f, 1, 1, 1, 4, 1, 1, 0, NULL, args, NULL)); /* launches fine, faults when it runs */
    FAILS(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    FAILS(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    FAILS(cuStreamSynchronize(NULL), CUDA_ERROR_ILLEGAL_ADDRESS);
    OK(cuCtxDestroy(c));
    CUcontext cur;
    OK(cuCtxGetCurrent(&cur));
    assert_ptr_equal(cur, primary);
    OK(cuCtxSynchronize());
    FAILS(cuCtxSetCurrent(c), CUDA_ERROR_INVALID_CONTEXT);
}

/* The runtime hands CUkernel handles to cuLaunchKernel; the function
 * queries reject them, the kernel queries accept them. */
static void test_kernel_vs_function(void **state)
{
    (void)state;
    CUlibrary lib;
    CUkernel k;
    CUfunction f;
    size_t off, size;
    const char *name;
    OK(cuLibraryLoadData(&lib, "x", NULL, NULL, 0, NULL, NULL, 0));
    OK(cuLibraryGetKernel(&k, lib, "sim_affine"));
    FAILS(cuFuncGetParamInfo((CUfunction)k, 0, &off, &size), CUDA_ERROR_INVALID_HANDLE);
    FAILS(cuFuncGetName(&name, (CUfunction)k), CUDA_ERROR_INVALID_HANDLE);
    OK(cuKernelGetName(&name, k));
    assert_string_equal(name, "sim_affine");
    OK(cuKernelGetFunction(&f, k));
    FAILS(cuKernelGetParamInfo((CUkernel)f, 0, &off, &size), CUDA_ERROR_INVALID_HANDLE);
    OK(cuFuncGetParamInfo(f, 2, &off, &size));
    assert_true(off == 16 && size == 8);
    CUdeviceptr y = dalloc(4 * sizeof(float));
    sim_affine_t p = { 2.0f, 1.0f };
    int n = 4;
    void *args[] = { &y, &y, &p, &n };
    OK(cuMemsetD32(y, 0, 4));
    OK(cuLaunchKernel((CUfunction)k, 1, 1, 1, 4, 1, 1, 0, NULL, args, NULL));
    assert_true(dget(y, 3) == 1.0f);

    /* A graph node may name it only through `kern`. */
    CUgraph g;
    CUgraphNode node;
    CUDA_KERNEL_NODE_PARAMS kp = { .func = (CUfunction)k, .gridDimX = 1, .gridDimY = 1, .gridDimZ = 1,
                                   .blockDimX = 4, .blockDimY = 1, .blockDimZ = 1, .kernelParams = args };
    OK(cuGraphCreate(&g, 0));
    FAILS(cuGraphAddKernelNode(&node, g, NULL, 0, &kp), CUDA_ERROR_INVALID_HANDLE);
    kp.func = NULL;
    kp.kern = k;
    OK(cuGraphAddKernelNode(&node, g, NULL, 0, &kp));
    OK(cuGraphDestroy(g));
    OK(cuLibraryUnload(lib));
    FAILS(cuKernelGetName(&name, k), CUDA_ERROR_INVALID_HANDLE);
    OK(cuMemFree(y));
}

static void test_param_layout(void **state)
{
    (void)state;
    static const size_t sizes[] = { 4, 8, 2, 1, 12, 4, 6 };
    static const size_t want[] = { 0, 8, 16, 18, 24, 36, 40 };
    size_t off, size;
    assert_int_equal(simcuda_register_kernel("t_layout", probe_kernel, 7, sizes), 0);
    assert_int_equal(simcuda_register_kernel("t_layout", probe_kernel, 6, sizes), -1);
    CUfunction f = K("t_layout");
    for (size_t i = 0; i < 7; i++) {
        OK(cuFuncGetParamInfo(f, i, &off, &size));
        assert_true(off == want[i] && size == sizes[i]);
    }
    FAILS(cuFuncGetParamInfo(f, 7, &off, &size), CUDA_ERROR_INVALID_VALUE);
    OK(cuFuncGetParamInfo(K("sim_wide"), 1, &off, &size));
    assert_true(off == 8 && size == sizeof(sim_wide_t));

    /* `extra` with the whole buffer is equivalent to kernelParams. */
    CUdeviceptr y = dalloc(64 * sizeof(float));
    struct { CUdeviceptr y; sim_wide_t w; } buf;
    buf.y = y;
    for (int i = 0; i < 64; i++)
        buf.w.v[i] = (float)i;
    size_t bs = sizeof buf;
    void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, &buf, CU_LAUNCH_PARAM_BUFFER_SIZE, &bs, CU_LAUNCH_PARAM_END };
    OK(cuLaunchKernel(K("sim_wide"), 2, 1, 1, 32, 1, 1, 0, NULL, NULL, extra));
    assert_true(dget(y, 63) == 63.0f);
    OK(cuMemFree(y));
}

static void attn_run(CUdeviceptr out, CUdeviceptr q, CUdeviceptr kc, CUdeviceptr vc, int p, unsigned grid)
{
    int n = 4;
    void *args[] = { &out, &q, &kc, &vc, &p, &n };
    OK(cuLaunchKernel(K("sim_attn"), grid, 1, 1, 32, 1, 1, 0, NULL, args, NULL));
}

static void test_kernels_honour_grid(void **state)
{
    (void)state;
    CUdeviceptr y = dalloc(100 * sizeof(float));
    OK(cuMemsetD32(y, 0, 100));
    fill(NULL, y, 3.0f, 100, 1, 32);
    assert_true(dget(y, 31) == 3.0f && dget(y, 32) == 0.0f);
    fill(NULL, y, 4.0f, 100, 4, 32);
    assert_true(dget(y, 99) == 4.0f);

    /* Attention over p+1 positions vs a stale, shorter grid. */
    float kv[16], q[4] = { 1, 0, 0.5f, 0 }, o1[4], o2[4];
    for (int i = 0; i < 16; i++)
        kv[i] = (float)(i % 5) * 0.3f;
    CUdeviceptr dq = dalloc(sizeof q), dk = dalloc(sizeof kv), out = dalloc(sizeof o1);
    OK(cuMemcpyHtoD(dq, q, sizeof q));
    OK(cuMemcpyHtoD(dk, kv, sizeof kv));
    attn_run(out, dq, dk, dk, 3, 4);
    OK(cuMemcpyDtoH(o1, out, sizeof o1));
    attn_run(out, dq, dk, dk, 3, 2);
    OK(cuMemcpyDtoH(o2, out, sizeof o2));
    assert_memory_not_equal(o1, o2, sizeof o1);

    /* gemv: one thread per row. */
    float W[6] = { 1, 2, 3, 4, 5, 6 }, x[3] = { 1, 1, 1 }, r[2];
    CUdeviceptr dW = dalloc(sizeof W), dx = dalloc(sizeof x), dr = dalloc(sizeof r);
    int rows = 2, cols = 3;
    OK(cuMemcpyHtoD(dW, W, sizeof W));
    OK(cuMemcpyHtoD(dx, x, sizeof x));
    OK(cuMemsetD32(dr, 0, 2));
    void *gargs[] = { &dr, &dW, &dx, &rows, &cols };
    OK(cuLaunchKernel(K("sim_gemv"), 1, 1, 1, 1, 1, 1, 0, NULL, gargs, NULL));
    OK(cuMemcpyDtoH(r, dr, sizeof r));
    assert_true(r[0] == 6.0f && r[1] == 0.0f);
    OK(cuLaunchKernel(K("sim_gemv"), 1, 1, 1, 2, 1, 1, 0, NULL, gargs, NULL));
    OK(cuMemcpyDtoH(r, dr, sizeof r));
    assert_true(r[1] == 15.0f);

    /* Single-block reductions and scalar kernels. */
    float lg[5] = { 0.1f, 2.0f, -1.0f, 2.0f, 0.5f };
    int ints[4] = { 0, 0, 10, 0 }; /* argmax, token, position, counter */
    CUdeviceptr dl = dalloc(sizeof lg), di = dalloc(sizeof ints);
    OK(cuMemcpyHtoD(dl, lg, sizeof lg));
    OK(cuMemcpyHtoD(di, ints, sizeof ints));
    int nl = 5, vocab = 256, one = 1;
    CUdeviceptr am = di, tok = di + 4, pos = di + 8;
    void *aa[] = { &am, &dl, &nl }, *na[] = { &tok, &am, &pos, &vocab }, *ia[] = { &pos, &one }, *sa[] = { &dl, &nl };
    OK(cuLaunchKernel(K("sim_argmax"), 1, 1, 1, 32, 1, 1, 0, NULL, aa, NULL));
    OK(cuLaunchKernel(K("sim_next_token"), 1, 1, 1, 1, 1, 1, 0, NULL, na, NULL));
    OK(cuLaunchKernel(K("sim_inc_i32"), 1, 1, 1, 1, 1, 1, 0, NULL, ia, NULL));
    OK(cuLaunchKernel(K("sim_softmax"), 1, 1, 1, 32, 1, 1, 0, NULL, sa, NULL));
    OK(cuMemcpyDtoH(ints, di, sizeof ints));
    OK(cuMemcpyDtoH(lg, dl, sizeof lg));
    assert_int_equal(ints[0], 1);
    assert_int_equal(ints[1], (1 + 10 * 7919) % 256);
    assert_int_equal(ints[2], 11);
    assert_float_equal(lg[0] + lg[1] + lg[2] + lg[3] + lg[4], 1.0f, 1e-6);
    CUdeviceptr all[] = { y, dq, dk, out, dW, dx, dr, dl, di };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        OK(cuMemFree(all[i]));
}

static int host_calls;
static CUresult host_inner;
static void host_fn(void *user)
{
    host_calls += *(int *)user;
    host_inner = cuCtxSynchronize();
}

static void test_streams_events(void **state)
{
    (void)state;
    CUstream a, b;
    CUevent e0, e1, nt;
    float ms;
    unsigned flags;
    int prio;
    OK(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING));
    OK(cuStreamCreateWithPriority(&b, 0, -3));
    OK(cuStreamGetFlags(a, &flags));
    assert_int_equal(flags, CU_STREAM_NON_BLOCKING);
    OK(cuStreamGetPriority(b, &prio));
    assert_int_equal(prio, -3);
    OK(cuEventCreate(&e0, 0));
    OK(cuEventCreate(&e1, 0));
    OK(cuEventCreate(&nt, CU_EVENT_DISABLE_TIMING));
    FAILS(cuEventElapsedTime(&ms, e0, e1), CUDA_ERROR_INVALID_HANDLE); /* never recorded */
    CUdeviceptr y = dalloc(sizeof(float));
    OK(cuEventRecord(e0, a));
    fill(a, y, 1.0f, 1, 1, 1);
    OK(cuEventRecord(e1, a));
    OK(cuStreamWaitEvent(b, e1, 0));
    fill(b, y, 2.0f, 1, 1, 1);
    FAILS(cuEventElapsedTime(&ms, e0, e1), CUDA_ERROR_NOT_READY);
    OK(cuEventSynchronize(e1));
    OK(cuEventElapsedTime(&ms, e0, e1));
    assert_float_equal(ms, 0.002f, 1e-6); /* virtual time: 1 us per command */
    OK(cuEventQuery(e1));
    assert_true(dget(y, 0) == 2.0f);
    OK(cuEventRecord(nt, b));
    OK(cuStreamSynchronize(b));
    FAILS(cuEventElapsedTime(&ms, e0, nt), CUDA_ERROR_INVALID_HANDLE);

    /* Host functions run in order and may not call the driver. */
    int inc = 1;
    OK(cuLaunchHostFunc(a, host_fn, &inc));
    assert_int_equal(host_calls, 0);
    OK(cuStreamSynchronize(a));
    assert_int_equal(host_calls, 1);
    assert_int_equal(host_inner, CUDA_ERROR_NOT_PERMITTED);
    CUcontext c;
    OK(cuStreamGetCtx(a, &c));
    assert_ptr_equal(c, primary);
    OK(cuEventDestroy(e0));
    OK(cuEventDestroy(e1));
    OK(cuEventDestroy(nt));
    OK(cuStreamDestroy(a));
    OK(cuStreamDestroy(b));
    OK(cuMemFree(y));
}

static void launch_probe(CUstream s, int ptsz, int tag)
{
    void *args[] = { &tag };
    if (ptsz)
        OK(cuLaunchKernel_ptsz(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
    else
        OK(cuLaunchKernel(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
    OK(cuCtxSynchronize());
}

static void *other_thread(void *arg)
{
    unsigned long long *id = arg;
    if (cuCtxSetCurrent(primary) || cuStreamGetId_ptsz(NULL, id))
        *id = 0;
    return NULL;
}

static void test_per_thread_stream(void **state)
{
    (void)state;
    CUstream s;
    unsigned long long mine, theirs = 0, legacy;
    launch_probe(NULL, 0, 1);
    assert_int_equal(probe_seen.streamOrdinal, 0);
    launch_probe(NULL, 1, 2);
    assert_int_equal(probe_seen.streamOrdinal, -1);
    assert_int_equal(probe_arg, 2);
    launch_probe(CU_STREAM_PER_THREAD, 0, 3);
    assert_int_equal(probe_seen.streamOrdinal, -1);
    OK(cuStreamCreate(&s, 0));
    launch_probe(s, 1, 4);
    assert_true(probe_seen.streamOrdinal > 0);
    OK(cuStreamGetId_ptsz(NULL, &mine));
    OK(cuStreamGetId(NULL, &legacy));
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &theirs);
    pthread_join(t, NULL);
    assert_true(theirs != 0 && theirs != mine && mine != legacy);
    OK(cuStreamDestroy(s));
}

/* Threads share the driver through one lock; each works on its own
 * per-thread stream and sees its own results. */
static void *worker(void *arg)
{
    intptr_t id = (intptr_t)arg, bad = 0;
    CUdeviceptr y;
    if (cuCtxSetCurrent(primary) || cuMemAlloc(&y, 64 * sizeof(float)))
        return (void *)1;
    for (int i = 0; i < 200 && !bad; i++) {
        float v = (float)(id * 1000 + i), got = 0;
        int n = 64;
        void *args[] = { &y, &v, &n };
        bad = cuLaunchKernel(K("sim_fill"), 2, 1, 1, 32, 1, 1, 0, CU_STREAM_PER_THREAD, args, NULL) ||
              cuMemcpyDtoHAsync(&got, y + 63 * sizeof(float), sizeof got, CU_STREAM_PER_THREAD) ||
              cuStreamSynchronize(CU_STREAM_PER_THREAD) || got != v;
    }
    return (void *)(bad | (intptr_t)(cuMemFree(y) != CUDA_SUCCESS));
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    void *rc;
    for (intptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
}

static void test_launch_attributes(void **state)
{
    (void)state;
    int tag = 7;
    void *args[] = { &tag };
    CUlaunchAttribute at[2];
    memset(at, 0, sizeof at);
    at[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    at[0].value.clusterDim.x = 2;
    at[0].value.clusterDim.y = 1;
    at[0].value.clusterDim.z = 1;
    at[1].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
    at[1].value.priority = -2;
    CUlaunchConfig cfg = { .gridDimX = 4, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 8, .blockDimY = 1,
                           .blockDimZ = 1, .attrs = at, .numAttrs = 2 };
    OK(cuLaunchKernelEx(&cfg, K("t_probe"), args, NULL));
    OK(cuCtxSynchronize());
    assert_true(probe_seen.clusterDim.x == 2 && probe_seen.priority == -2 && probe_seen.gridDim.x == 4);
    cfg.gridDimX = 3;
    FAILS(cuLaunchKernelEx(&cfg, K("t_probe"), args, NULL), CUDA_ERROR_INVALID_CLUSTER_SIZE);
    OK(cuLaunchCooperativeKernel(K("t_probe"), 2, 1, 1, 1, 1, 1, 0, NULL, args));
    OK(cuCtxSynchronize());
    assert_int_equal(probe_seen.cooperative, 1);
}

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
        return 99;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_illegal_address_is_sticky),
        cmocka_unit_test(test_kernel_vs_function),
        cmocka_unit_test(test_param_layout),
        cmocka_unit_test(test_kernels_honour_grid),
        cmocka_unit_test(test_streams_events),
        cmocka_unit_test(test_per_thread_stream),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_launch_attributes),
        cmocka_unit_test(test_capture),
        cmocka_unit_test(test_graph_api),
        cmocka_unit_test(test_get_proc_address),
        cmocka_unit_test(test_fail_injection),
        cmocka_unit_test(test_calls),
        cmocka_unit_test(test_trace_and_verbose),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
