/* fuzz_ext.c: what the extended generator of the differential fuzzer adds
 * to each classic program (prog_fuzz.c), all of it drawn from a second
 * generator seeded by the program's seed, so that the classic part of the
 * program stays what it was:
 *
 * - programmatic dependent launch: kernels launched with
 *   PROGRAMMATIC_STREAM_SERIALIZATION = 1, always the _gds twins (which
 *   synchronise on their grid dependency), so the program stays race-free;
 *   consecutive ones make chains;
 * - launch attributes: priority, cluster dimension, access policy window,
 *   memory sync domain and map, IGNORE entries, cooperative, shared memory
 *   carveout, cluster scheduling policy, and now and then a programmatic or
 *   launch completion event (synchronised on, never waited on by another
 *   stream: neither promises the kernel's writes are visible);
 * - per-thread default streams: the main stream may be the per-thread one,
 *   each op naming it as 0 through a _ptsz entry point or as
 *   CU_STREAM_PER_THREAD; a second thread may run steps of its own on its
 *   per-thread stream, on buffers of its own, meeting the main thread only
 *   through context-wide synchronisations and the legacy stream;
 * - work forked to up to three other streams inside a step (event record
 *   on the main stream, wait on the other, work there, record there, wait
 *   on the main stream), with events from a pool (a different one each
 *   time), some forks joined only at the next step's start by waiting on an
 *   event recorded in the step before; host functions (cuLaunchHostFunc)
 *   that update host state the program folds in after the sync; timing
 *   events around the step (on simcuda the elapsed virtual time is part of
 *   the result, on a GPU it must only be a success and not negative);
 *   now and then the host waits for a host function's callback, polling
 *   the state it updates with no driver call (as JAX waits for every value
 *   it reads back): drawn from a third generator, so the calls a program
 *   makes are what they were.
 *
 * Race-freedom: while work is forked to a lane (a stream other than the
 * main one), the lane owns some of the buffers; every op, on whichever
 * stream, maps its buffer indices to the buffers its lane owns (fx_own).
 * A lane has its own counter and part of pinned_dst and reads no
 * page-locked source.
 *
 * With --torchlike the main stream is the legacy stream and forks and joins
 * now and then use an event made for the occasion and destroyed after the
 * wait, as PyTorch's wait_stream does. With --swaps two adjacent ops now
 * and then come the other way round in a repetition (fx_swap). */
#include "fuzz.h"

#include "ck.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 8
#define NEVER 1000u /* a fork that is joined only at the next step */

typedef struct {
    int lane;
    unsigned fork, join, take, nside;
    op_t side[3];
    bool active; /* forked in this repetition */
} window_t;

typedef struct {
    unsigned long long n, mix;
} host_state_t;

static fz_rng_t r2, r3; /* r3: only when the host waits for a callback */
static CUcontext ctx;
static bool enabled, pt_main, timing, worker_on;
static bool exact_time; /* FUZZ_EXACT_TIME=1: fold simcuda's elapsed times */
static unsigned p_pdl, p_attr;
static CUstream lanes[LANES];
static CUevent pool[POOL], tstart, tend, pe_ev;
static unsigned next_ev;
static int owner[NB];
static window_t win[3];
static unsigned nwin, cur_nops;
static int lane_of[MAXOPS];
static struct {
    unsigned at;
    int lane;
    bool ptsz;
} host_items[4];
static unsigned nhost;
static bool open_lane[LANES];
static CUevent done_ev[LANES];
static host_state_t hs[LANES];
static unsigned long long host_launched[LANES]; /* host functions launched on hs[k] */
static unsigned long long cur_seed;
static uint64_t ext_acc;

static unsigned rnd2(unsigned n) { return fz_rnd(&r2, n); }
static bool chance2(unsigned p) { return fz_chance(&r2, p); }

static void ext_fold(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        ext_acc = (ext_acc ^ b[i]) * 1099511628211ull;
}

/* ---------------------------------------------------------------- lanes */

/* --swaps: now and then two adjacent ops of the step are issued the other
 * way round in a repetition (fx_swap), as two threads' ops come in varying
 * order: on two lanes of an open fork they commute (each lane owns its
 * buffers), on one stream they do not. Drawn from a generator of its own,
 * so the programs without --swaps stay what they were. */
static bool swap_mode;
static unsigned p_swap;
static fz_rng_t r4;
void fx_set_swaps(bool on) { swap_mode = on; }

unsigned fx_swap(unsigned nops)
{
    if (!enabled || !swap_mode || nops < 2 || !fz_chance(&r4, p_swap))
        return MAXOPS;
    unsigned i = fz_rnd(&r4, nops - 1);
    /* Nothing of the extensions' between them: no fork, join or host
     * function before the second, so only the two ops change places. */
    for (unsigned w = 0; w < nwin; w++)
        if (win[w].fork == i + 1 || win[w].join == i + 1)
            return MAXOPS;
    for (unsigned h = 0; h < nhost; h++)
        if (host_items[h].at == i + 1)
            return MAXOPS;
    return i;
}

/* --torchlike: the main stream is the legacy stream (PyTorch's), and forks
 * and joins now and then use an event created for the occasion and
 * destroyed right after the wait (torch.cuda.Stream.wait_stream). */
static bool torch_mode;
void fx_set_torchlike(bool on) { torch_mode = on; }

CUstream fx_main(void)
{
    return pt_main ? CU_STREAM_PER_THREAD : torch_mode ? NULL : s1;
}

CUstream fx_lane_stream(int lane, bool ptsz)
{
    if (lane)
        return lanes[lane];
    return pt_main ? (ptsz ? NULL : CU_STREAM_PER_THREAD) : torch_mode ? NULL : s1;
}

int fx_own(int lane, int i)
{
    int list[NB], n = 0;
    for (int b = 0; b < NB; b++)
        if (owner[b] == lane)
            list[n++] = b;
    return n ? list[i % n] : i;
}

bool fx_open(void)
{
    for (int k = 1; k < LANES; k++)
        if (open_lane[k])
            return true;
    return false;
}

static CUevent next_event(void)
{
    return pool[next_ev++ % POOL];
}

/* The lane's buffers go back to the main lane. */
static void release(int lane)
{
    for (int b = 0; b < NB; b++)
        if (owner[b] == lane)
            owner[b] = 0;
}

/* Fork: the lane waits for the main stream's work so far and takes up to
 * `take` buffers, leaving the main lane two; with none to take it stays
 * idle this repetition. */
static void fork_to(window_t *w)
{
    int spare = -2;
    for (int b = 0; b < NB; b++)
        spare += owner[b] == 0;
    w->active = spare > 0 && !open_lane[w->lane];
    if (!w->active)
        return;
    for (int b = NB - 1, t = 0; b >= 0 && t < (int)w->take && t < spare; b--)
        if (owner[b] == 0)
            owner[b] = w->lane, t++;
    if (torch_mode && chance2(50)) {
        CUevent f;
        CK(cuEventCreate(&f, CU_EVENT_DISABLE_TIMING));
        CK(cuEventRecord(f, fx_main()));
        CK(cuStreamWaitEvent(lanes[w->lane], f, 0));
        CK(cuEventDestroy_v2(f));
    } else {
        CUevent e = next_event();
        CK(cuEventRecord(e, fx_main()));
        CK(cuStreamWaitEvent(lanes[w->lane], e, 0));
    }
    for (unsigned i = 0; i < w->nside; i++)
        issue(&w->side[i], w->lane);
}

static void join_from(int lane, CUevent e, bool record)
{
    if (record && torch_mode && chance2(50)) {
        CUevent f;
        CK(cuEventCreate(&f, CU_EVENT_DISABLE_TIMING));
        CK(cuEventRecord(f, lanes[lane]));
        CK(cuStreamWaitEvent(fx_main(), f, 0));
        CK(cuEventDestroy_v2(f));
        release(lane);
        return;
    }
    if (record)
        CK(cuEventRecord(e, lanes[lane]));
    CK(cuStreamWaitEvent(fx_main(), e, 0));
    release(lane);
}

/* ------------------------------------------------------------- launches */

void fx_launch(const op_t *o, kind_t k, CUfunction f, void **p, CUstream s, bool ptsz, bool capturing)
{
    CUlaunchAttribute at[12];
    unsigned n = 0, grid = k == K_INC ? 1 : o->grid, block = k == K_INC ? 1 : o->block;
    memset(at, 0, sizeof at);
#define ADD(id_) (at[n].id = (id_), &at[n++].value)
    if (o->pdl)
        ADD(CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION)->programmaticStreamSerializationAllowed = 1;
    if ((o->attrs & FA_PRIO) || (k == K_AFFINE && grid % 2))
        ADD(CU_LAUNCH_ATTRIBUTE_PRIORITY)->priority = o->attrs & FA_PRIO ? -1 : 0;
    if (o->attrs & FA_CLUSTER) {
        CUlaunchAttributeValue *v = ADD(CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION);
        v->clusterDim.x = grid % 2 ? 1 : 2;
        v->clusterDim.y = v->clusterDim.z = 1;
    }
    if (o->attrs & FA_APW) {
        CUaccessPolicyWindow *w = &ADD(CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW)->accessPolicyWindow;
        w->base_ptr = (void *)(uintptr_t)cnt;
        w->num_bytes = 1024;
        w->hitRatio = 0.5f;
        w->hitProp = CU_ACCESS_PROPERTY_PERSISTING;
        w->missProp = CU_ACCESS_PROPERTY_STREAMING;
    }
    if (o->attrs & FA_DOMAIN)
        ADD(CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN)->memSyncDomain = CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE;
    if (o->attrs & FA_DMAP) {
        CUlaunchAttributeValue *v = ADD(CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP);
        v->memSyncDomainMap.default_ = 0;
        v->memSyncDomainMap.remote = 1;
    }
    if (o->attrs & FA_IGNORE)
        memset(ADD(CU_LAUNCH_ATTRIBUTE_IGNORE), 0x5a, sizeof(CUlaunchAttributeValue));
    if (o->attrs & FA_COOP)
        ADD(CU_LAUNCH_ATTRIBUTE_COOPERATIVE)->cooperative = 1;
    if (o->attrs & FA_CARVE)
        ADD(CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT)->sharedMemCarveout = 25;
    if (o->attrs & FA_POLICY)
        ADD(CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE)->clusterSchedulingPolicyPreference =
            CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
    bool event = !capturing && (o->attrs & (FA_PEVENT | FA_LCEVENT));
    if (event && (o->attrs & FA_PEVENT))
        ADD(CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT)->programmaticEvent.event = pe_ev;
    else if (event)
        ADD(CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT)->launchCompletionEvent.event = pe_ev;
#undef ADD
    CUlaunchConfig cfg = { .gridDimX = grid, .gridDimY = 1, .gridDimZ = 1, .blockDimX = block, .blockDimY = 1,
                           .blockDimZ = 1, .hStream = s, .attrs = n ? at : NULL, .numAttrs = n };
    CK(ptsz ? cuLaunchKernelEx_ptsz(&cfg, f, p, NULL) : cuLaunchKernelEx(&cfg, f, p, NULL));
    /* The host may wait for such an event; it orders no data. */
    if (event && (o->off & 1))
        CK(cuEventSynchronize(pe_ev));
}

/* ------------------------------------------------------------ the thread */

static struct {
    pthread_t th;
    unsigned long long seed;
    CUdeviceptr b[2];
    int *pin;
    uint64_t acc;
} wk;

/* Held by the main thread while it captures (fx_capturing). */
static pthread_mutex_t capture_mu = PTHREAD_MUTEX_INITIALIZER;
void fx_capturing(bool on)
{
    if (on)
        pthread_mutex_lock(&capture_mu);
    else
        pthread_mutex_unlock(&capture_mu);
}

/* The second thread: steps of its own on its per-thread stream and
 * buffers, now and then a memset on the legacy stream (ordered with its
 * per-thread stream, which is blocking) or a context-wide sync. */
static void *worker(void *arg)
{
    (void)arg;
    fz_rng_t r = { wk.seed * 0xd1342543de82ef95ull + 3 };
    snprintf(ck_context, sizeof ck_context, "seed %llu, second thread", wk.seed);
    CK(cuCtxSetCurrent(ctx));
    unsigned steps = 3 + fz_rnd(&r, 8);
    int n = N;
    for (unsigned st = 0; st < steps; st++) {
        unsigned nops = 1 + fz_rnd(&r, 4);
        for (unsigned i = 0; i < nops; i++) {
            CUdeviceptr y = wk.b[fz_rnd(&r, 2)], x = wk.b[fz_rnd(&r, 2)];
            float v = (float)fz_rnd(&r, 9) * 0.5f;
            unsigned block = 32u << fz_rnd(&r, 3), grid = 1 + fz_rnd(&r, N / block);
            void *pf[] = { &y, &v, &n }, *pa[] = { &y, &x, &v, &n };
            bool pt0 = fz_chance(&r, 50);
            switch (fz_rnd(&r, 4)) {
            case 0:
                CK(pt0 ? cuLaunchKernel_ptsz(kfill, grid, 1, 1, block, 1, 1, 0, NULL, pf, NULL)
                       : cuLaunchKernel(kfill, grid, 1, 1, block, 1, 1, 0, CU_STREAM_PER_THREAD, pf, NULL));
                break;
            case 1:
                CK(pt0 ? cuLaunchKernel_ptsz(kaxpy, grid, 1, 1, block, 1, 1, 0, NULL, pa, NULL)
                       : cuLaunchKernel(kaxpy, grid, 1, 1, block, 1, 1, 0, CU_STREAM_PER_THREAD, pa, NULL));
                break;
            case 2:
                CK(cuMemsetD32Async(y, fz_rnd(&r, 100), N, NULL)); /* the legacy stream */
                break;
            default:
                CK(pt0 ? cuMemcpyDtoDAsync_v2_ptsz(y, x, N * sizeof(float), NULL)
                       : cuMemcpyDtoDAsync_v2(y, x, N * sizeof(float), CU_STREAM_PER_THREAD));
                break;
            }
        }
        if (fz_chance(&r, 15)) {
            /* Not while the main thread captures: the driver refuses a
             * context-wide synchronisation then (CUDA_ERROR_STREAM_CAPTURE_
             * UNSUPPORTED, seen on an H200 once the shim's timing let the
             * two meet: --swaps seed 117, chunks of 5). */
            pthread_mutex_lock(&capture_mu);
            CK(cuCtxSynchronize());
            pthread_mutex_unlock(&capture_mu);
        }
        CK(cuMemcpyDtoHAsync_v2_ptsz(wk.pin, wk.b[0], sizeof(int), NULL));
        CK(fz_chance(&r, 50) ? cuStreamSynchronize_ptsz(NULL) : cuStreamSynchronize(CU_STREAM_PER_THREAD));
        wk.acc = (wk.acc ^ (uint64_t)(unsigned)*wk.pin) * 1099511628211ull;
    }
    float host[N];
    for (int i = 0; i < 2; i++) {
        CK(cuMemcpyDtoH_v2_ptds(host, wk.b[i], sizeof host));
        for (size_t j = 0; j < sizeof host; j++)
            wk.acc = (wk.acc ^ ((unsigned char *)host)[j]) * 1099511628211ull;
    }
    return NULL;
}

/* -------------------------------------------------------------- program */

void fx_init(CUcontext c)
{
    ctx = c;
    CK(cuStreamCreate(&lanes[1], 0));
    CK(cuStreamCreate(&lanes[2], CU_STREAM_NON_BLOCKING));
    CK(cuStreamCreateWithPriority(&lanes[3], CU_STREAM_NON_BLOCKING, -1));
    for (int i = 0; i < POOL; i++)
        CK(cuEventCreate(&pool[i], CU_EVENT_DISABLE_TIMING));
    CK(cuEventCreate(&pe_ev, CU_EVENT_DISABLE_TIMING));
    CK(cuEventCreate(&tstart, 0));
    CK(cuEventCreate(&tend, 0));
    CK(cuMemAllocHost_v2((void **)&wk.pin, sizeof(int)));
}

static unsigned attr_mask(void)
{
    static const unsigned common[] = { FA_PRIO, FA_CLUSTER, FA_APW, FA_DOMAIN, FA_DMAP, FA_IGNORE, FA_COOP,
                                       FA_CARVE, FA_POLICY };
    unsigned m = 0, k = 1 + rnd2(3);
    for (unsigned i = 0; i < k; i++)
        m |= common[rnd2(sizeof common / sizeof common[0])];
    if (chance2(8))
        m |= chance2(50) ? FA_PEVENT : FA_LCEVENT;
    if (m & FA_COOP)
        m &= ~(unsigned)FA_CLUSTER;
    return m;
}

void fx_decorate_op(op_t *o)
{
    if (!enabled)
        return;
    if (o->kind <= K_INC) {
        o->attrs = chance2(p_attr) ? attr_mask() : 0;
        o->pdl = !(o->attrs & FA_COOP) && chance2(p_pdl);
    }
    o->ptsz = pt_main && chance2(50);
}

void fx_program_begin(unsigned long long seed, unsigned nops)
{
    enabled = seed != 0;
    const char *et = getenv("FUZZ_EXACT_TIME");
    exact_time = et != NULL && strcmp(et, "1") == 0;
    pt_main = timing = worker_on = false;
    p_pdl = p_attr = 0;
    nwin = nhost = 0;
    memset(owner, 0, sizeof owner);
    memset(open_lane, 0, sizeof open_lane);
    memset(hs, 0, sizeof hs);
    memset(lane_of, 0, sizeof lane_of);
    ext_acc = 14695981039346656037ull;
    cur_nops = nops;
    if (!enabled)
        return;
    r2.s = seed * 0xbf58476d1ce4e5b9ull + 0x94d049bb133111ebull;
    r3.s = seed * 0x2545f4914f6cdd1dull + 0x9e3779b97f4a7c15ull;
    cur_seed = seed;
    r4.s = seed * 0xd6e8feb86659fd93ull + 0x632be59bd9b4e019ull;
    p_swap = swap_mode && fz_chance(&r4, 70) ? 20 + fz_rnd(&r4, 60) : 0;
    memset(host_launched, 0, sizeof host_launched);
    pt_main = !torch_mode && chance2(20);
    /* In torch-like programs too: the one that once gave another result
     * without the shim under another scheduling seed (under
     * AddressSanitizer) met simcuda's stale-record bug, fixed since; 20,000
     * torch-like programs under AddressSanitizer then gave the same results
     * under two scheduling seeds and under the shim. */
    worker_on = chance2(15);
    timing = !worker_on && chance2(30);
    p_pdl = chance2(60) ? 10 + rnd2(50) : 0;
    p_attr = chance2(50) ? 5 + rnd2(35) : 0;
    /* Forks to distinct lanes, possibly overlapping; some never joined in
     * their step. Classic ops inside a fork may move to its lane. */
    nwin = chance2(55) ? 1 + rnd2(3) : 0;
    int lanes_left[3] = { 1, 2, 3 };
    for (unsigned w = 0; w < nwin; w++) {
        window_t *x = &win[w];
        unsigned pick = rnd2(3 - w);
        x->lane = lanes_left[pick];
        lanes_left[pick] = lanes_left[2 - w];
        x->fork = rnd2(nops);
        x->join = chance2(25) ? NEVER : x->fork + 1 + rnd2(nops - x->fork);
        x->take = 1 + rnd2(2);
        x->nside = 1 + rnd2(3);
        for (unsigned i = 0; i < x->nside; i++) {
            random_op(&r2, &x->side[i]);
            fx_decorate_op(&x->side[i]);
            x->side[i].ptsz = false;
        }
        for (unsigned i = x->fork; i < nops && i < x->join; i++)
            if (!lane_of[i] && chance2(40))
                lane_of[i] = x->lane;
    }
    /* Host functions, on the main stream or on a lane inside its fork. */
    nhost = chance2(30) ? 1 + rnd2(3) : 0;
    for (unsigned h = 0; h < nhost; h++) {
        host_items[h].at = rnd2(nops + 1);
        host_items[h].lane = 0;
        host_items[h].ptsz = pt_main && chance2(50);
        for (unsigned w = 0; w < nwin; w++)
            if (win[w].fork < host_items[h].at && host_items[h].at < win[w].join && win[w].join != NEVER &&
                chance2(50))
                host_items[h].lane = win[w].lane;
    }
    if (worker_on) {
        wk.seed = seed;
        wk.acc = 14695981039346656037ull;
        CK(cuMemAlloc_v2(&wk.b[0], N * sizeof(float)));
        CK(cuMemAlloc_v2(&wk.b[1], N * sizeof(float)));
        CK(cuMemsetD32_v2(wk.b[0], 1, N));
        CK(cuMemsetD32_v2(wk.b[1], 2, N));
        if (pthread_create(&wk.th, NULL, worker, NULL) != 0) {
            fprintf(stderr, "seed %llu: cannot start the second thread\n", seed);
            exit(1);
        }
    }
}

static void host_fn(void *p)
{
    host_state_t *h = p;
    __atomic_store_n(&h->n, h->n + 1, __ATOMIC_RELEASE);
    h->mix = h->mix * 1000003u + h->n;
}

/* Every host function launched on hs[k] has run. */
static bool host_caught_up(const void *k)
{
    int i = *(const int *)k;
    return __atomic_load_n(&hs[i].n, __ATOMIC_ACQUIRE) >= host_launched[i];
}

/* The host waits for hs[k]'s callbacks (a callback the shim held for good
 * ends the program). */
static void wait_host(int k)
{
    if (!ck_wait_callback(host_caught_up, &k)) {
        fprintf(stderr, "seed %llu: a host function's callback did not run within 2 s\n", cur_seed);
        exit(1);
    }
}

/* A fork left open by the step before is joined first, by waiting on the
 * event it recorded then. */
void fx_rep_begin(void)
{
    if (!enabled)
        return;
    for (int k = 1; k < LANES; k++)
        if (open_lane[k]) {
            join_from(k, done_ev[k], false);
            open_lane[k] = false;
        }
    for (unsigned w = 0; w < nwin; w++)
        win[w].active = false;
    if (timing)
        CK(cuEventRecord(tstart, fx_main()));
}

/* Before classic op i (i == nops: the end of the step): joins, forks, host
 * functions; returns the lane op i runs on. At the end, forks never joined
 * in their step record the event the next step waits on. */
int fx_before_op(unsigned i)
{
    if (!enabled)
        return 0;
    for (unsigned w = 0; w < nwin; w++)
        if (win[w].active && win[w].join == i) {
            join_from(win[w].lane, next_event(), true);
            win[w].active = false;
        }
    for (unsigned w = 0; w < nwin; w++)
        if (win[w].fork == i)
            fork_to(&win[w]);
    for (unsigned h = 0; h < nhost; h++)
        if (host_items[h].at == i) {
            int l = host_items[h].lane;
            bool live = l == 0;
            for (unsigned w = 0; w < nwin; w++)
                live = live || (win[w].lane == l && win[w].active);
            if (!live)
                l = 0;
            if (l == 0 && host_items[h].ptsz)
                CK(cuLaunchHostFunc_ptsz(NULL, host_fn, &hs[0]));
            else
                CK(cuLaunchHostFunc(fx_lane_stream(l, false), host_fn, &hs[l]));
            host_launched[l]++;
            if (fz_chance(&r3, 20))
                wait_host(l);
        }
    if (i < cur_nops) {
        for (unsigned w = 0; w < nwin; w++)
            if (lane_of[i] && win[w].lane == lane_of[i] && win[w].active)
                return lane_of[i];
        return 0;
    }
    for (unsigned w = 0; w < nwin; w++)
        if (win[w].active && win[w].join == NEVER) {
            done_ev[win[w].lane] = next_event();
            CK(cuEventRecord(done_ev[win[w].lane], lanes[win[w].lane]));
            open_lane[win[w].lane] = true;
            win[w].active = false;
        }
    if (timing)
        CK(cuEventRecord(tend, fx_main()));
    return 0;
}

/* After the step's end (synced: the main stream was synchronised): the
 * main stream's host state and the step's elapsed time join the result. On
 * a GPU the time must only be measurable and not negative. A program with a
 * second thread meets it now and then through a context-wide sync. */
void fx_rep_end(bool synced)
{
    if (!enabled)
        return;
    if (synced) {
        ext_fold(&hs[0], sizeof hs[0]);
        if (timing) {
            float ms = -1.0f;
            CK(cuEventElapsedTime(&ms, tstart, tend));
            if (!(ms >= 0.0f)) {
                fprintf(stderr, "%s: elapsed time %g ms between the events of one step\n", ck_context, (double)ms);
                exit(1);
            }
            /* On simcuda the virtual time is exact and the same under every
             * schedule (FUZZ_EXACT_TIME=1, the race check folds it); under
             * the shim it may be longer, since the shim may order more than
             * the program asked (chunks launched one after another, a fork's
             * side stream waiting for the whole graph): there, and on a GPU,
             * it must only be measurable. */
            if (!on_gpu && exact_time) {
                long us = lroundf(ms * 1000.0f);
                ext_fold(&us, sizeof us);
            }
        }
    }
    if (worker_on && chance2(20))
        CK(cuCtxSynchronize());
}

void fx_program_end(void)
{
    if (!enabled)
        return;
    for (int k = 1; k < LANES; k++)
        if (open_lane[k]) {
            join_from(k, done_ev[k], false);
            open_lane[k] = false;
        }
    CK(cuCtxSynchronize());
    if (worker_on) {
        pthread_join(wk.th, NULL);
        ext_fold(&wk.acc, sizeof wk.acc);
        CK(cuMemFree_v2(wk.b[0]));
        CK(cuMemFree_v2(wk.b[1]));
    }
    ext_fold(hs, sizeof hs);
    fold(&ext_acc, sizeof ext_acc);
}

void fx_describe(char *out, size_t n)
{
    if (!enabled) {
        snprintf(out, n, " classic");
        return;
    }
    snprintf(out, n, " pdl=%u%% attrs=%u%% forks=%u host=%u%s%s%s", p_pdl, p_attr, nwin, nhost,
             pt_main ? " per-thread-main" : "", timing ? " timing" : "", worker_on ? " second-thread" : "");
}
