/* prog_dag_events.c: prog_dag's scenarios of streams and events: fork and
 * join (streams, fan, pool), PyTorch's side stream (torchlike) and the
 * legacy stream's implicit order (legacyblk, blklegacy), events recorded
 * again and on two streams (rerecord, xrecord), the host synchronising with
 * or polling an event (evsync, spinquery), timing events (timing), waits on
 * earlier steps' and other steps' records (extwait, slotwait), a stream
 * that never joins back (noreturn), a template evicted by another stream's
 * (evict), and the program's own captured graph (capfork); and the streams
 * and events they share, made by events_init. The scenarios' own
 * descriptions are at the top of prog_dag.c. */
#include "config.h"

#include "ck.h"

#include "prog_dag.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* One stream forked and joined per layer: B computes part of each layer. */
CUstream side[4];
CUevent evs[8];

static void step_streams(lane_t *l, int step, int nside, bool pool)
{
    unsigned base = pool ? (unsigned)(step % 2) * 4 : 0;
    for (int layer = 0; layer < 2; layer++) {
        axpy(l, l->s, 1, 0, 0.5f, false);
        CK(cuEventRecord(evs[base], l->s));
        for (int k = 0; k < nside; k++) {
            CK(cuStreamWaitEvent(side[k], evs[base], 0));
            axpy(l, side[k], 2 + k, 1, 0.25f * (float)(k + 1), false);
            CK(cuEventRecord(evs[base + 1 + k], side[k]));
        }
        axpy(l, l->s, 5, 1, 2.0f, false); /* on A, beside the side streams */
        for (int k = 0; k < nside; k++)
            CK(cuStreamWaitEvent(l->s, evs[base + 1 + k], 0));
        add3(l, l->s, 0, 2, 5, false);
        if (nside > 1)
            add3(l, l->s, 0, 0, 3, false);
    }
    /* Every edge of the step carries data, so a missing one shows. */
    tail(l, l->s);
}

/* torchlike: PyTorch's side stream. The main stream is the legacy stream;
 * wait_stream records a new event and destroys it right after the wait;
 * record_stream records the allocator's event, which the allocator queries
 * before it reuses the block (the next layer). */
static CUevent alloc_ev[3];
static CUstream blk; /* a blocking stream (legacyblk) */

static void fork_join_event(CUstream from, CUstream to)
{
    CUevent e;
    CK(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING));
    CK(cuEventRecord(e, from));
    CK(cuStreamWaitEvent(to, e, 0));
    CK(cuEventDestroy_v2(e)); /* the torch.cuda.Event dies at once */
}

void step_torchlike(lane_t *l, int step)
{
    (void)step;
    for (int layer = 0; layer < 3; layer++) {
        axpy(l, l->s, 1, 0, 0.5f, false);
        fork_join_event(l->s, side[0]);              /* side.wait_stream(main) */
        axpy(l, side[0], 2, 1, 0.25f, false);        /* the gate, on the side */
        axpy(l, l->s, 5, 1, 2.0f, false);            /* main, beside it */
        fork_join_event(side[0], l->s);              /* main.wait_stream(side) */
        add3(l, l->s, 0, 2, 5, false);               /* reads the side's output */
        CK(cuEventRecord(alloc_ev[layer], l->s));     /* g.record_stream(main) */
        if (layer > 0)
            (void)cuEventQuery(alloc_ev[layer - 1]); /* may the block be reused? */
    }
    tail(l, l->s);
}

/* legacyblk: on the legacy stream, a fork to a blocking stream, whose
 * result the legacy stream then reads without a join: the legacy stream's
 * implicit synchronisation orders it, which a graph would not (the blocking
 * stream must not join the legacy stream's step). */
void step_legacyblk(lane_t *l, int step)
{
    (void)step;
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(blk, evs[0], 0));
    axpy(l, blk, 2, 1, 0.25f, false);  /* on the blocking stream */
    add3(l, l->s, 0, 2, 1, false);     /* legacy: after it, implicitly */
    tail(l, l->s);
}

/* blklegacy: a blocking stream's step, in the middle of which the legacy
 * stream reads what it wrote (implicit synchronisation): what the blocking
 * stream's step holds must go out first. */
void step_blklegacy(lane_t *l, int step)
{
    (void)step;
    axpy(l, blk, 1, 0, 0.5f, false);
    axpy(l, blk, 2, 1, 0.25f, false);
    add3(l, NULL, 3, 2, 1, false); /* the legacy stream, after blk's work */
    add3(l, blk, 0, 3, 0, false);  /* b0 grows: every value depends on the order */
    CK(cuMemcpyDtoHAsync_v2(l->pinned, l->cnt, 4, blk));
    CK(cuStreamSynchronize(blk));
    fold(&l->acc, l->pinned, 4);
}

/* rerecord: the stream's step records event e and goes on; another stream,
 * in a step of its own, records e again; a third waits on e and reads what
 * the second wrote. The first step's record must reach the GPU before the
 * second one (the event's latest record is the second). */
void step_rerecord(lane_t *l, int step)
{
    if (step > 0)
        CK(cuStreamWaitEvent(side[0], evs[3], 0));
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[0], l->s));
    axpy(l, l->s, 2, 1, 0.25f, false);
    axpy(l, side[0], 3, 4, 1.5f, false);
    CK(cuEventRecord(evs[0], side[0]));   /* e again, on another stream */
    CK(cuStreamWaitEvent(side[1], evs[0], 0));
    add3(l, side[1], 5, 3, 4, false);     /* reads what side[0] wrote */
    CK(cuEventRecord(evs[1], side[1]));
    axpy(l, l->s, 2, 1, 0.5f, false);
    CK(cuStreamWaitEvent(l->s, evs[1], 0));
    add3(l, l->s, 0, 5, 2, false);
    tail(l, l->s);
    /* After the first stream's step went out, a fourth stream waits on e:
     * it must find the second stream's record, the latest. */
    CK(cuStreamWaitEvent(side[2], evs[0], 0));
    add3(l, side[2], 7, 3, 7, false); /* b7: only this stream's */
    CK(cuEventRecord(evs[3], side[2])); /* the next write of b3 waits for it */
}

/* xrecord: one event recorded on two streams of a step with no order
 * between the records (the second stream forked from the first), then the
 * legacy stream, which cannot join the step, waits on the event: it must
 * find the second record, after the work it reads. */
void step_xrecord(lane_t *l, int step)
{
    (void)step;
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    axpy(l, side[0], 2, 1, 0.25f, false); /* b2: the second stream's */
    axpy(l, l->s, 3, 1, 1.5f, false);
    CK(cuEventRecord(evs[1], l->s));
    CK(cuEventRecord(evs[1], side[0])); /* e again: the latest */
    /* The legacy stream cannot join the step: its wait ends the step. */
    CK(cuStreamWaitEvent(NULL, evs[1], 0));
    add3(l, NULL, 4, 2, 2, false); /* reads b2 only */
    CK(cuStreamSynchronize(NULL));
    static float b4[N];
    CK(cuMemcpyDtoH_v2(b4, l->b[4], sizeof b4)); /* what the legacy stream read, each step */
    fold(&l->acc, b4, sizeof b4);
    CK(cuStreamSynchronize(side[0]));
}

/* evsync: every 10th step the host synchronises with an event recorded in
 * the middle of the step and reads page-locked memory copied before it
 * (in the other steps nothing looks): the held copy must go out. */
int evsync_seen;
void step_evsync(lane_t *l, int step)
{
    axpy(l, l->s, 1, 0, 0.5f, false);
    inc(l, l->s);
    CK(cuMemcpyDtoHAsync_v2(l->pinned, l->cnt, 4, l->s));
    CK(cuEventRecord(evs[2], l->s));
    if (step % 10 == 9) {
        CK(cuEventSynchronize(evs[2]));
        evsync_seen = evsync_seen * 31 + *l->pinned;
    }
    axpy(l, l->s, 2, 1, 0.25f, false);
    axpy(l, l->s, 0, 2, 0.125f, false);
}

void step_noreturn(lane_t *l, int step)
{
    (void)step;
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    axpy(l, side[0], 2, 1, 0.25f, false); /* B: reads what A wrote */
    axpy(l, l->s, 3, 1, 1.5f, false);
    inc(l, l->s);
    end_step(l);
    /* B never joined back: the program waits for it and uses its output
     * in the next step (on A, after this sync). */
    CK(cuStreamSynchronize(side[0]));
}

static CUevent t0, t1;

void step_evict(lane_t *l, int step)
{
    axpy(l, l->s, 1, 0, 0.5f, false);
    axpy(l, l->s, 2, 1, 0.25f * (float)(step % 3 + 1), false);
    CK(cuEventRecord(evs[0], l->s));
    axpy(l, side[0], 3, 3, 0.125f, false); /* the side stream's own step */
    axpy(l, side[0], 4, 3, 1.0f, false);
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    add3(l, side[0], 5, 2, 4, false);
    CK(cuEventRecord(evs[1], side[0]));
    CK(cuStreamWaitEvent(l->s, evs[1], 0));
    inc(l, l->s);
}

static float elapsed_sum;
int elapsed_ok;

void step_timing(lane_t *l, int step)
{
    (void)step;
    CK(cuEventRecord(t0, l->s));
    axpy(l, l->s, 1, 0, 0.5f, false);
    axpy(l, l->s, 2, 1, 0.5f, false);
    CK(cuEventRecord(t1, l->s));
    inc(l, l->s);
}

void after_timing(void)
{
    float ms = -1;
    CUresult r = cuEventElapsedTime(&ms, t0, t1);
    elapsed_ok += r == CUDA_SUCCESS && ms >= 0;
    elapsed_sum += r == CUDA_SUCCESS ? ms : 0;
}

/* The step waits on an event recorded at the end of the step before (an
 * event from outside the step: an event wait node), alternating two events
 * (the node is patched). */
static CUgraphExec capfork_exec;

void step_capfork(lane_t *l, int step)
{
    if (capfork_exec == NULL) {
        CUgraph g;
        CK(cuStreamBeginCapture_v2(side[0], CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
        CK(cuMemsetD32Async(l->b[4], 0x3f800000u, N, side[0])); /* 1.0f */
        CK(cuStreamEndCapture(side[0], &g));
        CK(cuGraphInstantiateWithFlags(&capfork_exec, g, 0));
        CK(cuGraphDestroy(g));
    }
    CK(cuMemsetD32Async(l->b[4], 0x40000000u, N, l->s)); /* A writes 2.0 to b4 ... */
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    /* Every other step the side stream does more first: two templates
     * share the prefix, so the shorter one goes out only when the program's
     * graph launch (a barrier of the side stream) settles it. */
    if (step % 2)
        axpy(l, side[0], 5, 4, 1.0f, false);
    CK(cuGraphLaunch(capfork_exec, side[0])); /* ... the graph writes 1.0 over it */
    CK(cuStreamSynchronize(side[0]));
    axpy(l, l->s, 1, 4, (float)(step % 3 + 1), false); /* A reads the graph's b4 */
    inc(l, l->s);
}


void step_extwait(lane_t *l, int step)
{
    if (step > 0)
        CK(cuStreamWaitEvent(l->s, evs[6 + (step - 1) % 2], 0));
    axpy(l, l->s, 1, 0, 0.5f, false);
    add3(l, l->s, 0, 1, 2, false);
    inc(l, l->s);
    CK(cuEventRecord(evs[6 + step % 2], l->s));
}

/* slotwait: a stream that joined the step (side 0) waits on a record of an
 * upload stream whose step is its own (its callback stream joined it): the
 * joined stream cannot join that step too, and its kernel must follow the
 * upload (it reads what was uploaded). */
static void CUDA_CB uploaded(void *p) { host_steps += *(int *)p; }

void step_slotwait(lane_t *l, int step)
{
    static float *stage;
    static int one = 1;
    if (stage == NULL)
        CK(cuMemAllocHost_v2((void **)&stage, N * sizeof *stage));
    for (int j = 0; j < N; j++)
        stage[j] = 0.75f + (float)(step % 7) / 4 + (float)j / (2 * N);
    axpy(l, l->s, 1, 0, 0.5f, false);
    CK(cuEventRecord(evs[0], l->s));
    CK(cuStreamWaitEvent(side[0], evs[0], 0));
    CK(cuMemcpyHtoDAsync_v2(l->b[5], stage, N * sizeof *stage, side[2]));
    CK(cuEventRecord(evs[6], side[2]));
    CK(cuStreamWaitEvent(side[3], evs[6], 0));
    CK(cuLaunchHostFunc(side[3], uploaded, &one));
    CK(cuStreamWaitEvent(side[0], evs[6], 0));
    add3(l, side[0], 2, 1, 5, false);
    CK(cuEventRecord(evs[1], side[0]));
    CK(cuStreamWaitEvent(l->s, evs[1], 0));
    axpy(l, l->s, 3, 2, 0.25f, false);
    add3(l, l->s, 0, 3, 0, false);
    inc(l, l->s);
}

/* spinquery: the host spins on cuEventQuery of an event recorded after a
 * copy to page-locked memory, in the middle of the step, then reads what
 * was copied: a held record is "not ready" a few times, then its step goes
 * out and the answer comes (a wrong "ready" reads the last step's value). */
int spins_ok;
void step_spinquery(lane_t *l, int step)
{
    axpy(l, l->s, 1, 0, 0.5f + (float)(step % 3) * 0.25f, false);
    inc(l, l->s);
    CK(cuMemcpyDtoHAsync_v2(l->pinned, l->cnt, 4, l->s));
    CK(cuEventRecord(evs[0], l->s));
    CUresult r;
    long spins = 0;
    while ((r = cuEventQuery(evs[0])) == CUDA_ERROR_NOT_READY && spins < 100000000)
        spins++;
    CK(r);
    spins_ok += *l->pinned == step + 1;
    add3(l, l->s, 0, 1, 2, false);
}

/* ------------------------------------------------------------ threads */

void step_streams1(lane_t *l, int step) { step_streams(l, step, 1, false); }
void step_fan(lane_t *l, int step) { step_streams(l, step, 3, false); }
void step_pool(lane_t *l, int step) { step_streams(l, step, 2, true); }

void events_init(void)
{
    CK(cuStreamCreate(&blk, 0));
    for (int e = 0; e < 3; e++)
        CK(cuEventCreate(&alloc_ev[e], CU_EVENT_DISABLE_TIMING));
    for (int k = 0; k < 4; k++)
        CK(cuStreamCreate(&side[k], CU_STREAM_NON_BLOCKING));
    for (int e = 0; e < 8; e++)
        CK(cuEventCreate(&evs[e], CU_EVENT_DISABLE_TIMING));
    CK(cuEventCreate(&t0, CU_EVENT_DEFAULT));
    CK(cuEventCreate(&t1, CU_EVENT_DEFAULT));
}

