/* test_stats.c: src/stats.c: counters by function and path, the JSON
 * document, the summary table, reset and the run-once report. */
#include "cm.h"
#include "gs.h"

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
    assert_int_equal(atomic_load(&gs_calls[GS_ID_cuLaunchKernel].n[GS_PATH_DIRECT]), 0);
    assert_int_equal(atomic_load(&gs_counters[GS_CTR_ops]), 0);
}

static void test_report_once(void **state)
{
    (void)state;
    gs_stats_reset();
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    unlink(path);
    snprintf(gs_opt.log_file, sizeof gs_opt.log_file, "%s", path);
    gs_log_open();
    gs_opt.stats = true;
    gs_stats_report();
    gs_stats_report();
    cm_slurp(path, buf, sizeof buf);
    assert_int_equal(cm_count(buf, "summary:"), 1);
    assert_non_null(strstr(buf, "1 driver calls intercepted"));
    assert_non_null(strstr(buf, "cuLaunchKernel "));
    assert_non_null(strstr(buf, "launches"));
    unlink(path);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/gs-test-stats.%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_json),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_report_once),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
