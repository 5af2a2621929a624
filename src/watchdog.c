/* watchdog.c: host functions held inside a step, and the thread that
 * issues them when the program stops feeding that step.
 *
 * A host function is an op like any other (events.c): a step goes on past
 * it, and its graph has a host node there. JAX puts a host function after
 * every op, so a step that ended at each of them would be five ops long and
 * its graph would cost more than it saves. But the host may wait for a
 * callback on a condition the shim cannot see (JAX waits so for every value
 * it reads back): a callback behind ops the shim holds would never come.
 *
 * So a thread watches. When a step holds a host function and has not grown
 * for GRAPHSHIM_HOST_WAIT microseconds, it issues what the step holds and
 * remembers the host function the program waited for by its context: its
 * signature and those of the ops before it in the step. From then on a
 * host function with that context ends its step, so the step's graph goes
 * out with it and the program does not wait on the shim again. A step that
 * does not grow because the program is busy elsewhere is issued too, and
 * learned alike; that costs graph size, never correctness.
 *
 * GRAPHSHIM_HOST_WAIT=0: every host function ends its step and no thread
 * is started. The thread starts with the first host function held, never
 * calls the driver unless it issues a step (under the engine lock, in the
 * step's context), and stops before the shim's exit reporting.
 */
#include "config.h"
#include "eng.h"

#include <time.h>

/* The ops before a host function that make its context. */
#define GS_WAIT_CONTEXT 4

static pthread_t thread;
static bool started;           /* under gs_eng_lock */
static atomic_bool stopping;
static atomic_uint held_hostfns; /* host functions held so far (a hint) */

/* The context of the op at recs[i]: its signature mixed with those of up
 * to GS_WAIT_CONTEXT ops before it in the same step. */
static uint64_t context(const gs_stream_t *g, unsigned i)
{
    unsigned from = i > GS_WAIT_CONTEXT ? i - GS_WAIT_CONTEXT : 0;
    uint64_t h = gs_mix(0x4057ull, i - from);
    for (unsigned k = from; k <= i; k++)
        h = gs_mix(h, g->recs[k].sig);
    return h;
}

bool gs_watchdog_awaited(const gs_stream_t *g)
{
    if (g->nwaits == 0 || g->last >= g->n || g->recs[g->last].kind != GS_OP_HOST)
        return false;
    uint64_t h = context(g, g->last);
    for (unsigned k = 0; k < g->nwaits; k++)
        if (g->waits[k] == h)
            return true;
    return false;
}

void gs_watchdog_learn(gs_stream_t *g, unsigned i)
{
    uint64_t h = context(g, i);
    for (unsigned k = 0; k < g->nwaits; k++)
        if (g->waits[k] == h)
            return;
    g->waits[g->waits_pos] = h;
    g->waits_pos = (g->waits_pos + 1) % GS_MAX_WAITS;
    if (g->nwaits < GS_MAX_WAITS)
        g->nwaits++;
}

/* Share of a period's signatures that must repeat for the bootstrap: XLA's
 * threads issue a few ops of each step in varying order. */
#define GS_BOOT_SAME 0.9

void gs_watchdog_bootstrap(gs_stream_t *g)
{
    unsigned n = g->n;
    if (gs_opt.host_wait == 0 || g->nwaits > 0)
        return;
    /* The period that repeats best over the second half of the run (the
     * shortest of those that repeat as well): XLA's four-op pattern of
     * every op repeats nearly as well as the whole step, which repeats
     * exactly. Quadratic in the run, once per run that fills a step. */
    unsigned p = 0, half = n / 2;
    double best = GS_BOOT_SAME;
    for (unsigned q = (unsigned)gs_opt.min_ops; q <= half; q++) {
        unsigned same = 0;
        for (unsigned i = n - half; i < n; i++)
            same += g->recs[i].sig == g->recs[i - q].sig;
        double share = (double)same / (double)half;
        if (share > best + 0.005) {
            best = share;
            p = q;
        }
    }
    if (p > 0) {
        /* The last host function whose context the period has only once. */
        for (unsigned i = n; i-- > n - p;) {
            if (g->recs[i].kind != GS_OP_HOST || i < GS_WAIT_CONTEXT)
                continue;
            uint64_t h = context(g, i);
            unsigned seen = 0;
            for (unsigned j = n - p; j < n && seen < 2; j++)
                seen += g->recs[j].kind == GS_OP_HOST && j >= GS_WAIT_CONTEXT &&
                        context(g, j) == h;
            if (seen != 1)
                continue;
            gs_watchdog_learn(g, i);
            GS_DEBUG("stream %#llx runs %u ops without a barrier, across streams, with a "
                     "period of %u: steps end at its host function %u ops into the period",
                     (unsigned long long)g->key, n, p, i - (n - p));
            return;
        }
        return;
    }
}

/* The last host function that g holds (not yet issued), or -1. */
static int held_hostfn(const gs_stream_t *g)
{
    for (unsigned i = g->n; i-- > g->issued;)
        if (g->recs[i].kind == GS_OP_HOST)
            return (int)i;
    return -1;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static struct {
    uint64_t now;
    unsigned found; /* steps that hold a host function */
} tick;

/* Issues g's step if it holds a host function and has not grown since the
 * last tick that saw it for GRAPHSHIM_HOST_WAIT. */
static void watch_one(gs_stream_t *g)
{
    if (g->origin != g || !g->holding)
        return;
    int h = held_hostfn(g);
    if (h < 0)
        return;
    tick.found++;
    if (g->wd_gen != g->gen || g->wd_n != g->n) {
        g->wd_gen = g->gen;
        g->wd_n = g->n;
        g->wd_since = tick.now;
        return;
    }
    uint64_t waited = tick.now - g->wd_since;
    if (waited < (uint64_t)gs_opt.host_wait * 1000u)
        return;
    /* The shim's calls need the step's context on this thread (set every
     * time: a destroyed context's handle may come back for a new one). */
    if (g->ctx != NULL) {
        CUresult r = GS_CALL(cuCtxSetCurrent, g->ctx);
        if (r != CUDA_SUCCESS)
            GS_LOG_ONCE(GS_LOG_WARN, "cuCtxSetCurrent failed (CUresult %d) in the "
                        "watchdog thread: it issues held host functions anyway", (int)r);
    }
    gs_watchdog_learn(g, (unsigned)h);
    gs_count(GS_CTR_hostfn_waits, 1);
    GS_INFO("the step of stream %#llx held a host function and did not go on for "
            "%.0f us: issued; a host function in that place ends its step from now on",
            (unsigned long long)g->key, (double)waited / 1e3);
    gs_eng_call = g->recs[h].id;
    gs_hold_settle(g, GS_BRK_hostwait);
    gs_step_close(g);
}

static void *watch(void *arg)
{
    (void)arg;
    gs_no_caller_samples = true;
    unsigned seen = 0;
    bool any = false;
    long period_ns = gs_opt.host_wait * 500l; /* half the wait */
    if (period_ns < 20000)
        period_ns = 20000;
    struct timespec period = {period_ns / 1000000000l, period_ns % 1000000000l};
    while (!atomic_load_explicit(&stopping, memory_order_acquire)) {
        nanosleep(&period, NULL);
        /* Without a host function held since the last look, and none held
         * then, there is nothing to watch: no lock taken. */
        unsigned n = atomic_load_explicit(&held_hostfns, memory_order_relaxed);
        if (!any && n == seen)
            continue;
        seen = n;
        if (atomic_load_explicit(&gs_holders, memory_order_relaxed) == 0) {
            any = false;
            continue;
        }
        /* Not gs_eng_enter: this thread is not one of the program's, and
         * must not turn GRAPHSHIM_UNLOCKED_LAUNCH=auto on (submit.c). */
        pthread_mutex_lock(&gs_eng_lock);
        if (!atomic_load_explicit(&stopping, memory_order_acquire)) {
            tick.now = now_ns();
            tick.found = 0;
            gs_for_each_stream(watch_one);
            any = tick.found > 0;
        }
        gs_eng_leave();
    }
    return NULL;
}

void gs_watchdog_held(void)
{
    atomic_store_explicit(&held_hostfns,
                          atomic_load_explicit(&held_hostfns, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (GS_LIKELY(started))
        return;
    started = true;
    int e = pthread_create(&thread, NULL, watch, NULL);
    if (e != 0) {
        /* Without the thread a held host function could wait forever: they
         * end their steps, as with GRAPHSHIM_HOST_WAIT=0. */
        GS_WARN("cannot start the thread that watches held host functions (error %d): "
                "every host function ends its step", e);
        gs_opt.host_wait = 0;
        return;
    }
    pthread_detach(thread);
}

void gs_watchdog_stop(void)
{
    atomic_store_explicit(&stopping, true, memory_order_release);
    /* A look in progress finishes before exit reporting begins. */
    pthread_mutex_lock(&gs_eng_lock);
    gs_eng_leave();
}

void gs_watchdog_atfork_child(void)
{
    /* The child has no watchdog thread: the next host function held starts
     * one. */
    started = false;
}
