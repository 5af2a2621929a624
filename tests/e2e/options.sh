#!/bin/sh
# options.sh: every GRAPHSHIM_* variable with empty, negative, huge,
# non-numeric and unknown values: exactly one warning naming the variable and
# what it accepts, the default kept, the program unaffected. Unwritable log
# and stats files fall back to stderr with a warning.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"
run_sim "$P" --steps=2 >"$TMP/ref" || fail "reference run"

try() { # try VAR VALUE: runs under the shim with VAR=VALUE
    run_shim "$1=$2" GRAPHSHIM_STATS_FILE="$TMP/st" "$P" --steps=2 >"$TMP/out" 2>"$TMP/err" ||
        fail "$1='$2': the program failed"
    grep -v '^resolver=' "$TMP/out" | cmp -s - "$TMP/ref.cmp" || fail "$1='$2': output changed"
}
grep -v '^resolver=' "$TMP/ref" >"$TMP/ref.cmp"

for var in GRAPHSHIM_MODE GRAPHSHIM_LOG GRAPHSHIM_STATS GRAPHSHIM_WARMUP GRAPHSHIM_MIN_OPS \
        GRAPHSHIM_MAX_OPS GRAPHSHIM_MAX_GRAPHS GRAPHSHIM_STAGING_MAX GRAPHSHIM_CHUNK_OPS; do
    for val in "" "-1" "99999999999999999999999" "abc" "definitely-not-a-value"; do
        try "$var" "$val"
        n=$(grep -c "$var has an invalid value" "$TMP/err")
        expect_eq "$var='$val': warnings" "$n" 1
        grep "$var has an invalid value" "$TMP/err" | grep -q "accepts" ||
            fail "$var='$val': the warning does not say what is accepted"
    done
    pass "$var: bad values warned about once each"
done
# Defaults kept: the mode is still replay, the log level still warn (no info
# lines), statistics still off (no summary).
try GRAPHSHIM_MODE bogus
grep -q '"mode":"replay"' "$TMP/st" || fail "GRAPHSHIM_MODE default not kept"
try GRAPHSHIM_LOG bogus
grep -q 'summary:' "$TMP/err" && fail "GRAPHSHIM_LOG default not kept"
try GRAPHSHIM_STATS bogus
grep -q 'summary:' "$TMP/err" && fail "GRAPHSHIM_STATS default not kept"
# Good values are taken, case-insensitively.
try GRAPHSHIM_MODE PassThrough
grep -q '"mode":"passthrough"' "$TMP/st" || fail "GRAPHSHIM_MODE=PassThrough not taken"
try GRAPHSHIM_STATS yes
grep -q 'summary:' "$TMP/err" || fail "GRAPHSHIM_STATS=yes not taken"
pass "defaults kept, good values taken"

# Numbers out of range, and a cross-field rule.
try GRAPHSHIM_WARMUP 1
expect_eq "GRAPHSHIM_WARMUP=1: warnings" "$(grep -c 'GRAPHSHIM_WARMUP has an invalid value' "$TMP/err")" 1
try GRAPHSHIM_STAGING_MAX 2G
expect_eq "GRAPHSHIM_STAGING_MAX=2G: warnings" "$(grep -c 'GRAPHSHIM_STAGING_MAX has an invalid value' "$TMP/err")" 1
run_shim GRAPHSHIM_MIN_OPS=100 GRAPHSHIM_MAX_OPS=10 "$P" --steps=2 >/dev/null 2>"$TMP/err" || fail "min > max"
expect_eq "GRAPHSHIM_MIN_OPS > GRAPHSHIM_MAX_OPS: warnings" "$(grep -c 'GRAPHSHIM_MIN_OPS exceeds GRAPHSHIM_MAX_OPS' "$TMP/err")" 1
run_shim GRAPHSHIM_TEST_FAIL=cuNoSuchThing@1 "$P" --steps=2 >/dev/null 2>"$TMP/err" || fail "test-fail unknown"
expect_eq "GRAPHSHIM_TEST_FAIL=cuNoSuchThing@1: warnings" "$(grep -c 'GRAPHSHIM_TEST_FAIL has an invalid value' "$TMP/err")" 1
run_shim GRAPHSHIM_DENY_KERNELS= "$P" --steps=2 >/dev/null 2>"$TMP/err" || fail "deny empty"
expect_eq "GRAPHSHIM_DENY_KERNELS='': warnings" "$(grep -c 'GRAPHSHIM_DENY_KERNELS has an invalid value' "$TMP/err")" 1
# Good values of every option are taken (debug prints them).
run_shim GRAPHSHIM_LOG=debug GRAPHSHIM_WARMUP=5 GRAPHSHIM_STAGING_MAX=1M GRAPHSHIM_CHUNK_OPS=0 \
    GRAPHSHIM_DENY_KERNELS='sim_fill*' "$P" --steps=2 >/dev/null 2>"$TMP/err" || fail "good values"
for kv in WARMUP=5 STAGING_MAX=1048576 CHUNK_OPS=0 'DENY_KERNELS=sim_fill\*'; do
    grep -q "option GRAPHSHIM_$kv" "$TMP/err" || fail "GRAPHSHIM_$kv not taken"
done
grep -q "kernel sim_fill matches the deny list" "$TMP/err" || fail "deny pattern not applied"
pass "numeric ranges, sizes, the min/max rule, the deny list"

# Paths: empty is invalid; unwritable falls back to stderr.
for var in GRAPHSHIM_LOG_FILE GRAPHSHIM_STATS_FILE; do
    run_shim "$var=" "$P" --steps=1 >/dev/null 2>"$TMP/err" || fail "$var empty"
    expect_eq "$var='': warnings" "$(grep -c "$var has an invalid value" "$TMP/err")" 1
done
run_shim GRAPHSHIM_LOG_FILE=/nonexistent/dir/log GRAPHSHIM_STATS=1 "$P" --steps=1 \
    >/dev/null 2>"$TMP/err" || fail "unwritable log file"
grep -q "cannot open GRAPHSHIM_LOG_FILE" "$TMP/err" || fail "no warning for the log file"
grep -q "summary:" "$TMP/err" || fail "the summary did not fall back to stderr"
run_shim GRAPHSHIM_STATS_FILE=/nonexistent/dir/stats.json "$P" --steps=1 \
    >/dev/null 2>"$TMP/err" || fail "unwritable stats file"
grep -q "cannot write GRAPHSHIM_STATS_FILE" "$TMP/err" || fail "no warning for the stats file"
grep -q '"totals"' "$TMP/err" || fail "the statistics did not fall back to stderr"
# %p expands to the pid.
run_shim "GRAPHSHIM_LOG_FILE=$TMP/log.%p" GRAPHSHIM_STATS=1 "$P" --steps=1 >/dev/null 2>&1
ls "$TMP"/log.[0-9]* >/dev/null 2>&1 || fail "%p not expanded in GRAPHSHIM_LOG_FILE"
grep -q "summary:" "$TMP"/log.[0-9]* || fail "the summary is not in the log file"
pass "log and stats files: %p, fallbacks to stderr"
