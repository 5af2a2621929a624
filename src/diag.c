/* diag.c: step-breakers, measured costs and the step history (diag.h).
 *
 * A first version: counts only. Callers, the history and the report that
 * uses them come with the diagnostics work (issue 9).
 */
#include "config.h"
#include "gs.h"

#include <time.h>

static atomic_ullong breakers[GS_BRK_COUNT];

static const char *const breaker_names[GS_BRK_COUNT] = {
#define GS_X(name, doc) #name,
    GS_BREAKERS(GS_X)
#undef GS_X
};

const char *gs_breaker_name(gs_breaker_t why)
{
    return (unsigned)why < GS_BRK_COUNT ? breaker_names[why] : "?";
}

void gs_breaker(gs_breaker_t why, unsigned detail)
{
    (void)detail;
    if ((unsigned)why < GS_BRK_COUNT)
        atomic_fetch_add_explicit(&breakers[why], 1, memory_order_relaxed);
}

void gs_diag_step(uint64_t key, unsigned nops, gs_step_outcome_t outcome,
                  gs_breaker_t why)
{
    (void)key, (void)nops, (void)outcome, (void)why;
}

uint64_t gs_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void gs_diag_eager_ns(uint64_t ns) { (void)ns; }
void gs_diag_graph_ns(uint64_t ns, unsigned nodes, unsigned patched)
{
    (void)ns, (void)nodes, (void)patched;
}
void gs_diag_hold_ns(uint64_t ns) { (void)ns; }
