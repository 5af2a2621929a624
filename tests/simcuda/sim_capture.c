/* sim_capture.c: stream capture in simcuda: cuStreamBeginCapture,
 * cuStreamEndCapture and the capture queries, and the hooks through which
 * the stream and memory code turn a capturing stream's work into graph
 * nodes, or refuse it and invalidate the capture.
 *
 * Capture is graph construction driven by streams: a capturing stream's
 * operations become nodes of the capture's graph (added with sim_graph_add)
 * depending on the stream's frontier; event record/wait fork and join other
 * streams into it, or, with the external flag, become event record and
 * wait nodes; a kernel launched with programmatic stream serialisation
 * after a kernel node gets a programmatic edge from it. It is kept apart from sim_graph.c, whose graphs it
 * builds, because its state (which streams capture, in which mode and on
 * which thread, whether the capture was invalidated) belongs to streams;
 * the graph API only asks about it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

typedef struct sim_capture {
    sim_graph_t *graph;
    CUstreamCaptureMode mode;
    unsigned long long id;
    int invalid, ended;
    pthread_t thread;
    sim_stream_t *origin;
    sim_stream_t **members;
    size_t nmembers;
    struct sim_capture *next;
} sim_capture_t;

static unsigned long long next_capture_id = 1;
static sim_capture_t *captures;

static int deps_union(sim_stream_t *s, sim_node_t *const *nodes, size_t n, int replace)
{
    if (replace)
        s->ndeps = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < s->ndeps && s->deps[j] != nodes[i])
            j++;
        if (j < s->ndeps)
            continue;
        if (s->ndeps == s->capdeps) {
            size_t nc = s->capdeps ? s->capdeps * 2 : 4;
            sim_node_t **d = realloc(s->deps, nc * sizeof *d);
            if (!d)
                return -1;
            s->deps = d;
            s->capdeps = nc;
        }
        s->deps[s->ndeps++] = nodes[i];
    }
    return 0;
}

static void capture_leave(sim_stream_t *s)
{
    sim_capture_t *cap = s->cap;
    for (size_t i = 0; cap && i < cap->nmembers; i++)
        if (cap->members[i] == s)
            cap->members[i] = cap->members[--cap->nmembers];
    s->cap = NULL;
    s->ndeps = 0;
    s->cap_kernel = 0;
}

static int capture_join(sim_capture_t *cap, sim_stream_t *s)
{
    sim_stream_t **m = realloc(cap->members, (cap->nmembers + 1) * sizeof *m);
    if (!m)
        return -1;
    cap->members = m;
    m[cap->nmembers++] = s;
    s->cap = cap;
    s->ndeps = 0;
    s->cap_kernel = 0;
    return 0;
}

static CUresult invalidate(sim_capture_t *cap, CUresult r)
{
    cap->invalid = 1;
    return r;
}

/* A captured operation becomes a node after the stream's frontier. A
 * kernel launched with programmatic stream serialisation right after a
 * kernel node gets a programmatic edge from it (type PROGRAMMATIC, from the
 * programmatic port), as the driver's capture makes; its programmatic or
 * launch completion event marks the node as the event's capture position. */
CUresult sim_capture_add(sim_stream_t *s, sim_op_t *op)
{
    sim_node_t *node = NULL;
    CUresult r;
    if (s->cap->invalid) {
        sim_op_free(op);
        return sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "stream %d: capture invalidated", s->ordinal);
    }
    int kernel = op->kind == SIM_OP_KERNEL;
    sim_event_t *ev[2] = { NULL, NULL };
    CUgraphEdgeData prog;
    memset(&prog, 0, sizeof prog);
    prog.type = CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC;
    prog.from_port = CU_GRAPH_KERNEL_NODE_PORT_PROGRAMMATIC;
    int pdl = kernel && op->u.k.pdl && s->cap_kernel && s->ndeps == 1;
    if (kernel) {
        ev[0] = op->u.k.ev[0], ev[1] = op->u.k.ev[1];
        op->u.k.ev[0] = op->u.k.ev[1] = NULL; /* launch-only: not part of the node */
        op->u.k.pdl = 0;
    }
    if ((r = sim_graph_add(s->cap->graph, s->deps, pdl ? &prog : NULL, s->ndeps, op, &node)) != CUDA_SUCCESS)
        return invalidate(s->cap, r);
    if (deps_union(s, &node, 1, 1))
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->cap_kernel = kernel;
    for (int i = 0; i < 2; i++)
        if (ev[i] && sim_capture_mark(s, &ev[i]->mark) != CUDA_SUCCESS)
            return CUDA_ERROR_OUT_OF_MEMORY;
    return CUDA_SUCCESS;
}

/* An event record or wait node (cuEventRecordWithFlags and
 * cuStreamWaitEvent with the external flag) after the frontier. */
CUresult sim_capture_node(sim_stream_t *s, sim_op_t *op)
{
    return sim_capture_add(s, op);
}

CUresult sim_capture_guard(sim_stream_t *s)
{
    if (!s->cap)
        return CUDA_SUCCESS;
    if (s->cap->invalid)
        return sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "stream %d: capture already invalidated", s->ordinal);
    return invalidate(s->cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                                      "stream %d is capturing; this operation cannot be captured", s->ordinal));
}

/* Whether the capture `s` takes part in was invalidated (graph launch
 * checks this before adding anything). */
int sim_capture_invalid(const sim_stream_t *s)
{
    return s->cap && s->cap->invalid;
}

/* A potentially unsafe call (one that synchronises) is forbidden while this
 * thread runs a non-relaxed capture or any thread runs a global one. */
CUresult sim_capture_unsafe(void)
{
    CUresult r = CUDA_SUCCESS;
    for (sim_capture_t *cap = captures; cap; cap = cap->next) {
        int mine = pthread_equal(cap->thread, pthread_self());
        if (!cap->ended && ((mine && cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED) ||
                            (!mine && cap->mode == CU_STREAM_CAPTURE_MODE_GLOBAL)))
            r = invalidate(cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
                                        "synchronising while capture %llu is active", cap->id));
    }
    return r;
}

/* Work on the legacy stream would wait for a capturing blocking stream. */
CUresult sim_capture_implicit(sim_ctx_t *ctx)
{
    CUresult r = CUDA_SUCCESS;
    for (sim_capture_t *cap = captures; cap; cap = cap->next)
        if (!cap->ended && cap->origin->obj.ctx == ctx && !(cap->origin->flags & CU_STREAM_NON_BLOCKING))
            r = invalidate(cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
                                        "legacy stream work while blocking stream %d captures",
                                        cap->origin->ordinal));
    return r;
}

void sim_capture_stream_gone(sim_stream_t *s)
{
    if (s->cap && s->cap->origin == s)
        invalidate(s->cap, CUDA_SUCCESS);
    capture_leave(s);
}

int sim_capmark_active(const sim_capmark_t *m)
{
    return m->cap && !m->cap->ended;
}

/* Event record during capture: remember the stream's frontier. */
CUresult sim_capture_mark(sim_stream_t *s, sim_capmark_t *m)
{
    if (s->cap->invalid)
        return sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "capture invalidated");
    sim_node_t **d = s->ndeps ? malloc(s->ndeps * sizeof *d) : NULL;
    if (s->ndeps && !d)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (s->ndeps)
        memcpy(d, s->deps, s->ndeps * sizeof *d);
    free(m->deps);
    m->deps = d;
    m->ndeps = s->ndeps;
    m->cap = s->cap;
    return CUDA_SUCCESS;
}

/* Event wait: joins the stream into the capture the event was recorded in. */
CUresult sim_capture_wait(sim_stream_t *s, const sim_capmark_t *m, int recorded)
{
    if (sim_capmark_active(m)) {
        if (m->cap->invalid)
            return sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "capture invalidated");
        if (s->cap && s->cap != m->cap)
            return invalidate(s->cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_MERGE, "two captures would merge"));
        if (!s->cap && s->legacy)
            return sim_err(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "the legacy stream cannot join a capture");
        if (!s->cap && capture_join(m->cap, s))
            return CUDA_ERROR_OUT_OF_MEMORY;
        s->cap_kernel = 0;
        return deps_union(s, m->deps, m->ndeps, 0) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
    }
    if (s->cap && recorded)
        return invalidate(s->cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_ISOLATION,
                                          "capturing stream %d waits on uncaptured work", s->ordinal));
    return CUDA_SUCCESS;
}

static CUresult begin_capture(CUstream h, CUstreamCaptureMode mode, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if (s->legacy)
        return sim_err(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "the legacy stream cannot be captured");
    if (s->cap)
        return sim_err(CUDA_ERROR_ILLEGAL_STATE, "stream %d is already capturing", s->ordinal);
    if (mode != CU_STREAM_CAPTURE_MODE_GLOBAL && mode != CU_STREAM_CAPTURE_MODE_THREAD_LOCAL &&
        mode != CU_STREAM_CAPTURE_MODE_RELAXED)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "capture mode %d", (int)mode);
    sim_capture_t *cap = calloc(1, sizeof *cap);
    if (!cap || !(cap->graph = sim_graph_new()) || capture_join(cap, s)) {
        if (cap && cap->graph)
            sim_graph_free(cap->graph);
        free(cap);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    cap->mode = mode;
    cap->id = next_capture_id++;
    cap->thread = pthread_self();
    cap->origin = s;
    cap->next = captures;
    captures = cap;
    return CUDA_SUCCESS;
}
SIM_TWINS(cuStreamBeginCapture, _ptsz, (CUstream hStream), (hStream),
          begin_capture(hStream, CU_STREAM_CAPTURE_MODE_GLOBAL, pt_))
SIM_TWINS(cuStreamBeginCapture_v2, _ptsz, (CUstream hStream, CUstreamCaptureMode mode), (hStream, mode),
          begin_capture(hStream, mode, pt_))

/* Every other stream's frontier must be an ancestor of the origin's. */
static int capture_joined(sim_capture_t *cap)
{
    size_t n = cap->graph->n, top = 0;
    char *mark = calloc(n + 1, 1);
    sim_node_t **stack = malloc((n + 1) * sizeof *stack);
    int ok = mark && stack;
    for (size_t i = 0; ok && i < cap->origin->ndeps; i++)
        stack[top++] = cap->origin->deps[i];
    while (ok && top) {
        sim_node_t *x = stack[--top];
        if (mark[x->index]++)
            continue;
        for (size_t i = 0; i < x->ndeps; i++)
            if (!mark[x->deps[i]->index])
                stack[top++] = x->deps[i];
    }
    for (size_t m = 0; ok && m < cap->nmembers; m++)
        for (size_t i = 0; i < cap->members[m]->ndeps; i++)
            ok = ok && mark[cap->members[m]->deps[i]->index];
    free(mark);
    free(stack);
    return ok;
}

static CUresult end_capture(CUstream h, CUgraph *phGraph, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if (!phGraph)
        return CUDA_ERROR_INVALID_VALUE;
    sim_capture_t *cap = s->cap;
    if (!cap)
        return sim_err(CUDA_ERROR_ILLEGAL_STATE, "stream %d is not capturing", s->ordinal);
    if (cap->origin != s)
        return invalidate(cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED,
                                       "capture %llu began on another stream", cap->id));
    if (cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED && !pthread_equal(cap->thread, pthread_self()))
        return sim_err(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "capture %llu began on another thread", cap->id);
    if (cap->invalid)
        r = sim_err(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "capture %llu was invalidated", cap->id);
    else if (!capture_joined(cap))
        r = invalidate(cap, sim_err(CUDA_ERROR_STREAM_CAPTURE_UNJOINED,
                                    "capture %llu has work not joined into stream %d", cap->id, s->ordinal));
    while (cap->nmembers)
        capture_leave(cap->members[0]);
    free(cap->members);
    cap->members = NULL;
    cap->ended = 1;
    *phGraph = r == CUDA_SUCCESS ? (CUgraph)cap->graph : NULL;
    if (r != CUDA_SUCCESS)
        sim_graph_free(cap->graph);
    cap->graph = NULL;
    return r;
}
SIM_TWINS(cuStreamEndCapture, _ptsz, (CUstream hStream, CUgraph *phGraph), (hStream, phGraph),
          end_capture(hStream, phGraph, pt_))

static CUresult capture_info(CUstream h, int ptsz, CUstreamCaptureStatus *st, cuuint64_t *id, CUgraph *graph,
                             const CUgraphNode **deps, const CUgraphEdgeData **edges, size_t *ndeps)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if (!st)
        return CUDA_ERROR_INVALID_VALUE;
    sim_capture_t *cap = s->cap;
    *st = !cap ? CU_STREAM_CAPTURE_STATUS_NONE
               : cap->invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED : CU_STREAM_CAPTURE_STATUS_ACTIVE;
    if (id && cap)
        *id = cap->id;
    if (graph)
        *graph = cap ? (CUgraph)cap->graph : NULL;
    if (deps)
        *deps = cap ? (const CUgraphNode *)s->deps : NULL;
    if (edges)
        *edges = NULL;
    if (ndeps)
        *ndeps = cap ? s->ndeps : 0;
    return CUDA_SUCCESS;
}

#define P_(...) (CUstream hStream, CUstreamCaptureStatus *st, __VA_ARGS__)
SIM_TWINS(cuStreamIsCapturing, _ptsz, (CUstream hStream, CUstreamCaptureStatus *st), (hStream, st),
          capture_info(hStream, pt_, st, NULL, NULL, NULL, NULL, NULL))
SIM_TWINS(cuStreamGetCaptureInfo, _ptsz, P_(cuuint64_t *id), (hStream, st, id),
          capture_info(hStream, pt_, st, id, NULL, NULL, NULL, NULL))
SIM_TWINS(cuStreamGetCaptureInfo_v2, _ptsz, P_(cuuint64_t *id, CUgraph *g, const CUgraphNode **d, size_t *n),
          (hStream, st, id, g, d, n), capture_info(hStream, pt_, st, id, g, d, NULL, n))
SIM_TWINS(cuStreamGetCaptureInfo_v3, _ptsz,
          P_(cuuint64_t *id, CUgraph *g, const CUgraphNode **d, const CUgraphEdgeData **e, size_t *n),
          (hStream, st, id, g, d, e, n), capture_info(hStream, pt_, st, id, g, d, e, n))

const sim_proc_t sim_capture_procs[] = {
    SIM_PROC(cuStreamBeginCapture, 10000),           SIM_PROC(cuStreamBeginCapture_ptsz, 10000),
    SIM_PROC(cuStreamBeginCapture_v2, 10010),        SIM_PROC(cuStreamBeginCapture_v2_ptsz, 10010),
    SIM_PROC(cuStreamEndCapture, 10000),             SIM_PROC(cuStreamEndCapture_ptsz, 10000),
    SIM_PROC(cuStreamIsCapturing, 10000),            SIM_PROC(cuStreamIsCapturing_ptsz, 10000),
    SIM_PROC(cuStreamGetCaptureInfo, 10010),         SIM_PROC(cuStreamGetCaptureInfo_ptsz, 10010),
    SIM_PROC(cuStreamGetCaptureInfo_v2, 11030),      SIM_PROC(cuStreamGetCaptureInfo_v2_ptsz, 11030),
    SIM_PROC(cuStreamGetCaptureInfo_v3, 12030),      SIM_PROC(cuStreamGetCaptureInfo_v3_ptsz, 12030),
};
const size_t sim_capture_nprocs = sizeof sim_capture_procs / sizeof sim_capture_procs[0];
