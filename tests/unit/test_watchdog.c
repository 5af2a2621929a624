/* test_watchdog.c: how the watchdog (src/watchdog.c) knows a host function
 * the program waited for again: by its context, its signature and those of
 * the four ops before it in the step, wherever the step began, and where
 * it is after hold.c swapped it with the op before; at most
 * GS_MAX_WAITS contexts a stream, the oldest forgotten first; and how a
 * run without barriers picks the host function that ends its steps (the
 * bootstrap: the period that repeats best, a host function whose context
 * it has once). The thread
 * that issues a stalled step is exercised end to end (tests/e2e/dag_diff.sh,
 * scenario hostwait). */
#include "cm.h"
#include "eng.h"

static gs_rec_t recs[1024];
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
    st.last = n - 1; /* the op committed last: the host function */
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
    st.last = 4;
    assert_true(gs_watchdog_awaited(&st));
    /* A shorter run before it is another context. */
    st.n = 3;
    st.last = 2;
    recs[2] = recs[4];
    assert_false(gs_watchdog_awaited(&st));
}

/* hold.c swapped the host function just committed with the op before it
 * (two threads' ops the other way round): it is judged where it went, in
 * its context there, not by the op that is now last. */
static void test_judged_where_it_went(void **state)
{
    (void)state;
    step(10, 100);
    gs_rec_t h = recs[9];
    recs[9] = recs[8];
    recs[8] = h;
    gs_watchdog_learn(&st, 8);
    st.last = 8;
    assert_true(gs_watchdog_awaited(&st));
    st.last = 9; /* a kernel */
    assert_false(gs_watchdog_awaited(&st));
    st.last = 10; /* past the step */
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

/* JAX's loop in small: 40 ops of four (kernel, record, wait, host
 * function), then a readback of four ops ending at the host function the
 * host waits for, and a kernel: 165 ops a step, whose four-op pattern
 * repeats over 90% as well as the step (which repeats exactly). */
static void jax_run(unsigned steps)
{
    static const gs_opkind_t kinds[4] = {GS_OP_KERNEL, GS_OP_EVREC, GS_OP_EVWAIT, GS_OP_HOST};
    memset(recs, 0, sizeof recs);
    st.recs = recs;
    unsigned n = 0;
    for (unsigned s = 0; s <= steps; s++) {
        if (s == steps) { /* and a few ops into the next: runs end anywhere */
            for (unsigned k = 0; k < 10; k++) {
                recs[n].kind = (uint8_t)kinds[k % 4];
                recs[n++].sig = 10 + k % 4;
            }
            break;
        }
        for (unsigned op = 0; op < 40; op++) {
            for (unsigned k = 0; k < 4; k++) {
                recs[n].kind = (uint8_t)kinds[k];
                recs[n++].sig = 10 + k;
            }
        }
        static const gs_opkind_t back[5] = {GS_OP_EVREC, GS_OP_EVWAIT, GS_OP_DTOH, GS_OP_HOST,
                                           GS_OP_KERNEL};
        for (unsigned k = 0; k < 5; k++) {
            recs[n].kind = (uint8_t)back[k];
            recs[n++].sig = 20 + k;
        }
    }
    st.n = n;
    st.last = n - 1;
}

static void test_bootstrap_picks_the_step(void **state)
{
    (void)state;
    gs_opt.min_ops = 2;
    gs_opt.host_wait = 500;
    jax_run(6); /* 990 ops */
    gs_watchdog_bootstrap(&st);
    assert_int_equal(st.nwaits, 1);
    /* The host function learned is one of a kind in the step: the
     * readback's, or the first op's (after the readback's kernel); ending
     * steps at either makes every step the same 165 ops. */
    unsigned ends = 0;
    for (unsigned i = 0; i < 165; i++) {
        st.n = 165 * 4 + i + 1;
        st.last = st.n - 1;
        if (recs[st.n - 1].kind == GS_OP_HOST && gs_watchdog_awaited(&st))
            ends++;
    }
    assert_int_equal(ends, 1);
    /* Learned once: a second full run learns nothing more. */
    jax_run(6);
    gs_watchdog_bootstrap(&st);
    assert_int_equal(st.nwaits, 1);
    /* GRAPHSHIM_HOST_WAIT=0: nothing to learn. */
    memset(&st, 0, sizeof st);
    gs_opt.host_wait = 0;
    jax_run(6);
    gs_watchdog_bootstrap(&st);
    assert_int_equal(st.nwaits, 0);
    gs_opt.host_wait = 500;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_learned_context_ends_step, setup),
        cmocka_unit_test_setup(test_judged_where_it_went, setup),
        cmocka_unit_test_setup(test_at_most_eight_contexts, setup),
        cmocka_unit_test_setup(test_bootstrap_picks_the_step, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
