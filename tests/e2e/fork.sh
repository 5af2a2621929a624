#!/bin/sh
# fork.sh: a program that forks while another thread uses the driver runs to
# the end under the shim, with the same result, and children stay quiet.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_fork"
run_sim timeout 60 "$P" >"$TMP/plain" || fail "without the shim"
run_shim GRAPHSHIM_STATS=1 timeout 60 "$P" >"$TMP/shim" 2>"$TMP/err" ||
    fail "under the shim (exit $?: 124 means it hung)"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs"
expect_eq "exit summaries (children print none)" "$(grep -c 'summary:' "$TMP/err")" 1
pass "fork under the shim: $(cat "$TMP/shim"), one summary"
