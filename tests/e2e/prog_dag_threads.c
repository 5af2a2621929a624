/* prog_dag_threads.c: a scenario of prog_dag where one thread's call must
 * reach the driver after another thread's graph launch that the shim made
 * after its engine lock (GRAPHSHIM_UNLOCKED_LAUNCH, src/submit.c).
 *
 * xorder: the launching thread's step increments the lane's counter,
 * records an event, tells a second thread, and launches one more kernel,
 * which completes the step's template: the shim launches its graph then,
 * after the engine lock. The second thread, told after the record returned
 * (so, by CUDA's rules, a wait for the event follows that record), waits a
 * little, synchronises with the event on the host and reads the counter
 * back. By then the step's ops are no longer held, so the shim forwards the
 * synchronisation while the launch may still be in flight (the simulated
 * driver's SIMCUDA_GRAPH_LAUNCH_NS makes it last). Were it not held back
 * until the launch is out (GRAPHSHIM_TEST_UNORDERED), it would wait for the
 * event's previous record and read the counter a step behind.
 */
#include "config.h"
#include "ck.h"
#include "prog_dag.h"

#include <pthread.h>
#include <time.h>

int xorder_bad; /* counters the second thread read a step behind */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned asked, done;
    CUdeviceptr cnt;
    CUcontext ctx;
} xo = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL};

static void spin_us(long us)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000l + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

static void *reader(void *arg)
{
    (void)arg;
    CK(cuCtxSetCurrent(xo.ctx));
    for (unsigned k = 0;; k++) {
        pthread_mutex_lock(&xo.mu);
        while (xo.asked == k)
            pthread_cond_wait(&xo.cv, &xo.mu);
        pthread_mutex_unlock(&xo.mu);
        /* The other thread's next call (which launches the step) is on
         * its way meanwhile. */
        spin_us(200);
        CK(cuEventSynchronize(evs[0]));
        int seen = -1;
        CK(cuMemcpyDtoH_v2(&seen, xo.cnt, sizeof seen));
        if (seen != (int)k + 1)
            xorder_bad++;
        hand_over(&xo.mu, &xo.cv, &xo.done, k + 1);
    }
    return NULL;
}

void step_xorder(lane_t *l, int step)
{
    if (step == 0) {
        xo.cnt = l->cnt;
        CK(cuMemsetD32Async(l->cnt, 0, 1, l->s));
        CK(cuStreamSynchronize(l->s));
        CK(cuCtxGetCurrent(&xo.ctx));
        start_helper(reader);
    }
    inc(l, l->s);
    CK(cuEventRecord(evs[0], l->s));
    unsigned want = xo.asked + 1; /* (only this thread writes it) */
    hand_over(&xo.mu, &xo.cv, &xo.asked, want);
    axpy(l, l->s, 3, 2, 0.5f, false);
    /* The step ends when the reader has read: the next increment must not
     * overtake its read. */
    pthread_mutex_lock(&xo.mu);
    while (xo.done < want)
        pthread_cond_wait(&xo.cv, &xo.mu);
    pthread_mutex_unlock(&xo.mu);
    CK(cuStreamSynchronize(l->s));
}
