/* sim_copy.c: copies and memsets in simcuda: the copy and memset entry
 * points (the synchronous, asynchronous and per-thread-stream variants),
 * CUDA_MEMCPY3D parameters as graph nodes take them, and the code that
 * performs copies and memsets when the queue runs them.
 *
 * The timing rules are the driver's: a pageable source is copied at the
 * call, a page-locked one is read when the copy runs; a pageable destination
 * makes the call synchronous. These live apart from sim_mem.c, which owns
 * the allocations they check against (through sim_dev_host, sim_dev_owned
 * and sim_host_pinned), because they are work on streams, not memory
 * management. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

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
        t = sim_dev_owned(dp) ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
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
    if ((r = sim_submit(s, &op)) != CUDA_SUCCESS)
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
        c.src_dev = sim_dev_owned(sd);
        c.dst_dev = sim_dev_owned(dd);
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
    if ((r = sim_submit(s, &op)) != CUDA_SUCCESS)
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

const sim_proc_t sim_copy_procs[] = {
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
const size_t sim_copy_nprocs = sizeof sim_copy_procs / sizeof sim_copy_procs[0];
