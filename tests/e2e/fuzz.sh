#!/bin/sh
# fuzz.sh: the differential fuzzer. Runs FUZZ_COUNT (default 10000) seeded
# random programs of tests/e2e/prog_fuzz on the simulated driver, in batches,
# without the shim and under it (default mode, and with chunks of 5 ops),
# and compares the hash each program prints. Longer runs: FUZZ_COUNT=200000
# FUZZ_FIRST=N. A mismatch names the seed; each one found becomes a line of
# tests/e2e/fuzz-regressions.txt, which every run replays first.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_fuzz"
count=${FUZZ_COUNT:-10000}
first=${FUZZ_FIRST:-1}
batch=${FUZZ_BATCH:-2500}

compare() { # compare LABEL FIRST COUNT [VAR=value ...]
    label=$1 f=$2 c=$3; shift 3
    run_sim "$P" --first="$f" --count="$c" >"$TMP/plain" 2>"$TMP/plain.err" ||
        fail "$label: seeds $f..: the program failed without the shim: $(tail -2 "$TMP/plain.err")"
    run_shim "$@" "$P" --first="$f" --count="$c" >"$TMP/shim" 2>"$TMP/shim.err" ||
        fail "$label: seeds $f..: the program failed under the shim: $(tail -2 "$TMP/shim.err")"
    if ! cmp -s "$TMP/plain" "$TMP/shim"; then
        seed=$(diff "$TMP/plain" "$TMP/shim" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1)
        fail "$label: seed $seed differs with the shim (reproduce: prog_fuzz --first=$seed --count=1 --verbose)"
    fi
    [ "$(wc -l <"$TMP/shim")" -eq "$c" ] || fail "$label: $(wc -l <"$TMP/shim") results for $c programs"
}

# Regressions first: one seed per line (# comments allowed).
n=0
for seed in $(sed 's/#.*//' "$top_srcdir/tests/e2e/fuzz-regressions.txt"); do
    compare "regression $seed" "$seed" 1
    n=$((n + 1))
done
pass "$n regression seeds"

start=$(date +%s)
f=$first
end=$((first + count))
while [ "$f" -lt "$end" ]; do
    c=$batch
    [ $((f + c)) -gt "$end" ] && c=$((end - f))
    compare "replay" "$f" "$c"
    f=$((f + c))
done
# Chunks cut steps everywhere: a fifth of the seeds again with chunks of 5.
compare "chunks of 5" "$first" $((count / 5)) GRAPHSHIM_CHUNK_OPS=5 GRAPHSHIM_STATS_FILE="$TMP/st"
pass "$count programs (and $((count / 5)) with chunks of 5 ops) identical with and without the shim in $(( $(date +%s) - start )) s; $(stats_get "$TMP/st" totals.ops_replayed) ops replayed, $(stats_get "$TMP/st" totals.div_mismatch) mismatches, $(stats_get "$TMP/st" totals.div_barrier) barriers mid-step in the last batch"
