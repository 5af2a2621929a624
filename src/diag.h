/* diag.h: what the shim tells its user about why it did not graph more:
 * step-breakers (each reason a step was cut short or an op was not held,
 * counted, with the program's callers of the first occurrences), measured
 * costs (eager launches against the shim's own graph launches and patches),
 * and a bounded history of steps for `graphshim report --svg`.
 *
 * The recording calls (gs_breaker, gs_diag_step, gs_diag_*_ns) may be made
 * under gs_eng_lock and from any thread: they take no lock of the shim's on
 * the way once a reason has its samples, allocate nothing, and make no
 * loader call (dladdr takes the loader's lock, which a thread running a
 * library's constructor holds while it may wait for gs_eng_lock). Their
 * cost: gs_breaker is a hash probe and two relaxed atomic adds (10 ns
 * measured); gs_diag_step a clock read (vDSO) and a few relaxed atomic adds
 * and stores (43 ns); gs_diag_*_ns a few relaxed atomic adds. A caller
 * sample (the first GS_BREAKER_SAMPLES occurrences of each (reason,
 * detail)) costs a backtrace() of at most GS_CALLER_FRAMES frames and one
 * dl_iterate_phdr() pass over the loaded objects (1.3 us in a small
 * program; more with hundreds of objects loaded); names are looked up
 * (dladdr) only when the report asks for them, at exit (about 10 us a
 * sample). Start-up pays once for the first backtrace(), which loads
 * libgcc_s.so.1 (150 us measured) unless the program already has it.
 *
 * The reading calls (gs_diag_breakers, ...) are for the exit report and the
 * tests; gs_diag_breakers makes loader calls, so it must not run under a
 * shim lock.
 */
#ifndef GS_DIAG_H
#define GS_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a step was cut or an op was not held. `detail` narrows the reason:
 * for `attribute` the launch attribute (CUlaunchAttributeID); for
 * `staging`, `full` and `mismatch` nothing (0); for every other reason a
 * function id (gs_fn_id_t): the barrier call, the op that could not be held
 * (`denied`, `layout`, `args`, `pageable`, `legacy`, `stream`), the event
 * call (`event`), the capture call (`capture`), the shim's own graph call
 * that failed (`failed`, a reals.def id). */
#define GS_BREAKERS(X)                                                        \
    X(barrier, "a call that orders or synchronises work")                     \
    X(attribute, "a launch attribute the shim cannot graph")                  \
    X(denied, "a kernel on the deny list")                                    \
    X(layout, "a kernel whose parameter layout or name is unknown")          \
    X(args, "kernel arguments the shim cannot snapshot")                      \
    X(pageable, "a copy the shim cannot snapshot or hold")                    \
    X(legacy, "the legacy stream's implicit synchronisation")                 \
    X(stream, "an op on a stream that cannot join the step")                  \
    X(event, "an event used where the step cannot follow it")                 \
    X(staging, "staging still read by the last replay")                       \
    X(full, "a step longer than GRAPHSHIM_MAX_OPS")                           \
    X(mismatch, "an op that differed from every template")                    \
    X(hostwait, "a held host function whose callback the program waited for") \
    X(capture, "the program's own stream capture")                            \
    X(failed, "a graph call that failed")

typedef enum {
#define GS_X(name, doc) GS_BRK_##name,
    GS_BREAKERS(GS_X)
#undef GS_X
    GS_BRK_COUNT
} gs_breaker_t;

/* Counts one occurrence of `why` (with `detail`); for the first few of each
 * (why, detail) also records the program's calling function. */
void gs_breaker(gs_breaker_t why, unsigned detail);
/* Set on a thread of the shim's own (the watchdog): its breakers sample no
 * caller, it has none in the program. */
extern GS_HIDDEN GS_TLS bool gs_no_caller_samples;
const char *gs_breaker_name(gs_breaker_t why);
/* One line saying what the reason means (the X-macro's text). */
const char *gs_breaker_doc(gs_breaker_t why);
/* The reason whose name is `name`; GS_BRK_COUNT if none. */
gs_breaker_t gs_breaker_by_name(const char *name);
/* What `detail` names for this reason: a driver function for barrier,
 * stream, legacy and pageable, a CU_LAUNCH_ATTRIBUTE_ name for attribute;
 * NULL where the detail names nothing (writes "attribute 23" and the like
 * into buf for values this build does not know). */
const char *gs_breaker_detail_name(gs_breaker_t why, unsigned detail, char *buf,
                                   size_t n);

/* What became of a step, for the step history. */
typedef enum {
    GS_STEP_LEARNING, /* recorded, forwarded: no template yet */
    GS_STEP_REPLAYED, /* matched a template whole and went out as graphs */
    GS_STEP_EAGER,    /* held, then issued eagerly (a breaker cut it) */
    GS_STEP_OUTCOMES
} gs_step_outcome_t;
const char *gs_step_outcome_name(gs_step_outcome_t o);

/* One closed step of `nops` ops on stream `key`; `why` is the breaker that
 * cut it (GS_BRK_COUNT: none). Counted by stream, outcome and reason; the
 * history keeps the first half of GRAPHSHIM_HISTORY steps and a ring of the
 * most recent half. */
void gs_diag_step(uint64_t key, unsigned nops, gs_step_outcome_t outcome,
                  gs_breaker_t why);

/* A monotonic clock in nanoseconds (vDSO: no system call). */
uint64_t gs_clock_ns(void);
/* Measured costs: an eager launch (sampled), a graph launch of `nodes`
 * nodes with `patched` of them patched (every one), a held op (sampled). */
void gs_diag_eager_ns(uint64_t ns);
/* An event record, stream wait or host function forwarded eagerly: far
 * cheaper than a launch, and the payoff rule must know it (JAX's steps are
 * mostly these). */
void gs_diag_eager_ev_ns(uint64_t ns);
void gs_diag_graph_ns(uint64_t ns, unsigned nodes, unsigned patched);
void gs_diag_hold_ns(uint64_t ns);
/* A held event record, stream wait or host function (sampled), lock
 * included: JAX's steps are mostly these, and the payoff rule must know
 * what holding them costs rather than assume a held launch's cost. */
void gs_diag_hold_ev_ns(uint64_t ns);
/* The graph time measured so far: a held op that sent a chunk takes it out
 * of its own hold time (it is counted as graph time already). */
uint64_t gs_diag_graph_total_ns(void);

/* ------------------------------------------------------------- reading */

#define GS_BREAKER_SAMPLES 4 /* callers sampled per (reason, detail) */
#define GS_CALLER_FRAMES 32  /* frames of a sample's backtrace */
#define GS_CALLER_CHAIN 3    /* frames reported from the caller outwards */

/* One frame of the program, as the report names it. */
typedef struct {
    char lib[160];     /* the object's path ("" unknown) */
    char sym[192];     /* the exported symbol containing it ("" none) */
    uintptr_t offset;  /* from sym, or from the object's base without one */
} gs_frame_t;

/* A distinct caller among the samples of one (reason, detail). */
typedef struct {
    gs_frame_t chain[GS_CALLER_CHAIN]; /* [0] the caller, then its callers */
    unsigned depth;                    /* frames in chain */
    unsigned hits;                     /* samples with this caller */
} gs_caller_t;

typedef struct {
    gs_breaker_t why;
    unsigned detail;
    unsigned long long count;
    unsigned ncallers;
    gs_caller_t callers[GS_BREAKER_SAMPLES];
} gs_breaker_info_t;

/* Every (reason, detail) seen, most frequent first, with the callers of
 * their samples resolved to names. Writes at most max; returns how many
 * there are. Makes loader calls: never under a shim lock. */
size_t gs_diag_breakers(gs_breaker_info_t *out, size_t max);
/* Occurrences of one reason, all details together. */
unsigned long long gs_diag_breaker_count(gs_breaker_t why);

/* A measured cost: samples, their sum, extremes and median (from a log2
 * histogram with 4 steps per octave: within 19%). */
typedef struct {
    unsigned long long n, total_ns, min_ns, max_ns, median_ns;
} gs_cost_t;
typedef struct {
    gs_cost_t eager, eager_ev, hold, hold_ev, graph;
    unsigned long long graph_nodes, graph_patched;
} gs_costs_t;
void gs_diag_costs(gs_costs_t *out);

/* The estimate of driver time saved: the ops replayed at the mean measured
 * eager cost of a launch (event records, waits and host functions, ev_replayed
 * of them, at the mean of those when measured: far less), less the
 * measured graph launch and patch time and the mean measured hold cost
 * times the ops held. False when a cost was not measured (then *saved_ns
 * is 0). */
typedef struct {
    double eager_ns_per_op, eager_ev_ns_per_op, hold_ns_per_op;
    unsigned long long ops_replayed, ev_replayed, ops_held;
    double eager_ns, graph_ns, hold_ns; /* the three terms */
    double saved_ns;
} gs_saving_t;
bool gs_diag_saving(unsigned long long ops_replayed, unsigned long long ev_replayed,
                    gs_saving_t *out);

/* Steps and ops by outcome, per stream in the order streams were first
 * seen; ordinal GS_DIAG_STREAMS gathers the streams beyond the table. */
#define GS_DIAG_STREAMS 64
typedef struct {
    uint64_t key;
    bool others; /* the streams beyond the table, together */
    unsigned long long steps[GS_STEP_OUTCOMES], ops[GS_STEP_OUTCOMES];
} gs_stream_diag_t;
size_t gs_diag_streams(gs_stream_diag_t *out, size_t max);
/* Steps and ops of one outcome cut by `why` (GS_BRK_COUNT: by none). */
void gs_diag_steps_by_reason(gs_step_outcome_t o, gs_breaker_t why,
                             unsigned long long *steps, unsigned long long *ops);

/* One step of the history. */
typedef struct {
    uint64_t seq;     /* the step's number among all closed steps */
    uint64_t t_ns;    /* when it closed, since the first step closed */
    uint32_t nops;
    uint16_t stream;  /* ordinal as in gs_diag_streams */
    uint8_t outcome;  /* gs_step_outcome_t */
    uint8_t why;      /* gs_breaker_t; GS_BRK_COUNT: none */
} gs_hist_t;
/* The history in order of closing (the first half, then the ring's
 * oldest to newest); returns how many were written. *seen: steps closed in
 * all. */
size_t gs_diag_history(gs_hist_t *out, size_t max, unsigned long long *seen);
/* The history's capacity (GRAPHSHIM_HISTORY, bounded by the table). */
#define GS_HISTORY_MAX 65536

/* Forgets everything (a forked child, the tests). */
void gs_diag_reset(void);

/* ------------------------------------------------------------ caller.c */

/* Takes a backtrace for sample `slot` (0 .. GS_CALLER_POOL-1). */
#define GS_CALLER_POOL 512
void gs_caller_capture(unsigned slot);
/* Resolves sample `slot` into the program's frames: the first frame
 * outside libcuda, the CUDA runtime (libcudart*), the sanitizer runtimes
 * and the shim, then its callers. Returns false when none was found. */
bool gs_caller_resolve(unsigned slot, gs_caller_t *out);
/* Whether the object at `path` is one the caller search skips. */
bool gs_caller_skips_object(const char *path);

#endif /* GS_DIAG_H */
