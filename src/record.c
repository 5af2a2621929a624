/* record.c: what the engine knows of each op before it decides anything.
 *
 * - Kernel handles: parameter layouts from cuFuncGetParamInfo, or from
 *   cuKernelGetParamInfo for the CUkernel handles the CUDA runtime passes as
 *   CUfunction (cuFuncGetParamInfo rejects those with INVALID_HANDLE; the
 *   shim tells the two apart once per handle and caches the answer, with the
 *   kernel's name for the deny list).
 * - Pointers: whether host memory is page-locked (a device-to-host copy into
 *   pageable memory completes before the call returns, so it cannot be held).
 * - Stream keys: the legacy stream and each thread's per-thread stream get
 *   keys of their own, whatever handle or entry point named them.
 * - Eager issue of a recorded op from its snapshot, when held ops must go
 *   out one by one.
 *
 * Caches are filled on first sight of a handle (allocation allowed there)
 * and read on the hot path; all of it runs under gs_eng_lock.
 */
#include "config.h"
#include "eng.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- threads */

static atomic_uint thread_counter;
static GS_TLS unsigned thread_index;

unsigned gs_thread_index(void)
{
    if (GS_UNLIKELY(thread_index == 0))
        thread_index = atomic_fetch_add(&thread_counter, 1) + 1;
    return thread_index;
}

uint64_t gs_stream_key(gs_fn_id_t id, CUstream s, bool *per_thread)
{
    *per_thread = false;
    if (s == NULL) {
        if (!gs_hook_per_thread[id])
            return GS_KEY_LEGACY;
    } else if (s == CU_STREAM_LEGACY) {
        return GS_KEY_LEGACY;
    } else if (s != CU_STREAM_PER_THREAD) {
        return (uint64_t)(uintptr_t)s;
    }
    /* Per-thread streams: low bits 2 cannot be a real handle's (aligned). */
    *per_thread = true;
    return ((uint64_t)gs_thread_index() << 8) | 2u;
}

/* ----------------------------------------------------------- deny list */

/* NCCL's collective kernels read a work FIFO the host fills at enqueue:
 * replaying them from a graph would replay stale work. */
static const char default_deny[] = "*nccl*,*Nccl*,*NCCL*";
static char deny_buf[sizeof default_deny + sizeof gs_opt.deny_kernels + 2];
static const char *deny_pat[128];
static unsigned ndeny;

void gs_deny_init(void)
{
    snprintf(deny_buf, sizeof deny_buf, "%s%s%s", default_deny,
             gs_opt.deny_kernels[0] ? "," : "", gs_opt.deny_kernels);
    ndeny = 0;
    for (char *save = NULL, *tok = strtok_r(deny_buf, ",", &save);
         tok != NULL && ndeny < 128; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok != '\0')
            deny_pat[ndeny++] = tok;
    }
}

bool gs_deny_match(const char *name)
{
    for (unsigned i = 0; i < ndeny; i++)
        if (fnmatch(deny_pat[i], name, 0) == 0)
            return true;
    return false;
}

/* ----------------------------------------------------------- functions */

static gs_func_t *funcs;

/* A kernel without a name cannot be checked against the deny list (NCCL's
 * kernels must never be graphed), so it runs eagerly. */
static void name_failed(bool as_kernel, CUresult r)
{
    if (r != CUDA_ERROR_INVALID_VALUE && r != CUDA_ERROR_INVALID_HANDLE)
        GS_LOG_ONCE(GS_LOG_WARN, "%s failed (CUresult %d); kernels without a known "
                    "name run eagerly", as_kernel ? "cuKernelGetName" : "cuFuncGetName",
                    (int)r);
}

static bool query_layout(gs_func_t *fn, bool as_kernel)
{
    uint32_t off[GS_MAX_PARAMS], size[GS_MAX_PARAMS];
    unsigned n = 0;
    for (;; n++) {
        size_t o, s;
        CUresult r = as_kernel
                         ? GS_CALL(cuKernelGetParamInfo, (CUkernel)fn->key, n, &o, &s)
                         : GS_CALL(cuFuncGetParamInfo, (CUfunction)fn->key, n, &o, &s);
        if (r != CUDA_SUCCESS && r != CUDA_ERROR_INVALID_VALUE &&
            r != CUDA_ERROR_INVALID_HANDLE) /* not the answers that mean "no" */
            GS_LOG_ONCE(GS_LOG_WARN, "%s failed (CUresult %d); kernels whose parameter "
                        "layout is unknown run eagerly",
                        as_kernel ? "cuKernelGetParamInfo" : "cuFuncGetParamInfo", (int)r);
        if (r == CUDA_ERROR_INVALID_VALUE && n > 0)
            break; /* past the last parameter */
        if (r == CUDA_ERROR_INVALID_VALUE && n == 0) {
            /* No parameters, or an invalid handle reported as a value:
             * tell them apart by asking for the name. */
            const char *nm = NULL;
            CUresult q = as_kernel ? GS_CALL(cuKernelGetName, &nm, (CUkernel)fn->key)
                                   : GS_CALL(cuFuncGetName, &nm, (CUfunction)fn->key);
            if (q != CUDA_SUCCESS) {
                name_failed(as_kernel, q);
                return false;
            }
            break;
        }
        if (r != CUDA_SUCCESS || n == GS_MAX_PARAMS)
            return false;
        off[n] = (uint32_t)o;
        size[n] = (uint32_t)s;
    }
    fn->nparams = n;
    fn->off = calloc(n ? n : 1, sizeof *fn->off);
    fn->size = calloc(n ? n : 1, sizeof *fn->size);
    if (fn->off == NULL || fn->size == NULL)
        return false;
    fn->argsize = 0;
    for (unsigned i = 0; i < n; i++) {
        fn->off[i] = off[i];
        fn->size[i] = size[i];
        if (off[i] + size[i] > fn->argsize)
            fn->argsize = off[i] + size[i];
    }
    return true;
}

/* The cache in front of the hash (eng.h says why). */
gs_func_t *gs_func_cache[GS_FUNC_SLOTS];

gs_func_t *gs_func_get(CUfunction f)
{
    gs_func_t *fn = NULL;
    void *key = (void *)f;
    unsigned slot = gs_func_slot(key);
    if (GS_LIKELY(gs_func_cache[slot] != NULL && gs_func_cache[slot]->key == key))
        return gs_func_cache[slot];
    HASH_FIND_PTR(funcs, &key, fn);
    if (GS_LIKELY(fn != NULL))
        return gs_func_cache[slot] = fn;
    fn = calloc(1, sizeof *fn);
    if (fn == NULL)
        return NULL;
    fn->key = key;
    bool ok = gs_real_fn[GS_ID_cuFuncGetParamInfo] != NULL && query_layout(fn, false);
    if (!ok && gs_real_fn[GS_ID_cuKernelGetParamInfo] != NULL) {
        fn->is_kernel = true;
        ok = query_layout(fn, true);
    }
    const char *nm = NULL;
    if (ok) {
        CUresult q = fn->is_kernel ? GS_CALL(cuKernelGetName, &nm, (CUkernel)f)
                                   : GS_CALL(cuFuncGetName, &nm, f);
        if (q != CUDA_SUCCESS) {
            name_failed(fn->is_kernel, q);
            nm = NULL;
        }
    }
    fn->name = strdup(nm ? nm : "?");
    gs_mem_account((long long)(sizeof *fn + 2 * fn->nparams * sizeof *fn->off +
                               (fn->name ? strlen(fn->name) + 1 : 0)), 0);
    fn->denied = nm != NULL && gs_deny_match(nm);
    fn->unusable = !ok || nm == NULL || fn->denied || fn->name == NULL;
    if (!ok)
        GS_LOG_ONCE(GS_LOG_INFO, "a kernel's parameter layout is unavailable; "
                    "its launches are passed through (further such kernels are "
                    "not reported)");
    else if (fn->denied)
        GS_INFO("kernel %s matches the deny list: never graphed", fn->name);
    HASH_ADD_PTR(funcs, key, fn);
    return gs_func_cache[slot] = fn;
}

void gs_func_cache_clear(void)
{
    gs_func_t *fn, *tmp;
    memset(gs_func_cache, 0, sizeof gs_func_cache);
    HASH_ITER(hh, funcs, fn, tmp) {
        HASH_DEL(funcs, fn);
        gs_mem_account(-(long long)(sizeof *fn + 2 * fn->nparams * sizeof *fn->off +
                                    (fn->name ? strlen(fn->name) + 1 : 0)), 0);
        free(fn->off);
        free(fn->size);
        free(fn->name);
        free(fn);
    }
}

void gs_param_ptrs(const gs_func_t *fn, const uint8_t *packed, void **kp)
{
    for (unsigned i = 0; i < fn->nparams; i++)
        kp[i] = (void *)(packed + fn->off[i]);
}

/* ------------------------------------------------------------ pointers */

/* Direct-mapped: device-to-host destinations are a handful of buffers. */
#define PTR_SLOTS 256
static struct {
    const void *p;
    int kind;
} ptr_cache[PTR_SLOTS];

void gs_ptr_cache_clear(void) { memset(ptr_cache, 0, sizeof ptr_cache); }

int gs_ptr_kind(const void *p)
{
    unsigned slot = (unsigned)(((uintptr_t)p >> 4) * 0x9e3779b1u >> 24) % PTR_SLOTS;
    if (ptr_cache[slot].p == p && p != NULL)
        return ptr_cache[slot].kind;
    unsigned type = 0;
    CUresult r = GS_CALL(cuPointerGetAttribute, &type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                                (CUdeviceptr)(uintptr_t)p);
    int kind = r == CUDA_SUCCESS ? (type == CU_MEMORYTYPE_DEVICE ? 1
                                    : type == CU_MEMORYTYPE_HOST ? 2 : -1)
               : r == CUDA_ERROR_INVALID_VALUE ? 0 : -1; /* INVALID_VALUE: pageable */
    if (r != CUDA_SUCCESS && r != CUDA_ERROR_INVALID_VALUE)
        GS_LOG_ONCE(GS_LOG_WARN, "cuPointerGetAttribute failed (CUresult %d); copies "
                    "with memory of unknown kind run eagerly", (int)r);
    ptr_cache[slot].p = p;
    ptr_cache[slot].kind = kind;
    return kind;
}

/* ------------------------------------------------------------ eager issue */

CUresult gs_issue(const gs_rec_t *r, const uint8_t *arena, CUstream s)
{
    void *real = gs_real_sync(r->id);
    const uint8_t *data = arena + r->data;
    switch ((gs_opkind_t)r->kind) {
    case GS_OP_KERNEL: {
        void *kp[GS_MAX_PARAMS];
        const gs_func_t *fn = r->u.k.fn;
        gs_param_ptrs(fn, data, kp);
        if (gs_hooks[r->id].cls == GS_CLASS_LAUNCH_EX) {
            CUlaunchConfig cfg = {
                .gridDimX = r->u.k.grid[0], .gridDimY = r->u.k.grid[1],
                .gridDimZ = r->u.k.grid[2], .blockDimX = r->u.k.block[0],
                .blockDimY = r->u.k.block[1], .blockDimZ = r->u.k.block[2],
                .sharedMemBytes = r->u.k.shmem, .hStream = s,
                .attrs = r->nattrs ? gs_rec_attrs(r, arena) : NULL,
                .numAttrs = r->nattrs};
            return ((launch_ex_fn)real)(&cfg, (CUfunction)fn->key, kp, NULL);
        }
        return ((launch_fn)real)((CUfunction)fn->key, r->u.k.grid[0], r->u.k.grid[1],
                                 r->u.k.grid[2], r->u.k.block[0], r->u.k.block[1],
                                 r->u.k.block[2], r->u.k.shmem, s, kp, NULL);
    }
    case GS_OP_HTOD:
        /* The snapshot is pageable memory: the driver stages it before the
         * call returns, so the arena may be reused right after. Copies that
         * came through cuMemcpyAsync go back the same way (unified
         * addressing: host pointers are valid CUdeviceptr values). */
        if (r->u.c.unified)
            return ((dtod_fn)real)(r->u.c.dst, (CUdeviceptr)(uintptr_t)data, r->u.c.n,
                                   s);
        return ((htod_fn)real)(r->u.c.dst, data, r->u.c.n, s);
    case GS_OP_DTOH:
        if (r->u.c.unified)
            return ((dtod_fn)real)((CUdeviceptr)(uintptr_t)r->u.c.hdst, r->u.c.src,
                                   r->u.c.n, s);
        return ((dtoh_fn)real)(r->u.c.hdst, r->u.c.src, r->u.c.n, s);
    case GS_OP_DTOD:
        return ((dtod_fn)real)(r->u.c.dst, r->u.c.src, r->u.c.n, s);
    case GS_OP_MEMSET:
        switch (r->u.m.elsize) {
        case 1:
            return ((memset8_fn)real)(r->u.m.dst, (unsigned char)r->u.m.value, r->u.m.n, s);
        case 2:
            return ((memset16_fn)real)(r->u.m.dst, (unsigned short)r->u.m.value, r->u.m.n, s);
        default:
            return ((memset32_fn)real)(r->u.m.dst, r->u.m.value, r->u.m.n, s);
        }
    case GS_OP_EVREC:
        if (gs_hooks[r->id].cls == GS_CLASS_EVRECF)
            return ((evrecf_fn)real)(r->u.e.ev, s, r->u.e.flags);
        return ((evrec_fn)real)(r->u.e.ev, s);
    case GS_OP_EVWAIT:
        return ((evwait_fn)real)(s, r->u.e.ev, r->u.e.flags);
    case GS_OP_HOST:
        return ((hostfn_fn)real)(s, r->u.h.fn, r->u.h.data);
    }
    return CUDA_ERROR_UNKNOWN;
}
