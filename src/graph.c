/* graph.c: graphs built from records (patched and launched in
 * graph_launch.c).
 *
 * A template's graph is the DAG of its step (dag.c): kernel, memcpy, memset,
 * event record, event wait and host nodes added one by one
 * (cuGraphAddKernelNode, not stream capture, which would put the program's
 * stream into capture mode behind its back), joined by full edges and, for
 * programmatic dependent launches, programmatic edges
 * (cuGraphAddDependencies_v2), instantiated once and uploaded once. CUkernel
 * handles (what the CUDA runtime passes as CUfunction) go in the `kern`
 * field with func and ctx NULL: the driver rejects them in `func`. Launch
 * attributes of cuLaunchKernelEx that kernel nodes take become node
 * attributes (attrs.c decides which).
 *
 * Each node remembers what the executable graph holds (grid, argument bytes,
 * addresses, sizes, events, host functions), so that a replay can patch
 * only the nodes whose values differ (graph_launch.c). Host-to-device nodes
 * read from page-locked staging that the template owns.
 */
#include "config.h"
#include "eng.h"

#include <stdlib.h>
#include <string.h>

bool gs_graph_available(void)
{
    static const gs_fn_id_t need[] = {
        GS_ID_cuGraphCreate, GS_ID_cuGraphAddKernelNode_v2, GS_ID_cuGraphAddMemcpyNode,
        GS_ID_cuGraphAddMemsetNode, GS_ID_cuGraphKernelNodeSetAttribute,
        GS_ID_cuGraphInstantiateWithFlags, GS_ID_cuGraphExecKernelNodeSetParams_v2,
        GS_ID_cuGraphExecMemcpyNodeSetParams, GS_ID_cuGraphExecMemsetNodeSetParams,
        GS_ID_cuGraphLaunch, GS_ID_cuGraphUpload, GS_ID_cuGraphExecDestroy,
        GS_ID_cuGraphDestroy, GS_ID_cuMemHostAlloc, GS_ID_cuMemFreeHost,
        GS_ID_cuEventCreate, GS_ID_cuEventRecord, GS_ID_cuEventQuery,
        GS_ID_cuEventDestroy_v2, GS_ID_cuCtxGetCurrent, GS_ID_cuPointerGetAttribute,
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (gs_real_fn[need[i]] == NULL) {
            GS_WARN("the driver lacks %s: replay is off, calls are forwarded",
                    gs_fn_names[need[i]]);
            return false;
        }
    return true;
}

bool gs_graph_has_event_nodes(void)
{
    static const gs_fn_id_t need[] = {
        GS_ID_cuGraphAddEventRecordNode, GS_ID_cuGraphAddEventWaitNode,
        GS_ID_cuGraphAddHostNode, GS_ID_cuGraphExecEventRecordNodeSetEvent,
        GS_ID_cuGraphExecEventWaitNodeSetEvent, GS_ID_cuGraphExecHostNodeSetParams,
        GS_ID_cuGraphAddEmptyNode, GS_ID_cuStreamWaitEvent, GS_ID_cuEventRecord,
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (gs_real_fn[need[i]] == NULL)
            return false;
    return true;
}

void gs_kernel_params(CUDA_KERNEL_NODE_PARAMS_v2 *p, const gs_func_t *fn,
                      const unsigned grid[3], const unsigned block[3], unsigned shmem,
                      void **kp)
{
    memset(p, 0, sizeof *p);
    if (fn->is_kernel)
        p->kern = (CUkernel)fn->key;
    else
        p->func = (CUfunction)fn->key;
    p->gridDimX = grid[0];
    p->gridDimY = grid[1];
    p->gridDimZ = grid[2];
    p->blockDimX = block[0];
    p->blockDimY = block[1];
    p->blockDimZ = block[2];
    p->sharedMemBytes = shmem;
    p->kernelParams = kp;
}

void gs_copy_params(CUDA_MEMCPY3D *c, const gs_node_t *nd)
{
    memset(c, 0, sizeof *c);
    switch ((gs_opkind_t)nd->kind) {
    case GS_OP_HTOD:
        c->srcMemoryType = CU_MEMORYTYPE_HOST;
        c->srcHost = nd->staging;
        c->dstMemoryType = CU_MEMORYTYPE_DEVICE;
        c->dstDevice = nd->dst;
        break;
    case GS_OP_DTOH:
        c->srcMemoryType = CU_MEMORYTYPE_DEVICE;
        c->srcDevice = nd->src;
        c->dstMemoryType = CU_MEMORYTYPE_HOST;
        c->dstHost = nd->hdst;
        break;
    default:
        c->srcMemoryType = CU_MEMORYTYPE_DEVICE;
        c->srcDevice = nd->src;
        c->dstMemoryType = CU_MEMORYTYPE_DEVICE;
        c->dstDevice = nd->dst;
        break;
    }
    c->WidthInBytes = nd->n;
    c->Height = 1;
    c->Depth = 1;
}

void gs_memset_params(CUDA_MEMSET_NODE_PARAMS *m, const gs_node_t *nd, unsigned elsize)
{
    memset(m, 0, sizeof *m);
    m->dst = nd->dst;
    m->value = nd->value;
    m->elementSize = elsize;
    m->width = nd->n;
    m->height = 1;
}

/* The staging of all host-to-device nodes of a template is one page-locked
 * block, owned by the first such node (the others point into it). */
static void *staging_block(const gs_template_t *t)
{
    for (unsigned i = 0; i < t->len; i++)
        if (t->nodes[i].kind == GS_OP_HTOD)
            return t->nodes[i].staging;
    return NULL;
}

void gs_graph_destroy(gs_template_t *t)
{
    for (unsigned c = 0; t->chunks != NULL && c < t->nchunks; c++) {
        if (t->chunks[c].exec != NULL) /* deferred by the driver if in flight */
            GS_CALL(cuGraphExecDestroy, t->chunks[c].exec);
        if (t->chunks[c].graph != NULL)
            GS_CALL(cuGraphDestroy, t->chunks[c].graph);
    }
    /* The program's events its exec nodes named may now be destroyed; host
     * runs are freed (later, if callbacks are pending). Both exist only once
     * the chunks do. */
    for (unsigned i = 0; t->chunks != NULL && i < t->len; i++) {
        gs_node_t *nd = &t->nodes[i];
        if ((nd->kind == GS_OP_EVREC || nd->kind == GS_OP_EVWAIT) && nd->ev != NULL &&
            nd->ev != t->ph)
            gs_event_unref(nd->ev);
        if (nd->kind == GS_OP_EVREC || nd->kind == GS_OP_EVWAIT)
            nd->ev = NULL;
        gs_hostrun_free(nd->run);
        nd->run = NULL;
    }
    for (unsigned c = 0; t->chunks != NULL && c < t->nchunks; c++) {
        gs_hostrun_free(t->chunks[c].after);
        t->chunks[c].after = NULL;
    }
    if (t->ph != NULL)
        GS_CALL(cuEventDestroy_v2, t->ph);
    t->ph = NULL;
    if (t->aev != NULL)
        GS_CALL(cuEventDestroy_v2, t->aev);
    t->aev = NULL;
    t->real_slots = 0;
    if (t->chunks != NULL)
        gs_mem_account(-(long long)(t->nchunks * sizeof *t->chunks), 0);
    free(t->chunks);
    t->chunks = NULL;
    t->nchunks = 0;
    void *block = staging_block(t);
    if (block != NULL) {
        /* Staging may still be read by the last replay: wait for it (only
         * on eviction, which is rare) rather than free it under the GPU. */
        if (t->done != NULL && t->launched_with_staging)
            while (GS_CALL(cuEventQuery, t->done) == CUDA_ERROR_NOT_READY)
                ;
        GS_CALL(cuMemFreeHost, block);
        gs_mem_account(0, -(long long)t->staging_bytes);
        t->staging_bytes = 0;
    }
    if (t->done != NULL)
        GS_CALL(cuEventDestroy_v2, t->done);
    t->done = NULL;
}

/* Sets the launch attributes of a kernel record that kernel nodes take. */
static CUresult set_attrs(const gs_rec_t *rec, const uint8_t *arena, CUgraphNode node)
{
    const CUlaunchAttribute *a = rec->nattrs ? gs_rec_attrs(rec, arena) : NULL;
    for (unsigned j = 0; j < rec->nattrs; j++) {
        if (gs_attr_policy(a[j].id) != GS_ATTR_NODE)
            continue;
        CUresult r = GS_CALL(cuGraphKernelNodeSetAttribute, node,
                             (CUkernelNodeAttrID)a[j].id, &a[j].value);
        if (r != CUDA_SUCCESS)
            return r;
    }
    return CUDA_SUCCESS;
}

/* Adds record `rec` as node i of graph g, depending on deps[0..ndeps) by full
 * edges. Host-to-device nodes take their staging from *staging. */
static CUresult add_node(gs_template_t *t, CUgraph g, const gs_rec_t *rec, unsigned i,
                         const CUgraphNode *deps, size_t ndeps, const uint8_t *arena,
                         uint8_t **staging, const char **what)
{
    CUresult r;
    gs_node_t *nd = &t->nodes[i];
    if (ndeps == 0)
        deps = NULL;
    switch ((gs_opkind_t)rec->kind) {
    case GS_OP_KERNEL: {
        void *kp[GS_MAX_PARAMS];
        CUDA_KERNEL_NODE_PARAMS_v2 p;
        const gs_func_t *fn = rec->u.k.fn;
        gs_param_ptrs(fn, t->arena + nd->data, kp);
        gs_kernel_params(&p, fn, rec->u.k.grid, rec->u.k.block, rec->u.k.shmem, kp);
        *what = "cuGraphAddKernelNode";
        if ((r = GS_CALL(cuGraphAddKernelNode_v2, &nd->node, g, deps, ndeps, &p)) !=
            CUDA_SUCCESS)
            return r;
        *what = "cuGraphKernelNodeSetAttribute";
        if ((r = set_attrs(rec, arena, nd->node)) != CUDA_SUCCESS)
            return r;
        memcpy(nd->grid, rec->u.k.grid, sizeof nd->grid);
        return CUDA_SUCCESS;
    }
    case GS_OP_HTOD:
    case GS_OP_DTOH:
    case GS_OP_DTOD: {
        CUDA_MEMCPY3D c;
        nd->dst = rec->u.c.dst;
        nd->src = rec->u.c.src;
        nd->hdst = rec->u.c.hdst;
        nd->n = rec->u.c.n;
        if (rec->kind == GS_OP_HTOD) {
            nd->staging = *staging;
            *staging += (rec->u.c.n + 63) & ~(size_t)63;
            memcpy(nd->staging, t->arena + nd->data, rec->u.c.n);
        }
        gs_copy_params(&c, nd);
        *what = "cuGraphAddMemcpyNode";
        return GS_CALL(cuGraphAddMemcpyNode, &nd->node, g, deps, ndeps, &c, t->ctx);
    }
    case GS_OP_MEMSET: {
        CUDA_MEMSET_NODE_PARAMS m;
        nd->dst = rec->u.m.dst;
        nd->value = rec->u.m.value;
        nd->n = rec->u.m.n;
        gs_memset_params(&m, nd, rec->u.m.elsize);
        *what = "cuGraphAddMemsetNode";
        return GS_CALL(cuGraphAddMemsetNode, &nd->node, g, deps, ndeps, &m, t->ctx);
    }
    /* Event nodes are built with the shim's own event and patched to the
     * program's at every launch where it differs: a graph never names an
     * event the program may destroy (evlife.c). */
    case GS_OP_EVREC:
        nd->ev = t->ph;
        *what = "cuGraphAddEventRecordNode";
        return GS_CALL(cuGraphAddEventRecordNode, &nd->node, g, deps, ndeps, nd->ev);
    case GS_OP_EVWAIT:
        nd->ev = t->ph;
        *what = "cuGraphAddEventWaitNode";
        return GS_CALL(cuGraphAddEventWaitNode, &nd->node, g, deps, ndeps, nd->ev);
    case GS_OP_HOST: {
        CUDA_HOST_NODE_PARAMS h = {rec->u.h.fn, rec->u.h.data};
        if (nd->run != NULL) /* each launch points it at a slot filled for it */
            h = (CUDA_HOST_NODE_PARAMS){gs_hostrun_call, NULL};
        nd->fn = h.fn;
        nd->fdata = h.userData;
        *what = "cuGraphAddHostNode";
        return GS_CALL(cuGraphAddHostNode, &nd->node, g, deps, ndeps, &h);
    }
    }
    return CUDA_ERROR_INVALID_VALUE;
}

unsigned gs_test_drop_edge;
static unsigned build_edges; /* edges of the graph being built, counted */

/* Whether the driver refused a programmatic edge once: from then on they
 * are full edges (correct; only the overlap is lost). */
static bool programmatic_refused;

/* Adds the programmatic edges into node i (its full edges were given when
 * it was made). */
static CUresult add_programmatic(gs_template_t *t, CUgraph g, unsigned i,
                                 const CUgraphNode *from, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        CUgraphEdgeData ed;
        memset(&ed, 0, sizeof ed);
        ed.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
        ed.from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
        CUresult r = CUDA_ERROR_NOT_SUPPORTED;
        if (!programmatic_refused)
            r = GS_CALL(cuGraphAddDependencies_v2, g, &from[k], &t->nodes[i].node, &ed, 1);
        if (r == CUDA_SUCCESS) {
            t->edges[1]++;
            continue;
        }
        if (!programmatic_refused)
            GS_LOG_ONCE(GS_LOG_WARN, "the driver refused a programmatic edge (CUresult %d); "
                        "programmatic dependent launches are graphed with full edges",
                        (int)r);
        programmatic_refused = true;
        memset(&ed, 0, sizeof ed);
        if ((r = GS_CALL(cuGraphAddDependencies_v2, g, &from[k], &t->nodes[i].node, &ed, 1)) !=
            CUDA_SUCCESS)
            return r;
        t->edges[0]++;
    }
    return CUDA_SUCCESS;
}

/* Builds, instantiates and uploads the graph of one chunk: the records in
 * it, the edges between them (earlier chunks are ordered before it by being
 * launched before it on the same stream). */
static CUresult build_chunk(gs_template_t *t, gs_chunk_t *ch, const gs_rec_t *recs,
                            const gs_dag_t *dag, const uint8_t *arena, uint8_t **staging,
                            CUstream s, const char **what)
{
    CUresult r;
    unsigned real = 0;
    *what = "cuGraphCreate";
    if ((r = GS_CALL(cuGraphCreate, &ch->graph, 0)) != CUDA_SUCCESS)
        return r;
    for (unsigned i = ch->first; i < ch->first + ch->count; i++) {
        CUgraphNode full[64], prog[64];
        size_t nfull = 0, nprog = 0;
        if (dag->virt[i])
            continue;
        for (uint32_t e = dag->start[i]; e < dag->start[i + 1]; e++) {
            const gs_edge_t *ed = &dag->edges[e];
            if (ed->from < ch->first || t->nodes[ed->from].node == NULL)
                continue; /* earlier chunk: ordered by the launches */
            if (++build_edges == gs_test_drop_edge)
                continue; /* tests only: prove a missing edge is caught */
            bool p = ed->type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC &&
                     gs_real_fn[GS_ID_cuGraphAddDependencies_v2] != NULL &&
                     !programmatic_refused;
            if (p && nprog < 64)
                prog[nprog++] = t->nodes[ed->from].node;
            else if (nfull < 64)
                full[nfull++] = t->nodes[ed->from].node;
            else {
                *what = "the DAG builder (more than 64 edges into a node)";
                return CUDA_ERROR_NOT_SUPPORTED;
            }
        }
        if ((r = add_node(t, ch->graph, &recs[i], i, full, nfull, arena, staging, what)) !=
            CUDA_SUCCESS)
            return r;
        t->edges[0] += (unsigned)nfull;
        *what = "cuGraphAddDependencies_v2";
        if ((r = add_programmatic(t, ch->graph, i, prog, nprog)) != CUDA_SUCCESS)
            return r;
        real++;
    }
    if (real == 0) {
        /* Only waits on the step's own events: an empty graph keeps the
         * chunk's place in the launches. */
        CUgraphNode empty;
        *what = "cuGraphAddEmptyNode";
        if ((r = GS_CALL(cuGraphAddEmptyNode, &empty, ch->graph, NULL, 0)) != CUDA_SUCCESS)
            return r;
    }
    *what = "cuGraphInstantiateWithFlags";
    if ((r = GS_CALL(cuGraphInstantiateWithFlags, &ch->exec, ch->graph, 0)) != CUDA_SUCCESS)
        return r;
    *what = "cuGraphUpload";
    return GS_CALL(cuGraphUpload, ch->exec, s);
}

/* How a template of len nodes is cut: the first chunk has
 * GRAPHSHIM_CHUNK_FIRST nodes (the GPU starts on a step as soon as they are
 * in), each next one twice the one before, up to GRAPHSHIM_CHUNK_OPS (0:
 * one graph a step). A template of at most four first chunks (32 nodes by
 * default) that fits one chunk is one: its ops are held for a few
 * microseconds at most, and every launch costs its own (JAX's steps are
 * pieces of 18 to 29 ops: in one process on an H200, one launch a piece ran
 * the loop about 4% faster than two). Fills ch[] (first, count) when given;
 * returns how many. */
static unsigned chunk_sizes(unsigned len, gs_chunk_t *ch)
{
    unsigned max = gs_opt.chunk_ops > 0 ? (unsigned)gs_opt.chunk_ops : len;
    unsigned size = gs_opt.chunk_ops > 0 && gs_opt.chunk_first > 0 &&
                            (unsigned)gs_opt.chunk_first < max
                        ? (unsigned)gs_opt.chunk_first
                        : max;
    if (len <= max && len <= 4 * size)
        size = max;
    unsigned n = 0;
    for (unsigned first = 0; first < len; n++) {
        unsigned count = len - first < size ? len - first : size;
        if (ch != NULL) {
            ch[n].first = first;
            ch[n].count = count;
        }
        first += count;
        size = size * 2 < max ? size * 2 : max;
    }
    return n;
}

/* The DAG of the template's chunks, and the runs of host functions that
 * share a node (GRAPHSHIM_HOST_MERGE): each node that runs others gets its
 * run; each chunk whose host functions run after its graph
 * (GRAPHSHIM_HOST_AFTER) gets theirs. false when out of memory. */
static bool build_dag(gs_template_t *t, const gs_rec_t *recs, gs_dag_t *dag)
{
    uint32_t *chunk_of = malloc(((size_t)t->len + 1) * sizeof *chunk_of);
    uint32_t *members = malloc(((size_t)t->len + 1) * sizeof *members);
    bool ok = chunk_of != NULL && members != NULL;
    for (unsigned c = 0; ok && c < t->nchunks; c++)
        for (unsigned i = t->chunks[c].first; i < t->chunks[c].first + t->chunks[c].count; i++)
            chunk_of[i] = c;
    ok = ok && gs_dag_build_chunked(dag, recs, t->len, chunk_of, gs_opt.host_merge != 0);
    if (ok && gs_opt.host_after && gs_real_fn[GS_ID_cuLaunchHostFunc] != NULL)
        gs_dag_mark_after(dag, recs, t->len, chunk_of);
    /* Each chunk's functions that run after its graph, in their order. */
    for (unsigned c = 0; ok && c < t->nchunks; c++) {
        gs_chunk_t *ch = &t->chunks[c];
        unsigned k = 0;
        for (unsigned i = ch->first; i < ch->first + ch->count; i++)
            if (dag->into[i] == GS_DAG_AFTER)
                members[k++] = i;
        if (k > 0)
            ok = (ch->after = gs_hostrun_new(members, k)) != NULL;
        /* All of one stream that joined the step (JAX's callback stream):
         * they run there, as without the shim. */
        for (unsigned m = 0; ok && m < k; m++)
            if (recs[members[m]].slot != recs[members[0]].slot)
                k = 0;
        if (ok && k > 0 && recs[members[0]].slot > 0) {
            ch->after_slot = recs[members[0]].slot;
            ch->after_stream = recs[members[0]].stream;
        }
        /* Run from the launch stream, they follow what their streams did
         * before the step only through its waits (hold.c order_slots). */
        for (unsigned i = ch->first; ok && ch->after != NULL && ch->after_slot == 0 &&
                                     i < ch->first + ch->count; i++)
            if (dag->into[i] == GS_DAG_AFTER)
                ch->real_slots |= (uint8_t)(1u << recs[i].slot);
        for (unsigned i = ch->first; ok && i < ch->first + ch->count; i++)
            if (!dag->virt[i])
                ch->real_slots |= (uint8_t)(1u << recs[i].slot);
        t->real_slots |= ch->real_slots;
    }
    for (unsigned j = 0; ok && j < t->len; j++) {
        if (recs[j].kind != GS_OP_HOST || dag->virt[j])
            continue;
        unsigned k = 0;
        for (unsigned i = t->chunks[chunk_of[j]].first; i < j; i++)
            if (dag->into[i] == j)
                members[k++] = i;
        if (k == 0)
            continue;
        members[k++] = j;
        ok = (t->nodes[j].run = gs_hostrun_new(members, k)) != NULL;
        t->chunks[chunk_of[j]].nruns += ok;
    }
    free(chunk_of);
    free(members);
    return ok;
}

bool gs_graph_build(gs_template_t *t, const gs_rec_t *recs, const uint8_t *arena,
                    CUstream s)
{
    CUresult r = CUDA_ERROR_OUT_OF_MEMORY;
    const char *what = "calloc";
    size_t staging = 0;
    uint8_t *block = NULL;
    gs_dag_t dag = {0};

    for (unsigned i = 0; i < t->len; i++)
        if (recs[i].kind == GS_OP_HTOD)
            staging += (recs[i].u.c.n + 63) & ~(size_t)63;
    if (staging > 0) {
        what = "cuMemHostAlloc";
        if ((r = GS_CALL(cuMemHostAlloc, (void **)&block, staging, 0)) != CUDA_SUCCESS)
            goto fail;
        t->staging_bytes = staging;
        gs_mem_account(0, (long long)staging);
    }
    for (unsigned i = 0; i < t->len && t->ph == NULL; i++)
        if (recs[i].kind == GS_OP_EVREC || recs[i].kind == GS_OP_EVWAIT) {
            what = "cuEventCreate";
            if ((r = GS_CALL(cuEventCreate, &t->ph, CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS)
                goto fail;
        }
    t->nchunks = chunk_sizes(t->len, NULL);
    if ((t->chunks = calloc(t->nchunks, sizeof *t->chunks)) == NULL)
        goto fail;
    gs_mem_account((long long)(t->nchunks * sizeof *t->chunks), 0);
    chunk_sizes(t->len, t->chunks);
    what = "the DAG builder";
    build_edges = 0;
    if (!build_dag(t, recs, &dag))
        goto fail;
    for (unsigned c = 0; c < t->nchunks && t->aev == NULL; c++)
        if (t->chunks[c].after_slot > 0) {
            what = "cuEventCreate";
            if ((r = GS_CALL(cuEventCreate, &t->aev, CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS)
                goto fail;
        }
    uint8_t *at = block;
    for (unsigned c = 0; c < t->nchunks; c++) {
        gs_chunk_t *ch = &t->chunks[c];
        ch->frees_seen = gs_frees;
        for (unsigned i = ch->first; i < ch->first + ch->count; i++)
            ch->nev += gs_op_is_event(recs[i].kind);
        if ((r = build_chunk(t, ch, recs, &dag, arena, &at, s, &what)) != CUDA_SUCCESS)
            goto fail;
    }
    if (block != NULL) {
        what = "cuEventCreate";
        if ((r = GS_CALL(cuEventCreate, &t->done, CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS)
            goto fail;
    }
    if (gs_dump_on())
        gs_dump_build(t, recs, arena, &dag);
    gs_dag_free(&dag);
    gs_count(GS_CTR_graphs_built, 1);
    gs_count(GS_CTR_edges_full, t->edges[0]);
    gs_count(GS_CTR_edges_programmatic, t->edges[1]);
    return true;

fail:
    gs_dag_free(&dag);
    gs_graph_destroy(t);
    if (block != NULL && staging_block(t) != (void *)block) {
        GS_CALL(cuMemFreeHost, block);
        gs_mem_account(0, -(long long)t->staging_bytes);
        t->staging_bytes = 0;
    }
    for (unsigned i = 0; i < t->len; i++)
        t->nodes[i].staging = NULL;
    gs_eng_failure(GS_CTR_fb_build, what, r);
    return false;
}
