/* sim_stream.c: streams and events of simcuda: creating, destroying and
 * querying streams (the legacy stream, per-thread default streams and
 * created ones), events and their timing, stream waits, and host work.
 *
 * None of it runs work: sim_submit (sim_sched.c) queues each operation as
 * a command whose dependencies say what it must follow, and the scheduler
 * runs commands at synchronisation points. A stream keeps in `tail` what its
 * next command must follow (its last command, and the event records it was
 * told to wait for since); an event keeps the command of its latest record.
 * Kernel launches and their attributes live in sim_launch.c; stream capture
 * in sim_capture.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "sim_internal.h"

static int next_ordinal = 1;
static unsigned long long next_stream_id = 1;

/* ---------------------------------------------------------------- streams */

/* Every stream but the legacy one is on its context's list, which the
 * legacy stream's implicit synchronisation walks. */
static sim_stream_t *stream_new(sim_ctx_t *ctx, unsigned flags, int priority, int legacy)
{
    sim_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sim_obj_add(&s->obj, SIM_K_STREAM, ctx);
    s->flags = flags;
    s->priority = priority;
    s->legacy = legacy;
    s->id = next_stream_id++;
    if (!legacy) {
        s->next_ctx = ctx->streams;
        ctx->streams = s;
    }
    return s;
}

sim_stream_t *sim_stream_new_legacy(sim_ctx_t *ctx)
{
    return stream_new(ctx, 0, 0, 1);
}

void sim_stream_released(sim_obj_t *o)
{
    sim_stream_t *s = (sim_stream_t *)o;
    sim_capture_stream_gone(s);
    free(s->deps);
    s->deps = NULL;
    s->capdeps = 0;
    sim_after_free(&s->tail);
}

CUresult sim_stream_get(CUstream h, int ptsz, sim_stream_t **out)
{
    sim_ctx_t *ctx = NULL;
    CUresult r;
    if (h && h != CU_STREAM_LEGACY && h != CU_STREAM_PER_THREAD) {
        if ((r = sim_need_init()) != CUDA_SUCCESS)
            return r;
        if (!(*out = sim_obj_find(h, SIM_K_STREAM)))
            return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live stream", (void *)h);
        return CUDA_SUCCESS;
    }
    if ((r = sim_ctx_current(&ctx)) != CUDA_SUCCESS)
        return r;
    if (h == CU_STREAM_LEGACY || (!h && !ptsz)) {
        *out = ctx->legacy;
        return CUDA_SUCCESS;
    }
    sim_stream_t *s = sim_tl.ptstreams;
    while (s && (s->obj.ctx != ctx || s->obj.magic != SIM_MAGIC))
        s = s->next_pt;
    if (!s) {
        if (!(s = stream_new(ctx, 0, 0, 0)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        s->per_thread = 1;
        s->ordinal = --ctx->next_pt_ordinal; /* -1, -2, ... by first use */
        s->next_pt = sim_tl.ptstreams;
        sim_tl.ptstreams = s;
    }
    *out = s;
    return CUDA_SUCCESS;
}

static CUresult stream_create(CUstream *ph, unsigned flags, int priority)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ph || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or unknown flags 0x%x", flags);
    sim_stream_t *s = stream_new(ctx, flags, priority < -5 ? -5 : priority > 0 ? 0 : priority, 0);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->ordinal = next_ordinal++;
    *ph = (CUstream)s;
    return CUDA_SUCCESS;
}
SIM_API(cuStreamCreate, (CUstream *phStream, unsigned int Flags), (phStream, Flags))
{
    return stream_create(phStream, Flags, 0);
}
SIM_API(cuStreamCreateWithPriority, (CUstream *phStream, unsigned int flags, int priority),
        (phStream, flags, priority))
{
    return stream_create(phStream, flags, priority);
}

static CUresult stream_destroy(CUstream h)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!(s = sim_obj_find(h, SIM_K_STREAM)) || s->legacy || s->per_thread)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a stream created by cuStreamCreate", (void *)h);
    /* Its queued work still runs, and the legacy stream still waits for it. */
    sim_ctx_t *ctx = s->obj.ctx;
    if (SIM_BLOCKING(s))
        sim_after_merge(&ctx->gone, &s->tail);
    for (sim_stream_t **p = &ctx->streams; *p; p = &(*p)->next_ctx)
        if (*p == s) {
            *p = s->next_ctx;
            break;
        }
    sim_stream_released(&s->obj);
    sim_obj_kill(&s->obj);
    return CUDA_SUCCESS;
}
SIM_API(cuStreamDestroy, (CUstream hStream), (hStream)) { return stream_destroy(hStream); }
SIM_API(cuStreamDestroy_v2, (CUstream hStream), (hStream)) { return stream_destroy(hStream); }

static CUresult stream_sync(CUstream h, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    return r == CUDA_SUCCESS ? sim_sync_point(s->obj.ctx, s) : r;
}
SIM_TWINS(cuStreamSynchronize, _ptsz, (CUstream hStream), (hStream), stream_sync(hStream, pt_))
SIM_TWINS(cuStreamQuery, _ptsz, (CUstream hStream), (hStream), stream_sync(hStream, pt_))

#define STREAM_GETTER(fn, T, arg, expr)                                     \
    static CUresult fn##_get(CUstream h, T *arg, int ptsz)                  \
    {                                                                       \
        sim_stream_t *s = NULL;                                             \
        CUresult r = sim_stream_get(h, ptsz, &s);                           \
        return SIM_OUT(r, arg, expr);                                       \
    }                                                                       \
    SIM_TWINS(fn, _ptsz, (CUstream hStream, T *arg), (hStream, arg), fn##_get(hStream, arg, pt_))

STREAM_GETTER(cuStreamGetFlags, unsigned int, flags, s->flags)
STREAM_GETTER(cuStreamGetPriority, int, priority, s->priority)
STREAM_GETTER(cuStreamGetId, unsigned long long, streamId, s->id)
STREAM_GETTER(cuStreamGetCtx, CUcontext, pctx, (CUcontext)s->obj.ctx)

/* ------------------------------------------------------------ host work */

static CUresult host_work(CUstream h, int ptsz, CUhostFn fn, CUstreamCallback cb, void *user, unsigned flags)
{
    sim_spend(sim_event_ns);
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if ((!fn && !cb) || flags != 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null function or nonzero flags");
    if (cb && (r = sim_capture_guard(s)) != CUDA_SUCCESS)
        return r;
    sim_op_t op = { .kind = SIM_OP_HOST };
    op.u.h.fn = fn;
    op.u.h.cb = cb;
    op.u.h.hstream = h;
    op.u.h.user = user;
    return sim_submit(s, &op);
}
SIM_TWINS(cuLaunchHostFunc, _ptsz, (CUstream hStream, CUhostFn fn, void *userData),
          (hStream, fn, userData), host_work(hStream, pt_, fn, NULL, userData, 0))
SIM_TWINS(cuStreamAddCallback, _ptsz, (CUstream hStream, CUstreamCallback cb, void *userData, unsigned int flags),
          (hStream, cb, userData, flags), host_work(hStream, pt_, NULL, cb, userData, flags))

/* ----------------------------------------------------------------- events */

CUresult sim_event_arg(CUevent h, sim_event_t **out)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !(*out = sim_obj_find(h, SIM_K_EVENT)))
        r = sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live event", (void *)h);
    return r;
}

SIM_API(cuEventCreate, (CUevent *phEvent, unsigned int Flags), (phEvent, Flags))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    unsigned known = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
    if (!phEvent || (Flags & ~known) ||
        ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING)))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or bad flags 0x%x", Flags);
    sim_event_t *e = calloc(1, sizeof *e);
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sim_obj_add(&e->obj, SIM_K_EVENT, ctx);
    e->flags = Flags;
    *phEvent = (CUevent)e;
    return CUDA_SUCCESS;
}

static CUresult event_record(CUevent h, CUstream hs, int ptsz, unsigned flags)
{
    sim_spend(sim_event_ns);
    sim_event_t *e = NULL;
    sim_stream_t *s = NULL;
    CUresult r = sim_event_arg(h, &e);
    if (r == CUDA_SUCCESS)
        r = sim_stream_get(hs, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "flags 0x%x", flags);
    sim_op_t op = { .kind = SIM_OP_EVENT };
    op.u.e.ev = e;
    /* In capture, a plain record marks a fork point; an external one
     * becomes an event record node (and is invalid outside capture). */
    if (flags & CU_EVENT_RECORD_EXTERNAL) {
        if (!s->cap)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "CU_EVENT_RECORD_EXTERNAL outside stream capture");
        e->mark.cap = NULL;
        return sim_capture_node(s, &op);
    }
    if (s->cap)
        return sim_capture_mark(s, &e->mark);
    e->mark.cap = NULL;
    return sim_submit(s, &op); /* the generation is counted when it is queued */
}
SIM_TWINS(cuEventRecord, _ptsz, (CUevent hEvent, CUstream hStream),
          (hEvent, hStream), event_record(hEvent, hStream, pt_, 0))
SIM_TWINS(cuEventRecordWithFlags, _ptsz, (CUevent hEvent, CUstream hStream, unsigned int flags),
          (hEvent, hStream, flags), event_record(hEvent, hStream, pt_, flags))

static CUresult event_sync(CUevent h)
{
    sim_event_t *e = NULL;
    CUresult r = sim_event_arg(h, &e);
    if (r == CUDA_SUCCESS && sim_capmark_active(&e->mark))
        r = sim_err(CUDA_ERROR_CAPTURED_EVENT, "event was last recorded in an active capture");
    return r == CUDA_SUCCESS ? sim_sync_event(e) : r;
}
SIM_API(cuEventSynchronize, (CUevent hEvent), (hEvent)) { return event_sync(hEvent); }
SIM_API(cuEventQuery, (CUevent hEvent), (hEvent)) { return event_sync(hEvent); }

static CUresult event_destroy(CUevent h)
{
    sim_event_t *e = NULL;
    CUresult r = sim_event_arg(h, &e);
    if (r == CUDA_SUCCESS) {
        free(e->mark.deps);
        e->mark.deps = NULL;
        e->mark.ndeps = 0;
        sim_obj_kill(&e->obj);
    }
    return r;
}
SIM_API(cuEventDestroy, (CUevent hEvent), (hEvent)) { return event_destroy(hEvent); }
SIM_API(cuEventDestroy_v2, (CUevent hEvent), (hEvent)) { return event_destroy(hEvent); }

/* Virtual time (sim_sched.c): an event's time is that of the command that
 * completes its record, the length of the longest chain of timed work
 * behind it; it does not depend on the order the scheduler chose. But a
 * GPU stamps a record when it runs: an end recorded before its start (a
 * record nothing orders before the other, say one a graph hangs off its
 * stream's chain) gives a negative time on an H200. So when the end's
 * record ran first, the time is negative here too, and the order the
 * scheduler drew decides, as a GPU's timing would. */
static CUresult elapsed(float *ms, CUevent hs, CUevent he)
{
    sim_event_t *a = NULL, *b = NULL;
    CUresult r = sim_event_arg(hs, &a);
    if (r == CUDA_SUCCESS)
        r = sim_event_arg(he, &b);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ms)
        return CUDA_ERROR_INVALID_VALUE;
    if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "event created with CU_EVENT_DISABLE_TIMING");
    if (!a->recorded || !b->recorded)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "event never recorded");
    if (a->completed < a->recorded || b->completed < b->recorded)
        return sim_err(CUDA_ERROR_NOT_READY, "event not completed yet");
    *ms = (float)((double)b->t_us - (double)a->t_us) / 1000.0f;
    if (b->ran < a->ran)
        *ms = -fabsf(*ms) - 0.001f;
    return CUDA_SUCCESS;
}
SIM_API(cuEventElapsedTime, (float *pMilliseconds, CUevent hStart, CUevent hEnd), (pMilliseconds, hStart, hEnd))
{
    return elapsed(pMilliseconds, hStart, hEnd);
}
SIM_API(cuEventElapsedTime_v2, (float *pMilliseconds, CUevent hStart, CUevent hEnd), (pMilliseconds, hStart, hEnd))
{
    return elapsed(pMilliseconds, hStart, hEnd);
}

/* Outside capture, the stream's next command follows the command that
 * completes the event's latest record at the time of the wait. A wait on
 * an event recorded in a capture joins the stream into that capture; in
 * capture, an external wait becomes an event wait node (and is invalid
 * outside capture). */
static CUresult wait_event(CUstream hs, CUevent h, unsigned flags, int ptsz)
{
    sim_spend(sim_event_ns);
    sim_stream_t *s = NULL;
    sim_event_t *e = NULL;
    CUresult r = sim_stream_get(hs, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = sim_event_arg(h, &e);
    if (r != CUDA_SUCCESS)
        return r;
    if (flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "flags 0x%x", flags);
    if (flags & CU_EVENT_WAIT_EXTERNAL) {
        if (!s->cap)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "CU_EVENT_WAIT_EXTERNAL outside stream capture");
        sim_op_t op = { .kind = SIM_OP_WAIT };
        op.u.e.ev = e;
        return sim_capture_node(s, &op);
    }
    if (s->cap || sim_capmark_active(&e->mark))
        return sim_capture_wait(s, &e->mark, e->recorded != 0);
    sim_after_add(&s->tail, e->rec, e->t_us);
    s->tail_kernel = 0;
    return CUDA_SUCCESS;
}
SIM_TWINS(cuStreamWaitEvent, _ptsz, (CUstream hStream, CUevent hEvent, unsigned int Flags),
          (hStream, hEvent, Flags), wait_event(hStream, hEvent, Flags, pt_))

const sim_proc_t sim_stream_procs[] = {
    SIM_PROC(cuStreamCreate, 2000),                  SIM_PROC(cuStreamCreateWithPriority, 5050),
    SIM_PROC(cuStreamDestroy, 2000),                 SIM_PROC(cuStreamDestroy_v2, 4000),
    SIM_PROC(cuStreamSynchronize, 2000),             SIM_PROC(cuStreamSynchronize_ptsz, 7000),
    SIM_PROC(cuStreamQuery, 2000),                   SIM_PROC(cuStreamQuery_ptsz, 7000),
    SIM_PROC(cuStreamWaitEvent, 3020),               SIM_PROC(cuStreamWaitEvent_ptsz, 7000),
    SIM_PROC(cuStreamGetFlags, 5050),                SIM_PROC(cuStreamGetFlags_ptsz, 7000),
    SIM_PROC(cuStreamGetPriority, 5050),             SIM_PROC(cuStreamGetPriority_ptsz, 7000),
    SIM_PROC(cuStreamGetId, 12000),                  SIM_PROC(cuStreamGetId_ptsz, 12000),
    SIM_PROC(cuStreamGetCtx, 9020),                  SIM_PROC(cuStreamGetCtx_ptsz, 9020),
    SIM_PROC(cuLaunchHostFunc, 10000),               SIM_PROC(cuLaunchHostFunc_ptsz, 10000),
    SIM_PROC(cuStreamAddCallback, 5000),             SIM_PROC(cuStreamAddCallback_ptsz, 7000),
    SIM_PROC(cuEventCreate, 2000),
    SIM_PROC(cuEventRecord, 2000),                   SIM_PROC(cuEventRecord_ptsz, 7000),
    SIM_PROC(cuEventRecordWithFlags, 11010),         SIM_PROC(cuEventRecordWithFlags_ptsz, 11010),
    SIM_PROC(cuEventSynchronize, 2000),              SIM_PROC(cuEventQuery, 2000),
    SIM_PROC(cuEventDestroy, 2000),                  SIM_PROC(cuEventDestroy_v2, 4000),
    SIM_PROC(cuEventElapsedTime, 2000),              SIM_PROC(cuEventElapsedTime_v2, 12080),
};
const size_t sim_stream_nprocs = sizeof sim_stream_procs / sizeof sim_stream_procs[0];
