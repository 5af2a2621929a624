#!/bin/sh
# summary.sh: the exit summary is printed once, with GRAPHSHIM_STATS=1 or at
# GRAPHSHIM_LOG=info, never by default, and its counts are right.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"
run_shim "$P" --steps=5 >/dev/null 2>"$TMP/err" || fail "default run"
grep -q 'summary:' "$TMP/err" && fail "a summary was printed by default"
for env in GRAPHSHIM_STATS=1 GRAPHSHIM_LOG=info; do
    run_shim "$env" "$P" --steps=5 >"$TMP/out" 2>"$TMP/err" || fail "$env"
    expect_eq "$env: summaries" "$(grep -c 'summary:' "$TMP/err")" 1
    # 3 cuLaunchKernel per step, all bound directly.
    row=$(grep -E '^ +cuLaunchKernel +[0-9]' "$TMP/err" | awk '{print $2, $3, $4}')
    expect_eq "$env: cuLaunchKernel row (direct dlsym getproc)" "$row" "15 0 0"
    grep -qE '^ +launches +20 ' "$TMP/err" || fail "$env: launches counter is not 20"
done
pass "summary printed once when asked, with the right counts"
