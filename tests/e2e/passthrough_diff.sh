#!/bin/sh
# passthrough_diff.sh: the decode demo (tools/sim-decode) on the simulated
# driver, without the shim, under it in passthrough mode and in the default
# (replay) mode: the same tokens, the same final state, and the same
# execution trace stream by stream (every kernel, copy and memset the device
# executed, in each stream's order, with grid, block and argument bytes), so
# the shim changed neither the work nor its order; each run under another
# scheduling seed. The shim counts exactly the launches issued.
. "${top_srcdir:-.}/tests/env.sh"
P="$top_builddir/tools/sim-decode"
strip() { sed 's/ tokens\/s=[^ ]*//' "$1"; }
for args in "" "--irregular=3" "--tokens=40 --layers=2"; do
    rm -f "$TMP/t.plain"
    run_sim SIMCUDA_SEED=1 SIMCUDA_TRACE="$TMP/t.plain" "$P" $args >"$TMP/plain" || fail "without the shim ($args)"
    seed=1
    for mode in passthrough replay; do
        rm -f "$TMP/t.$mode"
        seed=$((seed + 1))
        run_shim SIMCUDA_SEED=$seed GRAPHSHIM_MODE=$mode SIMCUDA_TRACE="$TMP/t.$mode" \
            GRAPHSHIM_STATS_FILE="$TMP/s.$mode" "$P" $args >"$TMP/$mode" ||
            fail "under the shim, $mode ($args)"
        [ "$(strip "$TMP/plain")" = "$(strip "$TMP/$mode")" ] ||
            fail "$mode ($args): output differs: $(strip "$TMP/plain") / $(strip "$TMP/$mode")"
        trace_same "$TMP/t.plain" "$TMP/t.$mode" || {
            trace_diff
            fail "$mode ($args): execution trace differs"
        }
    done
    lpt=$(sed -n 's/.*launches_per_token=\([0-9]*\).*/\1/p' "$TMP/plain")
    tok=$(sed -n 's/.* tokens=\([0-9]*\).*/\1/p' "$TMP/plain")
    [ "$(stats_get "$TMP/s.passthrough" totals.launches)" -ge $((lpt * tok)) ] ||
        fail "($args) the shim counted fewer launches than the program issued"
    replayed=$(stats_get "$TMP/s.replay" totals.ops_replayed)
    pass "sim-decode $args: identical output and trace; $(wc -l <"$TMP/t.plain") commands; $replayed ops replayed through graphs"
done
