/* detect.c: finding the repeating step.
 *
 * Each stream keeps the records of its current step and the (hash, length)
 * of its last GS_HIST steps. When a step closes (at a barrier) and the same
 * signature sequence is found GRAPHSHIM_WARMUP times among those recent
 * steps (not only the step just before: a native engine interleaves upload,
 * forward and readback steps), it becomes a template and its graph is built
 * from the step's records. A stream that runs GRAPHSHIM_MAX_OPS ops without
 * a barrier is searched for a period instead, and its last period becomes a
 * periodic template.
 *
 * Templates are global, at most GRAPHSHIM_MAX_GRAPHS of them, and the least
 * recently used one is evicted. A template whose graph could not be built is
 * kept as a negative entry so the step is not rebuilt every time.
 */
#include "config.h"
#include "eng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gs_stream_t *streams;
gs_stream_t *gs_legacy_stream;
static gs_template_t *templates;
static unsigned ntemplates;
static uint64_t tick;

/* Steps whose template was evicted before it was ever replayed: when more
 * kinds of step recur than GRAPHSHIM_MAX_GRAPHS can hold, rebuilding each
 * one every time it comes back would cost an instantiation per step and
 * gain nothing. Such a step is not built again while it is remembered here
 * (the ring forgets, so a working set that shrinks later gets graphs). */
#define GS_UNUSED 64
static struct {
    uint64_t key, hash;
    unsigned len;
} unused[GS_UNUSED];
static unsigned unused_pos;

static bool was_unused(uint64_t key, uint64_t hash, unsigned len)
{
    for (unsigned i = 0; i < GS_UNUSED; i++)
        if (unused[i].len == len && unused[i].hash == hash && unused[i].key == key)
            return true;
    return false;
}

void gs_step_reset(gs_stream_t *st)
{
    /* Streams that joined this step have steps of their own again. */
    for (unsigned k = 1; k < st->nslots; k++) {
        st->slots[k]->origin = st->slots[k];
        st->slots[k]->slot = 0;
    }
    st->slots[0] = st;
    st->nslots = 1;
    st->slots_ordered = 1;
    st->n = 0;
    st->used = 0;
    st->hash = 0;
    st->swap_at = 0;
    st->gen++;
    st->tainted = false;
    st->issued = 0;
    st->match_start = 0;
    st->holding = false;
    st->ncand = 0;
    st->complete = NULL;
    st->chunks_done = 0;
    st->cut = GS_BRK_COUNT;
    st->replayed = false;
    if (GS_UNLIKELY(gs_graves_waiting > 0))
        gs_event_sweep();
}

/* Whether a stream synchronises with the legacy stream: per-thread streams
 * do, and streams created without CU_STREAM_NON_BLOCKING. Asked once. */
static bool is_blocking(const gs_stream_t *st, CUstream handle)
{
    if (st->legacy || st->per_thread)
        return true;
    unsigned flags = 0;
    if (gs_real_fn[GS_ID_cuStreamGetFlags] == NULL ||
        GS_REAL(cuStreamGetFlags)(handle, &flags) != CUDA_SUCCESS)
        return true; /* unknown: assume it synchronises (the safe answer) */
    return (flags & CU_STREAM_NON_BLOCKING) == 0;
}

/* The stream looked up last: a decode loop issues op after op on one
 * stream, and a hash lookup per op costs more than the rest of holding it.
 * Streams are never freed (a destroyed stream is reset), so the pointer
 * stays valid. */
gs_stream_t *gs_last_stream;

gs_stream_t *gs_stream_get(uint64_t key, bool per_thread, CUstream handle)
{
    gs_stream_t *st = gs_last_stream;
    if (GS_LIKELY(st != NULL && st->key == key))
        return st;
    HASH_FIND(hh, streams, &key, sizeof key, st);
    if (GS_LIKELY(st != NULL))
        return gs_last_stream = st;
    st = calloc(1, sizeof *st);
    if (st == NULL)
        return NULL;
    st->recs = calloc((size_t)gs_opt.max_ops, sizeof *st->recs);
    st->arena = malloc(GS_ARENA_BYTES);
    if (st->recs == NULL || st->arena == NULL) {
        free(st->recs);
        free(st->arena);
        free(st);
        return NULL;
    }
    gs_mem_account((long long)(sizeof *st + (size_t)gs_opt.max_ops * sizeof *st->recs +
                               GS_ARENA_BYTES), 0);
    st->key = key;
    st->per_thread = per_thread;
    st->legacy = key == GS_KEY_LEGACY;
    st->owner = per_thread ? gs_thread_index() : 0;
    /* Graphs go where the program's ops went: the legacy stream and the
     * per-thread stream are named by their special handles. */
    st->handle = st->legacy ? CU_STREAM_LEGACY : per_thread ? CU_STREAM_PER_THREAD : handle;
    st->blocking = is_blocking(st, st->handle);
    st->origin = st;
    gs_step_reset(st);
    HASH_ADD(hh, streams, key, sizeof st->key, st);
    if (st->legacy)
        gs_legacy_stream = st;
    return gs_last_stream = st;
}

size_t gs_arena_bytes(void) { return GS_ARENA_BYTES; }

gs_stream_t *gs_stream_find(uint64_t key)
{
    gs_stream_t *st = NULL;
    HASH_FIND(hh, streams, &key, sizeof key, st);
    return st;
}

void gs_for_each_stream(void (*fn)(gs_stream_t *))
{
    for (gs_stream_t *st = streams; st != NULL; st = st->hh.next)
        fn(st);
}

void gs_streams_reset(uint64_t key)
{
    gs_stream_t *st = NULL;
    HASH_FIND(hh, streams, &key, sizeof key, st);
    if (st == NULL)
        return;
    if (st->origin != st)
        gs_step_reset(st->origin); /* the step it had joined ends */
    gs_step_reset(st);
    st->hist_n = 0;
    st->period = 0;
    st->pending = NULL;
    st->nwaits = 0;
}

/* ---------------------------------------------------------------- events */

static gs_event_t *events;
static gs_event_t *event_cache[GS_EVENT_SLOTS]; /* eng.h says why */

gs_event_t *gs_event_get(CUevent e, bool create)
{
    unsigned slot = gs_event_slot(e);
    gs_event_t *ev = event_cache[slot];
    if (GS_LIKELY(ev != NULL && ev->key == e))
        return ev;
    ev = NULL;
    HASH_FIND_PTR(events, &e, ev);
    if (ev != NULL)
        return event_cache[slot] = ev;
    if (!create)
        return NULL;
    if ((ev = calloc(1, sizeof *ev)) == NULL)
        return NULL;
    ev->key = e;
    gs_mem_account((long long)sizeof *ev, 0);
    HASH_ADD_PTR(events, key, ev);
    return event_cache[slot] = ev;
}

void gs_event_forget(CUevent e)
{
    gs_event_t *ev = gs_event_get(e, false);
    if (ev != NULL) {
        event_cache[gs_event_slot(e)] = NULL; /* ev was just put there */
        HASH_DEL(events, ev);
        gs_mem_account(-(long long)sizeof *ev, 0);
        free(ev);
    }
}

/* ------------------------------------------------------------- templates */

void gs_template_touch(gs_template_t *t) { t->last_used = ++tick; }

static gs_template_t *find_template(uint64_t key, uint64_t hash, unsigned len)
{
    for (gs_template_t *t = templates; t != NULL; t = t->next)
        if (t->stream_key == key && t->hash == hash && t->len == len)
            return t;
    return NULL;
}

/* Host bytes a template holds, besides its chunks (graph.c counts those). */
static long long template_bytes(const gs_template_t *t, size_t arena)
{
    return (long long)(sizeof *t + t->len * sizeof *t->nodes + arena);
}

static void free_template(gs_template_t *t)
{
    gs_dump_free(t);
    gs_graph_destroy(t);
    gs_mem_account(-template_bytes(t, t->arena_bytes), 0);
    free(t->nodes);
    free(t->arena);
    free(t);
}

/* Whether a step is matching ops against t now: it must not be freed
 * under it (a stream joining another closes its own step, which may form a
 * template and evict one the other step holds; found by the fuzzer under
 * AddressSanitizer). */
static bool template_in_use(const gs_template_t *t)
{
    for (gs_stream_t *st = streams; st != NULL; st = st->hh.next) {
        if (!st->holding)
            continue;
        if (st->complete == t)
            return true;
        for (unsigned c = 0; c < st->ncand; c++)
            if (st->cand[c] == t)
                return true;
    }
    return false;
}

/* Frees the least recently used template no step holds; false when every
 * one is held (the cap is then exceeded until one is let go). */
static bool evict_lru(void)
{
    gs_template_t **victim = NULL;
    for (gs_template_t **pp = &templates; *pp != NULL; pp = &(*pp)->next)
        if ((victim == NULL || (*pp)->last_used < (*victim)->last_used) &&
            !template_in_use(*pp))
            victim = pp;
    if (victim == NULL)
        return false;
    gs_template_t *t = *victim;
    *victim = t->next;
    ntemplates--;
    if (t->replays == 0 && !t->failed && !t->observed) {
        unused[unused_pos].key = t->stream_key;
        unused[unused_pos].hash = t->hash;
        unused[unused_pos].len = t->len;
        unused_pos = (unused_pos + 1) % GS_UNUSED;
    }
    GS_DEBUG("evicting template of %u ops (replayed %llu times)", t->len, t->replays);
    gs_count(GS_CTR_graphs_evicted, 1);
    free_template(t);
    return true;
}

/* One info line per template: what it holds (the kernels it runs most,
 * copies, events), how many steps it took to find, how long the build
 * took. Formatted only when info is logged. */
static void log_template(const gs_stream_t *st, const gs_template_t *t, const gs_rec_t *recs,
                         unsigned seen, uint64_t ns)
{
    struct { const gs_func_t *fn; unsigned n; } top[16];
    unsigned ntop = 0, kernels = 0, copies = 0, evs = 0, hosts = 0;
    for (unsigned i = 0; i < t->len; i++) {
        const gs_rec_t *r = &recs[i];
        if (r->kind == GS_OP_KERNEL) {
            kernels++;
            unsigned k = 0;
            while (k < ntop && top[k].fn != r->u.k.fn)
                k++;
            if (k == ntop && ntop < 16)
                top[ntop++] = (__typeof__(top[0])){r->u.k.fn, 0};
            if (k < ntop)
                top[k].n++;
        } else if (r->kind == GS_OP_EVREC || r->kind == GS_OP_EVWAIT) {
            evs++;
        } else if (r->kind == GS_OP_HOST) {
            hosts++;
        } else {
            copies++;
        }
    }
    char names[160] = "";
    size_t o = 0;
    for (unsigned shown = 0; shown < 3 && ntop > 0; shown++) {
        unsigned best = 0;
        for (unsigned k = 1; k < ntop; k++)
            if (top[k].n > top[best].n)
                best = k;
        if (top[best].n == 0)
            break;
        int w = snprintf(names + o, sizeof names - o, "%s%s x%u", o ? ", " : "",
                         top[best].fn->name, top[best].n);
        if (w > 0 && (size_t)w < sizeof names - o)
            o += (size_t)w;
        top[best].n = 0;
    }
    GS_INFO("%s a %sstep on stream %#llx: %u ops (%u kernels%s%s%s, %u copies/memsets, "
            "%u events, %u host functions) on %u stream(s), found after %u occurrences; "
            "%u full and %u programmatic edges, built in %.2f ms",
            t->failed ? "could not graph" : "graphed", t->periodic ? "periodic " : "",
            (unsigned long long)st->key, t->len, kernels, o ? ": " : "", names,
            ntop > 3 ? ", ..." : "", copies, evs, hosts, t->nslots, seen, t->edges[0],
            t->edges[1], (double)ns / 1e6);
}

/* Makes a template of recs[0..len) (args from `arena`), a step seen
 * `seen` times. */
static gs_template_t *form(gs_stream_t *st, const gs_rec_t *recs, unsigned len,
                           uint64_t hash, bool periodic, unsigned seen)
{
    /* cuCtxGetCurrent failed at the step's start (logged there): copy and
     * memset nodes could not name their context, so the step stays eager. */
    if (st->ctx == NULL || st->retired >= GS_RETIRE_MAX)
        return NULL;
    size_t bytes = 0;
    for (unsigned i = 0; i < len; i++)
        bytes += (recs[i].len + 7u) & ~7u;
    gs_template_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->nodes = calloc(len, sizeof *t->nodes);
    t->arena = malloc(bytes ? bytes : 8);
    if (t->nodes == NULL || t->arena == NULL) {
        free(t->nodes);
        free(t->arena);
        free(t);
        return NULL;
    }
    t->hash = hash;
    t->len = len;
    t->arena_bytes = bytes ? bytes : 8;
    gs_mem_account(template_bytes(t, t->arena_bytes), 0);
    t->stream_key = st->key;
    t->nslots = st->nslots;
    t->ctx = st->ctx;
    t->periodic = periodic;
    size_t at = 0;
    for (unsigned i = 0; i < len; i++) {
        t->nodes[i].sig = recs[i].sig;
        t->nodes[i].kind = recs[i].kind;
        t->nodes[i].slot = recs[i].slot;
        t->nodes[i].data = (uint32_t)at;
        t->nodes[i].len = recs[i].len;
        memcpy(t->arena + at, st->arena + recs[i].data, recs[i].len);
        at += (recs[i].len + 7u) & ~7u;
    }
    while (ntemplates >= (unsigned)gs_opt.max_graphs && evict_lru())
        ;
    gs_count(GS_CTR_templates, 1);
    uint64_t t0 = gs_clock_ns();
    if (gs_opt.mode == GS_MODE_OBSERVE) {
        t->observed = true;
        GS_INFO("observe: a %sstep of %u ops on stream %#llx recurs; replay mode "
                "would graph it", periodic ? "periodic " : "", len,
                (unsigned long long)st->key);
    } else if (!gs_graph_build(t, recs, st->arena, st->handle)) {
        t->failed = true;
    }
    if (gs_opt.log >= GS_LOG_INFO && !t->observed)
        log_template(st, t, recs, seen, gs_clock_ns() - t0);
    gs_template_touch(t);
    t->next = templates;
    templates = t;
    ntemplates++;
    return t;
}

void gs_step_close(gs_stream_t *st)
{
    unsigned n = st->n;
    if (n > 0)
        GS_TRACE("step of stream %#llx closes at %s: %u ops on %u stream(s), hash %016llx%s",
                 (unsigned long long)st->key, gs_fn_names[gs_eng_call], n, st->nslots,
                 (unsigned long long)st->hash,
                 st->tainted ? ", tainted (a call failed)" : st->period ? ", periodic" : "");
    if (n > 0)
        gs_diag_step(st->key, n,
                     st->cut != GS_BRK_COUNT ? GS_STEP_EAGER
                     : st->replayed          ? GS_STEP_REPLAYED
                                             : GS_STEP_LEARNING,
                     st->cut);
    if (n > 0 && !st->tainted && st->period == 0) {
        unsigned seen = 0;
        for (unsigned i = 0; i < st->hist_n; i++)
            seen += st->hist[i].hash == st->hash && st->hist[i].len == n;
        st->hist[st->hist_pos].hash = st->hash;
        st->hist[st->hist_pos].len = n;
        st->hist_pos = (st->hist_pos + 1) % GS_HIST;
        if (st->hist_n < GS_HIST)
            st->hist_n++;
        if (seen + 1 >= (unsigned)gs_opt.warmup && n >= (unsigned)gs_opt.min_ops &&
            n <= (unsigned)gs_opt.max_ops && find_template(st->key, st->hash, n) == NULL) {
            if (was_unused(st->key, st->hash, n))
                gs_count(GS_CTR_thrash_skipped, 1);
            else
                form(st, st->recs, n, st->hash, false, seen + 1);
        }
    }
    st->period = 0;
    gs_step_reset(st);
}

/* Whether a period of the run may become a template: a run that spans
 * several streams, waits on its own events or records one twice is not cut
 * into periods (its records name others by their place in the whole run). */
static bool periodic_ok(const gs_stream_t *st)
{
    if (st->nslots > 1)
        return false;
    for (unsigned i = 0; i < st->n; i++)
        if ((st->recs[i].kind == GS_OP_EVWAIT && st->recs[i].u.e.ref >= 0) ||
            (st->recs[i].kind == GS_OP_EVREC && st->recs[i].u.e.prev >= 0))
            return false;
    return true;
}

gs_template_t *gs_period_detect(gs_stream_t *st)
{
    unsigned n = st->n, w = (unsigned)gs_opt.warmup;
    gs_template_t *t = NULL;
    /* Once: it reads the whole run, and the search tries up to n / w
     * periods. */
    bool ok = periodic_ok(st);
    for (unsigned p = (unsigned)gs_opt.min_ops; p * w <= n && t == NULL && ok; p++) {
        unsigned i = 0;
        while (i < (w - 1) * p && st->recs[n - 1 - i].sig == st->recs[n - 1 - i - p].sig)
            i++;
        if (i < (w - 1) * p)
            continue;
        uint64_t h = 0;
        for (unsigned j = n - p; j < n; j++)
            h = gs_mix(h, st->recs[j].sig);
        t = find_template(st->key, h, p);
        if (t == NULL)
            t = form(st, st->recs + (n - p), p, h, true, w);
        if (t != NULL) {
            st->period = p;
            GS_DEBUG("stream %#llx runs without barriers with a period of %u ops",
                     (unsigned long long)st->key, p);
        }
    }
    if (t == NULL)
        GS_TRACE("stream %#llx: %u ops without a barrier and no period of %u or more ops "
                 "repeats %ld times%s", (unsigned long long)st->key, n, (unsigned)gs_opt.min_ops,
                 gs_opt.warmup, ok ? "" : " (not searched: the run spans streams "
                 "or refers to its own events)");
    /* A run that no periodic template can follow may still be cut into
     * steps at one of its host functions (watchdog.c). */
    if (t == NULL && !ok)
        gs_watchdog_bootstrap(st);
    gs_step_reset(st);
    return t;
}

unsigned gs_templates_starting(gs_stream_t *st, uint64_t sig, gs_template_t **out,
                               unsigned cap)
{
    unsigned n = 0;
    for (gs_template_t *t = templates; t != NULL && n < cap; t = t->next) {
        gs_sub_reap(t); /* a launch outside the lock failed: it retires */
        if (t->stream_key == st->key && !t->failed && !t->observed &&
            t->nodes[0].sig == sig && t->ctx == st->ctx && (st->period == 0 || t->periodic))
            out[n++] = t;
    }
    return n;
}

void gs_templates_dump(void)
{
    for (gs_template_t *t = templates; t != NULL; t = t->next)
        gs_dump_write(t);
}

void gs_templates_release_all(void)
{
    while (templates != NULL) {
        gs_template_t *t = templates;
        templates = t->next;
        free_template(t);
    }
    ntemplates = 0;
    gs_event_sweep_all();
}
