/* sim_graph.c: graphs in simcuda as the graph API builds them: graphs,
 * nodes of every kind simcuda runs (kernel, memcpy, memset, empty, host,
 * event record, event wait), edges with their edge data (default and
 * programmatic), and the queries and kernel node attributes.
 *
 * A node holds one sim_op_t, the same unit of work the queue runs; its
 * arguments are copied when the node is added. Each node keeps its incoming
 * edges. Nodes added with dependencies always follow them, but
 * cuGraphAddDependencies may add an edge between any two nodes (refusing
 * duplicates and cycles), so creation order is not a topological order:
 * instantiation (sim_exec.c, with the launch and exec updates) sorts them.
 * Stream capture, which builds graphs out of stream work, lives in
 * sim_capture.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

static unsigned long long next_graph_id = 1;

/* ----------------------------------------------------------------- graphs */

sim_graph_t *sim_graph_new(void)
{
    sim_graph_t *g = calloc(1, sizeof *g);
    if (g) {
        sim_obj_add(&g->obj, SIM_K_GRAPH, NULL);
        g->id = next_graph_id++;
    }
    return g;
}

/* Whether edge data asks for a programmatic dependency. */
int sim_edge_programmatic(const CUgraphEdgeData *e)
{
    return e && e->type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
}

/* Edge data as the driver accepts it: to_port 0, reserved bytes zero; a
 * default edge from port 0, a programmatic one from the programmatic or
 * launch-order port of a kernel node to a kernel node. */
static CUresult check_edge(const sim_node_t *from, const sim_op_t *to, const CUgraphEdgeData *e)
{
    static const unsigned char zero[sizeof e->reserved];
    if (!e)
        return CUDA_SUCCESS;
    if (e->to_port != 0 || memcmp(e->reserved, zero, sizeof zero))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "edge data: to_port %u or reserved bytes not zero", e->to_port);
    if (e->type == CU_GRAPH_DEPENDENCY_TYPE_DEFAULT) {
        if (e->from_port != CU_GRAPH_KERNEL_NODE_PORT_DEFAULT)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "default edge from port %u", e->from_port);
        return CUDA_SUCCESS;
    }
    if (e->type != CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "edge type %u", e->type);
    if (e->from_port != CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC && e->from_port != CU_GRAPH_KERNEL_NODE_PORT_LAUNCH_ORDER)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "programmatic edge from port %u", e->from_port);
    if (from->op.kind != SIM_OP_KERNEL || to->kind != SIM_OP_KERNEL)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "programmatic edges join two kernel nodes");
    return CUDA_SUCCESS;
}

/* Appends the edge d -> n (checked by the caller). */
static void edge_add(sim_node_t *n, sim_node_t *d, const CUgraphEdgeData *e)
{
    size_t cap = n->capdeps;
    n->deps = sim_grow(n->deps, &cap, n->ndeps + 1, sizeof *n->deps);
    cap = n->capdeps;
    n->edata = sim_grow(n->edata, &cap, n->ndeps + 1, sizeof *n->edata);
    n->capdeps = cap;
    n->deps[n->ndeps] = d;
    if (e)
        n->edata[n->ndeps] = *e;
    else
        memset(&n->edata[n->ndeps], 0, sizeof n->edata[0]);
    n->ndeps++;
}

/* Takes ownership of *op, also on failure. */
CUresult sim_graph_add(sim_graph_t *g, sim_node_t *const *deps, const CUgraphEdgeData *edata, size_t ndeps,
                       sim_op_t *op, sim_node_t **out)
{
    CUresult r = CUDA_SUCCESS;
    sim_node_t *n = NULL;
    if (ndeps && !deps)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "null dependency array");
    for (size_t i = 0; r == CUDA_SUCCESS && i < ndeps; i++) {
        sim_node_t *d = sim_obj_find(deps[i], SIM_K_NODE);
        if (!d || d->graph != g)
            r = sim_err(CUDA_ERROR_INVALID_VALUE, "dependency %p is not a node of this graph", (void *)deps[i]);
        for (size_t j = 0; r == CUDA_SUCCESS && j < i; j++)
            if (deps[j] == deps[i])
                r = sim_err(CUDA_ERROR_INVALID_VALUE, "duplicate dependency %p", (void *)deps[i]);
        if (r == CUDA_SUCCESS)
            r = check_edge(d, op, edata ? &edata[i] : NULL);
    }
    if (r == CUDA_SUCCESS && !(n = calloc(1, sizeof *n)))
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS) {
        sim_op_free(op);
        return r;
    }
    g->nodes = sim_grow(g->nodes, &g->cap, g->n + 1, sizeof *g->nodes);
    sim_obj_add(&n->obj, SIM_K_NODE, NULL);
    n->graph = g;
    n->index = g->n;
    n->op = *op;
    op->kind = SIM_OP_EMPTY;
    for (size_t i = 0; i < ndeps; i++)
        edge_add(n, deps[i], edata ? &edata[i] : NULL);
    g->nodes[g->n++] = n;
    *out = n;
    return CUDA_SUCCESS;
}

void sim_graph_free(sim_graph_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        sim_op_free(&g->nodes[i]->op);
        free(g->nodes[i]->deps);
        free(g->nodes[i]->edata);
        g->nodes[i]->deps = NULL;
        g->nodes[i]->edata = NULL;
        g->nodes[i]->ndeps = g->nodes[i]->capdeps = 0;
        sim_obj_kill(&g->nodes[i]->obj);
    }
    free(g->nodes);
    g->nodes = NULL;
    g->n = g->cap = 0;
    sim_obj_kill(&g->obj);
}

CUresult sim_graph_arg(CUgraph h, sim_graph_t **g)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !(*g = sim_obj_find(h, SIM_K_GRAPH)))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not a live graph", (void *)h);
    return r;
}

SIM_API(cuGraphCreate, (CUgraph *phGraph, unsigned int flags), (phGraph, flags))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!phGraph || flags)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or nonzero flags");
    sim_graph_t *g = sim_graph_new();
    if (!g)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *phGraph = (CUgraph)g;
    return CUDA_SUCCESS;
}

SIM_API(cuGraphDestroy, (CUgraph hGraph), (hGraph))
{
    sim_graph_t *g = NULL;
    CUresult r = sim_graph_arg(hGraph, &g);
    if (r == CUDA_SUCCESS)
        sim_graph_free(g);
    return r;
}

/* Adds a node for `op` (built by the caller, owned from here on). */
static CUresult add_node(CUgraphNode *ph, CUgraph hg, const CUgraphNode *deps, size_t ndeps, sim_op_t *op, CUresult r)
{
    sim_graph_t *g = NULL;
    sim_node_t *n = NULL;
    if (r == CUDA_SUCCESS)
        r = sim_graph_arg(hg, &g);
    if (r == CUDA_SUCCESS && !ph)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS && (r = sim_graph_add(g, (sim_node_t *const *)deps, NULL, ndeps, op, &n)) == CUDA_SUCCESS)
        *ph = (CUgraphNode)n;
    sim_op_free(op);
    return r;
}

/* A kernel node names its kernel by a CUfunction in `func`, or, with func
 * NULL, by a CUkernel in `kern` for context `ctx` (NULL: the current one). */
CUresult sim_kernel_op(const CUDA_KERNEL_NODE_PARAMS_v2 *p, sim_op_t *op)
{
    sim_kdef_t *k = NULL;
    sim_ctx_t *ctx = NULL;
    int max_shmem = 49152;
    CUresult r;
    memset(op, 0, sizeof *op);
    if (!p)
        return CUDA_ERROR_INVALID_VALUE;
    if (p->func) {
        if ((r = sim_func_handle(p->func, &k, &ctx)) == CUDA_SUCCESS)
            r = sim_launchable(p->func, ctx, &k, &max_shmem);
    } else if ((r = sim_kernel_handle(p->kern, &k)) == CUDA_SUCCESS)
        r = sim_ctx_arg(p->ctx, &ctx);
    if (r == CUDA_SUCCESS)
        r = sim_check_dims(p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX, p->blockDimY, p->blockDimZ);
    if (r == CUDA_SUCCESS && p->sharedMemBytes > (unsigned)max_shmem)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%u bytes of dynamic shared memory", p->sharedMemBytes);
    if (r == CUDA_SUCCESS)
        r = sim_pack_args(k, p->kernelParams, p->extra, &op->u.k.args, &op->u.k.argsz);
    if (r != CUDA_SUCCESS)
        return r;
    op->kind = SIM_OP_KERNEL;
    op->u.k.kdef = k;
    op->u.k.launch.name = k->name;
    op->u.k.launch.gridDim = (simcuda_dim3){ p->gridDimX, p->gridDimY, p->gridDimZ };
    op->u.k.launch.blockDim = (simcuda_dim3){ p->blockDimX, p->blockDimY, p->blockDimZ };
    op->u.k.launch.sharedMemBytes = p->sharedMemBytes;
    return CUDA_SUCCESS;
}

CUDA_KERNEL_NODE_PARAMS_v2 sim_kernel_params_v1(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
{
    CUDA_KERNEL_NODE_PARAMS_v2 q;
    memset(&q, 0, sizeof q);
    if (p) {
        q.func = p->func;
        q.gridDimX = p->gridDimX, q.gridDimY = p->gridDimY, q.gridDimZ = p->gridDimZ;
        q.blockDimX = p->blockDimX, q.blockDimY = p->blockDimY, q.blockDimZ = p->blockDimZ;
        q.sharedMemBytes = p->sharedMemBytes;
        q.kernelParams = p->kernelParams;
        q.extra = p->extra;
    }
    return q;
}

SIM_API(cuGraphAddKernelNode_v2, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                                  const CUDA_KERNEL_NODE_PARAMS_v2 *p),
        (ph, g, deps, n, p))
{
    sim_op_t op;
    CUresult r = sim_kernel_op(p, &op);
    return add_node(ph, g, deps, n, &op, r);
}

SIM_API(cuGraphAddKernelNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                               const CUDA_KERNEL_NODE_PARAMS_v1 *p),
        (ph, g, deps, n, p))
{
    sim_op_t op;
    CUDA_KERNEL_NODE_PARAMS_v2 q = sim_kernel_params_v1(p);
    CUresult r = p ? sim_kernel_op(&q, &op) : CUDA_ERROR_INVALID_VALUE;
    if (!p)
        op.kind = SIM_OP_EMPTY;
    return add_node(ph, g, deps, n, &op, r);
}

/* Where one side of a copy lies, host sides as unified addresses. */
CUdeviceptr sim_side_addr(const sim_copy_t *c, int dst)
{
    return dst ? (c->dst_dev ? c->dst_d : (CUdeviceptr)(uintptr_t)c->dst_h)
               : (c->src_dev ? c->src_d : (CUdeviceptr)(uintptr_t)c->src_h);
}

CUresult sim_copy_op(const CUDA_MEMCPY3D *p, CUcontext ctx, sim_op_t *op)
{
    sim_ctx_t *c = NULL;
    memset(op, 0, sizeof *op);
    CUresult r = sim_ctx_arg(ctx, &c);
    if (r == CUDA_SUCCESS)
        r = sim_copy_from_3d(p, &op->u.c.c);
    if (r == CUDA_SUCCESS) {
        op->kind = SIM_OP_COPY;
        for (int i = 0; i < 2; i++)
            op->u.c.ids[i] = sim_mem_id(sim_side_addr(&op->u.c.c, i));
    }
    return r;
}

SIM_API(cuGraphAddMemcpyNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                               const CUDA_MEMCPY3D *p, CUcontext ctx),
        (ph, g, deps, n, p, ctx))
{
    sim_op_t op;
    CUresult r = sim_copy_op(p, ctx, &op);
    return add_node(ph, g, deps, n, &op, r);
}

CUresult sim_memset_op(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx, sim_op_t *op)
{
    sim_ctx_t *c = NULL;
    memset(op, 0, sizeof *op);
    CUresult r = sim_ctx_arg(ctx, &c);
    if (r != CUDA_SUCCESS)
        return r;
    if (!p || (p->elementSize != 1 && p->elementSize != 2 && p->elementSize != 4) || !p->width || !p->height ||
        (p->height > 1 && p->pitch < p->width * p->elementSize) || p->dst % p->elementSize)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "bad memset parameters");
    size_t pitch = p->height > 1 ? p->pitch : p->width * p->elementSize;
    if (!sim_dev_host(p->dst, pitch * (p->height - 1) + p->width * p->elementSize))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "memset destination 0x%llx is not in a live allocation",
                       (unsigned long long)p->dst);
    op->kind = SIM_OP_MEMSET;
    op->u.m.dst = p->dst;
    op->u.m.pitch = pitch;
    op->u.m.width = p->width;
    op->u.m.height = p->height;
    op->u.m.value = p->value;
    op->u.m.elem = p->elementSize;
    return CUDA_SUCCESS;
}

SIM_API(cuGraphAddMemsetNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                               const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx),
        (ph, g, deps, n, p, ctx))
{
    sim_op_t op;
    CUresult r = sim_memset_op(p, ctx, &op);
    return add_node(ph, g, deps, n, &op, r);
}

SIM_API(cuGraphAddEmptyNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n), (ph, g, deps, n))
{
    sim_op_t op = { .kind = SIM_OP_EMPTY };
    return add_node(ph, g, deps, n, &op, CUDA_SUCCESS);
}

SIM_API(cuGraphAddHostNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                             const CUDA_HOST_NODE_PARAMS *p),
        (ph, g, deps, n, p))
{
    sim_op_t op = { .kind = SIM_OP_HOST };
    CUresult r = p && p->fn ? CUDA_SUCCESS : sim_err(CUDA_ERROR_INVALID_VALUE, "null host function");
    if (r == CUDA_SUCCESS) {
        op.u.h.fn = p->fn;
        op.u.h.user = p->userData;
    }
    return add_node(ph, g, deps, n, &op, r);
}

/* Event record and wait nodes name an event of the current context; the
 * record or the wait happens each time the graph runs. */
static CUresult event_op(CUevent h, enum sim_op_kind kind, sim_op_t *op)
{
    sim_event_t *e = NULL;
    sim_ctx_t *ctx = NULL;
    memset(op, 0, sizeof *op);
    CUresult r = sim_ctx_current(&ctx);
    if (r == CUDA_SUCCESS)
        r = sim_event_arg(h, &e);
    if (r == CUDA_SUCCESS && e->obj.ctx != ctx)
        r = sim_err(CUDA_ERROR_INVALID_CONTEXT, "event %p belongs to another context", (void *)h);
    if (r == CUDA_SUCCESS) {
        op->kind = kind;
        op->u.e.ev = e;
    }
    return r;
}

SIM_API(cuGraphAddEventRecordNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n, CUevent event),
        (ph, g, deps, n, event))
{
    sim_op_t op;
    CUresult r = event_op(event, SIM_OP_EVENT, &op);
    return add_node(ph, g, deps, n, &op, r);
}

SIM_API(cuGraphAddEventWaitNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n, CUevent event),
        (ph, g, deps, n, event))
{
    sim_op_t op;
    CUresult r = event_op(event, SIM_OP_WAIT, &op);
    return add_node(ph, g, deps, n, &op, r);
}

static CUresult node_of(CUgraphNode h, enum sim_op_kind kind, sim_node_t **n)
{
    CUresult r = sim_node_arg(h, n);
    if (r == CUDA_SUCCESS && (*n)->op.kind != kind)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not a node of that type", (void *)h);
    return r;
}

static CUresult event_node_get(CUgraphNode h, enum sim_op_kind kind, CUevent *out)
{
    sim_node_t *n = NULL;
    CUresult r = node_of(h, kind, &n);
    return SIM_OUT(r, out, (CUevent)n->op.u.e.ev);
}

static CUresult event_node_set(CUgraphNode h, enum sim_op_kind kind, CUevent ev)
{
    sim_node_t *n = NULL;
    sim_op_t op;
    CUresult r = node_of(h, kind, &n);
    if (r == CUDA_SUCCESS && (r = event_op(ev, kind, &op)) == CUDA_SUCCESS)
        n->op = op;
    return r;
}
SIM_API(cuGraphEventRecordNodeGetEvent, (CUgraphNode h, CUevent *e), (h, e)) { return event_node_get(h, SIM_OP_EVENT, e); }
SIM_API(cuGraphEventWaitNodeGetEvent, (CUgraphNode h, CUevent *e), (h, e)) { return event_node_get(h, SIM_OP_WAIT, e); }
SIM_API(cuGraphEventRecordNodeSetEvent, (CUgraphNode h, CUevent e), (h, e)) { return event_node_set(h, SIM_OP_EVENT, e); }
SIM_API(cuGraphEventWaitNodeSetEvent, (CUgraphNode h, CUevent e), (h, e)) { return event_node_set(h, SIM_OP_WAIT, e); }

SIM_API(cuGraphHostNodeGetParams, (CUgraphNode h, CUDA_HOST_NODE_PARAMS *p), (h, p))
{
    sim_node_t *n = NULL;
    CUresult r = node_of(h, SIM_OP_HOST, &n);
    if (r == CUDA_SUCCESS && !p)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS) {
        p->fn = n->op.u.h.fn;
        p->userData = n->op.u.h.user;
    }
    return r;
}

SIM_API(cuGraphHostNodeSetParams, (CUgraphNode h, const CUDA_HOST_NODE_PARAMS *p), (h, p))
{
    sim_node_t *n = NULL;
    CUresult r = node_of(h, SIM_OP_HOST, &n);
    if (r == CUDA_SUCCESS && (!p || !p->fn))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "null host function");
    if (r == CUDA_SUCCESS) {
        n->op.u.h.fn = p->fn;
        n->op.u.h.user = p->userData;
    }
    return r;
}

CUresult sim_node_arg(CUgraphNode h, sim_node_t **n)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !(*n = sim_obj_find(h, SIM_K_NODE)))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not a live graph node", (void *)h);
    return r;
}

SIM_API(cuGraphNodeGetType, (CUgraphNode hNode, CUgraphNodeType *type), (hNode, type))
{
    static const CUgraphNodeType types[] = {
        [SIM_OP_EMPTY] = CU_GRAPH_NODE_TYPE_EMPTY,   [SIM_OP_KERNEL] = CU_GRAPH_NODE_TYPE_KERNEL,
        [SIM_OP_COPY] = CU_GRAPH_NODE_TYPE_MEMCPY,   [SIM_OP_MEMSET] = CU_GRAPH_NODE_TYPE_MEMSET,
        [SIM_OP_HOST] = CU_GRAPH_NODE_TYPE_HOST,     [SIM_OP_EVENT] = CU_GRAPH_NODE_TYPE_EVENT_RECORD,
        [SIM_OP_FREE] = CU_GRAPH_NODE_TYPE_MEM_FREE, [SIM_OP_WAIT] = CU_GRAPH_NODE_TYPE_WAIT_EVENT,
    };
    sim_node_t *n = NULL;
    CUresult r = sim_node_arg(hNode, &n);
    return SIM_OUT(r, type, types[n->op.kind]);
}

SIM_API(cuGraphGetNodes, (CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes), (hGraph, nodes, numNodes))
{
    sim_graph_t *g = NULL;
    CUresult r = sim_graph_arg(hGraph, &g);
    if (r != CUDA_SUCCESS)
        return r;
    if (!numNodes)
        return CUDA_ERROR_INVALID_VALUE;
    if (nodes) {
        for (size_t i = 0; i < *numNodes; i++)
            nodes[i] = i < g->n ? (CUgraphNode)g->nodes[i] : NULL;
        if (*numNodes > g->n)
            *numNodes = g->n;
    } else
        *numNodes = g->n;
    return CUDA_SUCCESS;
}

/* Kernel node attributes: those cuda.h names for kernel nodes, validated
 * as launch attributes are (sim_launch.c); a failed set changes nothing. */
SIM_API(cuGraphKernelNodeSetAttribute, (CUgraphNode hNode, CUkernelNodeAttrID attr,
                                        const CUkernelNodeAttrValue *value),
        (hNode, attr, value))
{
    sim_node_t *n = NULL;
    CUresult r = node_of(hNode, SIM_OP_KERNEL, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (!value)
        return CUDA_ERROR_INVALID_VALUE;
    CUlaunchAttribute a;
    memset(&a, 0, sizeof a);
    a.id = attr;
    a.value = *value;
    sim_op_t tmp = n->op;
    if ((r = sim_apply_attrs(&tmp, &a, 1, 1, 0)) == CUDA_SUCCESS) {
        n->op.u.k.launch = tmp.u.k.launch;
        n->op.u.k.attr = tmp.u.k.attr;
    }
    return r;
}

SIM_API(cuGraphKernelNodeGetAttribute, (CUgraphNode hNode, CUkernelNodeAttrID attr,
                                        CUkernelNodeAttrValue *value_out),
        (hNode, attr, value_out))
{
    sim_node_t *n = NULL;
    CUresult r = node_of(hNode, SIM_OP_KERNEL, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (!value_out)
        return CUDA_ERROR_INVALID_VALUE;
    return sim_get_attr(&n->op, attr, value_out);
}

/* ------------------------------------------------------------------ edges */

/* Whether `to` is an ancestor of `from` (so from -> to would close a cycle). */
static int reaches(sim_node_t *from, sim_node_t *to)
{
    sim_graph_t *g = from->graph;
    size_t top = 0, cap = 0;
    sim_node_t **stack = NULL;
    char *seen = calloc(g->n, 1);
    int found = 0;
    if (!seen)
        return 1; /* refuse rather than risk a cycle */
    stack = sim_grow(stack, &cap, 1, sizeof *stack);
    stack[top++] = from;
    while (top && !found) {
        sim_node_t *x = stack[--top];
        if (x == to)
            found = 1;
        else if (!seen[x->index]++)
            for (size_t i = 0; i < x->ndeps; i++) {
                stack = sim_grow(stack, &cap, top + 1, sizeof *stack);
                stack[top++] = x->deps[i];
            }
    }
    free(stack);
    free(seen);
    return found;
}

static CUresult edge_nodes(sim_graph_t *g, CUgraphNode hf, CUgraphNode ht, sim_node_t **f, sim_node_t **t)
{
    *f = sim_obj_find(hf, SIM_K_NODE);
    *t = sim_obj_find(ht, SIM_K_NODE);
    if (!*f || !*t || (*f)->graph != g || (*t)->graph != g)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "edge %p -> %p: not two nodes of this graph", (void *)hf, (void *)ht);
    return CUDA_SUCCESS;
}

/* All or nothing: the edges added before a failing one are taken back. */
static CUresult add_edges(CUgraph hg, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *ed,
                          size_t n)
{
    sim_graph_t *g = NULL;
    CUresult r = sim_graph_arg(hg, &g);
    size_t added = 0;
    if (r == CUDA_SUCCESS && n && (!from || !to))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "null edge arrays");
    for (size_t i = 0; r == CUDA_SUCCESS && i < n; i++) {
        sim_node_t *f, *t;
        if ((r = edge_nodes(g, from[i], to[i], &f, &t)) != CUDA_SUCCESS)
            break;
        if (f == t)
            r = sim_err(CUDA_ERROR_INVALID_VALUE, "edge from a node to itself");
        for (size_t j = 0; r == CUDA_SUCCESS && j < t->ndeps; j++)
            if (t->deps[j] == f)
                r = sim_err(CUDA_ERROR_INVALID_VALUE, "edge %p -> %p already exists", (void *)f, (void *)t);
        if (r == CUDA_SUCCESS)
            r = check_edge(f, &t->op, ed ? &ed[i] : NULL);
        if (r == CUDA_SUCCESS && reaches(f, t))
            r = sim_err(CUDA_ERROR_INVALID_VALUE, "edge %p -> %p would close a cycle", (void *)f, (void *)t);
        if (r == CUDA_SUCCESS) {
            edge_add(t, f, ed ? &ed[i] : NULL);
            added++;
        }
    }
    if (r != CUDA_SUCCESS)
        while (added-- > 0)
            ((sim_node_t *)to[added])->ndeps--;
    return r;
}
SIM_API(cuGraphAddDependencies, (CUgraph g, const CUgraphNode *from, const CUgraphNode *to, size_t n), (g, from, to, n))
{
    return add_edges(g, from, to, NULL, n);
}
SIM_API(cuGraphAddDependencies_v2, (CUgraph g, const CUgraphNode *from, const CUgraphNode *to,
                                    const CUgraphEdgeData *edgeData, size_t n),
        (g, from, to, edgeData, n))
{
    return add_edges(g, from, to, edgeData, n);
}

static int edge_default(const CUgraphEdgeData *e)
{
    static const CUgraphEdgeData zero;
    return !memcmp(e, &zero, sizeof zero);
}

/* Removes edges that exist with exactly the data given (all or nothing:
 * every one is checked first). */
static CUresult remove_edges(CUgraph hg, const CUgraphNode *from, const CUgraphNode *to, const CUgraphEdgeData *ed,
                             size_t n)
{
    static const CUgraphEdgeData zero;
    sim_graph_t *g = NULL;
    CUresult r = sim_graph_arg(hg, &g);
    if (r == CUDA_SUCCESS && n && (!from || !to))
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "null edge arrays");
    for (int pass = 0; pass < 2 && r == CUDA_SUCCESS; pass++)
        for (size_t i = 0; i < n && r == CUDA_SUCCESS; i++) {
            sim_node_t *f, *t;
            if ((r = edge_nodes(g, from[i], to[i], &f, &t)) != CUDA_SUCCESS)
                break;
            const CUgraphEdgeData *want = ed ? &ed[i] : &zero;
            size_t j = 0;
            while (j < t->ndeps && (t->deps[j] != f || memcmp(&t->edata[j], want, sizeof *want)))
                j++;
            if (j == t->ndeps)
                r = sim_err(CUDA_ERROR_INVALID_VALUE, "no edge %p -> %p with that data", (void *)f, (void *)t);
            else if (pass == 1) {
                memmove(&t->deps[j], &t->deps[j + 1], (t->ndeps - j - 1) * sizeof *t->deps);
                memmove(&t->edata[j], &t->edata[j + 1], (t->ndeps - j - 1) * sizeof *t->edata);
                t->ndeps--;
            }
        }
    return r;
}
SIM_API(cuGraphRemoveDependencies, (CUgraph g, const CUgraphNode *from, const CUgraphNode *to, size_t n),
        (g, from, to, n))
{
    return remove_edges(g, from, to, NULL, n);
}
SIM_API(cuGraphRemoveDependencies_v2, (CUgraph g, const CUgraphNode *from, const CUgraphNode *to,
                                       const CUgraphEdgeData *edgeData, size_t n),
        (g, from, to, edgeData, n))
{
    return remove_edges(g, from, to, edgeData, n);
}

/* The edges of a graph, by destination node in creation order, then in the
 * order they were added. Without room for edge data, non-default data
 * makes the query lossy. */
static CUresult get_edges(CUgraph hg, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *ed, size_t *num)
{
    sim_graph_t *g = NULL;
    CUresult r = sim_graph_arg(hg, &g);
    if (r != CUDA_SUCCESS)
        return r;
    if (!num || (!from) != (!to) || (ed && !from))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "from, to and numEdges must be given together");
    size_t k = 0, room = *num;
    int lossy = 0;
    for (size_t i = 0; i < g->n; i++)
        for (size_t j = 0; j < g->nodes[i]->ndeps; j++, k++) {
            if (!from || k >= room)
                continue;
            from[k] = (CUgraphNode)g->nodes[i]->deps[j];
            to[k] = (CUgraphNode)g->nodes[i];
            if (ed)
                ed[k] = g->nodes[i]->edata[j];
            else if (!edge_default(&g->nodes[i]->edata[j]))
                lossy = 1;
        }
    if (from) {
        for (size_t i = k; i < room; i++) {
            from[i] = to[i] = NULL;
            if (ed)
                memset(&ed[i], 0, sizeof ed[i]);
        }
        *num = k < room ? k : room;
    } else
        *num = k;
    return lossy ? sim_err(CUDA_ERROR_LOSSY_QUERY, "edges with data, no room for it") : CUDA_SUCCESS;
}
SIM_API(cuGraphGetEdges, (CUgraph g, CUgraphNode *from, CUgraphNode *to, size_t *n), (g, from, to, n))
{
    return get_edges(g, from, to, NULL, n);
}
SIM_API(cuGraphGetEdges_v2, (CUgraph g, CUgraphNode *from, CUgraphNode *to, CUgraphEdgeData *ed, size_t *n),
        (g, from, to, ed, n))
{
    return get_edges(g, from, to, ed, n);
}

/* A node's dependencies (out 0) or dependent nodes (out 1). */
static CUresult node_edges(CUgraphNode h, int out, CUgraphNode *nodes, CUgraphEdgeData *ed, size_t *num)
{
    sim_node_t *n = NULL;
    CUresult r = sim_node_arg(h, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (!num || (ed && !nodes))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null count, or edge data without nodes");
    size_t k = 0, room = *num;
    int lossy = 0;
    sim_graph_t *g = n->graph;
    for (size_t i = 0; i < (out ? g->n : 1); i++) {
        sim_node_t *x = out ? g->nodes[i] : n;
        for (size_t j = 0; j < x->ndeps; j++) {
            if (out && x->deps[j] != n)
                continue;
            if (nodes && k < room) {
                nodes[k] = (CUgraphNode)(out ? x : x->deps[j]);
                if (ed)
                    ed[k] = x->edata[j];
                else if (!edge_default(&x->edata[j]))
                    lossy = 1;
            }
            k++;
        }
    }
    if (nodes) {
        for (size_t i = k; i < room; i++) {
            nodes[i] = NULL;
            if (ed)
                memset(&ed[i], 0, sizeof ed[i]);
        }
        *num = k < room ? k : room;
    } else
        *num = k;
    return lossy ? sim_err(CUDA_ERROR_LOSSY_QUERY, "edges with data, no room for it") : CUDA_SUCCESS;
}
SIM_API(cuGraphNodeGetDependencies, (CUgraphNode h, CUgraphNode *d, size_t *n), (h, d, n))
{
    return node_edges(h, 0, d, NULL, n);
}
SIM_API(cuGraphNodeGetDependencies_v2, (CUgraphNode h, CUgraphNode *d, CUgraphEdgeData *ed, size_t *n),
        (h, d, ed, n))
{
    return node_edges(h, 0, d, ed, n);
}
SIM_API(cuGraphNodeGetDependentNodes, (CUgraphNode h, CUgraphNode *d, size_t *n), (h, d, n))
{
    return node_edges(h, 1, d, NULL, n);
}
SIM_API(cuGraphNodeGetDependentNodes_v2, (CUgraphNode h, CUgraphNode *d, CUgraphEdgeData *ed, size_t *n),
        (h, d, ed, n))
{
    return node_edges(h, 1, d, ed, n);
}

const sim_proc_t sim_graph_procs[] = {
    SIM_PROC(cuGraphCreate, 10000),
    SIM_PROC(cuGraphDestroy, 10000),
    SIM_PROC(cuGraphAddKernelNode, 10000),
    SIM_PROC(cuGraphAddKernelNode_v2, 12000),
    SIM_PROC(cuGraphAddMemcpyNode, 10000),
    SIM_PROC(cuGraphAddMemsetNode, 10000),
    SIM_PROC(cuGraphAddEmptyNode, 10000),
    SIM_PROC(cuGraphAddHostNode, 10000),
    SIM_PROC(cuGraphAddEventRecordNode, 11010),
    SIM_PROC(cuGraphAddEventWaitNode, 11010),
    SIM_PROC(cuGraphEventRecordNodeGetEvent, 11010),
    SIM_PROC(cuGraphEventRecordNodeSetEvent, 11010),
    SIM_PROC(cuGraphEventWaitNodeGetEvent, 11010),
    SIM_PROC(cuGraphEventWaitNodeSetEvent, 11010),
    SIM_PROC(cuGraphHostNodeGetParams, 10000),
    SIM_PROC(cuGraphHostNodeSetParams, 10000),
    SIM_PROC(cuGraphNodeGetType, 10000),
    SIM_PROC(cuGraphGetNodes, 10000),
    SIM_PROC(cuGraphKernelNodeSetAttribute, 11000),
    SIM_PROC(cuGraphKernelNodeGetAttribute, 11000),
    SIM_PROC(cuGraphAddDependencies, 10000),
    SIM_PROC(cuGraphAddDependencies_v2, 12030),
    SIM_PROC(cuGraphRemoveDependencies, 10000),
    SIM_PROC(cuGraphRemoveDependencies_v2, 12030),
    SIM_PROC(cuGraphGetEdges, 10000),
    SIM_PROC(cuGraphGetEdges_v2, 12030),
    SIM_PROC(cuGraphNodeGetDependencies, 10000),
    SIM_PROC(cuGraphNodeGetDependencies_v2, 12030),
    SIM_PROC(cuGraphNodeGetDependentNodes, 10000),
    SIM_PROC(cuGraphNodeGetDependentNodes_v2, 12030),
};
const size_t sim_graph_nprocs = sizeof sim_graph_procs / sizeof sim_graph_procs[0];
