/* engine.c: the state machine of DESIGN.md section 3, per stream.
 *
 * Learn: every op is recorded (arguments snapshotted at the call) and
 * forwarded. Armed: at the start of a step, an op that matches the first
 * node of a template of its stream starts a match. Hold: ops that go on
 * matching are recorded and held, not issued; when the last node of a
 * template matches (and no longer template still matches) the nodes that
 * differ are patched and the graph is launched in their place. An op that
 * matches no template, a barrier in the middle, or an op on another stream
 * issues the held ops eagerly, in their original order, and counts a
 * divergence by reason.
 *
 * Ordering rules that keep results identical (invariants 1 and 2): at most
 * one stream holds ops at a time; an op on any other stream, and every
 * barrier, first issues (or completes) what is held; held ops are issued in
 * the order they were made, on the stream and through the entry point they
 * came by. So the driver sees the program's calls in the program's order,
 * some of them merged into a graph launch at the position of the last one.
 *
 * While the program captures a graph of its own the engine stands aside;
 * after repeated graph failures it turns itself into a pass-through.
 */
#include "config.h"
#include "eng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GS_MAX_FAILURES 8

pthread_mutex_t gs_eng_lock = PTHREAD_MUTEX_INITIALIZER;
bool gs_eng_disabled;
unsigned gs_frees; /* under gs_eng_lock */
static atomic_int captures;  /* program captures in progress */
static gs_stream_t *holder;  /* the one stream holding ops, if any */
static unsigned failures;

#define REAL(type, id) ((type)gs_real_fn[id])


/* ------------------------------------------------------------ set-up */

/* GRAPHSHIM_TEST_FAIL=name@nth[xcount],...: the nth call (1-based) of the
 * named driver function the engine makes, and the count-1 after it (count
 * 0: all later ones), fail with CUDA_ERROR_UNKNOWN. For tests only. */
unsigned gs_test_rules;
static struct {
    int id;
    unsigned nth, count;
} test_rule[16];
static unsigned test_calls[GS_FN_COUNT];

static bool parse_test_fail(const char *spec)
{
    char buf[sizeof gs_opt.test_fail];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        char *at = strchr(tok, '@'), *end;
        unsigned nth = 1, count = 1;
        if (at != NULL) {
            *at = '\0';
            nth = (unsigned)strtoul(at + 1, &end, 10);
            if (*end == 'x')
                count = (unsigned)strtoul(end + 1, &end, 10);
            if (*end != '\0' || nth == 0)
                return false;
        }
        int id = -1;
        for (int i = 0; i < GS_FN_COUNT && id < 0; i++)
            if (strcmp(gs_fn_names[i], tok) == 0)
                id = i;
        if (id < 0 || gs_test_rules == 16)
            return false;
        test_rule[gs_test_rules].id = id;
        test_rule[gs_test_rules].nth = nth;
        test_rule[gs_test_rules].count = count;
        gs_test_rules++;
    }
    return true;
}

bool gs_test_fail_hit(gs_fn_id_t id)
{
    unsigned n = ++test_calls[id];
    for (unsigned i = 0; i < gs_test_rules; i++)
        if (test_rule[i].id == (int)id && n >= test_rule[i].nth &&
            (test_rule[i].count == 0 || n < test_rule[i].nth + test_rule[i].count))
            return true;
    return false;
}

void gs_eng_setup(void)
{
    gs_deny_init();
    if (gs_opt.test_fail[0] != '\0' && !parse_test_fail(gs_opt.test_fail)) {
        gs_test_rules = 0;
        GS_WARN("environment option GRAPHSHIM_TEST_FAIL has an invalid value \"%s\"; it "
                "accepts name@nth[xcount],... naming driver functions the shim calls; "
                "ignored", gs_opt.test_fail);
    }
    if (gs_opt.mode == GS_MODE_REPLAY && !gs_graph_available())
        gs_eng_disabled = true;
}

static inline bool engine_on(void)
{
    return gs_opt.mode != GS_MODE_PASSTHROUGH && !gs_eng_disabled &&
           atomic_load_explicit(&captures, memory_order_relaxed) == 0 && !gs_inert;
}

void gs_eng_failure(gs_counter_t reason, const char *what, CUresult r)
{
    static const char *logged[32];
    static unsigned nlogged;
    bool seen = false;
    gs_count(reason, 1);
    for (unsigned i = 0; i < nlogged; i++)
        seen |= logged[i] == what;
    if (!seen && nlogged < 32) {
        logged[nlogged++] = what;
        GS_WARN("%s failed (CUresult %d); that step runs eagerly from now on",
                what, (int)r);
    }
    if (++failures == GS_MAX_FAILURES) {
        gs_eng_disabled = true;
        GS_WARN("%d graph failures: graphshim turns itself into a pass-through "
                "for the rest of this process", GS_MAX_FAILURES);
    }
}

/* ------------------------------------------------------------ holding */

static void stop_holding(gs_stream_t *st)
{
    st->holding = false;
    st->ncand = 0;
    st->complete = NULL;
    st->chunks_done = 0;
    if (holder == st)
        holder = NULL;
}

/* Issues the held records [issued, end) one by one, in order, counting
 * `reason` (GS_CTR_COUNT: already counted). */
static void issue_held(gs_stream_t *st, unsigned end, gs_counter_t reason)
{
    if (st->issued < end && reason != GS_CTR_COUNT)
        gs_count(reason, 1);
    for (unsigned i = st->issued; i < end; i++) {
        CUresult r = gs_issue(&st->recs[i], st->arena);
        if (r != CUDA_SUCCESS)
            GS_DEBUG("eager issue of a held %s returned %d", gs_fn_names[st->recs[i].id],
                     (int)r);
    }
    st->issued = end;
}

/* Launches chunk c of t for the held records from match_start; on failure
 * what is held goes out eagerly (up to `upto`) and holding stops. */
static bool launch_chunk(gs_stream_t *st, gs_template_t *t, unsigned c, unsigned upto)
{
    bool busy = false;
    if (gs_graph_launch_chunk(t, c, &st->recs[st->match_start], st->arena, st->handle,
                              &busy)) {
        st->issued = st->match_start + t->chunks[c].first + t->chunks[c].count;
        st->chunks_done = c + 1;
        /* A shorter template that was whole is out of the question now: its
         * ops went out in this chunk. */
        st->complete = NULL;
        return true;
    }
    /* A failure was counted and logged where it happened. */
    issue_held(st, upto, busy ? GS_CTR_div_staging : GS_CTR_COUNT);
    return false;
}

/* Launches what remains of t, which the held records match whole; on
 * failure they go out eagerly. Either way they are issued afterwards. */
static void launch(gs_stream_t *st, gs_template_t *t)
{
    unsigned end = st->match_start + t->len;
    bool ok = true;
    for (unsigned c = st->chunks_done; ok && c < t->nchunks; c++)
        ok = launch_chunk(st, t, c, end);
    if (ok)
        gs_template_touch(t);
    stop_holding(st);
    st->match_start = end;
    /* A periodic stream has no barrier to end its step: drop what is done. */
    if (st->period > 0 && st->issued == st->n)
        gs_step_reset(st);
}

/* Completes or releases what `st` holds, before a barrier or another
 * stream's op: a held sequence that is a whole template is launched. */
static void settle(gs_stream_t *st, gs_counter_t reason)
{
    if (!st->holding)
        return;
    unsigned held = st->n - st->match_start;
    for (unsigned i = 0; i < st->ncand; i++)
        if (st->cand[i]->len == held) {
            launch(st, st->cand[i]);
            return;
        }
    /* A divergence, even when chunks already took every held op. */
    gs_count(reason, 1);
    issue_held(st, st->n, GS_CTR_COUNT);
    stop_holding(st);
}

static void settle_holder(gs_stream_t *except, gs_counter_t reason)
{
    if (holder != NULL && holder != except)
        settle(holder, reason);
}

static bool can_hold(const gs_stream_t *st)
{
    return gs_opt.mode == GS_MODE_REPLAY && !st->per_thread;
}

/* Decides about the op just recorded at idx: true if it is held (or was
 * launched as part of a graph), false if the caller must forward it. */
static bool advance(gs_stream_t *st, unsigned idx)
{
    const gs_rec_t *r = &st->recs[idx];
    if (!can_hold(st))
        return false;
    if (!st->holding) {
        if (idx != st->match_start)
            return false;
        st->ncand = gs_templates_starting(st, r->sig, st->cand, GS_MAX_CAND);
        if (st->ncand == 0)
            return false;
        st->holding = true;
        st->complete = NULL;
        holder = st;
    } else {
        unsigned i = idx - st->match_start, k = 0;
        for (unsigned c = 0; c < st->ncand; c++)
            if (st->cand[c]->len > i && st->cand[c]->nodes[i].sig == r->sig)
                st->cand[k++] = st->cand[c];
        if (k == 0) {
            if (st->complete != NULL) {
                /* A shorter template was whole before this op: launch it;
                 * what only the longer ones matched goes out eagerly; then
                 * this op may begin the next match. */
                launch(st, st->complete);
                if (st->issued < idx)
                    issue_held(st, idx, GS_CTR_div_mismatch);
                st->match_start = idx;
                return advance(st, idx);
            }
            /* Counted even when chunks already took every held op. */
            gs_count(GS_CTR_div_mismatch, 1);
            issue_held(st, idx, GS_CTR_COUNT);
            stop_holding(st);
            if (st->period > 0)
                st->period = 0; /* the loop changed: learn it again */
            return false;
        }
        st->ncand = k;
    }
    unsigned held = idx - st->match_start + 1;
    gs_template_t *whole = NULL;
    bool longer = false;
    for (unsigned c = 0; c < st->ncand; c++) {
        if (st->cand[c]->len == held)
            whole = st->cand[c];
        else
            longer = true;
    }
    if (whole != NULL && !longer) {
        launch(st, whole);
    } else if (whole != NULL) {
        st->complete = whole;
    } else if (st->ncand == 1) {
        /* One template left and a chunk of it whole: send it now, so the GPU
         * works while the program issues the rest of the step. */
        gs_template_t *t = st->cand[0];
        unsigned c = st->chunks_done;
        if (c + 1 < t->nchunks && held == t->chunks[c].first + t->chunks[c].count &&
            !launch_chunk(st, t, c, st->n))
            stop_holding(st);
    }
    return true;
}

/* ------------------------------------------------------------ recording */

typedef enum { REC_OK, REC_PASS, REC_BARRIER } rec_outcome_t;

/* Finds the stream of an op, settles another stream's held ops, and makes
 * room for a record with `bytes` of data. On REC_OK *out is the record (not
 * yet committed). REC_PASS: forward without recording. REC_BARRIER: treat the
 * op as a barrier of its stream. */
static rec_outcome_t begin_op(gs_fn_id_t id, CUstream s, size_t bytes,
                              gs_stream_t **stp, gs_rec_t **out)
{
    bool pt;
    uint64_t key = gs_stream_key(id, s, &pt);
    gs_stream_t *st = gs_stream_get(key, pt, s);
    *stp = st;
    settle_holder(st, GS_CTR_div_stream);
    /* A per-thread default stream can be named only by its own thread, but
     * another thread's barrier may need what it holds issued: such ops are
     * forwarded as they come (after what others hold). */
    if (st == NULL || pt)
        return REC_PASS;
    if (bytes > gs_arena_bytes() / 4)
        return REC_BARRIER;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t at = (st->used + 7u) & ~(size_t)7u;
        if (st->n < (unsigned)gs_opt.max_ops && at + bytes <= gs_arena_bytes()) {
            gs_rec_t *r = &st->recs[st->n];
            memset(r, 0, sizeof *r);
            r->id = (uint16_t)id;
            r->stream = s;
            r->data = (uint32_t)at;
            r->len = (uint32_t)bytes;
            *out = r;
            return REC_OK;
        }
        /* Full without a barrier: what is held goes out, and the run is
         * searched for a period (which also empties the step). */
        if (st->holding) {
            issue_held(st, st->n, GS_CTR_div_full);
            stop_holding(st);
        }
        gs_period_detect(st);
    }
    return REC_PASS;
}

/* Commits the record at st->n and decides about it. */
static bool commit_op(gs_stream_t *st, gs_rec_t *r)
{
    if (st->n == 0) {
        CUresult q = GS_CALL(cuCtxGetCurrent, &st->ctx);
        if (q != CUDA_SUCCESS) {
            st->ctx = NULL;
            GS_LOG_ONCE(GS_LOG_WARN, "cuCtxGetCurrent failed (CUresult %d); steps that "
                        "begin without a known context run eagerly", (int)q);
        }
    }
    st->used = r->data + r->len;
    st->hash = gs_mix(st->hash, r->sig);
    unsigned idx = st->n++;
    return advance(st, idx);
}

/* The op was forwarded: it is issued; if the driver refused it, it never
 * happened and leaves the step (which can no longer become a template). */
static void forwarded(gs_stream_t *st, CUresult res)
{
    st->issued = st->n;
    if (res != CUDA_SUCCESS)
        st->tainted = true;
}

/* An op that cannot be graphed acts as a barrier of its stream. */
static void op_barrier(gs_stream_t *st)
{
    settle_holder(NULL, GS_CTR_div_barrier);
    if (st != NULL)
        gs_step_close(st);
}

/* Attributes that kernel nodes take as node attributes, and how many bytes
 * of the value union each one means (the rest may be whatever the program's
 * stack held, so it must not reach the signature). Others (programmatic
 * dependent launch, completion events, ...) make the launch a barrier. */
static size_t attr_bytes(CUlaunchAttributeID id)
{
    CUlaunchAttributeValue v;
    switch (id) {
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
        return sizeof v.accessPolicyWindow;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        return sizeof v.clusterDim;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        return sizeof v.clusterSchedulingPolicyPreference;
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
        return sizeof v.priority;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        return sizeof v.memSyncDomainMap;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
        return sizeof v.memSyncDomain;
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        return sizeof v.sharedMemCarveout;
    default:
        return 0;
    }
}

static bool attr_graphable(CUlaunchAttributeID id) { return attr_bytes(id) > 0; }

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
        for (size_t j = 0; j < attr_bytes(attrs[i].id); j++)
            h = gs_mix(h, b[j]);
    }
    return h;
}

/* Common path of both launch entry points. */
static CUresult kernel_op(gs_fn_id_t id, CUfunction f, const unsigned grid[3],
                          const unsigned block[3], unsigned shmem, CUstream s,
                          void **params, void **extra, const CUlaunchConfig *cfg)
{
    gs_stream_t *st;
    gs_rec_t *r = NULL;
    gs_func_t *fn = gs_func_get(f);
    unsigned nattrs = cfg ? cfg->numAttrs : 0;
    bool graphable = fn != NULL && !fn->unusable && nattrs <= GS_MAX_ATTRS &&
                     (params != NULL || extra != NULL || fn->argsize == 0);
    for (unsigned i = 0; graphable && i < nattrs; i++)
        graphable = attr_graphable(cfg->attrs[i].id);
    /* `extra` must carry exactly the packed buffer the layout describes. */
    const void *packed = NULL;
    if (graphable && params == NULL && extra != NULL) {
        size_t *psize = NULL;
        for (unsigned i = 0; extra[i] != CU_LAUNCH_PARAM_END && i < 16; i += 2) {
            if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                packed = extra[i + 1];
            else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
                psize = extra[i + 1];
        }
        graphable = packed != NULL && psize != NULL && *psize == fn->argsize;
    }
    size_t bytes = graphable ? gs_attr_offset(fn->argsize) + nattrs * sizeof(CUlaunchAttribute) : 0;
    rec_outcome_t o = begin_op(id, s, bytes, &st, &r);
    if (o == REC_OK && !graphable)
        o = REC_BARRIER;
    if (o == REC_OK) {
        uint8_t *data = st->arena + r->data;
        if (params != NULL)
            for (unsigned i = 0; i < fn->nparams; i++)
                memcpy(data + fn->off[i], params[i], fn->size[i]);
        else if (packed != NULL)
            memcpy(data, packed, fn->argsize);
        if (nattrs > 0)
            memcpy(data + gs_attr_offset(fn->argsize), cfg->attrs,
                   nattrs * sizeof(CUlaunchAttribute));
        r->kind = GS_OP_KERNEL;
        r->nattrs = (uint8_t)nattrs;
        r->u.k.fn = fn;
        memcpy(r->u.k.grid, grid, sizeof r->u.k.grid);
        memcpy(r->u.k.block, block, sizeof r->u.k.block);
        r->u.k.shmem = shmem;
        r->sig = kernel_sig(id, fn, block, shmem, nattrs ? cfg->attrs : NULL, nattrs);
        if (commit_op(st, r))
            return CUDA_SUCCESS;
    } else if (o == REC_BARRIER) {
        op_barrier(st);
    }
    CUresult res = cfg ? REAL(launch_ex_fn, id)(cfg, f, params, extra)
                       : REAL(launch_fn, id)(f, grid[0], grid[1], grid[2], block[0],
                                             block[1], block[2], shmem, s, params, extra);
    if (o == REC_OK)
        forwarded(st, res);
    return res;
}

/* ------------------------------------------------------------ entry points */

#define LOCKED(expr)                                                         \
    do {                                                                     \
        pthread_mutex_lock(&gs_eng_lock);                                    \
        CUresult res_ = (expr);                                              \
        pthread_mutex_unlock(&gs_eng_lock);                                  \
        return res_;                                                         \
    } while (0)

CUresult gs_eng_launch(gs_fn_id_t id, CUfunction f, unsigned gx, unsigned gy,
                       unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream s, void **params, void **extra)
{
    gs_count(GS_CTR_ops, 1);
    gs_count(GS_CTR_launches, 1);
    if (!engine_on()) {
        gs_count(GS_CTR_ops_passed, 1);
        return REAL(launch_fn, id)(f, gx, gy, gz, bx, by, bz, shmem, s, params, extra);
    }
    const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
    LOCKED(kernel_op(id, f, grid, block, shmem, s, params, extra, NULL));
}

CUresult gs_eng_launch_ex(gs_fn_id_t id, const CUlaunchConfig *cfg, CUfunction f,
                          void **params, void **extra)
{
    gs_count(GS_CTR_ops, 1);
    gs_count(GS_CTR_launches, 1);
    if (!engine_on() || cfg == NULL) {
        gs_count(GS_CTR_ops_passed, 1);
        return REAL(launch_ex_fn, id)(cfg, f, params, extra);
    }
    const unsigned grid[3] = {cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ};
    const unsigned block[3] = {cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ};
    LOCKED(kernel_op(id, f, grid, block, cfg->sharedMemBytes, cfg->hStream, params,
                     extra, cfg));
}

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

static CUresult copy_op(gs_fn_id_t id, CUstream s, const copy_in_t *c, bool *forward,
                        gs_stream_t **stp)
{
    gs_rec_t *r = NULL;
    size_t bytes = c->kind == GS_OP_HTOD ? c->n : 0;
    rec_outcome_t o = begin_op(id, s, bytes, stp, &r);
    *forward = true;
    if (o == REC_OK && (c->kind < 0 || c->n == 0))
        o = REC_BARRIER;
    if (o == REC_BARRIER) {
        op_barrier(*stp);
        *stp = NULL;
        return CUDA_SUCCESS;
    }
    if (o == REC_PASS) {
        *stp = NULL;
        return CUDA_SUCCESS;
    }
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
            memcpy((*stp)->arena + r->data, c->hsrc, c->n);
    }
    r->sig = copy_sig(id, c);
    *forward = !commit_op(*stp, r);
    return CUDA_SUCCESS;
}

/* A copy or memset through the engine: COPY_BEGIN(original call), then the
 * description `cin` (made under the lock: it may ask about pointers), then
 * COPY_END(id, stream, original call). */
#define COPY_BEGIN(fwd)                                                      \
    gs_count(GS_CTR_ops, 1);                                                 \
    if (!engine_on()) {                                                      \
        gs_count(GS_CTR_ops_passed, 1);                                      \
        return (fwd);                                                        \
    }                                                                        \
    pthread_mutex_lock(&gs_eng_lock)
#define COPY_END(id, s, fwd)                                                 \
    bool forward_;                                                           \
    gs_stream_t *st_;                                                        \
    CUresult res_ = copy_op(id, s, &cin, &forward_, &st_);                   \
    if (forward_) {                                                          \
        res_ = (fwd);                                                        \
        if (st_ != NULL)                                                     \
            forwarded(st_, res_);                                            \
    }                                                                        \
    pthread_mutex_unlock(&gs_eng_lock);                                      \
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

/* ------------------------------------------------------------ barriers */

/* Whether call `id` frees, unmaps or unregisters memory (see gs_frees). */
static bool frees_memory(gs_fn_id_t id)
{
    switch (id) {
    case GS_ID_cuMemFree: case GS_ID_cuMemFree_v2: case GS_ID_cuMemFreeHost:
    case GS_ID_cuMemFreeAsync: case GS_ID_cuMemFreeAsync_ptsz:
    case GS_ID_cuMemHostUnregister: case GS_ID_cuMemUnmap: case GS_ID_cuMemRelease:
    case GS_ID_cuMemAddressFree: case GS_ID_cuMemPoolTrimTo: case GS_ID_cuMemPoolDestroy:
        return true;
    default:
        return false;
    }
}

void gs_eng_barrier_stream(gs_fn_id_t id, CUstream s)
{
    gs_count(GS_CTR_barriers, 1);
    if (!engine_on())
        return;
    pthread_mutex_lock(&gs_eng_lock);
    settle_holder(NULL, GS_CTR_div_barrier);
    gs_frees += frees_memory(id);
    bool pt;
    gs_stream_t *st = gs_stream_find(gs_stream_key(id, s, &pt));
    if (st != NULL)
        gs_step_close(st);
    pthread_mutex_unlock(&gs_eng_lock);
}

static void close_step(gs_stream_t *st) { gs_step_close(st); }

static void forget_stream(gs_stream_t *st)
{
    gs_step_close(st);
    gs_streams_reset(st->key);
}

void gs_eng_barrier_all(gs_fn_id_t id)
{
    gs_count(GS_CTR_barriers, 1);
    if (!engine_on())
        return;
    pthread_mutex_lock(&gs_eng_lock);
    settle_holder(NULL, GS_CTR_div_barrier);
    gs_frees += frees_memory(id);
    gs_for_each_stream(close_step);
    if (id == GS_ID_cuModuleUnload || id == GS_ID_cuLibraryUnload) {
        /* Kernels of the module die with it, and a later module may reuse
         * their handles: every template, record and layout goes. */
        gs_templates_release_all();
        gs_for_each_stream(forget_stream);
        gs_func_cache_clear();
    }
    /* Frees and unregistrations end what the pointer cache knows. */
    gs_ptr_cache_clear();
    pthread_mutex_unlock(&gs_eng_lock);
}

void gs_eng_after_barrier(gs_fn_id_t id, CUstream s, CUresult res)
{
    switch (id) {
    case GS_ID_cuStreamBeginCapture:
    case GS_ID_cuStreamBeginCapture_ptsz:
    case GS_ID_cuStreamBeginCapture_v2:
    case GS_ID_cuStreamBeginCapture_v2_ptsz:
    case GS_ID_cuStreamBeginCaptureToGraph:
    case GS_ID_cuStreamBeginCaptureToGraph_ptsz:
        /* The program builds a graph of its own: stand aside until it ends
         * (invariant 5). Everything held was issued before the call. */
        if (res == CUDA_SUCCESS)
            atomic_fetch_add(&captures, 1);
        break;
    case GS_ID_cuStreamEndCapture:
    case GS_ID_cuStreamEndCapture_ptsz:
        if ((res == CUDA_SUCCESS || res == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) &&
            atomic_load(&captures) > 0)
            atomic_fetch_sub(&captures, 1);
        break;
    case GS_ID_cuStreamDestroy:
    case GS_ID_cuStreamDestroy_v2:
        if (res == CUDA_SUCCESS && gs_opt.mode != GS_MODE_PASSTHROUGH) {
            bool pt;
            pthread_mutex_lock(&gs_eng_lock);
            gs_streams_reset(gs_stream_key(id, s, &pt));
            pthread_mutex_unlock(&gs_eng_lock);
        }
        break;
    default:
        break;
    }
}

void gs_eng_atfork_child(void)
{
    /* The child has one thread and none of the parent's GPU work. */
    pthread_mutex_init(&gs_eng_lock, NULL);
    holder = NULL;
}
