#!/bin/sh
# fuzz.sh: the differential fuzzer. Runs FUZZ_COUNT (default 10000) seeded
# random programs of tests/e2e/prog_fuzz (the extended generator:
# programmatic launches, launch attributes, per-thread streams, forks to
# other streams, host functions, timing, a second thread) on the simulated
# driver, in batches, without the shim and under it, and compares the hash
# each program prints; then a fifth of them again with chunks of 5 ops, a
# fifth as the classic generator made them (--classic), a fifth as PyTorch
# issues them (--torchlike: the legacy stream as the main stream, events
# created and destroyed around each fork and join), a fifth with two
# adjacent ops now and then the other way round (--swaps), and a fifth without
# the shim under two more scheduling seeds, which must not change anything:
# every program is race-free under the dependencies it declares. The two
# sides of every comparison run under different SIMCUDA_SEED values, so the
# simulated driver runs independent work in other orders.
#
# Longer runs: FUZZ_COUNT=200000 FUZZ_FIRST=N. A mismatch names the seed;
# each one found becomes a line of tests/e2e/fuzz-regressions.txt, which
# every run replays first: "SEED" (extended generator), "classic SEED", or
# "known SEED" for a failure of the shim reported and not fixed yet: it must
# still fail (when it passes, the line becomes a plain "SEED"), and the main
# run leaves it out.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_fuzz"
count=${FUZZ_COUNT:-10000}
first=${FUZZ_FIRST:-1}
batch=${FUZZ_BATCH:-2500}
regressions="$top_srcdir/tests/e2e/fuzz-regressions.txt"
known=$(sed -n 's/#.*//; s/^ *known  *\([0-9][0-9]*\).*/\1/p' "$regressions" | tr '\n' ',' | sed 's/,$//')

# run_both LABEL FIRST COUNT SEED_PLAIN SEED_SHIM [prog_fuzz args] [-- VAR=value ...]:
# sets $res to "same", "differs SEED" or "failed WHICH: message".
run_both() {
    label=$1 f=$2 c=$3 sp=$4 ss=$5; shift 5
    args=
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args="$args $1"; shift; done
    [ $# -gt 0 ] && shift
    # shellcheck disable=SC2086
    run_sim SIMCUDA_SEED="$sp" "$P" --first="$f" --count="$c" $args >"$TMP/plain" 2>"$TMP/plain.err" ||
        fail "$label: seeds $f..: the program failed without the shim (SIMCUDA_SEED=$sp): $(tail -2 "$TMP/plain.err")"
    # shellcheck disable=SC2086
    if ! run_shim SIMCUDA_SEED="$ss" "$@" "$P" --first="$f" --count="$c" $args >"$TMP/shim" 2>"$TMP/shim.err"; then
        res="failed under the shim (SIMCUDA_SEED=$ss) after $(wc -l <"$TMP/shim") programs: $(grep -v "^/.*Aborted" "$TMP/shim.err" | tail -2)"
        return
    fi
    if ! cmp -s "$TMP/plain" "$TMP/shim"; then
        res="differs $(diff "$TMP/plain" "$TMP/shim" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1)"
        return
    fi
    res=same
}

# compare LABEL FIRST COUNT SEED_PLAIN SEED_SHIM [args] [-- VAR=value ...]: must be the same.
compare() {
    run_both "$@"
    case $res in
    same) ;;
    differs*) fail "$1: seed ${res#differs } differs with the shim (reproduce: SIMCUDA_SEED=$4 prog_fuzz --first=${res#differs } --count=1 --verbose $(echo "$@" | grep -o -e --classic -e --torchlike -e --swaps | tr '\n' ' '), and under the shim with SIMCUDA_SEED=$5)" ;;
    *) fail "$1: seeds $2..: $res" ;;
    esac
}

# seq_regression FIRST LAST KEEP...: the programs KEEP of FIRST..LAST in one
# process (the shim's state carries over from one to the next), five times,
# since such a failure may depend on a second thread's timing.
seq_regression() {
    sf=$1 sl=$2; shift 2
    sk=""
    for v in $(seq "$sf" "$sl"); do
        case " $* " in *" $v "*) ;; *) sk="$sk${sk:+,}$v" ;; esac
    done
    for r in 1 2 3 4 5; do
        compare "regression seq $sf-$sl ($*), round $r" "$sf" $((sl - sf + 1)) 8 108 ${sk:+--skip=$sk}
    done
}
# Regressions first: one seed per line (# comments allowed).
n=0 k=0
while read -r a b; do
    case $a in
    ''|'#'*) continue ;;
    classic) compare "regression classic $b" "$b" 1 1 2 --classic ;;
    seq) seq_regression $b ;;
    known)
        run_both "known failure $b" "$b" 1 1 2
        [ "$res" != same ] ||
            fail "known failure $b now passes: make its line in fuzz-regressions.txt a plain \"$b\""
        echo "known failure (reported, not fixed yet): seed $b $res"
        k=$((k + 1)) ;;
    *) compare "regression $a" "$a" 1 1 2 ;;
    esac
    n=$((n + 1))
done <<EOF
$(sed 's/#.*//' "$regressions")
EOF
pass "$n regression seeds ($k known failures left out of the runs below)"

skip=${known:+--skip=$known}
start=$(date +%s)
f=$first
end=$((first + count))
b=0
while [ "$f" -lt "$end" ]; do
    c=$batch
    [ $((f + c)) -gt "$end" ] && c=$((end - f))
    b=$((b + 1))
    compare "replay" "$f" "$c" "$b" $((b + 100)) $skip
    f=$((f + c))
done
fifth=$((count / 5))
# Chunks cut steps everywhere: a fifth of the seeds again with chunks of 5.
compare "chunks of 5" "$first" "$fifth" 3 4 $skip -- GRAPHSHIM_CHUNK_OPS=5 GRAPHSHIM_STATS_FILE="$TMP/st"
# The classic generator's programs, which the regressions were found with.
compare "classic" "$first" "$fifth" 5 6 --classic
# PyTorch's way: the legacy stream as the main stream, forks and joins by
# events made for the occasion and destroyed right after the wait.
compare "torch-like" "$first" "$fifth" 7 8 --torchlike $skip
# Two threads' ops come in varying order: two adjacent ops now and then the
# other way round in a repetition (on two lanes of a fork they commute and
# the shim may match them swapped, src/hold.c; on one stream they do not).
compare "swaps" "$first" "$fifth" 9 10 --swaps -- GRAPHSHIM_STATS_FILE="$TMP/sw"
run_sim SIMCUDA_SEED=9 "$P" --first="$first" --count="$fifth" --swaps >"$TMP/race.s" ||
    fail "race check: swaps"
run_sim SIMCUDA_SEED=7 "$P" --first="$first" --count="$fifth" --swaps >"$TMP/race.v" ||
    fail "race check: swaps, seed 7"
cmp -s "$TMP/race.s" "$TMP/race.v" || fail "race check: a program with swaps has a race"
run_sim SIMCUDA_SEED=9 "$P" --first="$first" --count="$fifth" --torchlike $skip >"$TMP/race.t" ||
    fail "race check: torch-like"
run_sim SIMCUDA_SEED=7 "$P" --first="$first" --count="$fifth" --torchlike $skip >"$TMP/race.u" ||
    fail "race check: torch-like, seed 7"
cmp -s "$TMP/race.t" "$TMP/race.u" || fail "race check: a torch-like program has a race"
# Race-freedom: without the shim, other scheduling seeds give the same
# results (and the single global order of SIMCUDA_SCHED=fifo), timing
# events' exact virtual times included (FUZZ_EXACT_TIME=1; under the shim,
# which may order more than the program asked, they need only be valid).
run_sim FUZZ_EXACT_TIME=1 SIMCUDA_SEED=7 "$P" --first="$first" --count="$fifth" $skip >"$TMP/race.a" ||
    fail "race check: seed 7"
for alt in SIMCUDA_SEED=8 SIMCUDA_SEED=9 SIMCUDA_SCHED=fifo; do
    run_sim FUZZ_EXACT_TIME=1 "$alt" "$P" --first="$first" --count="$fifth" $skip >"$TMP/race.b" ||
        fail "race check: $alt"
    cmp -s "$TMP/race.a" "$TMP/race.b" ||
        fail "race check: seed $(diff "$TMP/race.a" "$TMP/race.b" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1) gives another result with $alt than with SIMCUDA_SEED=7: the program has a race"
done
pass "$count programs (and $fifth with chunks of 5 ops, $fifth classic, $fifth torch-like, $fifth with swapped ops, $fifth under three more schedules without the shim) identical with and without the shim in $(( $(date +%s) - start )) s; $(stats_get "$TMP/st" totals.ops_replayed) ops replayed, $(stats_get "$TMP/st" totals.div_mismatch) mismatches, $(stats_get "$TMP/st" totals.div_barrier) barriers mid-step with chunks of 5; $(stats_get "$TMP/sw" totals.ops_reordered) ops matched swapped"
