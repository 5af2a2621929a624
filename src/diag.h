/* diag.h: what the shim tells its user about why it did not graph more:
 * step-breakers (each reason a step was cut short or an op was not held,
 * counted, with the program's callers of the first occurrences), measured
 * costs (eager launches against the shim's own graph launches and patches),
 * and a bounded history of steps for `graphshim report --svg`.
 *
 * The engine calls these under gs_eng_lock. The hot path cost is one
 * relaxed atomic add per call once a reason has its caller samples; a
 * sample (a backtrace and dladdr) is taken only for the first
 * GS_BREAKER_SAMPLES occurrences of each (reason, detail).
 */
#ifndef GS_DIAG_H
#define GS_DIAG_H

#include <stdint.h>

/* Why a step was cut or an op was not held. `detail` narrows the reason:
 * the hook id (gs_fn_id_t) of the call for `barrier`, the launch attribute
 * id for `attribute`; 0 where it has none. */
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
const char *gs_breaker_name(gs_breaker_t why);

/* What became of a step, for the step history. */
typedef enum {
    GS_STEP_LEARNING, /* recorded, forwarded: no template yet */
    GS_STEP_REPLAYED, /* matched a template whole and went out as graphs */
    GS_STEP_EAGER     /* held, then issued eagerly (a breaker cut it) */
} gs_step_outcome_t;

/* One closed step of `nops` ops on stream `key`; `why` is the breaker that
 * cut it (GS_BRK_COUNT: none). Bounded history; costs nothing once full
 * except a counter. */
void gs_diag_step(uint64_t key, unsigned nops, gs_step_outcome_t outcome,
                  gs_breaker_t why);

/* A monotonic clock in nanoseconds (vDSO: no system call). */
uint64_t gs_clock_ns(void);
/* Measured costs: an eager launch (sampled), a graph launch of `nodes`
 * nodes with `patched` of them patched (every one), a held op (sampled). */
void gs_diag_eager_ns(uint64_t ns);
void gs_diag_graph_ns(uint64_t ns, unsigned nodes, unsigned patched);
void gs_diag_hold_ns(uint64_t ns);

#endif /* GS_DIAG_H */
