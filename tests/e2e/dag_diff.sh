#!/bin/sh
# dag_diff.sh: differential tests of steps that are DAGs (issues 8 and 10):
# programmatic dependent launch, launch attributes, per-thread default
# streams meeting the legacy stream, fork/join across streams, event pools,
# streams that never join back, host functions, timing events, waits on
# earlier events. Each scenario of prog_dag runs on the simulated driver,
# whose independent work runs in a seeded random order, under several
# SIMCUDA_SEED values, with and without the shim: the printed results must be
# identical, and the shim's statistics must show the behaviour under test
# (graphs replayed, programmatic edges built). Then, for the scenarios whose
# every edge carries data, each edge the DAG builder adds is left out in turn
# (GRAPHSHIM_TEST_DROP_EDGE): some seed must then give a different result,
# which proves the tests can see a missing dependency.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_dag"
SEEDS=${DAG_SEEDS:-1 2 3 4 5}

# scenario NAME [VAR=value ...]: runs both ways under every seed; the last
# run's stats in $TMP/st.
scenario() {
    name=$1; shift
    for seed in $SEEDS; do
        run_sim SIMCUDA_SEED=$seed "$@" "$P" "$name" >"$TMP/plain" 2>"$TMP/plain.err" ||
            fail "$name, seed $seed, without the shim: $(tail -3 "$TMP/plain.err")"
        run_shim SIMCUDA_SEED=$seed "$@" GRAPHSHIM_STATS_FILE="$TMP/st" "$P" "$name" \
            >"$TMP/shim" 2>"$TMP/err" || fail "$name, seed $seed, under the shim: $(tail -3 "$TMP/err")"
        cmp -s "$TMP/plain" "$TMP/shim" ||
            fail "$name, seed $seed: result differs: $(cat "$TMP/plain") / $(cat "$TMP/shim")"
        [ -n "${first_plain:-}" ] || first_plain=$(cat "$TMP/plain")
        [ "$(cat "$TMP/plain")" = "$first_plain" ] ||
            fail "$name: the program itself gives different results for different seeds (a race in the test)"
    done
    first_plain=
}
st() { stats_get "$TMP/st" "totals.$1"; }
atleast() { [ "$(st "$1")" -ge "$2" ] || fail "$3: $1 = $(st "$1"), expected at least $2"; }

scenario pdl GRAPHSHIM_CHUNK_OPS=0
atleast replays 20 pdl
# Each of the step's 7 PDL launches follows a kernel: 7 programmatic edges
# per graph; the copy and the readback after it, 2 full ones.
expect_eq "pdl: programmatic edges" "$(st edges_programmatic)" "$((7 * $(st graphs_built)))"
expect_eq "pdl: full edges" "$(st edges_full)" "$((2 * $(st graphs_built)))"
pass "PDL chains: $(st replays) replays, $(st edges_programmatic) programmatic and $(st edges_full) full edges built"

scenario pdlmix
atleast replays 20 pdlmix
atleast edges_programmatic 1 pdlmix
pass "PDL mixed with plain launches, copies and memsets: $(st replays) replays, $(st edges_programmatic) programmatic edges"

scenario attrs
atleast replays 5 attrs
pass "launch attributes of every kind: $(st replays) replays, $(st div_barrier) steps cut by a programmatic event"

scenario pt
atleast replays 40 pt
pass "three threads on their per-thread streams: $(st replays) replays"

scenario ptlegacy
atleast replays 10 ptlegacy
pass "a per-thread stream met by the legacy stream of another thread: $(st replays) replays, $(st div_stream) steps settled for it"

for sc in streams fan pool noreturn; do
    scenario $sc
    atleast replays 20 $sc
done
pass "fork/join across 2 and 4 streams, event pools, a stream that never joins back: replayed, identical"

scenario hostfn
atleast replays 20 hostfn
# PyTorch's side stream: steps begun on the legacy stream are joined, and
# destroying the event of each fork and join neither cuts the step nor
# leaves a graph naming a destroyed event (simcuda refuses that, as the
# H200's driver did).
scenario torchlike
atleast replays 30 torchlike
# One step per iteration: the allocator's query of a record the step holds
# is answered "not ready", and of one it issued by the driver, and neither
# ends the step (it ended every layer: 74 replays in 40 steps); most ops
# replayed (a third without the legacy stream's joins).
[ "$(st replays)" -le 40 ] || fail "torchlike: $(st replays) replays in 40 steps: the allocator's queries cut the steps"
[ $(( $(st ops_replayed) * 100 / $(st ops) )) -ge 85 ] ||
    fail "torchlike: only $(st ops_replayed) of $(st ops) ops replayed"
atleast events_deferred 1 torchlike
expect_eq "torchlike: patch failures" "$(st fb_patch)" 0
# A blocking stream forked from the legacy stream stays out of its step:
# the legacy stream's implicit synchronisation is no edge of a graph.
scenario legacyblk
# What a step holds goes out before what must see it: a legacy-stream op
# (implicit synchronisation), a record of the same event on another stream,
# the host synchronising with an event of the step.
for sc in blklegacy rerecord evsync; do
    scenario $sc
done
# An event recorded on two streams of a step, unordered: in a launch where
# both records name it, the earlier one records the shim's own event
# (without that, every seed gives another result: simcuda lets such records
# race), and the legacy stream, which waits on it from outside, finds the
# later one.
scenario xrecord
atleast replays 20 xrecord
atleast replays 10 evsync
# Records of events without timing hang off their streams' chains (a
# stream's next op does not wait for them); the host synchronising with
# each still finds what came before it done.
scenario leafobs
atleast replays 20 leafobs
# Callbacks that nothing in their chunk follows run after its graph, from
# one cuLaunchHostFunc (GRAPHSHIM_HOST_AFTER), each reading what its own op
# copied; with one graph a step all four of a step do. With host nodes,
# callbacks on one stream with only waits between them run from one node
# (GRAPHSHIM_HOST_MERGE); the same with a host node each, with one graph a
# step, and with chunks of 3. (The watchdog could take a loaded machine's
# slow step for a wait on a callback and cut it there; hostobs never waits
# so: a long HOST_WAIT.)
hw=GRAPHSHIM_HOST_WAIT=1000000
scenario hostobs $hw
atleast replays 30 hostobs
atleast hostfns_after 30 hostobs
scenario hostobs $hw GRAPHSHIM_CHUNK_OPS=0
[ "$(st hostfns_after)" -eq $((4 * $(st replays))) ] ||
    fail "hostobs (one graph a step): $(st hostfns_after) host functions after the graph in $(st replays) replays, expected 4 a replay"
scenario hostobs $hw GRAPHSHIM_CHUNK_OPS=3
atleast hostfns_after 30 "hostobs (chunks of 3)"
# The driver refuses the call after the graph: the template retires and
# the callbacks still run, after what they followed.
scenario hostobs $hw GRAPHSHIM_TEST_FAIL=cuLaunchHostFunc@1
atleast fb_launch 1 "hostobs (cuLaunchHostFunc refused)"
grep -q "cuLaunchHostFunc failed" "$TMP/err" || fail "hostobs: the refused cuLaunchHostFunc is not logged"
# The same, and a refused graph launch, when launches are made after the
# engine lock (src/submit.c: the failure is taken up later, under it; a
# refused graph's ops go out from copies of their records, its host runs
# are marked done).
scenario hostobs $hw GRAPHSHIM_UNLOCKED_LAUNCH=on
atleast launches_unlocked 30 "hostobs (after the lock)"
for site in cuLaunchHostFunc cuGraphLaunch; do
    scenario hostobs $hw GRAPHSHIM_UNLOCKED_LAUNCH=on GRAPHSHIM_TEST_FAIL=$site@1
    atleast fb_launch 1 "hostobs ($site refused after the lock)"
    grep -q "$site failed" "$TMP/err" || fail "hostobs: the refused $site (after the lock) is not logged"
done
na=GRAPHSHIM_HOST_AFTER=0
scenario hostobs $hw $na
atleast replays 30 "hostobs (host nodes)"
atleast hostfns_merged 30 "hostobs (host nodes)"
[ "$(st hostfns_after)" -eq 0 ] || fail "hostobs: GRAPHSHIM_HOST_AFTER=0 ran $(st hostfns_after) after the graph"
scenario hostobs $hw $na GRAPHSHIM_CHUNK_OPS=0
[ "$(st hostfns_merged)" -eq $((3 * $(st replays))) ] ||
    fail "hostobs (one graph a step): $(st hostfns_merged) host functions merged in $(st replays) replays, expected 3 a replay"
scenario hostobs $hw $na GRAPHSHIM_CHUNK_OPS=3
scenario hostobs $hw $na GRAPHSHIM_HOST_MERGE=0
[ "$(st hostfns_merged)" -eq 0 ] || fail "hostobs: GRAPHSHIM_HOST_MERGE=0 merged $(st hostfns_merged)"
atleast replays 30 "hostobs (a host node each)"
pass "hostobs: callbacks that read their op's copy, run after the graph or from one host node: identical"
# A joined stream's own work before the step, which its part reads: the
# graph waits for it. A callback that ends a chunk runs after that chunk's
# graph on its own stream; a later chunk with a record on that stream,
# which the host synchronises with, waits for it first.
scenario sidepre
atleast replays 30 sidepre
scenario hostjoin $hw GRAPHSHIM_CHUNK_OPS=3
atleast hostfns_after 30 "hostjoin (chunks of 3)"
scenario hostjoin $hw
scenario hostjoin $hw GRAPHSHIM_CHUNK_OPS=3 GRAPHSHIM_HOST_AFTER=0
pass "sidepre, hostjoin: a joined stream's earlier work and callbacks after the graph on their stream: identical"
# A callback, then a record on its stream that another stream waits for,
# whose callback reads what the first wrote: the first must not merge
# into the next host node of its stream across the record. (Merged so,
# it failed all 6 seeds, both with and without GRAPHSHIM_HOST_AFTER; before
# this scenario only a unit test of dag.c saw it.)
scenario hostrec
atleast replays 30 hostrec
scenario hostrec GRAPHSHIM_HOST_AFTER=0
pass "hostrec: a callback before a record that another stream's callback follows: identical, $(st replays) replays"
# Records of pooled events without timing (a different event each step),
# patched at every launch; the host reads each copy after its event.
scenario poolobs
atleast replays 30 poolobs
atleast nodes_patched 100 poolobs
scenario poolobs GRAPHSHIM_CHUNK_OPS=3
pass "poolobs: pooled events the host synchronises with: identical"
# graphshim_pause from step 10 to 20: what is held goes out, the paused
# steps pass straight through, and the template formed before is replayed
# again after (none formed anew).
scenario hostobs $hw PROG_DAG_PAUSE=10:20
atleast ops_passed 200 "hostobs paused"
atleast replays 20 "hostobs paused"
[ "$(st templates)" -eq 1 ] || fail "hostobs paused: $(st templates) templates formed, expected 1"
pass "graphshim_pause: steps 10 to 20 passed through ($(st ops_passed) ops), then $(st replays) replays of the one template: identical"
# jaxwait never synchronises: the pause comes while its step holds ops.
scenario jaxwait GRAPHSHIM_MAX_OPS=256 PROG_DAG_PAUSE=15:25
atleast ops_passed 100 "jaxwait paused"
pass "graphshim_pause while a step holds ops (jaxwait): identical, $(st ops_passed) ops passed through"
# The host waits for a callback in the middle of the step, with no call the
# shim sees. A held host function would never run: the watchdog issues it
# (once per seed, GRAPHSHIM_HOST_WAIT) and that host function ends the step
# from then on, so it is never held again; with GRAPHSHIM_HOST_WAIT=0 every
# host function ends its step.
scenario hostwait
atleast replays 20 hostwait
grep -q "callbacks_missed=0" "$TMP/shim" || fail "hostwait: callbacks missed: $(cat "$TMP/shim")"
atleast hostfn_waits 1 hostwait
waits=$(st hostfn_waits)
[ "$waits" -le 2 ] || fail "hostwait: the watchdog issued $waits steps: the host function waited for was not learned"
scenario hostwait GRAPHSHIM_HOST_WAIT=0
atleast replays 20 "hostwait (GRAPHSHIM_HOST_WAIT=0)"
grep -q "callbacks_missed=0" "$TMP/shim" || fail "hostwait (GRAPHSHIM_HOST_WAIT=0): callbacks missed: $(cat "$TMP/shim")"
expect_eq "hostwait (GRAPHSHIM_HOST_WAIT=0): watchdog issues" "$(st hostfn_waits)" 0
pass "hostwait: the host function waited for was issued $waits time(s) by the watchdog, then ended its step"
# JAX's eager loop: no barrier at all, on three streams, the host waiting
# for one callback a step. When the run fills a step, a host function of
# its period ends steps from then on; with one graph a step, the callback
# waited for is held, the watchdog issues it once, and it ends steps too.
scenario jaxwait GRAPHSHIM_MAX_OPS=256
atleast replays 15 jaxwait
grep -q "callbacks_missed=0" "$TMP/shim" || fail "jaxwait: callbacks missed: $(cat "$TMP/shim")"
scenario jaxwait GRAPHSHIM_MAX_OPS=256 GRAPHSHIM_CHUNK_OPS=0
atleast replays 15 "jaxwait (one graph a step)"
atleast hostfn_waits 1 "jaxwait (one graph a step)"
grep -q "callbacks_missed=0" "$TMP/shim" || fail "jaxwait (one graph a step): callbacks missed: $(cat "$TMP/shim")"
pass "jaxwait: a run without barriers across streams cut into steps at a host function, $(st replays) replays"
# JAX's scalars, uploaded on a stream whose step has its callback stream:
# the compute and upload streams wait on each other's steps, which ends
# them there; each stream's steps match whole (several replays a step).
scenario jaxupload GRAPHSHIM_MAX_OPS=256
atleast replays 80 jaxupload
grep -q "callbacks_missed=0" "$TMP/shim" || fail "jaxupload: callbacks missed: $(cat "$TMP/shim")"
pass "jaxupload: uploads on a stream of their own, the steps cut where the streams meet, $(st replays) replays"
# The same uploads made by a thread of their own, as XLA's transfer thread
# makes them: the two threads' calls interleave differently from run to run
# (how much is replayed too: 0.1% to 59% of 40 steps, 77% of 400 on
# average), each thread's held steps settled by the other's waits. The
# results must not vary (and under ThreadSanitizer, the engine's locking is
# exercised by two threads through held steps).
for unlocked in on off; do
    scenario xupload GRAPHSHIM_MAX_OPS=256 GRAPHSHIM_UNLOCKED_LAUNCH=$unlocked
    grep -q "host_steps=360 " "$TMP/shim" || fail "xupload: callbacks not all run: $(cat "$TMP/shim")"
    pass "xupload (GRAPHSHIM_UNLOCKED_LAUNCH=$unlocked): uploads from a second thread, identical; $(st replays) replays, $(st launches_unlocked) launched after the engine lock, in the last run"
done
# The same with the order of the two threads' calls decided: in one upload
# every fourth step the upload thread's host function comes after the
# launching thread's wait, not before it (both orders happen in XLA). The
# two ops are on different streams and share no event: the template learnt
# from the usual order matches the other (src/hold.c swaps them), so no
# step is cut as a mismatch, and the results stay the same.
scenario xrace GRAPHSHIM_MAX_OPS=256
grep -q "host_steps=360 " "$TMP/shim" || fail "xrace: callbacks not all run: $(cat "$TMP/shim")"
atleast ops_reordered 2 xrace
expect_eq "xrace: steps cut as mismatches" "$(st div_mismatch)" 0
pass "xrace: two threads' calls either way round, identical; $(st ops_reordered) ops matched swapped, $(st replays) replays, in the last run"
# Two kernels of one stream the other way round, one place apart in the
# template: ops of one stream do not commute, so the step goes out as it
# came (swapping them anyway gives another result: the test sees it).
scenario swapsame
expect_eq "swapsame: ops matched swapped" "$(st ops_reordered)" 0
pass "swapsame: one stream's kernels the other way round go out as they came; $(st div_mismatch) mismatches, $(st replays) replays"
# Launches made after the engine lock (GRAPHSHIM_UNLOCKED_LAUNCH, src/submit.c):
# a second thread, told after a record the shim held, synchronises with
# the event while the graph that records it may still be on its way to the
# driver (the simulated driver spends 2 ms of each graph launch outside its
# lock). Every call waits for a launch in flight: identical. Without that
# wait (GRAPHSHIM_TEST_UNORDERED) the synchronisation overtakes the launch
# and the thread reads the counter a step behind: the test must see it.
XO="SIMCUDA_GRAPH_LAUNCH_NS=2000000"
scenario xorder $XO
atleast launches_unlocked 20 xorder
pass "xorder: a host synchronisation from another thread follows a launch made after the engine lock, $(st launches_unlocked) of them"
caught=0
for seed in $SEEDS; do
    run_sim SIMCUDA_SEED=$seed $XO "$P" xorder >"$TMP/plain" 2>"$TMP/plain.err" || fail "xorder without the shim"
    run_shim SIMCUDA_SEED=$seed $XO GRAPHSHIM_TEST_UNORDERED=1 "$P" xorder >"$TMP/shim" 2>"$TMP/err" ||
        fail "xorder with GRAPHSHIM_TEST_UNORDERED=1: $(tail -2 "$TMP/err")"
    cmp -s "$TMP/plain" "$TMP/shim" || caught=$((caught + 1))
done
[ "$caught" -gt 0 ] || fail "xorder: calls that overtake a launch in flight went unseen (GRAPHSHIM_TEST_UNORDERED=1)"
pass "xorder: with calls not waiting for launches in flight, $caught of $(echo $SEEDS | wc -w) seeds read the counter a step behind"
# A stream that joined the step waits on a record of a stream whose step is
# its own: the wait ends the step (two graphs a step), and the kernel after
# it must still read the upload. (As a wait node inside the step, one graph
# a step, a missing wait failed every seed; on the H200 that made JAX's
# steps vary from run to run, and it was not kept.)
# The host spins on a query of a record the step holds: "not ready" a few
# times, then the step goes out and the host reads what the step copied
# (answered "ready" while held, 3 steps of 40 read the right value).
scenario spinquery
atleast replays 20 spinquery
grep -q "spins_ok=40" "$TMP/shim" || fail "spinquery: $(cat "$TMP/shim")"
atleast queries_held 1 spinquery
pass "spinquery: a host spinning on a held record's query gets its answer, $(st replays) replays, $(st queries_held) queries answered not ready"
scenario slotwait
atleast replays 40 slotwait
pass "slotwait: a joined stream's wait on another step's record, $(st replays) replays"
scenario timing
atleast replays 20 timing
grep -q "elapsed_ok=$(grep -o 'steps=[0-9]*' "$TMP/shim" | cut -d= -f2)" "$TMP/shim" ||
    fail "timing: cuEventElapsedTime did not succeed every step under the shim"
scenario extwait
atleast replays 20 extwait
# Found by the fuzzer (seed 1658, in a batch): a step of [record on A, wait
# on B] replays as a graph when the program then launches its own graph on
# B; that launch must still follow the shim's graph (B's pending wait is
# applied after the settle, before the barrier goes out).
scenario capfork
atleast replays 20 capfork
pass "host functions (one a host waits for), PyTorch's side stream, timing events and waits on earlier events inside steps: replayed, identical"

# Found on the H200 (JAX segfaulted under the shim): a stream wait whose
# event was recorded in the step, when making room for the wait closes the
# full step, must no longer name the record (it went out with the step). At
# GRAPHSHIM_MAX_OPS=25 the wait is the 26th op of every step of jaxlike.
for m in 24 25 26; do
    scenario jaxlike GRAPHSHIM_MAX_OPS=$m
    expect_eq "jaxlike, GRAPHSHIM_MAX_OPS=$m: internal errors" "$(grep -c 'internal:' "$TMP/err")" 0
    atleast replays 20 "jaxlike, GRAPHSHIM_MAX_OPS=$m"
done
pass "a wait that finds its step full: identical, no internal error"

# A join that closes the joining stream's own step, with room for one graph:
# the template it forms evicts another (never one a step is matching; the
# fuzzer found that use after free under AddressSanitizer, batch 7501 with
# SIMCUDA_SEED=104, which the sanitizer run of fuzz.sh repeats).
for m in 1 2; do
    scenario evict GRAPHSHIM_MAX_GRAPHS=$m
    atleast replays 20 "evict, GRAPHSHIM_MAX_GRAPHS=$m"
done
pass "a join's own step evicting a template: identical"

# The current context, asked where a step begins and where a stream joins
# one, failing once at each place: same results, logged once.
for nth in 2 3; do
    scenario streams GRAPHSHIM_TEST_FAIL=cuCtxGetCurrent@$nth
    expect_eq "cuCtxGetCurrent failing (call $nth): logged" \
        "$(grep -c 'cuCtxGetCurrent failed (CUresult' "$TMP/err")" 1
done
pass "the current context unknown at a step's start or a join: identical, logged once"

# Chunks of 3 ops cut every DAG across chunks.
for sc in pdl pdlmix streams fan; do
    scenario $sc GRAPHSHIM_CHUNK_OPS=3
done
pass "the same with chunks of 3 ops"

# Every edge matters: leaving out any one of them is caught. (Not streams:
# its first layer's records are superseded by the second's, so the edge
# into each is one nothing can see; leafobs has a fork and a join whose
# records the host synchronises with; hostobs four callbacks, each reading
# a copy, run after the graph, or, with GRAPHSHIM_HOST_AFTER=0, from a host
# node; poolobs records of pooled events the host synchronises with.)
for spec in pdl leafobs hostobs hostobs:GRAPHSHIM_HOST_AFTER=0 poolobs; do
    sc=${spec%%:*}
    ha=GRAPHSHIM_HOST_AFTER=1
    [ "$sc" = "$spec" ] || ha=${spec#*:}
    scenario $sc $ha GRAPHSHIM_CHUNK_OPS=0
    edges=$(( $(st edges_full) + $(st edges_programmatic) ))
    graphs=$(st graphs_built)
    [ "$graphs" -ge 1 ] || fail "$sc: no graph built"
    per=$((edges / graphs))
    k=1
    while [ "$k" -le "$per" ]; do
        caught=0
        for seed in $SEEDS 6 7 8 9 10 11 12; do
            run_sim SIMCUDA_SEED=$seed "$P" $sc >"$TMP/plain" 2>/dev/null
            run_shim SIMCUDA_SEED=$seed $ha GRAPHSHIM_CHUNK_OPS=0 GRAPHSHIM_TEST_DROP_EDGE=$k \
                "$P" $sc >"$TMP/shim" 2>/dev/null
            if ! cmp -s "$TMP/plain" "$TMP/shim"; then caught=1; break; fi
        done
        [ "$caught" = 1 ] || fail "$spec: without edge $k of $per the results are still identical"
        k=$((k + 1))
    done
    pass "$spec: each of its $per edges, left out, changes the result"
done
