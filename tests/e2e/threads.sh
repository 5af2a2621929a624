#!/bin/sh
# threads.sh: six threads decoding at once (four on streams of their own,
# one on its per-thread default stream, one on the legacy stream): no
# deadlock (each run has a time limit), and every thread's result is the one
# it has without the shim, in replay and passthrough mode, over several runs
# (the interleaving differs from run to run, and so does the simulated
# driver's scheduling seed).
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_threads --steps=3000"
run_sim timeout 120 $P >"$TMP/plain" || fail "without the shim"
for i in 1 2 3 4 5; do
    for mode in replay passthrough; do
        run_shim SIMCUDA_SEED=$i GRAPHSHIM_MODE=$mode GRAPHSHIM_STATS_FILE="$TMP/st.$mode" timeout 120 $P \
            >"$TMP/shim" 2>"$TMP/err" || fail "run $i, $mode: exit $? (124: it hung)"
        cmp -s "$TMP/plain" "$TMP/shim" || { diff "$TMP/plain" "$TMP/shim"; fail "run $i, $mode: results differ"; }
    done
done
pass "6 threads x 5 runs in replay and passthrough modes: identical; last replay run: $(stats_get "$TMP/st.replay" totals.ops_replayed) of $(stats_get "$TMP/st.replay" totals.ops) ops replayed, $(stats_get "$TMP/st.replay" totals.div_stream) flushes by another stream's op"
