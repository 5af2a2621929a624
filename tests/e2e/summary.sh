#!/bin/sh
# summary.sh: the exit summary is printed once, with GRAPHSHIM_STATS=1 or at
# GRAPHSHIM_LOG=info, never by default; it opens with the findings (the
# share replayed, the graphs, the saving) and keeps the tables for
# GRAPHSHIM_STATS=verbose (or GRAPHSHIM_LOG=debug), where the counts are
# right.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"
run_shim "$P" --steps=5 >/dev/null 2>"$TMP/err" || fail "default run"
grep -q 'summary:' "$TMP/err" && fail "a summary was printed by default"
[ -s "$TMP/err" ] && fail "the default run wrote to stderr: $(head -3 "$TMP/err")"
for env in GRAPHSHIM_STATS=1 GRAPHSHIM_LOG=info; do
    run_shim "$env" "$P" --steps=5 >"$TMP/out" 2>"$TMP/err" || fail "$env"
    expect_eq "$env: summaries" "$(grep -c 'summary:' "$TMP/err")" 1
    # The findings come right after the summary line, the tables do not.
    awk 'found { print; exit } /summary:/ { found = 1 }' "$TMP/err" | grep -q '^  replayed through graphs: [0-9]* of [0-9]* ops' ||
        fail "$env: the summary does not open with the share replayed"
    grep -q '^  graphs in use: ' "$TMP/err" || fail "$env: no graphs line"
    grep -q '^  driver time saved' "$TMP/err" || fail "$env: no saving line"
    grep -qE '^ +cuLaunchKernel +[0-9]' "$TMP/err" && fail "$env: tables without verbose"
    grep -q 'GRAPHSHIM_STATS=verbose adds' "$TMP/err" || fail "$env: verbose not mentioned"
done
for env in GRAPHSHIM_STATS=verbose GRAPHSHIM_LOG=debug; do
    run_shim "$env" "$P" --steps=5 >"$TMP/out" 2>"$TMP/err" || fail "$env"
    expect_eq "$env: summaries" "$(grep -c 'summary:' "$TMP/err")" 1
    # 3 cuLaunchKernel per step, all bound directly.
    row=$(grep -E '^ +cuLaunchKernel +[0-9]' "$TMP/err" | awk '{print $2, $3, $4}')
    expect_eq "$env: cuLaunchKernel row (direct dlsym getproc)" "$row" "15 0 0"
    grep -qE '^ +launches +20 ' "$TMP/err" || fail "$env: launches counter is not 20"
done
pass "summary printed once when asked, findings first, tables at verbose with the right counts"
