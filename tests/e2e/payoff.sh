#!/bin/sh
# payoff.sh: the never-slower rule (GRAPHSHIM_PAYOFF, on by default). A
# program of two-kernel steps whose arguments change every step, so that
# every replay patches both nodes, on a simulated driver given a GPU's kind
# of costs (SIMCUDA_LAUNCH_NS per eager launch, SIMCUDA_SETPARAMS_NS per
# kernel node update):
# - where patching costs more than launching, the template is retired after
#   32 replays (its graph freed, the info log says so), and the program runs
#   about as fast as without the shim, far faster than with the rule off;
# - where launching costs more, the template stays and replays every step,
#   also when one of its launches takes 20 ms (a preempted thread);
# - a template whose matches are cut short 16 times in a row (the steps
#   now end earlier) retires;
# - an op as XLA runs it eagerly (a kernel and three cheap event calls, on
#   two streams) is retired: the rule values event calls at their own cost.
# Results are identical throughout.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_dag"
STEPS=4000
rate() { sed -n 's/.*steps\/s=\([0-9.]*\).*/\1/p' "$1" | tail -1; }
# best RATE CMD...: the better of RATE and three more runs of CMD. The speed
# checks below compare rates; on a loaded machine a run can lose half its
# speed to other processes, never gain it, so a check that fails is made
# again with the best of four runs of each side before it fails.
best() {
    b=$1; shift
    for i in 1 2 3; do
        "$@" >/dev/null 2>"$TMP/best.err" || fail "a rerun failed: $*"
        b=$(awk -v a="$b" -v c="$(rate "$TMP/best.err")" 'BEGIN { print (c > a ? c : a) }')
    done
    echo "$b"
}

dear_patch="GRAPHSHIM_PAYOFF=1 SIMCUDA_LAUNCH_NS=500 SIMCUDA_SETPARAMS_NS=20000"
run_sim $dear_patch "$P" tiny --steps=$STEPS >"$TMP/plain" 2>"$TMP/plain.err" || fail "without the shim"
run_shim $dear_patch GRAPHSHIM_LOG=info GRAPHSHIM_STATS_FILE="$TMP/st" "$P" tiny --steps=$STEPS \
    >"$TMP/shim" 2>"$TMP/shim.err" || fail "under the shim"
run_shim $dear_patch GRAPHSHIM_PAYOFF=0 "$P" tiny --steps=$STEPS >"$TMP/off" 2>"$TMP/off.err" ||
    fail "under the shim, the rule off"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs under the shim"
cmp -s "$TMP/plain" "$TMP/off" || fail "result differs under the shim with the rule off"
expect_eq "templates retired" "$(stats_get "$TMP/st" totals.retired)" 1
expect_eq "replays before it was retired" "$(stats_get "$TMP/st" totals.replays)" 32
grep -q "does not pay: a replay costs .* us, its ops eagerly .* us; it runs eagerly from now on" \
    "$TMP/shim.err" || fail "retirement not logged"
p=$(rate "$TMP/plain.err") s=$(rate "$TMP/shim.err") o=$(rate "$TMP/off.err")
# A sanitizer multiplies the shim's own cost per op, which no rule removes:
# there the rule must still make it half again as fast (it was 1.9-2.0x
# under ThreadSanitizer, so 2x failed one run in two).
# (And half the plain rate: a CI run under ThreadSanitizer on two cores
# once came out at 0.49 of it, best of four; other runs gave 0.66-1.0.)
gain=2 half=0.5
[ "${GS_SANITIZER_KIND:-none}" = none ] || { gain=1.5; half=0.4; }
fast() { awk -v p="$p" -v s="$s" -v o="$o" -v g="$gain" -v h="$half" 'BEGIN { exit !(s > h * p && s > g * o) }'; }
if ! fast; then
    p=$(best "$p" run_sim $dear_patch "$P" tiny --steps=$STEPS)
    s=$(best "$s" run_shim $dear_patch "$P" tiny --steps=$STEPS)
    o=$(best "$o" run_shim $dear_patch GRAPHSHIM_PAYOFF=0 "$P" tiny --steps=$STEPS)
    fast || fail "steps/s (best of four): $p without the shim, $s with the rule, $o without it"
fi
pass "patches dearer than launches: retired after 32 replays; steps/s $p without the shim, $s under it, $o with the rule off"

dear_launch="GRAPHSHIM_PAYOFF=1 SIMCUDA_LAUNCH_NS=20000"
run_sim $dear_launch "$P" tiny --steps=300 >"$TMP/plain" 2>"$TMP/plain.err" || fail "without the shim (2)"
run_shim $dear_launch GRAPHSHIM_STATS_FILE="$TMP/st" "$P" tiny --steps=300 >"$TMP/shim" 2>"$TMP/shim.err" ||
    fail "under the shim (2)"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs under the shim (2)"
expect_eq "templates retired where launches are dear" "$(stats_get "$TMP/st" totals.retired)" 0
[ "$(stats_get "$TMP/st" totals.replays)" -ge 290 ] || fail "replays: $(stats_get "$TMP/st" totals.replays)"
pass "launches dearer than patches: kept, $(stats_get "$TMP/st" totals.replays) replays; steps/s $(rate "$TMP/plain.err") without the shim, $(rate "$TMP/shim.err") under it"
# The same, with one graph launch (the third) taking 20 ms, as one the OS
# preempts: the rule weighs the median replay, so the template stays (by
# the mean of its first 32 replays it cost 600 us a replay, against 40 us
# eagerly, and was retired).
run_shim $dear_launch SIMCUDA_GRAPH_LAUNCH_SPIKE=3:20000000 GRAPHSHIM_STATS_FILE="$TMP/st" "$P" tiny \
    --steps=300 >"$TMP/shim" 2>"$TMP/shim.err" || fail "under the shim (a preempted launch)"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs under the shim (a preempted launch)"
expect_eq "templates retired after one preempted launch" "$(stats_get "$TMP/st" totals.retired)" 0
[ "$(stats_get "$TMP/st" totals.replays)" -ge 290 ] || fail "replays: $(stats_get "$TMP/st" totals.replays)"
pass "one graph launch preempted for 20 ms: kept, $(stats_get "$TMP/st" totals.replays) replays"

# Steps that keep coming in new variants, none of which pays: after four
# retirements the stream forms no more templates, so the fifth and sixth
# variants are never replayed at a loss; and as nothing was saved, the
# engine steps aside for the rest of the run (its ops pass through, none is
# held). With the rule off it never does.
run_sim $dear_patch "$P" tinyvar --steps=1200 >"$TMP/plain" 2>"$TMP/plain.err" || fail "tinyvar without the shim"
for pay in 1 0; do
    run_shim $dear_patch GRAPHSHIM_PAYOFF=$pay GRAPHSHIM_LOG=info GRAPHSHIM_STATS=1 GRAPHSHIM_STATS_FILE="$TMP/st$pay" \
        "$P" tinyvar --steps=1200 >"$TMP/shim" 2>"$TMP/shim$pay.err" || fail "tinyvar under the shim (GRAPHSHIM_PAYOFF=$pay)"
    cmp -s "$TMP/plain" "$TMP/shim" || fail "tinyvar: result differs under the shim (GRAPHSHIM_PAYOFF=$pay)"
done
expect_eq "tinyvar: templates retired" "$(stats_get "$TMP/st1" totals.retired)" 4
expect_eq "tinyvar: templates formed" "$(stats_get "$TMP/st1" totals.templates)" 4
grep -q "4 templates were retired; its steps run eagerly from now on" "$TMP/shim1.err" ||
    fail "tinyvar: the end of templates on the stream is not logged"
expect_eq "tinyvar: stepped aside" "$(stats_get "$TMP/st1" totals.stepped_aside)" 1
expect_eq "tinyvar: stepped aside with the rule off" "$(stats_get "$TMP/st0" totals.stepped_aside)" 0
grep -q "graphs do not pay in this program: 4 templates were retired.*graphshim steps aside" "$TMP/shim1.err" ||
    fail "tinyvar: stepping aside is not logged"
grep -q "the engine stepped aside after 4 templates were retired" "$TMP/shim1.err" ||
    fail "tinyvar: the summary does not say the engine stepped aside"
passed=$(stats_get "$TMP/st1" totals.ops_passed)
# Variants 4 and 5 (steps 800 on: 400 steps of 6 and 7 kernels and a sync) pass through.
[ "$passed" -ge 2600 ] || fail "tinyvar: only $passed ops passed through after stepping aside"
expect_eq "tinyvar: ops passed with the rule off" "$(stats_get "$TMP/st0" totals.ops_passed)" 0
pass "six variants that do not pay: four retired, then none formed, and the engine stepped aside ($(stats_get "$TMP/st1" totals.replays) replays, $passed ops passed through)"

# Steps that changed after their template formed: from step 60 on a
# synchronisation in the middle ends every step there, as a host function
# the watchdog learns that JAX waits for (GRAPHSHIM_MIN_OPS=4: the three ops
# before it never become a template of their own). Each match of the whole
# step's template holds three ops only to issue them late; after 16 in a
# row it retires (the rule off: cut 240 times).
cheap="GRAPHSHIM_MIN_OPS=4 SIMCUDA_LAUNCH_NS=4000 SIMCUDA_SETPARAMS_NS=100"
run_sim $cheap "$P" cutshort --steps=300 >"$TMP/plain" 2>"$TMP/plain.err" || fail "cutshort without the shim"
for pay in 1 0; do
    run_shim $cheap GRAPHSHIM_PAYOFF=$pay GRAPHSHIM_STATS_FILE="$TMP/st$pay" "$P" cutshort --steps=300 \
        >"$TMP/shim" 2>"$TMP/shim.err" || fail "cutshort under the shim (GRAPHSHIM_PAYOFF=$pay)"
    cmp -s "$TMP/plain" "$TMP/shim" || fail "cutshort: result differs under the shim (GRAPHSHIM_PAYOFF=$pay)"
done
expect_eq "cutshort: templates retired as cut short" "$(stats_get "$TMP/st1" totals.retired_cut)" 1
expect_eq "cutshort: with the rule off" "$(stats_get "$TMP/st0" totals.retired_cut)" 0
[ "$(stats_get "$TMP/st1" totals.div_barrier)" -le 20 ] ||
    fail "cutshort: $(stats_get "$TMP/st1" totals.div_barrier) steps cut, expected the template retired after 16"
[ "$(stats_get "$TMP/st0" totals.div_barrier)" -ge 200 ] ||
    fail "cutshort: the rule off cut only $(stats_get "$TMP/st0" totals.div_barrier) steps: the test no longer cuts a template"
pass "a template cut short 16 times in a row retires: $(stats_get "$TMP/st1" totals.div_barrier) steps cut, against $(stats_get "$TMP/st0" totals.div_barrier) with the rule off"

# One op as XLA runs it: a kernel, an event record, a callback stream's wait
# and a host function. With GRAPHSHIM_HOST_WAIT=0 every host function ends
# its step, so each op is a step: event calls cost far less than a launch,
# and the graph of four ops spans two streams (the shim orders them with
# events of its own): the replay costs more than the four calls, and the
# rule must see that (valuing each op as a launch, it kept the template).
xla="GRAPHSHIM_PAYOFF=1 SIMCUDA_LAUNCH_NS=4000 SIMCUDA_EVENT_NS=200 SIMCUDA_GRAPH_LAUNCH_NS=6000 SIMCUDA_SETPARAMS_NS=500"
least=0.7
[ "${GS_SANITIZER_KIND:-none}" = none ] || least=0.4
run_sim $xla "$P" xlaop --steps=2000 >"$TMP/plain" 2>"$TMP/plain.err" || fail "xlaop without the shim"
# The rule reads measured costs: on a loaded machine (a CI run beside a
# fuzz, under AddressSanitizer) the eager calls it timed once came out
# dearer than simcuda makes them and it kept the template. Up to four runs;
# one must retire it.
for try in 1 2 3 4; do
    run_shim $xla GRAPHSHIM_HOST_WAIT=0 GRAPHSHIM_STATS_FILE="$TMP/st" "$P" xlaop --steps=2000 >"$TMP/shim" 2>"$TMP/shim.err" ||
        fail "xlaop under the shim"
    cmp -s "$TMP/plain" "$TMP/shim" || fail "xlaop: result differs under the shim"
    [ "$(stats_get "$TMP/st" totals.retired)" -ge 1 ] && break
    [ $try = 4 ] && fail "xlaop: no template retired in four runs ($(stats_get "$TMP/st" totals.replays) replays in the last)"
done
p=$(rate "$TMP/plain.err") s=$(rate "$TMP/shim.err")
fast() { awk -v p="$p" -v s="$s" -v l="$least" 'BEGIN { exit !(s > l * p) }'; }
if ! fast; then
    p=$(best "$p" run_sim $xla "$P" xlaop --steps=2000)
    s=$(best "$s" run_shim $xla GRAPHSHIM_HOST_WAIT=0 "$P" xlaop --steps=2000)
    fast || fail "xlaop steps/s (best of four): $p without the shim, $s under it"
fi
pass "XLA-like ops (one kernel, three event calls), a step each: retired after $(stats_get "$TMP/st" totals.replays) replays; steps/s $p without the shim, $s under it"
# By default the host functions, which the program never waits for, stay
# inside the steps: a run of ops is graphed as one periodic step, most of
# it replayed, and faster than without the shim.
# Under a sanitizer on a loaded machine a gap of 500 us between two ops
# happens, and the watchdog then learns a host function nobody waits for
# (1605 and 3544 of 8048 ops replayed in two ThreadSanitizer runs on two
# cores): there the watchdog waits longer.
hw=
[ "${GS_SANITIZER_KIND:-none}" = none ] || hw=GRAPHSHIM_HOST_WAIT=5000
run_shim $xla $hw GRAPHSHIM_STATS_FILE="$TMP/st" "$P" xlaop --steps=2000 >"$TMP/shim" 2>"$TMP/shim.err" ||
    fail "xlaop under the shim (host functions held)"
cmp -s "$TMP/plain" "$TMP/shim" || fail "xlaop: result differs under the shim (host functions held)"
ops=$(stats_get "$TMP/st" totals.ops) rep=$(stats_get "$TMP/st" totals.ops_replayed)
[ $((rep * 10)) -ge $((ops * 7)) ] || fail "xlaop, host functions held: $rep of $ops ops replayed"
s=$(rate "$TMP/shim.err")
if ! fast; then
    p=$(best "$p" run_sim $xla "$P" xlaop --steps=2000)
    s=$(best "$s" run_shim $xla $hw "$P" xlaop --steps=2000)
    fast || fail "xlaop steps/s, host functions held (best of four): $p without the shim, $s under it"
fi
pass "XLA-like ops, host functions held: $rep of $ops ops replayed; steps/s $p without the shim, $s under it"
