#!/bin/sh
# getproc.sh: the runtime's way in. Asked for "cuGetProcAddress" (at 11030 and
# 12000) the shim hands back its own resolver; per-thread requests get the
# _ptsz wrappers, whose stream 0 is the per-thread stream; pointers the driver
# returns without an exported name are still mapped from (symbol, version,
# flags).
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"

for ver in 11030 12000 13000; do
    run_shim GRAPHSHIM_STATS_FILE="$TMP/s.$ver" "$P" --path=runtime --version=$ver \
        >"$TMP/o.$ver" || fail "runtime path at cudaVersion $ver"
    grep -q "resolver=graphshim" "$TMP/o.$ver" || fail "$ver: resolver is not the shim's"
    v=$( [ $ver -ge 12000 ] && echo cuGetProcAddress_v2 || echo cuGetProcAddress )
    n=$(stats_get "$TMP/s.$ver" "$v.getproc")
    [ "$n" -gt 0 ] || fail "$ver: no lookups went through the shim's $v"
    pass "cudaVersion $ver: self-request answered with the shim's $v ($n lookups through it)"
done

# Per-thread requests: counted on the _ptsz wrappers, and the work lands on
# the per-thread stream (-1 in the simulated driver's trace) exactly as
# without the shim.
run_sim SIMCUDA_SEED=1 SIMCUDA_TRACE="$TMP/t.plain" "$P" --path=runtime --ptsz >"$TMP/p.plain" || fail "ptsz without shim"
run_shim SIMCUDA_SEED=2 SIMCUDA_TRACE="$TMP/t.shim" GRAPHSHIM_STATS_FILE="$TMP/s.pt" "$P" --path=runtime --ptsz \
    >"$TMP/p.shim" || fail "ptsz under shim"
launches=$(sed -n 's/^launches=//p' "$TMP/p.plain")
expect_eq "_ptsz launches" "$(( $(stats_get "$TMP/s.pt" cuLaunchKernel_ptsz.getproc) + \
    $(stats_get "$TMP/s.pt" cuLaunchKernelEx_ptsz.getproc) ))" "$launches"
expect_eq "plain-variant launches under ptsz" "$(stats_get "$TMP/s.pt" cuLaunchKernel.getproc)" 0
grep -q '^-1 kernel' "$TMP/t.plain" || fail "the program's work is not on the per-thread stream"
# The shim records events of its own after replays that read staging.
grep -v 'event record' "$TMP/t.plain" >"$TMP/t.plain.work"
grep -v 'event record' "$TMP/t.shim" >"$TMP/t.shim.work"
trace_same "$TMP/t.plain.work" "$TMP/t.shim.work" ||
    { trace_diff; fail "per-thread execution trace differs under the shim"; }
pass "per-thread requests get _ptsz wrappers ($launches launches), same trace"

# Unnamed pointers: the simulated driver hands out private aliases.
run_sim SIMCUDA_GPA_HIDDEN=1 "$P" --path=runtime --ptsz >"$TMP/h.plain" || fail "hidden without shim"
run_shim SIMCUDA_GPA_HIDDEN=1 GRAPHSHIM_STATS_FILE="$TMP/s.h" "$P" --path=runtime --ptsz \
    >"$TMP/h.shim" || fail "hidden under shim"
grep -v '^resolver=' "$TMP/h.plain" >"$TMP/a"; grep -v '^resolver=' "$TMP/h.shim" >"$TMP/b"
cmp -s "$TMP/a" "$TMP/b" || fail "hidden aliases: output differs"
expect_eq "launches mapped by request" "$(( $(stats_get "$TMP/s.h" cuLaunchKernel_ptsz.getproc) + \
    $(stats_get "$TMP/s.h" cuLaunchKernelEx_ptsz.getproc) ))" "$launches"
[ "$(stats_get "$TMP/s.h" totals.getproc_by_request)" -gt 0 ] || fail "nothing decided by request"
pass "unnamed driver pointers mapped from (symbol, version, flags)"
