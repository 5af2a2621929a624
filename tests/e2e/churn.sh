#!/bin/sh
# churn.sh: the shim's memory stays bounded over a long run whose templates
# keep changing (12 step shapes, room for 4 graphs, a module unloaded and
# loaded again every 10000 steps): the same result as without the shim, and
# the same peak of host memory and page-locked staging after 100000 steps as
# after 10000. CHURN_STEPS sets the long run.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_churn"
long=${CHURN_STEPS:-100000}
for steps in 10000 "$long"; do
    run_sim "$P" --steps="$steps" >"$TMP/plain" 2>/dev/null || fail "without the shim ($steps steps)"
    run_shim GRAPHSHIM_WARMUP=2 GRAPHSHIM_MAX_GRAPHS=4 GRAPHSHIM_STATS_FILE="$TMP/st.$steps" \
        "$P" --steps="$steps" >"$TMP/shim" 2>/dev/null || fail "under the shim ($steps steps)"
    cmp -s "$TMP/plain" "$TMP/shim" || fail "$steps steps: result differs"
done
for k in host_bytes_peak staging_bytes_peak; do
    expect_eq "$k after 10000 and after $long steps" \
        "$(stats_get "$TMP/st.$long" "totals.$k")" "$(stats_get "$TMP/st.10000" "totals.$k")"
done
[ "$(stats_get "$TMP/st.$long" totals.graphs_evicted)" -gt $((long / 100)) ] || fail "templates did not churn"
[ "$(stats_get "$TMP/st.$long" totals.replays)" -gt $((long / 2)) ] || fail "too few replays"
pass "$long steps: $(stats_get "$TMP/st.$long" totals.graphs_built) graphs built, $(stats_get "$TMP/st.$long" totals.graphs_evicted) evicted, $(stats_get "$TMP/st.$long" totals.replays) replays; peak host memory $(stats_get "$TMP/st.$long" totals.host_bytes_peak) bytes, staging $(stats_get "$TMP/st.$long" totals.staging_bytes_peak) bytes, as after 10000 steps"

# More kinds of step than graphs kept: evicted before use, not rebuilt.
run_sim "$P" --steps=20000 --mix >"$TMP/plain" 2>/dev/null || fail "mix without the shim"
run_shim GRAPHSHIM_WARMUP=2 GRAPHSHIM_MAX_GRAPHS=4 GRAPHSHIM_STATS_FILE="$TMP/st.mix" \
    "$P" --steps=20000 --mix >"$TMP/shim" 2>/dev/null || fail "mix under the shim"
cmp -s "$TMP/plain" "$TMP/shim" || fail "mix: result differs"
built=$(stats_get "$TMP/st.mix" totals.graphs_built)
[ "$built" -lt 200 ] || fail "mix: $built graphs built for 20000 steps: thrashing"
pass "12 kinds of step for 4 graphs: $built graphs built in 20000 steps, $(stats_get "$TMP/st.mix" totals.thrash_skipped) rebuilds skipped"
