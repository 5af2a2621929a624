/* sim_core.c: the frame of simcuda, the simulated libcuda.so.1: the lock,
 * messages and error strings, the handle registry, the library constructor,
 * the device and contexts. The path every exported call takes (call
 * counting, injected failures, SIMCUDA_VERBOSE error lines) and
 * cuGetProcAddress live in sim_entry.c.
 *
 * Everything is host-side and deterministic. One global mutex serialises the
 * whole driver: the code under test is a shim whose own locking we want to
 * exercise, not the sim's, and the sim's work (running tiny host kernels) is
 * cheap. The lock is counted per thread so that the simcuda_* test API can be
 * used from inside kernels and host functions; the cu* API cannot (it
 * returns CUDA_ERROR_NOT_PERMITTED there, as the real driver does). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_DRIVER_VERSION 13000
#define SIM_TOTAL_MEM (80ull << 30)

static pthread_mutex_t sim_mu = PTHREAD_MUTEX_INITIALIZER;
__thread sim_tls_t sim_tl;
int sim_verbose;
static int initialized;
static sim_obj_t *registry;
static sim_ctx_t *primary;
static unsigned long long next_ctx_id = 1;

/* ------------------------------------------------------------------ lock */

void sim_lock(void)
{
    if (sim_tl.holding++ == 0)
        pthread_mutex_lock(&sim_mu);
}

void sim_unlock(void)
{
    if (--sim_tl.holding == 0)
        pthread_mutex_unlock(&sim_mu);
}

/* fork() from a threaded program must not leave the child with a lock held
 * by a thread that does not exist there. */
static void atfork_prepare(void)
{
    if (!sim_tl.holding)
        pthread_mutex_lock(&sim_mu);
}
static void atfork_parent(void)
{
    if (!sim_tl.holding)
        pthread_mutex_unlock(&sim_mu);
}
static void atfork_child(void)
{
    pthread_mutex_init(&sim_mu, NULL);
    if (sim_tl.holding)
        pthread_mutex_lock(&sim_mu);
}

/* ------------------------------------------------------ messages, errors */

void sim_say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (!sim_verbose)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "simcuda: error: %s\n", buf);
}

/* Records why the current call fails; sim_leave prints it. Formatting only
 * happens when someone will read it. */
CUresult sim_err(CUresult r, const char *fmt, ...)
{
    va_list ap;
    if (!sim_verbose)
        return r;
    va_start(ap, fmt);
    vsnprintf(sim_tl.reason, sizeof sim_tl.reason, fmt, ap);
    va_end(ap);
    return r;
}

/* Every CUresult of cuda.h: real strings for the ones tests and users meet,
 * the others described by their name ("stream capture merge"), derived once
 * at load into derived_str. */
#define E(c, s) { c, #c, s },
#define N(c) { c, #c, NULL },
static struct {
    CUresult code;
    const char *name, *str;
} errors[] = {
    E(CUDA_SUCCESS, "no error")
    E(CUDA_ERROR_INVALID_VALUE, "invalid argument")
    E(CUDA_ERROR_OUT_OF_MEMORY, "out of memory")
    E(CUDA_ERROR_NOT_INITIALIZED, "initialization error")
    E(CUDA_ERROR_DEINITIALIZED, "driver shutting down")
    E(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected")
    E(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal")
    E(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid")
    E(CUDA_ERROR_INVALID_CONTEXT, "invalid device context")
    E(CUDA_ERROR_CONTEXT_ALREADY_CURRENT, "context already current")
    E(CUDA_ERROR_INVALID_PTX, "a PTX JIT compilation failed")
    E(CUDA_ERROR_INVALID_SOURCE, "device kernel image is invalid")
    E(CUDA_ERROR_FILE_NOT_FOUND, "file not found")
    E(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle")
    E(CUDA_ERROR_ILLEGAL_STATE, "the operation cannot be performed in the present state")
    E(CUDA_ERROR_NOT_FOUND, "named symbol not found")
    E(CUDA_ERROR_NOT_READY, "device not ready")
    E(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered")
    E(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "too many resources requested for launch")
    E(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE, "primary context active")
    E(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed")
    E(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "part or all of the requested memory range is already mapped")
    E(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "pointer does not correspond to a registered memory region")
    E(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure")
    E(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, "too many blocks in cooperative launch")
    E(CUDA_ERROR_NOT_PERMITTED, "operation not permitted")
    E(CUDA_ERROR_NOT_SUPPORTED, "operation not supported")
    E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing")
    E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "operation failed due to a previous error during capture")
    E(CUDA_ERROR_STREAM_CAPTURE_MERGE, "operation would result in a merge of separate capture sequences")
    E(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "capture was not ended in the same stream as it began")
    E(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, "capturing stream has unjoined work")
    E(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, "dependency created on uncaptured work in another stream")
    E(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "operation would make the legacy stream depend on a capturing blocking stream")
    E(CUDA_ERROR_CAPTURED_EVENT, "operation not permitted on an event last recorded in a capturing stream")
    E(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "attempt to terminate a thread-local capture sequence from another thread")
    E(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update")
    E(CUDA_ERROR_INVALID_CLUSTER_SIZE, "invalid cluster size")
    E(CUDA_ERROR_UNKNOWN, "unknown error")
    N(CUDA_ERROR_PROFILER_DISABLED) N(CUDA_ERROR_PROFILER_NOT_INITIALIZED)
    N(CUDA_ERROR_PROFILER_ALREADY_STARTED) N(CUDA_ERROR_PROFILER_ALREADY_STOPPED) N(CUDA_ERROR_STUB_LIBRARY)
    N(CUDA_ERROR_CALL_REQUIRES_NEWER_DRIVER) N(CUDA_ERROR_DEVICE_UNAVAILABLE)
    N(CUDA_ERROR_DEVICE_NOT_LICENSED) N(CUDA_ERROR_MAP_FAILED) N(CUDA_ERROR_UNMAP_FAILED)
    N(CUDA_ERROR_ARRAY_IS_MAPPED) N(CUDA_ERROR_ALREADY_MAPPED) N(CUDA_ERROR_NO_BINARY_FOR_GPU)
    N(CUDA_ERROR_ALREADY_ACQUIRED) N(CUDA_ERROR_NOT_MAPPED) N(CUDA_ERROR_NOT_MAPPED_AS_ARRAY)
    N(CUDA_ERROR_NOT_MAPPED_AS_POINTER) N(CUDA_ERROR_ECC_UNCORRECTABLE) N(CUDA_ERROR_UNSUPPORTED_LIMIT)
    N(CUDA_ERROR_CONTEXT_ALREADY_IN_USE) N(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED)
    N(CUDA_ERROR_INVALID_GRAPHICS_CONTEXT) N(CUDA_ERROR_NVLINK_UNCORRECTABLE)
    N(CUDA_ERROR_JIT_COMPILER_NOT_FOUND) N(CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
    N(CUDA_ERROR_JIT_COMPILATION_DISABLED) N(CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY)
    N(CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC) N(CUDA_ERROR_CONTAINED)
    N(CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND) N(CUDA_ERROR_SHARED_OBJECT_INIT_FAILED)
    N(CUDA_ERROR_OPERATING_SYSTEM) N(CUDA_ERROR_LOSSY_QUERY) N(CUDA_ERROR_LAUNCH_TIMEOUT)
    N(CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING) N(CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED)
    N(CUDA_ERROR_PEER_ACCESS_NOT_ENABLED) N(CUDA_ERROR_ASSERT) N(CUDA_ERROR_TOO_MANY_PEERS)
    N(CUDA_ERROR_HARDWARE_STACK_ERROR) N(CUDA_ERROR_ILLEGAL_INSTRUCTION) N(CUDA_ERROR_MISALIGNED_ADDRESS)
    N(CUDA_ERROR_INVALID_ADDRESS_SPACE) N(CUDA_ERROR_INVALID_PC) N(CUDA_ERROR_TENSOR_MEMORY_LEAK)
    N(CUDA_ERROR_SYSTEM_NOT_READY) N(CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)
    N(CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE) N(CUDA_ERROR_MPS_CONNECTION_FAILED)
    N(CUDA_ERROR_MPS_RPC_FAILURE) N(CUDA_ERROR_MPS_SERVER_NOT_READY) N(CUDA_ERROR_MPS_MAX_CLIENTS_REACHED)
    N(CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED) N(CUDA_ERROR_MPS_CLIENT_TERMINATED)
    N(CUDA_ERROR_CDP_NOT_SUPPORTED) N(CUDA_ERROR_CDP_VERSION_MISMATCH) N(CUDA_ERROR_TIMEOUT)
    N(CUDA_ERROR_EXTERNAL_DEVICE) N(CUDA_ERROR_FUNCTION_NOT_LOADED) N(CUDA_ERROR_INVALID_RESOURCE_TYPE)
    N(CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION) N(CUDA_ERROR_KEY_ROTATION)
};
#undef E
#undef N
static char derived_str[sizeof errors / sizeof errors[0]][64];

const char *sim_error_name(CUresult r)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == r)
            return errors[i].name;
    return "CUDA_ERROR_(unnamed)";
}

uint64_t sim_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* -------------------------------------------------------------- registry */

void sim_obj_add(sim_obj_t *o, enum sim_kind kind, sim_ctx_t *ctx)
{
    o->key = o;
    o->magic = SIM_MAGIC;
    o->kind = (uint32_t)kind;
    o->ctx = ctx;
    HASH_ADD_PTR(registry, key, o);
}

void sim_obj_kill(sim_obj_t *o)
{
    o->magic = 0;
}

sim_obj_t *sim_obj_get(const void *handle)
{
    sim_obj_t *o = NULL;
    if (!handle)
        return NULL;
    HASH_FIND_PTR(registry, &handle, o);
    return o && o->magic == SIM_MAGIC ? o : NULL;
}

void *sim_obj_find(const void *handle, enum sim_kind kind)
{
    sim_obj_t *o = sim_obj_get(handle);
    return o && o->kind == (uint32_t)kind ? o : NULL;
}

/* ---------------------------------------------------- library constructor */

static void derive_error_strings(void)
{
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        if (errors[i].str)
            continue;
        char *d = derived_str[i];
        snprintf(d, sizeof derived_str[i], "%s", errors[i].name + strlen("CUDA_ERROR_"));
        for (; *d; d++)
            *d = *d == '_' ? ' ' : (char)(*d >= 'A' && *d <= 'Z' ? *d - 'A' + 'a' : *d);
        errors[i].str = derived_str[i];
    }
}

__attribute__((constructor)) static void sim_init_library(void)
{
    const char *s;
    derive_error_strings();
    s = getenv("SIMCUDA_VERBOSE");
    sim_verbose = s && *s && strcmp(s, "0") != 0;
    sim_entry_init();
    sim_sched_init();
    sim_kernels_init();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ------------------------------------------------------ init and device */

CUresult sim_need_init(void)
{
    return initialized ? CUDA_SUCCESS : sim_err(CUDA_ERROR_NOT_INITIALIZED, "cuInit has not been called");
}

static CUresult check_dev(CUdevice dev)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && dev != 0)
        r = sim_err(CUDA_ERROR_INVALID_DEVICE, "device %d does not exist (there is one: 0)", dev);
    return r;
}

SIM_API(cuInit, (unsigned int Flags), (Flags))
{
    if (Flags != 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "flags must be 0");
    initialized = 1;
    return CUDA_SUCCESS;
}

SIM_API(cuDriverGetVersion, (int *driverVersion), (driverVersion))
{
    if (!driverVersion)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = SIM_DRIVER_VERSION;
    return CUDA_SUCCESS;
}

SIM_API(cuDeviceGet, (CUdevice *device, int ordinal), (device, ordinal))
{
    CUresult r = check_dev(ordinal);
    return SIM_OUT(r, device, 0);
}

SIM_API(cuDeviceGetCount, (int *count), (count))
{
    CUresult r = sim_need_init();
    return SIM_OUT(r, count, 1);
}

SIM_API(cuDeviceGetName, (char *name, int len, CUdevice dev), (name, len, dev))
{
    CUresult r = check_dev(dev);
    if (r == CUDA_SUCCESS && (!name || len <= 0))
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        snprintf(name, (size_t)len, "%s", "simcuda device");
    return r;
}

SIM_API(cuDeviceTotalMem_v2, (size_t *bytes, CUdevice dev), (bytes, dev))
{
    CUresult r = check_dev(dev);
    return SIM_OUT(r, bytes, SIM_TOTAL_MEM);
}

static CUresult get_uuid(CUuuid *uuid, CUdevice dev)
{
    CUresult r = check_dev(dev);
    if (r == CUDA_SUCCESS && !uuid)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        memcpy(uuid->bytes, "simcuda-device-0", 16);
    return r;
}
SIM_API(cuDeviceGetUuid, (CUuuid *uuid, CUdevice dev), (uuid, dev)) { return get_uuid(uuid, dev); }
SIM_API(cuDeviceGetUuid_v2, (CUuuid *uuid, CUdevice dev), (uuid, dev)) { return get_uuid(uuid, dev); }

/* An H100-like device; attributes not listed read as 0. */
SIM_API(cuDeviceGetAttribute, (int *pi, CUdevice_attribute attrib, CUdevice dev), (pi, attrib, dev))
{
    static const struct { CUdevice_attribute a; int v; } attrs[] = {
        { CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024 }, { CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024 },
        { CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024 }, { CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64 },
        { CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 2147483647 }, { CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535 },
        { CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535 },
        { CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 49152 },
        { CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 232448 },
        { CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 233472 },
        { CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY, 65536 }, { CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32 },
        { CU_DEVICE_ATTRIBUTE_MAX_PITCH, 2147483647 }, { CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK, 65536 },
        { CU_DEVICE_ATTRIBUTE_CLOCK_RATE, 1980000 }, { CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, 2619000 },
        { CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, 5120 }, { CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, 52428800 },
        { CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 132 },
        { CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, 2048 },
        { CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 9 },
        { CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0 }, { CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS, 1 },
        { CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT, 2 }, { CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING, 1 },
        { CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY, 1 }, { CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 1 },
        { CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, 1 }, { CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, 1 },
        { CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED, 1 },
        { CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED, 1 }, { CU_DEVICE_ATTRIBUTE_PCI_BUS_ID, 1 },
    };
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pi || (int)attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "attribute %d out of range", (int)attrib);
    *pi = 0;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (attrs[i].a == attrib)
            *pi = attrs[i].v;
    return CUDA_SUCCESS;
}

/* --------------------------------------------------------------- contexts */

static sim_ctx_t *ctx_new(int is_primary, unsigned flags)
{
    sim_ctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    sim_obj_add(&c->obj, SIM_K_CTX, NULL);
    c->primary = is_primary;
    c->flags = flags;
    return c;
}

static CUresult ctx_activate(sim_ctx_t *c)
{
    c->streams = NULL;
    c->next_pt_ordinal = 0;
    c->legacy = sim_stream_new_legacy(c);
    if (!c->legacy)
        return CUDA_ERROR_OUT_OF_MEMORY;
    c->id = next_ctx_id++;
    c->sticky = CUDA_SUCCESS;
    c->active = 1;
    return CUDA_SUCCESS;
}

/* Releases what lives in a context: its work runs first, then its streams,
 * events, modules, executable graphs and memory go away. */
static void ctx_teardown(sim_ctx_t *c)
{
    sim_obj_t *o = NULL, *tmp = NULL;
    sim_flush();
    HASH_ITER(hh, registry, o, tmp) {
        if (o->magic != SIM_MAGIC || o->ctx != c)
            continue;
        switch (o->kind) {
        case SIM_K_STREAM: sim_stream_released(o); break;
        case SIM_K_MODULE:
        case SIM_K_FUNC: sim_obj_released(o); break;
        case SIM_K_EXEC: sim_graph_released(o); break;
        default: break;
        }
        sim_obj_kill(o);
    }
    sim_mem_ctx_gone(c);
    sim_after_free(&c->gone);
    c->gone.t = 0;
    c->streams = NULL;
    c->legacy = NULL;
    c->active = 0;
    c->sticky = CUDA_SUCCESS;
}

CUresult sim_ctx_check(sim_ctx_t *c)
{
    if (!c || c->obj.magic != SIM_MAGIC || c->obj.kind != SIM_K_CTX || !c->active)
        return sim_err(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context %p is destroyed or inactive", (void *)c);
    return CUDA_SUCCESS;
}

CUresult sim_ctx_current(sim_ctx_t **out)
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (sim_tl.depth == 0)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "no current context");
    *out = sim_tl.stack[sim_tl.depth - 1];
    return sim_ctx_check(*out);
}

CUresult sim_ctx_arg(CUcontext h, sim_ctx_t **out)
{
    if (!h)
        return sim_ctx_current(out);
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_obj_t *o = sim_obj_get(h);
    if (!o || o->kind != SIM_K_CTX)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "%p is not a live context", (void *)h);
    *out = (sim_ctx_t *)o;
    return sim_ctx_check(*out);
}

static void pop_everywhere_here(sim_ctx_t *c)
{
    int j = 0;
    for (int i = 0; i < sim_tl.depth; i++)
        if (sim_tl.stack[i] != c)
            sim_tl.stack[j++] = sim_tl.stack[i];
    sim_tl.depth = j;
}

SIM_API(cuDevicePrimaryCtxRetain, (CUcontext *pctx, CUdevice dev), (pctx, dev))
{
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (!primary && !(primary = ctx_new(1, 0)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!primary->active && (r = ctx_activate(primary)) != CUDA_SUCCESS)
        return r;
    primary->refcount++;
    *pctx = (CUcontext)primary;
    return CUDA_SUCCESS;
}

static CUresult primary_release(CUdevice dev)
{
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!primary || primary->refcount == 0)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "primary context is not retained");
    if (--primary->refcount == 0 && primary->active)
        ctx_teardown(primary);
    return CUDA_SUCCESS;
}
SIM_API(cuDevicePrimaryCtxRelease, (CUdevice dev), (dev)) { return primary_release(dev); }
SIM_API(cuDevicePrimaryCtxRelease_v2, (CUdevice dev), (dev)) { return primary_release(dev); }

SIM_API(cuDevicePrimaryCtxReset_v2, (CUdevice dev), (dev))
{
    CUresult r = check_dev(dev);
    if (r == CUDA_SUCCESS && primary && primary->active)
        ctx_teardown(primary);
    return r;
}

SIM_API(cuDevicePrimaryCtxGetState, (CUdevice dev, unsigned int *flags, int *active), (dev, flags, active))
{
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!flags || !active)
        return CUDA_ERROR_INVALID_VALUE;
    *flags = primary ? primary->flags : 0;
    *active = primary && primary->active;
    return CUDA_SUCCESS;
}

SIM_API(cuDevicePrimaryCtxSetFlags_v2, (CUdevice dev, unsigned int flags), (dev, flags))
{
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!primary && !(primary = ctx_new(1, 0)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    primary->flags = flags;
    return CUDA_SUCCESS;
}

static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
    CUresult r = check_dev(dev);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    if (sim_tl.depth == SIM_CTX_STACK)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "context stack full");
    sim_ctx_t *c = ctx_new(0, flags);
    if (!c)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if ((r = ctx_activate(c)) != CUDA_SUCCESS)
        return r;
    sim_tl.stack[sim_tl.depth++] = c;
    *pctx = (CUcontext)c;
    return CUDA_SUCCESS;
}
SIM_API(cuCtxCreate, (CUcontext *pctx, unsigned int flags, CUdevice dev), (pctx, flags, dev))
{
    return ctx_create(pctx, flags, dev);
}
SIM_API(cuCtxCreate_v2, (CUcontext *pctx, unsigned int flags, CUdevice dev), (pctx, flags, dev))
{
    return ctx_create(pctx, flags, dev);
}
SIM_API(cuCtxCreate_v4, (CUcontext *pctx, CUctxCreateParams *params, unsigned int flags, CUdevice dev),
        (pctx, params, flags, dev))
{
    if (params && (params->numExecAffinityParams || params->cigParams))
        return sim_err(CUDA_ERROR_NOT_SUPPORTED, "execution affinity and CIG are not simulated");
    return ctx_create(pctx, flags, dev);
}

static CUresult ctx_destroy(CUcontext h)
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_ctx_t *c = sim_obj_find(h, SIM_K_CTX);
    if (!c)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "%p is not a live context", (void *)h);
    if (c->primary)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "the primary context is released, not destroyed");
    ctx_teardown(c);
    sim_obj_kill(&c->obj);
    pop_everywhere_here(c);
    return CUDA_SUCCESS;
}
SIM_API(cuCtxDestroy, (CUcontext ctx), (ctx)) { return ctx_destroy(ctx); }
SIM_API(cuCtxDestroy_v2, (CUcontext ctx), (ctx)) { return ctx_destroy(ctx); }

SIM_API(cuCtxGetCurrent, (CUcontext *pctx), (pctx))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!pctx)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = sim_tl.depth ? (CUcontext)sim_tl.stack[sim_tl.depth - 1] : NULL;
    return CUDA_SUCCESS;
}

SIM_API(cuCtxSetCurrent, (CUcontext ctx), (ctx))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!ctx) {
        if (sim_tl.depth)
            sim_tl.depth--;
        return CUDA_SUCCESS;
    }
    sim_ctx_t *c = NULL;
    if ((r = sim_ctx_arg(ctx, &c)) != CUDA_SUCCESS)
        return r;
    if (sim_tl.depth == 0)
        sim_tl.depth = 1;
    sim_tl.stack[sim_tl.depth - 1] = c;
    return CUDA_SUCCESS;
}

static CUresult ctx_push(CUcontext ctx)
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !ctx)
        r = CUDA_ERROR_INVALID_CONTEXT;
    if (r == CUDA_SUCCESS)
        r = sim_ctx_arg(ctx, &c);
    if (r == CUDA_SUCCESS && sim_tl.depth == SIM_CTX_STACK)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "context stack full");
    if (r == CUDA_SUCCESS)
        sim_tl.stack[sim_tl.depth++] = c;
    return r;
}
SIM_API(cuCtxPushCurrent, (CUcontext ctx), (ctx)) { return ctx_push(ctx); }
SIM_API(cuCtxPushCurrent_v2, (CUcontext ctx), (ctx)) { return ctx_push(ctx); }

static CUresult ctx_pop(CUcontext *pctx)
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (sim_tl.depth == 0)
        return sim_err(CUDA_ERROR_INVALID_CONTEXT, "context stack is empty");
    sim_ctx_t *c = sim_tl.stack[--sim_tl.depth];
    if (pctx)
        *pctx = (CUcontext)c;
    return CUDA_SUCCESS;
}
SIM_API(cuCtxPopCurrent, (CUcontext *pctx), (pctx)) { return ctx_pop(pctx); }
SIM_API(cuCtxPopCurrent_v2, (CUcontext *pctx), (pctx)) { return ctx_pop(pctx); }

SIM_API(cuCtxSynchronize, (void), ())
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_current(&c);
    return r == CUDA_SUCCESS ? sim_sync_point(c, NULL) : r;
}

SIM_API(cuCtxSynchronize_v2, (CUcontext ctx), (ctx))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_arg(ctx, &c);
    return r == CUDA_SUCCESS ? sim_sync_point(c, NULL) : r;
}

SIM_API(cuCtxGetDevice, (CUdevice *device), (device))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_current(&c);
    return SIM_OUT(r, device, 0);
}

SIM_API(cuCtxGetDevice_v2, (CUdevice *device, CUcontext ctx), (device, ctx))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_arg(ctx, &c);
    return SIM_OUT(r, device, 0);
}

SIM_API(cuCtxGetApiVersion, (CUcontext ctx, unsigned int *version), (ctx, version))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_arg(ctx, &c);
    return SIM_OUT(r, version, 3020);
}

SIM_API(cuCtxGetFlags, (unsigned int *flags), (flags))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_current(&c);
    return SIM_OUT(r, flags, c->flags);
}

SIM_API(cuCtxGetId, (CUcontext ctx, unsigned long long *ctxId), (ctx, ctxId))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_arg(ctx, &c);
    return SIM_OUT(r, ctxId, c->id);
}

SIM_API(cuCtxGetStreamPriorityRange, (int *leastPriority, int *greatestPriority),
        (leastPriority, greatestPriority))
{
    sim_ctx_t *c = NULL;
    CUresult r = sim_ctx_current(&c);
    if (r != CUDA_SUCCESS)
        return r;
    if (leastPriority)
        *leastPriority = 0;
    if (greatestPriority)
        *greatestPriority = -5;
    return CUDA_SUCCESS;
}

/* ----------------------------------------------------------- error names */

SIM_API(cuGetErrorName, (CUresult error, const char **pStr), (error, pStr))
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == error) {
            *pStr = errors[i].name;
            return CUDA_SUCCESS;
        }
    *pStr = NULL;
    return sim_err(CUDA_ERROR_INVALID_VALUE, "%d is not a CUresult simcuda knows", (int)error);
}

SIM_API(cuGetErrorString, (CUresult error, const char **pStr), (error, pStr))
{
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
        if (errors[i].code == error) {
            *pStr = errors[i].str;
            return CUDA_SUCCESS;
        }
    *pStr = NULL;
    return sim_err(CUDA_ERROR_INVALID_VALUE, "%d is not a CUresult simcuda knows", (int)error);
}

const sim_proc_t sim_core_procs[] = {
    SIM_PROC(cuInit, 2000),
    SIM_PROC(cuDriverGetVersion, 2020),
    SIM_PROC(cuDeviceGet, 2000),
    SIM_PROC(cuDeviceGetCount, 2000),
    SIM_PROC(cuDeviceGetName, 2000),
    SIM_PROC(cuDeviceTotalMem_v2, 3020),
    SIM_PROC(cuDeviceGetUuid, 9020),
    SIM_PROC(cuDeviceGetUuid_v2, 11040),
    SIM_PROC(cuDeviceGetAttribute, 2000),
    SIM_PROC(cuDevicePrimaryCtxRetain, 7000),
    SIM_PROC(cuDevicePrimaryCtxRelease, 7000),
    SIM_PROC(cuDevicePrimaryCtxRelease_v2, 11000),
    SIM_PROC(cuDevicePrimaryCtxReset_v2, 11000),
    SIM_PROC(cuDevicePrimaryCtxGetState, 7000),
    SIM_PROC(cuDevicePrimaryCtxSetFlags_v2, 11000),
    SIM_PROC(cuCtxCreate, 2000),
    SIM_PROC(cuCtxCreate_v2, 3020),
    SIM_PROC(cuCtxCreate_v4, 12050),
    SIM_PROC(cuCtxDestroy, 2000),
    SIM_PROC(cuCtxDestroy_v2, 4000),
    SIM_PROC(cuCtxGetCurrent, 4000),
    SIM_PROC(cuCtxSetCurrent, 4000),
    SIM_PROC(cuCtxPushCurrent, 2000),
    SIM_PROC(cuCtxPushCurrent_v2, 4000),
    SIM_PROC(cuCtxPopCurrent, 2000),
    SIM_PROC(cuCtxPopCurrent_v2, 4000),
    SIM_PROC(cuCtxSynchronize, 2000),
    SIM_PROC(cuCtxSynchronize_v2, 13000),
    SIM_PROC(cuCtxGetDevice, 2000),
    SIM_PROC(cuCtxGetDevice_v2, 13000),
    SIM_PROC(cuCtxGetApiVersion, 3020),
    SIM_PROC(cuCtxGetFlags, 7000),
    SIM_PROC(cuCtxGetId, 12000),
    SIM_PROC(cuCtxGetStreamPriorityRange, 5050),
    SIM_PROC(cuGetErrorName, 6000),
    SIM_PROC(cuGetErrorString, 6000),
};
const size_t sim_core_nprocs = sizeof sim_core_procs / sizeof sim_core_procs[0];
