/* ops.c: the engine's entry points for ops: kernel launches, async copies
 * and memsets, and (when the driver has event and host graph nodes) event
 * records, stream waits on events and host functions. Each is recorded into
 * the step of its stream, with a snapshot of its arguments taken at the call
 * (invariant 3), then held (hold.c) or gs_op_forwarded.
 *
 * Ordering across streams: an op on the legacy stream first settles every
 * step held on a stream that synchronises with it, and makes the streams
 * that took part in a graph wait for it; an op on such a stream settles a
 * step held on the legacy stream. Independent streams hold at once.
 *
 * Events: a record of event e inside a step remembers where it is; a wait
 * on e by another stream brings that stream into the step (a fork, or a
 * join back), when it can join; a wait on an event recorded before the step
 * becomes an event wait node. An op that cannot be graphed acts as a
 * barrier of its step.
 */
#include "config.h"
#include "eng.h"

#include <string.h>

#define REAL(type, id) ((type)gs_real_sync(id))

/* The implicit synchronisation of the legacy stream (invariant 1 across
 * streams): what must be issued before an op on stream x goes out. */
static void legacy_rules(gs_stream_t *x)
{
    if (x->legacy) {
        gs_hold_settle_all(x->origin, true, GS_BRK_legacy);
        gs_hold_join_all_pending();
    } else if (x->blocking) {
        gs_stream_t *l = gs_legacy_stream;
        if (l != NULL && l->holding && l != x->origin)
            gs_hold_settle(l, GS_BRK_legacy);
    }
}

/* The stream of an op, with what must happen before any of its work. */
gs_stream_t *gs_op_stream(gs_fn_id_t id, CUstream s)
{
    bool pt;
    gs_eng_call = id;
    uint64_t key = gs_stream_key(id, s, &pt);
    gs_stream_t *x = gs_stream_get(key, pt, s);
    if (x != NULL) {
        legacy_rules(x);
        gs_hold_join_pending(x);
    }
    return x;
}

/* Finds the stream of an op and makes room for a record with `bytes` of
 * data in its step. On GS_REC_OK *out is the record (not yet committed).
 * GS_REC_PASS: forward without recording. GS_REC_BARRIER: the op is a barrier of
 * its step. */
gs_rec_outcome_t gs_op_begin(gs_fn_id_t id, CUstream s, size_t bytes, gs_stream_t **xp,
                              gs_rec_t **out)
{
    gs_stream_t *x = gs_op_stream(id, s);
    *xp = x;
    if (x == NULL)
        return GS_REC_PASS;
    if (bytes > gs_arena_bytes() / 4)
        return GS_REC_BARRIER;
    gs_stream_t *g = x->origin;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t at = (g->used + 7u) & ~(size_t)7u;
        if (g->n < (unsigned)gs_opt.max_ops && at + bytes <= gs_arena_bytes()) {
            gs_rec_t *r = &g->recs[g->n];
            /* Each kind fills its part of the union. */
            r->kind = 0;
            r->nattrs = 0;
            r->flags = 0;
            r->id = (uint16_t)id;
            r->stream = s;
            r->slot = x->slot;
            r->data = (uint32_t)at;
            r->len = (uint32_t)bytes;
            *out = r;
            return GS_REC_OK;
        }
        /* Full without a barrier: what is held goes out, and the run is
         * searched for a period (which also empties the step). */
        if (g->holding)
            gs_hold_settle(g, GS_BRK_full);
        else
            gs_breaker(GS_BRK_full, 0);
        gs_period_detect(g);
        x = *xp; /* the step may have ended: the stream is on its own */
        g = x->origin;
    }
    gs_hold_join_pending(x); /* forwarded after what settling launched */
    return GS_REC_PASS;
}

/* Mixes the record's stream slot into its signature (slot 0 leaves it as
 * it was: single-stream steps keep their signatures). */
static uint64_t slot_sig(uint64_t h, const gs_rec_t *r)
{
    return r->slot ? gs_mix(h, 0x510700ull + r->slot) : h;
}

CUcontext gs_op_current_ctx(void)
{
    CUcontext c = NULL;
    CUresult q = GS_CALL(cuCtxGetCurrent, &c);
    if (q != CUDA_SUCCESS) {
        c = NULL;
        GS_LOG_ONCE(GS_LOG_WARN, "cuCtxGetCurrent failed (CUresult %d); steps that "
                    "begin, or streams that join them, without a known context run "
                    "eagerly", (int)q);
    }
    return c;
}

/* Commits the record at the end of g's step and decides about it. */
bool gs_op_commit(gs_stream_t *g, gs_rec_t *r)
{
    if (g->n == 0)
        g->ctx = gs_op_current_ctx();
    r->sig = slot_sig(r->sig, r);
    g->used = r->data + r->len;
    g->hash_prev = g->hash;
    g->hash = gs_mix(g->hash, r->sig);
    unsigned idx = g->n++;
    g->last = idx;
    GS_TRACE("op %u of the step of stream %#llx: %s on stream %p (slot %u), sig %016llx",
             idx, (unsigned long long)g->key, gs_fn_names[r->id], (void *)r->stream,
             r->slot, (unsigned long long)r->sig);
    return gs_hold_advance(g, idx);
}

uint64_t gs_op_wait_sig(int ref, unsigned pos)
{
    return gs_mix(GS_OP_EVWAIT, ref >= 0 ? (uint64_t)(pos - (unsigned)ref) : 0);
}

uint64_t gs_op_sig_at(const gs_rec_t *r, unsigned pos)
{
    if (r->kind == GS_OP_EVWAIT && r->u.e.ref >= 0)
        return slot_sig(gs_op_wait_sig(r->u.e.ref, pos), r);
    return r->sig;
}

/* The op was forwarded: it is issued; if the driver refused it, it never
 * happened and leaves the step (which can no longer become a template). */
void gs_op_forwarded(gs_stream_t *g, CUresult res)
{
    g->issued = g->n;
    if (res != CUDA_SUCCESS)
        g->tainted = true;
}

/* Settles and closes the step of stream x (an op or call that orders its
 * work and cannot be graphed). Returns whether that cut a step short: it
 * held ops, or had fewer than GRAPHSHIM_MIN_OPS (so it could never be a
 * template). */
bool gs_op_close(gs_stream_t *x, gs_breaker_t why)
{
    gs_stream_t *g = x->origin;
    bool cut = g->holding || (g->n > 0 && g->n < (unsigned)gs_opt.min_ops);
    GS_TRACE("barrier %s on stream %#llx (%s) ends the step of stream %#llx",
             gs_fn_names[gs_eng_call], (unsigned long long)x->key, gs_breaker_name(why),
             (unsigned long long)g->key);
    if (g->holding)
        gs_hold_settle(g, why);
    gs_step_close(g);
    /* Settling may have launched a graph that holds some of x's ops: the
     * call about to be forwarded on x must come after it. */
    gs_hold_join_pending(x);
    return cut;
}

bool gs_op_barrier(gs_fn_id_t id, CUstream s, gs_breaker_t why)
{
    gs_stream_t *x = gs_op_stream(id, s);
    return x != NULL && gs_op_close(x, why);
}

/* ------------------------------------------------------------ kernels */

static uint64_t kernel_sig(gs_fn_id_t id, const gs_func_t *fn, const unsigned block[3],
                           unsigned shmem, const CUlaunchAttribute *attrs, unsigned nattrs)
{
    uint64_t h = gs_mix(GS_OP_KERNEL, (uint64_t)id);
    h = gs_mix(h, (uint64_t)(uintptr_t)fn->key);
    h = gs_mix(h, block[0] | (uint64_t)block[1] << 21 | (uint64_t)block[2] << 42);
    h = gs_mix(h, shmem);
    for (unsigned i = 0; i < nattrs; i++) {
        const unsigned char *b = (const unsigned char *)&attrs[i].value;
        h = gs_mix(h, attrs[i].id);
        for (size_t j = 0; j < gs_attr_bytes(attrs[i].id); j++)
            h = gs_mix(h, b[j]);
    }
    return h;
}

/* Why a launch cannot be graphed (GS_BRK_COUNT: it can), and the detail. */
static gs_breaker_t kernel_graphable(const gs_func_t *fn, const CUlaunchConfig *cfg,
                                     void **params, void **extra, const void **packed,
                                     unsigned *detail, uint8_t *flags)
{
    unsigned nattrs = cfg ? cfg->numAttrs : 0;
    *detail = 0;
    if (fn == NULL || fn->unusable)
        return fn != NULL && fn->denied ? GS_BRK_denied : GS_BRK_layout;
    if (nattrs > GS_MAX_ATTRS)
        return GS_BRK_attribute;
    for (unsigned i = 0; i < nattrs; i++) {
        CUlaunchAttributeID a = cfg->attrs[i].id;
        gs_attr_policy_t p = gs_attr_policy(a);
        if (p == GS_ATTR_BARRIER) {
            *detail = (unsigned)a;
            return GS_BRK_attribute;
        }
        if (a == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION &&
            cfg->attrs[i].value.programmaticStreamSerializationAllowed)
            *flags |= GS_REC_PDL;
    }
    if (params == NULL && extra == NULL && fn->argsize != 0)
        return GS_BRK_args;
    /* `extra` must carry exactly the packed buffer the layout describes. */
    if (params == NULL && extra != NULL) {
        size_t *psize = NULL;
        for (unsigned i = 0; extra[i] != CU_LAUNCH_PARAM_END && i < 16; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                *packed = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
                psize = extra[i + 1];
        }
        if (*packed == NULL || psize == NULL || *psize != fn->argsize)
            return GS_BRK_args;
    }
    return GS_BRK_COUNT;
}

/* Launches are timed as gs_sample says, for the measured costs. */
static unsigned timing_tick;

/* The snapshot of a launch's parameters (invariant 3). */
static inline void copy_params(const gs_func_t *fn, void **params, uint8_t *data)
{
    for (unsigned i = 0; i < fn->nparams; i++) {
        /* Pointers and ints are most parameters: copies of a constant size
         * compile to one load and one store. */
        uint8_t *to = data + fn->off[i];
        switch (fn->size[i]) {
        case 8: memcpy(to, params[i], 8); break;
        case 4: memcpy(to, params[i], 4); break;
        default: memcpy(to, params[i], fn->size[i]); break;
        }
    }
}

/* The kernel's part of a record and its snapshot at data (invariant 3):
 * the parameters (by pointer, or the packed buffer), then the attributes.
 * Both launch paths fill records with it (inline: the fast path is what a
 * held launch costs, and a call of its own made that 5 ns dearer). */
static inline __attribute__((always_inline)) void
fill_kernel(gs_rec_t *r, uint8_t *data, gs_func_t *fn, void **params, const void *packed,
            const CUlaunchConfig *cfg, unsigned nattrs, uint8_t flags, const unsigned grid[3],
            const unsigned block[3], unsigned shmem)
{
    if (params != NULL)
        copy_params(fn, params, data);
    else if (packed != NULL)
        memcpy(data, packed, fn->argsize);
    if (nattrs > 0)
        memcpy(data + gs_attr_offset(fn->argsize), cfg->attrs,
               nattrs * sizeof(CUlaunchAttribute));
    r->kind = GS_OP_KERNEL;
    r->nattrs = (uint8_t)nattrs;
    r->flags = flags;
    r->u.k.fn = fn;
    memcpy(r->u.k.grid, grid, sizeof r->u.k.grid);
    memcpy(r->u.k.block, block, sizeof r->u.k.block);
    r->u.k.shmem = shmem;
}

/* The fast path of a held launch: in a replayed step nearly every launch
 * is held, and its cost is what the shim adds to the program's step (issue
 * 11). The common case is decided here with a fraction of the general
 * path's work: a launch (parameters by pointer, or none; attributes the
 * general path would graph) on the stream of the op before it, whose step
 * (its own, or the one it joined) has one candidate template that this
 * launch neither completes nor finishes a chunk of, on a stream that owes
 * no wait and no legacy-stream ordering. It leaves exactly the state the
 * general path (gs_op_stream, gs_op_begin, gs_op_commit, gs_hold_advance)
 * would; anything else, and any doubt, returns false before it changes
 * anything, and the general path takes the launch. Trace logging takes the
 * general path (it logs every op). */
static inline __attribute__((always_inline)) bool
kernel_held_fast(gs_fn_id_t id, CUfunction f, const unsigned grid[3],
                 const unsigned block[3], unsigned shmem, CUstream s, void **params,
                 void **extra, const CUlaunchConfig *cfg, bool timed)
{
    gs_stream_t *x = gs_last_stream;
    /* The special handles (NULL, legacy, per-thread) have keys of their own. */
    if ((params == NULL && extra != NULL) || (uintptr_t)s <= 2u || x == NULL ||
        x->key != (uint64_t)(uintptr_t)s)
        return false;
    gs_stream_t *g = x->origin;
    if (x->legacy || x->pending != NULL || !g->holding || g->ncand != 1 ||
        gs_opt.mode != GS_MODE_REPLAY || GS_UNLIKELY((int)GS_LOG_TRACE <= (int)gs_opt.log))
        return false;
    if (x->blocking) {
        const gs_stream_t *l = gs_legacy_stream;
        if (l != NULL && l->holding)
            return false;
    }
    gs_func_t *fn = gs_func_cache[gs_func_slot(f)];
    if (fn == NULL || fn->key != (void *)f || fn->unusable)
        return false;
    unsigned nattrs = cfg ? cfg->numAttrs : 0;
    uint8_t flags = 0;
    uint64_t sig;
    if (nattrs == 0) {
        if (fn->sig_id != id || fn->sig_shmem != shmem || fn->sig_block[0] != block[0] ||
            fn->sig_block[1] != block[1] || fn->sig_block[2] != block[2] ||
            (params == NULL && fn->argsize != 0))
            return false;
        sig = fn->sig;
    } else {
        /* Attributes (programmatic dependent launch on every launch of a
         * Hopper engine): the general path's checks and signature. */
        const void *packed = NULL;
        unsigned detail;
        if (params == NULL ||
            kernel_graphable(fn, cfg, params, extra, &packed, &detail, &flags) != GS_BRK_COUNT)
            return false;
        sig = kernel_sig(id, fn, block, shmem, cfg->attrs, nattrs);
    }
    size_t bytes = gs_attr_offset(fn->argsize) + nattrs * sizeof(CUlaunchAttribute);
    size_t at = (g->used + 7u) & ~(size_t)7u;
    if (bytes > GS_ARENA_BYTES / 4 || g->n >= (unsigned)gs_opt.max_ops ||
        at + bytes > GS_ARENA_BYTES)
        return false;
    const gs_template_t *t = g->cand[0];
    unsigned i = g->n - g->match_start, held = i + 1, c = g->chunks_done;
    if (x->slot)
        sig = gs_mix(sig, 0x510700ull + x->slot);
    if (t->len <= held || t->nodes[i].sig != sig ||
        (c + 1 < t->nchunks && held == t->chunks[c].first + t->chunks[c].count))
        return false;
    uint64_t t0 = timed ? gs_clock_ns() : 0;
    gs_eng_call = id;
    gs_rec_t *r = &g->recs[g->n];
    fill_kernel(r, g->arena + at, fn, params, NULL, cfg, nattrs, flags, grid, block, shmem);
    r->sig = sig;
    r->slot = x->slot;
    r->id = (uint16_t)id;
    r->data = (uint32_t)at;
    r->len = (uint32_t)bytes;
    r->stream = s;
    g->used = at + bytes;
    g->hash = gs_mix(g->hash, sig);
    g->n++;
    if (timed)
        gs_diag_hold_ns(gs_clock_ns() - t0);
    return true;
}

/* Common path of both launch entry points. */
static CUresult kernel_op(gs_fn_id_t id, CUfunction f, const unsigned grid[3],
                          const unsigned block[3], unsigned shmem, CUstream s,
                          void **params, void **extra, const CUlaunchConfig *cfg, bool timed)
{
    uint64_t t0 = timed ? gs_clock_ns() : 0, g0 = timed ? gs_diag_graph_total_ns() : 0;
    gs_stream_t *x;
    gs_rec_t *r = NULL;
    gs_func_t *fn = gs_func_get(f);
    unsigned nattrs = cfg ? cfg->numAttrs : 0, detail;
    uint8_t flags = 0;
    const void *packed = NULL;
    gs_breaker_t why = kernel_graphable(fn, cfg, params, extra, &packed, &detail, &flags);
    bool graphable = why == GS_BRK_COUNT;
    size_t bytes = graphable ? gs_attr_offset(fn->argsize) + nattrs * sizeof(CUlaunchAttribute) : 0;
    gs_rec_outcome_t o = gs_op_begin(id, s, bytes, &x, &r);
    if (o == GS_REC_OK && !graphable)
        o = GS_REC_BARRIER;
    if (o == GS_REC_OK) {
        gs_stream_t *g = x->origin;
        fill_kernel(r, g->arena + r->data, fn, params, packed, cfg, nattrs, flags, grid, block,
                    shmem);
        if (nattrs > 0) {
            r->sig = kernel_sig(id, fn, block, shmem, cfg->attrs, nattrs);
        } else {
            /* Most launches of a kernel look alike: the last signature is
             * kept with what it was made of. */
            if (fn->sig_id != id || fn->sig_shmem != shmem ||
                memcmp(fn->sig_block, block, sizeof fn->sig_block) != 0) {
                fn->sig = kernel_sig(id, fn, block, shmem, NULL, 0);
                fn->sig_id = id;
                fn->sig_shmem = shmem;
                memcpy(fn->sig_block, block, sizeof fn->sig_block);
            }
            r->sig = fn->sig;
        }
        if (gs_op_commit(g, r)) {
            if (timed)
                gs_diag_hold_ns(gs_clock_ns() - t0 - (gs_diag_graph_total_ns() - g0));
            return CUDA_SUCCESS;
        }
    } else if (o == GS_REC_BARRIER) {
        gs_op_close(x, graphable ? GS_BRK_args : why);
    }
    /* An op that is not held for its own reasons is counted every time:
     * an attribute by its id, the rest by the call. */
    if (o == GS_REC_BARRIER || !graphable)
        gs_breaker(graphable ? GS_BRK_args : why, why == GS_BRK_attribute ? detail : id);
    if (x != NULL)
        gs_hold_join_pending(x); /* a graph launched just now may hold its ops */
    if (timed)
        t0 = gs_clock_ns();
    CUresult res = cfg ? REAL(launch_ex_fn, id)(cfg, f, params, extra)
                       : REAL(launch_fn, id)(f, grid[0], grid[1], grid[2], block[0],
                                             block[1], block[2], shmem, s, params, extra);
    if (timed)
        gs_diag_eager_ns(gs_clock_ns() - t0);
    if (o == GS_REC_OK)
        gs_op_forwarded(x->origin, res);
    return res;
}

/* ------------------------------------------------------------ entry points */

/* GRAPHSHIM_TEST_SPIN (passthrough only, options say so): a launch made
 * dearer by a known amount, so that how much of a program's wall time
 * follows the cost of its launches can be measured (a program whose launches
 * are off its critical path cannot be sped up by cheaper ones). */
static inline void passthrough_spin(void)
{
    if (GS_LIKELY(gs_opt.test_spin == 0))
        return;
    uint64_t until = gs_clock_ns() + (uint64_t)gs_opt.test_spin;
    while (gs_clock_ns() < until)
        ;
}

/* The engine went off (a capture began, or repeated failures turned it into
 * a pass-through) while steps held ops: they go out before anything else. */
void gs_eng_flush_if_off(void)
{
    if (GS_UNLIKELY(atomic_load_explicit(&gs_holders, memory_order_relaxed) > 0)) {
        gs_eng_enter();
        gs_hold_settle_all(NULL, false, GS_BRK_failed);
        gs_eng_leave();
    }
}

CUresult gs_eng_launch(gs_fn_id_t id, CUfunction f, unsigned gx, unsigned gy,
                       unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream s, void **params, void **extra)
{
    gs_count(GS_CTR_ops, 1);
    gs_count(GS_CTR_launches, 1);
    if (!gs_engine_on()) {
        gs_eng_flush_if_off();
        gs_count(GS_CTR_ops_passed, 1);
        passthrough_spin();
        return REAL(launch_fn, id)(f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
    }
    const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    gs_eng_enter();
    bool timed = gs_sample(&timing_tick);
    CUresult res = CUDA_SUCCESS;
    if (!kernel_held_fast(id, f, grid, block, shmem, s, params, extra, NULL, timed))
        res = kernel_op(id, f, grid, block, shmem, s, params, extra, NULL, timed);
    gs_eng_leave();
    return res;
}

CUresult gs_eng_launch_ex(gs_fn_id_t id, const CUlaunchConfig *cfg, CUfunction f,
                          void **params, void **extra)
{
    gs_count(GS_CTR_ops, 1);
    gs_count(GS_CTR_launches, 1);
    if (!gs_engine_on() || cfg == NULL) {
        gs_eng_flush_if_off();
        gs_count(GS_CTR_ops_passed, 1);
        passthrough_spin();
        return REAL(launch_ex_fn, id)(cfg, f, params, extra);
    }
    const unsigned grid[3] = {cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ};
    const unsigned block[3] = {cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ};
    gs_eng_enter();
    bool timed = gs_sample(&timing_tick);
    CUresult res = CUDA_SUCCESS;
    if (!kernel_held_fast(id, f, grid, block, cfg->sharedMemBytes, cfg->hStream, params, extra,
                          cfg, timed))
        res = kernel_op(id, f, grid, block, cfg->sharedMemBytes, cfg->hStream, params,
                        extra, cfg, timed);
    gs_eng_leave();
    return res;
}

/* ------------------------------------------------------------ copies */

/* Copies and memsets: `kind` as decided by the caller, or -1 for a copy the
 * engine cannot hold (a barrier). */
typedef struct {
    int kind;
    CUdeviceptr dst, src;
    void *hdst;
    const void *hsrc;
    size_t n;
    unsigned value, elsize;
    bool unified;
} copy_in_t;

static uint64_t copy_sig(gs_fn_id_t id, const copy_in_t *c)
{
    uint64_t h = gs_mix((uint64_t)c->kind, id);
    /* Staging is sized at build time, so a host-to-device size is part of
     * the signature; other sizes are patched. */
    if (c->kind == GS_OP_HTOD)
        h = gs_mix(h, c->n);
    return gs_mix(h, c->elsize);
}

/* Records and decides a copy; *forward says whether the caller must issue
 * it, and *gp is the step to tell (NULL: none). */
static void copy_op(gs_fn_id_t id, CUstream s, const copy_in_t *c, bool *forward,
                    gs_stream_t **gp, gs_stream_t **xp)
{
    gs_stream_t *x;
    gs_rec_t *r = NULL;
    size_t bytes = c->kind == GS_OP_HTOD ? c->n : 0;
    gs_rec_outcome_t o = gs_op_begin(id, s, bytes, &x, &r);
    *forward = true;
    *gp = NULL;
    *xp = x;
    if (o == GS_REC_OK && (c->kind < 0 || c->n == 0))
        o = GS_REC_BARRIER;
    if (o == GS_REC_BARRIER) {
        gs_op_close(x, GS_BRK_pageable);
        gs_breaker(GS_BRK_pageable, id);
        return;
    }
    if (o == GS_REC_PASS)
        return;
    gs_stream_t *g = x->origin;
    r->kind = (uint8_t)c->kind;
    if (c->kind == GS_OP_MEMSET) {
        r->u.m.dst = c->dst;
        r->u.m.value = c->value;
        r->u.m.elsize = c->elsize;
        r->u.m.n = c->n;
    } else {
        r->u.c.dst = c->dst;
        r->u.c.src = c->src;
        r->u.c.hdst = c->hdst;
        r->u.c.n = c->n;
        r->u.c.unified = c->unified;
        if (c->kind == GS_OP_HTOD)
            memcpy(g->arena + r->data, c->hsrc, c->n);
    }
    r->sig = copy_sig(id, c);
    *forward = !gs_op_commit(g, r);
    *gp = *forward ? g : NULL;
}

/* A copy or memset through the engine: COPY_BEGIN(original call), then the
 * description `cin` (made under the lock: it may ask about pointers), then
 * COPY_END(id, stream, original call). */
#define COPY_BEGIN(fwd)                                                      \
    gs_count(GS_CTR_ops, 1);                                                 \
    if (!gs_engine_on()) {                                                   \
        gs_eng_flush_if_off();                                                      \
        gs_count(GS_CTR_ops_passed, 1);                                      \
        return (fwd);                                                        \
    }                                                                        \
    gs_eng_enter()
#define COPY_END(id, s, fwd)                                                 \
    bool forward_;                                                           \
    gs_stream_t *g_, *x_;                                                    \
    CUresult res_ = CUDA_SUCCESS;                                            \
    copy_op(id, s, &cin, &forward_, &g_, &x_);                               \
    if (forward_) {                                                          \
        if (x_ != NULL)                                                      \
            gs_hold_join_pending(x_);                                        \
        res_ = (fwd);                                                        \
        if (g_ != NULL)                                                      \
            gs_op_forwarded(g_, res_);                                             \
    }                                                                        \
    gs_eng_leave();                                                          \
    return res_

CUresult gs_eng_htod(gs_fn_id_t id, CUdeviceptr dst, const void *src, size_t n,
                     CUstream s)
{
    COPY_BEGIN(REAL(htod_fn, id)(dst, src, n, s));
    copy_in_t cin = {.kind = n <= gs_opt.staging_max ? GS_OP_HTOD : -1, .dst = dst,
                     .hsrc = src, .n = n};
    COPY_END(id, s, REAL(htod_fn, id)(dst, src, n, s));
}

CUresult gs_eng_dtoh(gs_fn_id_t id, void *dst, CUdeviceptr src, size_t n, CUstream s)
{
    COPY_BEGIN(REAL(dtoh_fn, id)(dst, src, n, s));
    /* Into pageable memory the copy completes before the call returns: the
     * program may read it at once, so it cannot be held. */
    copy_in_t cin = {.kind = gs_ptr_kind(dst) == 2 ? GS_OP_DTOH : -1, .src = src,
                     .hdst = dst, .n = n};
    COPY_END(id, s, REAL(dtoh_fn, id)(dst, src, n, s));
}

CUresult gs_eng_dtod(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s)
{
    COPY_BEGIN(REAL(dtod_fn, id)(dst, src, n, s));
    copy_in_t cin = {.kind = GS_OP_DTOD, .dst = dst, .src = src, .n = n};
    COPY_END(id, s, REAL(dtod_fn, id)(dst, src, n, s));
}

/* cuMemcpyAsync: unified addressing, the direction comes from the pointers. */
static copy_in_t classify_copy(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
    int kd = gs_ptr_kind((const void *)(uintptr_t)dst);
    int ks = gs_ptr_kind((const void *)(uintptr_t)src);
    copy_in_t c = {.kind = -1, .dst = dst, .src = src, .n = n, .unified = true};
    if (kd == 1 && ks == 1)
        c.kind = GS_OP_DTOD;
    else if (kd == 1 && (ks == 0 || ks == 2) && n <= gs_opt.staging_max) {
        c.kind = GS_OP_HTOD;
        c.hsrc = (const void *)(uintptr_t)src;
    } else if (kd == 2 && ks == 1) {
        c.kind = GS_OP_DTOH;
        c.hdst = (void *)(uintptr_t)dst;
    }
    return c;
}

CUresult gs_eng_copy(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s)
{
    COPY_BEGIN(REAL(dtod_fn, id)(dst, src, n, s));
    copy_in_t cin = classify_copy(dst, src, n);
    COPY_END(id, s, REAL(dtod_fn, id)(dst, src, n, s));
}

static copy_in_t memset_in(CUdeviceptr dst, unsigned v, unsigned elsize, size_t n)
{
    copy_in_t c = {.kind = GS_OP_MEMSET, .dst = dst, .value = v, .elsize = elsize, .n = n};
    return c;
}

CUresult gs_eng_memset8(gs_fn_id_t id, CUdeviceptr dst, unsigned char v, size_t n,
                        CUstream s)
{
    COPY_BEGIN(REAL(memset8_fn, id)(dst, v, n, s));
    copy_in_t cin = memset_in(dst, v, 1, n);
    COPY_END(id, s, REAL(memset8_fn, id)(dst, v, n, s));
}

CUresult gs_eng_memset16(gs_fn_id_t id, CUdeviceptr dst, unsigned short v, size_t n,
                         CUstream s)
{
    COPY_BEGIN(REAL(memset16_fn, id)(dst, v, n, s));
    copy_in_t cin = memset_in(dst, v, 2, n);
    COPY_END(id, s, REAL(memset16_fn, id)(dst, v, n, s));
}

CUresult gs_eng_memset32(gs_fn_id_t id, CUdeviceptr dst, unsigned int v, size_t n,
                         CUstream s)
{
    COPY_BEGIN(REAL(memset32_fn, id)(dst, v, n, s));
    copy_in_t cin = memset_in(dst, v, 4, n);
    COPY_END(id, s, REAL(memset32_fn, id)(dst, v, n, s));
}
