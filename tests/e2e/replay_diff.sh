#!/bin/sh
# replay_diff.sh: the engine's differential tests (DESIGN.md section 4). Each
# scenario of prog_scenarios runs on the simulated driver without the shim
# and under it; the printed result (a hash of all device memory and of every
# token read back) and the driver's execution trace (every kernel, copy and
# memset executed, with its grid, block and argument bytes) must be
# identical stream by stream, and the shim's statistics must show that the
# behaviour under test happened (graphs replayed, divergences counted,
# captures left alone). The simulated driver runs each side under another
# scheduling seed (SIMCUDA_SEED), so work ordered only by accident differs.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_scenarios"
STEPS=
SEED=0

# scenario NAME [VAR=value ...]: runs both ways, compares; stats in $TMP/st
# GRAPHSHIM_CHUNK_OPS may be set by the caller to test other chunkings.
scenario() {
    name=$1; shift
    SEED=$((SEED + 1))
    rm -f "$TMP/t.shim" "$TMP/t.plain"
    run_sim SIMCUDA_SEED=$SEED "$@" SIMCUDA_TRACE="$TMP/t.plain" "$P" "$name" $STEPS >"$TMP/plain" 2>"$TMP/plain.err" ||
        fail "$name without the shim: $(cat "$TMP/plain.err")"
    run_shim SIMCUDA_SEED=$((SEED + 1000)) ${GRAPHSHIM_CHUNK_OPS:+GRAPHSHIM_CHUNK_OPS=$GRAPHSHIM_CHUNK_OPS} "$@" GRAPHSHIM_LOG=info SIMCUDA_TRACE="$TMP/t.shim" GRAPHSHIM_STATS_FILE="$TMP/st" \
        "$P" "$name" $STEPS >"$TMP/shim" 2>"$TMP/err" || fail "$name under the shim (SIMCUDA_SEED=$((SEED + 1000))): $(tail -3 "$TMP/err")"
    cmp -s "$TMP/plain" "$TMP/shim" || fail "$name: result differs (SIMCUDA_SEED=$SEED / $((SEED + 1000))): $(cat "$TMP/plain") / $(cat "$TMP/shim")"
    # The shim records events of its own after replays that read staging
    # (to know when it is free again); they are not the program's work.
    grep -v '^-*[0-9]* event record' "$TMP/t.shim" >"$TMP/t.shim.work"
    grep -v '^-*[0-9]* event record' "$TMP/t.plain" >"$TMP/t.plain.work"
    trace_same "$TMP/t.plain.work" "$TMP/t.shim.work" || {
        trace_diff
        fail "$name: execution trace differs"
    }
}
st() { stats_get "$TMP/st" "totals.$1"; }
atleast() { [ "$(st "$1")" -ge "$2" ] || fail "$3: $1 = $(st "$1"), expected at least $2"; }

scenario stable
atleast replays 20 stable
atleast ops_replayed $(( $(st ops) / 2 )) stable
pass "stable loop: $(st replays) replays, $(st ops_replayed)/$(st ops) ops through graphs"

# Observe mode learns and says what it would graph, but never holds an op.
scenario stable GRAPHSHIM_MODE=observe
expect_eq "observe: replays" "$(st replays)" 0
atleast templates 1 observe
grep -q "observe: a step of [0-9]* ops on stream .* recurs" "$TMP/err" || fail "observe: nothing logged"
pass "observe mode: $(st templates) template(s) logged, nothing replayed"

scenario scalar
atleast replays 20 scalar
atleast nodes_patched 40 scalar
pass "scalar arguments changing every step: $(st nodes_patched) nodes patched in $(st replays) replays"

scenario grid
atleast replays 20 grid
atleast nodes_patched 40 grid
pass "grid growing with position: $(st replays) replays"

scenario diverge
atleast div_mismatch 3 diverge
atleast replays 10 diverge
pass "divergence in the middle of a step: $(st div_mismatch) divergences, $(st replays) replays"

scenario barrier
atleast div_barrier 3 barrier
atleast replays 10 barrier
pass "barrier in the middle of a step: $(st div_barrier) issued eagerly, $(st replays) replays"

scenario variants
atleast templates 2 variants
atleast replays 20 variants
pass "two alternating variants: $(st templates) templates, $(st replays) replays"

STEPS=--steps=60 scenario prefix
atleast templates 3 prefix
atleast replays 30 prefix
pass "a whole template that is the prefix of longer ones: $(st templates) templates, $(st replays) replays"
STEPS=

scenario nosync GRAPHSHIM_MAX_OPS=64
atleast replays 100 nosync
pass "a loop that never syncs: $(st replays) replays of its period"

scenario overwrite
atleast replays 20 overwrite
pass "host-to-device sources overwritten after the call: $(st replays) replays, same data"

scenario capture
atleast ops_passed 4 capture
pass "the program's own capture passed through ($(st ops_passed) ops), $(st replays) replays around it"

scenario allops
atleast replays 20 allops
pass "every kind of op: $(st replays) replays, $(st nodes_patched) nodes patched"

# Failure injected at every call the shim makes: the program's results and
# the executed work stay the same, and the cause is logged once.
for site in cuFuncGetParamInfo cuFuncGetName cuPointerGetAttribute cuCtxGetCurrent \
        cuMemHostAlloc cuGraphCreate cuGraphAddKernelNode_v2 cuGraphKernelNodeSetAttribute \
        cuGraphAddMemcpyNode cuGraphAddMemsetNode cuGraphInstantiateWithFlags cuGraphUpload \
        cuEventCreate cuGraphExecKernelNodeSetParams_v2 cuGraphExecMemcpyNodeSetParams \
        cuGraphExecMemsetNodeSetParams cuGraphLaunch cuEventRecord cuEventQuery; do
    scenario allops SIMCUDA_FAIL="$site@1"
    base=${site%_v2}
    [ "$(grep -c "$base failed" "$TMP/err")" = 1 ] || fail "$site: failure not logged once"
done
pass "a failure at each of the shim's driver calls: same results and trace, cause logged once"

# The same through the shim's own test switch (what the GPU test uses, where
# the driver cannot be told to fail).
for site in cuGraphInstantiateWithFlags cuGraphLaunch cuGraphExecKernelNodeSetParams_v2 \
        cuMemHostAlloc cuEventQuery; do
    scenario allops GRAPHSHIM_TEST_FAIL="$site@1"
    [ "$(grep -c "${site%_v2} failed" "$TMP/err")" = 1 ] || fail "$site: failure not logged once"
done
pass "GRAPHSHIM_TEST_FAIL at five call sites: same results and trace"

# The same with graph launches made after the engine lock (src/submit.c):
# a refused launch has its ops issued from the copies of its records, in
# its place; a refused staging event retires the template as before
# (host functions after the graph: dag_diff.sh's hostobs).
for site in cuGraphLaunch cuEventRecord; do
    scenario allops GRAPHSHIM_UNLOCKED_LAUNCH=on SIMCUDA_FAIL="$site@1"
    [ "$(grep -c "$site failed" "$TMP/err")" = 1 ] || fail "$site (unlocked): failure not logged once"
done
scenario allops GRAPHSHIM_UNLOCKED_LAUNCH=on
atleast launches_unlocked 20 allops
pass "graph launches after the engine lock ($(st launches_unlocked)): a failure at each of their calls, same results and trace"

# Every graph launch fails, and the step keeps changing shape, so new
# templates keep failing until the shim gives up on graphs.
STEPS=--steps=60 scenario phases SIMCUDA_FAIL="cuGraphLaunch@1x0"
grep -q "turns itself into a pass-through" "$TMP/err" || fail "repeated failures did not disable replay"
expect_eq "launch failures before giving up" "$(st fb_launch)" 8
pass "repeated graph failures: the shim says it turned itself into a pass-through"

# Chunked templates (a chunk goes out as soon as its ops matched): the same
# guarantees with chunks of 3 ops, which cut every scenario mid-step.
for sc in stable grid diverge barrier variants prefix allops; do
    STEPS=--steps=40 GRAPHSHIM_CHUNK_OPS=3 scenario $sc
done
STEPS=
pass "chunks of 3 ops: every scenario identical"

# Growing chunks: 1 node, then 2, then 4 (the first chunk goes out as soon
# as the step's first op matched).
scenario allops GRAPHSHIM_CHUNK_FIRST=1 GRAPHSHIM_CHUNK_OPS=4
# 14 nodes in chunks of 1, 2, 4, 4, 3: five launches a replay.
expect_eq "growing chunks: launches per replay" "$(( $(st graph_launches) / $(st replays) ))" 5
pass "growing chunks (1, 2, 4, 4, 3 nodes): identical, $(st graph_launches) launches for $(st replays) replays"
