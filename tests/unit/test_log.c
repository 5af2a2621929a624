/* test_log.c: src/log.c: the level is checked before formatting, every line
 * has the fixed prefix and ends in a newline, long lines are cut, one-shot
 * messages appear once, warnings are capped, lines below warn are capped by
 * GRAPHSHIM_LOG_LIMIT (capped messages not even evaluated past it) with one
 * closing line saying how many were suppressed. */
#include "cm.h"
#include "gs.h"

static char path[64];
static char buf[1 << 16];

static void open_log(void)
{
    unlink(path);
    snprintf(gs_opt.log_file, sizeof gs_opt.log_file, "%s", path);
    gs_log_open();
}

static const char *read_log(void)
{
    cm_slurp(path, buf, sizeof buf);
    return buf;
}

static int bump(int *n) { return ++*n; }

static void test_level_checked_before_formatting(void **state)
{
    (void)state;
    int evaluated = 0;
    open_log();
    gs_opt.log = GS_LOG_WARN;
    GS_DEBUG("never %d", bump(&evaluated));
    GS_INFO("never %d", bump(&evaluated));
    assert_int_equal(evaluated, 0);
    GS_WARN("shown %d", bump(&evaluated));
    assert_int_equal(evaluated, 1);
    const char *log = read_log();
    char want[64];
    snprintf(want, sizeof want, "graphshim[%ld]: warning: shown 1\n", (long)getpid());
    assert_string_equal(log, want);
}

static void test_levels_and_tags(void **state)
{
    (void)state;
    open_log();
    gs_opt.log = GS_LOG_TRACE;
    GS_ERROR("e");
    GS_INFO("i");
    GS_DEBUG("d");
    const char *log = read_log();
    assert_non_null(strstr(log, "]: error: e\n"));
    assert_non_null(strstr(log, "]: i\n"));
    assert_non_null(strstr(log, "]: debug: d\n"));
    gs_opt.log = GS_LOG_WARN;
}

static void test_long_line_cut(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    open_log();
    GS_WARN("%s", big);
    const char *log = read_log();
    size_t n = strlen(log);
    assert_true(n <= 1024);
    assert_int_equal(log[n - 1], '\n');
    assert_int_equal(cm_count(log, "\n"), 1);
}

static void test_once(void **state)
{
    (void)state;
    open_log();
    for (int i = 0; i < 5; i++)
        GS_LOG_ONCE(GS_LOG_WARN, "only once %d", i);
    assert_int_equal(cm_count(read_log(), "only once"), 1);
    assert_non_null(strstr(buf, "only once 0"));
}

static void test_raw(void **state)
{
    (void)state;
    open_log();
    gs_log_raw("abc\n", 4);
    assert_string_equal(read_log(), "abc\n");
}

static void test_line_cap(void **state)
{
    (void)state;
    int evaluated = 0;
    gs_log_reset_counts();
    open_log();
    gs_opt.log = GS_LOG_DEBUG;
    gs_opt.log_limit = 5;
    for (int i = 0; i < 20; i++)
        GS_DEBUG_CAPPED("step %d decided", bump(&evaluated));
    /* Past the budget a capped message is neither formatted nor evaluated. */
    assert_int_equal(evaluated, 5);
    GS_INFO("an info line over the limit");
    GS_WARN("a warning is not limited by GRAPHSHIM_LOG_LIMIT");
    const char *log = read_log();
    assert_int_equal(cm_count(log, "decided"), 5);
    assert_non_null(strstr(log, "]: debug: step 5 decided\n"));
    assert_null(strstr(log, "over the limit"));
    assert_non_null(strstr(log, "not limited"));
    gs_log_finish();
    log = read_log();
    char want[128];
    snprintf(want, sizeof want, "graphshim[%ld]: 16 more log lines below warn level were "
             "suppressed after the first 5 (GRAPHSHIM_LOG_LIMIT)\n", (long)getpid());
    assert_non_null(strstr(log, want));
    /* Said once: nothing more was suppressed since. */
    gs_log_finish();
    assert_int_equal(cm_count(read_log(), "suppressed after"), 1);
    gs_opt.log = GS_LOG_WARN;
    gs_opt.log_limit = gs_opt_defaults.log_limit;
    gs_log_reset_counts();
}

static void test_no_limit(void **state)
{
    (void)state;
    gs_log_reset_counts();
    open_log();
    gs_opt.log = GS_LOG_TRACE;
    gs_opt.log_limit = 0;
    for (int i = 0; i < 300; i++)
        GS_LOG_CAPPED(GS_LOG_TRACE, "t%d", i);
    assert_int_equal(cm_count(read_log(), "]: trace: t"), 300);
    gs_log_finish();
    assert_null(strstr(read_log(), "suppressed"));
    gs_opt.log = GS_LOG_WARN;
    gs_opt.log_limit = gs_opt_defaults.log_limit;
}

/* Last: it exhausts the warning budget of the process. */
static void test_warning_cap(void **state)
{
    (void)state;
    open_log();
    for (int i = 0; i < 300; i++)
        GS_WARN("flood %d", i);
    const char *log = read_log();
    assert_true(cm_count(log, "flood") <= 100);
    assert_int_equal(cm_count(log, "further ones are suppressed"), 1);
    GS_ERROR("after the cap");
    assert_null(strstr(read_log(), "after the cap"));
}

static void test_unopenable_file(void **state)
{
    (void)state;
    snprintf(gs_opt.log_file, sizeof gs_opt.log_file, "/nonexistent/dir/x.log");
    gs_log_open();
    assert_int_equal(gs_log_fd(), 2);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/gs-test-log.%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_checked_before_formatting),
        cmocka_unit_test(test_levels_and_tags),
        cmocka_unit_test(test_long_line_cut),
        cmocka_unit_test(test_once),
        cmocka_unit_test(test_raw),
        cmocka_unit_test(test_unopenable_file),
        cmocka_unit_test(test_line_cap),
        cmocka_unit_test(test_no_limit),
        cmocka_unit_test(test_warning_cap),
    };
    int r = cmocka_run_group_tests_name("log", tests, NULL, NULL);
    unlink(path);
    return r;
}
