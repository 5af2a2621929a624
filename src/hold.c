/* hold.c: holding ops that match a template, launching the template's graph
 * in their place, and issuing them eagerly when the match breaks.
 *
 * Armed: at the start of a step (or right after a template of it went out),
 * an op that matches the first node of a template of its stream starts a
 * match. Hold: ops that go on matching are held, not issued; each chunk of
 * the template's graph is launched as soon as its ops are in. When the last
 * node matches (and no longer template still matches) the rest is launched.
 * An op that matches no template, or a barrier in the middle, issues the
 * held ops eagerly, in their original order, on the streams and through the
 * entry points they came by, and counts a divergence by reason. Two ops of
 * different streams that came the other way round from the template (two
 * threads' calls) match swapped; a template whose matches are cut short
 * again and again retires.
 *
 * A step may span streams (slots). Its graph is launched on the stream where
 * it began, so the shim orders the other streams with events of its own:
 * before a launch, the graph waits for each joined stream's earlier work;
 * after it, each joined stream waits for the graph before its next work
 * (`pending`, applied lazily: before anything else goes to that stream).
 *
 * Several steps may hold at once, each on its own streams. What must see
 * held ops issued settles them: a barrier of one of their streams, the
 * legacy stream's implicit synchronisation, context-wide barriers, and the
 * events they record. A step held on a per-thread default stream that
 * another thread must settle goes out on the legacy stream, which is
 * ordered after that stream's earlier work and before its later work (the
 * implicit synchronisation of blocking streams), since only its own thread
 * can name it.
 */
#include "config.h"
#include "eng.h"

#include <string.h>

atomic_int gs_holders; /* steps holding ops now (read without the lock) */

static void release_slots(gs_stream_t *st);

static void stop_holding(gs_stream_t *st)
{
    release_slots(st);
    if (st->holding)
        atomic_fetch_sub_explicit(&gs_holders, 1, memory_order_relaxed);
    st->holding = false;
    st->ncand = 0;
    st->complete = NULL;
    st->chunks_done = 0;
    st->swap_at = 0;
}

/* The counter that mirrors each breaker among the divergence counts. */
static gs_counter_t div_counter(gs_breaker_t why)
{
    switch (why) {
    case GS_BRK_mismatch: return GS_CTR_div_mismatch;
    case GS_BRK_staging: return GS_CTR_div_staging;
    case GS_BRK_full: return GS_CTR_div_full;
    case GS_BRK_stream:
    case GS_BRK_legacy:
    case GS_BRK_event: return GS_CTR_div_stream;
    default: return GS_CTR_div_barrier;
    }
}

static void retire(gs_template_t *t);

/* A held match is cut: counted once, as a divergence and as a breaker.
 *
 * A template whose matches are cut short GS_CUT_MAX times in a row (and
 * never whole in between) retires: each such match held ops only to issue
 * them late. That happens when the steps changed after it formed: JAX's
 * whole step became a template, then the watchdog learnt a host function
 * in the middle that the program waits for, which now ends every step
 * there (H200: 61,700 ops held and issued eagerly in 800 steps, and the
 * loop 0.69 of itself paused). The stream learns the shorter steps. Part
 * of the never-slower rule: GRAPHSHIM_PAYOFF=0 keeps such templates too. */
static void cut(gs_stream_t *st, gs_breaker_t why, unsigned detail)
{
    gs_count(div_counter(why), 1);
    for (unsigned c = 0; c < st->ncand; c++) {
        gs_template_t *t = st->cand[c];
        if (gs_opt.payoff && !t->failed && ++t->cuts == GS_CUT_MAX) {
            GS_INFO("a template of %u ops on stream %#llx was cut short %u times in a row "
                    "(last by %s): it runs eagerly from now on", t->len,
                    (unsigned long long)t->stream_key, GS_CUT_MAX, gs_breaker_name(why));
            gs_count(GS_CTR_retired_cut, 1);
            retire(t);
        }
    }
    /* Reasons that are calls name the call that cut the step; a failed
     * graph call was counted, with its name, where it failed. */
    bool call = why != GS_BRK_mismatch && why != GS_BRK_staging && why != GS_BRK_full &&
                why != GS_BRK_attribute;
    if (why != GS_BRK_failed)
        gs_breaker(why, call && detail == 0 ? gs_eng_call : detail);
    GS_TRACE("the held match of the step of stream %#llx is cut at op %u (%s, by %s): what "
             "it held is issued eagerly", (unsigned long long)st->key, st->n,
             gs_breaker_name(why), gs_fn_names[gs_eng_call]);
    st->cut = why;
}

static bool foreign(const gs_stream_t *st)
{
    return st->per_thread && st->owner != gs_thread_index();
}

CUstream gs_hold_issue_stream(const gs_stream_t *origin, const gs_rec_t *r)
{
    return r->slot == 0 && foreign(origin) ? CU_STREAM_LEGACY : r->stream;
}

static CUstream launch_stream(const gs_stream_t *st)
{
    return foreign(st) ? CU_STREAM_LEGACY : st->handle;
}

/* ---------------------------------------------------- ordering of slots */

void gs_hold_join_pending_slow(gs_stream_t *x)
{
    CUevent e = x->pending;
    x->pending = NULL;
    GS_TRACE("stream %#llx waits for the graph it took part in (event %p)",
             (unsigned long long)x->key, (void *)e);
    CUresult r = GS_CALL(cuStreamWaitEvent, x->handle, e, 0);
    if (r != CUDA_SUCCESS) {
        /* The stream must not run ahead of the graph that held its ops:
         * wait on the host instead (slow, but right). */
        GS_LOG_ONCE(GS_LOG_WARN, "cuStreamWaitEvent failed (CUresult %d); streams that "
                    "took part in a graph wait for it on the host", (int)r);
        (void)GS_REAL(cuEventSynchronize)(e);
    }
}

static void join_one(gs_stream_t *st) { gs_hold_join_pending(st); }

void gs_hold_join_all_pending(void) { gs_for_each_stream(join_one); }

static bool make_event(CUevent *e)
{
    CUresult r = *e != NULL ? CUDA_SUCCESS
                            : GS_CALL(cuEventCreate, e, CU_EVENT_DISABLE_TIMING);
    if (r != CUDA_SUCCESS) {
        *e = NULL;
        gs_eng_failure(GS_CTR_fb_launch, "cuEventCreate", r);
    }
    return r == CUDA_SUCCESS;
}

/* Before a launch: the graph (on `ls`) waits for the earlier work of every
 * stream that joined the step since the last launch of this match and has
 * a node in the template's graphs. One without (JAX's callback stream:
 * waits on the step's events and host functions that run after the graph
 * on that stream, graph.c) needs none: its part goes to the stream itself,
 * behind its earlier work, and the launch stream does not wait for the
 * last replay's callbacks. */
static bool order_slots(gs_stream_t *st, const gs_template_t *t, CUstream ls)
{
    for (unsigned k = st->slots_ordered; k < st->nslots; k++) {
        gs_stream_t *x = st->slots[k];
        gs_hold_join_pending(x);
        if (!(t->real_slots & (1u << k))) {
            st->slots_ordered = k + 1;
            continue;
        }
        if (!make_event(&st->slot_ev[k]))
            return false;
        CUresult r = GS_CALL(cuEventRecord, st->slot_ev[k], x->handle);
        if (r == CUDA_SUCCESS)
            r = GS_CALL(cuStreamWaitEvent, ls, st->slot_ev[k], 0);
        if (r != CUDA_SUCCESS) {
            gs_eng_failure(GS_CTR_fb_launch, "cuEventRecord", r);
            return false;
        }
        st->slots_ordered = k + 1;
    }
    return true;
}

/* After launches: every joined stream waits for the graph before its next
 * work. Done when the match ends or before anything is issued eagerly. */
static void release_slots(gs_stream_t *st)
{
    if (!st->after_needed)
        return;
    st->after_needed = false;
    CUstream ls = launch_stream(st);
    CUresult r = CUDA_ERROR_UNKNOWN;
    if (make_event(&st->after))
        r = gs_sub_deferring() && gs_sub_push_record(st->after, ls)
                ? CUDA_SUCCESS
                : GS_CALL(cuEventRecord, st->after, ls);
    for (unsigned k = 1; k < st->nslots; k++) {
        if (r == CUDA_SUCCESS) {
            GS_TRACE("stream %#llx took part in a graph of stream %#llx: it waits for it "
                     "(event %p) before its next work", (unsigned long long)st->slots[k]->key,
                     (unsigned long long)st->key, (void *)st->after);
            st->slots[k]->pending = st->after;
            continue;
        }
        /* Without the event, wait on the host for everything launched. */
        GS_LOG_ONCE(GS_LOG_WARN, "cuEventRecord failed (CUresult %d) after a graph that "
                    "spans streams; waiting for it on the host", (int)r);
        (void)GS_REAL(cuStreamSynchronize)(ls);
        break;
    }
}

/* ------------------------------------------------------------ issuing */

void gs_hold_issue(gs_stream_t *st, unsigned end)
{
    release_slots(st);
    for (unsigned i = st->issued; i < end; i++) {
        const gs_rec_t *r = &st->recs[i];
        if (r->slot > 0)
            gs_hold_join_pending(st->slots[r->slot]);
        CUresult res = gs_issue(r, st->arena, gs_hold_issue_stream(st, r));
        if (res != CUDA_SUCCESS)
            GS_DEBUG("eager issue of a held %s returned %d", gs_fn_names[r->id], (int)res);
    }
    if (st->issued < end)
        st->issued = end;
}

/* Launches chunk c of t for the held records from match_start; on failure
 * what is held goes out eagerly (up to `upto`) and holding stops. */
static bool launch_chunk(gs_stream_t *st, gs_template_t *t, unsigned c, unsigned upto)
{
    bool busy = false;
    CUstream ls = launch_stream(st);
    /* The shim's own ordering events count as the replay's cost. */
    uint64_t t0 = st->slots_ordered < st->nslots ? gs_clock_ns() : 0;
    if (st->nslots > 1 && !order_slots(st, t, ls)) {
        t->failed = true;
        cut(st, GS_BRK_failed, 0);
        gs_hold_issue(st, upto);
        return false;
    }
    if (t0 != 0)
        t->graph_ns += gs_clock_ns() - t0;
    if (gs_graph_launch_chunk(t, c, &st->recs[st->match_start], st->match_start, st->arena,
                              ls, foreign(st), &busy)) {
        st->issued = st->match_start + t->chunks[c].first + t->chunks[c].count;
        st->chunks_done = c + 1;
        st->replayed = true;
        st->after_needed |= st->nslots > 1;
        /* A shorter template that was whole is out of the question now: its
         * ops went out in this chunk. */
        st->complete = NULL;
        return true;
    }
    /* A failure was counted and logged where it happened. */
    cut(st, busy ? GS_BRK_staging : GS_BRK_failed, 0);
    gs_hold_issue(st, upto);
    return false;
}

/* Never slower (issue 11): after 32 replays of a template, and every 1024
 * after, what a replay cost is held against what its ops cost eager. A
 * replay: its launches and patches and the shim's events that order the
 * streams it spans before it (measured: the median of the last 32
 * replays), the record after it and the waits
 * it leaves pending (one per joined stream, at the median of an eager
 * event call) and
 * holding its ops (the measured median each). Eagerly: each kernel, copy or
 * memset at the median of an eager launch, each event record, wait or host
 * function at the median of those (JAX's steps are mostly these: five ops
 * whose launch costs more than the calls it replaces). A template that does
 * not pay goes back to eager: its graph is freed, the step is not built
 * again, and the info log says so once. */
/* The median cost of the last GS_PAYOFF_WINDOW replays (the rule runs at
 * 32 replays, then every 1024: it sorts a copy then). The mean let one
 * launch the OS preempted for milliseconds retire a template that pays. */
static double replay_median_ns(const gs_template_t *t)
{
    unsigned n = t->replays < GS_PAYOFF_WINDOW ? (unsigned)t->replays : GS_PAYOFF_WINDOW;
    uint32_t v[GS_PAYOFF_WINDOW];
    memcpy(v, t->replay_ns, n * sizeof v[0]);
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint32_t x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return n ? (double)v[n / 2] : 0.0;
}

static void check_payoff(gs_template_t *t)
{
    if (!gs_opt.payoff || (t->replays != 32 && t->replays % 1024 != 0))
        return;
    gs_costs_t c;
    gs_diag_costs(&c);
    if (c.eager.n < 4 || c.hold.n < 8)
        return; /* too few samples to judge (the first 32 launches are timed) */
    double ev_ns = c.eager_ev.n >= 4 ? (double)c.eager_ev.median_ns : (double)c.eager.median_ns;
    unsigned nev = 0; /* counted per chunk when they were built */
    for (unsigned k = 0; k < t->nchunks; k++)
        nev += t->chunks[k].nev;
    double hold_ev = c.hold_ev.n >= 8 ? (double)c.hold_ev.median_ns : (double)c.hold.median_ns;
    double eager = (double)(t->len - nev) * (double)c.eager.median_ns + nev * ev_ns;
    double shim = replay_median_ns(t) +
                  (t->nslots > 1 ? t->nslots : 0) * ev_ns +
                  (double)(t->len - nev) * (double)c.hold.median_ns + nev * hold_ev;
    if (shim <= eager)
        return;
    GS_INFO("a template of %u ops on stream %#llx does not pay: a replay costs %.1f us, its "
            "ops eagerly %.1f us; it runs eagerly from now on", t->len,
            (unsigned long long)t->stream_key, shim / 1e3, eager / 1e3);
    retire(t);
}

/* t goes back to eager for good: its graph is freed and the step is not
 * built again. */
static void retire(gs_template_t *t)
{
    gs_count(GS_CTR_retired, 1);
    t->failed = true;
    gs_graph_destroy(t);
    /* A stream whose steps keep coming in new variants that do not pay
     * (JAX's eager loop, where holding an op costs about as much as the
     * event call it replaces) would replay each new one 32 times at a
     * loss: after GS_RETIRE_MAX it forms no more templates. */
    gs_stream_t *st = gs_stream_find(t->stream_key);
    if (st != NULL && ++st->retired == GS_RETIRE_MAX)
        GS_INFO("stream %#llx: %u templates were retired; its steps run eagerly from now on",
                (unsigned long long)st->key, st->retired);
    gs_eng_judge_aside();
}

/* Launches what remains of t, which the held records match whole; on
 * failure they go out eagerly. Either way they are issued afterwards. */
static void launch(gs_stream_t *st, gs_template_t *t)
{
    unsigned end = st->match_start + t->len;
    bool ok = true;
    for (unsigned c = st->chunks_done; ok && c < t->nchunks; c++)
        ok = launch_chunk(st, t, c, end);
    if (ok) {
        gs_template_touch(t);
        t->cuts = 0;
    }
    GS_TRACE("the step of stream %#llx matched a template of %u ops whole: %s",
             (unsigned long long)st->key, t->len,
             ok ? "its graph went out" : "a graph launch failed, it went out eagerly");
    stop_holding(st);
    if (ok)
        check_payoff(t);
    st->match_start = end;
    /* A periodic stream has no barrier to end its step: drop what is done. */
    if (st->period > 0 && st->issued == st->n)
        gs_step_reset(st);
}

void gs_hold_settle(gs_stream_t *st, gs_breaker_t why)
{
    if (!st->holding)
        return;
    unsigned held = st->n - st->match_start;
    for (unsigned i = 0; i < st->ncand; i++)
        if (st->cand[i]->len == held) {
            launch(st, st->cand[i]);
            return;
        }
    /* A divergence, even when chunks already took every held op. */
    cut(st, why, 0);
    gs_hold_issue(st, st->n);
    stop_holding(st);
}

/* Whether a step's streams synchronise with the legacy stream. */
static bool group_blocking(const gs_stream_t *st)
{
    for (unsigned k = 0; k < st->nslots; k++)
        if (st->slots[k]->blocking)
            return true;
    return false;
}

static struct {
    gs_stream_t *except;
    bool blocking_only;
    gs_breaker_t why;
} settle_args;

static void settle_one(gs_stream_t *st)
{
    if (st->origin == st && st->holding && st != settle_args.except &&
        (!settle_args.blocking_only || group_blocking(st)))
        gs_hold_settle(st, settle_args.why);
}

void gs_hold_settle_all(gs_stream_t *except, bool blocking_only, gs_breaker_t why)
{
    if (atomic_load_explicit(&gs_holders, memory_order_relaxed) == 0)
        return;
    settle_args.except = except;
    settle_args.blocking_only = blocking_only;
    settle_args.why = why;
    gs_for_each_stream(settle_one);
}

/* ------------------------------------------------------------ matching */

static bool can_hold(void) { return gs_opt.mode == GS_MODE_REPLAY; }

/* The op at idx matches no template: what is held before it goes out
 * eagerly (counted even when chunks already took every held op), and the
 * caller forwards it. */
static bool mismatch(gs_stream_t *st, unsigned idx)
{
    cut(st, GS_BRK_mismatch, 0);
    gs_hold_issue(st, idx);
    stop_holding(st);
    if (st->period > 0)
        st->period = 0; /* the loop changed: learn it again */
    return false;
}

/* Two threads' ops, the other way round.
 *
 * XLA uploads each Python scalar from a thread of its own: a copy and two
 * records on the upload stream, then the callback stream's wait on one of
 * them and a host function. The launching thread waits until the record is
 * made, then makes the compute stream wait for it; whether that wait comes
 * before the upload thread's host function or after it is up to the two
 * threads (H200, tools/jax-eager.py: about one step in two, so most of
 * JAX's steps were cut as mismatches and ran eagerly).
 *
 * Ops of different streams that share no event may run in either order
 * (nothing orders them but events), so the step is the same whichever came
 * first. An op that does not match the template where it came, but one
 * place later, with a single template left, is held there for now
 * (swap_at): if the next op is the one the template has before it, and
 * the two commute, they change places in the step (their records, the
 * signatures that say how far back a waited-for record is, where their
 * events' latest records are, the step's hash) and both go on matching in
 * the template's order. Otherwise it is a mismatch at the op held for now,
 * as it would have been at once: what is held goes out eagerly in the
 * order it came, then the op that came last. Nothing launches while an op
 * is held so, so every graph still gets its records in the template's
 * order. */
bool gs_hold_commute(const gs_stream_t *st, const gs_rec_t *a, const gs_rec_t *b)
{
    if (a->slot == b->slot || a->slot >= st->nslots || b->slot >= st->nslots)
        return false;
    const gs_stream_t *sa = st->slots[a->slot], *sb = st->slots[b->slot];
    /* The legacy stream orders itself with every blocking stream; a
     * per-thread stream's step may go out on the legacy stream. */
    if (sa->legacy || sb->legacy || sa->per_thread || sb->per_thread)
        return false;
    bool ea = a->kind == GS_OP_EVREC || a->kind == GS_OP_EVWAIT;
    bool eb = b->kind == GS_OP_EVREC || b->kind == GS_OP_EVWAIT;
    return !(ea && eb && a->u.e.ev == b->u.e.ev);
}

/* The op at idx matched no template there: hold it for now if the only
 * candidate has it one later. */
static bool defer(gs_stream_t *st, unsigned idx)
{
    const gs_template_t *t = st->cand[0];
    unsigned i = idx - st->match_start;
    if (st->ncand != 1 || st->complete != NULL || i + 1 >= t->len ||
        t->nodes[i + 1].sig != gs_op_sig_at(&st->recs[idx], idx + 1))
        return false;
    st->swap_at = idx + 1;
    st->swap_hash = st->hash_prev;
    GS_TRACE("op %u of the step of stream %#llx is held for now: the template has it one "
             "later", idx, (unsigned long long)st->key);
    return true;
}

/* A record of an event moved from index `from` to `to`: the event's latest
 * record, if it is this one, moved with it. */
static void moved(gs_stream_t *st, const gs_rec_t *r, unsigned from, unsigned to)
{
    if (r->kind != GS_OP_EVREC)
        return;
    gs_event_t *ev = gs_event_get(r->u.e.ev, false);
    if (ev != NULL && ev->origin == st && ev->gen == st->gen && ev->index == from)
        ev->index = to;
}

/* The op after the one held for now came, at idx. */
static bool swap_in(gs_stream_t *st, unsigned idx)
{
    unsigned p = st->swap_at - 1;
    st->swap_at = 0;
    gs_rec_t *a = &st->recs[p], *b = &st->recs[idx];
    const gs_template_t *t = st->cand[0];
    if (p + 1 != idx || !gs_hold_commute(st, a, b) ||
        t->nodes[p - st->match_start].sig != gs_op_sig_at(b, p))
        return mismatch(st, idx);
    gs_rec_t x = *a;
    *a = *b;
    *b = x;
    a->sig = gs_op_sig_at(a, p);
    b->sig = gs_op_sig_at(b, idx);
    moved(st, a, idx, p);
    moved(st, b, p, idx);
    st->hash = gs_mix(gs_mix(st->swap_hash, a->sig), b->sig);
    st->last = p; /* the caller's op: a host function's wait is judged there */
    gs_count(GS_CTR_ops_reordered, 2);
    GS_TRACE("ops %u and %u of the step of stream %#llx change places, as the template has "
             "them", p, idx, (unsigned long long)st->key);
    /* The op that came last is the caller's: it is held or issued here,
     * and so is the one before it. */
    bool held = gs_hold_advance(st, p);
    if (held && st->holding && st->issued <= idx)
        held = gs_hold_advance(st, idx);
    if (!held || (!st->holding && st->issued < st->n))
        gs_hold_issue(st, st->n);
    return true;
}

bool gs_hold_advance(gs_stream_t *st, unsigned idx)
{
    const gs_rec_t *r = &st->recs[idx];
    if (!can_hold())
        return false;
    if (!st->holding) {
        if (idx != st->match_start)
            return false;
        st->ncand = gs_templates_starting(st, r->sig, st->cand, GS_MAX_CAND);
        if (st->ncand == 0)
            return false;
        st->holding = true;
        atomic_fetch_add_explicit(&gs_holders, 1, memory_order_relaxed);
        st->complete = NULL;
        st->slots_ordered = 1;
    } else {
        if (st->swap_at != 0)
            return swap_in(st, idx);
        unsigned i = idx - st->match_start, k = 0;
        for (unsigned c = 0; c < st->ncand; c++)
            if (st->cand[c]->len > i && st->cand[c]->nodes[i].sig == r->sig)
                st->cand[k++] = st->cand[c];
        if (k == 0) {
            if (defer(st, idx))
                return true;
            if (st->complete != NULL) {
                /* A shorter template was whole before this op: launch it;
                 * what only the longer ones matched goes out eagerly; then
                 * this op may begin the next match. */
                launch(st, st->complete);
                if (st->issued < idx) {
                    cut(st, GS_BRK_mismatch, 0);
                    gs_hold_issue(st, idx);
                }
                st->match_start = idx;
                return gs_hold_advance(st, idx);
            }
            return mismatch(st, idx);
        }
        st->ncand = k;
    }
    unsigned held = idx - st->match_start + 1;
    gs_template_t *whole = NULL;
    bool longer = false;
    for (unsigned c = 0; c < st->ncand; c++) {
        if (st->cand[c]->len == held)
            whole = st->cand[c];
        else
            longer = true;
    }
    if (whole != NULL && !longer) {
        launch(st, whole);
    } else if (whole != NULL) {
        st->complete = whole;
    } else if (st->ncand == 1) {
        /* One template left and a chunk of it whole: send it now, so the GPU
         * works while the program issues the rest of the step. */
        gs_template_t *t = st->cand[0];
        unsigned c = st->chunks_done;
        if (c + 1 < t->nchunks && held == t->chunks[c].first + t->chunks[c].count &&
            !launch_chunk(st, t, c, st->n))
            stop_holding(st);
    }
    return true;
}
