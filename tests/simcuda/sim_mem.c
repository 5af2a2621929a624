/* sim_mem.c: memory of simcuda: device allocations, page-locked host
 * memory and pointer attributes, and the lookups that tell whether an
 * address lies in either. Copies and memsets live in sim_copy.c.
 *
 * Device memory is backed by calloc'd host buffers, but the CUdeviceptr
 * values handed out lie in a non-canonical address range (never mapped, so a
 * host dereference faults), with a gap after every allocation, so an overrun
 * is detected instead of silently hitting a neighbour. A freed address is
 * handed out again only to an allocation of the same size, last freed first,
 * as the real driver does (measured on an H100): a program that frees and
 * reallocates a buffer gets the same address back, and whatever remembered
 * the old allocation by its address (a graph's memcpy node) must cope.
 * Every allocation, device or page-locked, has an id never reused, which
 * tells such a reincarnation from the original. Allocations live in an array
 * sorted by address, searched by bisection. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_DEV_BASE 0x5a00000000000000ull
#define SIM_DEV_ALIGN 256u
#define SIM_TOTAL_MEM (80ull << 30)

typedef struct alloc {
    CUdeviceptr base;
    size_t size;
    unsigned char *host;
    sim_ctx_t *ctx;
    unsigned long long id;
} alloc_t;

typedef struct pinned {
    unsigned char *p;
    size_t size;
    unsigned flags;
    int registered; /* cuMemHostRegister rather than cuMemAllocHost */
    unsigned long long id;
} pinned_t;

static alloc_t *allocs;
static size_t nallocs, capallocs;
static pinned_t *pins;
static size_t npins, cappins;
static CUdeviceptr next_dev = SIM_DEV_BASE;
static size_t used_bytes;
static unsigned long long next_buffer_id = 1;

/* Freed ranges, for reuse by an allocation of the same span. */
#define SIM_HOLES 64
static struct {
    CUdeviceptr base;
    size_t span;
} holes[SIM_HOLES];
static size_t nholes;

static size_t span_of(size_t bytes)
{
    return (bytes + SIM_DEV_ALIGN - 1) / SIM_DEV_ALIGN * SIM_DEV_ALIGN + SIM_DEV_ALIGN;
}

/* ----------------------------------------------------------------- lookup */

/* The index of the first allocation that starts above p. */
static size_t alloc_after(CUdeviceptr p)
{
    size_t lo = 0, hi = nallocs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (allocs[mid].base <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static alloc_t *find_alloc(CUdeviceptr p)
{
    size_t lo = alloc_after(p);
    if (lo == 0)
        return NULL;
    alloc_t *a = &allocs[lo - 1];
    return p < a->base + a->size ? a : NULL;
}

static pinned_t *find_pinned(const void *ptr)
{
    uintptr_t p = (uintptr_t)ptr;
    size_t lo = 0, hi = npins;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uintptr_t)pins[mid].p <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    pinned_t *q = &pins[lo - 1];
    return p < (uintptr_t)q->p + q->size ? q : NULL;
}

int sim_host_pinned(const void *p, size_t bytes)
{
    pinned_t *q = find_pinned(p);
    return q && (uintptr_t)p + bytes <= (uintptr_t)q->p + q->size;
}

/* Device memory and (unified addressing) page-locked host memory are what a
 * kernel or a device-side operand may touch. */
unsigned char *sim_dev_host(CUdeviceptr p, size_t bytes)
{
    alloc_t *a = find_alloc(p);
    if (a)
        return p + bytes <= a->base + a->size ? a->host + (p - a->base) : NULL;
    if (p < SIM_DEV_BASE && sim_host_pinned((const void *)(uintptr_t)p, bytes ? bytes : 1))
        return (unsigned char *)(uintptr_t)p;
    return NULL;
}

/* Whether p lies in a live device allocation (page-locked host memory does
 * not count): how a unified-addressing copy operand is classified. */
int sim_dev_owned(CUdeviceptr p)
{
    return find_alloc(p) != NULL;
}

/* Which allocation, device or page-locked host, holds p now: its id, or 0. */
unsigned long long sim_mem_id(CUdeviceptr p)
{
    alloc_t *a = find_alloc(p);
    if (a)
        return a->id;
    pinned_t *q = find_pinned((const void *)(uintptr_t)p);
    return q ? q->id : 0;
}

/* ------------------------------------------------------------ device memory */

static CUresult dev_alloc(sim_ctx_t *ctx, CUdeviceptr *dptr, size_t bytes)
{
    if (!dptr || bytes == 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null pointer or zero size");
    if (bytes > SIM_TOTAL_MEM - used_bytes)
        return sim_err(CUDA_ERROR_OUT_OF_MEMORY, "%zu bytes requested, %zu free", bytes,
                       (size_t)(SIM_TOTAL_MEM - used_bytes));
    if (nallocs == capallocs) {
        size_t ncap = capallocs ? capallocs * 2 : 64;
        alloc_t *n = realloc(allocs, ncap * sizeof *n);
        if (!n)
            return CUDA_ERROR_OUT_OF_MEMORY;
        allocs = n;
        capallocs = ncap;
    }
    unsigned char *host = calloc(1, bytes);
    if (!host)
        return sim_err(CUDA_ERROR_OUT_OF_MEMORY, "host backing of %zu bytes", bytes);
    size_t span = span_of(bytes);
    CUdeviceptr base = 0;
    for (size_t h = nholes; h-- > 0;)
        if (holes[h].span == span) {
            base = holes[h].base;
            memmove(&holes[h], &holes[h + 1], (nholes - h - 1) * sizeof holes[0]);
            nholes--;
            break;
        }
    if (base == 0) {
        base = next_dev;
        next_dev += span;
    }
    size_t at = alloc_after(base); /* base is not in use: no tie */
    memmove(&allocs[at + 1], &allocs[at], (nallocs - at) * sizeof *allocs);
    nallocs++;
    alloc_t *a = &allocs[at];
    a->base = base;
    a->size = bytes;
    a->host = host;
    a->ctx = ctx;
    a->id = next_buffer_id++;
    used_bytes += bytes;
    *dptr = a->base;
    return CUDA_SUCCESS;
}

static void drop_alloc(alloc_t *a)
{
    if (nholes == SIM_HOLES) { /* forget the oldest */
        memmove(&holes[0], &holes[1], (SIM_HOLES - 1) * sizeof holes[0]);
        nholes--;
    }
    holes[nholes].base = a->base;
    holes[nholes].span = span_of(a->size);
    nholes++;
    used_bytes -= a->size;
    free(a->host);
    size_t i = (size_t)(a - allocs);
    memmove(a, a + 1, (nallocs - i - 1) * sizeof *a);
    nallocs--;
}

void sim_exec_free(CUdeviceptr p)
{
    alloc_t *a = find_alloc(p);
    if (a && a->base == p)
        drop_alloc(a);
}

void sim_mem_ctx_gone(sim_ctx_t *ctx)
{
    for (size_t i = nallocs; i-- > 0;)
        if (allocs[i].ctx == ctx)
            drop_alloc(&allocs[i]);
}

static CUresult dev_free(CUdeviceptr p)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS || p == 0)
        return r;
    if ((r = sim_sync_point(ctx, NULL)) != CUDA_SUCCESS)
        return r;
    alloc_t *a = find_alloc(p);
    if (!a || a->base != p)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "0x%llx is not the start of a live allocation",
                       (unsigned long long)p);
    drop_alloc(a);
    return CUDA_SUCCESS;
}

SIM_API(cuMemAlloc_v2, (CUdeviceptr *dptr, size_t bytesize), (dptr, bytesize))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    return r == CUDA_SUCCESS ? dev_alloc(ctx, dptr, bytesize) : r;
}

/* The 32-bit-pointer entry points exist so that resolution by version works;
 * as on any 64-bit process they cannot name simulated device memory. */
SIM_API(cuMemAlloc, (CUdeviceptr_v1 *dptr, unsigned int bytesize), (dptr, bytesize))
{
    (void)dptr;
    (void)bytesize;
    return sim_err(CUDA_ERROR_NOT_SUPPORTED, "32-bit device pointers cannot address simulated memory");
}

SIM_API(cuMemFree_v2, (CUdeviceptr dptr), (dptr)) { return dev_free(dptr); }
SIM_API(cuMemFree, (CUdeviceptr_v1 dptr), (dptr)) { return dev_free(dptr); }

static CUresult mem_info(size_t *free_b, size_t *total)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (free_b)
        *free_b = SIM_TOTAL_MEM - used_bytes;
    if (total)
        *total = SIM_TOTAL_MEM;
    return CUDA_SUCCESS;
}
SIM_API(cuMemGetInfo_v2, (size_t *free_b, size_t *total), (free_b, total)) { return mem_info(free_b, total); }
SIM_API(cuMemGetInfo, (unsigned int *free_b, unsigned int *total), (free_b, total))
{
    size_t f, t;
    CUresult r = mem_info(&f, &t);
    if (r == CUDA_SUCCESS && free_b)
        *free_b = f > 0xffffffffu ? 0xffffffffu : (unsigned)f;
    if (r == CUDA_SUCCESS && total)
        *total = t > 0xffffffffu ? 0xffffffffu : (unsigned)t;
    return r;
}

static CUresult alloc_async(CUdeviceptr *dptr, size_t bytes, CUstream h, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = sim_capture_guard(s);
    return r == CUDA_SUCCESS ? dev_alloc(s->obj.ctx, dptr, bytes) : r;
}
SIM_API(cuMemAllocAsync, (CUdeviceptr *dptr, size_t bytesize, CUstream hStream), (dptr, bytesize, hStream))
{
    return alloc_async(dptr, bytesize, hStream, 0);
}
SIM_API(cuMemAllocAsync_ptsz, (CUdeviceptr *dptr, size_t bytesize, CUstream hStream), (dptr, bytesize, hStream))
{
    return alloc_async(dptr, bytesize, hStream, 1);
}

/* The memory goes away when the free runs in stream order, so work queued
 * before it may still use it and work queued after it faults. */
static CUresult free_async(CUdeviceptr p, CUstream h, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = sim_capture_guard(s);
    if (r != CUDA_SUCCESS)
        return r;
    alloc_t *a = find_alloc(p);
    if (!a || a->base != p)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "0x%llx is not the start of a live allocation",
                       (unsigned long long)p);
    sim_op_t op = { .kind = SIM_OP_FREE };
    op.u.f.p = p;
    return sim_submit(s, &op);
}
SIM_API(cuMemFreeAsync, (CUdeviceptr dptr, CUstream hStream), (dptr, hStream)) { return free_async(dptr, hStream, 0); }
SIM_API(cuMemFreeAsync_ptsz, (CUdeviceptr dptr, CUstream hStream), (dptr, hStream))
{
    return free_async(dptr, hStream, 1);
}

SIM_API(cuMemGetAddressRange_v2, (CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr), (pbase, psize, dptr))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    alloc_t *a = find_alloc(dptr);
    if (!a)
        return sim_err(CUDA_ERROR_NOT_FOUND, "0x%llx is not in a live allocation", (unsigned long long)dptr);
    if (pbase)
        *pbase = a->base;
    if (psize)
        *psize = a->size;
    return CUDA_SUCCESS;
}

/* -------------------------------------------------------- page-locked host */

static CUresult pin_insert(unsigned char *p, size_t size, unsigned flags, int registered)
{
    if (npins == cappins) {
        size_t ncap = cappins ? cappins * 2 : 32;
        pinned_t *n = realloc(pins, ncap * sizeof *n);
        if (!n)
            return CUDA_ERROR_OUT_OF_MEMORY;
        pins = n;
        cappins = ncap;
    }
    size_t i = 0;
    while (i < npins && pins[i].p < p)
        i++;
    memmove(&pins[i + 1], &pins[i], (npins - i) * sizeof *pins);
    pins[i] = (pinned_t){ p, size, flags, registered, next_buffer_id++ };
    npins++;
    return CUDA_SUCCESS;
}

static void pin_remove(pinned_t *q)
{
    size_t i = (size_t)(q - pins);
    memmove(q, q + 1, (npins - i - 1) * sizeof *q);
    npins--;
}

static CUresult host_alloc(void **pp, size_t bytes, unsigned flags)
{
    sim_ctx_t *ctx = NULL;
    void *p = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pp || bytes == 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null pointer or zero size");
    if (flags & ~(unsigned)(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "unknown flags 0x%x", flags);
    if (posix_memalign(&p, 4096, bytes) != 0)
        return CUDA_ERROR_OUT_OF_MEMORY;
    memset(p, 0, bytes);
    if ((r = pin_insert(p, bytes, flags, 0)) != CUDA_SUCCESS)
        free(p);
    else
        *pp = p;
    return r;
}
SIM_API(cuMemAllocHost_v2, (void **pp, size_t bytesize), (pp, bytesize)) { return host_alloc(pp, bytesize, 0); }
SIM_API(cuMemAllocHost, (void **pp, unsigned int bytesize), (pp, bytesize)) { return host_alloc(pp, bytesize, 0); }
SIM_API(cuMemHostAlloc, (void **pp, size_t bytesize, unsigned int Flags), (pp, bytesize, Flags))
{
    return host_alloc(pp, bytesize, Flags);
}

SIM_API(cuMemFreeHost, (void *p), (p))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    pinned_t *q = find_pinned(p);
    if (!q || q->p != p || q->registered)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%p was not returned by cuMemAllocHost/cuMemHostAlloc", p);
    if ((r = sim_sync_point(ctx, NULL)) != CUDA_SUCCESS)
        return r;
    q = find_pinned(p);
    pin_remove(q);
    free(p);
    return CUDA_SUCCESS;
}

static CUresult host_register(void *p, size_t bytes, unsigned flags)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!p || bytes == 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null pointer or zero size");
    for (size_t i = 0; i < npins; i++)
        if ((uintptr_t)pins[i].p < (uintptr_t)p + bytes && (uintptr_t)p < (uintptr_t)pins[i].p + pins[i].size)
            return sim_err(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "%p+%zu overlaps page-locked memory", p, bytes);
    return pin_insert(p, bytes, flags, 1);
}
SIM_API(cuMemHostRegister_v2, (void *p, size_t bytesize, unsigned int Flags), (p, bytesize, Flags))
{
    return host_register(p, bytesize, Flags);
}
SIM_API(cuMemHostRegister, (void *p, size_t bytesize, unsigned int Flags), (p, bytesize, Flags))
{
    return host_register(p, bytesize, Flags);
}

SIM_API(cuMemHostUnregister, (void *p), (p))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    pinned_t *q = find_pinned(p);
    if (!q || q->p != p || !q->registered)
        return sim_err(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "%p was not registered", p);
    if ((r = sim_sync_point(ctx, NULL)) != CUDA_SUCCESS)
        return r;
    pin_remove(find_pinned(p));
    return CUDA_SUCCESS;
}

SIM_API(cuMemHostGetFlags, (unsigned int *pFlags, void *p), (pFlags, p))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    pinned_t *q = find_pinned(p);
    if (!pFlags || !q || q->registered)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not in memory from cuMemHostAlloc", p);
    *pFlags = q->flags;
    return CUDA_SUCCESS;
}

SIM_API(cuMemHostGetDevicePointer_v2, (CUdeviceptr *pdptr, void *p, unsigned int Flags), (pdptr, p, Flags))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pdptr || Flags != 0 || !find_pinned(p))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not page-locked memory", p);
    *pdptr = (CUdeviceptr)(uintptr_t)p;
    return CUDA_SUCCESS;
}

SIM_API(cuPointerGetAttribute, (void *data, CUpointer_attribute attribute, CUdeviceptr ptr), (data, attribute, ptr))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!data)
        return CUDA_ERROR_INVALID_VALUE;
    alloc_t *a = find_alloc(ptr);
    pinned_t *q = a || ptr >= SIM_DEV_BASE ? NULL : find_pinned((const void *)(uintptr_t)ptr);
    if (!a && !q)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "0x%llx is neither device nor page-locked memory",
                       (unsigned long long)ptr);
    ctx = a ? a->ctx : (sim_tl.depth ? sim_tl.stack[sim_tl.depth - 1] : NULL);
    switch (attribute) {
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
        *(unsigned int *)data = a ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_CONTEXT:
        *(CUcontext *)data = (CUcontext)ctx;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
        *(CUdeviceptr *)data = ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
        if (a)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "device memory has no host address");
        *(void **)data = (void *)(uintptr_t)ptr;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
        *(unsigned int *)data = 0;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
        *(int *)data = 0;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
        *(unsigned long long *)data = a ? a->id : (unsigned long long)(uintptr_t)q->p;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
        *(CUdeviceptr *)data = a ? a->base : (CUdeviceptr)(uintptr_t)q->p;
        return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
        *(size_t *)data = a ? a->size : q->size;
        return CUDA_SUCCESS;
    default:
        return sim_err(CUDA_ERROR_INVALID_VALUE, "attribute %d is not simulated", (int)attribute);
    }
}

const sim_proc_t sim_mem_procs[] = {
    SIM_PROC(cuMemAlloc, 2000),            SIM_PROC(cuMemAlloc_v2, 3020),
    SIM_PROC(cuMemFree, 2000),             SIM_PROC(cuMemFree_v2, 3020),
    SIM_PROC(cuMemGetInfo, 2000),          SIM_PROC(cuMemGetInfo_v2, 3020),
    SIM_PROC(cuMemAllocAsync, 11020),      SIM_PROC(cuMemAllocAsync_ptsz, 11020),
    SIM_PROC(cuMemFreeAsync, 11020),       SIM_PROC(cuMemFreeAsync_ptsz, 11020),
    SIM_PROC(cuMemGetAddressRange_v2, 3020),
    SIM_PROC(cuMemAllocHost, 2000),        SIM_PROC(cuMemAllocHost_v2, 3020),
    SIM_PROC(cuMemHostAlloc, 2020),        SIM_PROC(cuMemFreeHost, 2000),
    SIM_PROC(cuMemHostRegister, 4000),     SIM_PROC(cuMemHostRegister_v2, 6050),
    SIM_PROC(cuMemHostUnregister, 4000),   SIM_PROC(cuMemHostGetFlags, 2030),
    SIM_PROC(cuMemHostGetDevicePointer_v2, 3020),
    SIM_PROC(cuPointerGetAttribute, 4000),
};
const size_t sim_mem_nprocs = sizeof sim_mem_procs / sizeof sim_mem_procs[0];
