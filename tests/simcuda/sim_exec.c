/* sim_exec.c: executable graphs in simcuda: instantiation, upload, launch,
 * the cuGraphExec*SetParams calls and cuGraphExecUpdate.
 *
 * An executable graph owns a copy of each node's operation and incoming
 * edges, indexed like the graph's nodes (so cuGraphExec*SetParams finds a
 * node in O(1) and changes only what later launches see), and a
 * topological order of them made at instantiation. A launch queues every
 * node as a command of its own (sim_sched.c), in that order, with the
 * node's edges as its dependencies: roots follow the launch stream's
 * earlier work (and the legacy stream's implicit synchronisation), the
 * stream's next work follows every node without dependents, and a kernel
 * node reached by a programmatic edge that does not synchronise on its grid
 * dependency (not SIMCUDA_KERNEL_GDS) follows only what its upstream kernel
 * follows, so it may run before it. Event wait nodes follow the latest
 * record of their event as it was when the graph was launched; event
 * record nodes become that latest record. Nodes trace as if launched on the
 * graph's stream. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

typedef struct xnode {
    sim_op_t op;
    size_t *deps;           /* node indices */
    CUgraphEdgeData *edata;
    size_t ndeps;
    int sink;               /* no node depends on it */
} xnode_t;

typedef struct sim_exec {
    sim_obj_t obj;
    unsigned long long graph_id;
    size_t n;
    xnode_t *nodes;         /* by node index */
    size_t *order;          /* a topological order */
} sim_exec_t;

/* ---------------------------------------------------------- instantiation */

static void exec_free(sim_exec_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        sim_op_free(&e->nodes[i].op);
        free(e->nodes[i].deps);
        free(e->nodes[i].edata);
    }
    free(e->nodes);
    free(e->order);
    e->nodes = NULL;
    e->order = NULL;
    e->n = 0;
}

void sim_graph_released(sim_obj_t *o)
{
    if (o->kind == SIM_K_EXEC)
        exec_free((sim_exec_t *)o);
}

/* Kahn's algorithm, taking ready nodes in creation order. */
static int topo_order(const sim_graph_t *g, size_t *order)
{
    size_t n = g->n, head = 0, tail = 0;
    size_t *indeg = calloc(n + 1, sizeof *indeg), *nout = calloc(n + 1, sizeof *nout), *start = NULL,
           *out = NULL;
    int ok = indeg && nout;
    for (size_t i = 0; ok && i < n; i++) {
        indeg[i] = g->nodes[i]->ndeps;
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++)
            nout[g->nodes[i]->deps[j]->index]++;
    }
    /* Outgoing edges, grouped by source. */
    size_t total = 0;
    if (ok && !(start = calloc(n + 1, sizeof *start)))
        ok = 0;
    for (size_t i = 0; ok && i < n; i++) {
        start[i] = total;
        total += nout[i];
        nout[i] = 0;
    }
    if (ok) {
        start[n] = total;
        ok = (out = malloc((total + 1) * sizeof *out)) != NULL;
    }
    for (size_t i = 0; ok && i < n; i++)
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++) {
            size_t d = g->nodes[i]->deps[j]->index;
            out[start[d] + nout[d]++] = i;
        }
    for (size_t i = 0; ok && i < n; i++)
        if (indeg[i] == 0)
            order[tail++] = i;
    while (ok && head < tail) {
        size_t x = order[head++];
        for (size_t k = start[x]; k < start[x] + nout[x]; k++)
            if (--indeg[out[k]] == 0)
                order[tail++] = out[k];
    }
    free(indeg);
    free(nout);
    free(start);
    free(out);
    return ok && tail == n ? 0 : -1;
}

static CUresult instantiate(CUgraphExec *ph, CUgraph hGraph, unsigned long long flags)
{
    sim_graph_t *g = NULL;
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_graph_arg(hGraph, &g);
    if (r == CUDA_SUCCESS)
        r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ph || (flags & ~(unsigned long long)(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
                                               CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or unsupported flags 0x%llx", flags);
    sim_exec_t *e = calloc(1, sizeof *e);
    if (!e || !(e->nodes = calloc(g->n + 1, sizeof *e->nodes)) || !(e->order = calloc(g->n + 1, sizeof *e->order))) {
        if (e)
            free(e->nodes);
        free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    int bad = topo_order(g, e->order);
    for (size_t i = 0; i < g->n; i++)
        e->nodes[i].sink = 1;
    for (size_t i = 0; !bad && i < g->n; i++, e->n++) {
        const sim_node_t *nd = g->nodes[i];
        xnode_t *x = &e->nodes[i];
        if (sim_op_clone(&x->op, &nd->op) ||
            (nd->ndeps && (!(x->deps = malloc(nd->ndeps * sizeof *x->deps)) ||
                           !(x->edata = malloc(nd->ndeps * sizeof *x->edata))))) {
            bad = 1;
            e->n++; /* so that exec_free frees what it has */
            break;
        }
        for (size_t j = 0; j < nd->ndeps; j++) {
            x->deps[j] = nd->deps[j]->index;
            x->edata[j] = nd->edata[j];
            e->nodes[x->deps[j]].sink = 0;
        }
        x->ndeps = nd->ndeps;
    }
    if (bad) {
        exec_free(e);
        free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    sim_obj_add(&e->obj, SIM_K_EXEC, ctx);
    e->graph_id = g->id;
    *ph = (CUgraphExec)e;
    return CUDA_SUCCESS;
}

SIM_API(cuGraphInstantiateWithFlags, (CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags),
        (phGraphExec, hGraph, flags))
{
    return instantiate(phGraphExec, hGraph, flags);
}
/* The legacy instantiate entry points report no error node and no log. */
static CUresult instantiate_legacy(CUgraphExec *ph, CUgraph g, CUgraphNode *err, char *log, size_t n)
{
    if (err)
        *err = NULL;
    if (log && n)
        log[0] = '\0';
    return instantiate(ph, g, 0);
}
SIM_API(cuGraphInstantiate, (CUgraphExec *ph, CUgraph g, CUgraphNode *err, char *log, size_t n),
        (ph, g, err, log, n))
{
    return instantiate_legacy(ph, g, err, log, n);
}
SIM_API(cuGraphInstantiate_v2, (CUgraphExec *ph, CUgraph g, CUgraphNode *err, char *log, size_t n),
        (ph, g, err, log, n))
{
    return instantiate_legacy(ph, g, err, log, n);
}

static CUresult exec_arg(CUgraphExec h, sim_exec_t **e)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !(*e = sim_obj_find(h, SIM_K_EXEC)))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not a live executable graph", (void *)h);
    return r;
}

SIM_API(cuGraphExecDestroy, (CUgraphExec hGraphExec), (hGraphExec))
{
    sim_exec_t *e = NULL;
    CUresult r = exec_arg(hGraphExec, &e);
    if (r == CUDA_SUCCESS) {
        exec_free(e);
        sim_obj_kill(&e->obj);
    }
    return r;
}

/* ----------------------------------------------------------------- launch */

static CUresult exec_stream(CUgraphExec h, CUstream hs, int ptsz, sim_exec_t **e, sim_stream_t **s)
{
    CUresult r = exec_arg(h, e);
    if (r == CUDA_SUCCESS)
        r = sim_stream_get(hs, ptsz, s);
    if (r == CUDA_SUCCESS && (*s)->obj.ctx != (*e)->obj.ctx)
        r = sim_err(CUDA_ERROR_INVALID_CONTEXT, "graph instantiated in another context");
    if (r == CUDA_SUCCESS && (*s)->obj.ctx->sticky)
        r = (*s)->obj.ctx->sticky;
    return r;
}

static CUresult upload(CUgraphExec h, CUstream hs, int ptsz)
{
    sim_exec_t *e = NULL;
    sim_stream_t *s = NULL;
    CUresult r = exec_stream(h, hs, ptsz, &e, &s);
    return r == CUDA_SUCCESS ? sim_capture_guard(s) : r;
}
SIM_TWINS(cuGraphUpload, _ptsz, (CUgraphExec hGraphExec, CUstream hStream), (hGraphExec, hStream),
          upload(hGraphExec, hStream, pt_))

/* The real driver (580, H100; measured) keeps the allocations of a memcpy
 * node that has a host side when the node is made or set. If either operand
 * is freed and allocated again, at the same address as it usually is, a
 * launch of the graph dereferences the freed allocation and crashes (SIGSEGV
 * in cuGraphLaunch); setting the node's parameters again, even unchanged,
 * cures it. Device-to-device copy, memset and kernel nodes do not crash.
 * simcuda crashes too, with a message, so such a bug cannot pass here. */
static void check_operands(const sim_op_t *op, size_t node)
{
    const sim_copy_t *c = &op->u.c.c;
    if (op->kind != SIM_OP_COPY || (c->src_dev && c->dst_dev))
        return;
    static const char *const side[2] = {"source", "destination"};
    for (int i = 0; i < 2; i++)
        if (op->u.c.ids[i] != 0 && sim_mem_id(sim_side_addr(c, i)) != op->u.c.ids[i]) {
            fprintf(stderr, "simcuda: cuGraphLaunch: node %zu, a memcpy with a host side: its %s "
                            "0x%llx was freed since the node was set; the real driver crashes here\n",
                    node, side[i], (unsigned long long)sim_side_addr(c, i));
            abort();
        }
}

/* Whether node a is an ancestor of node b in e (a walk back from b). */
static int ancestor(const sim_exec_t *e, size_t a, size_t b, unsigned char *seen)
{
    if (a == b)
        return 0;
    memset(seen, 0, e->n);
    size_t *stack = malloc((e->n + 1) * sizeof *stack), top = 0;
    int found = 0;
    if (!stack)
        return 1; /* out of memory: take the order given */
    stack[top++] = b;
    while (top > 0 && !found) {
        const xnode_t *x = &e->nodes[stack[--top]];
        for (size_t j = 0; j < x->ndeps && !found; j++) {
            size_t d = x->deps[j];
            found = d == a;
            if (!seen[d]) {
                seen[d] = 1;
                stack[top++] = d;
            }
        }
    }
    free(stack);
    return found;
}

/* Record nodes of one event that no path orders: on a GPU the one that
 * runs last leaves the event as later work sees it. Which one that is
 * comes from the seeded PRNG here (the last in topological order under
 * SIMCUDA_SCHED=fifo), so a graph that lets two such records race shows a
 * different result for some seed. */
static void race_records(const sim_exec_t *e, sim_cmd_t **cmds)
{
    unsigned char *seen = NULL;
    size_t *top = NULL;
    for (size_t k = 0; k < e->n; k++) {
        size_t i = e->order[k];
        const sim_op_t *op = &e->nodes[i].op;
        if (op->kind != SIM_OP_EVENT)
            continue;
        /* Only the topologically last record of each event starts a look. */
        int last = 1;
        for (size_t m = k + 1; m < e->n && last; m++)
            last = !(e->nodes[e->order[m]].op.kind == SIM_OP_EVENT &&
                     e->nodes[e->order[m]].op.u.e.ev == op->u.e.ev);
        if (!last)
            continue;
        if (!seen && (!(seen = malloc(e->n + 1)) || !(top = malloc((e->n + 1) * sizeof *top))))
            break;
        /* The records of this event that are ancestors of no other. */
        size_t ntop = 0;
        for (size_t m = 0; m < e->n; m++) {
            const sim_op_t *o = &e->nodes[m].op;
            if (o->kind != SIM_OP_EVENT || o->u.e.ev != op->u.e.ev)
                continue;
            int below = 0;
            for (size_t q = 0; q < e->n && !below; q++)
                below = q != m && e->nodes[q].op.kind == SIM_OP_EVENT &&
                        e->nodes[q].op.u.e.ev == op->u.e.ev && ancestor(e, m, q, seen);
            if (!below)
                top[ntop++] = m;
        }
        size_t pick = ntop > 0 ? top[sim_sched_pick(ntop)] : i;
        if (pick != i)
            sim_cmd_records(cmds[pick]); /* it becomes the event's latest */
    }
    free(seen);
    free(top);
}

/* Queues the nodes as commands (see the top of the file). */
static CUresult launch_nodes(sim_exec_t *e, sim_stream_t *s)
{
    sim_ctx_t *ctx = s->obj.ctx;
    sim_cmd_t **cmds = calloc(e->n + 1, sizeof *cmds), **sinks = calloc(e->n + 1, sizeof *sinks);
    sim_ref_t *waits = calloc(e->n + 1, sizeof *waits);
    unsigned long long *wait_t = calloc(e->n + 1, sizeof *wait_t);
    size_t nsinks = 0;
    if (!cmds || !sinks || !waits || !wait_t) {
        free(cmds), free(sinks), free(waits), free(wait_t);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    /* Waits see the records made before this launch, none of its own. */
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].op.kind == SIM_OP_WAIT) {
            waits[i] = e->nodes[i].op.u.e.ev->rec;
            wait_t[i] = e->nodes[i].op.u.e.ev->t_us;
        }
    for (size_t k = 0; k < e->n; k++) {
        size_t i = e->order[k];
        const xnode_t *x = &e->nodes[i];
        sim_op_t op;
        if (sim_op_clone(&op, &x->op)) {
            fprintf(stderr, "simcuda: out of host memory launching a graph\n");
            abort();
        }
        int early = op.kind == SIM_OP_KERNEL && !(op.u.k.kdef->flags & SIMCUDA_KERNEL_GDS);
        sim_cmd_t *c = cmds[i] = sim_cmd_new(&op, ctx, s->ordinal, 1);
        if (x->ndeps == 0)
            sim_cmd_entry(c, s);
        for (size_t j = 0; j < x->ndeps; j++) {
            sim_cmd_t *d = cmds[x->deps[j]];
            if (early && sim_edge_programmatic(&x->edata[j]))
                sim_cmd_early(c, d);
            else
                sim_cmd_dep(c, sim_cmd_ref(d), sim_cmd_time(d));
        }
        if (x->op.kind == SIM_OP_WAIT)
            sim_cmd_dep(c, waits[i], wait_t[i]);
        sim_cmd_seal(c);
        sim_cmd_records(c);
        if (x->sink)
            sinks[nsinks++] = c;
    }
    race_records(e, cmds);
    sim_after_set(&s->tail, sinks, nsinks);
    s->tail_kernel = 0;
    free(cmds), free(sinks), free(waits), free(wait_t);
    sim_sched_maybe_flush();
    return CUDA_SUCCESS;
}

static CUresult graph_launch(CUgraphExec h, CUstream hs, int ptsz)
{
    static atomic_ulong launches;
    unsigned long nth = atomic_fetch_add(&launches, 1) + 1;
    /* The cost is spent outside the simulated driver's lock, as a real
     * driver's CPU work before the launch takes effect: another thread's
     * call meanwhile takes effect first (what tests/e2e/prog_dag xorder
     * needs to show a call that overtakes a launch in flight). */
    unsigned long ns = sim_graph_launch_ns + (nth == sim_spike_at ? sim_spike_ns : 0);
    if (ns > 0) {
        sim_unlock();
        sim_spend(ns);
        sim_lock();
    }
    sim_exec_t *e = NULL;
    sim_stream_t *s = NULL;
    CUresult r = exec_stream(h, hs, ptsz, &e, &s);
    if (r == CUDA_SUCCESS && sim_capture_invalid(s))
        r = sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "capture invalidated");
    for (size_t i = 0; r == CUDA_SUCCESS && i < e->n; i++) {
        const sim_op_t *op = &e->nodes[i].op;
        if ((op->kind == SIM_OP_EVENT || op->kind == SIM_OP_WAIT) && op->u.e.ev->obj.magic != SIM_MAGIC)
            r = sim_err(CUDA_ERROR_INVALID_HANDLE, "node %zu: its event was destroyed", i);
        check_operands(op, i);
    }
    if (r != CUDA_SUCCESS)
        return r;
    if (!s->cap)
        return launch_nodes(e, s);
    /* Into a capture: the nodes in a straight line, in topological order. */
    for (size_t k = 0; r == CUDA_SUCCESS && k < e->n; k++) {
        sim_op_t op;
        if (sim_op_clone(&op, &e->nodes[e->order[k]].op))
            return CUDA_ERROR_OUT_OF_MEMORY;
        r = op.kind == SIM_OP_EVENT || op.kind == SIM_OP_WAIT ? sim_capture_node(s, &op) : sim_submit(s, &op);
    }
    return r;
}
SIM_TWINS(cuGraphLaunch, _ptsz, (CUgraphExec hGraphExec, CUstream hStream), (hGraphExec, hStream),
          graph_launch(hGraphExec, hStream, pt_))

/* ------------------------------------------------------ exec set params */

/* The exec's copy of the operation of node `h`, which must be of `kind`. */
static CUresult exec_node(CUgraphExec he, CUgraphNode h, enum sim_op_kind kind, sim_op_t **op)
{
    sim_exec_t *e = NULL;
    sim_node_t *n = NULL;
    CUresult r = exec_arg(he, &e);
    if (r == CUDA_SUCCESS)
        r = sim_node_arg(h, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (n->graph->id != e->graph_id || n->index >= e->n)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "node %p is not part of this executable graph", (void *)h);
    if (e->nodes[n->index].op.kind != kind)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "node %p is of another type", (void *)h);
    *op = &e->nodes[n->index].op;
    return CUDA_SUCCESS;
}

/* The function must stay the same; grid, block, shared memory and
 * arguments may change, the node's attributes stay. Arguments are copied
 * now. */
static CUresult exec_kernel_set(CUgraphExec he, CUgraphNode h, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    sim_spend(sim_setparams_ns);
    sim_op_t *old, op;
    CUresult r = exec_node(he, h, SIM_OP_KERNEL, &old);
    if (r == CUDA_SUCCESS)
        r = sim_kernel_op(p, &op);
    if (r != CUDA_SUCCESS)
        return r;
    simcuda_launch_t *L = &op.u.k.launch;
    const simcuda_dim3 cl = old->u.k.launch.clusterDim;
    if (op.u.k.kdef != old->u.k.kdef)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "the kernel of a node cannot change (%s to %s)",
                    old->u.k.kdef->name, op.u.k.kdef->name);
    else if (cl.x && (L->gridDim.x % cl.x || L->gridDim.y % cl.y || L->gridDim.z % cl.z))
        r = sim_err(CUDA_ERROR_INVALID_CLUSTER_SIZE, "grid %ux%ux%u is not a multiple of the node's cluster",
                    L->gridDim.x, L->gridDim.y, L->gridDim.z);
    if (r != CUDA_SUCCESS) {
        sim_op_free(&op);
        return r;
    }
    L->clusterDim = cl;
    L->priority = old->u.k.launch.priority;
    L->cooperative = old->u.k.launch.cooperative;
    op.u.k.attr = old->u.k.attr;
    sim_op_free(old);
    *old = op;
    return CUDA_SUCCESS;
}

SIM_API(cuGraphExecKernelNodeSetParams_v2, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                            const CUDA_KERNEL_NODE_PARAMS_v2 *nodeParams),
        (hGraphExec, hNode, nodeParams))
{
    return exec_kernel_set(hGraphExec, hNode, nodeParams);
}

SIM_API(cuGraphExecKernelNodeSetParams, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                         const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams),
        (hGraphExec, hNode, nodeParams))
{
    CUDA_KERNEL_NODE_PARAMS_v2 q = sim_kernel_params_v1(nodeParams);
    return nodeParams ? exec_kernel_set(hGraphExec, hNode, &q) : CUDA_ERROR_INVALID_VALUE;
}

SIM_API(cuGraphExecMemcpyNodeSetParams, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                         const CUDA_MEMCPY3D *copyParams, CUcontext ctx),
        (hGraphExec, hNode, copyParams, ctx))
{
    sim_op_t *old, op;
    CUresult r = exec_node(hGraphExec, hNode, SIM_OP_COPY, &old);
    if (r == CUDA_SUCCESS)
        r = sim_copy_op(copyParams, ctx, &op);
    if (r != CUDA_SUCCESS)
        return r;
    if (op.u.c.c.src_dev != old->u.c.c.src_dev || op.u.c.c.dst_dev != old->u.c.c.dst_dev)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "the direction of a memcpy node cannot change");
    sim_op_free(old);
    *old = op;
    return CUDA_SUCCESS;
}

SIM_API(cuGraphExecMemsetNodeSetParams, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                         const CUDA_MEMSET_NODE_PARAMS *memsetParams, CUcontext ctx),
        (hGraphExec, hNode, memsetParams, ctx))
{
    sim_op_t *old, op;
    CUresult r = exec_node(hGraphExec, hNode, SIM_OP_MEMSET, &old);
    if (r == CUDA_SUCCESS)
        r = sim_memset_op(memsetParams, ctx, &op);
    if (r == CUDA_SUCCESS)
        *old = op;
    return r;
}

SIM_API(cuGraphExecHostNodeSetParams, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                       const CUDA_HOST_NODE_PARAMS *nodeParams),
        (hGraphExec, hNode, nodeParams))
{
    sim_op_t *old;
    CUresult r = exec_node(hGraphExec, hNode, SIM_OP_HOST, &old);
    if (r == CUDA_SUCCESS && (!nodeParams || !nodeParams->fn))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "null host function");
    if (r == CUDA_SUCCESS) {
        old->u.h.fn = nodeParams->fn;
        old->u.h.user = nodeParams->userData;
    }
    return r;
}

/* The event of a record or wait node, for later launches; it must be an
 * event of the graph's context. A node whose event was destroyed is
 * refused, as the H200's driver refused it (CUresult 1) when PyTorch
 * destroyed an event a graph of the shim still named. */
static CUresult exec_event_set(CUgraphExec he, CUgraphNode h, enum sim_op_kind kind, CUevent ev)
{
    sim_op_t *old;
    sim_event_t *e = NULL;
    CUresult r = exec_node(he, h, kind, &old);
    if (r == CUDA_SUCCESS && old->u.e.ev->obj.magic != SIM_MAGIC)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "the node's event was destroyed");
    if (r == CUDA_SUCCESS)
        r = sim_event_arg(ev, &e);
    if (r == CUDA_SUCCESS && e->obj.ctx != ((sim_exec_t *)sim_obj_get(he))->obj.ctx)
        r = sim_err(CUDA_ERROR_INVALID_CONTEXT, "event of another context");
    if (r == CUDA_SUCCESS)
        old->u.e.ev = e;
    return r;
}
SIM_API(cuGraphExecEventRecordNodeSetEvent, (CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event),
        (hGraphExec, hNode, event))
{
    return exec_event_set(hGraphExec, hNode, SIM_OP_EVENT, event);
}
SIM_API(cuGraphExecEventWaitNodeSetEvent, (CUgraphExec hGraphExec, CUgraphNode hNode, CUevent event),
        (hGraphExec, hNode, event))
{
    return exec_event_set(hGraphExec, hNode, SIM_OP_WAIT, event);
}

/* ------------------------------------------------------------ exec update */

/* Whether node i of g has exactly the incoming edges (sources by index, edge
 * data) that the executable graph's node i has. */
static int same_edges(const sim_node_t *nd, const xnode_t *x)
{
    if (nd->ndeps != x->ndeps)
        return 0;
    for (size_t a = 0; a < nd->ndeps; a++) {
        size_t b = 0;
        while (b < x->ndeps && (x->deps[b] != nd->deps[a]->index || memcmp(&x->edata[b], &nd->edata[a], sizeof x->edata[b])))
            b++;
        if (b == x->ndeps)
            return 0;
    }
    return 1;
}

/* Accepts a graph of the same shape (node types and kernels by creation
 * index, the same edges with the same data) and takes over its parameters. */
SIM_API(cuGraphExecUpdate_v2, (CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *info),
        (hGraphExec, hGraph, info))
{
    sim_exec_t *e = NULL;
    sim_graph_t *g = NULL;
    CUresult r = exec_arg(hGraphExec, &e);
    if (r == CUDA_SUCCESS)
        r = sim_graph_arg(hGraph, &g);
    if (r != CUDA_SUCCESS)
        return r;
    if (!info)
        return CUDA_ERROR_INVALID_VALUE;
    memset(info, 0, sizeof *info);
    CUgraphExecUpdateResult res = g->n != e->n ? CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED
                                               : CU_GRAPH_EXEC_UPDATE_SUCCESS;
    for (size_t i = 0; res == CU_GRAPH_EXEC_UPDATE_SUCCESS && i < g->n; i++) {
        const sim_op_t *a = &g->nodes[i]->op, *b = &e->nodes[i].op;
        if (a->kind != b->kind)
            res = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
        else if (a->kind == SIM_OP_KERNEL && a->u.k.kdef != b->u.k.kdef)
            res = CU_GRAPH_EXEC_UPDATE_ERROR_FUNCTION_CHANGED;
        else if (a->kind == SIM_OP_KERNEL && (a->u.k.attr.updatable || b->u.k.attr.updatable))
            res = CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED;
        else if (!same_edges(g->nodes[i], &e->nodes[i]))
            res = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
        if (res != CU_GRAPH_EXEC_UPDATE_SUCCESS)
            info->errorNode = (CUgraphNode)g->nodes[i];
    }
    info->result = res;
    if (res != CU_GRAPH_EXEC_UPDATE_SUCCESS)
        return sim_err(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, "update result %d", (int)res);
    for (size_t i = 0; i < g->n; i++) {
        sim_op_t op;
        if (sim_op_clone(&op, &g->nodes[i]->op))
            return CUDA_ERROR_OUT_OF_MEMORY;
        sim_op_free(&e->nodes[i].op);
        e->nodes[i].op = op;
    }
    return CUDA_SUCCESS;
}

const sim_proc_t sim_exec_procs[] = {
    SIM_PROC(cuGraphInstantiate, 10000),
    SIM_PROC(cuGraphInstantiate_v2, 11000),
    SIM_PROC(cuGraphInstantiateWithFlags, 11040),
    SIM_PROC(cuGraphExecDestroy, 10000),
    SIM_PROC(cuGraphUpload, 11010),
    SIM_PROC(cuGraphUpload_ptsz, 11010),
    SIM_PROC(cuGraphLaunch, 10000),
    SIM_PROC(cuGraphLaunch_ptsz, 10000),
    SIM_PROC(cuGraphExecKernelNodeSetParams, 10010),
    SIM_PROC(cuGraphExecKernelNodeSetParams_v2, 12000),
    SIM_PROC(cuGraphExecMemcpyNodeSetParams, 10020),
    SIM_PROC(cuGraphExecMemsetNodeSetParams, 10020),
    SIM_PROC(cuGraphExecHostNodeSetParams, 10020),
    SIM_PROC(cuGraphExecEventRecordNodeSetEvent, 11010),
    SIM_PROC(cuGraphExecEventWaitNodeSetEvent, 11010),
    SIM_PROC(cuGraphExecUpdate_v2, 12000),
};
const size_t sim_exec_nprocs = sizeof sim_exec_procs / sizeof sim_exec_procs[0];
