/* test_hostrun.c: host functions run from one host node (src/hostrun.c):
 * a launch's slot calls its functions in their order with the data of that
 * launch; a slot is refilled only once its callback ran (launches of one
 * executable graph run in order, so a ring of slots lets launches run ahead
 * of their callbacks); a run freed with callbacks pending is kept until
 * they ran. The node's place in a graph is tests/unit/test_dag.c's
 * (test_host_runs) and tests/e2e/dag_diff.sh's (hostobs). */
#include "cm.h"
#include "eng.h"

static char order[256];
static size_t len;

static void CUDA_CB note(void *p)
{
    order[len++] = *(const char *)p;
    order[len] = '\0';
}

static void CUDA_CB other(void *p)
{
    order[len++] = (char)(*(const char *)p + 1);
    order[len] = '\0';
}

static gs_rec_t recs[8];

static void host(unsigned i, CUhostFn fn, const char *data)
{
    recs[i].kind = GS_OP_HOST;
    recs[i].u.h.fn = fn;
    recs[i].u.h.data = (void *)data;
}

static int setup(void **state)
{
    (void)state;
    memset(recs, 0, sizeof recs);
    len = 0;
    order[0] = '\0';
    return 0;
}

static void test_calls_in_order_with_each_launch_data(void **state)
{
    (void)state;
    const uint32_t members[] = {1, 4, 6};
    gs_hostrun_t *h = gs_hostrun_new(members, 3);
    assert_non_null(h);
    assert_int_equal(gs_hostrun_count(h), 3);
    host(1, note, "a");
    host(4, note, "b");
    host(6, other, "c"); /* calls with "c": writes 'd' */
    assert_true(gs_hostrun_ready(h));
    void *s1 = gs_hostrun_fill(h, recs);
    gs_hostrun_launched(h);
    /* The next launch's functions and data differ; the first slot keeps its
     * own until its callback runs. */
    host(1, note, "x");
    host(4, other, "y");
    assert_true(gs_hostrun_ready(h));
    void *s2 = gs_hostrun_fill(h, recs);
    gs_hostrun_launched(h);
    assert_ptr_not_equal(s1, s2);
    gs_hostrun_call(s1);
    gs_hostrun_call(s2);
    assert_string_equal(order, "abdxzd");
    gs_hostrun_free(h);
}

static void test_slot_reused_only_after_its_callback(void **state)
{
    (void)state;
    const uint32_t members[] = {0, 1};
    gs_hostrun_t *h = gs_hostrun_new(members, 2);
    host(0, note, "p");
    host(1, note, "q");
    void *first = NULL;
    unsigned launches = 0;
    /* Launch until the ring is full: the GPU ran no callback yet. */
    while (gs_hostrun_ready(h)) {
        void *s = gs_hostrun_fill(h, recs);
        if (first == NULL)
            first = s;
        gs_hostrun_launched(h);
        launches++;
        assert_true(launches <= 1000);
    }
    assert_true(launches >= 2);
    /* The oldest callback runs: its slot is the next, and free again. */
    gs_hostrun_call(first);
    assert_true(gs_hostrun_ready(h));
    assert_ptr_equal(gs_hostrun_fill(h, recs), first);
    assert_string_equal(order, "pq");
    gs_hostrun_free(h);
}

static void test_freed_with_callbacks_pending(void **state)
{
    (void)state;
    const uint32_t members[] = {0, 1};
    unsigned long long before = gs_counter(GS_CTR_host_bytes);
    gs_hostrun_t *h = gs_hostrun_new(members, 2);
    host(0, note, "m");
    host(1, note, "n");
    void *s = gs_hostrun_fill(h, recs);
    gs_hostrun_launched(h);
    assert_true(gs_counter(GS_CTR_host_bytes) > before);
    gs_hostrun_free(h); /* pending: kept */
    assert_true(gs_counter(GS_CTR_host_bytes) > before);
    gs_hostrun_call(s); /* still valid memory, called in order */
    assert_string_equal(order, "mn");
    gs_hostrun_free(NULL); /* sweeps what has run since */
    assert_int_equal(gs_counter(GS_CTR_host_bytes), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_calls_in_order_with_each_launch_data, setup),
        cmocka_unit_test_setup(test_slot_reused_only_after_its_callback, setup),
        cmocka_unit_test_setup(test_freed_with_callbacks_pending, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
