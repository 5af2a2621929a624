/* prog_dag.c: decode-like loops whose steps are DAGs, for tests/e2e/dag_diff.sh,
 * which runs every scenario on the simulated driver (whose streams and graph
 * branches run in a seeded random order that respects only the declared
 * dependencies) with and without the shim and compares what this prints.
 *
 *   prog_dag SCENARIO [--steps=N] [--module=FILE.ptx]
 *
 * On the simulated driver the kernels are its built-ins; on a GPU, --module
 * names the PTX of tests/gpu/fuzz_kernels.cu (kernels of the same names and
 * layouts; tests/gpu/gpu-dag.sh builds and runs this against the real
 * driver).
 *
 * Here: the lanes and kernels every scenario shares, the PDL, launch
 * attribute and per-thread stream scenarios, the scenario table and main;
 * the scenarios of streams and events are in prog_dag_events.c, those with
 * host functions (JAX's and XLA's) in prog_dag_host.c.
 *
 * pdl       chains of kernels launched with programmatic stream
 *           serialisation (the GDS twins of the built-ins), each reading what
 *           the one before wrote
 * pdlmix    PDL launches mixed with plain launches, copies and memsets
 * attrs     launches carrying every kind of launch attribute: node
 *           attributes, ignored entries, and now and then one that keeps the
 *           launch eager (a programmatic event)
 * pt        three threads, each decoding on its per-thread default stream
 * ptlegacy  a thread on its per-thread stream; in the middle of every 4th
 *           step the main thread reads its output with a legacy-stream
 *           kernel (the implicit synchronisation must find the held ops
 *           issued, by the other thread)
 * streams   per layer, a side stream forked and joined by events
 * fan       a fork to three side streams and joins back
 * pool      fork/join with a different pair of events every step
 * noreturn  a side stream that never joins back; the program syncs it
 * hostfn    a host function per step that counts steps on the host
 * torchlike PyTorch's side stream: the main stream is the legacy stream, each
 *           wait_stream a new event destroyed right after the wait, and
 *           record_stream's allocator event, queried a layer later
 * xlaop     one op as XLA runs it eagerly: a kernel, an event record, a wait
 *           on it by a callback stream and a host function there (for the
 *           payoff rule: event calls cost far less than launches)
 * legacyblk on the legacy stream, a fork to a blocking stream whose result the
 *           legacy stream reads with no join but its implicit
 *           synchronisation
 * blklegacy a blocking stream's step, in the middle of which the legacy stream
 *           reads what it wrote (by implicit synchronisation)
 * rerecord  an event recorded in one stream's step, then again by another
 *           stream in a step of its own, and waited on by a third, and by a
 *           fourth once the first stream's step went out
 * xrecord   an event recorded on two streams of the step, unordered, then
 *           waited on from outside it: the later record must be the one
 * evsync    every 10th step, the host synchronises with an event recorded in
 *           the middle of the step and reads what was copied before it
 * leafobs   a fork and a join by events without timing; after the step the
 *           host synchronises with each event and reads what its stream
 *           copied to the host before the record
 * hostobs   JAX's callback stream with callbacks that read what each op
 *           copied to the host (the shim runs them from one host node);
 *           after the step the host reads the copies by the events too
 * poolobs   records of pooled events (a different one every step) after
 *           copies; after the step the host synchronises with each and
 *           reads the copy before it
 * sidepre   a stream's own work, then its part of another's step, which
 *           reads what that work wrote
 * hostjoin  a callback, then a record on its stream that the host
 *           synchronises with and that must find the callback run
 * hostrec   a callback, then a record on its stream that another stream
 *           waits for, whose callback reads what the first wrote
 * hostwait  a host function in the middle of every step, whose callback
 *           the host waits for before it goes on (as JAX waits for each
 *           value it reads back), without a synchronising call
 * timing    timing events around the step's kernels
 * extwait   the step waits on an event recorded in the step before
 * spinquery the host spins on cuEventQuery of an event recorded in the middle
 *           of the step, then reads what was copied before it
 * slotwait  a stream that joined the step waits on an upload stream's record
 *           (that stream's step is its own), then reads what it uploaded
 * capfork   A records an event, a second stream waits on it (and every
 *           other step runs a kernel) and launches a graph the program
 *           captured (a memset), then A reads what it wrote: the shim's
 *           graph of the shorter step goes out only when the program's
 *           graph launch settles it, and that launch must still follow it
 * tiny      steps of two kernels whose arguments change every step, then a
 *           sync: each replay patches both nodes (for the payoff rule; the
 *           steps per second go to stderr)
 * tiny3     tiny and a third kernel whose arguments never change
 * tinyvar   tiny in six variants, 200 steps each, each with more kernels
 * evict     a second stream runs a step of its own, then waits on an event
 *           of the first stream's step: the join closes its own step, which
 *           (with GRAPHSHIM_MAX_GRAPHS=1) forms a template that must not
 *           evict the one the first stream is matching (a use after free
 *           the fuzzer found under AddressSanitizer)
 * jaxwait   as JAX runs an eager decode loop: no synchronising call at
 *           all, a callback stream behind every op, the step's value read
 *           back on a third stream and a callback the host waits for
 * jaxupload jaxwait with JAX's scalars: every other op's value uploaded on
 *           a stream of its own (with its own callback stream), on whose
 *           record the compute stream waits, and which waits on the
 *           compute stream's
 * xupload   jaxupload with its uploads made by a thread of their own, as
 *           XLA's transfer thread makes them: the two threads' calls
 *           interleave differently from run to run
 * xrace     xupload with the order of the two threads' calls decided: one
 *           upload every fourth step has the upload thread's host function
 *           after the launching thread's wait instead of before it
 * swapsame  two kernels of one stream the other way round every fourth
 *           step, where the template has them one place apart
 * cutshort  from step 60 on a synchronisation in the middle of the step,
 *           which cuts the template of the whole step short every step
 * jaxlike   as XLA runs an eager program: every kernel followed by an event
 *           record (from a pool), older events polled from the host (every
 *           50th step: a poll of an event in the step ends it), a host
 *           function now and then, and the step's result read back on a
 *           second stream that waits on the last event and works on it,
 *           into pageable memory; the compute stream itself is never
 *           synchronised (with a small GRAPHSHIM_MAX_OPS, a step fills up
 *           at the wait: the regression of a segfault in JAX on the H200)
 *
 * Prints one line: the scenario and a hash of every buffer and host value.
 */
#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include "ck.h"

#include "simcuda.h"

#include "prog_dag.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static CUmodule mod;
static CUcontext ctx;
int n = N;

static CUfunction K(const char *name)
{
    CUfunction f;
    CK(cuModuleGetFunction(&f, mod, name));
    return f;
}

void fold(uint64_t *acc, const void *p, size_t len)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < len; i++)
        *acc = (*acc ^ c[i]) * 1099511628211ull;
}

static void lane_init(lane_t *l, CUstream s)
{
    l->s = s;
    l->acc = 14695981039346656037ull;
    /* Values of the order of one, different in every buffer and element:
     * the kernels' results change every step, so a stale read shows (the
     * bit patterns 0, 1, 2, ... that a memset would give are denormals,
     * which an axpy leaves unchanged). Threads make lanes at once: v is
     * each one's own. */
    float v[N];
    for (int i = 0; i < NB; i++) {
        for (int j = 0; j < N; j++)
            v[j] = 1.0f + (float)i / NB + (float)j / (N * NB);
        CK(cuMemAlloc_v2(&l->b[i], N * 4));
        CK(cuMemcpyHtoD_v2(l->b[i], v, sizeof v));
    }
    CK(cuMemAlloc_v2(&l->cnt, 4));
    CK(cuMemsetD32_v2(l->cnt, 0, 1));
    CK(cuMemAllocHost_v2((void **)&l->pinned, 4));
}

static void lane_fold(lane_t *l)
{
    static float host[N];
    CK(cuCtxSynchronize());
    for (int i = 0; i < NB; i++) {
        CK(cuMemcpyDtoH_v2(host, l->b[i], sizeof host));
        fold(&l->acc, host, sizeof host);
    }
}

/* A kernel launch with optional attributes, through cuLaunchKernelEx. */
static void launch_ex(const char *name, CUstream s, unsigned grid, unsigned block, void **args,
                      CUlaunchAttribute *attrs, unsigned nattrs)
{
    CUlaunchConfig cfg = {.gridDimX = grid, .gridDimY = 1, .gridDimZ = 1, .blockDimX = block,
                          .blockDimY = 1, .blockDimZ = 1, .hStream = s, .attrs = attrs,
                          .numAttrs = nattrs};
    CK(cuLaunchKernelEx(&cfg, K(name), args, NULL));
}

static CUlaunchAttribute pss(int on)
{
    CUlaunchAttribute a;
    memset(&a, 0, sizeof a);
    a.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
    a.value.programmaticStreamSerializationAllowed = on;
    return a;
}

/* y = a * x + y, by PDL (GDS twin) or plainly. */
void axpy(lane_t *l, CUstream s, int y, int x, float a, bool pdl)
{
    void *args[] = {&l->b[y], &l->b[x], &a, &n};
    CUlaunchAttribute at = pss(1);
    if (pdl)
        launch_ex("sim_axpy_gds", s, N / 64, 64, args, &at, 1);
    else
        CK(cuLaunchKernel(K("sim_axpy"), N / 64, 1, 1, 64, 1, 1, 0, s, args, NULL));
}

void add3(lane_t *l, CUstream s, int y, int a, int b, bool pdl)
{
    void *args[] = {&l->b[y], &l->b[a], &l->b[b], &n};
    CUlaunchAttribute at = pss(1);
    if (pdl)
        launch_ex("sim_add_gds", s, N / 64, 64, args, &at, 1);
    else
        CK(cuLaunchKernel(K("sim_add"), N / 64, 1, 1, 64, 1, 1, 0, s, args, NULL));
}

/* cnt = the first word of b0: ends a step with an op that reads what came
 * before, so that the edge into it carries data. */
void tail(lane_t *l, CUstream s)
{
    CK(cuMemcpyDtoDAsync_v2(l->cnt, l->b[0], 4, s));
}

void inc(lane_t *l, CUstream s)
{
    int one = 1;
    void *args[] = {&l->cnt, &one};
    CK(cuLaunchKernel(K("sim_inc_i32"), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
}

/* The end of a step: the counter to page-locked memory, then sync. */
void end_step(lane_t *l)
{
    CK(cuMemcpyDtoHAsync_v2(l->pinned, l->cnt, 4, l->s));
    CK(cuStreamSynchronize(l->s));
    fold(&l->acc, l->pinned, 4);
}

/* ------------------------------------------------------------ scenarios */

static void step_pdl(lane_t *l, int step)
{
    float a = 0.5f + (float)(step % 3) * 0.25f;
    axpy(l, l->s, 1, 0, 1.0f, false);
    for (int i = 0; i < 6; i++)
        axpy(l, l->s, 2 + i % 3, 1 + i % 3, a, true);
    add3(l, l->s, 0, 2, 3, true);
    tail(l, l->s);
}

static void step_pdlmix(lane_t *l, int step)
{
    float host[N / 4];
    for (int i = 0; i < N / 4; i++)
        host[i] = (float)((i + step) % 7);
    axpy(l, l->s, 1, 0, 0.5f, true);
    CK(cuMemcpyHtoDAsync_v2(l->b[2], host, sizeof host, l->s));
    axpy(l, l->s, 3, 2, 0.25f, true); /* after a copy: a full edge */
    axpy(l, l->s, 4, 3, 2.0f, false);
    axpy(l, l->s, 5, 4, 1.0f, true);
    CK(cuMemsetD32Async(l->b[6], (unsigned)step, N / 2, l->s));
    add3(l, l->s, 7, 5, 6, true);
    CK(cuMemcpyDtoDAsync_v2(l->b[0], l->b[7], N * 4, l->s));
    inc(l, l->s);
}

static void step_attrs(lane_t *l, int step)
{
    float a = (float)(step % 5) * 0.5f;
    void *args[] = {&l->b[1], &l->b[0], &a, &n};
    CUlaunchAttribute at[4];
    memset(at, 0x5a + step, sizeof at); /* padding as a program's stack leaves it */
    at[0].id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
    at[0].value.priority = -1;
    at[1].id = CU_LAUNCH_ATTRIBUTE_IGNORE;
    at[2].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    at[2].value.clusterDim.x = 2, at[2].value.clusterDim.y = 1, at[2].value.clusterDim.z = 1;
    at[3].id = CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN;
    at[3].value.memSyncDomain = CU_LAUNCH_MEM_SYNC_DOMAIN_DEFAULT;
    launch_ex("sim_axpy", l->s, N / 64, 64, args, at, 4);
    at[0].id = CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT;
    at[0].value.sharedMemCarveout = 50;
    at[1].id = CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW;
    memset(&at[1].value.accessPolicyWindow, 0, sizeof at[1].value.accessPolicyWindow);
    at[1].value.accessPolicyWindow.base_ptr = (void *)(uintptr_t)l->b[0];
    at[1].value.accessPolicyWindow.num_bytes = N * 4;
    at[1].value.accessPolicyWindow.hitRatio = 0.5f;
    at[1].value.accessPolicyWindow.hitProp = CU_ACCESS_PROPERTY_PERSISTING;
    at[1].value.accessPolicyWindow.missProp = CU_ACCESS_PROPERTY_STREAMING;
    void *args2[] = {&l->b[2], &l->b[1], &a, &n};
    launch_ex("sim_scale", l->s, N / 64, 64, args2, at, 2);
    if (step % 4 == 3) {
        /* A programmatic event keeps this launch eager (a barrier). */
        CUevent ev;
        CK(cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING));
        at[0].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT;
        memset(&at[0].value, 0, sizeof at[0].value);
        at[0].value.programmaticEvent.event = ev;
        launch_ex("sim_axpy", l->s, N / 64, 64, args, at, 1);
        CK(cuStreamSynchronize(l->s));
        CK(cuEventDestroy_v2(ev));
    }
    add3(l, l->s, 3, 1, 2, false);
    inc(l, l->s);
}
static void step_tiny(lane_t *l, int step)
{
    axpy(l, l->s, 1, 0, 1.0f / (float)(step + 1), false);
    axpy(l, l->s, 2, 1, (float)(step % 7), false);
    CK(cuStreamSynchronize(l->s));
}

/* swapsame: every fourth step has two kernels of one stream the other way
 * round, right after an op that begins the template's match. The template
 * has the other order one place on (src/hold.c holds such an op for now,
 * in case the two commute), but ops of one stream never do: the step must
 * go out as it came. */
static void step_swapsame(lane_t *l, int step)
{
    axpy(l, l->s, 4, 0, 0.5f, false);
    if (step % 4 == 3) {
        add3(l, l->s, 2, 1, 0, false);
        axpy(l, l->s, 1, 0, 0.25f, false);
    } else {
        axpy(l, l->s, 1, 0, 0.25f, false);
        add3(l, l->s, 2, 1, 0, false);
    }
    axpy(l, l->s, 3, 2, 0.125f, false);
    tail(l, l->s);
}

/* cutshort: from step 60 on, a synchronisation in the middle of the step
 * (as the watchdog learns a host function that JAX waits for): the
 * template of the whole step is cut there every step. */
static void step_cutshort(lane_t *l, int step)
{
    axpy(l, l->s, 1, 0, 0.5f, false);
    axpy(l, l->s, 2, 1, 0.25f, false);
    add3(l, l->s, 3, 2, 1, false);
    if (step >= 60)
        CK(cuStreamSynchronize(l->s));
    axpy(l, l->s, 4, 3, 0.125f, false);
    add3(l, l->s, 5, 4, 0, false);
    tail(l, l->s);
}

static int steps = 40;
static pthread_barrier_t meet;

typedef struct {
    lane_t l;
    int id;
    bool legacy_peer;
} worker_t;

/* A decode on the calling thread's per-thread stream (the _ptsz entry
 * points with stream 0). */
static void *pt_worker(void *arg)
{
    worker_t *w = arg;
    snprintf(ck_context, sizeof ck_context, "thread %d", w->id);
    CK(cuCtxSetCurrent(ctx));
    lane_init(&w->l, NULL);
    for (int step = 0; step < steps; step++) {
        float a = 0.5f + (float)(step % 2) * 0.25f;
        for (int i = 0; i < 4; i++) {
            void *args[] = {&w->l.b[1 + i % 2], &w->l.b[i % 2], &a, &n};
            CK(cuLaunchKernel_ptsz(K("sim_axpy"), N / 64, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
        }
        int one = 1;
        void *ia[] = {&w->l.cnt, &one};
        CK(cuLaunchKernel_ptsz(K("sim_inc_i32"), 1, 1, 1, 1, 1, 1, 0, NULL, ia, NULL));
        if (w->legacy_peer && step % 4 == 3) {
            /* The main thread now reads b[1] on the legacy stream, which
             * waits for this thread's work so far (implicit sync). */
            pthread_barrier_wait(&meet);
            pthread_barrier_wait(&meet);
        }
        CK(cuMemcpyDtoHAsync_v2_ptsz(w->l.pinned, w->l.cnt, 4, NULL));
        CK(cuStreamSynchronize_ptsz(NULL));
        fold(&w->l.acc, w->l.pinned, 4);
    }
    return NULL;
}

static uint64_t run_threads(int nthreads, bool legacy_peer)
{
    worker_t w[3];
    pthread_t th[3];
    lane_t peer;
    if (legacy_peer) {
        pthread_barrier_init(&meet, NULL, 2);
        lane_init(&peer, NULL);
    }
    for (int i = 0; i < nthreads; i++) {
        w[i].id = i;
        w[i].legacy_peer = legacy_peer;
        CK(pthread_create(&th[i], NULL, pt_worker, &w[i]));
    }
    if (legacy_peer)
        for (int step = 3; step < steps; step += 4) {
            pthread_barrier_wait(&meet);
            float one = 1.0f;
            void *args[] = {&peer.b[0], &w[0].l.b[1], &one, &n};
            CK(cuLaunchKernel(K("sim_axpy"), N / 64, 1, 1, 64, 1, 1, 0, NULL, args, NULL));
            pthread_barrier_wait(&meet);
        }
    uint64_t acc = 14695981039346656037ull;
    for (int i = 0; i < nthreads; i++) {
        CK(pthread_join(th[i], NULL));
        lane_fold(&w[i].l);
        fold(&acc, &w[i].l.acc, sizeof w[i].l.acc);
    }
    if (legacy_peer) {
        lane_fold(&peer);
        fold(&acc, &peer.acc, sizeof peer.acc);
    }
    return acc;
}

/* Scenarios that end each step with end_step (a readback and a
 * synchronisation) have `ends`; the others end their steps themselves. */
static void step_tiny3(lane_t *l, int step)
{
    inc(l, l->s);
    step_tiny(l, step);
}
/* tinyvar: tiny in six variants, 200 steps each (2 to 7 kernels) */
static void step_tinyvar(lane_t *l, int step)
{
    for (int k = 0; k < step / 200 % 6; k++)
        axpy(l, l->s, 3, 2, 0.5f, false);
    step_tiny(l, step);
}

typedef struct {
    const char *name;
    void (*step)(lane_t *l, int step);
    bool ends;
} scenario_t;

static const scenario_t scenarios[] = {
    {"pdl", step_pdl, true},           {"pdlmix", step_pdlmix, true},
    {"attrs", step_attrs, true},       {"streams", step_streams1, true},
    {"fan", step_fan, true},           {"pool", step_pool, true},
    {"noreturn", step_noreturn, false}, {"hostfn", step_hostfn, true},
    {"xlaop", step_xlaops, false},     {"blklegacy", step_blklegacy, false},
    {"rerecord", step_rerecord, true}, {"xrecord", step_xrecord, true},
    {"evsync", step_evsync, true},     {"leafobs", step_leafobs, true},
    {"legacyblk", step_legacyblk, true}, {"torchlike", step_torchlike, true},
    {"hostwait", step_hostwait, true}, {"jaxwait", step_jaxwait, false},
    {"timing", step_timing, true},     {"extwait", step_extwait, true},
    {"slotwait", step_slotwait, true}, {"spinquery", step_spinquery, true},
    {"capfork", step_capfork, true},   {"evict", step_evict, true},
    {"jaxlike", step_jaxlike, false},  {"jaxupload", step_jaxupload, false},
    {"tiny", step_tiny, false},        {"hostobs", step_hostobs, true},
    {"tiny3", step_tiny3, false},      {"tinyvar", step_tinyvar, false},
    {"poolobs", step_poolobs, true},   {"sidepre", step_sidepre, true},
    {"hostjoin", step_hostjoin, true}, {"xupload", step_xupload, false},
    {"xorder", step_xorder, false},    {"hostrec", step_hostrec, true},
    {"xrace", step_xrace, false},      {"swapsame", step_swapsame, true},
    {"cutshort", step_cutshort, true},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_dag SCENARIO [--steps=N]\n");
        return 2;
    }
    const char *sc = argv[1], *module = NULL;
    for (int i = 2; i < argc; i++)
        if (strncmp(argv[i], "--steps=", 8) == 0)
            steps = atoi(argv[i] + 8);
        else if (strncmp(argv[i], "--module=", 9) == 0)
            module = argv[i] + 9;
    CK(cuInit(0));
    CK(cuDevicePrimaryCtxRetain(&ctx, 0));
    CK(cuCtxSetCurrent(ctx));
    CK(cuModuleLoadData(&mod, module ? ck_read_file(module) : "simcuda"));
    if (strcmp(sc, "pt") == 0 || strcmp(sc, "ptlegacy") == 0) {
        uint64_t acc = run_threads(sc[2] == 'l' ? 1 : 3, sc[2] == 'l');
        printf("scenario=%s steps=%d result=%016llx\n", sc, steps, (unsigned long long)acc);
        return 0;
    }
    /* torchlike, legacyblk: the legacy stream, as PyTorch's main stream */
    CUstream s = NULL;
    if (strcmp(sc, "torchlike") != 0 && strcmp(sc, "legacyblk") != 0)
        CK(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING));
    events_init();
    lane_t l;
    lane_init(&l, s);
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    const scenario_t *run = NULL;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0] && run == NULL; i++)
        if (strcmp(sc, scenarios[i].name) == 0)
            run = &scenarios[i];
    if (run == NULL) {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    /* PROG_DAG_PAUSE=A:B: the shim paused from step A to step B
     * (graphshim_pause, found at run time: without the shim, nothing). */
    int pause_from = -1, pause_to = -1;
    const char *pz = getenv("PROG_DAG_PAUSE");
    int (*pause)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "graphshim_pause");
    if (pz != NULL && *pz != '\0' && sscanf(pz, "%d:%d", &pause_from, &pause_to) != 2) {
        fprintf(stderr, "PROG_DAG_PAUSE takes A:B\n");
        return 2;
    }
    for (int step = 0; step < steps; step++) {
        if (pause != NULL && (step == pause_from || step == pause_to) &&
            pause(step == pause_from) != (step == pause_to)) {
            fprintf(stderr, "graphshim_pause: the previous state is wrong\n");
            return 1;
        }
        run->step(&l, step);
        if (run->ends)
            end_step(&l);
        if (run->step == step_timing)
            after_timing();
    }
    if (run->step == step_xupload || run->step == step_xrace)
        xupload_finish();
    clock_gettime(CLOCK_MONOTONIC, &w1);
    fprintf(stderr, "prog_dag: %s steps/s=%.1f\n", sc,
            steps / ((double)(w1.tv_sec - w0.tv_sec) + 1e-9 * (double)(w1.tv_nsec - w0.tv_nsec)));
    lane_fold(&l);
    fold(&l.acc, &host_steps, sizeof host_steps);
    fold(&l.acc, &elapsed_ok, sizeof elapsed_ok);
    fold(&l.acc, &evsync_seen, sizeof evsync_seen);
    fold(&l.acc, &leafobs_seen, sizeof leafobs_seen);
    fold(&l.acc, &hostobs_cb, sizeof hostobs_cb);
    fold(&l.acc, &hostobs_seen, sizeof hostobs_seen);
    fold(&l.acc, &xorder_bad, sizeof xorder_bad);
    fold(&l.acc, &poolobs_seen, sizeof poolobs_seen);
    fold(&l.acc, &hostjoin_seen, sizeof hostjoin_seen);
    fold(&l.acc, &hostrec_seen, sizeof hostrec_seen);
    fold(&l.acc, &spins_ok, sizeof spins_ok);
    printf("scenario=%s steps=%d result=%016llx host_steps=%d elapsed_ok=%d callbacks_missed=%d "
           "spins_ok=%d\n",
           sc, steps, (unsigned long long)l.acc, host_steps, elapsed_ok, cb_missed, spins_ok);
    return 0;
}
