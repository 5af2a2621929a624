/* sim_sched.c: the scheduler of simcuda: every queued command with its
 * dependencies, the order in which queued commands run and their virtual
 * time. What running one does is sim_run.c.
 *
 * Work submitted to a stream is not run at the call. It becomes a command
 * that knows which earlier commands it must follow: its stream's previous
 * command (or, after cuStreamWaitEvent, also the command that completes the
 * event's latest record), the legacy stream's implicit synchronisation (a
 * legacy-stream command follows the last command of every blocking stream
 * of its context, a blocking stream's command follows the last legacy one),
 * and for graph launches the edges of the graph (sim_exec.c builds those
 * commands through sim_cmd_*). A kernel launched with programmatic stream
 * serialisation right after a kernel K follows only what K follows, unless
 * its kernel is registered SIMCUDA_KERNEL_GDS (it then follows K, and only
 * its prologue may run early).
 *
 * Commands run at synchronisation points, in a random topological order
 * drawn from a PRNG seeded by SIMCUDA_SEED (default 1): any order a GPU
 * could produce by running independent work concurrently, so a dependency a
 * program or shim forgot shows up as a different result for some seed. A
 * synchronisation of one stream or event runs that target's ancestors and,
 * with a probability drawn per synchronisation, some of the other ready
 * work; the rest stays queued, so forgotten work shows up late. Context-wide
 * synchronisations (and more than SIM_QUEUE_MAX pending commands) run
 * everything. SIMCUDA_SCHED=fifo runs everything in submission order at
 * every synchronisation point, the old single global queue, for debugging.
 *
 * Virtual time: a command's time is the length of the longest chain of
 * timed commands (kernels, copies, memsets, host functions: one virtual
 * microsecond each) that ends with it, along its dependencies. It is known
 * when the command is queued and does not depend on the order chosen, so
 * event times are the same under every seed, and with or without a shim
 * that issues the same work with the same dependencies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_QUEUE_MAX 4096
#define NOT_READY ((size_t)-1)

enum { CMD_TIMED = 1, CMD_PROLOGUE = 2, CMD_BODY = 4 };

struct sim_cmd {
    sim_op_t op;
    sim_ctx_t *ctx;
    int ordinal, from_graph;
    unsigned flags;
    unsigned long long seq;
    unsigned long long t_in, t;  /* inputs ready / done, in virtual time */
    sim_ref_t *deps;             /* predecessors pending when it was queued */
    size_t ndeps, capdeps;
    sim_cmd_t **succ;            /* commands waiting for this one */
    size_t nsucc, capsucc;
    unsigned waiting;            /* predecessors not yet complete */
    int sealed;
    unsigned long long mark;     /* epoch of the synchronisation that needs it */
    size_t ready_at;             /* index in ready[], NOT_READY otherwise */
    sim_cmd_t *prev, *next;      /* pending commands, oldest first */
};

static sim_cmd_t *pool, *phead, *ptail;
static size_t npending;
/* Ready commands: [0, nelig) may be picked; [nelig, nready) were passed
 * over by the synchronisation running now. */
static sim_cmd_t **ready;
static size_t nready, nelig, capready;
static unsigned long long next_seq = 1, epoch;
static uint64_t prng;
static int fifo;

/* --------------------------------------------------------------- helpers */

/* Grows an array to hold `need` elements. simcuda is a test driver: running
 * out of host memory here ends the process rather than half-queueing work. */
void *sim_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 4;
    while (nc < need)
        nc *= 2;
    void *q = realloc(p, nc * elem);
    if (!q) {
        fprintf(stderr, "simcuda: out of host memory for the command queue\n");
        abort();
    }
    *cap = nc;
    return q;
}

static uint64_t rnd64(void)
{
    prng ^= prng >> 12;
    prng ^= prng << 25;
    prng ^= prng >> 27;
    return prng * 0x2545f4914f6cdd1dull;
}

static size_t rnd(size_t n) /* 0 .. n-1 */
{
    return (size_t)((rnd64() >> 11) % n);
}

/* splitmix64 of the seed: neighbouring seeds give unrelated streams. */
static void seed_prng(unsigned long long seed)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    prng = (z ^ (z >> 31)) | 1;
}

size_t sim_sched_pick(size_t n)
{
    return fifo || n < 2 ? n - 1 : rnd(n);
}

SIMCUDA_API void simcuda_seed(unsigned long long seed)
{
    sim_lock();
    seed_prng(seed);
    sim_unlock();
}

void sim_sched_init(void)
{
    const char *s = getenv("SIMCUDA_SEED");
    unsigned long long seed = 1;
    if (s && *s) {
        char *end;
        seed = strtoull(s, &end, 10);
        if (*end) {
            fprintf(stderr, "simcuda: warning: SIMCUDA_SEED=%s is not a number; using 1\n", s);
            seed = 1;
        }
    }
    seed_prng(seed);
    s = getenv("SIMCUDA_SCHED");
    fifo = s && !strcmp(s, "fifo");
    if (s && *s && !fifo && strcmp(s, "random"))
        fprintf(stderr, "simcuda: warning: SIMCUDA_SCHED=%s: expected fifo or random\n", s);
}

static int live(sim_ref_t r)
{
    return r.c && r.c->seq == r.seq;
}

sim_ref_t sim_cmd_ref(sim_cmd_t *c)
{
    return (sim_ref_t){ c, c->seq };
}

unsigned long long sim_cmd_time(const sim_cmd_t *c)
{
    return c->t;
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

/* ------------------------------------------------------------ after-sets */

void sim_after_add(sim_after_t *a, sim_ref_t r, unsigned long long t)
{
    size_t j = 0;
    /* Drops what completed, and r if it is there already. A reference is
     * its command and that command's sequence number: a completed command's
     * object is reused for a later one, so a stale r may share its pointer
     * with a live command, which must stay (comparing pointers alone lost
     * such a dependency: a stream waiting on an event whose record had
     * completed forgot the live work it already followed). */
    for (size_t i = 0; i < a->n; i++)
        if (live(a->refs[i]) && !(a->refs[i].c == r.c && a->refs[i].seq == r.seq))
            a->refs[j++] = a->refs[i];
    a->n = j;
    if (t > a->t)
        a->t = t;
    if (!live(r))
        return;
    a->refs = sim_grow(a->refs, &a->cap, a->n + 1, sizeof *a->refs);
    a->refs[a->n++] = r;
}

void sim_after_merge(sim_after_t *dst, const sim_after_t *src)
{
    for (size_t i = 0; i < src->n; i++)
        sim_after_add(dst, src->refs[i], 0);
    if (src->t > dst->t)
        dst->t = src->t;
}

/* a = exactly these commands (time: the latest of theirs). */
void sim_after_set(sim_after_t *a, sim_cmd_t *const *cmds, size_t n)
{
    a->n = 0;
    a->t = 0;
    a->refs = sim_grow(a->refs, &a->cap, n, sizeof *a->refs);
    for (size_t i = 0; i < n; i++) {
        a->refs[a->n++] = sim_cmd_ref(cmds[i]);
        if (cmds[i]->t > a->t)
            a->t = cmds[i]->t;
    }
}

void sim_after_free(sim_after_t *a)
{
    free(a->refs);
    a->refs = NULL;
    a->n = a->cap = 0;
}

/* -------------------------------------------------------------- commands */

static int op_timed(const sim_op_t *op)
{
    return op->kind == SIM_OP_KERNEL || op->kind == SIM_OP_COPY || op->kind == SIM_OP_MEMSET ||
           op->kind == SIM_OP_HOST;
}

/* A new command holding *op (taken), not yet runnable: add its dependencies
 * with sim_cmd_dep / sim_cmd_after / sim_cmd_entry, then sim_cmd_seal. */
sim_cmd_t *sim_cmd_new(sim_op_t *op, sim_ctx_t *ctx, int ordinal, int from_graph)
{
    sim_cmd_t *c = pool;
    if (c)
        pool = c->next;
    else if (!(c = calloc(1, sizeof *c))) {
        fprintf(stderr, "simcuda: out of host memory for the command queue\n");
        abort();
    }
    c->op = *op;
    op->kind = SIM_OP_EMPTY;
    c->ctx = ctx;
    c->ordinal = ordinal;
    c->from_graph = from_graph;
    c->flags = op_timed(&c->op) ? CMD_TIMED : 0;
    c->seq = next_seq++;
    c->t_in = c->t = 0;
    c->ndeps = c->nsucc = 0;
    c->waiting = 0;
    c->sealed = 0;
    c->mark = 0;
    c->ready_at = NOT_READY;
    c->next = NULL;
    c->prev = ptail;
    if (ptail)
        ptail->next = c;
    else
        phead = c;
    ptail = c;
    npending++;
    return c;
}

/* c follows r (if still pending) and starts no earlier than time t. */
void sim_cmd_dep(sim_cmd_t *c, sim_ref_t r, unsigned long long t)
{
    if (t > c->t_in)
        c->t_in = t;
    if (!live(r) || r.c == c)
        return;
    sim_cmd_t *d = r.c;
    if (d->t > c->t_in)
        c->t_in = d->t;
    for (size_t i = 0; i < c->ndeps; i++)
        if (c->deps[i].c == d)
            return;
    c->deps = sim_grow(c->deps, &c->capdeps, c->ndeps + 1, sizeof *c->deps);
    c->deps[c->ndeps++] = r;
    d->succ = sim_grow(d->succ, &d->capsucc, d->nsucc + 1, sizeof *d->succ);
    d->succ[d->nsucc++] = c;
    c->waiting++;
}

void sim_cmd_after(sim_cmd_t *c, const sim_after_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        sim_cmd_dep(c, a->refs[i], 0);
    if (a->t > c->t_in)
        c->t_in = a->t;
}

/* c may start as early as k could: it follows what k follows, not k. */
void sim_cmd_early(sim_cmd_t *c, const sim_cmd_t *k)
{
    for (size_t i = 0; i < k->ndeps; i++)
        sim_cmd_dep(c, k->deps[i], 0);
    if (k->t_in > c->t_in)
        c->t_in = k->t_in;
}

/* The legacy stream's implicit synchronisation: a legacy-stream command
 * follows the last command of every blocking stream of its context (and
 * what destroyed ones left queued), a blocking stream's command follows the
 * last legacy one. */
static void cmd_implicit(sim_cmd_t *c, sim_stream_t *s)
{
    sim_ctx_t *ctx = s->obj.ctx;
    if (s->legacy) {
        for (sim_stream_t *b = ctx->streams; b; b = b->next_ctx)
            if (SIM_BLOCKING(b) && b->obj.magic == SIM_MAGIC)
                sim_cmd_after(c, &b->tail);
        sim_cmd_after(c, &ctx->gone);
    } else if (SIM_BLOCKING(s) && ctx->legacy)
        sim_cmd_after(c, &ctx->legacy->tail);
}

/* The dependencies of a command about to be queued on stream s. */
void sim_cmd_entry(sim_cmd_t *c, sim_stream_t *s)
{
    sim_cmd_after(c, &s->tail);
    cmd_implicit(c, s);
}

static void ready_push(sim_cmd_t *c)
{
    ready = sim_grow(ready, &capready, nready + 1, sizeof *ready);
    if (nelig < nready) { /* into the pickable part, moving a passed-over one to the end */
        ready[nready] = ready[nelig];
        ready[nready]->ready_at = nready;
    }
    ready[nelig] = c;
    c->ready_at = nelig;
    nready++;
    nelig++;
}

/* Takes ready[i] out of the ready set: the last pickable one fills its
 * place, the last passed-over one fills that. */
static sim_cmd_t *ready_take(size_t i)
{
    sim_cmd_t *c = ready[i];
    size_t le = nelig - 1, last = nready - 1;
    if (i != le) {
        ready[i] = ready[le];
        ready[i]->ready_at = i;
    }
    if (le != last) {
        ready[le] = ready[last];
        ready[le]->ready_at = le;
    }
    nelig--;
    nready--;
    c->ready_at = NOT_READY;
    return c;
}

/* Passes ready[i] over for the rest of this synchronisation. */
static void ready_defer(size_t i)
{
    sim_cmd_t *c = ready[i];
    size_t le = nelig - 1;
    ready[i] = ready[le];
    ready[i]->ready_at = i;
    ready[le] = c;
    c->ready_at = le;
    nelig--;
}

void sim_cmd_seal(sim_cmd_t *c)
{
    c->t = c->t_in + ((c->flags & CMD_TIMED) ? 1 : 0);
    c->sealed = 1;
    if (c->waiting == 0)
        ready_push(c);
}

/* A queued command that records events (an event record, a kernel with a
 * programmatic or launch completion event) becomes their latest record:
 * later waits and synchronisations on them follow it. */
static void record(sim_cmd_t *c, sim_event_t *e, unsigned long long *gen)
{
    *gen = ++e->recorded;
    e->rec = sim_cmd_ref(c);
    e->t_us = c->t;
}

void sim_cmd_records(sim_cmd_t *c)
{
    if (c->op.kind == SIM_OP_EVENT)
        record(c, c->op.u.e.ev, &c->op.u.e.gen);
    else if (c->op.kind == SIM_OP_KERNEL)
        for (int i = 0; i < 2; i++)
            if (c->op.u.k.ev[i])
                record(c, c->op.u.k.ev[i], &c->op.u.k.evgen[i]);
}

static void complete(sim_cmd_t *c)
{
    for (size_t i = 0; i < c->nsucc; i++)
        if (--c->succ[i]->waiting == 0 && c->succ[i]->sealed)
            ready_push(c->succ[i]);
    if (c->prev)
        c->prev->next = c->next;
    else
        phead = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        ptail = c->prev;
    npending--;
    c->seq = 0;
    sim_op_free(&c->op);
    c->next = pool;
    pool = c;
}

static void exec_cmd(sim_cmd_t *c)
{
    sim_run_op(&c->op, c->ctx, c->ordinal, c->from_graph,
               (c->flags & CMD_PROLOGUE) ? SIM_RUN_PROLOGUE : (c->flags & CMD_BODY) ? SIM_RUN_BODY : 0);
}

/* Runs ready commands until `need` commands of the current epoch have run
 * (need < 0: until nothing is left). Others run with probability
 * extra/100 each time they come up, else wait for a later one. Work of a
 * context that has faulted is dropped, as a GPU context stops at its first
 * fault. */
static void run(long need, unsigned extra)
{
    while (nelig && need != 0) {
        size_t i = fifo ? phead->ready_at : rnd(nelig);
        sim_cmd_t *c = ready[i];
        if (need > 0 && c->mark != epoch && rnd(100) >= extra) {
            ready_defer(i);
            continue;
        }
        ready_take(i);
        if (need > 0 && c->mark == epoch)
            need--;
        if (c->ctx->active && c->ctx->sticky == CUDA_SUCCESS)
            exec_cmd(c);
        complete(c);
    }
    nelig = nready;
}

void sim_flush(void)
{
    run(-1, 100);
}

SIMCUDA_API void simcuda_progress(void)
{
    sim_lock();
    sim_flush();
    sim_unlock();
}

void sim_sched_maybe_flush(void)
{
    if (npending > SIM_QUEUE_MAX)
        sim_flush();
}

/* Marks the pending ancestors of the commands in `sets` (themselves
 * included) with a new epoch; returns how many. */
static long mark_ancestors(const sim_after_t *const *sets, size_t nsets, const sim_ref_t *one)
{
    static sim_cmd_t **stack;
    static size_t capstack;
    size_t top = 0;
    long n = 0;
    epoch++;
    for (size_t s = 0; s <= nsets; s++) {
        const sim_ref_t *refs = s < nsets ? sets[s]->refs : one;
        size_t nr = s < nsets ? sets[s]->n : one != NULL;
        for (size_t i = 0; i < nr; i++)
            if (live(refs[i])) {
                stack = sim_grow(stack, &capstack, top + 1, sizeof *stack);
                stack[top++] = refs[i].c;
            }
    }
    while (top) {
        sim_cmd_t *x = stack[--top];
        if (x->mark == epoch)
            continue;
        x->mark = epoch;
        n++;
        for (size_t i = 0; i < x->ndeps; i++)
            if (live(x->deps[i]) && x->deps[i].c->mark != epoch) {
                stack = sim_grow(stack, &capstack, top + 1, sizeof *stack);
                stack[top++] = x->deps[i].c;
            }
    }
    return n;
}

/* Runs what a synchronisation of the targets needs; how much else runs is
 * drawn per synchronisation (none, a third, two thirds or all of it). */
static void run_for(const sim_after_t *const *sets, size_t nsets, const sim_ref_t *one)
{
    static const unsigned extra[] = { 0, 33, 67, 100 };
    if (fifo) {
        sim_flush();
        return;
    }
    long need = mark_ancestors(sets, nsets, one);
    if (need > 0)
        run(need, extra[rnd(4)]);
}

/* A synchronising call may not run while captures forbid it; on a
 * capturing stream it invalidates the capture. Synchronising the legacy
 * stream also waits for what its next command would wait for. */
CUresult sim_sync_point(sim_ctx_t *ctx, sim_stream_t *s)
{
    CUresult r = s && s->cap ? sim_capture_guard(s) : sim_capture_unsafe();
    if (r != CUDA_SUCCESS)
        return r;
    if (!s) {
        sim_flush();
    } else if (s->legacy) {
        const sim_after_t *sets[64];
        size_t n = 0;
        sets[n++] = &s->tail;
        sets[n++] = &s->obj.ctx->gone;
        for (sim_stream_t *b = s->obj.ctx->streams; b; b = b->next_ctx)
            if (SIM_BLOCKING(b) && b->obj.magic == SIM_MAGIC && b->tail.n) {
                if (n == sizeof sets / sizeof sets[0]) {
                    run_for(sets, n, NULL);
                    n = 0;
                }
                sets[n++] = &b->tail;
            }
        run_for(sets, n, NULL);
    } else {
        const sim_after_t *set = &s->tail;
        run_for(&set, 1, NULL);
    }
    return ctx ? ctx->sticky : CUDA_SUCCESS;
}

CUresult sim_sync_event(sim_event_t *e)
{
    CUresult r = sim_capture_unsafe();
    if (r != CUDA_SUCCESS)
        return r;
    run_for(NULL, 0, &e->rec);
    return e->obj.ctx ? e->obj.ctx->sticky : CUDA_SUCCESS;
}

/* ------------------------------------------------------------- submission */

/* A kernel launched with programmatic stream serialisation right after a
 * kernel K of its stream may start before K completes: it follows what K
 * follows. A kernel that synchronises on its grid dependency (GDS) still
 * follows K, and only its prologue (if it has one) may start early. */
static sim_cmd_t *submit_pdl(sim_stream_t *s, sim_op_t *op, const sim_cmd_t *k)
{
    sim_ctx_t *ctx = s->obj.ctx;
    const sim_kdef_t *kd = op->u.k.kdef;
    sim_cmd_t *pro = NULL;
    if ((kd->flags & SIMCUDA_KERNEL_GDS) && kd->prologue) {
        sim_op_t p;
        if (sim_op_clone(&p, op) == 0) {
            pro = sim_cmd_new(&p, ctx, s->ordinal, 0);
            pro->flags = CMD_PROLOGUE;
            sim_cmd_early(pro, k);
            cmd_implicit(pro, s);
            sim_cmd_seal(pro);
        }
    }
    sim_cmd_t *c = sim_cmd_new(op, ctx, s->ordinal, 0);
    if (kd->flags & SIMCUDA_KERNEL_GDS)
        sim_cmd_entry(c, s);
    else {
        sim_cmd_early(c, k);
        cmd_implicit(c, s);
    }
    if (pro) {
        sim_cmd_dep(c, sim_cmd_ref(pro), 0);
        c->flags |= CMD_BODY;
    }
    return c;
}

/* Takes ownership of *op: queues it, or adds it to the stream's capture. */
CUresult sim_submit(sim_stream_t *s, sim_op_t *op)
{
    sim_ctx_t *ctx = s->obj.ctx;
    CUresult r = ctx->sticky;
    if (r == CUDA_SUCCESS && s->cap)
        return sim_capture_add(s, op);
    if (r == CUDA_SUCCESS && s->legacy)
        r = sim_capture_implicit(ctx);
    if (r != CUDA_SUCCESS) {
        sim_op_free(op);
        return r;
    }
    int kernel = op->kind == SIM_OP_KERNEL;
    sim_cmd_t *c;
    if (kernel && op->u.k.pdl && s->tail_kernel && s->tail.n == 1 && live(s->tail.refs[0]) && !fifo)
        c = submit_pdl(s, op, s->tail.refs[0].c);
    else {
        c = sim_cmd_new(op, ctx, s->ordinal, 0);
        sim_cmd_entry(c, s);
    }
    sim_cmd_seal(c);
    sim_cmd_records(c);
    sim_after_set(&s->tail, &c, 1);
    s->tail_kernel = kernel;
    sim_sched_maybe_flush();
    return CUDA_SUCCESS;
}
