/* test_watchdog.c: how the watchdog (src/watchdog.c) knows a host function
 * the program waited for again: by its context, its signature and those of
 * the four ops before it in the step, wherever the step began; at most
 * GS_MAX_WAITS contexts a stream, the oldest forgotten first. The thread
 * that issues a stalled step is exercised end to end (tests/e2e/dag_diff.sh,
 * scenario hostwait). */
#include "cm.h"
#include "eng.h"

static gs_rec_t recs[64];
static gs_stream_t st;

/* A step of n ops whose signatures are base + position, ending at a host
 * function. */
static void step(unsigned n, uint64_t base)
{
    memset(recs, 0, sizeof recs);
    st.recs = recs;
    for (unsigned i = 0; i < n; i++) {
        recs[i].kind = i + 1 == n ? GS_OP_HOST : GS_OP_KERNEL;
        recs[i].sig = base + i;
    }
    st.n = n;
}

static int setup(void **state)
{
    (void)state;
    memset(&st, 0, sizeof st);
    return 0;
}

static void test_learned_context_ends_step(void **state)
{
    (void)state;
    step(10, 100);
    assert_false(gs_watchdog_awaited(&st));
    gs_watchdog_learn(&st, 9);
    assert_true(gs_watchdog_awaited(&st));
    /* An op more than four before the host function is not its context. */
    recs[4].sig = 7;
    assert_true(gs_watchdog_awaited(&st));
    /* One within is. */
    recs[5].sig = 7;
    assert_false(gs_watchdog_awaited(&st));
    recs[5].sig = 105;
    /* The same ops in a step that began elsewhere: the same context. */
    for (unsigned i = 0; i < 5; i++)
        recs[i] = recs[i + 5];
    st.n = 5;
    assert_true(gs_watchdog_awaited(&st));
    /* A shorter run before it is another context. */
    st.n = 3;
    recs[2] = recs[4];
    assert_false(gs_watchdog_awaited(&st));
}

static void test_at_most_eight_contexts(void **state)
{
    (void)state;
    for (uint64_t k = 0; k < GS_MAX_WAITS + 1; k++) {
        step(6, 1000 * (k + 1));
        gs_watchdog_learn(&st, 5);
        gs_watchdog_learn(&st, 5); /* twice: kept once */
    }
    assert_int_equal(st.nwaits, GS_MAX_WAITS);
    for (uint64_t k = 1; k < GS_MAX_WAITS + 1; k++) {
        step(6, 1000 * (k + 1));
        assert_true(gs_watchdog_awaited(&st));
    }
    step(6, 1000); /* the first one learned is forgotten */
    assert_false(gs_watchdog_awaited(&st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_learned_context_ends_step, setup),
        cmocka_unit_test_setup(test_at_most_eight_contexts, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
