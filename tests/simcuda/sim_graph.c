/* sim_graph.c: graphs in simcuda: graphs built node by node,
 * instantiation, launch, and the exec-update calls.
 *
 * A node holds one sim_op_t, the same unit of work the stream queue runs;
 * its arguments are copied when the node is added. Nodes may only depend on
 * nodes that already exist, so the order of creation is a topological order
 * and an executable graph simply runs its nodes in that order, enqueued on
 * the launch stream as if launched there (same queue, same trace). An
 * executable graph owns copies of its nodes' operations, indexed like the
 * graph's nodes, so cuGraphExec*SetParams finds a node in O(1) and changes
 * only what later launches see.
 *
 * Stream capture, which builds graphs out of stream work, lives in
 * sim_capture.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

typedef struct sim_exec {
    sim_obj_t obj;
    unsigned long long graph_id;
    size_t n;
    sim_op_t *ops; /* by node index */
} sim_exec_t;

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

/* Takes ownership of *op, also on failure. */
CUresult sim_graph_add(sim_graph_t *g, sim_node_t *const *deps, size_t ndeps, sim_op_t *op, sim_node_t **out)
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
    }
    if (r == CUDA_SUCCESS && g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 16;
        sim_node_t **a = realloc(g->nodes, nc * sizeof *a);
        if (!a)
            r = CUDA_ERROR_OUT_OF_MEMORY;
        else {
            g->nodes = a;
            g->cap = nc;
        }
    }
    if (r == CUDA_SUCCESS && (!(n = calloc(1, sizeof *n)) || (ndeps && !(n->deps = malloc(ndeps * sizeof *deps))))) {
        free(n);
        r = CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (r != CUDA_SUCCESS) {
        sim_op_free(op);
        return r;
    }
    sim_obj_add(&n->obj, SIM_K_NODE, NULL);
    n->graph = g;
    n->index = g->n;
    n->op = *op;
    op->kind = SIM_OP_EMPTY;
    if (ndeps)
        memcpy(n->deps, deps, ndeps * sizeof *deps);
    n->ndeps = ndeps;
    g->nodes[g->n++] = n;
    *out = n;
    return CUDA_SUCCESS;
}

void sim_graph_free(sim_graph_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        sim_op_free(&g->nodes[i]->op);
        free(g->nodes[i]->deps);
        g->nodes[i]->deps = NULL;
        sim_obj_kill(&g->nodes[i]->obj);
    }
    free(g->nodes);
    g->nodes = NULL;
    g->n = g->cap = 0;
    sim_obj_kill(&g->obj);
}

static void exec_free(sim_exec_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        sim_op_free(&e->ops[i]);
    free(e->ops);
    e->ops = NULL;
    e->n = 0;
}

void sim_graph_released(sim_obj_t *o)
{
    if (o->kind == SIM_K_EXEC)
        exec_free((sim_exec_t *)o);
}

static CUresult graph_arg(CUgraph h, sim_graph_t **g)
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
    CUresult r = graph_arg(hGraph, &g);
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
        r = graph_arg(hg, &g);
    if (r == CUDA_SUCCESS && !ph)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS && (r = sim_graph_add(g, (sim_node_t *const *)deps, ndeps, op, &n)) == CUDA_SUCCESS)
        *ph = (CUgraphNode)n;
    sim_op_free(op);
    return r;
}

/* A kernel node names its kernel by a CUfunction in `func`, or, with func
 * NULL, by a CUkernel in `kern` for context `ctx` (NULL: the current one). */
static CUresult kernel_op(const CUDA_KERNEL_NODE_PARAMS_v2 *p, sim_op_t *op)
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

static CUDA_KERNEL_NODE_PARAMS_v2 from_v1(const CUDA_KERNEL_NODE_PARAMS_v1 *p)
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
    CUresult r = kernel_op(p, &op);
    return add_node(ph, g, deps, n, &op, r);
}

SIM_API(cuGraphAddKernelNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                               const CUDA_KERNEL_NODE_PARAMS_v1 *p),
        (ph, g, deps, n, p))
{
    sim_op_t op;
    CUDA_KERNEL_NODE_PARAMS_v2 q = from_v1(p);
    CUresult r = p ? kernel_op(&q, &op) : CUDA_ERROR_INVALID_VALUE;
    if (!p)
        op.kind = SIM_OP_EMPTY;
    return add_node(ph, g, deps, n, &op, r);
}

/* Where one side of a copy lies, host sides as unified addresses. */
static CUdeviceptr side_addr(const sim_copy_t *c, int dst)
{
    return dst ? (c->dst_dev ? c->dst_d : (CUdeviceptr)(uintptr_t)c->dst_h)
               : (c->src_dev ? c->src_d : (CUdeviceptr)(uintptr_t)c->src_h);
}

static CUresult copy_op(const CUDA_MEMCPY3D *p, CUcontext ctx, sim_op_t *op)
{
    sim_ctx_t *c = NULL;
    memset(op, 0, sizeof *op);
    CUresult r = sim_ctx_arg(ctx, &c);
    if (r == CUDA_SUCCESS)
        r = sim_copy_from_3d(p, &op->u.c.c);
    if (r == CUDA_SUCCESS) {
        op->kind = SIM_OP_COPY;
        for (int i = 0; i < 2; i++)
            op->u.c.ids[i] = sim_mem_id(side_addr(&op->u.c.c, i));
    }
    return r;
}

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
        if (op->u.c.ids[i] != 0 && sim_mem_id(side_addr(c, i)) != op->u.c.ids[i]) {
            fprintf(stderr, "simcuda: cuGraphLaunch: node %zu, a memcpy with a host side: its %s "
                            "0x%llx was freed since the node was set; the real driver crashes here\n",
                    node, side[i], (unsigned long long)side_addr(c, i));
            abort();
        }
}

SIM_API(cuGraphAddMemcpyNode, (CUgraphNode *ph, CUgraph g, const CUgraphNode *deps, size_t n,
                               const CUDA_MEMCPY3D *p, CUcontext ctx),
        (ph, g, deps, n, p, ctx))
{
    sim_op_t op;
    CUresult r = copy_op(p, ctx, &op);
    return add_node(ph, g, deps, n, &op, r);
}

static CUresult memset_op(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx, sim_op_t *op)
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
    CUresult r = memset_op(p, ctx, &op);
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

static CUresult node_arg(CUgraphNode h, sim_node_t **n)
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
        [SIM_OP_FREE] = CU_GRAPH_NODE_TYPE_MEM_FREE,
    };
    sim_node_t *n = NULL;
    CUresult r = node_arg(hNode, &n);
    return SIM_OUT(r, type, types[n->op.kind]);
}

SIM_API(cuGraphGetNodes, (CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes), (hGraph, nodes, numNodes))
{
    sim_graph_t *g = NULL;
    CUresult r = graph_arg(hGraph, &g);
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

static CUresult kernel_node(CUgraphNode h, sim_node_t **n)
{
    CUresult r = node_arg(h, n);
    if (r == CUDA_SUCCESS && (*n)->op.kind != SIM_OP_KERNEL)
        r = sim_err(CUDA_ERROR_INVALID_VALUE, "%p is not a kernel node", (void *)h);
    return r;
}

SIM_API(cuGraphKernelNodeSetAttribute, (CUgraphNode hNode, CUkernelNodeAttrID attr,
                                        const CUkernelNodeAttrValue *value),
        (hNode, attr, value))
{
    sim_node_t *n = NULL;
    CUresult r = kernel_node(hNode, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (!value)
        return CUDA_ERROR_INVALID_VALUE;
    CUlaunchAttribute a = { .id = attr, .value = *value };
    return sim_apply_attrs(&n->op.u.k.launch, &a, 1);
}

SIM_API(cuGraphKernelNodeGetAttribute, (CUgraphNode hNode, CUkernelNodeAttrID attr,
                                        CUkernelNodeAttrValue *value_out),
        (hNode, attr, value_out))
{
    sim_node_t *n = NULL;
    CUresult r = kernel_node(hNode, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (!value_out)
        return CUDA_ERROR_INVALID_VALUE;
    const simcuda_launch_t *L = &n->op.u.k.launch;
    memset(value_out, 0, sizeof *value_out);
    if (attr == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
        value_out->clusterDim.x = L->clusterDim.x ? L->clusterDim.x : 1;
        value_out->clusterDim.y = L->clusterDim.y ? L->clusterDim.y : 1;
        value_out->clusterDim.z = L->clusterDim.z ? L->clusterDim.z : 1;
    } else if (attr == CU_LAUNCH_ATTRIBUTE_PRIORITY)
        value_out->priority = L->priority;
    else if (attr == CU_LAUNCH_ATTRIBUTE_COOPERATIVE)
        value_out->cooperative = L->cooperative;
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------- executables */

static CUresult instantiate(CUgraphExec *ph, CUgraph hGraph, unsigned long long flags)
{
    sim_graph_t *g = NULL;
    sim_ctx_t *ctx = NULL;
    CUresult r = graph_arg(hGraph, &g);
    if (r == CUDA_SUCCESS)
        r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ph || (flags & ~(unsigned long long)(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH |
                                               CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY)))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or unsupported flags 0x%llx", flags);
    sim_exec_t *e = calloc(1, sizeof *e);
    if (!e || (g->n && !(e->ops = calloc(g->n, sizeof *e->ops)))) {
        free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < g->n; i++, e->n++)
        if (sim_op_clone(&e->ops[i], &g->nodes[i]->op)) {
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

/* Each node runs as if launched on the stream, in creation order. */
static CUresult graph_launch(CUgraphExec h, CUstream hs, int ptsz)
{
    sim_exec_t *e = NULL;
    sim_stream_t *s = NULL;
    CUresult r = exec_stream(h, hs, ptsz, &e, &s);
    if (r == CUDA_SUCCESS && sim_capture_invalid(s))
        r = sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "capture invalidated");
    for (size_t i = 0; r == CUDA_SUCCESS && i < e->n; i++) {
        sim_op_t op;
        if (e->ops[i].kind == SIM_OP_EMPTY)
            continue;
        check_operands(&e->ops[i], i);
        if (sim_op_clone(&op, &e->ops[i]))
            return CUDA_ERROR_OUT_OF_MEMORY;
        r = sim_submit(s, &op, 1);
    }
    return r;
}
SIM_TWINS(cuGraphLaunch, _ptsz, (CUgraphExec hGraphExec, CUstream hStream), (hGraphExec, hStream),
          graph_launch(hGraphExec, hStream, pt_))

/* The exec's copy of the operation of node `h`, which must be of `kind`. */
static CUresult exec_node(CUgraphExec he, CUgraphNode h, enum sim_op_kind kind, sim_op_t **op)
{
    sim_exec_t *e = NULL;
    sim_node_t *n = NULL;
    CUresult r = exec_arg(he, &e);
    if (r == CUDA_SUCCESS)
        r = node_arg(h, &n);
    if (r != CUDA_SUCCESS)
        return r;
    if (n->graph->id != e->graph_id || n->index >= e->n)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "node %p is not part of this executable graph", (void *)h);
    if (e->ops[n->index].kind != kind)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "node %p is of another type", (void *)h);
    *op = &e->ops[n->index];
    return CUDA_SUCCESS;
}

/* The function must stay the same; grid, block, shared memory and
 * arguments may change. Arguments are copied now. */
static CUresult exec_kernel_set(CUgraphExec he, CUgraphNode h, const CUDA_KERNEL_NODE_PARAMS_v2 *p)
{
    sim_op_t *old, op;
    CUresult r = exec_node(he, h, SIM_OP_KERNEL, &old);
    if (r == CUDA_SUCCESS)
        r = kernel_op(p, &op);
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
    CUDA_KERNEL_NODE_PARAMS_v2 q = from_v1(nodeParams);
    return nodeParams ? exec_kernel_set(hGraphExec, hNode, &q) : CUDA_ERROR_INVALID_VALUE;
}

SIM_API(cuGraphExecMemcpyNodeSetParams, (CUgraphExec hGraphExec, CUgraphNode hNode,
                                         const CUDA_MEMCPY3D *copyParams, CUcontext ctx),
        (hGraphExec, hNode, copyParams, ctx))
{
    sim_op_t *old, op;
    CUresult r = exec_node(hGraphExec, hNode, SIM_OP_COPY, &old);
    if (r == CUDA_SUCCESS)
        r = copy_op(copyParams, ctx, &op);
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
        r = memset_op(memsetParams, ctx, &op);
    if (r == CUDA_SUCCESS)
        *old = op;
    return r;
}

/* Accepts a graph of the same shape (node types, kernels, dependencies by
 * position) and takes over its parameters. */
SIM_API(cuGraphExecUpdate_v2, (CUgraphExec hGraphExec, CUgraph hGraph, CUgraphExecUpdateResultInfo *info),
        (hGraphExec, hGraph, info))
{
    sim_exec_t *e = NULL;
    sim_graph_t *g = NULL;
    CUresult r = exec_arg(hGraphExec, &e);
    if (r == CUDA_SUCCESS)
        r = graph_arg(hGraph, &g);
    if (r != CUDA_SUCCESS)
        return r;
    if (!info)
        return CUDA_ERROR_INVALID_VALUE;
    memset(info, 0, sizeof *info);
    CUgraphExecUpdateResult res = g->n != e->n ? CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED
                                               : CU_GRAPH_EXEC_UPDATE_SUCCESS;
    for (size_t i = 0; res == CU_GRAPH_EXEC_UPDATE_SUCCESS && i < g->n; i++) {
        const sim_op_t *a = &g->nodes[i]->op, *b = &e->ops[i];
        if (a->kind != b->kind)
            res = CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED;
        else if (a->kind == SIM_OP_KERNEL && a->u.k.kdef != b->u.k.kdef)
            res = CU_GRAPH_EXEC_UPDATE_ERROR_FUNCTION_CHANGED;
        for (size_t d = 0; res == CU_GRAPH_EXEC_UPDATE_SUCCESS && d < g->nodes[i]->ndeps; d++)
            if (g->nodes[i]->deps[d]->index >= i)
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
        sim_op_free(&e->ops[i]);
        e->ops[i] = op;
    }
    return CUDA_SUCCESS;
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
    SIM_PROC(cuGraphNodeGetType, 10000),
    SIM_PROC(cuGraphGetNodes, 10000),
    SIM_PROC(cuGraphKernelNodeSetAttribute, 11000),
    SIM_PROC(cuGraphKernelNodeGetAttribute, 11000),
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
    SIM_PROC(cuGraphExecUpdate_v2, 12000),
};
const size_t sim_graph_nprocs = sizeof sim_graph_procs / sizeof sim_graph_procs[0];
