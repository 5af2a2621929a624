/* test_stats.c: src/stats.c and src/summary.c: counters by function and
 * path, the JSON document and its new sections, JSON string escaping, the
 * summary (findings first; the reasons with caller and advice when the
 * share is low; quiet about them when it is not; the tables at verbose),
 * per-thread counting beyond the pool, reset and the run-once report. Linked with -export-dynamic so callers
 * are named. */
#include "config.h"
#include "cm.h"
#include "gs.h"

#include <fcntl.h>
#include <pthread.h>

static char path[64];
static char buf[1 << 16];

static void test_counts_and_json(void **state)
{
    (void)state;
    gs_stats_reset();
    for (int i = 0; i < 3; i++)
        gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_GETPROC);
    gs_count_call(GS_ID_cuLaunchKernel_ptsz, GS_PATH_DLSYM);
    gs_count_call(GS_ID_cuStreamSynchronize, GS_PATH_DIRECT);
    gs_count(GS_CTR_launches, 4);
    FILE *f = tmpfile();
    assert_non_null(f);
    gs_stats_write_json(fileno(f));
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "\"cuLaunchKernel\":{\"direct\":0,\"dlsym\":0,\"getproc\":3}"));
    assert_non_null(strstr(buf, "\"cuLaunchKernel_ptsz\":{\"direct\":0,\"dlsym\":1,\"getproc\":0}"));
    assert_non_null(strstr(buf, "\"cuStreamSynchronize\":{\"direct\":1"));
    assert_non_null(strstr(buf, "\"totals\":{\"calls\":5,"));
    assert_non_null(strstr(buf, "\"launches\":4"));
    /* Functions never called are left out. */
    assert_null(strstr(buf, "cuMemFree_v2"));
    assert_int_equal(buf[strlen(buf) - 2], '}');
}

static void test_reset(void **state)
{
    (void)state;
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    gs_count(GS_CTR_ops, 9);
    gs_stats_reset();
    assert_int_equal(gs_calls_of(GS_ID_cuLaunchKernel, GS_PATH_DIRECT), 0);
    assert_int_equal(gs_counter(GS_CTR_ops), 0);
}

/* Counts from more threads than the pool has blocks, twice over: the
 * threads beyond it count into the shared arrays, the blocks of threads
 * that exit are folded and handed to the next ones. Nothing is lost. */
#define COUNT_THREADS 48
#define COUNT_EACH 1000
static void *count_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNT_EACH; i++) {
        gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
        gs_count(GS_CTR_ops, 2);
    }
    return NULL;
}

static void test_counts_across_threads(void **state)
{
    (void)state;
    gs_stats_reset();
    gs_count(GS_CTR_ops, 1); /* this thread's block, kept throughout */
    for (int round = 1; round <= 2; round++) {
        pthread_t t[COUNT_THREADS];
        for (int i = 0; i < COUNT_THREADS; i++)
            assert_int_equal(pthread_create(&t[i], NULL, count_thread, NULL), 0);
        for (int i = 0; i < COUNT_THREADS; i++)
            pthread_join(t[i], NULL);
        assert_int_equal(gs_calls_of(GS_ID_cuLaunchKernel, GS_PATH_DIRECT),
                         (unsigned long long)round * COUNT_THREADS * COUNT_EACH);
        assert_int_equal(gs_counter(GS_CTR_ops),
                         1 + 2ull * round * COUNT_THREADS * COUNT_EACH);
    }
    gs_stats_reset();
    assert_int_equal(gs_counter(GS_CTR_ops), 0);
}

static void test_report_once(void **state)
{
    (void)state;
    gs_stats_reset();
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    unlink(path);
    snprintf(gs_opt.log_file, sizeof gs_opt.log_file, "%s", path);
    gs_log_open();
    gs_opt.stats = GS_STATS_VERBOSE;
    gs_stats_report();
    gs_stats_report();
    cm_slurp(path, buf, sizeof buf);
    assert_int_equal(cm_count(buf, "summary:"), 1);
    assert_non_null(strstr(buf, "1 driver calls intercepted"));
    assert_non_null(strstr(buf, "cuLaunchKernel "));
    assert_non_null(strstr(buf, "launches"));
    unlink(path);
}

static volatile int sink;

__attribute__((noinline)) void app_sync_in_step(void);
__attribute__((noinline)) void app_sync_in_step(void)
{
    gs_breaker(GS_BRK_barrier, GS_ID_cuStreamSynchronize);
    sink++;
}

__attribute__((noinline)) void app_event_launch(void);
__attribute__((noinline)) void app_event_launch(void)
{
    gs_breaker(GS_BRK_attribute, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT);
    sink++;
}

/* A run in which 10% was replayed: 30 mid-step syncs, 20 launches that
 * trigger a programmatic event. */
static void low_share_run(void)
{
    gs_stats_reset();
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    gs_count(GS_CTR_ops, 1000);
    gs_count(GS_CTR_ops_replayed, 100);
    gs_count(GS_CTR_replays, 10);
    gs_count(GS_CTR_graph_launches, 10);
    gs_count(GS_CTR_graphs_built, 1);
    for (int i = 0; i < 30; i++)
        app_sync_in_step();
    for (int i = 0; i < 20; i++)
        app_event_launch();
    for (int i = 0; i < 10; i++)
        gs_diag_eager_ns(5000);
    for (int i = 0; i < 10; i++)
        gs_diag_graph_ns(10000, 10, 1);
    gs_diag_step(0x10, 10, GS_STEP_REPLAYED, GS_BRK_COUNT);
    gs_diag_step(0x10, 7, GS_STEP_EAGER, GS_BRK_barrier);
}

static const char *summary(bool verbose)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    gs_summary_write(fd, verbose);
    close(fd);
    cm_slurp(path, buf, sizeof buf);
    unlink(path);
    return buf;
}

static void test_summary_low_share(void **state)
{
    (void)state;
    low_share_run();
    const char *s = summary(false);
    /* Findings first: the share, the graphs, the saving, then the reasons. */
    const char *share = strstr(s, "replayed through graphs: 100 of 1000 ops (10.0%); 10 steps "
                                  "whole in 10 graph launches");
    const char *graphs = strstr(s, "graphs in use: 1 ");
    const char *saved = strstr(s, "driver time saved (estimate): 400.0 us = 100 ops replayed x "
                                  "5.0 us (mean of 10 timed eager ops), less 100.0 us in 10 "
                                  "graph launches");
    const char *why = strstr(s, "90.0% of ops ran eagerly; what stopped more");
    assert_non_null(share);
    assert_non_null(graphs);
    assert_non_null(saved);
    assert_non_null(why);
    assert_true(share < graphs && graphs < saved && saved < why);
    const char *first = strstr(s, "1. barrier cuStreamSynchronize: 30 times (steps cut by "
                                  "barrier: 1, 7 ops eager)");
    const char *second = strstr(s, "2. attribute CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT: "
                                   "20 times");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second);
    assert_non_null(strstr(first, "called from app_sync_in_step (test_stats)"));
    assert_non_null(strstr(first, "what to do: the program waits for the GPU here"));
    assert_non_null(strstr(second, "called from app_event_launch (test_stats)"));
    assert_non_null(strstr(second, "what to do: a kernel that triggers an event before it completes"));
    /* The tables wait for verbose. */
    assert_null(strstr(s, "cuLaunchKernel "));
    assert_non_null(strstr(s, "GRAPHSHIM_STATS=verbose adds"));
    s = summary(true);
    assert_non_null(strstr(s, "cuLaunchKernel "));
    assert_non_null(strstr(s, "stream 0 0x10: steps 0 learning, 1 replayed, 1 eager"));
    assert_non_null(strstr(s, "cost per graph launch with its patches: median 10.0 us"));
}

static void test_summary_working(void **state)
{
    (void)state;
    low_share_run();
    gs_count(GS_CTR_ops_replayed, 850); /* 95% */
    const char *s = summary(false);
    assert_non_null(strstr(s, "(95.0%)"));
    assert_non_null(strstr(s, "working: most ops went through graphs; 2 kinds of "
                              "step-breaker remain"));
    assert_null(strstr(s, "what stopped more"));
    assert_null(strstr(s, "called from"));
}

static void test_summary_counters_without_breakers(void **state)
{
    (void)state;
    gs_stats_reset();
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    gs_count(GS_CTR_ops, 100);
    gs_count(GS_CTR_div_mismatch, 4);
    const char *s = summary(false);
    assert_non_null(strstr(s, "driver time saved: not measured"));
    assert_non_null(strstr(s, "1. mismatch: 4 times"));
    assert_non_null(strstr(s, "raise GRAPHSHIM_MAX_GRAPHS"));
}

static void test_json_sections(void **state)
{
    (void)state;
    low_share_run();
    FILE *f = tmpfile();
    assert_non_null(f);
    gs_stats_write_json(fileno(f));
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "{\"graphshim\":\"" PACKAGE_VERSION "\",\"schema_version\":1,"));
    /* The totals stay on one line, before every new section. */
    const char *totals = strstr(buf, "\n\"totals\":{\"calls\":1,");
    assert_non_null(totals);
    assert_null(memchr(totals + 1, '\n', (size_t)(strstr(totals, "}") - totals - 1)));
    assert_true(totals < strstr(buf, "\"findings\""));
    assert_non_null(strstr(buf, "\"findings\":{\"ops\":1000,\"ops_replayed\":100,"
                                "\"replayed_share\":0.1,"));
    assert_non_null(strstr(buf, "\"saved_ns\":400000,\"low_share\":true}"));
    assert_non_null(strstr(buf, "{\"reason\":\"barrier\",\"detail\":"));
    assert_non_null(strstr(buf, "\"name\":\"cuStreamSynchronize\",\"count\":30,"
                                "\"callers\":[{\"hits\":4,\"frames\":[{\"library\":"));
    assert_non_null(strstr(buf, "\"symbol\":\"app_sync_in_step\",\"offset\":"));
    assert_non_null(strstr(buf, "\"by_reason\":{\"barrier\":30,\"attribute\":20,"));
    assert_non_null(strstr(buf, "{\"outcome\":\"eager\",\"reason\":\"barrier\",\"steps\":1,"
                                "\"ops\":7}"));
    assert_non_null(strstr(buf, "{\"stream\":0,\"key\":\"0x10\",\"others\":false,"
                                "\"steps\":{\"learning\":0,\"replayed\":1,\"eager\":1}"));
    assert_non_null(strstr(buf, "\"history\":{\"capacity\":4096,\"seen\":2,\"kept\":2,"));
    assert_non_null(strstr(buf, "\"ops\":7,\"outcome\":\"eager\",\"reason\":\"barrier\"}"));
}

static void test_json_strings(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    gs_out_t o = {.fd = fileno(f)};
    gs_out_json_str(&o, "a\"b\\c\n\t\x01 \xc3\xa9 \xff/x");
    gs_out_flush(&o);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, "\"a\\\"b\\\\c\\u000a\\u0009\\u0001 \xc3\xa9 \\u00ff/x\"");
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/gs-test-stats.%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_json),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_counts_across_threads),
        cmocka_unit_test(test_report_once),
        cmocka_unit_test(test_summary_low_share),
        cmocka_unit_test(test_summary_working),
        cmocka_unit_test(test_summary_counters_without_breakers),
        cmocka_unit_test(test_json_sections),
        cmocka_unit_test(test_json_strings),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
