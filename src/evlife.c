/* evlife.c: the real destroy of an event the shim may still name.
 *
 * cuEventDestroy returns at once, and the event is gone for the program.
 * The shim may still need it:
 *  - a record or a wait on it that a step holds, not yet issued;
 *  - a node of an executable graph: an exec keeps the event its last launch
 *    was patched to until the next launch patches it again, and the driver
 *    refuses to patch a node whose event was destroyed (CUresult 1 on the
 *    H200, with PyTorch, which destroys the event of every wait_stream right
 *    after the wait).
 * So the real destroy waits until nothing names the event: no exec node
 * (gs_event_t.refs, kept by graph.c, whose graphs themselves name only an
 * event of the shim's own), and every step that held unissued ops when the
 * program destroyed it has issued them. Until then the handle stays valid,
 * so the driver cannot hand it to a new event and nothing can mistake one
 * for the other. A destroy no longer cuts the step that recorded the event.
 *
 * Everything here runs under the engine lock.
 */
#include "config.h"
#include "eng.h"

#include <stdlib.h>

/* Steps that held unissued ops when the program destroyed the event: each
 * has issued them once its stream's step changed (gen) or issued that far. */
#define GS_GRAVE_WAITS 8

typedef struct {
    CUevent e;
    unsigned nwait;
    struct {
        gs_stream_t *st;
        uint64_t gen;
        unsigned n;
    } wait[GS_GRAVE_WAITS];
} grave_t;

static grave_t *graves;
static unsigned ngraves, capgraves;
unsigned gs_graves_waiting; /* graves with steps to wait for (gs_step_reset) */

static grave_t *collecting;

static void collect(gs_stream_t *st)
{
    grave_t *g = collecting;
    if (st->origin != st || st->issued >= st->n)
        return;
    if (g->nwait == GS_GRAVE_WAITS) {
        /* More holding steps than a grave follows: this one goes out now. */
        gs_hold_settle(st, GS_BRK_event);
        return;
    }
    g->wait[g->nwait].st = st;
    g->wait[g->nwait].gen = st->gen;
    g->wait[g->nwait].n = st->n;
    g->nwait++;
}

/* Drops the steps of g that have issued what they held; returns how many
 * are left. */
static unsigned prune(grave_t *g)
{
    unsigned k = 0;
    for (unsigned i = 0; i < g->nwait; i++)
        if (g->wait[i].st->gen == g->wait[i].gen && g->wait[i].st->issued < g->wait[i].n)
            g->wait[k++] = g->wait[i];
    if (g->nwait > 0 && k == 0)
        gs_graves_waiting--;
    g->nwait = k;
    return k;
}

static void bury(unsigned i)
{
    CUevent e = graves[i].e;
    if (graves[i].nwait > 0)
        gs_graves_waiting--;
    graves[i] = graves[--ngraves];
    gs_event_forget(e);
    CUresult r = GS_CALL(cuEventDestroy_v2, e);
    if (r != CUDA_SUCCESS)
        GS_LOG_ONCE(GS_LOG_WARN, "the deferred cuEventDestroy of an event the program "
                    "destroyed failed (CUresult %d)", (int)r);
}

static void try_bury(unsigned i)
{
    const gs_event_t *ev = gs_event_get(graves[i].e, false);
    if (prune(&graves[i]) == 0 && (ev == NULL || ev->refs == 0))
        bury(i);
}

bool gs_event_destroy_later(gs_event_t *ev)
{
    if (ngraves == capgraves) {
        unsigned cap = capgraves ? capgraves * 2 : 16;
        grave_t *p = realloc(graves, cap * sizeof *p);
        if (p == NULL) {
            /* Cannot wait: issue everything held, and the exec nodes that
             * name it fail their next patch (counted, logged, eager). */
            gs_hold_settle_all(NULL, false, GS_BRK_event);
            return false;
        }
        gs_mem_account((long long)((cap - capgraves) * sizeof *p), 0);
        graves = p;
        capgraves = cap;
    }
    grave_t *g = &graves[ngraves];
    g->e = ev->key;
    g->nwait = 0;
    collecting = g;
    gs_for_each_stream(collect);
    if (g->nwait == 0 && ev->refs == 0)
        return false; /* nothing names it: destroyed now */
    ev->destroyed = true;
    if (g->nwait > 0)
        gs_graves_waiting++;
    ngraves++;
    gs_count(GS_CTR_events_deferred, 1);
    return true;
}

void gs_event_ref(CUevent e)
{
    gs_event_t *ev = gs_event_get(e, true);
    if (ev != NULL)
        ev->refs++;
}

void gs_event_unref(CUevent e)
{
    gs_event_t *ev = gs_event_get(e, false);
    if (ev == NULL || ev->refs == 0 || --ev->refs > 0 || !ev->destroyed)
        return;
    for (unsigned i = 0; i < ngraves; i++)
        if (graves[i].e == e) {
            try_bury(i);
            return;
        }
}

void gs_event_sweep(void)
{
    for (unsigned i = ngraves; i-- > 0;)
        if (graves[i].nwait > 0)
            try_bury(i);
}

void gs_event_sweep_all(void)
{
    for (unsigned i = ngraves; i-- > 0;)
        try_bury(i);
}
