/* engine.c: what the engine's parts share: the lock, the switch that turns
 * the engine into a pass-through after repeated graph failures, the
 * program's captures in progress, the program's pause (graphshim_pause),
 * the engine stepping aside where graphs do not pay, and the test-only
 * fault switches.
 *
 * The engine (DESIGN.md section 3) lives in: record.c (what an op is),
 * attrs.c (launch attributes), detect.c (steps and templates), dag.c (a
 * step's dependencies), graph.c (graphs built, patched, launched), hold.c
 * (holding and issuing), ops.c and events.c (the entry points of ops),
 * barrier.c (barriers), submit.c (entering and leaving the engine, and the
 * launches made after its lock).
 */
#include "config.h"
#include "eng.h"
#include "diag.h"
#include "graphshim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GS_MAX_FAILURES 8

pthread_mutex_t gs_eng_lock = PTHREAD_MUTEX_INITIALIZER;
unsigned gs_eng_call;
bool gs_eng_disabled;
unsigned gs_frees; /* under gs_eng_lock */
atomic_int gs_captures; /* program captures in progress */
atomic_bool gs_paused;  /* graphshim_pause */
atomic_bool gs_aside;   /* gs_eng_judge_aside */
static unsigned failures;

/* The public pause: the engine is off while it is set, exactly as during a
 * capture (every entry point sees gs_engine_on() false, issues what steps
 * still hold and forwards the call); templates stay for the resume. One
 * process can then time the same loop with and without the shim, block by
 * block (tools/jax-eager.py --ab), where separate runs on a lent host
 * differ by a third. */
GS_EXPORT int graphshim_pause(int paused)
{
    bool was = atomic_exchange_explicit(&gs_paused, paused != 0, memory_order_relaxed);
    if (paused)
        gs_eng_flush_if_off();
    return was;
}

/* Where no graph pays (JAX's eager loop: a step of event calls that cost
 * about what their record nodes do, and steps that keep changing) each
 * template is retired after its 32 replays at a loss, and new ones keep
 * forming on new streams and variants; meanwhile every op is recorded and
 * held, some 3-10% of such a loop. Once GS_ASIDE_RETIRED templates were
 * retired (as many as make one stream give up forming them) and the replays so far have saved nothing by the summary's own
 * estimate, the engine steps aside as a pause does, for good: what is held
 * goes out at the next call, and every call goes to the driver. A program
 * whose graphs pay retires few templates, or has saved more than they
 * cost, and is not touched. Not on the hot path: it runs at a retirement. */
void gs_eng_judge_aside(void)
{
    if (!gs_opt.payoff || gs_counter(GS_CTR_retired) < GS_ASIDE_RETIRED ||
        atomic_load_explicit(&gs_aside, memory_order_relaxed))
        return;
    gs_saving_t sv;
    if (!gs_diag_saving(gs_counter(GS_CTR_ops_replayed), gs_counter(GS_CTR_ops_replayed_events),
                        &sv) ||
        sv.saved_ns > 0)
        return;
    atomic_store_explicit(&gs_aside, true, memory_order_relaxed);
    gs_count(GS_CTR_stepped_aside, 1);
    GS_INFO("graphs do not pay in this program: %llu templates were retired, and the %llu ops "
            "replayed saved %.1f ms less than their launches and holding cost; graphshim steps "
            "aside after %llu ops, every call goes to the driver from now on "
            "(GRAPHSHIM_PAYOFF=0 keeps it graphing)", gs_counter(GS_CTR_retired),
            sv.ops_replayed, -sv.saved_ns / 1e6, gs_counter(GS_CTR_ops));
}

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
    gs_test_drop_edge = (unsigned)gs_opt.test_drop_edge;
    if (gs_opt.mode == GS_MODE_REPLAY && !gs_graph_available())
        gs_eng_disabled = true;
}

void gs_eng_failure(gs_counter_t reason, const char *what, CUresult r)
{
    static const char *logged[32];
    static unsigned nlogged;
    bool seen = false;
    gs_count(reason, 1);
    unsigned id = 0;
    for (unsigned i = 0; i < GS_FN_COUNT && id == 0; i++)
        if (gs_fn_names[i] != NULL && strcmp(gs_fn_names[i], what) == 0)
            id = i;
    gs_breaker(GS_BRK_failed, id);
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

void gs_eng_stop_threads(void) { gs_watchdog_stop(); }

void gs_eng_at_exit(void)
{
    if (!gs_dump_on())
        return;
    gs_eng_enter();
    gs_templates_dump();
    gs_eng_leave();
}
