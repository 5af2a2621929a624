/* prog_dag.h: what the scenarios of prog_dag share: a lane (buffers, a
 * counter, page-locked memory and a stream), the kernels that work on it,
 * the side streams and events, and the host-function scenarios that live
 * in prog_dag_host.c (JAX's and XLA's patterns, the host waiting for a
 * callback). */
#ifndef PROG_DAG_H
#define PROG_DAG_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define N 256
#define NB 8

typedef struct {
    CUdeviceptr b[NB];
    CUdeviceptr cnt;
    int *pinned;
    CUstream s;
    uint64_t acc;
} lane_t;

extern int n;            /* elements per buffer, as a kernel argument */
extern CUstream side[4]; /* streams work forks to */
extern CUevent evs[8];

void fold(uint64_t *acc, const void *p, size_t len);
/* b[y] = a * b[x] + b[y] on s (a programmatic launch of the _gds twin). */
void axpy(lane_t *l, CUstream s, int y, int x, float a, bool pdl);
/* b[y] = b[a] + b[b] on s. */
void add3(lane_t *l, CUstream s, int y, int a, int b, bool pdl);
/* The lane's counter, plus one, on s. */
void inc(lane_t *l, CUstream s);
/* The lane's counter set from b[0] on s: the step's result. */
void tail(lane_t *l, CUstream s);
/* The counter read back and the lane's stream synchronised. */
void end_step(lane_t *l);

/* prog_dag_host.c */
extern int host_steps; /* what host functions counted */
extern int cb_missed;  /* callbacks the host gave up waiting for */
void step_hostfn(lane_t *l, int step);
void step_hostwait(lane_t *l, int step);
void step_xlaops(lane_t *l, int step);
void step_jaxlike(lane_t *l, int step);
void step_jaxwait(lane_t *l, int step);
void step_jaxupload(lane_t *l, int step);
void step_xupload(lane_t *l, int step);
void step_xrace(lane_t *l, int step);
void xupload_finish(void);
extern uint64_t leafobs_seen; /* what the host read after each event */
void step_leafobs(lane_t *l, int step);
extern uint64_t hostobs_cb, hostobs_seen; /* what callbacks and host read */
void step_hostobs(lane_t *l, int step);
extern uint64_t poolobs_seen; /* what the host read after each pooled event */
void step_poolobs(lane_t *l, int step);
void step_sidepre(lane_t *l, int step);
extern uint64_t hostjoin_seen; /* callbacks run when a later record completed */
void step_hostjoin(lane_t *l, int step);
extern uint64_t hostrec_seen; /* readers that found the callback before the record run */
void step_hostrec(lane_t *l, int step);

/* A scenario's second thread (prog_dag_host.c): started detached, and
 * told how far the other has got: *what = v under mu, cv's waiters woken. */
void start_helper(void *(*fn)(void *));
void hand_over(pthread_mutex_t *mu, pthread_cond_t *cv, unsigned *what, unsigned v);

/* prog_dag_threads.c */
extern int xorder_bad; /* counters read a step behind */
void step_xorder(lane_t *l, int step);

/* prog_dag_events.c */
extern int evsync_seen, elapsed_ok, spins_ok; /* what the host saw */
void events_init(void); /* the side streams and events */
void step_streams1(lane_t *l, int step);
void step_fan(lane_t *l, int step);
void step_pool(lane_t *l, int step);
void step_torchlike(lane_t *l, int step);
void step_legacyblk(lane_t *l, int step);
void step_blklegacy(lane_t *l, int step);
void step_rerecord(lane_t *l, int step);
void step_xrecord(lane_t *l, int step);
void step_evsync(lane_t *l, int step);
void step_noreturn(lane_t *l, int step);
void step_evict(lane_t *l, int step);
void step_timing(lane_t *l, int step);
void step_capfork(lane_t *l, int step);
void step_extwait(lane_t *l, int step);
void step_slotwait(lane_t *l, int step);
void step_spinquery(lane_t *l, int step);
void after_timing(void);

#endif
