/* test_options.c: the option grammar and the one-warning-keep-default rule
 * of src/options.c. */
#include "cm.h"
#include "gs.h"

static char logpath[64];

static int setup(void **state)
{
    (void)state;
    snprintf(logpath, sizeof logpath, "/tmp/gs-test-options.%ld", (long)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(logpath);
    return 0;
}

static void test_bool(void **state)
{
    (void)state;
    bool b = false;
    const char *yes[] = {"1", "true", "YES", "On"}, *no[] = {"0", "false", "no", "OFF"};
    for (int i = 0; i < 4; i++) {
        assert_true(gs_parse_bool(yes[i], &b));
        assert_true(b);
        assert_true(gs_parse_bool(no[i], &b));
        assert_false(b);
    }
    assert_false(gs_parse_bool("", &b));
    assert_false(gs_parse_bool("2", &b));
    assert_false(gs_parse_bool("yess", &b));
}

static void test_long(void **state)
{
    (void)state;
    long v = 7;
    assert_true(gs_parse_long("42", 0, 100, &v));
    assert_int_equal(v, 42);
    assert_false(gs_parse_long("-1", 0, 100, &v));
    assert_false(gs_parse_long("101", 0, 100, &v));
    assert_false(gs_parse_long("", 0, 100, &v));
    assert_false(gs_parse_long(" 4", 0, 100, &v));
    assert_false(gs_parse_long("4x", 0, 100, &v));
    assert_false(gs_parse_long("99999999999999999999999", 0, 100, &v));
    assert_int_equal(v, 42);
}

static void test_size(void **state)
{
    (void)state;
    size_t v = 0;
    assert_true(gs_parse_size("64", &v));
    assert_int_equal(v, 64);
    assert_true(gs_parse_size("4K", &v));
    assert_int_equal(v, 4096);
    assert_true(gs_parse_size("2MiB", &v));
    assert_int_equal(v, 2u << 20);
    assert_true(gs_parse_size("1g", &v));
    assert_int_equal(v, 1u << 30);
    assert_false(gs_parse_size("-1", &v));
    assert_false(gs_parse_size("1T", &v));
    assert_false(gs_parse_size("", &v));
    assert_false(gs_parse_size("99999999999999999999999", &v));
    assert_false(gs_parse_size("18446744073709551615G", &v));
}

static void test_expand(void **state)
{
    (void)state;
    char out[64], want[64];
    assert_true(gs_expand_path("/tmp/x.%p.log", out, sizeof out));
    snprintf(want, sizeof want, "/tmp/x.%ld.log", (long)getpid());
    assert_string_equal(out, want);
    assert_true(gs_expand_path("plain", out, sizeof out));
    assert_string_equal(out, "plain");
    char tiny[4];
    assert_false(gs_expand_path("toolong", tiny, sizeof tiny));
}

/* Runs gs_options_init with the log going to a file; returns the log. */
static void init_with_log(char *log, size_t cap)
{
    unlink(logpath);
    setenv("GRAPHSHIM_LOG_FILE", logpath, 1);
    gs_opt.log_file[0] = '\0';
    gs_options_init();
    gs_log_open();
    /* gs_options_init warned before the log file was open: re-run with the
     * file already in place so the warnings land there. */
    gs_options_init();
    cm_slurp(logpath, log, cap);
}

static void test_init_valid(void **state)
{
    (void)state;
    char log[4096];
    setenv("GRAPHSHIM_MODE", "observe", 1);
    setenv("GRAPHSHIM_LOG", "Debug", 1);
    setenv("GRAPHSHIM_STATS", "on", 1);
    setenv("GRAPHSHIM_STATS_FILE", "/tmp/s.%p", 1);
    init_with_log(log, sizeof log);
    assert_int_equal(gs_opt.mode, GS_MODE_OBSERVE);
    assert_int_equal(gs_opt.log, GS_LOG_DEBUG);
    assert_true(gs_opt.stats);
    assert_non_null(strstr(gs_opt.stats_file, "/tmp/s."));
    assert_null(strstr(gs_opt.stats_file, "%p"));
    assert_int_equal(cm_count(log, "invalid value"), 0);
    unsetenv("GRAPHSHIM_MODE");
    unsetenv("GRAPHSHIM_LOG");
    unsetenv("GRAPHSHIM_STATS");
    unsetenv("GRAPHSHIM_STATS_FILE");
}

static void test_init_invalid_keeps_defaults(void **state)
{
    (void)state;
    const char *bad[] = {"", "-1", "1e99", "nonsense"};
    for (int i = 0; i < 4; i++) {
        char log[4096];
        setenv("GRAPHSHIM_MODE", bad[i], 1);
        setenv("GRAPHSHIM_LOG", bad[i], 1);
        setenv("GRAPHSHIM_STATS", bad[i], 1);
        init_with_log(log, sizeof log);
        assert_int_equal(gs_opt.mode, GS_MODE_REPLAY);
        assert_int_equal(gs_opt.log, GS_LOG_WARN);
        assert_false(gs_opt.stats);
        /* One warning per variable for each initialisation. */
        assert_int_equal(cm_count(log, "GRAPHSHIM_MODE has an invalid value"), 1);
        assert_int_equal(cm_count(log, "GRAPHSHIM_LOG has an invalid value"), 1);
        assert_int_equal(cm_count(log, "GRAPHSHIM_STATS has an invalid value"), 1);
        assert_non_null(strstr(log, "replay, observe or passthrough"));
    }
    unsetenv("GRAPHSHIM_MODE");
    unsetenv("GRAPHSHIM_LOG");
    unsetenv("GRAPHSHIM_STATS");
    unsetenv("GRAPHSHIM_LOG_FILE");
}

static void test_engine_options(void **state)
{
    (void)state;
    char log[4096];
    setenv("GRAPHSHIM_WARMUP", "7", 1);
    setenv("GRAPHSHIM_MAX_GRAPHS", "0", 1);      /* below the range */
    setenv("GRAPHSHIM_STAGING_MAX", "256K", 1);
    setenv("GRAPHSHIM_CHUNK_OPS", "0", 1);
    setenv("GRAPHSHIM_DENY_KERNELS", "foo*,*bar", 1);
    init_with_log(log, sizeof log);
    assert_int_equal(gs_opt.warmup, 7);
    assert_int_equal(gs_opt.max_graphs, 64);
    assert_int_equal(gs_opt.staging_max, 256 << 10);
    assert_int_equal(gs_opt.chunk_ops, 0);
    assert_string_equal(gs_opt.deny_kernels, "foo*,*bar");
    assert_int_equal(cm_count(log, "GRAPHSHIM_MAX_GRAPHS has an invalid value"), 1);
    /* The shortest template may not be longer than the longest. */
    setenv("GRAPHSHIM_MIN_OPS", "50", 1);
    setenv("GRAPHSHIM_MAX_OPS", "20", 1);
    init_with_log(log, sizeof log);
    assert_int_equal(gs_opt.min_ops, 2);
    assert_int_equal(gs_opt.max_ops, 4096);
    assert_int_equal(cm_count(log, "exceeds GRAPHSHIM_MAX_OPS"), 1);
    /* A launch spin is for passthrough only; in replay it is dropped with
     * one warning, beside the other rule's. */
    setenv("GRAPHSHIM_TEST_SPIN", "5000", 1);
    init_with_log(log, sizeof log);
    assert_int_equal(gs_opt.test_spin, 0);
    assert_int_equal(gs_opt.min_ops, 2);
    assert_int_equal(cm_count(log, "exceeds GRAPHSHIM_MAX_OPS"), 1);
    assert_int_equal(cm_count(log, "GRAPHSHIM_TEST_SPIN applies only"), 1);
    setenv("GRAPHSHIM_MODE", "passthrough", 1);
    init_with_log(log, sizeof log);
    assert_int_equal(gs_opt.test_spin, 5000);
    assert_int_equal(cm_count(log, "GRAPHSHIM_TEST_SPIN"), 0);
    unsetenv("GRAPHSHIM_TEST_SPIN");
    unsetenv("GRAPHSHIM_MODE");
    const char *vars[] = {"GRAPHSHIM_WARMUP", "GRAPHSHIM_MAX_GRAPHS", "GRAPHSHIM_STAGING_MAX",
                          "GRAPHSHIM_CHUNK_OPS", "GRAPHSHIM_DENY_KERNELS", "GRAPHSHIM_MIN_OPS",
                          "GRAPHSHIM_MAX_OPS", "GRAPHSHIM_LOG_FILE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(gs_mode_name(GS_MODE_PASSTHROUGH), "passthrough");
    assert_string_equal(gs_log_level_name(GS_LOG_TRACE), "trace");
    assert_string_equal(gs_mode_name((gs_mode_t)42), "?");
}

/* The shared table: every default formats to text that parses back to
 * itself (what the launcher prints as the default is what the library
 * uses), every option has a meaning, and names are found with or without
 * the prefix. */
static void test_table(void **state)
{
    (void)state;
    assert_true(gs_noptdescs >= 16);
    for (size_t i = 0; i < gs_noptdescs; i++) {
        const gs_optdesc_t *d = &gs_optdescs[i];
        char text[1100];
        assert_non_null(d->meaning);
        assert_true(strlen(d->meaning) > 10);
        assert_ptr_equal(gs_opt_find(d->name), d);
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", d->name);
        assert_ptr_equal(gs_opt_find(var), d);
        gs_opt_format(d, &gs_opt_defaults, text, sizeof text);
        if (text[0] == '\0') /* unset paths and lists: no default value */
            continue;
        gs_options_t o = gs_opt_defaults;
        memset((char *)&o + d->offset, 0x5a, d->size);
        assert_true(gs_opt_parse(d, text, &o));
        assert_memory_equal((char *)&o + d->offset, (const char *)&gs_opt_defaults + d->offset,
                            d->kind == GS_OPT_PATH || d->kind == GS_OPT_LIST ? strlen(text) + 1
                                                                            : d->size);
    }
    assert_null(gs_opt_find("NO_SUCH_OPTION"));
    assert_null(gs_opt_find("mode"));
}

static void test_stats_levels(void **state)
{
    (void)state;
    const gs_optdesc_t *d = gs_opt_find("STATS");
    gs_options_t o = gs_opt_defaults;
    assert_true(gs_opt_parse(d, "Verbose", &o));
    assert_int_equal(o.stats, GS_STATS_VERBOSE);
    assert_true(gs_opt_parse(d, "yes", &o));
    assert_int_equal(o.stats, GS_STATS_ON);
    assert_true(gs_opt_parse(d, "0", &o));
    assert_int_equal(o.stats, GS_STATS_OFF);
    assert_false(gs_opt_parse(d, "loud", &o));
    assert_int_equal(o.stats, GS_STATS_OFF);
    char text[16];
    o.stats = GS_STATS_VERBOSE;
    gs_opt_format(d, &o, text, sizeof text);
    assert_string_equal(text, "verbose");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_init_valid),
        cmocka_unit_test(test_init_invalid_keeps_defaults),
        cmocka_unit_test(test_engine_options),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_stats_levels),
    };
    return cmocka_run_group_tests_name("options", tests, setup, teardown);
}
