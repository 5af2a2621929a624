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

for var in GRAPHSHIM_MODE GRAPHSHIM_LOG GRAPHSHIM_STATS; do
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
