/* submit.c: graph launches made after the engine lock is released
 * (GRAPHSHIM_UNLOCKED_LAUNCH), and the ordering that keeps them right.
 *
 * Why: a graph launch costs 20-60 us of driver time, and under the one
 * engine lock every other thread's call waits for it. JAX's launching
 * thread waits 80-90 us a step that way on the thread that uploads its
 * scalars, and the uploading thread is slowed by the launches of the
 * launching thread (doc/measurements.md, "Where JAX's launching thread
 * waits"). Most of those calls are held: they need the engine's records,
 * not the driver.
 *
 * How: while it holds the engine lock, a thread queues what ends a chunk's
 * launch (cuGraphLaunch, the staging event, the host functions after the
 * graph, the event the streams it spans wait for) instead of calling the
 * driver. When it leaves the engine it takes the submission lock, marks a
 * submission in flight, releases the engine lock and makes those calls.
 * The rule that keeps the driver's order the engine's order: every driver
 * call the shim makes or forwards (GS_REAL, gs_real_sync) first waits until
 * no submission is in flight (gs_sub_sync), and a thread whose own queue is
 * not empty runs it first, under the engine lock. Since a submitter takes
 * the submission lock before it releases the engine lock, submissions go
 * out in the order the engine decided them, before anything decided after
 * them. Only calls that need no driver (held ops) overlap a submission.
 *
 * A launch that fails after the lock was released cannot go back to the
 * step's records (the stream may have started its next step): each queued
 * chunk carries a copy of its records and their bytes, which the submitter
 * issues eagerly in the graph's place, in the same place of the driver's
 * order. The template's failure is noted in it (sub_fail) and taken up under
 * the lock the next time the template is looked at (gs_sub_reap): the
 * template cannot be freed meanwhile, since freeing it calls the driver.
 *
 * auto (the default) queues only once a second thread has entered the
 * engine: a program with one launching thread gains nothing and would pay
 * the copies.
 */
#include "config.h"
#include "eng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SUB_ENTRIES 8

typedef enum { SUB_CHUNK, SUB_RECORD } sub_kind_t;

typedef struct {
    sub_kind_t kind;
    gs_sub_chunk_t c;       /* SUB_CHUNK */
    CUevent ev;             /* SUB_RECORD: recorded on c.s; on failure c.s is waited for */
    unsigned first, n;      /* SUB_CHUNK: its records' copies in q->recs */
} sub_entry_t;

typedef struct {
    sub_entry_t e[SUB_ENTRIES];
    unsigned n;
    gs_rec_t *recs;         /* copies of queued chunks' records */
    unsigned nrecs, recs_cap;
    uint8_t *data;          /* their argument and source bytes */
    size_t used, data_cap;
} sub_queue_t;

atomic_bool gs_sub_inflight;
GS_TLS unsigned gs_sub_mine; /* entries the calling thread has queued */
static GS_TLS sub_queue_t *q;
static GS_TLS bool running;  /* this thread is making its queued calls */
static GS_TLS bool entered;  /* this thread has entered the engine */
static atomic_uint threads_entered;
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t q_key;
static pthread_once_t q_once = PTHREAD_ONCE_INIT;

static const char *const sub_what[] = {"cuGraphLaunch", "cuEventRecord", "cuLaunchHostFunc"};
enum { WHAT_LAUNCH, WHAT_RECORD, WHAT_HOSTFN };

/* ------------------------------------------------------------ the lock */

void gs_eng_enter(void)
{
    pthread_mutex_lock(&gs_eng_lock);
    if (GS_UNLIKELY(!entered)) {
        entered = true;
        atomic_fetch_add_explicit(&threads_entered, 1, memory_order_relaxed);
    }
}

static void run_queue(void);

void gs_eng_leave(void)
{
    if (GS_LIKELY(gs_sub_mine == 0)) {
        pthread_mutex_unlock(&gs_eng_lock);
        return;
    }
    pthread_mutex_lock(&sub_lock);
    atomic_store_explicit(&gs_sub_inflight, true, memory_order_release);
    pthread_mutex_unlock(&gs_eng_lock);
    run_queue();
    atomic_store_explicit(&gs_sub_inflight, false, memory_order_release);
    pthread_mutex_unlock(&sub_lock);
}

void gs_sub_sync_slow(void)
{
    if (running)
        return;
    if (gs_sub_mine > 0) {
        /* A call after this thread's own queued ones, still in the engine:
         * they go first (nobody else can queue meanwhile). */
        pthread_mutex_lock(&sub_lock);
        run_queue();
        pthread_mutex_unlock(&sub_lock);
        return;
    }
    if (atomic_load_explicit(&gs_sub_inflight, memory_order_acquire) && !gs_opt.test_unordered) {
        pthread_mutex_lock(&sub_lock);
        pthread_mutex_unlock(&sub_lock);
    }
}

bool gs_sub_deferring(void)
{
    switch (gs_opt.unlocked_launch) {
    case GS_UNLOCKED_ON: return true;
    case GS_UNLOCKED_OFF: return false;
    default: return atomic_load_explicit(&threads_entered, memory_order_relaxed) > 1;
    }
}

void gs_sub_atfork_child(void)
{
    /* The child's one thread: whatever the parent's threads had in flight
     * is the parent's. */
    pthread_mutex_init(&sub_lock, NULL);
    atomic_store(&gs_sub_inflight, false);
    atomic_store(&threads_entered, entered ? 1u : 0u);
    if (q != NULL) {
        q->n = 0;
        q->nrecs = 0;
        q->used = 0;
    }
    gs_sub_mine = 0;
    running = false;
}

/* ------------------------------------------------------------ queueing */

/* At the thread's exit (the key's destructor runs on that thread): a
 * later destructor that calls the driver finds no queue and makes one. */
static void free_queue(void *p)
{
    sub_queue_t *x = p;
    if (q == x)
        q = NULL;
    free(x->recs);
    free(x->data);
    free(x);
}

static void make_key(void) { (void)pthread_key_create(&q_key, free_queue); }

/* The calling thread's queue with room for an entry, `nrecs` records and
 * `bytes` of data; NULL if memory is short (the caller then launches now). */
static sub_queue_t *room(unsigned nrecs, size_t bytes)
{
    if (q == NULL) {
        pthread_once(&q_once, make_key);
        q = calloc(1, sizeof *q);
        if (q == NULL)
            return NULL;
        (void)pthread_setspecific(q_key, q);
    }
    if (q->n == SUB_ENTRIES)
        gs_sub_sync_slow(); /* full: what it holds goes out now */
    if (q->nrecs + nrecs > q->recs_cap) {
        unsigned cap = q->recs_cap ? q->recs_cap : 64;
        while (cap < q->nrecs + nrecs)
            cap *= 2;
        gs_rec_t *r = realloc(q->recs, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        q->recs = r;
        q->recs_cap = cap;
    }
    if (q->data == NULL || q->used + bytes > q->data_cap) {
        size_t cap = q->data_cap ? q->data_cap : 4096;
        while (cap < q->used + bytes)
            cap *= 2;
        uint8_t *d = realloc(q->data, cap);
        if (d == NULL)
            return NULL;
        q->data = d;
        q->data_cap = cap;
    }
    return q;
}

bool gs_sub_push_chunk(const gs_sub_chunk_t *c, const gs_rec_t *recs, unsigned n,
                       const uint8_t *arena, bool slot0_legacy)
{
    size_t bytes = 0;
    for (unsigned i = 0; i < n; i++)
        bytes += ((size_t)recs[i].len + 7u) & ~(size_t)7u;
    sub_queue_t *x = room(n, bytes);
    if (x == NULL)
        return false;
    sub_entry_t *e = &x->e[x->n];
    e->kind = SUB_CHUNK;
    e->c = *c;
    e->first = x->nrecs;
    e->n = n;
    for (unsigned i = 0; i < n; i++) {
        gs_rec_t *r = &x->recs[x->nrecs++];
        *r = recs[i];
        /* Where gs_hold_issue would send it. */
        if (r->slot == 0 && slot0_legacy)
            r->stream = CU_STREAM_LEGACY;
        if (recs[i].len > 0)
            memcpy(x->data + x->used, arena + recs[i].data, recs[i].len);
        r->data = (uint32_t)x->used;
        x->used += ((size_t)recs[i].len + 7u) & ~(size_t)7u;
    }
    x->n++;
    gs_sub_mine = x->n;
    gs_count(GS_CTR_launches_unlocked, 1);
    return true;
}

bool gs_sub_push_record(CUevent ev, CUstream s)
{
    sub_queue_t *x = room(0, 0);
    if (x == NULL)
        return false;
    sub_entry_t *e = &x->e[x->n++];
    memset(e, 0, sizeof *e);
    e->kind = SUB_RECORD;
    e->ev = ev;
    e->c.s = s;
    gs_sub_mine = x->n;
    return true;
}

/* ------------------------------------------------------------ running */

/* Noted in the template for gs_sub_reap, or (run now, under the lock)
 * counted at once. */
static void failed(gs_template_t *t, unsigned what, CUresult r, bool locked)
{
    if (locked) {
        gs_eng_failure(GS_CTR_fb_launch, sub_what[what], r);
        t->failed = true;
        return;
    }
    t->sub_what = (uint8_t)what;
    atomic_store_explicit(&t->sub_fail, (int)r, memory_order_release);
}

void gs_sub_reap_slow(gs_template_t *t)
{
    int r = atomic_exchange_explicit(&t->sub_fail, 0, memory_order_acquire);
    if (r == 0)
        return;
    gs_eng_failure(GS_CTR_fb_launch, sub_what[t->sub_what], (CUresult)r);
    t->failed = true;
}

/* The host functions after a chunk's graph (GRAPHSHIM_HOST_AFTER): on
 * their own stream, made to wait for the graph, when they are all of one
 * joined stream; else on the graph's. If the driver refuses, they must
 * still run, and only after what they followed: the streams are
 * synchronised and they are called here. */
static void run_after(const gs_sub_chunk_t *c, bool locked)
{
    CUstream on = c->s;
    if (c->after_stream != NULL && GS_CALL(cuEventRecord, c->aev, c->s) == CUDA_SUCCESS &&
        GS_CALL(cuStreamWaitEvent, c->after_stream, c->aev, 0) == CUDA_SUCCESS)
        on = c->after_stream;
    CUresult r = GS_CALL(cuLaunchHostFunc, on, gs_hostrun_call, c->after);
    if (r == CUDA_SUCCESS)
        return;
    failed(c->t, WHAT_HOSTFN, r, locked);
    (void)GS_REAL(cuStreamSynchronize)(on);
    (void)GS_REAL(cuStreamSynchronize)(c->s);
    gs_hostrun_call(c->after);
}

CUresult gs_sub_run_chunk(const gs_sub_chunk_t *c, bool locked)
{
    CUresult r = GS_CALL(cuGraphLaunch, c->exec, c->s);
    if (r != CUDA_SUCCESS)
        return r;
    if (c->done != NULL && (r = GS_CALL(cuEventRecord, c->done, c->s)) != CUDA_SUCCESS)
        /* The chunk is on its way; without the event its staging can never
         * be proven free again, so the template retires. */
        failed(c->t, WHAT_RECORD, r, locked);
    if (c->after != NULL)
        run_after(c, locked);
    return CUDA_SUCCESS;
}

void gs_sub_cancel_runs(const gs_sub_chunk_t *c)
{
    for (unsigned k = 0; k < c->nruns; k++)
        gs_hostrun_cancel(c->runs[k]);
    if (c->after != NULL)
        gs_hostrun_cancel(c->after);
}

/* A queued chunk whose graph the driver refused: its ops go out eagerly in
 * its place, as a cut step's would; the host runs its graph would have
 * called are marked done (their functions run from the copies). */
static void fall_back(const sub_entry_t *e, CUresult r)
{
    const gs_sub_chunk_t *c = &e->c;
    for (unsigned i = 0; i < e->n; i++) {
        const gs_rec_t *rec = &q->recs[e->first + i];
        CUresult res = gs_issue(rec, q->data, rec->stream);
        if (res != CUDA_SUCCESS)
            GS_DEBUG("eager issue of a %s returned %d", gs_fn_names[rec->id], (int)res);
    }
    gs_sub_cancel_runs(c);
    gs_count(GS_CTR_div_barrier, 1);
    gs_count(GS_CTR_ops_replayed, -(unsigned long long)e->n);
    gs_count(GS_CTR_ops_replayed_events, -(unsigned long long)c->nev);
    gs_count(GS_CTR_graph_launches, -1ull);
    gs_count(GS_CTR_launches_unlocked, -1ull);
    failed(c->t, WHAT_LAUNCH, r, false);
}

static void run_queue(void)
{
    running = true;
    for (unsigned i = 0; i < q->n; i++) {
        const sub_entry_t *e = &q->e[i];
        if (e->kind == SUB_RECORD) {
            /* The event the streams a graph spans wait for: without it they
             * must not run ahead of the graph, so the host waits for it. */
            CUresult r = GS_CALL(cuEventRecord, e->ev, e->c.s);
            if (r != CUDA_SUCCESS) {
                GS_LOG_ONCE(GS_LOG_WARN, "cuEventRecord failed (CUresult %d) after a graph "
                            "that spans streams; waiting for it on the host", (int)r);
                (void)GS_REAL(cuStreamSynchronize)(e->c.s);
            }
            continue;
        }
        /* Its cost is the replay's (the payoff rule weighs it). */
        uint64_t t0 = gs_clock_ns();
        CUresult r = gs_sub_run_chunk(&e->c, false);
        if (r != CUDA_SUCCESS)
            fall_back(e, r);
        atomic_fetch_add_explicit(&e->c.t->sub_ns, gs_clock_ns() - t0, memory_order_relaxed);
    }
    q->n = 0;
    q->nrecs = 0;
    q->used = 0;
    gs_sub_mine = 0;
    running = false;
}
