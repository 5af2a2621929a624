#!/bin/sh
# wallprof.sh: tools/libwallprof.so beside the shim on the simulated driver:
# it samples the main thread, with backtraces, and writes them at exit in
# the format tools/wallprof.py reads; the program's output is unchanged; a
# bad WALLPROF_US warns once and keeps 50 us; without WALLPROF_OUT it does
# nothing. The report, where python3 is: the tables, and split by blocks.
. "${top_srcdir:-.}/tests/env.sh"
# A signal handler at 20 kHz beside a sanitizer runtime measures the
# sanitizer: the sampler is a tool for plain builds.
[ "${GS_SANITIZER_KIND:-none}" = none ] || { echo "skip: sanitizer build"; exit 77; }
WP="$top_builddir/tools/.libs/libwallprof.so"
[ -f "$WP" ] || fail "no $WP"
P="$E2E/prog_dag"

run_sim "$P" jaxupload --steps=400 >"$TMP/plain" 2>&1 || fail "jaxupload without the shim"
run_shim WALLPROF_OUT="$TMP/s" WALLPROF_US=20 LD_PRELOAD="$WP:$PRELOAD" "$P" jaxupload \
    --steps=400 >"$TMP/out" 2>"$TMP/err" || fail "jaxupload under the sampler: $(cat "$TMP/err")"
expect_eq "result under the sampler" "$(grep -o 'result=[^ ]*' "$TMP/out")" \
    "$(grep -o 'result=[^ ]*' "$TMP/plain")"
grep -q wallprof "$TMP/err" && fail "the sampler complained: $(cat "$TMP/err")"
ns=$(grep -vc '^B' "$TMP/s")
[ "$ns" -ge 20 ] || fail "only $ns samples"
bad=$(grep -v '^B' "$TMP/s" | awk 'NF != 5 || $1 !~ /^[0-9]+$/ || $2 !~ /^[0-9]+$/' | head -1)
[ -z "$bad" ] || fail "a sample line not as wallprof.py reads it: $bad"
grep -q '^B .*:.*:' "$TMP/s" || fail "no backtraces"
grep -v '^B' "$TMP/s" | awk '{ print $3 }' | grep -q -e libgraphshim -e libcuda -e prog_dag ||
    fail "no sample in the program, the shim or the driver"
pass "$ns samples, the result unchanged"

run_shim WALLPROF_OUT="$TMP/s2" WALLPROF_US=abc LD_PRELOAD="$WP:$PRELOAD" "$P" jaxupload \
    >/dev/null 2>"$TMP/err2" || fail "jaxupload, WALLPROF_US=abc"
expect_eq "WALLPROF_US=abc: warnings" "$(grep -c 'WALLPROF_US=abc is not' "$TMP/err2")" 1
[ -f "$TMP/s2" ] || fail "WALLPROF_US=abc: no samples written"
run_shim LD_PRELOAD="$WP:$PRELOAD" "$P" jaxupload >/dev/null 2>"$TMP/err3" ||
    fail "jaxupload without WALLPROF_OUT"
grep -q wallprof "$TMP/err3" && fail "without WALLPROF_OUT it wrote: $(cat "$TMP/err3")"
pass "a bad WALLPROF_US warns once; no WALLPROF_OUT, no sampling"

if ! command -v python3 >/dev/null 2>&1; then
    echo "no python3: tools/wallprof.py not run"
    exit 0
fi
R="$top_srcdir/tools/wallprof.py"
python3 "$R" "$TMP/s" --steps=400 >"$TMP/rep" 2>&1 || fail "wallprof.py: $(cat "$TMP/rep")"
for h in "total:" "by object:" "by symbol:" "inside libc"; do
    grep -q "^$h" "$TMP/rep" || fail "wallprof.py printed no '$h': $(head -5 "$TMP/rep")"
done
grep -q "us a step" "$TMP/rep" || fail "wallprof.py --steps: not per step"
# Three blocks over the run, as jax-eager.py --ab writes them: the first
# (learning) left out, the others side by side.
a=$(grep -v '^B' "$TMP/s" | head -1 | cut -d' ' -f1)
b=$(grep -v '^B' "$TMP/s" | tail -1 | cut -d' ' -f1)
d=$(((b - a) / 3))
printf '1 %s %s\n0 %s %s\n1 %s %s\n' "$a" $((a + d)) $((a + d)) $((a + 2 * d)) \
    $((a + 2 * d)) $((b + 1)) >"$TMP/blocks"
python3 "$R" "$TMP/s" --blocks="$TMP/blocks" --block-steps=100 >"$TMP/rep2" 2>&1 ||
    fail "wallprof.py --blocks: $(cat "$TMP/rep2")"
grep -q "(paused, shim, difference)" "$TMP/rep2" || fail "wallprof.py --blocks: no split"
awk '/^by object:/ { getline; exit !(NF == 4) }' "$TMP/rep2" ||
    fail "wallprof.py --blocks: a row is not paused, shim, difference, object"
python3 "$R" /dev/null >/dev/null 2>"$TMP/err4" && fail "wallprof.py on no samples succeeded"
expect_eq "wallprof.py on no samples: messages" "$(grep -c 'no samples in' "$TMP/err4")" 1
pass "wallprof.py: the tables, per step and split by blocks; one message for no samples"
