/* dag.c: the dependencies of a step's ops, as stream capture would make them.
 *
 * A step's records are in the order the program issued them, each on one of
 * the step's streams (its slot). Each stream has a frontier: the nodes its
 * next op must wait for (its last op, and what it joined by waiting on an
 * event since). So:
 *
 * - a kernel, copy, memset, host function or wait on an event recorded
 *   before the step depends on its stream's frontier, and becomes it;
 * - a record of an event that times is a node of its stream's chain like
 *   the others (later work on the stream follows it, so that it times what
 *   it would in a stream); a record of an event created without timing
 *   (GS_REC_LEAF) hangs off the chain: it follows the stream's frontier,
 *   and nothing follows it. Stream capture makes no node of a record that
 *   a wait in the capture consumes; a graph with the record on the chain
 *   ran decode-bench --streams=2 at 0.9 of the captured one, its 16 records
 *   a token each a step on both streams' critical path;
 * - a wait on an event recorded inside the step makes no node: the record
 *   joins the waiting stream's frontier (fork and join), or, for a leaf,
 *   what the record followed;
 * - every record is a node, also one that a later record of the same event
 *   supersedes: on one stream the chain orders them; on two, graph.c makes
 *   the earlier one record the shim's own event in a launch where both
 *   share one (nothing outside the step can see the earlier record:
 *   anything that looks at the event from outside cuts the step), so the
 *   program sees the event after the step as it would without the shim,
 *   and the graph does not depend on which records share an event;
 * - a kernel launched with programmatic stream serialisation whose stream
 *   predecessor is a kernel depends on it by a programmatic edge (what
 *   capture makes of PDL, measured on an H200: type PROGRAMMATIC, from port
 *   PROGRAMMATIC); every other edge is a full one.
 *
 * - a host function followed on its stream, in the same chunk, by nothing
 *   but waits on the step's own events and then another host function runs
 *   in that one's node (GRAPHSHIM_HOST_MERGE): it makes no node, and what it
 *   depended on stays in its stream's frontier, so the later node depends
 *   on all of it. Nothing else in the graph can follow it (only records are
 *   joined across streams, and there is none between the two), so it still
 *   runs after all it followed and before all that followed it, in its
 *   stream's order of callbacks; what it no longer runs beside is work it
 *   was never ordered with. A host node costs about 3.2 us of cuGraphLaunch
 *   (measured on an H200); JAX's callback stream is a wait and a host
 *   function after every op.
 *
 * - a host node that nothing in its chunk follows (GRAPHSHIM_HOST_AFTER,
 *   gs_dag_mark_after) makes no node either: graph.c calls it, and what
 *   merged into it, after the chunk's graph, from one cuLaunchHostFunc:
 *   on their own stream when all are of one joined stream (which waits
 *   for the graph first), else on the launch stream. It then follows
 *   everything in the chunk, not only what it followed, and precedes what
 *   it preceded: nothing in the chunk, its stream's later work by stream
 *   order, and later chunks with nodes on that stream, which wait for it.
 *   A host node costs the graph's launch about 3.2 us on an H200, and the
 *   launch stream then waits for every callback's round trip (back to
 *   back, a launch of six kernels, twelve records and six host nodes took
 *   52-59 us; with one host function after it on the same stream, 40 us);
 *   XLA's callback stream ends every chunk with one.
 *
 * Edges always point from an earlier record to a later one, so the records'
 * order is a topological order and a chunk (a contiguous run of records)
 * keeps exactly the edges between its own records.
 */
#include "config.h"
#include "eng.h"

#include <stdlib.h>
#include <string.h>

#define FRONT_MAX 16 /* joins pending on one stream; a step with more is
                        not made a template (gs_dag_build fails) */

typedef struct {
    uint32_t n[FRONT_MAX];
    unsigned count;
    int last; /* the stream's last op that made a node, or -1 */
} front_t;

/* Adds a node to a frontier (or finds it there); false when the frontier
 * is full, even if it has the node: the step is then not made a template. */
static bool add_front(front_t *f, uint32_t node)
{
    if (f->count + 1 > FRONT_MAX)
        return false;
    for (unsigned i = 0; i < f->count; i++)
        if (f->n[i] == node)
            return true;
    f->n[f->count++] = node;
    return true;
}

/* Whether node `a` is an ancestor of node `b` through the edges built so
 * far (every node below the one being built has its edges). A depth-first
 * walk back from b; `stamp` marks visits, `stack` has room for n nodes. */
static bool reaches(const gs_dag_t *d, uint32_t a, uint32_t b, uint32_t *stamp,
                    uint32_t mark, uint32_t *stack)
{
    unsigned top = 0;
    stack[top++] = b;
    stamp[b] = mark;
    while (top > 0) {
        uint32_t x = stack[--top];
        for (uint32_t e = d->start[x]; e < d->start[x + 1]; e++) {
            uint32_t y = d->edges[e].from;
            if (y == a)
                return true;
            if (y > a && stamp[y] != mark) { /* ancestors of a come before it */
                stamp[y] = mark;
                stack[top++] = y;
            }
        }
    }
    return false;
}

/* Drops from a frontier every node that is an ancestor of another member:
 * its edge would be implied (a stream's last op before it joined an event
 * recorded after that op, say). Each edge left is then the only path from
 * its source, so leaving it out can be seen. */
static void reduce(const gs_dag_t *d, front_t *f, uint32_t *stamp, uint32_t *mark,
                   uint32_t *stack)
{
    for (unsigned k = 0; k < f->count && f->count > 1;) {
        bool implied = false;
        for (unsigned m = 0; m < f->count && !implied; m++)
            implied = m != k && f->n[m] > f->n[k] &&
                      reaches(d, f->n[k], f->n[m], stamp, ++*mark, stack);
        if (implied) {
            if ((int)f->n[k] == f->last)
                f->last = -1;
            f->n[k] = f->n[--f->count];
        } else {
            k++;
        }
    }
}

/* The host function after host record i on its stream that it may run in,
 * or GS_DAG_NONE: only waits on the step's own events between them, both
 * in one chunk (chunk_of NULL: one chunk). */
static uint32_t merge_target(const gs_rec_t *recs, unsigned n, unsigned i,
                             const uint32_t *chunk_of)
{
    for (unsigned j = i + 1; j < n; j++) {
        if (chunk_of != NULL && chunk_of[j] != chunk_of[i])
            return GS_DAG_NONE;
        if (recs[j].slot != recs[i].slot)
            continue;
        if (recs[j].kind == GS_OP_HOST)
            return j;
        if (recs[j].kind != GS_OP_EVWAIT || recs[j].u.e.ref < 0)
            return GS_DAG_NONE;
    }
    return GS_DAG_NONE;
}

bool gs_dag_build(gs_dag_t *d, const gs_rec_t *recs, unsigned n)
{
    return gs_dag_build_chunked(d, recs, n, NULL, false);
}

bool gs_dag_build_chunked(gs_dag_t *d, const gs_rec_t *recs, unsigned n,
                          const uint32_t *chunk_of, bool merge_host)
{
    front_t front[GS_MAX_SLOTS];
    memset(d, 0, sizeof *d);
    for (unsigned s = 0; s < GS_MAX_SLOTS; s++) {
        front[s].count = 0;
        front[s].last = -1;
    }
    /* At most FRONT_MAX edges per record. */
    d->start = calloc((size_t)n + 1, sizeof *d->start);
    d->edges = calloc((size_t)n * FRONT_MAX + 1, sizeof *d->edges);
    d->virt = calloc((size_t)n + 1, sizeof *d->virt);
    d->into = malloc(((size_t)n + 1) * sizeof *d->into);
    if (d->start == NULL || d->edges == NULL || d->virt == NULL || d->into == NULL) {
        gs_dag_free(d);
        return false;
    }
    uint32_t *stamp = calloc((size_t)n + 1, sizeof *stamp);
    uint32_t *stack = calloc((size_t)n + 1, sizeof *stack);
    uint32_t mark = 0;
    if (stamp == NULL || stack == NULL)
        goto fail;
    for (unsigned i = 0; i <= n; i++)
        d->into[i] = GS_DAG_NONE;
    uint32_t e = 0;
    for (unsigned i = 0; i < n; i++) {
        const gs_rec_t *r = &recs[i];
        front_t *f = &front[r->slot < GS_MAX_SLOTS ? r->slot : 0];
        d->start[i] = e;
        if (merge_host && r->kind == GS_OP_HOST &&
            (d->into[i] = merge_target(recs, n, i, chunk_of)) != GS_DAG_NONE) {
            /* Runs in a later host node: its frontier stays for that one,
             * reduced as its own node's would be (the waits of a long run
             * each join a record of one chain). */
            reduce(d, f, stamp, &mark, stack);
            d->virt[i] = true;
            continue;
        }
        if (r->kind == GS_OP_EVWAIT && r->u.e.ref >= 0) {
            /* Joins the record's node into this stream's frontier. */
            unsigned j = (unsigned)r->u.e.ref;
            if (j >= i) {
                /* A wait names the record it follows by its place before
                 * it; anything else is the engine's error: no graph. */
                GS_LOG_ONCE(GS_LOG_WARN, "internal: a stream wait names op %u of a step at "
                            "op %u; the step runs eagerly", j, i);
                goto fail;
            }
            if (recs[j].flags & GS_REC_LEAF) {
                /* What the record followed: its in-edges. */
                for (uint32_t k = d->start[j]; k < d->start[j + 1]; k++)
                    if (!add_front(f, d->edges[k].from))
                        goto fail;
            } else if (!add_front(f, j)) {
                goto fail;
            }
            d->virt[i] = true;
            continue;
        }
        reduce(d, f, stamp, &mark, stack);
        bool pdl = r->kind == GS_OP_KERNEL && (r->flags & GS_REC_PDL) && f->last >= 0 &&
                   recs[f->last].kind == GS_OP_KERNEL;
        for (unsigned k = 0; k < f->count; k++) {
            d->edges[e].from = f->n[k];
            d->edges[e].type = pdl && (int)f->n[k] == f->last
                                   ? CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC
                                   : CU_GRAPH_DEPENDENCY_TYPE_DEFAULT;
            e++;
        }
        if (r->kind == GS_OP_EVREC && (r->flags & GS_REC_LEAF)) {
            /* Off the chain; still the stream's last op, so that a kernel
             * after it gets no programmatic edge (as the record between
             * them in the stream gives none without the shim). */
            f->last = (int)i;
            continue;
        }
        /* Every other node, a timing event's record too, becomes its
         * stream's frontier: what follows on the stream starts after the
         * record, so a timing event records the point it was recorded at
         * (as a leaf it could record late: measured on an H200, a negative
         * elapsed time). */
        f->count = 1;
        f->n[0] = i;
        f->last = (int)i;
    }
    d->start[n] = e;
    d->nedges = e;
    /* A run of several: each names the node that runs it, the last one. */
    for (unsigned i = n; i-- > 0;)
        if (d->into[i] != GS_DAG_NONE && d->into[d->into[i]] != GS_DAG_NONE)
            d->into[i] = d->into[d->into[i]];
    free(stamp);
    free(stack);
    return true;
fail:
    free(stamp);
    free(stack);
    gs_dag_free(d);
    return false;
}

void gs_dag_mark_after(gs_dag_t *d, const gs_rec_t *recs, unsigned n,
                       const uint32_t *chunk_of)
{
    /* Which nodes something in their own chunk depends on. */
    bool *followed = calloc((size_t)n + 1, sizeof *followed);
    if (followed == NULL)
        return; /* they stay host nodes: slower, as right */
    for (unsigned i = 0; i < n; i++)
        for (uint32_t e = d->start[i]; e < d->start[i + 1]; e++) {
            uint32_t from = d->edges[e].from;
            if (chunk_of == NULL || chunk_of[from] == chunk_of[i])
                followed[from] = true;
        }
    for (unsigned j = 0; j < n; j++) {
        if (recs[j].kind != GS_OP_HOST || d->virt[j] || followed[j])
            continue;
        for (unsigned i = 0; i < j; i++)
            if (d->into[i] == j)
                d->into[i] = GS_DAG_AFTER;
        d->into[j] = GS_DAG_AFTER;
        d->virt[j] = true;
    }
    free(followed);
}

void gs_dag_free(gs_dag_t *d)
{
    free(d->start);
    free(d->edges);
    free(d->virt);
    free(d->into);
    memset(d, 0, sizeof *d);
}
