/* hostrun.c: several host functions of one stream run from one host node.
 *
 * dag.c decides which host functions may share a node (a run: host
 * functions of one stream and chunk with only waits on the step's own
 * events between them). A host node costs about 3.2 us of cuGraphLaunch on
 * an H200 against 0.3 us for a kernel node, and JAX puts one after every
 * op, so a run's functions are called, in their order, by one node whose
 * function is gs_hostrun_call.
 *
 * What a run calls changes at every replay (XLA hands each callback fresh
 * data). The node's data is one of a ring of slots, each with the functions
 * and data of one launch: the engine fills the next slot while earlier
 * launches' callbacks may still be pending, points the node at it (a host
 * node patch, about 80 ns), and the callback marks the slot done. Launches
 * of one executable graph run in order, so slots complete in order; a slot
 * whose callback has not run yet is never refilled (the launch waits: the
 * caller issues the step eagerly instead).
 *
 * A chunk's host functions that nothing in it follows (GRAPHSHIM_HOST_AFTER)
 * are a run too, called after the chunk's graph by one cuLaunchHostFunc
 * whose data is the slot: the same ring, the same order (one stream's
 * callbacks run in the order they were issued).
 *
 * Threads: the engine fills and launches under its lock; the driver's
 * callback thread reads a slot and then counts it run (release), which the
 * engine reads (acquire) before it refills it. A run freed while callbacks
 * are pending is kept on a list and freed once they have run, or never.
 */
#include "config.h"
#include "eng.h"

#include <stdlib.h>
#include <string.h>

#define GS_HOSTRUN_RING 32

typedef struct hr_slot {
    struct gs_hostrun *run;
    unsigned launched;   /* times it went out (engine lock) */
    atomic_uint ran;     /* times its callback finished (callback thread) */
} hr_slot_t;

struct gs_hostrun {
    unsigned k;          /* functions a launch calls */
    unsigned next;       /* the slot the next launch fills */
    uint32_t *members;   /* their records' places in the template */
    CUhostFn *fn;        /* GS_HOSTRUN_RING * k */
    void **data;
    struct gs_hostrun *dead; /* on the list of runs freed with callbacks pending */
    hr_slot_t slot[GS_HOSTRUN_RING];
};

static pthread_mutex_t dead_lock = PTHREAD_MUTEX_INITIALIZER;
static gs_hostrun_t *dead;

void CUDA_CB gs_hostrun_call(void *p)
{
    hr_slot_t *s = p;
    gs_hostrun_t *h = s->run;
    size_t at = (size_t)(s - h->slot) * h->k;
    for (unsigned m = 0; m < h->k; m++)
        h->fn[at + m](h->data[at + m]);
    atomic_fetch_add_explicit(&s->ran, 1, memory_order_release);
}

gs_hostrun_t *gs_hostrun_new(const uint32_t *members, unsigned k)
{
    gs_hostrun_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->k = k;
    h->members = malloc(k * sizeof *h->members);
    h->fn = calloc((size_t)GS_HOSTRUN_RING * k, sizeof *h->fn);
    h->data = calloc((size_t)GS_HOSTRUN_RING * k, sizeof *h->data);
    if (h->members == NULL || h->fn == NULL || h->data == NULL) {
        free(h->members);
        free(h->fn);
        free(h->data);
        free(h);
        return NULL;
    }
    memcpy(h->members, members, k * sizeof *members);
    for (unsigned i = 0; i < GS_HOSTRUN_RING; i++) {
        h->slot[i].run = h;
        atomic_init(&h->slot[i].ran, 0);
    }
    gs_mem_account((long long)gs_hostrun_bytes(k), 0);
    return h;
}

size_t gs_hostrun_bytes(unsigned k)
{
    return sizeof(gs_hostrun_t) + k * (sizeof(uint32_t) +
                                       GS_HOSTRUN_RING * (sizeof(CUhostFn) + sizeof(void *)));
}

unsigned gs_hostrun_count(const gs_hostrun_t *h)
{
    return h->k;
}

/* Every launch of the slot has had its callback. */
static bool slot_done(const hr_slot_t *s)
{
    return s->launched == atomic_load_explicit(&s->ran, memory_order_acquire);
}

bool gs_hostrun_ready(const gs_hostrun_t *h)
{
    return slot_done(&h->slot[h->next]);
}

void *gs_hostrun_fill(gs_hostrun_t *h, const gs_rec_t *recs)
{
    size_t at = (size_t)h->next * h->k;
    for (unsigned m = 0; m < h->k; m++) {
        h->fn[at + m] = recs[h->members[m]].u.h.fn;
        h->data[at + m] = recs[h->members[m]].u.h.data;
    }
    return &h->slot[h->next];
}

void *gs_hostrun_launched(gs_hostrun_t *h)
{
    hr_slot_t *s = &h->slot[h->next];
    s->launched++;
    h->next = (h->next + 1) % GS_HOSTRUN_RING;
    return s;
}

void gs_hostrun_cancel(void *slot)
{
    hr_slot_t *s = slot;
    atomic_fetch_add_explicit(&s->ran, 1, memory_order_release);
}

static bool idle(const gs_hostrun_t *h)
{
    for (unsigned i = 0; i < GS_HOSTRUN_RING; i++)
        if (!slot_done(&h->slot[i]))
            return false;
    return true;
}

static void release(gs_hostrun_t *h)
{
    gs_mem_account(-(long long)gs_hostrun_bytes(h->k), 0);
    free(h->members);
    free(h->fn);
    free(h->data);
    free(h);
}

/* Frees what the list holds whose callbacks have all run (dead_lock held). */
static void sweep(void)
{
    for (gs_hostrun_t **p = &dead; *p != NULL;) {
        gs_hostrun_t *h = *p;
        if (idle(h)) {
            *p = h->dead;
            release(h);
        } else {
            p = &h->dead;
        }
    }
}

void gs_hostrun_free(gs_hostrun_t *h)
{
    pthread_mutex_lock(&dead_lock);
    sweep();
    if (h != NULL) {
        if (idle(h)) {
            release(h);
        } else {
            /* The GPU has yet to run some of its launches' callbacks. */
            h->dead = dead;
            dead = h;
        }
    }
    pthread_mutex_unlock(&dead_lock);
}
