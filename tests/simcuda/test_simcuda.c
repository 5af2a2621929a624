/* test_simcuda.c: tests of simcuda itself, linked directly against it:
 * the driver as a program sees it outside graphs.
 *
 * The shim's end-to-end tests are only as good as the simulated driver they
 * run on, so this suite pins down the behaviour they rely on: memory and
 * copy timing (deferred execution, pinned vs pageable sources), strictness
 * (handles, sticky faults, CUkernel vs CUfunction), parameter layouts,
 * kernels that honour their grids, streams and events, per-thread streams,
 * threads and launch attributes. Capture, graphs, cuGetProcAddress, failure
 * injection, the call counters and the trace are the subject of
 * test_simcuda_graph.c; the helpers both use are in test_util.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "test_util.h"

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
    assert_float_equal(ms, 0.001f, 1e-6); /* virtual time: 1 us per kernel, copy, memset, host function */
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

int main(void)
{
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
    };
    return cmocka_run_group_tests_name("test_simcuda", tests, group_setup, NULL);
}
