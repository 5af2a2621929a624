/* graph_launch.c: a template's graph chunks patched and launched.
 *
 * A replay patches only the nodes whose values differ from what the
 * executable graph holds (each node remembers it, graph.c), because
 * cuGraphExecKernelNodeSetParams costs about half a launch even when
 * nothing changed. Host-to-device nodes read from page-locked staging that
 * the template owns: it is refilled before each replay, and never while the
 * previous replay may still read it (an event recorded after each launch
 * says when it is free). Host functions that nothing in a chunk follows run
 * after its graph, from one cuLaunchHostFunc (GRAPHSHIM_HOST_AFTER).
 */
#include "config.h"
#include "eng.h"

#include <stdlib.h>
#include <string.h>

/* Patches node nd of executable graph `exec` to match rec; returns the
 * driver's answer (success when nothing needed patching). */
static CUresult patch(gs_template_t *t, CUgraphExec exec, gs_node_t *nd,
                      const gs_rec_t *rec, const uint8_t *arena, bool refresh,
                      bool *patched)
{
    const uint8_t *data = arena + rec->data;
    *patched = false;
    switch ((gs_opkind_t)rec->kind) {
    case GS_OP_KERNEL: {
        const gs_func_t *fn = rec->u.k.fn;
        if (memcmp(nd->grid, rec->u.k.grid, sizeof nd->grid) == 0 &&
            memcmp(t->arena + nd->data, data, fn->argsize) == 0)
            return CUDA_SUCCESS;
        void *kp[GS_MAX_PARAMS];
        CUDA_KERNEL_NODE_PARAMS_v2 p;
        gs_param_ptrs(fn, data, kp);
        gs_kernel_params(&p, fn, rec->u.k.grid, rec->u.k.block, rec->u.k.shmem, kp);
        CUresult r = GS_CALL(cuGraphExecKernelNodeSetParams_v2, exec, nd->node, &p);
        if (r == CUDA_SUCCESS) {
            gs_dump_kernel_changes(nd, t->arena + nd->data, data,
                                   memcmp(nd->grid, rec->u.k.grid, sizeof nd->grid) != 0);
            memcpy(t->arena + nd->data, data, fn->argsize);
            memcpy(nd->grid, rec->u.k.grid, sizeof nd->grid);
            *patched = true;
        }
        return r;
    }
    case GS_OP_HTOD:
        /* Staging is refilled every time; only the destination may move
         * (the size is part of the signature). */
        memcpy(nd->staging, data, rec->u.c.n);
        if (nd->dst == rec->u.c.dst && !refresh)
            return CUDA_SUCCESS;
        break;
    case GS_OP_DTOH:
    case GS_OP_DTOD:
        if (nd->dst == rec->u.c.dst && nd->src == rec->u.c.src &&
            nd->hdst == rec->u.c.hdst && nd->n == rec->u.c.n &&
            (!refresh || rec->kind == GS_OP_DTOD))
            return CUDA_SUCCESS;
        break;
    case GS_OP_EVREC:
    case GS_OP_EVWAIT: {
        /* Event pools: a different event each step. Waits on the step's
         * own events make no node and have nothing to patch. A record that
         * a later one in the chunk supersedes records the shim's event. */
        CUevent want = nd->sup ? t->ph : rec->u.e.ev;
        nd->sup = false;
        if (nd->node == NULL || nd->ev == want)
            return CUDA_SUCCESS;
        CUresult r = rec->kind == GS_OP_EVREC
                         ? GS_CALL(cuGraphExecEventRecordNodeSetEvent, exec, nd->node, want)
                         : GS_CALL(cuGraphExecEventWaitNodeSetEvent, exec, nd->node, want);
        if (r == CUDA_SUCCESS) {
            gs_dump_change(nd, 0);
            if (want != t->ph)
                gs_event_ref(want);
            if (nd->ev != t->ph)
                gs_event_unref(nd->ev);
            nd->ev = want;
            *patched = true;
        }
        return r;
    }
    case GS_OP_HOST: {
        if (nd->node == NULL) /* it runs from a later host node, which reads it */
            return CUDA_SUCCESS;
        CUDA_HOST_NODE_PARAMS h = {rec->u.h.fn, rec->u.h.data};
        if (nd->run != NULL) /* the slot for this launch (gs_hostrun_ready said free) */
            h = (CUDA_HOST_NODE_PARAMS){gs_hostrun_call,
                                        gs_hostrun_fill(nd->run, rec - (nd - t->nodes))};
        if (nd->fn == h.fn && nd->fdata == h.userData)
            return CUDA_SUCCESS;
        CUresult r = GS_CALL(cuGraphExecHostNodeSetParams, exec, nd->node, &h);
        if (r == CUDA_SUCCESS) {
            gs_dump_change(nd, nd->fn != h.fn ? 0 : 1);
            nd->fn = h.fn;
            nd->fdata = h.userData;
            *patched = true;
        }
        return r;
    }
    case GS_OP_MEMSET: {
        if (nd->dst == rec->u.m.dst && nd->value == rec->u.m.value && nd->n == rec->u.m.n)
            return CUDA_SUCCESS;
        gs_node_t next = *nd;
        next.dst = rec->u.m.dst;
        next.value = rec->u.m.value;
        next.n = rec->u.m.n;
        CUDA_MEMSET_NODE_PARAMS m;
        gs_memset_params(&m, &next, rec->u.m.elsize);
        CUresult r = GS_CALL(cuGraphExecMemsetNodeSetParams, exec, nd->node, &m, t->ctx);
        if (r == CUDA_SUCCESS) {
            gs_dump_change(nd, nd->dst != next.dst ? 0 : 1);
            *nd = next;
            *patched = true;
        }
        return r;
    }
    }
    gs_node_t next = *nd;
    next.dst = rec->u.c.dst;
    next.src = rec->u.c.src;
    next.hdst = rec->u.c.hdst;
    next.n = rec->u.c.n;
    CUDA_MEMCPY3D c;
    gs_copy_params(&c, &next);
    CUresult r = GS_CALL(cuGraphExecMemcpyNodeSetParams, exec, nd->node, &c, t->ctx);
    if (r == CUDA_SUCCESS) {
        if (nd->dst != next.dst || nd->hdst != next.hdst)
            gs_dump_change(nd, 0);
        if (nd->src != next.src || nd->n != next.n)
            gs_dump_change(nd, 1);
        *nd = next;
        *patched = true;
    }
    return r;
}

/* The call that patches each kind of node, for failure messages. */
static const char *const patch_call[] = {
    [GS_OP_KERNEL] = "cuGraphExecKernelNodeSetParams",
    [GS_OP_HTOD] = "cuGraphExecMemcpyNodeSetParams",
    [GS_OP_DTOH] = "cuGraphExecMemcpyNodeSetParams",
    [GS_OP_DTOD] = "cuGraphExecMemcpyNodeSetParams",
    [GS_OP_MEMSET] = "cuGraphExecMemsetNodeSetParams",
    [GS_OP_EVREC] = "cuGraphExecEventRecordNodeSetEvent",
    [GS_OP_EVWAIT] = "cuGraphExecEventWaitNodeSetEvent",
    [GS_OP_HOST] = "cuGraphExecHostNodeSetParams",
};

/* Records of one event on two streams of the chunk, or an earlier one off
 * its stream's chain (GS_REC_LEAF, dag.c): the earlier one would race the
 * later one in the graph (no edge orders them), and nothing outside the
 * step can see it, so in this launch it records the shim's own event. (On
 * one stream the chain orders a record before what follows; a record in an
 * earlier chunk completes before this chunk starts.) */
static void mark_superseded(gs_template_t *t, const gs_chunk_t *ch, const gs_rec_t *recs,
                            unsigned base)
{
    for (unsigned j = ch->first; j < ch->first + ch->count; j++) {
        const gs_rec_t *r = &recs[j];
        if (r->kind != GS_OP_EVREC || r->u.e.prev < (int)base)
            continue;
        unsigned i = (unsigned)r->u.e.prev - base;
        if (i >= ch->first && i < j &&
            (recs[i].slot != r->slot || (recs[i].flags & GS_REC_LEAF)))
            t->nodes[i].sup = true;
    }
}

/* A chunk with nodes on a stream where an earlier chunk's host functions
 * run waits for them first (their stream's later work follows them).
 * Only the chunks that need it: the launch stream never waits for
 * callbacks otherwise. */
static bool wait_after(gs_template_t *t, const gs_chunk_t *ch, CUstream s)
{
    for (unsigned c = 0; c < t->nchunks; c++) {
        const gs_chunk_t *p = &t->chunks[c];
        unsigned bit = 1u << p->after_slot;
        if (p->after_slot == 0 || !(ch->real_slots & t->after_slots & bit))
            continue;
        CUresult r = GS_CALL(cuEventRecord, t->aev, p->after_stream);
        if (r == CUDA_SUCCESS)
            r = GS_CALL(cuStreamWaitEvent, s, t->aev, 0);
        if (r != CUDA_SUCCESS) {
            gs_eng_failure(GS_CTR_fb_launch, "cuEventRecord", r);
            t->failed = true;
            return false;
        }
        t->after_slots &= (uint8_t)~bit;
    }
    return true;
}

/* What ends chunk ch's launch (submit.c runs it), with this launch's host
 * run slots marked launched: the chunk's host functions that nothing in it
 * follows run after its graph (and after the staging event, which they
 * need not delay), in the order the program issued them, so each stream's
 * callbacks keep theirs. All of one joined stream (JAX's callback stream):
 * on that stream, made to wait for the graph, so that the launch stream
 * never waits for a callback, as without the shim; its later work follows
 * them by stream order, and a later chunk with nodes on it waits for them
 * (wait_after). Otherwise on the launch stream s, which later chunks and
 * the joined streams' later work follow. */
static void chunk_submission(gs_template_t *t, gs_chunk_t *ch, const gs_rec_t *recs,
                             CUstream s, gs_sub_chunk_t *sc)
{
    *sc = (gs_sub_chunk_t){.t = t, .exec = ch->exec, .s = s, .done = t->done, .nev = ch->nev};
    for (unsigned i = ch->first; ch->nruns > 0 && i < ch->first + ch->count; i++)
        sc->nruns += t->nodes[i].run != NULL;
    if (ch->after != NULL) {
        sc->after = gs_hostrun_fill(ch->after, recs);
        if (ch->after_slot > 0) {
            sc->after_stream = ch->after_stream;
            sc->aev = t->aev;
        }
    }
}

/* The chunk's host runs went out with this launch; sc keeps their slots
 * (up to GS_SUB_RUNS), should a launch outside the lock fail. */
static void runs_launched(gs_template_t *t, gs_chunk_t *ch, gs_sub_chunk_t *sc)
{
    unsigned k = 0;
    for (unsigned i = ch->first; ch->nruns > 0 && i < ch->first + ch->count; i++) {
        gs_hostrun_t *h = t->nodes[i].run;
        if (h == NULL)
            continue;
        void *slot = gs_hostrun_launched(h);
        if (k < GS_SUB_RUNS)
            sc->runs[k++] = slot;
        gs_count(GS_CTR_hostfns_merged, gs_hostrun_count(h) - 1);
    }
    if (ch->after != NULL) {
        (void)gs_hostrun_launched(ch->after);
        gs_count(GS_CTR_hostfns_after, gs_hostrun_count(ch->after));
        if (ch->after_slot > 0)
            t->after_slots |= (uint8_t)(1u << ch->after_slot);
    }
    if (t->done != NULL)
        t->launched_with_staging = true;
}

bool gs_graph_launch_chunk(gs_template_t *t, unsigned c, const gs_rec_t *recs,
                           unsigned base, const uint8_t *arena, CUstream s, bool slot0_legacy,
                           bool *busy)
{
    CUresult r;
    gs_chunk_t *ch = &t->chunks[c];
    uint64_t t0 = gs_clock_ns();
    *busy = false;
    /* A launch of it outside the lock failed since: it retires. */
    gs_sub_reap(t);
    if (t->failed)
        return false;
    /* Staging is refilled from the first chunk on: the event recorded after
     * the last chunk launched says whether the previous replay still reads. */
    if (c == 0 && t->done != NULL && t->launched_with_staging) {
        r = GS_CALL(cuEventQuery, t->done);
        if (r == CUDA_ERROR_NOT_READY) {
            *busy = true;
            return false;
        }
        if (r != CUDA_SUCCESS) {
            gs_eng_failure(GS_CTR_fb_launch, "cuEventQuery", r);
            t->failed = true;
            return false;
        }
    }
    /* A run's next slot is still waiting for its callbacks: 32 launches of
     * the chunk behind, the step goes out eagerly. */
    for (unsigned i = ch->first; ch->nruns > 0 && i < ch->first + ch->count; i++)
        if (t->nodes[i].run != NULL && !gs_hostrun_ready(t->nodes[i].run)) {
            *busy = true;
            return false;
        }
    if (ch->after != NULL && !gs_hostrun_ready(ch->after)) {
        *busy = true;
        return false;
    }
    unsigned long long patched = 0;
    bool refresh = ch->frees_seen != gs_frees;
    if (ch->nev > 0)
        mark_superseded(t, ch, recs, base);
    for (unsigned i = ch->first; i < ch->first + ch->count; i++) {
        bool p;
        if ((r = patch(t, ch->exec, &t->nodes[i], &recs[i], arena, refresh, &p)) !=
            CUDA_SUCCESS) {
            gs_eng_failure(GS_CTR_fb_patch, patch_call[recs[i].kind], r);
            t->failed = true;
            return false;
        }
        patched += p;
    }
    ch->frees_seen = gs_frees;
    if (c == 0)
        t->after_slots = 0;
    if ((ch->real_slots & t->after_slots) && !wait_after(t, ch, s))
        return false;
    gs_sub_chunk_t sc;
    chunk_submission(t, ch, recs, s, &sc);
    /* A queued launch goes out after the lock: its runs' slots are marked
     * now (and cancelled should it fail). One launched now marks them once
     * it went out (sc keeps at most GS_SUB_RUNS slots to cancel). */
    bool queue = sc.nruns <= GS_SUB_RUNS && gs_sub_deferring();
    if (queue)
        runs_launched(t, ch, &sc);
    if (!queue || !gs_sub_push_chunk(&sc, recs + ch->first, ch->count, arena, slot0_legacy)) {
        if ((r = gs_sub_run_chunk(&sc, true)) != CUDA_SUCCESS) {
            if (queue)
                gs_sub_cancel_runs(&sc);
            gs_eng_failure(GS_CTR_fb_launch, "cuGraphLaunch", r);
            t->failed = true;
            return false;
        }
        if (!queue)
            runs_launched(t, ch, &sc);
    }
    uint64_t dt = gs_clock_ns() - t0;
    t->graph_ns += dt;
    /* Launches made after the lock since the last chunk (this one's, if it
     * was queued, in the next replay's). */
    unsigned long long late = atomic_load_explicit(&t->sub_ns, memory_order_relaxed);
    if (late != 0) {
        atomic_fetch_sub_explicit(&t->sub_ns, late, memory_order_relaxed);
        t->graph_ns += late;
    }
    gs_diag_graph_ns(dt, ch->count, (unsigned)patched);
    gs_count(GS_CTR_nodes_patched, patched);
    gs_count(GS_CTR_ops_replayed, ch->count);
    gs_count(GS_CTR_ops_replayed_events, ch->nev);
    gs_count(GS_CTR_graph_launches, 1);
    if (c == t->nchunks - 1) {
        gs_count(GS_CTR_replays, 1);
        uint64_t d = t->graph_ns - t->graph_ns_mark;
        t->graph_ns_mark = t->graph_ns;
        t->replay_ns[t->replays % GS_PAYOFF_WINDOW] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        t->replays++;
    }
    return true;
}
