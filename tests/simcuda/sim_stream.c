/* sim_stream.c: streams, events, kernel launches, and the deferred queue
 * that runs stream work (stream capture lives in sim_capture.c).
 *
 * Work submitted to a stream is not run at the call: it waits in one global
 * FIFO and runs, in enqueue order, at the next synchronisation point (or
 * once more than SIM_QUEUE_MAX commands are pending). One FIFO for all
 * streams is a legal schedule of any program (it respects every stream's
 * order and every event), is deterministic, and lets a program or shim that
 * reads memory too early see stale data exactly where a GPU could show it.
 * Every command that runs appends one line to the SIMCUDA_TRACE file.
 *
 * A stream that is capturing does not queue work: sim_submit hands each
 * operation to the capture, which makes it a node of the capture's graph. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

#define SIM_QUEUE_MAX 4096

typedef struct sim_event {
    sim_obj_t obj;
    unsigned flags;
    unsigned long long recorded, completed; /* generations */
    unsigned long long t_us;                /* virtual time of the last completion */
    sim_capmark_t mark;                     /* where it was last recorded in a capture */
} sim_event_t;

typedef struct cmd {
    sim_op_t op;
    sim_ctx_t *ctx;
    int ordinal;
    int from_graph;
    struct cmd *next;
} cmd_t;

static cmd_t *qhead, *qtail, *cmd_pool;
static size_t qlen;
static int next_ordinal = 1;
static unsigned long long next_stream_id = 1;
static unsigned long long clock_us, graph_kernels, eager_kernels;
static int trace_fd = -2;
static int exec_fault;
static const char *exec_kernel = "(none)"; /* for fault messages */
static unsigned char *scratch;
static size_t scratch_cap;

/* ------------------------------------------------------------------ trace */

static void trace(int ordinal, const char *kind, const char *name, const simcuda_launch_t *L, uint64_t hash)
{
    char line[512];
    size_t n;
    if (trace_fd == -2) {
        const char *path = getenv("SIMCUDA_TRACE");
        trace_fd = path && *path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    }
    if (trace_fd < 0)
        return;
    simcuda_launch_t z = { 0 };
    if (!L)
        L = &z;
    char cluster[48] = "", prio[24] = "";
    if (L->clusterDim.x)
        snprintf(cluster, sizeof cluster, " cluster=%u,%u,%u", L->clusterDim.x, L->clusterDim.y, L->clusterDim.z);
    if (L->priority)
        snprintf(prio, sizeof prio, " priority=%d", L->priority);
    /* One write per line, so processes sharing the file never interleave. */
    n = (size_t)snprintf(line, sizeof line, "%d %s %.300s grid=%u,%u,%u block=%u,%u,%u shmem=%u args=%016llx%s%s%s\n",
                         ordinal, kind, name, L->gridDim.x, L->gridDim.y, L->gridDim.z, L->blockDim.x,
                         L->blockDim.y, L->blockDim.z, L->sharedMemBytes, (unsigned long long)hash, cluster, prio,
                         L->cooperative ? " cooperative=1" : "");
    if (n >= sizeof line)
        n = sizeof line - 1;
    if (write(trace_fd, line, n) != (ssize_t)n)
        sim_say("trace: short write");
}

/* -------------------------------------------------------------------- ops */

void sim_op_free(sim_op_t *op)
{
    if (op->kind == SIM_OP_KERNEL)
        free(op->u.k.args);
    else if (op->kind == SIM_OP_COPY)
        free(op->u.c.snap);
    op->kind = SIM_OP_EMPTY;
}

/* Deep copy; on failure dst is left empty. */
int sim_op_clone(sim_op_t *dst, const sim_op_t *src)
{
    *dst = *src;
    if (src->kind == SIM_OP_KERNEL && src->u.k.argsz) {
        if (!(dst->u.k.args = malloc(src->u.k.argsz)))
            goto fail;
        memcpy(dst->u.k.args, src->u.k.args, src->u.k.argsz);
    } else if (src->kind == SIM_OP_COPY && src->u.c.snap) {
        size_t n = src->u.c.c.width * src->u.c.c.height * src->u.c.c.depth;
        if (!(dst->u.c.snap = malloc(n)))
            goto fail;
        memcpy(dst->u.c.snap, src->u.c.snap, n);
    }
    return 0;
fail:
    dst->kind = SIM_OP_EMPTY;
    return -1;
}

SIMCUDA_API void *simcuda_ptr(CUdeviceptr p, size_t bytes)
{
    sim_lock();
    unsigned char *h = sim_dev_host(p, bytes);
    if (!h) {
        exec_fault = 1;
        sim_say("kernel %s: illegal address 0x%llx+%zu, outside every live allocation", exec_kernel,
                (unsigned long long)p, bytes);
        if (bytes + 64 > scratch_cap) {
            /* The kernel will touch `bytes` bytes; without room it would
             * corrupt the host, so running out here ends the process. */
            if (!(scratch = realloc(scratch, bytes + 64))) {
                fprintf(stderr, "simcuda: cannot allocate %zu bytes of scratch\n", bytes);
                abort();
            }
            scratch_cap = bytes + 64;
        }
        h = memset(scratch, 0, bytes + 64);
    }
    sim_unlock();
    return h;
}

SIMCUDA_API unsigned long long simcuda_graph_kernels(void)
{
    return __atomic_load_n(&graph_kernels, __ATOMIC_RELAXED);
}

SIMCUDA_API unsigned long long simcuda_eager_kernels(void)
{
    return __atomic_load_n(&eager_kernels, __ATOMIC_RELAXED);
}

static void run_kernel(cmd_t *c)
{
    void *argv[64] = { 0 };
    void **av = argv;
    const sim_kdef_t *k = c->op.u.k.kdef;
    simcuda_launch_t L = c->op.u.k.launch;
    L.fromGraph = c->from_graph;
    L.streamOrdinal = c->ordinal;
    if (k->nparams > 64 && !(av = malloc(k->nparams * sizeof *av)))
        return;
    for (unsigned i = 0; i < k->nparams; i++)
        av[i] = c->op.u.k.args + k->offsets[i];
    exec_kernel = k->name;
    sim_tl.in_host_fn++;
    k->fn(&L, av);
    sim_tl.in_host_fn--;
    if (av != argv)
        free(av);
    __atomic_add_fetch(c->from_graph ? &graph_kernels : &eager_kernels, 1, __ATOMIC_RELAXED);
    trace(c->ordinal, "kernel", k->name, &L, sim_fnv(SIM_FNV_INIT, c->op.u.k.args, c->op.u.k.argsz));
}

static const char *copy_dir(const sim_copy_t *c)
{
    static const char *names[2][2] = { { "HtoH", "HtoD" }, { "DtoH", "DtoD" } };
    return names[c->src_dev][c->dst_dev];
}

static void exec_cmd(cmd_t *c)
{
    uint64_t h = 0;
    sim_op_t *op = &c->op;
    exec_fault = 0;
    clock_us++;
    switch (op->kind) {
    case SIM_OP_KERNEL:
        run_kernel(c);
        break;
    case SIM_OP_COPY:
        exec_fault = sim_exec_copy(&op->u.c.c, op->u.c.snap, &h) != 0;
        if (!exec_fault)
            trace(c->ordinal, "memcpy", copy_dir(&op->u.c.c), NULL, h);
        break;
    case SIM_OP_MEMSET:
        exec_fault = sim_exec_memset(op->u.m.dst, op->u.m.pitch, op->u.m.value, op->u.m.elem, op->u.m.width,
                                     op->u.m.height, &h) != 0;
        if (!exec_fault)
            trace(c->ordinal, "memset", op->u.m.elem == 1 ? "D8" : op->u.m.elem == 2 ? "D16" : "D32", NULL, h);
        break;
    case SIM_OP_HOST:
        sim_tl.in_host_fn++;
        if (op->u.h.fn)
            op->u.h.fn(op->u.h.user);
        else
            op->u.h.cb(op->u.h.hstream, CUDA_SUCCESS, op->u.h.user);
        sim_tl.in_host_fn--;
        trace(c->ordinal, "host", op->u.h.fn ? "fn" : "callback", NULL, SIM_FNV_INIT);
        break;
    case SIM_OP_EVENT:
        if (op->u.e.gen > op->u.e.ev->completed) {
            op->u.e.ev->completed = op->u.e.gen;
            op->u.e.ev->t_us = clock_us;
        }
        trace(c->ordinal, "event", "record", NULL, SIM_FNV_INIT);
        break;
    case SIM_OP_FREE:
        sim_exec_free(op->u.f.p);
        break;
    case SIM_OP_EMPTY:
        break;
    }
    if (exec_fault)
        c->ctx->sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
}

/* Runs everything queued. Work of a context that has faulted is dropped, as
 * a GPU context stops at its first fault. */
void sim_flush(void)
{
    while (qhead) {
        cmd_t *c = qhead;
        qhead = c->next;
        if (!qhead)
            qtail = NULL;
        qlen--;
        if (c->ctx->active && c->ctx->sticky == CUDA_SUCCESS)
            exec_cmd(c);
        sim_op_free(&c->op);
        c->next = cmd_pool;
        cmd_pool = c;
    }
}

/* A synchronising call may not run while captures forbid it; on a
 * capturing stream it invalidates the capture. */
CUresult sim_sync_point(sim_ctx_t *ctx, sim_stream_t *s)
{
    CUresult r = s && s->cap ? sim_capture_guard(s) : sim_capture_unsafe();
    if (r != CUDA_SUCCESS)
        return r;
    sim_flush();
    return ctx ? ctx->sticky : CUDA_SUCCESS;
}

/* ------------------------------------------------------------- submission */

/* Takes ownership of *op: queues it, or adds it to the stream's capture. */
CUresult sim_submit(sim_stream_t *s, sim_op_t *op, int from_graph)
{
    sim_ctx_t *ctx = s->obj.ctx;
    CUresult r = ctx->sticky;
    if (r == CUDA_SUCCESS && s->cap)
        return sim_capture_add(s, op);
    if (r == CUDA_SUCCESS && s->legacy)
        r = sim_capture_implicit(ctx);
    cmd_t *c = NULL;
    if (r == CUDA_SUCCESS && !(c = cmd_pool ? cmd_pool : malloc(sizeof *c)))
        r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r != CUDA_SUCCESS) {
        sim_op_free(op);
        return r;
    }
    if (c == cmd_pool)
        cmd_pool = c->next;
    c->op = *op;
    op->kind = SIM_OP_EMPTY;
    c->ctx = ctx;
    c->ordinal = s->ordinal;
    c->from_graph = from_graph;
    c->next = NULL;
    if (qtail)
        qtail->next = c;
    else
        qhead = c;
    qtail = c;
    if (++qlen > SIM_QUEUE_MAX)
        sim_flush();
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- streams */

static sim_stream_t *stream_new(sim_ctx_t *ctx, unsigned flags, int priority)
{
    sim_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sim_obj_add(&s->obj, SIM_K_STREAM, ctx);
    s->flags = flags;
    s->priority = priority;
    s->id = next_stream_id++;
    return s;
}

sim_stream_t *sim_stream_new_legacy(sim_ctx_t *ctx)
{
    sim_stream_t *s = stream_new(ctx, 0, 0);
    if (s)
        s->legacy = 1;
    return s;
}

void sim_stream_released(sim_obj_t *o)
{
    sim_stream_t *s = (sim_stream_t *)o;
    sim_capture_stream_gone(s);
    free(s->deps);
    s->deps = NULL;
    s->capdeps = 0;
}

CUresult sim_stream_get(CUstream h, int ptsz, sim_stream_t **out)
{
    sim_ctx_t *ctx = NULL;
    CUresult r;
    if (h && h != CU_STREAM_LEGACY && h != CU_STREAM_PER_THREAD) {
        if ((r = sim_need_init()) != CUDA_SUCCESS)
            return r;
        if (!(*out = sim_obj_find(h, SIM_K_STREAM)))
            return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live stream", (void *)h);
        return CUDA_SUCCESS;
    }
    if ((r = sim_ctx_current(&ctx)) != CUDA_SUCCESS)
        return r;
    if (h == CU_STREAM_LEGACY || (!h && !ptsz)) {
        *out = ctx->legacy;
        return CUDA_SUCCESS;
    }
    sim_stream_t *s = sim_tl.ptstreams;
    while (s && (s->obj.ctx != ctx || s->obj.magic != SIM_MAGIC))
        s = s->next_pt;
    if (!s) {
        if (!(s = stream_new(ctx, 0, 0)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        s->per_thread = 1;
        s->ordinal = -1;
        s->next_pt = sim_tl.ptstreams;
        sim_tl.ptstreams = s;
    }
    *out = s;
    return CUDA_SUCCESS;
}

static CUresult stream_create(CUstream *ph, unsigned flags, int priority)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ph || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or unknown flags 0x%x", flags);
    sim_stream_t *s = stream_new(ctx, flags, priority < -5 ? -5 : priority > 0 ? 0 : priority);
    if (!s)
        return CUDA_ERROR_OUT_OF_MEMORY;
    s->ordinal = next_ordinal++;
    *ph = (CUstream)s;
    return CUDA_SUCCESS;
}
SIM_API(cuStreamCreate, (CUstream *phStream, unsigned int Flags), (phStream, Flags))
{
    return stream_create(phStream, Flags, 0);
}
SIM_API(cuStreamCreateWithPriority, (CUstream *phStream, unsigned int flags, int priority),
        (phStream, flags, priority))
{
    return stream_create(phStream, flags, priority);
}

static CUresult stream_destroy(CUstream h)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!(s = sim_obj_find(h, SIM_K_STREAM)) || s->legacy || s->per_thread)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a stream created by cuStreamCreate", (void *)h);
    sim_stream_released(&s->obj);
    sim_obj_kill(&s->obj);
    return CUDA_SUCCESS;
}
SIM_API(cuStreamDestroy, (CUstream hStream), (hStream)) { return stream_destroy(hStream); }
SIM_API(cuStreamDestroy_v2, (CUstream hStream), (hStream)) { return stream_destroy(hStream); }

static CUresult stream_sync(CUstream h, int ptsz)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    return r == CUDA_SUCCESS ? sim_sync_point(s->obj.ctx, s) : r;
}
SIM_TWINS(cuStreamSynchronize, _ptsz, (CUstream hStream), (hStream), stream_sync(hStream, pt_))
SIM_TWINS(cuStreamQuery, _ptsz, (CUstream hStream), (hStream), stream_sync(hStream, pt_))

#define STREAM_GETTER(fn, T, arg, expr)                                     \
    static CUresult fn##_get(CUstream h, T *arg, int ptsz)                  \
    {                                                                       \
        sim_stream_t *s = NULL;                                             \
        CUresult r = sim_stream_get(h, ptsz, &s);                           \
        return SIM_OUT(r, arg, expr);                                       \
    }                                                                       \
    SIM_TWINS(fn, _ptsz, (CUstream hStream, T *arg), (hStream, arg), fn##_get(hStream, arg, pt_))

STREAM_GETTER(cuStreamGetFlags, unsigned int, flags, s->flags)
STREAM_GETTER(cuStreamGetPriority, int, priority, s->priority)
STREAM_GETTER(cuStreamGetId, unsigned long long, streamId, s->id)
STREAM_GETTER(cuStreamGetCtx, CUcontext, pctx, (CUcontext)s->obj.ctx)

/* ------------------------------------------------------------ host work */

static CUresult host_work(CUstream h, int ptsz, CUhostFn fn, CUstreamCallback cb, void *user, unsigned flags)
{
    sim_stream_t *s = NULL;
    CUresult r = sim_stream_get(h, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if ((!fn && !cb) || flags != 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null function or nonzero flags");
    if (cb && (r = sim_capture_guard(s)) != CUDA_SUCCESS)
        return r;
    sim_op_t op = { .kind = SIM_OP_HOST };
    op.u.h.fn = fn;
    op.u.h.cb = cb;
    op.u.h.hstream = h;
    op.u.h.user = user;
    return sim_submit(s, &op, 0);
}
SIM_TWINS(cuLaunchHostFunc, _ptsz, (CUstream hStream, CUhostFn fn, void *userData),
          (hStream, fn, userData), host_work(hStream, pt_, fn, NULL, userData, 0))
SIM_TWINS(cuStreamAddCallback, _ptsz, (CUstream hStream, CUstreamCallback cb, void *userData, unsigned int flags),
          (hStream, cb, userData, flags), host_work(hStream, pt_, NULL, cb, userData, flags))

/* ----------------------------------------------------------------- events */

static CUresult event_arg(CUevent h, sim_event_t **out)
{
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS && !(*out = sim_obj_find(h, SIM_K_EVENT)))
        r = sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live event", (void *)h);
    return r;
}

SIM_API(cuEventCreate, (CUevent *phEvent, unsigned int Flags), (phEvent, Flags))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    unsigned known = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
    if (!phEvent || (Flags & ~known) ||
        ((Flags & CU_EVENT_INTERPROCESS) && !(Flags & CU_EVENT_DISABLE_TIMING)))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null handle or bad flags 0x%x", Flags);
    sim_event_t *e = calloc(1, sizeof *e);
    if (!e)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sim_obj_add(&e->obj, SIM_K_EVENT, ctx);
    e->flags = Flags;
    *phEvent = (CUevent)e;
    return CUDA_SUCCESS;
}

static CUresult event_record(CUevent h, CUstream hs, int ptsz, unsigned flags)
{
    sim_event_t *e = NULL;
    sim_stream_t *s = NULL;
    CUresult r = event_arg(h, &e);
    if (r == CUDA_SUCCESS)
        r = sim_stream_get(hs, ptsz, &s);
    if (r != CUDA_SUCCESS)
        return r;
    if (flags & ~(unsigned)CU_EVENT_RECORD_EXTERNAL)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "flags 0x%x", flags);
    if (s->cap)
        return sim_capture_mark(s, &e->mark);
    e->mark.cap = NULL;
    sim_op_t op = { .kind = SIM_OP_EVENT };
    op.u.e.ev = e;
    op.u.e.gen = e->recorded + 1;
    if ((r = sim_submit(s, &op, 0)) == CUDA_SUCCESS)
        e->recorded++;
    return r;
}
SIM_TWINS(cuEventRecord, _ptsz, (CUevent hEvent, CUstream hStream),
          (hEvent, hStream), event_record(hEvent, hStream, pt_, 0))
SIM_TWINS(cuEventRecordWithFlags, _ptsz, (CUevent hEvent, CUstream hStream, unsigned int flags),
          (hEvent, hStream, flags), event_record(hEvent, hStream, pt_, flags))

static CUresult event_sync(CUevent h)
{
    sim_event_t *e = NULL;
    CUresult r = event_arg(h, &e);
    if (r == CUDA_SUCCESS && sim_capmark_active(&e->mark))
        r = sim_err(CUDA_ERROR_CAPTURED_EVENT, "event was last recorded in an active capture");
    return r == CUDA_SUCCESS ? sim_sync_point(e->obj.ctx, NULL) : r;
}
SIM_API(cuEventSynchronize, (CUevent hEvent), (hEvent)) { return event_sync(hEvent); }
SIM_API(cuEventQuery, (CUevent hEvent), (hEvent)) { return event_sync(hEvent); }

static CUresult event_destroy(CUevent h)
{
    sim_event_t *e = NULL;
    CUresult r = event_arg(h, &e);
    if (r == CUDA_SUCCESS) {
        free(e->mark.deps);
        e->mark.deps = NULL;
        e->mark.ndeps = 0;
        sim_obj_kill(&e->obj);
    }
    return r;
}
SIM_API(cuEventDestroy, (CUevent hEvent), (hEvent)) { return event_destroy(hEvent); }
SIM_API(cuEventDestroy_v2, (CUevent hEvent), (hEvent)) { return event_destroy(hEvent); }

/* Virtual time: every executed command takes one microsecond. */
static CUresult elapsed(float *ms, CUevent hs, CUevent he)
{
    sim_event_t *a = NULL, *b = NULL;
    CUresult r = event_arg(hs, &a);
    if (r == CUDA_SUCCESS)
        r = event_arg(he, &b);
    if (r != CUDA_SUCCESS)
        return r;
    if (!ms)
        return CUDA_ERROR_INVALID_VALUE;
    if ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "event created with CU_EVENT_DISABLE_TIMING");
    if (!a->recorded || !b->recorded)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "event never recorded");
    if (a->completed < a->recorded || b->completed < b->recorded)
        return sim_err(CUDA_ERROR_NOT_READY, "event not completed yet");
    *ms = (float)((double)b->t_us - (double)a->t_us) / 1000.0f;
    return CUDA_SUCCESS;
}
SIM_API(cuEventElapsedTime, (float *pMilliseconds, CUevent hStart, CUevent hEnd), (pMilliseconds, hStart, hEnd))
{
    return elapsed(pMilliseconds, hStart, hEnd);
}
SIM_API(cuEventElapsedTime_v2, (float *pMilliseconds, CUevent hStart, CUevent hEnd), (pMilliseconds, hStart, hEnd))
{
    return elapsed(pMilliseconds, hStart, hEnd);
}

/* A wait joins the stream into the capture the event was recorded in;
 * outside capture, one global FIFO already orders everything. */
static CUresult wait_event(CUstream hs, CUevent h, unsigned flags, int ptsz)
{
    sim_stream_t *s = NULL;
    sim_event_t *e = NULL;
    CUresult r = sim_stream_get(hs, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = event_arg(h, &e);
    if (r != CUDA_SUCCESS)
        return r;
    if (flags & ~(unsigned)CU_EVENT_WAIT_EXTERNAL)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "flags 0x%x", flags);
    return sim_capture_wait(s, &e->mark, e->recorded != 0);
}
SIM_TWINS(cuStreamWaitEvent, _ptsz, (CUstream hStream, CUevent hEvent, unsigned int Flags),
          (hStream, hEvent, Flags), wait_event(hStream, hEvent, Flags, pt_))

/* --------------------------------------------------------------- launches */

CUresult sim_check_dims(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz)
{
    if (!gx || !gy || !gz || !bx || !by || !bz)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "zero grid or block dimension");
    if (bx > 1024 || by > 1024 || bz > 64 || (unsigned long long)bx * by * bz > 1024)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "block %ux%ux%u exceeds the device limits", bx, by, bz);
    if (gx > 2147483647u || gy > 65535 || gz > 65535)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "grid %ux%ux%u exceeds the device limits", gx, gy, gz);
    return CUDA_SUCCESS;
}

CUresult sim_apply_attrs(simcuda_launch_t *L, const CUlaunchAttribute *attrs, unsigned n)
{
    if (n && !attrs)
        return CUDA_ERROR_INVALID_VALUE;
    for (unsigned i = 0; i < n; i++) {
        const CUlaunchAttributeValue *v = &attrs[i].value;
        switch (attrs[i].id) {
        case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION: {
            unsigned x = v->clusterDim.x, y = v->clusterDim.y, z = v->clusterDim.z;
            if (!x || !y || !z || (unsigned long long)x * y * z > 8 || L->gridDim.x % x || L->gridDim.y % y ||
                L->gridDim.z % z)
                return sim_err(CUDA_ERROR_INVALID_CLUSTER_SIZE, "cluster %ux%ux%u for grid %ux%ux%u", x, y, z,
                               L->gridDim.x, L->gridDim.y, L->gridDim.z);
            L->clusterDim = (simcuda_dim3){ x, y, z };
            break;
        }
        case CU_LAUNCH_ATTRIBUTE_PRIORITY:
            L->priority = v->priority;
            break;
        case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
            L->cooperative = v->cooperative != 0;
            break;
        default:
            if ((int)attrs[i].id < 0 || attrs[i].id > CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING)
                return sim_err(CUDA_ERROR_INVALID_VALUE, "launch attribute %d", (int)attrs[i].id);
        }
    }
    return CUDA_SUCCESS;
}

static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream hs, int ptsz, void **params, void **extra,
                       const CUlaunchAttribute *attrs, unsigned nattrs, int cooperative)
{
    sim_stream_t *s = NULL;
    sim_kdef_t *k = NULL;
    int max_shmem;
    CUresult r = sim_stream_get(hs, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = sim_launchable(f, s->obj.ctx, &k, &max_shmem);
    if (r == CUDA_SUCCESS)
        r = sim_check_dims(gx, gy, gz, bx, by, bz);
    if (r != CUDA_SUCCESS)
        return r;
    if (shmem > (unsigned)max_shmem)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%u bytes of dynamic shared memory, %s allows %d", shmem,
                       k->name, max_shmem);
    sim_op_t op = { .kind = SIM_OP_KERNEL };
    simcuda_launch_t *L = &op.u.k.launch;
    L->name = k->name;
    L->gridDim = (simcuda_dim3){ gx, gy, gz };
    L->blockDim = (simcuda_dim3){ bx, by, bz };
    L->sharedMemBytes = shmem;
    L->cooperative = cooperative;
    if ((r = sim_apply_attrs(L, attrs, nattrs)) != CUDA_SUCCESS)
        return r;
    if (L->cooperative &&
        (unsigned long long)gx * gy * gz > 132ull * (2048u / (bx * by * bz) ? 2048u / (bx * by * bz) : 1))
        return sim_err(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, "%ux%ux%u blocks cannot be co-resident", gx, gy, gz);
    op.u.k.kdef = k;
    if ((r = sim_pack_args(k, params, extra, &op.u.k.args, &op.u.k.argsz)) != CUDA_SUCCESS)
        return r;
    return sim_submit(s, &op, 0);
}

/* The parameters of cuLaunchKernel, then `more`. */
#define LAUNCH_PARAMS(...)                                                                            \
    (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, \
     unsigned int bz, unsigned int shmem, CUstream hStream, void **kernelParams __VA_ARGS__)
SIM_TWINS(cuLaunchKernel, _ptsz, LAUNCH_PARAMS(, void **extra),
          (f, gx, gy, gz, bx, by, bz, shmem, hStream, kernelParams, extra),
          launch(f, gx, gy, gz, bx, by, bz, shmem, hStream, pt_, kernelParams, extra, NULL, 0, 0))
SIM_TWINS(cuLaunchCooperativeKernel, _ptsz, LAUNCH_PARAMS(), (f, gx, gy, gz, bx, by, bz, shmem, hStream, kernelParams),
          launch(f, gx, gy, gz, bx, by, bz, shmem, hStream, pt_, kernelParams, NULL, NULL, 0, 1))

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra, int ptsz)
{
    if (!c)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null launch config");
    return launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ,
                  c->sharedMemBytes, c->hStream, ptsz, params, extra, c->attrs, c->numAttrs, 0);
}
SIM_TWINS(cuLaunchKernelEx, _ptsz, (const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra),
          (config, f, kernelParams, extra), launch_ex(config, f, kernelParams, extra, pt_))

const sim_proc_t sim_stream_procs[] = {
    SIM_PROC(cuStreamCreate, 2000),                  SIM_PROC(cuStreamCreateWithPriority, 5050),
    SIM_PROC(cuStreamDestroy, 2000),                 SIM_PROC(cuStreamDestroy_v2, 4000),
    SIM_PROC(cuStreamSynchronize, 2000),             SIM_PROC(cuStreamSynchronize_ptsz, 7000),
    SIM_PROC(cuStreamQuery, 2000),                   SIM_PROC(cuStreamQuery_ptsz, 7000),
    SIM_PROC(cuStreamWaitEvent, 3020),               SIM_PROC(cuStreamWaitEvent_ptsz, 7000),
    SIM_PROC(cuStreamGetFlags, 5050),                SIM_PROC(cuStreamGetFlags_ptsz, 7000),
    SIM_PROC(cuStreamGetPriority, 5050),             SIM_PROC(cuStreamGetPriority_ptsz, 7000),
    SIM_PROC(cuStreamGetId, 12000),                  SIM_PROC(cuStreamGetId_ptsz, 12000),
    SIM_PROC(cuStreamGetCtx, 9020),                  SIM_PROC(cuStreamGetCtx_ptsz, 9020),
    SIM_PROC(cuLaunchHostFunc, 10000),               SIM_PROC(cuLaunchHostFunc_ptsz, 10000),
    SIM_PROC(cuStreamAddCallback, 5000),             SIM_PROC(cuStreamAddCallback_ptsz, 7000),
    SIM_PROC(cuEventCreate, 2000),
    SIM_PROC(cuEventRecord, 2000),                   SIM_PROC(cuEventRecord_ptsz, 7000),
    SIM_PROC(cuEventRecordWithFlags, 11010),         SIM_PROC(cuEventRecordWithFlags_ptsz, 11010),
    SIM_PROC(cuEventSynchronize, 2000),              SIM_PROC(cuEventQuery, 2000),
    SIM_PROC(cuEventDestroy, 2000),                  SIM_PROC(cuEventDestroy_v2, 4000),
    SIM_PROC(cuEventElapsedTime, 2000),              SIM_PROC(cuEventElapsedTime_v2, 12080),
    SIM_PROC(cuLaunchKernel, 4000),                  SIM_PROC(cuLaunchKernel_ptsz, 7000),
    SIM_PROC(cuLaunchKernelEx, 11060),               SIM_PROC(cuLaunchKernelEx_ptsz, 11060),
    SIM_PROC(cuLaunchCooperativeKernel, 9000),       SIM_PROC(cuLaunchCooperativeKernel_ptsz, 9000),
};
const size_t sim_stream_nprocs = sizeof sim_stream_procs / sizeof sim_stream_procs[0];
