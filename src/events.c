/* events.c: events and host functions inside steps (DESIGN.md section 9).
 *
 * cuEventRecord(e, A) inside a step is an op: an event record node, whose
 * event is patched when the program uses a different one each step (event
 * pools). The engine remembers where e's latest record is (gs_event_t).
 * cuStreamWaitEvent(B, e) then:
 *  - if e's latest record is in a step still open, and B is in that step or
 *    can join it, is a wait on the step's own event: an edge from the
 *    record's node to what follows on B (fork, or join back). A stream can
 *    join when it is an ordinary stream (not the legacy or a per-thread
 *    stream) with no step of its own that other streams have joined; its
 *    own step ends at the join. A step begun on the legacy stream can be
 *    joined by a non-blocking stream (PyTorch's main stream is the legacy
 *    stream, its side streams non-blocking): its graph goes out on the
 *    legacy stream, which orders it as the legacy ops were;
 *  - if the record is in a step B cannot join, settles that step first and
 *    is a barrier of B;
 *  - otherwise (e recorded before the step) is an event wait node.
 * A record of an event whose latest record another step still holds settles
 * that step first, so records reach the GPU in the program's order.
 * cuLaunchHostFunc inside a step is a host node, patched when the function
 * or its data change, and the step's last op: the program may be waiting
 * for the callback.
 *
 * Host-side uses of an event (query, synchronise) settle and close the step
 * that holds its latest record (hooks.def class EVHOST), but for a query of
 * a record the step still holds: that work is not done, and the query says
 * so (up to GS_QUERY_HELD_MAX times a record) without ending the step. A destroy ends
 * nothing: it waits while the shim still names the event (evlife.c).
 */
#include "config.h"
#include "eng.h"

#define REAL(type, id) ((type)gs_real_sync(id))

/* Eager event calls are timed as gs_sample says (under the engine lock),
 * for the payoff rule and the summary. */
static unsigned ev_tick;

static uint64_t ev_t0(void)
{
    return gs_sample(&ev_tick) ? gs_clock_ns() : 0;
}

static void ev_t1(uint64_t t0)
{
    if (t0 != 0)
        gs_diag_eager_ev_ns(gs_clock_ns() - t0);
}

/* Held event calls are timed the same way, as held launches are: the
 * shim's own work, less a graph launch the op set off (counted as graph
 * time already). */
static unsigned hold_tick;

typedef struct {
    uint64_t t0, g0;
} hold_timer_t;

static hold_timer_t hold_t0(void)
{
    if (!gs_sample(&hold_tick))
        return (hold_timer_t){0, 0};
    return (hold_timer_t){gs_clock_ns(), gs_diag_graph_total_ns()};
}

static void hold_t1(hold_timer_t h)
{
    if (h.t0 != 0)
        gs_diag_hold_ev_ns(gs_clock_ns() - h.t0 - (gs_diag_graph_total_ns() - h.g0));
}

static bool event_nodes(void)
{
    static int have = -1;
    if (GS_UNLIKELY(have < 0))
        have = gs_graph_has_event_nodes();
    return have;
}

/* Whether e's latest record is in an open step and already issued (with
 * all that came before it there). */
static bool record_issued(const gs_event_t *ev)
{
    return gs_event_in_step(ev) != NULL && ev->index < ev->origin->issued;
}

/* Settles the step that holds e's latest record unissued, unless it is
 * `mine`; returns whether it did. */
static bool settle_holder_of(gs_event_t *ev, gs_stream_t *mine)
{
    if (gs_event_in_step(ev) == NULL || ev->origin == mine || record_issued(ev))
        return false;
    gs_hold_settle(ev->origin, GS_BRK_event);
    return true;
}

/* Where e's latest record stands in g's open step, or -1. Asked once the
 * op has its place: making room for it may close the step the record was
 * in (a full step), and an index taken before would name nothing in the
 * new one (a graph edge from past its end: a segfault in the real driver,
 * in JAX). */
static int index_in(const gs_event_t *ev, const gs_stream_t *g)
{
    return gs_event_in_step(ev) != NULL && ev->origin == g ? (int)ev->index : -1;
}

/* Whether stream x may join step g. */
static bool can_join(const gs_stream_t *x, const gs_stream_t *g)
{
    /* A blocking stream in a legacy step would need the legacy stream's
     * implicit synchronisation as edges inside the graph: it stays out. */
    return !x->legacy && !x->per_thread && !(g->legacy && x->blocking) && x->origin == x &&
           x->nslots == 1 && g->nslots < GS_MAX_SLOTS && x != g;
}

/* x joins g's step as its next slot; x's own step ends here. */
static void join(gs_stream_t *x, gs_stream_t *g)
{
    if (x->holding)
        gs_hold_settle(x, GS_BRK_event);
    gs_step_close(x);
    x->origin = g;
    x->slot = (uint8_t)g->nslots;
    g->slots[g->nslots++] = x;
}

CUresult gs_eng_event_record(gs_fn_id_t id, CUevent e, CUstream s, unsigned flags,
                             bool with_flags)
{
#define FORWARD_RECORD()                                                     \
    (with_flags ? REAL(evrecf_fn, id)(e, s, flags) : REAL(evrec_fn, id)(e, s))
    gs_count(GS_CTR_ops, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        gs_count(GS_CTR_ops_passed, 1);
        return FORWARD_RECORD();
    }
    gs_eng_enter();
    hold_timer_t h0 = hold_t0();
    gs_eng_call = id;
    gs_stream_t *x;
    gs_rec_t *r = NULL;
    gs_event_t *ev = gs_event_get(e, true);
    gs_rec_outcome_t o = event_nodes() && ev != NULL ? gs_op_begin(id, s, 0, &x, &r)
                                                     : GS_REC_BARRIER;
    if (o == GS_REC_BARRIER) {
        if (ev != NULL)
            settle_holder_of(ev, NULL);
        if (gs_op_barrier(id, s, GS_BRK_barrier))
            gs_breaker(GS_BRK_barrier, id);
    }
    CUresult res = CUDA_SUCCESS;
    bool forward = true;
    if (o == GS_REC_OK) {
        gs_stream_t *g = x->origin;
        settle_holder_of(ev, g);
        r->kind = GS_OP_EVREC;
        r->u.e.ev = e;
        r->u.e.flags = flags;
        r->u.e.ref = -1;
        /* Every record is a node, whichever records of the step share its
         * event: on one stream they complete in stream order, and one that
         * a later record on another stream supersedes records the shim's
         * own event in that launch (graph.c). So the signature need not say
         * which records share an event, and event pools that hand events
         * out in varying order (XLA's) do not make steps differ. */
        r->u.e.prev = index_in(ev, g);
        /* An event without timing is recorded off its stream's chain
         * (dag.c): nothing can time it, and the stream's next op need not
         * wait for the record. The signature says which, as the graph's
         * shape does. */
        if (ev->notiming)
            r->flags |= GS_REC_LEAF;
        r->sig = gs_mix(GS_OP_EVREC, (uint64_t)id | (uint64_t)r->flags << 32);
        /* Where the record is, before it may go out in a launch (which can
         * end a periodic step: the record is then simply issued). */
        ev->origin = g;
        ev->gen = g->gen;
        ev->index = g->n;
        ev->queries = 0;
        forward = !gs_op_commit(g, r);
        if (forward) {
            gs_hold_join_pending(x);
            uint64_t t0 = ev_t0();
            res = FORWARD_RECORD();
            ev_t1(t0);
            gs_op_forwarded(g, res);
        } else {
            hold_t1(h0);
        }
    } else {
        if (ev != NULL)
            ev->origin = NULL; /* recorded outside any step */
        uint64_t t0 = ev_t0();
        res = FORWARD_RECORD();
        ev_t1(t0);
    }
    gs_eng_leave();
    return res;
#undef FORWARD_RECORD
}

CUresult gs_eng_stream_wait(gs_fn_id_t id, CUstream s, CUevent e, unsigned flags)
{
    gs_count(GS_CTR_ops, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        gs_count(GS_CTR_ops_passed, 1);
        return REAL(evwait_fn, id)(s, e, flags);
    }
    gs_eng_enter();
    hold_timer_t h0 = hold_t0();
    gs_eng_call = id;
    gs_event_t *ev = gs_event_get(e, false);
    const gs_rec_t *rec = gs_event_in_step(ev);
    bool pt;
    uint64_t key = gs_stream_key(id, s, &pt); /* before pt is read */
    gs_stream_t *x = gs_stream_get(key, pt, s);
    bool ok = event_nodes() && x != NULL;
    if (ok && rec != NULL) {
        gs_stream_t *g = ev->origin;
        if (x->origin != g && can_join(x, g) && g->ctx != NULL &&
            gs_op_current_ctx() == g->ctx)
            join(x, g);
        if (x->origin != g)
            ok = false; /* a step it cannot join holds the record */
    }
    gs_rec_t *r = NULL;
    gs_stream_t *xs;
    gs_rec_outcome_t o = ok ? gs_op_begin(id, s, 0, &xs, &r) : GS_REC_BARRIER;
    if (o == GS_REC_BARRIER) {
        if (ev != NULL && settle_holder_of(ev, NULL))
            gs_breaker(GS_BRK_event, id);
        if (gs_op_barrier(id, s, GS_BRK_barrier))
            gs_breaker(GS_BRK_barrier, id);
    }
    CUresult res;
    if (o == GS_REC_OK) {
        gs_stream_t *g = xs->origin;
        /* -1 when the record went out with a step that filled up: a wait on
         * an earlier event. */
        int ref = index_in(ev, g);
        r->kind = GS_OP_EVWAIT;
        r->u.e.ev = e;
        r->u.e.flags = flags;
        r->u.e.ref = ref;
        /* A wait on the step's own event is known by how far back the
         * record is; on an earlier event, by being external. */
        r->sig = gs_op_wait_sig(ref, g->n);
        if (gs_op_commit(g, r)) {
            hold_t1(h0);
            gs_eng_leave();
            return CUDA_SUCCESS;
        }
        gs_hold_join_pending(xs);
        uint64_t t0 = ev_t0();
        res = REAL(evwait_fn, id)(s, e, flags);
        ev_t1(t0);
        gs_op_forwarded(g, res);
    } else {
        uint64_t t0 = ev_t0();
        res = REAL(evwait_fn, id)(s, e, flags);
        ev_t1(t0);
    }
    gs_eng_leave();
    return res;
}

CUresult gs_eng_host_func(gs_fn_id_t id, CUstream s, CUhostFn fn, void *data)
{
    gs_count(GS_CTR_ops, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        gs_count(GS_CTR_ops_passed, 1);
        return REAL(hostfn_fn, id)(s, fn, data);
    }
    gs_eng_enter();
    hold_timer_t h0 = hold_t0();
    gs_eng_call = id;
    gs_stream_t *x;
    gs_rec_t *r = NULL;
    gs_rec_outcome_t o = event_nodes() && fn != NULL ? gs_op_begin(id, s, 0, &x, &r)
                                                     : GS_REC_BARRIER;
    if (o == GS_REC_BARRIER && gs_op_barrier(id, s, GS_BRK_barrier))
        gs_breaker(GS_BRK_barrier, id);
    CUresult res;
    if (o == GS_REC_OK) {
        gs_stream_t *g = x->origin;
        r->kind = GS_OP_HOST;
        r->u.h.fn = fn;
        r->u.h.data = data;
        r->sig = gs_mix(GS_OP_HOST, id);
        res = CUDA_SUCCESS;
        bool held = gs_op_commit(g, r);
        if (held)
            hold_t1(h0);
        else {
            gs_hold_join_pending(x);
            uint64_t t0 = ev_t0();
            res = REAL(hostfn_fn, id)(s, fn, data);
            ev_t1(t0);
            gs_op_forwarded(g, res);
        }
        /* The program may block until the callback has run, on a condition
         * the shim cannot see (JAX waits so for every value it reads back).
         * With GRAPHSHIM_HOST_WAIT=0 every host function ends its step;
         * otherwise those the program was seen waiting for do (watchdog.c),
         * and the watchdog issues a held one the program waits for without
         * the shim knowing yet. A step that matched its template whole has
         * gone out at the commit; one that did not is issued by the close.
         * Other streams' steps stay held: what the callback follows on them
         * joined this step through its events. */
        if (gs_opt.host_wait == 0 || gs_watchdog_awaited(g)) {
            if (gs_op_close(x, GS_BRK_barrier))
                gs_breaker(GS_BRK_barrier, id);
        } else if (held && g->holding) {
            gs_watchdog_held();
        }
    } else {
        uint64_t t0 = ev_t0();
        res = REAL(hostfn_fn, id)(s, fn, data);
        ev_t1(t0);
    }
    gs_eng_leave();
    return res;
}

/* How many times cuEventQuery answers "not ready" for one held record
 * before the step that holds it is settled: a program that spins on the
 * query gets its answer after this many; PyTorch's allocator queries the
 * oldest event it waits on at every allocation, some 7 times a layer of
 * tools/torch-streams.py, and an iteration of 8 layers stays one step. */
#define GS_QUERY_HELD_MAX 64

void gs_eng_event_created(CUevent e, unsigned flags)
{
    if (!gs_engine_on())
        return;
    gs_eng_enter();
    /* A handle the driver hands out again is a new event: every field but
     * the flags is already as a fresh one's (gs_event_forget at the real
     * destroy). */
    gs_event_t *ev = gs_event_get(e, true);
    if (ev != NULL)
        ev->notiming = (flags & CU_EVENT_DISABLE_TIMING) != 0;
    gs_eng_leave();
}

bool gs_eng_event_host(gs_fn_id_t id, CUevent e, CUresult *answer)
{
    gs_count(GS_CTR_barriers, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        return true;
    }
    bool forward = true;
    gs_eng_enter();
    gs_eng_call = id;
    gs_event_t *ev = gs_event_get(e, false);
    if (id == GS_ID_cuEventDestroy || id == GS_ID_cuEventDestroy_v2) {
        /* Destroying does not look at the event's work: no step ends. */
        forward = ev == NULL || !gs_event_destroy_later(ev);
        GS_TRACE("%s(%p)%s", gs_fn_names[id], (void *)e,
                 forward ? "" : ": deferred while the shim names it");
        if (forward)
            gs_event_forget(e); /* a new event may get the handle */
        gs_eng_leave();
        return forward;
    }
    if (id == GS_ID_cuEventQuery && gs_event_in_step(ev) != NULL) {
        gs_stream_t *g = ev->origin;
        if (record_issued(ev)) {
            /* Issued, with all that came before it in the step: the driver
             * answers, and the step goes on (PyTorch's allocator queries
             * the event of a block a layer later: the step was one layer
             * long). */
            GS_TRACE("cuEventQuery(%p): its record in the step is issued", (void *)e);
            gs_eng_leave();
            return true;
        }
        if (g->holding && ev->queries < GS_QUERY_HELD_MAX) {
            /* Held: the GPU has not been given it, so its work is not
             * done, which is what the query says; the step goes on. */
            ev->queries++;
            gs_count(GS_CTR_queries_held, 1);
            GS_TRACE("cuEventQuery(%p): its record is held in a step: not ready (%u)",
                     (void *)e, ev->queries);
            *answer = CUDA_ERROR_NOT_READY;
            gs_eng_leave();
            return false;
        }
    }
    GS_TRACE("%s(%p): %s", gs_fn_names[id], (void *)e,
             gs_event_in_step(ev) != NULL ? "its record is in a step, which ends"
                                          : "not recorded in an open step");
    if (gs_event_in_step(ev) != NULL) {
        gs_stream_t *g = ev->origin;
        bool held = g->holding;
        if (settle_holder_of(ev, NULL) || held)
            gs_breaker(GS_BRK_event, id);
        /* The host looks at the step from here: it ends. */
        gs_step_close(g);
    }
    gs_eng_leave();
    return forward;
}
