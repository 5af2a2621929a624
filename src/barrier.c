/* barrier.c: the barrier rules (DESIGN.md section 3, invariant 2: nothing
 * held crosses a barrier).
 *
 * A barrier of one stream (hooks.def class SBAR: synchronisation, copies
 * the shim cannot snapshot, stream memory operations, ...) settles and
 * closes the step that stream is part of; on the legacy stream it first
 * settles every step on a stream that synchronises with it, and on a
 * blocking stream a step held on the legacy stream, as an op there would
 * (ops.c). A context-wide barrier (class BAR: context synchronisation,
 * frees, unloads, synchronous copies) settles and closes every step. The
 * start of the program's own capture settles everything too: while it
 * lasts the engine stands aside (invariant 5).
 */
#include "config.h"
#include "eng.h"

/* Whether call `id` frees, unmaps or unregisters memory (see gs_frees). */
static bool frees_memory(gs_fn_id_t id)
{
    switch (id) {
    case GS_ID_cuMemFree: case GS_ID_cuMemFree_v2: case GS_ID_cuMemFreeHost:
    case GS_ID_cuMemFreeAsync: case GS_ID_cuMemFreeAsync_ptsz:
    case GS_ID_cuMemHostUnregister: case GS_ID_cuMemUnmap: case GS_ID_cuMemRelease:
    case GS_ID_cuMemAddressFree: case GS_ID_cuMemPoolTrimTo: case GS_ID_cuMemPoolDestroy:
        return true;
    default:
        return false;
    }
}

static bool begins_capture(gs_fn_id_t id)
{
    switch (id) {
    case GS_ID_cuStreamBeginCapture:
    case GS_ID_cuStreamBeginCapture_ptsz:
    case GS_ID_cuStreamBeginCapture_v2:
    case GS_ID_cuStreamBeginCapture_v2_ptsz:
    case GS_ID_cuStreamBeginCaptureToGraph:
    case GS_ID_cuStreamBeginCaptureToGraph_ptsz:
        return true;
    default:
        return false;
    }
}

static void close_step(gs_stream_t *st)
{
    if (st->origin == st)
        gs_step_close(st);
}

static void forget_stream(gs_stream_t *st)
{
    close_step(st);
    gs_streams_reset(st->key);
}

/* Whether a context-wide barrier cuts some step short (one that holds ops,
 * or has fewer than GRAPHSHIM_MIN_OPS). */
static bool cut_any;
static void note_cut(gs_stream_t *st)
{
    cut_any |= st->origin == st &&
               (st->holding || (st->n > 0 && st->n < (unsigned)gs_opt.min_ops));
}

static void settle_everything(gs_breaker_t why)
{
    gs_hold_settle_all(NULL, false, why);
    gs_hold_join_all_pending();
    gs_for_each_stream(close_step);
}

void gs_eng_barrier_stream(gs_fn_id_t id, CUstream s)
{
    gs_count(GS_CTR_barriers, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        return;
    }
    gs_eng_enter();
    if (begins_capture(id))
        settle_everything(GS_BRK_capture);
    else if (gs_op_barrier(id, s, GS_BRK_barrier))
        gs_breaker(GS_BRK_barrier, id);
    /* Counted after the steps closed: a template formed just now, at this
     * barrier, must still set its copy nodes again after this free. */
    gs_frees += frees_memory(id);
    gs_eng_leave();
}

void gs_eng_barrier_all(gs_fn_id_t id)
{
    gs_count(GS_CTR_barriers, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        return;
    }
    gs_eng_enter();
    gs_eng_call = id;
    cut_any = false;
    gs_for_each_stream(note_cut);
    if (cut_any)
        gs_breaker(GS_BRK_barrier, id);
    settle_everything(GS_BRK_barrier);
    gs_frees += frees_memory(id); /* after the steps closed (see above) */
    if (id == GS_ID_cuModuleUnload || id == GS_ID_cuLibraryUnload) {
        /* Kernels of the module die with it, and a later module may reuse
         * their handles: every template, record and layout goes. */
        gs_templates_release_all();
        gs_for_each_stream(forget_stream);
        gs_func_cache_clear();
    }
    /* Frees and unregistrations end what the pointer cache knows. */
    gs_ptr_cache_clear();
    gs_eng_leave();
}

void gs_eng_after_barrier(gs_fn_id_t id, CUstream s, CUresult res)
{
    if (begins_capture(id)) {
        /* The program builds a graph of its own: stand aside until it ends
         * (invariant 5). Everything held was issued before the call. */
        if (res == CUDA_SUCCESS) {
            atomic_fetch_add(&gs_captures, 1);
            gs_breaker(GS_BRK_capture, id);
        }
        return;
    }
    switch (id) {
    case GS_ID_cuStreamEndCapture:
    case GS_ID_cuStreamEndCapture_ptsz:
        if ((res == CUDA_SUCCESS || res == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) &&
            atomic_load(&gs_captures) > 0)
            atomic_fetch_sub(&gs_captures, 1);
        break;
    case GS_ID_cuStreamDestroy:
    case GS_ID_cuStreamDestroy_v2:
        if (res == CUDA_SUCCESS && gs_opt.mode != GS_MODE_PASSTHROUGH) {
            bool pt;
            gs_eng_enter();
            gs_streams_reset(gs_stream_key(id, s, &pt));
            gs_eng_leave();
        }
        break;
    default:
        break;
    }
}

static void drop_held(gs_stream_t *st)
{
    if (st->origin == st)
        gs_step_reset(st);
    st->pending = NULL;
}

void gs_eng_atfork_child(void)
{
    /* The child has one thread and none of the parent's GPU work: what the
     * parent held is not the child's to issue. */
    pthread_mutex_init(&gs_eng_lock, NULL);
    gs_sub_atfork_child();
    gs_watchdog_atfork_child();
    gs_for_each_stream(drop_held);
    atomic_store(&gs_holders, 0);
}
