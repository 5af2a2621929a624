/* sim_mem.c: memory of simcuda: device allocations, page-locked host
 * memory, pointer attributes, and the copy and memset entry points (the
 * synchronous, asynchronous and per-thread-stream variants) together with
 * the code that performs copies and memsets when the queue runs them.
 *
 * Device memory is backed by calloc'd host buffers, but the CUdeviceptr
 * values handed out lie in a non-canonical address range (never mapped, so a
 * host dereference faults) and are never reused, with a gap after every
 * allocation, so a stale pointer or an overrun is detected instead of
 * silently hitting a neighbour. Allocations live in an array sorted by
 * address (new ones always go at the end) searched by bisection. */
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
} pinned_t;

static alloc_t *allocs;
static size_t nallocs, capallocs;
static pinned_t *pins;
static size_t npins, cappins;
static CUdeviceptr next_dev = SIM_DEV_BASE;
static size_t used_bytes;
static unsigned long long next_buffer_id = 1;

/* ----------------------------------------------------------------- lookup */

static alloc_t *find_alloc(CUdeviceptr p)
{
    size_t lo = 0, hi = nallocs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (allocs[mid].base <= p)
            lo = mid + 1;
        else
            hi = mid;
    }
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
    alloc_t *a = &allocs[nallocs++];
    a->base = next_dev;
    a->size = bytes;
    a->host = host;
    a->ctx = ctx;
    a->id = next_buffer_id++;
    next_dev += (bytes + SIM_DEV_ALIGN - 1) / SIM_DEV_ALIGN * SIM_DEV_ALIGN + SIM_DEV_ALIGN;
    used_bytes += bytes;
    *dptr = a->base;
    return CUDA_SUCCESS;
}

static void drop_alloc(alloc_t *a)
{
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
    return sim_submit(s, &op, 0);
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
    pins[i] = (pinned_t){ p, size, flags, registered };
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

/* ------------------------------------------------------------------ copies */

static size_t extent(size_t pitch, size_t height, const sim_copy_t *c)
{
    return pitch * height * (c->depth - 1) + pitch * (c->height - 1) + c->width;
}

CUresult sim_copy_check(const sim_copy_t *c)
{
    if (c->width == 0 || c->height == 0 || c->depth == 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "empty copy extent");
    if ((c->height > 1 || c->depth > 1) && (c->src_pitch < c->width || c->dst_pitch < c->width))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "pitch smaller than width");
    if (c->src_dev ? !sim_dev_host(c->src_d, extent(c->src_pitch, c->src_height, c)) : !c->src_h)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "source 0x%llx+%zu is not in a live allocation",
                       (unsigned long long)(c->src_dev ? c->src_d : (uintptr_t)c->src_h),
                       extent(c->src_pitch, c->src_height, c));
    if (c->dst_dev ? !sim_dev_host(c->dst_d, extent(c->dst_pitch, c->dst_height, c)) : !c->dst_h)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "destination 0x%llx+%zu is not in a live allocation",
                       (unsigned long long)(c->dst_dev ? c->dst_d : (uintptr_t)c->dst_h),
                       extent(c->dst_pitch, c->dst_height, c));
    return CUDA_SUCCESS;
}

/* One side of a CUDA_MEMCPY3D; UNIFIED operands are classified by address. */
static CUresult side_3d(CUmemorytype t, const void *hp, CUdeviceptr dp, size_t x, size_t y, size_t z,
                        size_t lod, size_t pitch, size_t height, int *dev, CUdeviceptr *d,
                        const unsigned char **h, size_t *opitch, size_t *oheight, const sim_copy_t *c)
{
    if (lod != 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "mipmap levels are not simulated");
    if (t == CU_MEMORYTYPE_UNIFIED) {
        t = find_alloc(dp) ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
        hp = (const void *)(uintptr_t)dp;
    }
    if (t != CU_MEMORYTYPE_HOST && t != CU_MEMORYTYPE_DEVICE)
        return sim_err(CUDA_ERROR_NOT_SUPPORTED, "arrays are not simulated");
    if (pitch == 0 && c->height == 1 && c->depth == 1)
        pitch = c->width;
    if (height == 0 && c->depth == 1)
        height = c->height;
    size_t off = z * pitch * height + y * pitch + x;
    *dev = t == CU_MEMORYTYPE_DEVICE;
    *d = *dev ? dp + off : 0;
    *h = *dev ? NULL : (const unsigned char *)hp + off;
    *opitch = pitch;
    *oheight = height;
    return CUDA_SUCCESS;
}

CUresult sim_copy_from_3d(const CUDA_MEMCPY3D *p, sim_copy_t *c)
{
    const unsigned char *dh = NULL;
    CUresult r;
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    memset(c, 0, sizeof *c);
    c->width = p->WidthInBytes;
    c->height = p->Height;
    c->depth = p->Depth;
    if (c->width == 0 || c->height == 0 || c->depth == 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "WidthInBytes, Height and Depth must be at least 1");
    r = side_3d(p->srcMemoryType, p->srcHost, p->srcDevice, p->srcXInBytes, p->srcY, p->srcZ, p->srcLOD,
                p->srcPitch, p->srcHeight, &c->src_dev, &c->src_d, &c->src_h, &c->src_pitch,
                &c->src_height, c);
    if (r == CUDA_SUCCESS)
        r = side_3d(p->dstMemoryType, p->dstHost, p->dstDevice, p->dstXInBytes, p->dstY, p->dstZ,
                    p->dstLOD, p->dstPitch, p->dstHeight, &c->dst_dev, &c->dst_d, &dh, &c->dst_pitch,
                    &c->dst_height, c);
    c->dst_h = (unsigned char *)(uintptr_t)dh;
    if (r != CUDA_SUCCESS || (r = sim_copy_check(c)) != CUDA_SUCCESS)
        return r;
    c->src_pin = !c->src_dev && sim_host_pinned(c->src_h, extent(c->src_pitch, c->src_height, c));
    c->dst_pin = !c->dst_dev && sim_host_pinned(c->dst_h, extent(c->dst_pitch, c->dst_height, c));
    return CUDA_SUCCESS;
}

/* Runs a copy; the trace hash covers device addresses, the extent and the
 * bytes moved, never host addresses (a shim may stage them elsewhere). */
int sim_exec_copy(const sim_copy_t *c, const unsigned char *snap, uint64_t *hash)
{
    uint64_t h = SIM_FNV_INIT;
    if (c->src_dev)
        h = sim_fnv(h, &c->src_d, sizeof c->src_d);
    if (c->dst_dev)
        h = sim_fnv(h, &c->dst_d, sizeof c->dst_d);
    h = sim_fnv(h, &c->width, sizeof c->width);
    h = sim_fnv(h, &c->height, sizeof c->height);
    h = sim_fnv(h, &c->depth, sizeof c->depth);
    for (size_t z = 0; z < c->depth; z++)
        for (size_t y = 0; y < c->height; y++) {
            size_t so = z * c->src_pitch * c->src_height + y * c->src_pitch;
            size_t d_o = z * c->dst_pitch * c->dst_height + y * c->dst_pitch;
            const unsigned char *s;
            unsigned char *d;
            if (snap)
                s = snap + (z * c->height + y) * c->width;
            else if (c->src_dev)
                s = sim_dev_host(c->src_d + so, c->width);
            else
                s = !c->src_pin || sim_host_pinned(c->src_h + so, c->width) ? c->src_h + so : NULL;
            if (c->dst_dev)
                d = sim_dev_host(c->dst_d + d_o, c->width);
            else
                d = !c->dst_pin || sim_host_pinned(c->dst_h + d_o, c->width) ? c->dst_h + d_o : NULL;
            if (!s || !d) {
                sim_say("memcpy: %s 0x%llx is no longer valid memory", !s ? "source" : "destination",
                        !s ? (unsigned long long)(c->src_dev ? c->src_d + so : (uintptr_t)(c->src_h + so))
                           : (unsigned long long)(c->dst_dev ? c->dst_d + d_o : (uintptr_t)(c->dst_h + d_o)));
                return -1;
            }
            memmove(d, s, c->width);
            h = sim_fnv(h, d, c->width);
        }
    *hash = h;
    return 0;
}

static int is_pageable(int dev, const unsigned char *h, const sim_copy_t *c, size_t pitch, size_t height)
{
    return !dev && !sim_host_pinned(h, extent(pitch, height, c));
}

/* Queues a copy on a stream with the driver's timing rules: a pageable
 * source is read now, a pageable destination makes the call synchronous. */
static CUresult copy_submit(sim_stream_t *s, const sim_copy_t *c, int sync)
{
    CUresult r = sim_copy_check(c);
    if (r != CUDA_SUCCESS)
        return r;
    int src_pg = is_pageable(c->src_dev, c->src_h, c, c->src_pitch, c->src_height);
    int dst_pg = is_pageable(c->dst_dev, c->dst_h, c, c->dst_pitch, c->dst_height);
    if ((src_pg || dst_pg) && s->cap)
        return sim_capture_guard(s);
    if ((sync || dst_pg) && (r = s->cap ? sim_capture_guard(s) : sim_capture_unsafe()) != CUDA_SUCCESS)
        return r;
    sim_op_t op = { .kind = SIM_OP_COPY };
    op.u.c.c = *c;
    op.u.c.c.src_pin = !c->src_dev && !src_pg;
    op.u.c.c.dst_pin = !c->dst_dev && !dst_pg;
    if (src_pg) {
        size_t n = c->width * c->height * c->depth;
        if (!(op.u.c.snap = malloc(n)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        for (size_t z = 0; z < c->depth; z++)
            for (size_t y = 0; y < c->height; y++)
                memcpy(op.u.c.snap + (z * c->height + y) * c->width,
                       c->src_h + z * c->src_pitch * c->src_height + y * c->src_pitch, c->width);
    }
    if ((r = sim_submit(s, &op, 0)) != CUDA_SUCCESS)
        return r;
    return sync || dst_pg ? sim_sync_point(s->obj.ctx, s) : CUDA_SUCCESS;
}

static void linear(sim_copy_t *c, size_t n)
{
    c->width = c->src_pitch = c->dst_pitch = n;
    c->height = c->depth = c->src_height = c->dst_height = 1;
}

enum dir { HTOD, DTOH, DTOD, UNIFIED };

static CUresult copy1d(enum dir dir, CUdeviceptr dd, void *dh, CUdeviceptr sd, const void *sh, size_t n,
                       CUstream h, int ptsz, int sync)
{
    sim_stream_t *s = NULL;
    sim_copy_t c;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS || n == 0)
        return r;
    memset(&c, 0, sizeof c);
    linear(&c, n);
    if (dir == UNIFIED) {
        c.src_dev = find_alloc(sd) != NULL;
        c.dst_dev = find_alloc(dd) != NULL;
        sh = (const void *)(uintptr_t)sd;
        dh = (void *)(uintptr_t)dd;
    } else {
        c.src_dev = dir != HTOD;
        c.dst_dev = dir != DTOH;
    }
    c.src_d = c.src_dev ? sd : 0;
    c.dst_d = c.dst_dev ? dd : 0;
    c.src_h = c.src_dev ? NULL : sh;
    c.dst_h = c.dst_dev ? NULL : dh;
    return copy_submit(s, &c, sync);
}

#define H2D(d, s, n, st, pt, sy) copy1d(HTOD, d, NULL, 0, s, n, st, pt, sy)
#define D2H(d, s, n, st, pt, sy) copy1d(DTOH, 0, d, s, NULL, n, st, pt, sy)
#define D2D(d, s, n, st, pt, sy) copy1d(DTOD, d, NULL, s, NULL, n, st, pt, sy)
#define UNI(d, s, n, st, pt, sy) copy1d(UNIFIED, d, NULL, s, NULL, n, st, pt, sy)

SIM_API(cuMemcpyHtoD_v2, (CUdeviceptr d, const void *s, size_t n), (d, s, n)) { return H2D(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpyHtoD_v2_ptds, (CUdeviceptr d, const void *s, size_t n), (d, s, n)) { return H2D(d, s, n, 0, 1, 1); }
SIM_API(cuMemcpyHtoD, (CUdeviceptr_v1 d, const void *s, unsigned int n), (d, s, n)) { return H2D(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpyDtoH_v2, (void *d, CUdeviceptr s, size_t n), (d, s, n)) { return D2H(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpyDtoH_v2_ptds, (void *d, CUdeviceptr s, size_t n), (d, s, n)) { return D2H(d, s, n, 0, 1, 1); }
SIM_API(cuMemcpyDtoH, (void *d, CUdeviceptr_v1 s, unsigned int n), (d, s, n)) { return D2H(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpyDtoD_v2, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n)) { return D2D(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpyDtoD_v2_ptds, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n)) { return D2D(d, s, n, 0, 1, 1); }
SIM_API(cuMemcpyDtoD, (CUdeviceptr_v1 d, CUdeviceptr_v1 s, unsigned int n), (d, s, n)) { return D2D(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpy, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n)) { return UNI(d, s, n, 0, 0, 1); }
SIM_API(cuMemcpy_ptds, (CUdeviceptr d, CUdeviceptr s, size_t n), (d, s, n)) { return UNI(d, s, n, 0, 1, 1); }

SIM_API(cuMemcpyHtoDAsync_v2, (CUdeviceptr d, const void *s, size_t n, CUstream st), (d, s, n, st))
{
    return H2D(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyHtoDAsync_v2_ptsz, (CUdeviceptr d, const void *s, size_t n, CUstream st), (d, s, n, st))
{
    return H2D(d, s, n, st, 1, 0);
}
SIM_API(cuMemcpyHtoDAsync, (CUdeviceptr_v1 d, const void *s, unsigned int n, CUstream st), (d, s, n, st))
{
    return H2D(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyDtoHAsync_v2, (void *d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return D2H(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyDtoHAsync_v2_ptsz, (void *d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return D2H(d, s, n, st, 1, 0);
}
SIM_API(cuMemcpyDtoHAsync, (void *d, CUdeviceptr_v1 s, unsigned int n, CUstream st), (d, s, n, st))
{
    return D2H(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyDtoDAsync_v2, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return D2D(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyDtoDAsync_v2_ptsz, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return D2D(d, s, n, st, 1, 0);
}
SIM_API(cuMemcpyDtoDAsync, (CUdeviceptr_v1 d, CUdeviceptr_v1 s, unsigned int n, CUstream st), (d, s, n, st))
{
    return D2D(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyAsync, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return UNI(d, s, n, st, 0, 0);
}
SIM_API(cuMemcpyAsync_ptsz, (CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st), (d, s, n, st))
{
    return UNI(d, s, n, st, 1, 0);
}

/* ----------------------------------------------------------------- memsets */

int sim_exec_memset(CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem, size_t width,
                    size_t height, uint64_t *hash)
{
    uint64_t h = sim_fnv(SIM_FNV_INIT, &dst, sizeof dst);
    h = sim_fnv(h, &value, sizeof value);
    h = sim_fnv(h, &elem, sizeof elem);
    h = sim_fnv(h, &width, sizeof width);
    h = sim_fnv(h, &height, sizeof height);
    for (size_t y = 0; y < height; y++) {
        unsigned char *d = sim_dev_host(dst + y * pitch, width * elem);
        if (!d) {
            sim_say("memset: 0x%llx+%zu is no longer valid memory", (unsigned long long)(dst + y * pitch),
                    width * elem);
            return -1;
        }
        for (size_t i = 0; i < width; i++)
            switch (elem) {
            case 1: d[i] = (unsigned char)value; break;
            case 2: { uint16_t v = (uint16_t)value; memcpy(d + 2 * i, &v, 2); } break;
            default: memcpy(d + 4 * i, &value, 4); break;
            }
    }
    *hash = h;
    return 0;
}

static CUresult memset_submit(CUdeviceptr dst, unsigned value, unsigned elem, size_t n, CUstream h,
                              int ptsz, int sync)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS || n == 0)
        return r;
    if (dst % elem)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "0x%llx is not aligned to %u bytes", (unsigned long long)dst, elem);
    if (!sim_dev_host(dst, n * elem))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "0x%llx+%zu is not in a live allocation",
                       (unsigned long long)dst, n * elem);
    if (sync && (r = s->cap ? sim_capture_guard(s) : sim_capture_unsafe()) != CUDA_SUCCESS)
        return r;
    sim_op_t op = { .kind = SIM_OP_MEMSET };
    op.u.m.dst = dst;
    op.u.m.pitch = n * elem;
    op.u.m.width = n;
    op.u.m.height = 1;
    op.u.m.value = value;
    op.u.m.elem = elem;
    if ((r = sim_submit(s, &op, 0)) != CUDA_SUCCESS)
        return r;
    return sync ? sim_sync_point(s->obj.ctx, s) : CUDA_SUCCESS;
}

SIM_API(cuMemsetD8_v2, (CUdeviceptr d, unsigned char v, size_t n), (d, v, n)) { return memset_submit(d, v, 1, n, 0, 0, 1); }
SIM_API(cuMemsetD8_v2_ptds, (CUdeviceptr d, unsigned char v, size_t n), (d, v, n)) { return memset_submit(d, v, 1, n, 0, 1, 1); }
SIM_API(cuMemsetD8, (CUdeviceptr_v1 d, unsigned char v, unsigned int n), (d, v, n)) { return memset_submit(d, v, 1, n, 0, 0, 1); }
SIM_API(cuMemsetD16_v2, (CUdeviceptr d, unsigned short v, size_t n), (d, v, n)) { return memset_submit(d, v, 2, n, 0, 0, 1); }
SIM_API(cuMemsetD16_v2_ptds, (CUdeviceptr d, unsigned short v, size_t n), (d, v, n)) { return memset_submit(d, v, 2, n, 0, 1, 1); }
SIM_API(cuMemsetD16, (CUdeviceptr_v1 d, unsigned short v, unsigned int n), (d, v, n)) { return memset_submit(d, v, 2, n, 0, 0, 1); }
SIM_API(cuMemsetD32_v2, (CUdeviceptr d, unsigned int v, size_t n), (d, v, n)) { return memset_submit(d, v, 4, n, 0, 0, 1); }
SIM_API(cuMemsetD32_v2_ptds, (CUdeviceptr d, unsigned int v, size_t n), (d, v, n)) { return memset_submit(d, v, 4, n, 0, 1, 1); }
SIM_API(cuMemsetD32, (CUdeviceptr_v1 d, unsigned int v, unsigned int n), (d, v, n)) { return memset_submit(d, v, 4, n, 0, 0, 1); }
SIM_API(cuMemsetD8Async, (CUdeviceptr d, unsigned char v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 1, n, s, 0, 0); }
SIM_API(cuMemsetD8Async_ptsz, (CUdeviceptr d, unsigned char v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 1, n, s, 1, 0); }
SIM_API(cuMemsetD16Async, (CUdeviceptr d, unsigned short v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 2, n, s, 0, 0); }
SIM_API(cuMemsetD16Async_ptsz, (CUdeviceptr d, unsigned short v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 2, n, s, 1, 0); }
SIM_API(cuMemsetD32Async, (CUdeviceptr d, unsigned int v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 4, n, s, 0, 0); }
SIM_API(cuMemsetD32Async_ptsz, (CUdeviceptr d, unsigned int v, size_t n, CUstream s), (d, v, n, s)) { return memset_submit(d, v, 4, n, s, 1, 0); }

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
    SIM_PROC(cuMemcpyHtoD, 2000),          SIM_PROC(cuMemcpyHtoD_v2, 3020),
    SIM_PROC(cuMemcpyHtoD_v2_ptds, 7000),
    SIM_PROC(cuMemcpyDtoH, 2000),          SIM_PROC(cuMemcpyDtoH_v2, 3020),
    SIM_PROC(cuMemcpyDtoH_v2_ptds, 7000),
    SIM_PROC(cuMemcpyDtoD, 2000),          SIM_PROC(cuMemcpyDtoD_v2, 3020),
    SIM_PROC(cuMemcpyDtoD_v2_ptds, 7000),
    SIM_PROC(cuMemcpy, 4000),              SIM_PROC(cuMemcpy_ptds, 7000),
    SIM_PROC(cuMemcpyHtoDAsync, 2000),     SIM_PROC(cuMemcpyHtoDAsync_v2, 3020),
    SIM_PROC(cuMemcpyHtoDAsync_v2_ptsz, 7000),
    SIM_PROC(cuMemcpyDtoHAsync, 2000),     SIM_PROC(cuMemcpyDtoHAsync_v2, 3020),
    SIM_PROC(cuMemcpyDtoHAsync_v2_ptsz, 7000),
    SIM_PROC(cuMemcpyDtoDAsync, 3000),     SIM_PROC(cuMemcpyDtoDAsync_v2, 3020),
    SIM_PROC(cuMemcpyDtoDAsync_v2_ptsz, 7000),
    SIM_PROC(cuMemcpyAsync, 4000),         SIM_PROC(cuMemcpyAsync_ptsz, 7000),
    SIM_PROC(cuMemsetD8, 2000),            SIM_PROC(cuMemsetD8_v2, 3020),
    SIM_PROC(cuMemsetD8_v2_ptds, 7000),
    SIM_PROC(cuMemsetD16, 2000),           SIM_PROC(cuMemsetD16_v2, 3020),
    SIM_PROC(cuMemsetD16_v2_ptds, 7000),
    SIM_PROC(cuMemsetD32, 2000),           SIM_PROC(cuMemsetD32_v2, 3020),
    SIM_PROC(cuMemsetD32_v2_ptds, 7000),
    SIM_PROC(cuMemsetD8Async, 3020),       SIM_PROC(cuMemsetD8Async_ptsz, 7000),
    SIM_PROC(cuMemsetD16Async, 3020),      SIM_PROC(cuMemsetD16Async_ptsz, 7000),
    SIM_PROC(cuMemsetD32Async, 3020),      SIM_PROC(cuMemsetD32Async_ptsz, 7000),
};
const size_t sim_mem_nprocs = sizeof sim_mem_procs / sizeof sim_mem_procs[0];
