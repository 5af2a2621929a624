#!/bin/sh
# fastpath.sh: the held-launch fast path (src/ops.c, kernel_held_fast)
# leaves the state the general path would. GRAPHSHIM_LOG=trace turns the
# fast path off (trace logging wants every op through the general path), so
# the same program under the shim with and without trace logging must make
# the same graphs, replays and patches, and run the same commands on each
# stream. One stream, a side stream joined by events (the fast path's other
# case), the per-thread stream (never taken fast), host functions,
# programmatic dependent launch (launch attributes), and chunks of 5
# (launches that finish a chunk go the general way). --pdl needs simcuda's
# GDS twins; without them those sets are skipped, said in the output.
. "${top_srcdir:-.}/tests/env.sh"
P="$top_builddir/tools/sim-decode"
base="--tokens=24 --layers=3"
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1"; }
keys="ops ops_replayed replays graph_launches nodes_patched templates"

sets='"" "--streams=2" "--per-thread" "--streams=3 --host-func --irregular=5"'
if run_sim "$P" --pdl --tokens=1 --layers=1 >/dev/null 2>"$TMP/pdl.err"; then
    sets="$sets \"--pdl\" \"--pdl --streams=2 --host-func\""
else
    grep -q "GDS twins" "$TMP/pdl.err" || fail "--pdl: $(cat "$TMP/pdl.err")"
    echo "note: this simcuda has no GDS twins (sim_X_gds): the --pdl sets are skipped"
fi
n=0
eval "set -- $sets"
for opts in "$@"; do
    for chunk in 64 5; do
        a="$base $opts"
        for how in fast general; do
            rm -f "$TMP/t.$how"
            lv=""
            [ "$how" = general ] && lv="GRAPHSHIM_LOG=trace GRAPHSHIM_LOG_FILE=$TMP/trace.log GRAPHSHIM_LOG_LIMIT=10"
            # shellcheck disable=SC2086
            # A long HOST_WAIT: the watchdog could take a loaded machine's
            # slow step (trace logging makes steps slow) for a wait on a
            # callback and cut it in one run and not the other.
            run_shim $lv SIMCUDA_TRACE="$TMP/t.$how" GRAPHSHIM_CHUNK_OPS=$chunk GRAPHSHIM_HOST_WAIT=1000000 \
                GRAPHSHIM_STATS_FILE="$TMP/s.$how.json" "$P" $a >"$TMP/o.$how" ||
                fail "($a, chunks of $chunk) the $how path's run failed"
        done
        expect_eq "($a, chunks of $chunk) checksum and state" \
            "$(field "$TMP/o.fast" checksum)/$(field "$TMP/o.fast" state)" \
            "$(field "$TMP/o.general" checksum)/$(field "$TMP/o.general" state)"
        for k in $keys; do
            expect_eq "($a, chunks of $chunk) $k" "$(stats_get "$TMP/s.fast.json" "totals.$k")" \
                "$(stats_get "$TMP/s.general.json" "totals.$k")"
        done
        trace_by_stream "$TMP/t.fast" >"$TMP/t.fast.s"
        trace_by_stream "$TMP/t.general" >"$TMP/t.general.s"
        cmp -s "$TMP/t.fast.s" "$TMP/t.general.s" ||
            fail "($a, chunks of $chunk) the commands differ per stream: $(diff "$TMP/t.fast.s" "$TMP/t.general.s" | head -4)"
        [ "$(stats_get "$TMP/s.fast.json" totals.ops_replayed)" -gt 0 ] ||
            fail "($a, chunks of $chunk) nothing replayed: the test shows nothing"
        n=$((n + 1))
    done
done
echo "fastpath: $n runs, with and without the fast path: the same commands, graphs, replays and patches"
