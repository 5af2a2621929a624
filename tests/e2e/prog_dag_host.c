/* prog_dag_host.c: prog_dag's scenarios with host functions: a host
 * function inside the step (hostfn); the host waiting for a callback with
 * no synchronising call (hostwait), as JAX waits for every value it reads
 * back; one op as XLA dispatches it eagerly (xlaop); XLA's eager program
 * with a readback on a second stream (jaxlike); and JAX's eager decode
 * loop, which never synchronises at all (jaxwait), and with the scalars it
 * uploads on a stream of their own (jaxupload), made by a thread of their
 * own (xupload), in both orders of the two threads' calls (xrace); the host
 * synchronising
 * with a fork's and a join's events (leafobs); and callbacks that read what
 * the op before each copied to the host (hostobs); a callback that a
 * record on its stream, and another stream's callback, follow (hostrec). The
 * scenarios' own descriptions are at the top of prog_dag.c. */
#include "config.h"

#include "ck.h"

#include "prog_dag.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>


int host_steps;
static void CUDA_CB count_step(void *p) { host_steps += *(int *)p; }
static int xla_one = 1;

void step_hostfn(lane_t *l, int step)
{
    static int one = 1, two = 2;
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuLaunchHostFunc(l->s, count_step, step % 3 ? &one : &two));
    axpy(l, l->s, 2, 1, 0.5f, false);
    inc(l, l->s);
}

/* hostwait: the host waits for a host function's callback the way JAX
 * waits for every value it reads back, on a flag the callback sets, without
 * a synchronising call the shim could see. On simcuda the GPU's own
 * progress is simcuda_progress(); on a GPU it is real. A callback the shim
 * held would never come: the wait gives up after two seconds (the shim's
 * watchdog issues a held host function within GRAPHSHIM_HOST_WAIT) and
 * counts a miss. */
static volatile int cb_step;
int cb_missed;
static void CUDA_CB mark_step(void *p) { cb_step = *(int *)p; }

static bool callback_seen(const void *want) { return cb_step == *(const int *)want; }

static void wait_for_callback(int want)
{
    cb_missed += !ck_wait_callback(callback_seen, &want);
}

void step_hostwait(lane_t *l, int step)
{
    static int ids[4];
    ids[step % 4] = step + 1; /* a different datum each step: a patched node */
    axpy(l, l->s, 1, 0, 0.5f, false);
    axpy(l, l->s, 2, 1, 0.25f, false);
    CK(cuLaunchHostFunc(l->s, mark_step, &ids[step % 4]));
    wait_for_callback(step + 1);
    axpy(l, l->s, 3, 2, 1.5f, false); /* the next op, after the host saw it */
    inc(l, l->s);
}

/* After an op on s, as XLA follows each: e recorded on s, the callback
 * stream cb waiting on it and a host function there. */
static void xla_callback(CUstream s, CUevent e, CUstream cb)
{
    CK(cuEventRecord(e, s));
    CK(cuStreamWaitEvent(cb, e, 0));
    CK(cuLaunchHostFunc(cb, count_step, &xla_one));
}

/* The end of a JAX step: its value read back on a third stream into
 * page-locked memory and a host function there whose callback the host
 * waits for (no synchronising call), then the lane's counter moves on. */
static void jax_readback(lane_t *l, int step)
{
    static int ids[2];
    CK(cuEventRecord(evs[5], l->s));
    CK(cuStreamWaitEvent(side[1], evs[5], 0));
    CK(cuMemcpyDtoHAsync_v2(l->pinned, l->cnt, 4, side[1]));
    ids[step % 2] = step + 1;
    CK(cuLaunchHostFunc(side[1], mark_step, &ids[step % 2]));
    wait_for_callback(step + 1);
    fold(&l->acc, l->pinned, 4);
    inc(l, l->s);
}

/* xlaop: one op as XLA dispatches it eagerly: the kernel (on fresh buffers
 * each time, so its node is patched), an event recorded after it (from a
 * pool), the callback stream waiting on it and a host function there (which
 * ends the step). */
static void step_xlaop(lane_t *l, int step)
{
    if (step < 8)
        axpy(l, l->s, 3, 0, 0.5f, false); /* warm-up: steps that do not repeat */
    axpy(l, l->s, 1 + step % 2, step % 2, 0.5f, false);
    xla_callback(l->s, evs[step % 4], side[0]);
}

void step_jaxlike(lane_t *l, int step)
{
    static float back[N];
    static int one = 1;
    static unsigned k;
    for (int op = 0; op < 12; op++) {
        axpy(l, l->s, 1 + op % 3, op % 4, 0.25f * (float)(op + 1), false);
        CK(cuEventRecord(evs[k % 6], l->s));
        if (k >= 3 && step % 50 == 49)
            (void)cuEventQuery(evs[(k - 3) % 6]);
        k++;
        if (op == 5)
            CK(cuLaunchHostFunc(l->s, count_step, &one));
    }
    CK(cuStreamWaitEvent(side[0], evs[(k - 1) % 6], 0));
    add3(l, side[0], 5, 1 + step % 3, 4, false);
    add3(l, side[0], 6, 5, 4, false);
    CK(cuMemcpyDtoHAsync_v2(back, l->b[1 + step % 3], sizeof back, side[0]));
    CK(cuStreamSynchronize(side[0]));
    fold(&l->acc, back, sizeof back);
}
/* jaxwait: as JAX runs an eager decode loop: each op a kernel, an event
 * record from a pool and a host function on a callback stream that waits
 * on it; the step's value read back on a third stream into page-locked
 * memory, and a host function there whose callback the host waits for,
 * with no synchronising call at all (on several streams, so no periodic
 * template can follow the run). */
void step_jaxwait(lane_t *l, int step)
{
    static unsigned k;
    for (int op = 0; op < 6; op++, k++) {
        axpy(l, l->s, 1 + op % 3, op % 4, 0.25f * (float)(op + 1), false);
        xla_callback(l->s, evs[k % 5], side[0]);
    }
    jax_readback(l, step);
}

/* The value of step's upload u (jaxupload, xupload), written to its place
 * in the page-locked staging: each step's values in their own half, so a
 * half is rewritten two steps later, once the host has seen the callback
 * that follows them. */
static float *stage_value(float *stage, int step, int u)
{
    float *src = stage + ((step % 2) * 3 + u) * N;
    for (int j = 0; j < N; j++)
        src[j] = 0.5f + (float)((step * 3 + u) % 11) / 8 + (float)j / (4 * N);
    return src;
}

/* jaxupload: jaxwait with JAX's scalars: every other op takes a value the
 * host uploads for it, on an upload stream that first waits for the op
 * before (as XLA's does) and whose own callback stream waits on the
 * upload's record; the compute stream waits on that record before the op's
 * kernel reads the value. Each stream's step ends where it waits on the
 * other's (the upload stream's callback stream joined its step). Upload
 * events alternate between two. Each step's values are staged in its own
 * half of a page-locked buffer, rewritten two steps later, once the host has
 * seen the callback that follows them. */
void step_jaxupload(lane_t *l, int step)
{
    static unsigned k;
    static float *stage;
    if (stage == NULL) {
        /* The program's first upload, as JAX's of its weights: no op waits
         * for it, and the upload stream's step has its callback stream. */
        CK(cuMemAllocHost_v2((void **)&stage, 7 * N * sizeof *stage));
        for (int j = 0; j < 7 * N; j++)
            stage[j] = 1.0f;
        CK(cuMemcpyHtoDAsync_v2(l->b[5], stage + 6 * N, N * sizeof *stage, side[2]));
        xla_callback(side[2], evs[7], side[3]);
    }
    for (int op = 0; op < 6; op++, k++) {
        if (op % 2 == 1) {
            int u = op / 2;
            float *src = stage_value(stage, step, u);
            CUevent e = evs[6 + k % 2];
            CK(cuStreamWaitEvent(side[2], evs[(k + 4) % 5], 0)); /* after the op before */
            CK(cuMemcpyHtoDAsync_v2(l->b[5 + u], src, N * sizeof *src, side[2]));
            xla_callback(side[2], e, side[3]);
            CK(cuStreamWaitEvent(l->s, e, 0));
            add3(l, l->s, 1 + op % 3, op % 4, 5 + u, false);
        } else {
            axpy(l, l->s, 1 + op % 3, op % 4, 0.25f * (float)(op + 1), false);
        }
        xla_callback(l->s, evs[k % 5], side[0]);
    }
    jax_readback(l, step);
}

/* xupload: jaxupload's uploads made by a thread of their own, as XLA's
 * transfer thread makes them. The launching thread hands it each value and
 * waits until the upload's event is recorded (XLA then knows its
 * definition event), then waits on it on the compute stream; meanwhile the
 * upload thread issues its callback stream's wait and host function, so
 * the two threads' calls interleave in an order that varies from run to
 * run (each stream's own order does not). The upload thread waits on the
 * compute stream's record of the op before, held in the other thread's
 * step, as XLA's does. */
/* xrace: xupload with the order of the two threads' calls decided: the
 * upload thread's host function comes before the launching thread's wait
 * (as most often in XLA) except in one upload every fourth step, where it
 * comes right after it (the other order XLA's threads take). The shim's
 * steps are the same either way (the two ops are on different streams and
 * share no event), so the template learnt from the usual order must match
 * the other one too (src/hold.c), and the results must not change. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned asked, recorded, issued; /* uploads asked for, recorded, all issued */
    unsigned waited;                  /* xrace: the launching thread's waits made */
    bool force, late;                 /* xrace; this upload's host function after the wait */
    const float *src;
    CUdeviceptr dst;
    CUevent e, before;
    CUcontext ctx;
} xu = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void hand_over(pthread_mutex_t *mu, pthread_cond_t *cv, unsigned *what, unsigned v)
{
    pthread_mutex_lock(mu);
    *what = v;
    pthread_cond_broadcast(cv);
    pthread_mutex_unlock(mu);
}

void start_helper(void *(*fn)(void *))
{
    pthread_t th;
    CK(pthread_create(&th, NULL, fn, NULL));
    pthread_detach(th);
}

static void *xupload_thread(void *arg)
{
    (void)arg;
    CK(cuCtxSetCurrent(xu.ctx));
    for (unsigned done = 0;; done++) {
        pthread_mutex_lock(&xu.mu);
        while (xu.asked == done)
            pthread_cond_wait(&xu.cv, &xu.mu);
        const float *src = xu.src;
        CUdeviceptr dst = xu.dst;
        CUevent e = xu.e, before = xu.before;
        bool force = xu.force, late = xu.late;
        pthread_mutex_unlock(&xu.mu);
        CK(cuStreamWaitEvent(side[2], before, 0));
        CK(cuMemcpyHtoDAsync_v2(dst, src, N * sizeof *src, side[2]));
        CK(cuEventRecord(e, side[2]));
        if (!force)
            hand_over(&xu.mu, &xu.cv, &xu.recorded, done + 1);
        CK(cuStreamWaitEvent(side[3], e, 0));
        if (force && late) {
            hand_over(&xu.mu, &xu.cv, &xu.recorded, done + 1);
            pthread_mutex_lock(&xu.mu);
            while (xu.waited < done + 1)
                pthread_cond_wait(&xu.cv, &xu.mu);
            pthread_mutex_unlock(&xu.mu);
        }
        CK(cuLaunchHostFunc(side[3], count_step, &xla_one));
        if (force && !late)
            hand_over(&xu.mu, &xu.cv, &xu.recorded, done + 1);
        hand_over(&xu.mu, &xu.cv, &xu.issued, done + 1);
    }
    return NULL;
}

/* After the last step: the upload thread's last calls issued and every
 * callback run, so that the count of them does not race with the exit. */
void xupload_finish(void)
{
    pthread_mutex_lock(&xu.mu);
    while (xu.issued < xu.asked)
        pthread_cond_wait(&xu.cv, &xu.mu);
    pthread_mutex_unlock(&xu.mu);
    CK(cuCtxSynchronize());
}

static void uploads(lane_t *l, int step, bool force)
{
    static unsigned k;
    static float *stage;
    if (stage == NULL) {
        CK(cuMemAllocHost_v2((void **)&stage, 6 * N * sizeof *stage));
        CK(cuCtxGetCurrent(&xu.ctx));
        start_helper(xupload_thread);
    }
    for (int op = 0; op < 6; op++, k++) {
        if (op % 2 == 1) {
            int u = op / 2;
            float *src = stage_value(stage, step, u);
            pthread_mutex_lock(&xu.mu);
            xu.src = src;
            xu.dst = l->b[5 + u];
            xu.e = evs[6 + k % 2];
            xu.before = evs[(k + 4) % 5];
            xu.force = force;
            xu.late = step % 4 == 3 && u == 1;
            unsigned want = ++xu.asked;
            pthread_cond_broadcast(&xu.cv);
            while (xu.recorded < want)
                pthread_cond_wait(&xu.cv, &xu.mu);
            pthread_mutex_unlock(&xu.mu);
            CK(cuStreamWaitEvent(l->s, evs[6 + k % 2], 0));
            if (force) {
                /* The kernel after the wait comes after the upload
                 * thread's host function, whichever order they took. */
                hand_over(&xu.mu, &xu.cv, &xu.waited, want);
                pthread_mutex_lock(&xu.mu);
                while (xu.issued < want)
                    pthread_cond_wait(&xu.cv, &xu.mu);
                pthread_mutex_unlock(&xu.mu);
            }
            add3(l, l->s, 1 + op % 3, op % 4, 5 + u, false);
        } else {
            axpy(l, l->s, 1 + op % 3, op % 4, 0.25f * (float)(op + 1), false);
        }
        xla_callback(l->s, evs[k % 5], side[0]);
    }
    jax_readback(l, step);
}

void step_xupload(lane_t *l, int step) { uploads(l, step, false); }
void step_xrace(lane_t *l, int step) { uploads(l, step, true); }

void step_xlaops(lane_t *l, int step)
{
    step_xlaop(l, step);
    if (step % 50 == 49)
        end_step(l);
}

/* leafobs: a fork and a join whose events time nothing (the shim records
 * them off their streams' chains), the fork's event recorded once before
 * too; after the step the host synchronises with each and reads what its
 * stream copied to the host just before the record. The in-edge of either
 * record, left out, shows as a stale value; every other edge carries data. */
static float *leafobs_pin;
uint64_t leafobs_seen;

void step_leafobs(lane_t *l, int step)
{
    (void)step;
    if (leafobs_pin == NULL)
        CK(cuMemAllocHost_v2((void **)&leafobs_pin, 2 * sizeof *leafobs_pin));
    /* Recorded again below, on the same stream: in the graph the two
     * records are unordered, so this one records the shim's event. */
    CK(cuEventRecord(evs[0], l->s));
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuMemcpyDtoHAsync_v2(&leafobs_pin[0], l->b[1], sizeof *leafobs_pin, l->s));
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    axpy(l, side[0], 2, 1, 0.25f, false);
    CK(cuMemcpyDtoHAsync_v2(&leafobs_pin[1], l->b[2], sizeof *leafobs_pin, side[0]));
    CK(cuEventRecord(evs[1], side[0]));
    axpy(l, l->s, 5, 1, 2.0f, false);
    CK(cuStreamWaitEvent(l->s, evs[1], 0));
    add3(l, l->s, 0, 2, 5, false);
    tail(l, l->s);
    for (int k = 0; k < 2; k++) {
        CK(cuEventSynchronize(evs[k]));
        uint32_t bits;
        memcpy(&bits, &leafobs_pin[k], sizeof bits);
        leafobs_seen = leafobs_seen * 31 + bits;
    }
}

/* hostobs: JAX's callback stream, with callbacks that look: each op's
 * kernel rewrites one buffer, its stream copies it to page-locked memory
 * and records an event, and a callback on the callback stream, after a
 * wait on that event, folds what the copy wrote into a hash, in callback
 * order. The ops alternate between the lane's stream and a second one
 * forked from it, so the callbacks follow two chains: the shim runs the
 * four from one host node (GRAPHSHIM_HOST_MERGE), which must follow both.
 * After the step the host synchronises with each event and reads the copy
 * too. Every edge carries data: a kernel reads and writes the buffer the
 * copy before it on its stream read; the callbacks' node and each record
 * follow a copy. */
static float *hostobs_pin;
static int hostobs_idx[4] = {0, 1, 2, 3};
uint64_t hostobs_cb = 14695981039346656037ull, hostobs_seen;

static void CUDA_CB hostobs_look(void *p)
{
    fold(&hostobs_cb, &hostobs_pin[*(int *)p], sizeof *hostobs_pin);
}

void step_hostobs(lane_t *l, int step)
{
    (void)step;
    if (hostobs_pin == NULL)
        CK(cuMemAllocHost_v2((void **)&hostobs_pin, 4 * sizeof *hostobs_pin));
    CK(cuEventRecord(evs[4], l->s));
    CK(cuStreamWaitEvent(side[1], evs[4], 0));
    for (int op = 0; op < 4; op++) {
        CUstream s = op % 2 ? side[1] : l->s;
        axpy(l, s, 1 + op % 2, 0, 0.5f + 0.25f * (float)op, false);
        CK(cuMemcpyDtoHAsync_v2(&hostobs_pin[op], l->b[1 + op % 2], sizeof *hostobs_pin, s));
        CK(cuEventRecord(evs[op], s));
        CK(cuStreamWaitEvent(side[0], evs[op], 0));
        CK(cuLaunchHostFunc(side[0], hostobs_look, &hostobs_idx[op]));
    }
    for (int op = 0; op < 4; op++) {
        CK(cuEventSynchronize(evs[op]));
        uint32_t bits;
        memcpy(&bits, &hostobs_pin[op], sizeof bits);
        hostobs_seen = hostobs_seen * 31 + bits;
    }
    CK(cuStreamSynchronize(side[0])); /* the callbacks ran: the hash is theirs */
}

/* poolobs: XLA's event pools. After each of three ops the lane's stream
 * copies its result to the host and records an event without timing from
 * a pool of five, a different one every step (the shim patches the record
 * nodes at every launch); a side stream forks from the second and joins
 * back by an event that stays the same.
 * After the step the host synchronises with each event and reads the copy
 * before it: a record made too early, or not at all, shows as a stale
 * value (each in turn, so that every record's in-edge shows). */
static float *poolobs_pin;
uint64_t poolobs_seen;

void step_poolobs(lane_t *l, int step)
{
    if (poolobs_pin == NULL)
        CK(cuMemAllocHost_v2((void **)&poolobs_pin, 4 * sizeof *poolobs_pin));
    CUevent e[3];
    for (int op = 0; op < 3; op++) {
        e[op] = evs[3 + (3 * step + op) % 5];
        axpy(l, l->s, 1 + op, op, 0.5f + 0.25f * (float)op, false);
        CK(cuMemcpyDtoHAsync_v2(&poolobs_pin[op], l->b[1 + op], sizeof *poolobs_pin, l->s));
        CK(cuEventRecord(e[op], l->s));
        if (op == 1) {
            CK(cuStreamWaitEvent(side[0], e[op], 0));
            axpy(l, side[0], 4, 2, 0.125f, false);
            CK(cuMemcpyDtoHAsync_v2(&poolobs_pin[3], l->b[4], sizeof *poolobs_pin, side[0]));
            CK(cuEventRecord(evs[0], side[0]));
            CK(cuStreamWaitEvent(l->s, evs[0], 0));
        }
    }
    add3(l, l->s, 0, 3, 4, false);
    tail(l, l->s);
    static const int order[4] = {0, 1, 3, 2}; /* each event's copies in turn */
    for (int k = 0; k < 4; k++) {
        int op = order[k];
        CK(cuEventSynchronize(op < 3 ? e[op] : evs[0]));
        uint32_t bits;
        memcpy(&bits, &poolobs_pin[op], sizeof bits);
        poolobs_seen = poolobs_seen * 31 + bits;
    }
}

/* sidepre: a stream's own work before it joins a step. The side stream
 * rewrites a buffer by itself (a step of its own, or eager), then waits on
 * the lane's event and its part of the lane's step reads that buffer: the
 * graph, launched on the lane's stream, must wait for the side stream's
 * earlier work (hold.c order_slots). */
void step_sidepre(lane_t *l, int step)
{
    (void)step;
    axpy(l, side[0], 3, 4, 0.75f, false);
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[1], l->s));
    CK(cuStreamWaitEvent(side[0], evs[1], 0));
    add3(l, side[0], 4, 3, 1, false);
    CK(cuEventRecord(evs[2], side[0]));
    axpy(l, l->s, 2, 1, 0.25f, false);
    CK(cuStreamWaitEvent(l->s, evs[2], 0));
    add3(l, l->s, 0, 2, 4, false);
    tail(l, l->s);
}

/* hostjoin: a callback, then later on its stream a record the host
 * synchronises with, which must find the callback run. Cut into chunks of
 * three ops (as dag_diff.sh runs it) the callback ends a chunk and runs
 * after that chunk's graph on its own stream; the record is a node of a
 * later chunk, launched on the lane's stream, which must wait for it
 * (graph.c wait_after). */
static atomic_int hostjoin_calls;
uint64_t hostjoin_seen;

static void CUDA_CB hostjoin_count(void *p)
{
    (void)p;
    atomic_fetch_add(&hostjoin_calls, 1);
}

void step_hostjoin(lane_t *l, int step)
{
    (void)step;
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[1], l->s));
    CK(cuStreamWaitEvent(side[0], evs[1], 0));
    CK(cuLaunchHostFunc(side[0], hostjoin_count, NULL));
    axpy(l, l->s, 2, 1, 0.25f, false);
    axpy(l, l->s, 3, 2, 0.75f, false);
    axpy(l, l->s, 0, 3, 0.125f, false);
    CK(cuEventRecord(evs[2], side[0]));
    tail(l, l->s);
    CK(cuEventSynchronize(evs[2]));
    hostjoin_seen = hostjoin_seen * 31 + (uint64_t)atomic_load(&hostjoin_calls);
}

/* hostrec: a callback, then a record on its stream, a second stream that
 * waits for the record and whose callback reads what the first wrote, and
 * a second callback on the first stream. The first callback must run
 * before the record completes: merged into the second one's host node
 * (across the record, which GRAPHSHIM_HOST_MERGE must not do) it would
 * run after the record, beside the reader, which would then see the step
 * before's value. The reading stream joins back before the step ends. */
static atomic_int hostrec_flag;
uint64_t hostrec_seen;

static void CUDA_CB hostrec_write(void *p) { atomic_store(&hostrec_flag, *(int *)p); }
static void CUDA_CB hostrec_read(void *p)
{
    if (atomic_load(&hostrec_flag) == *(int *)p)
        hostrec_seen++;
}
static void CUDA_CB hostrec_other(void *p) { (void)p; }

void step_hostrec(lane_t *l, int step)
{
    static int tag;
    tag = step + 1; /* the last step's callbacks have run (end_step) */
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuLaunchHostFunc(l->s, hostrec_write, &tag));
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    CK(cuLaunchHostFunc(side[0], hostrec_read, &tag));
    CK(cuLaunchHostFunc(l->s, hostrec_other, NULL));
    CK(cuEventRecord(evs[1], side[0]));
    CK(cuStreamWaitEvent(l->s, evs[1], 0));
    axpy(l, l->s, 2, 1, 0.25f, false);
    tail(l, l->s);
}
