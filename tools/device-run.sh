#!/bin/bash
# device-run.sh: everything one GPU session measures, in one command, on a
# machine without libtool or cmocka: builds from the dist tarball with
# carried dependencies, runs `make check` (the GPU tests included), then the
# decode benchmark and the PyTorch workload with and without the shim, the
# shim's per-call cost, and the PyTorch profiler's kernel count. Logs go to
# $OUT; a short table is printed last.
#   tools/device-run.sh CARRY_DIR [PART...]
#   PART: check bench variants torch compile count cost diag gpu tiny sweep jax jaxab jaxprof streams
#   (default: all but compile, diag, gpu, tiny and sweep; variants: option
#   sets in VARIANT_SETS, modes in VARIANT_MODES, VARIANT_PDL= skips the
#   PDL row). tiny: the
#   never-slower run (tools/tiny-bench.sh); sweep: tools/chunk-sweep.sh at
#   --hidden=256 (chunk sets in SWEEP_SETS). diag: the launcher's default
#   summary of decode-bench, decode-bench --pdl, torch_decode and a JAX
#   eager loop, with `graphshim report`; gpu: only the GPU tests of make
#   check (GPU_TESTS, quicker than all of check); jax: tools/jax-eager.py
#   (JAXARGS, or several sets in JAX_SETS separated by ";"; modes in
#   JAX_MODES: pass observe replay, spin (passthrough, every launch JAX_SPIN
#   ns dearer: how much of a step the launches decide), replay1 with one graph a step, replayb
#   with the build in CARRY/b, replayx with the variables in JAX_XENV;
#   the trace run's JAX_TRACE_MODE and
#   JAX_TRACE_ARGS) and streams: tools/torch-streams.py (STARGS; modes in
#   STREAMS_MODES: replay graph replayb; STREAMS_TRACE= skips the trace), with
#   and without the shim, each with a GRAPHSHIM_LOG=trace log of its first
#   steps. Ratios are printed as the ratio of the medians and as the median
#   of each round's own ratio (paired).
# jaxprof: jax-eager.py --ab with tools/libwallprof.so preloaded, its main
# thread's samples split by block with tools/wallprof.py (JAXPROF_ENVS).
set -u
CARRY=$(cd "$1" && pwd); shift
PARTS=${*:-check bench variants torch count cost}
OUT=${OUT:-/tmp/gs-out}; mkdir -p "$OUT"
DEPS=$CARRY/deps/usr
B=/tmp/gs-build
export CPPFLAGS="-I$DEPS/include" CMOCKA_CFLAGS="-I$DEPS/include"
export CMOCKA_LIBS="-L$DEPS/lib/x86_64-linux-gnu -lcmocka -Wl,-rpath,$DEPS/lib/x86_64-linux-gnu"
# build TARBALL_DIR BUILD_DIR LOG_SUFFIX: unpacks and builds the dist
# tarball in TARBALL_DIR under BUILD_DIR, logs in $OUT/{configure,make}LOG_SUFFIX.log.
build() {
    rm -rf "$2" && mkdir -p "$2" && tar -C "$2" -xzf "$1"/graphshim-*.tar.gz && cd "$2"/graphshim-* || return 1
    ./configure >"$OUT/configure$3.log" 2>&1 || { tail -30 "$OUT/configure$3.log"; return 1; }
    make -j16 >"$OUT/make$3.log" 2>&1 || { grep -E "error|Error" "$OUT/make$3.log" | head -30; return 1; }
}
# A second build to compare against (CARRY/b/graphshim-*.tar.gz, e.g. the
# commit before a change): its library is $SHIMB, run as mode replayb.
SHIMB=
if ls "$CARRY"/b/graphshim-*.tar.gz >/dev/null 2>&1; then
    build "$CARRY/b" "$B-b" -b && SHIMB=$PWD/src/.libs/libgraphshim.so
fi
build "$CARRY" "$B" "" || exit 1
SHIM=$PWD/src/.libs/libgraphshim.so
TD=$CARRY/workloads/torch_decode.py
summary=$OUT/summary.txt; : >"$summary"
note() { echo "$*" | tee -a "$summary"; }
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
jget() { grep -o "\"$2\":[0-9]*" "$1" 2>/dev/null | head -1 | cut -d: -f2; }

note "device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
if [[ " $PARTS " == *" check "* ]]; then
    # A hang must not eat the whole device call: the logs still come back.
    timeout "${CHECK_TIMEOUT:-480}" make -j8 check >"$OUT/check.log" 2>&1; rc=$?
    cp test-suite.log "$OUT/" 2>/dev/null
    note "make check: rc=$rc $(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$OUT/check.log" | tr -s ' ' | tr '\n' ' ')"
    grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$OUT/check.log" | sort | uniq -c | awk '{print "  " $0}' >>"$summary"
    for t in tests/gpu/*.log; do note "  $t: $(tail -3 "$t" | tr '\n' ';' | cut -c1-400)"; done
    for t in tests/gpu/*.log; do cp "$t" "$OUT/gpu.$(basename "$t")"; done
fi
# rounds TAG MODES...: runs every mode once per round, ROUNDS rounds,
# interleaved (so drift hits all modes alike); prints per mode the median
# tokens/s, its ratio to the first mode's median, checksum and state/kv.
ROUNDS=${ROUNDS:-3}
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rounds() {
    local tag=$1; shift
    local modes=("$@") r m
    for r in $(seq "$ROUNDS"); do
        for m in "${modes[@]}"; do
            run_mode "$tag" "$m" >"$OUT/$tag.$m.$r.out" 2>"$OUT/$tag.$m.$r.err"
        done
    done
    local base=""
    for m in "${modes[@]}"; do
        local t; t=$(for r in $(seq "$ROUNDS"); do field "$(tail -1 "$OUT/$tag.$m.$r.out")" tokens/s; done | med)
        [ -z "$base" ] && base=$t
        local l; l=$(tail -1 "$OUT/$tag.$m.1.out")
        local all; all=$(for r in $(seq "$ROUNDS"); do field "$(tail -1 "$OUT/$tag.$m.$r.out")" tokens/s; done | tr '\n' ' ')
        note "  $(printf '%-18s %9s %6s %9s %-18s [%s]' "$m" "$t" "$(awk -v a="$t" -v b="$base" 'BEGIN{printf "%.3f", a/b}')" "$(field "$l" checksum)" "$(field "$l" state)$(field "$l" kv)" "$all")"
    done
}
if [[ " $PARTS " == *" bench "* ]]; then
    run_mode() {
        local DB=./tools/decode-bench
        case $2 in
        eager) $DB --mode=eager $DBARGS ;;
        pass) GRAPHSHIM_MODE=passthrough LD_PRELOAD=$SHIM $DB --mode=eager $DBARGS ;;
        replay) GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM $DB --mode=eager $DBARGS ;;
        graph) $DB --mode=graph $DBARGS ;;
        esac
    }
    DBARGS=""
    note "decode-bench defaults: mode, median tokens/s, ratio to eager, checksum, state [all rounds]"
    rounds db eager pass replay graph
    note "  replay: ops $(jget "$OUT/db.json" ops) replayed $(jget "$OUT/db.json" ops_replayed) replays $(jget "$OUT/db.json" replays) graph launches $(jget "$OUT/db.json" graph_launches) patched $(jget "$OUT/db.json" nodes_patched) fb $(jget "$OUT/db.json" fb_build)/$(jget "$OUT/db.json" fb_patch)/$(jget "$OUT/db.json" fb_launch) launches $(jget "$OUT/db.json" launches) vs program $(field "$(tail -1 "$OUT/db.eager.1.out")" launches_total)"
    DBARGS="--irregular=4"
    note "decode-bench --irregular=4"
    rounds dbi eager replay
    note "  replay: ops $(jget "$OUT/dbi.json" ops) replayed $(jget "$OUT/dbi.json" ops_replayed) templates $(jget "$OUT/dbi.json" templates) div_mismatch $(jget "$OUT/dbi.json" div_mismatch)"
    DBARGS="--hidden=256"
    note "decode-bench --hidden=256"
    rounds dbh eager replay graph
fi
# summarize LABEL TAG KEY REF MODES...: the rounds of each mode in one line:
# the first mode's median KEY (tokens/s or steps/s) and [min-max], every
# other mode's median as a ratio to it and its [min-max], the shim's share
# of ops replayed (when a mode wrote $OUT/TAG.json), and whether every run
# of every mode printed the checksum and state REF (empty: the first run's).
summarize() {
    local label=$1 tag=$2 key=$3 ref=$4; shift 4
    local m r line="" base="" bm="" ok=1
    last() { grep checksum= "$1" | tail -1; }
    for m in "$@"; do
        local vals t lo hi l c st
        vals=$(for r in $(seq "$ROUNDS"); do field "$(last "$OUT/$tag.$m.$r.out")" "$key"; done)
        t=$(echo "$vals" | med); lo=$(echo "$vals" | sort -g | head -1); hi=$(echo "$vals" | sort -g | tail -1)
        for r in $(seq "$ROUNDS"); do
            l=$(last "$OUT/$tag.$m.$r.out")
            c=$(field "$l" checksum); st=$(field "$l" state); c="$c${st:+ $st}"
            [ -z "$ref" ] && ref=$c
            [ -n "$(field "$l" checksum)" ] && [ "$c" = "$ref" ] || ok=0
        done
        # Besides the ratio of the medians, the median of each round's own
        # ratio to the first mode's run of that round: the machine's speed
        # drifts within a call, and a pair run side by side shares it.
        if [ -z "$base" ]; then base=$t; bm=$m; line="$m $t [$lo-$hi]"
        else line="$line  $m $(awk -v a="$t" -v b="$base" 'BEGIN{ if (b > 0) printf "%.3fx", a/b; else print "-" }') [$lo-$hi] paired $(
            for r in $(seq "$ROUNDS"); do
                awk -v a="$(field "$(last "$OUT/$tag.$m.$r.out")" "$key")" -v b="$(field "$(last "$OUT/$tag.$bm.$r.out")" "$key")" \
                    'BEGIN{ if (a > 0 && b > 0) printf "%.3f\n", a/b }'
            done | med)x"; fi
    done
    if [ -f "$OUT/$tag.json" ]; then
        line="$line  replayed $(awk -v a="$(jget "$OUT/$tag.json" ops_replayed)" -v b="$(jget "$OUT/$tag.json" ops)" 'BEGIN{ if (b > 0) printf "%.1f%%", 100*a/b; else print "-" }')"
    fi
    note "  $(printf '%-13s' "$label") $line  sums $([ $ok = 1 ] && echo "ok ($ref)" || echo "DIFFER ($tag.*.out)")"
}
# vrounds LABEL TAG MODES...: interleaved rounds as rounds does (ROUNDS of
# every mode, run_mode), summed up by summarize against the default's
# checksum and state ($VREF).
vrounds() {
    local label=$1 tag=$2 r m; shift 2
    for r in $(seq "$ROUNDS"); do
        for m in "$@"; do
            run_mode "$tag" "$m" >"$OUT/$tag.$m.$r.out" 2>"$OUT/$tag.$m.$r.err"
        done
    done
    summarize "$label" "$tag" tokens/s "$VREF" "$@"
}
if [[ " $PARTS " == *" variants "* ]]; then
    # decode-bench's option sets (issues 8 and 10): each must print the
    # default's checksum and state in every mode; eager against eager --pdl
    # (and graph against graph --pdl) says whether PDL changes speed here.
    run_mode() {
        local DB=./tools/decode-bench
        case $2 in
        eager) $DB --mode=eager $DBARGS ;;
        replay) GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM $DB --mode=eager $DBARGS ;;
        replayb) LD_PRELOAD=$SHIMB $DB --mode=eager $DBARGS ;;
        graph) $DB --mode=graph $DBARGS ;;
        eager-pdl) $DB --mode=eager --pdl $DBARGS ;;
        graph-pdl) $DB --mode=graph --pdl $DBARGS ;;
        esac
    }
    l=$(./tools/decode-bench --mode=eager 2>"$OUT/vref.err" | tail -1); echo "$l" >"$OUT/vref.out"
    VREF="$(field "$l" checksum) $(field "$l" state)"
    note "decode-bench variants, $ROUNDS rounds: median tokens/s [min-max], ratios to the first; default sums $VREF"
    DBARGS=""
    [ -n "${VARIANT_PDL-1}" ] && vrounds "PDL or not" vpdl eager eager-pdl graph graph-pdl
    # VARIANT_MODES: eager replay graph, and replayb (the build in CARRY/b).
    for v in ${VARIANT_SETS:---pdl --per-thread --streams=2 --host-func "--pdl --streams=2 --host-func"}; do
        DBARGS=$v
        # shellcheck disable=SC2086
        vrounds "${v// --/+}" "v$(echo "$v" | tr -cd 'a-z0-9')" ${VARIANT_MODES:-eager replay graph}
    done
    # What stream capture makes of these launches (the shim's graph should
    # match it): nodes and edges by type, programmatic edges counted.
    for v in "" --pdl "--pdl --streams=2 --host-func"; do
        c=cap$(echo "$v" | tr -cd 'a-z0-9')
        ./tools/decode-bench --mode=graph --verbose --tokens=4 --warmup=0 --reps=1 $v >"$OUT/$c.out" 2>"$OUT/$c.err"
        note "  capture ${v:-(default)}: $(sed -n 's/^decode-bench: captured graph: //p' "$OUT/$c.err" | head -1) $(tail -1 "$OUT/$c.err" | grep -v 'captured graph' | cut -c1-160)"
    done
fi
if [[ " $PARTS " == *" gpu "* ]]; then
    timeout "${CHECK_TIMEOUT:-480}" make -j8 check TESTS="${GPU_TESTS:-tests/gpu/gpu-graph.sh tests/gpu/gpu-dag.sh tests/gpu/gpu-variants.sh tests/gpu/gpu-fuzz.sh tests/gpu/gpu-drvapi.sh tests/gpu/gpu-rtapi.sh}" >"$OUT/gpucheck.log" 2>&1; rc=$?
    note "gpu tests: rc=$rc $(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$OUT/gpucheck.log" | tr -s ' ' | tr '\n' ' ')"
    for t in tests/gpu/*.log; do [ -f "$t" ] && { note "  $t: $(tail -3 "$t" | tr '\n' ';' | cut -c1-300)"; cp "$t" "$OUT/gpu.$(basename "$t")"; }; done
fi
if [[ " $PARTS " == *" diag "* ]]; then
    # Issue 9: what a user sees, through the launcher, with the default
    # summary (--stats) and a stats file each, then the report of them all.
    GS=./tools/graphshim
    d() { local tag=$1; shift; "$GS" --stats="$OUT/diag-$tag.json" -- "$@" >"$OUT/diag-$tag.out" 2>"$OUT/diag-$tag.err"; echo "rc=$?" >>"$OUT/diag-$tag.out"; }
    d db ./tools/decode-bench --mode=eager --reps=3
    d dbpdl ./tools/decode-bench --mode=eager --pdl --reps=3
    MODE=eager NEW=64 d torch python3 "$TD"
    d jax python3 tools/jax-eager.py --steps=100
    python3 tools/jax-eager.py --steps=100 >"$OUT/diag-jax-plain.out" 2>&1
    "$GS" report --svg "$OUT/diag-steps.svg" "$OUT"/diag-db.json "$OUT"/diag-dbpdl.json "$OUT"/diag-torch.json "$OUT"/diag-jax.json >"$OUT/diag-report.txt" 2>&1
    for tag in db dbpdl torch jax; do
        note "diag $tag: $(grep -E 'checksum=' "$OUT/diag-$tag.out" | tail -1 | cut -c1-200)"
        grep -v '^$' "$OUT/diag-$tag.err" | grep -A40 'summary:' | head -30 | sed 's/^/    /' >>"$summary"
    done
    note "diag jax without the shim: $(tail -1 "$OUT/diag-jax-plain.out" | cut -c1-200)"
fi
# srounds LABEL TAG MODES...: interleaved rounds of a program that prints
# steps/s and checksum= (run_mode), each run under a time limit (a hang
# shows as a missing line, not a lost device call), summed up by summarize:
# every checksum must be the first run's.
srounds() {
    local label=$1 tag=$2 r m; shift 2
    for r in $(seq "$ROUNDS"); do
        for m in "$@"; do
            timeout "${RUN_TIMEOUT:-240}" bash -c "$(declare -f run_mode); run_mode $tag $m" \
                >"$OUT/$tag.$m.$r.out" 2>"$OUT/$tag.$m.$r.err"
            echo "rc=$?" >>"$OUT/$tag.$m.$r.err"
        done
    done
    summarize "$label" "$tag" steps/s "" "$@"
}
if [[ " $PARTS " == *" jax "* ]]; then
    # Issue 10: a JAX eager loop (XLA dispatching op by op, with events,
    # stream waits and host functions around every op), with and without
    # the shim, and a trace of its first steps (GRAPHSHIM_LOG=trace).
    JAXARGS=${JAXARGS:---steps=300}
    # The trace's run: JAX_TRACE_MODE (observe) and JAX_TRACE_ARGS.
    GRAPHSHIM_MODE=${JAX_TRACE_MODE:-observe} GRAPHSHIM_LOG=trace GRAPHSHIM_LOG_LIMIT=400000 \
        GRAPHSHIM_LOG_FILE=$OUT/jax-trace.log GRAPHSHIM_STATS=verbose LD_PRELOAD=$SHIM timeout 120 \
        python3 tools/jax-eager.py ${JAX_TRACE_ARGS:---steps=20 --layers=2} >"$OUT/jax-trace.out" 2>&1
    run_mode() {
        case $2 in
        plain) python3 tools/jax-eager.py $JAXARGS ;;
        pass) GRAPHSHIM_MODE=passthrough LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        spin) GRAPHSHIM_MODE=passthrough GRAPHSHIM_TEST_SPIN=${JAX_SPIN:-10000} LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        observe) GRAPHSHIM_MODE=observe LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        replay) GRAPHSHIM_STATS=1 GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        replayb) GRAPHSHIM_STATS=1 LD_PRELOAD=$SHIMB python3 tools/jax-eager.py $JAXARGS ;;
        replay1) GRAPHSHIM_STATS=1 GRAPHSHIM_CHUNK_OPS=0 LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        replayx) env GRAPHSHIM_STATS=1 $JAX_XENV LD_PRELOAD=$SHIM python3 tools/jax-eager.py $JAXARGS ;;
        esac
    }
    export SHIM SHIMB OUT JAX_XENV="${JAX_XENV:-}" JAX_SPIN="${JAX_SPIN:-10000}"
    # JAX_SETS: more than one set of arguments, each its own rounds (";"
    # between sets), e.g. "--steps=300;--steps=1000 --fast=1".
    IFS=';' read -ra jsets <<<"${JAX_SETS:-$JAXARGS}"
    for JAXARGS in "${jsets[@]}"; do
        export JAXARGS
        jt=jax$(echo "$JAXARGS" | tr -cd 'a-z0-9')
        note "jax-eager $JAXARGS, $ROUNDS rounds: median steps/s [min-max], ratio to plain"
        srounds "jax eager" "$jt" plain ${JAX_MODES:-pass observe replay}
        grep -A12 'summary:' "$OUT/$jt.replay.1.err" | head -14 | sed 's/^/    /' >>"$summary"
    done
fi
if [[ " $PARTS " == *" jaxab "* ]]; then
    # tools/jax-eager.py --ab: the shim against itself paused, block by
    # block in one process (separate runs on a lent host differ by a third).
    # JAXAB_SETS: argument sets (";" between); JAXAB_ENVS: variable sets
    # for the shim (";" between; "-" for none); ROUNDS runs of each.
    IFS=';' read -ra absets <<<"${JAXAB_SETS:---steps=800 --fast=1 --ab=20}"
    IFS=';' read -ra abenvs <<<"${JAXAB_ENVS:--}"
    for r in $(seq 1 "$ROUNDS"); do
        for a in "${absets[@]}"; do
            for e in "${abenvs[@]}"; do
                [ "$e" = - ] && e=
                tag=jaxab$(echo "$a $e" | tr -cd 'a-zA-Z0-9').$r
                # shellcheck disable=SC2086
                env GRAPHSHIM_STATS=1 $e LD_PRELOAD=$SHIM python3 tools/jax-eager.py $a \
                    >"$OUT/$tag.out" 2>"$OUT/$tag.err"
                echo "$a|$e|$(grep -o 'ratio=[0-9.]* \[[0-9.-]*\]' "$OUT/$tag.out")|$(grep -o 'checksum=[^ ]*' "$OUT/$tag.out")|$(grep -o 'shim=[0-9.]* paused=[0-9.]*' "$OUT/$tag.out")" >>"$OUT/jaxab.rows"
            done
        done
    done
    for a in "${absets[@]}"; do
        # shellcheck disable=SC2086
        python3 tools/jax-eager.py ${a//--ab=/--noab=} >"$OUT/jaxab-plain.out" 2>&1
        note "jax-eager ${a//--ab=/--noab=} without the shim: $(grep -o 'steps/s=[^ ]* checksum=[^ ]*' "$OUT/jaxab-plain.out")"
    done
    note "jax-eager --ab, $ROUNDS runs each: the shim over itself paused (median of block pairs [quartiles])"
    sort -t'|' -k1,2 -s "$OUT/jaxab.rows" | awk -F'|' '
        { k = $1 " " $2; if (k != last) { if (last != "") print line; line = "  " k ":"; last = k }
          line = line " " $3 " (" $5 ", " $4 ")" }
        END { if (last != "") print line }' | tee -a "$summary"
fi
if [[ " $PARTS " == *" jaxprof "* ]]; then
    # Where JAX's main thread spends a step, the shim graphing against it
    # paused in one process: tools/libwallprof.so's samples split by the
    # --ab blocks (tools/wallprof.py). JAXPROF_ENVS: variable sets (";").
    IFS=';' read -ra pfenvs <<<"${JAXPROF_ENVS:--}"
    WP=$PWD/tools/.libs/libwallprof.so
    for r in $(seq 1 "$ROUNDS"); do
        for e in "${pfenvs[@]}"; do
            [ "$e" = - ] && e=
            tag=jaxprof$(echo "$e" | tr -cd 'a-zA-Z0-9').$r
            # shellcheck disable=SC2086
            env GRAPHSHIM_STATS=1 $e JAX_AB_TIMES="$OUT/$tag.blocks" WALLPROF_OUT="$OUT/$tag.samples" \
                LD_PRELOAD="$WP:$SHIM" python3 tools/jax-eager.py --steps=800 --fast=1 --ab=20 \
                >"$OUT/$tag.out" 2>"$OUT/$tag.err"
            python3 tools/wallprof.py "$OUT/$tag.samples" --blocks="$OUT/$tag.blocks" --block-steps=20 \
                --top=8 >"$OUT/$tag.prof" 2>&1
            gzip -f "$OUT/$tag.samples"
            note "jaxprof ${e:-defaults} run $r: $(grep -o 'ratio=[0-9.]* \[[0-9.-]*\]' "$OUT/$tag.out") $(grep -o 'checksum=[^ ]*' "$OUT/$tag.out")"
            head -40 "$OUT/$tag.prof" | tee -a "$summary"
        done
    done
fi
if [[ " $PARTS " == *" streams "* ]]; then
    # Issue 10: PyTorch with a side stream (wait_stream, record_stream).
    STARGS=${STARGS:-}
    run_mode() {
        case $2 in
        eager) python3 tools/torch-streams.py $STARGS ;;
        replay) GRAPHSHIM_STATS=1 GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM python3 tools/torch-streams.py $STARGS ;;
        graph) python3 tools/torch-streams.py --mode=graph $STARGS ;;
        replayb) GRAPHSHIM_STATS=1 LD_PRELOAD=$SHIMB python3 tools/torch-streams.py $STARGS ;;
        esac
    }
    export STARGS SHIM SHIMB OUT
    [ -n "${STREAMS_TRACE-1}" ] && GRAPHSHIM_MODE=observe GRAPHSHIM_LOG=trace GRAPHSHIM_LOG_LIMIT=400000 \
        GRAPHSHIM_LOG_FILE=$OUT/streams-trace.log LD_PRELOAD=$SHIM timeout 120 \
        python3 tools/torch-streams.py --steps=20 --layers=2 >"$OUT/streams-trace.out" 2>&1
    note "torch-streams $STARGS, $ROUNDS rounds: median steps/s [min-max], ratio to eager"
    # shellcheck disable=SC2086
    srounds "side stream" tst eager ${STREAMS_MODES:-replay graph}
    grep -A12 'summary:' "$OUT/tst.replay.1.err" | head -14 | sed 's/^/    /' >>"$summary"
fi
if [[ " $PARTS " == *" torch "* ]]; then
    run_mode() {
        case $2 in
        eager) MODE=eager python3 "$TD" ;;
        pass) MODE=eager GRAPHSHIM_MODE=passthrough LD_PRELOAD=$SHIM python3 "$TD" ;;
        replay) MODE=eager GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM python3 "$TD" ;;
        graph) MODE=graph python3 "$TD" ;;
        graphshim) MODE=graph LD_PRELOAD=$SHIM python3 "$TD" ;;
        esac
    }
    note "torch_decode: mode, median tokens/s, ratio to eager, checksum, kv [all rounds]"
    rounds pt ${TORCH_MODES:-eager pass replay graph graphshim}
    note "  replay: ops $(jget "$OUT/pt.json" ops) replayed $(jget "$OUT/pt.json" ops_replayed) replays $(jget "$OUT/pt.json" replays) graph launches $(jget "$OUT/pt.json" graph_launches) patched $(jget "$OUT/pt.json" nodes_patched) templates $(jget "$OUT/pt.json" templates) div $(jget "$OUT/pt.json" div_mismatch)/$(jget "$OUT/pt.json" div_barrier)/$(jget "$OUT/pt.json" div_stream) fb $(jget "$OUT/pt.json" fb_build)/$(jget "$OUT/pt.json" fb_patch)/$(jget "$OUT/pt.json" fb_launch)"
fi
if [[ " $PARTS " == *" compile "* ]]; then
    run_mode() {
        case $2 in
        compile) MODE=compile-cpp python3 "$TD" ;;
        replay) MODE=compile-cpp GRAPHSHIM_STATS_FILE=$OUT/$1.json LD_PRELOAD=$SHIM python3 "$TD" ;;
        esac
    }
    note "torch_decode MODE=compile-cpp: mode, median tokens/s, ratio, checksum, kv"
    rounds ptc compile replay
    note "  replay: ops $(jget "$OUT/ptc.json" ops) replayed $(jget "$OUT/ptc.json" ops_replayed) replays $(jget "$OUT/ptc.json" replays) templates $(jget "$OUT/ptc.json" templates) fb $(jget "$OUT/ptc.json" fb_build)/$(jget "$OUT/ptc.json" fb_patch)/$(jget "$OUT/ptc.json" fb_launch)"
fi
if [[ " $PARTS " == *" profile "* ]]; then
    # GPU time of each kernel of one eager step (after set-up and warm-up).
    ncu --metrics gpu__time_duration.sum --csv --launch-skip 2000 --launch-count 287 \
        ./tools/decode-bench --mode=eager --tokens=8 --warmup=8 --reps=1 >"$OUT/ncu.csv" 2>"$OUT/ncu.err"
    note "ncu: GPU time per kernel (us): total, by kernel (sum, count)"
    grep gpu__time_duration "$OUT/ncu.csv" | awk -F'","' '{ n = $5; gsub(/\(.*/, "", n); v = $NF; gsub(/[",]/, "", v); t[n] += v; c[n]++; all += v }
        END { printf "  total %.1f us\n", all / 1000; for (k in t) printf "  %-28s %8.1f %4d\n", k, t[k] / 1000, c[k] }' | sort -k2 -n -r | head -25 >>"$summary"
    for h in 512 256; do for l in 8; do
        e=$(./tools/decode-bench --mode=eager --hidden=$h --layers=$l --tokens=128 | tail -1)
        g=$(./tools/decode-bench --mode=graph --hidden=$h --layers=$l --tokens=128 | tail -1)
        note "  hidden=$h layers=$l eager $(field "$e" tokens/s) graph $(field "$g" tokens/s) us/token $(field "$e" us_per_token) / $(field "$g" us_per_token)"
    done; done
fi
if [[ " $PARTS " == *" count "* ]]; then
    for n in 32 64; do
        NEW=$n LD_PRELOAD=$SHIM GRAPHSHIM_MODE=passthrough GRAPHSHIM_STATS_FILE=$OUT/cnt$n.json \
            python3 tools/torch-kernel-count.py "$TD" >"$OUT/cnt$n.out" 2>"$OUT/cnt$n.err"
        eval "prof$n=$(sed -n 's/^profiler_kernels=//p' "$OUT/cnt$n.out")"
        eval "shim$n=$(jget "$OUT/cnt$n.json" launches)"
    done
    # torch_decode generates NEW tokens four times (warm-up + 3 timed runs).
    note "kernels per token: profiler $(( (prof64 - prof32) / 128 )) shim $(( (shim64 - shim32) / 128 )) (totals profiler $prof32/$prof64, shim $shim32/$shim64)"
fi
if [[ " $PARTS " == *" tiny "* ]]; then
    note "never slower: steps of 2-3 kernels and a sync, without and under the shim"
    bash tools/tiny-bench.sh "${TINY_STEPS:-20000}" 2>&1 | tee "$OUT/tiny.txt" >>"$summary"
fi
if [[ " $PARTS " == *" sweep "* ]]; then
    note "chunk sweep at --hidden=256 (name ratio-to-graph [rounds])"
    SETS=${SWEEP_SETS:-"8:128 16:256 8:256 32:256"} bash tools/chunk-sweep.sh --hidden=256 2>&1 |
        tee "$OUT/sweep.txt" >>"$summary"
fi
if [[ " $PARTS " == *" cost "* ]]; then
    ROUNDS=${COST_ROUNDS:-5} sh tools/shim-cost.sh >"$OUT/cost.txt" 2>&1
    cat "$OUT/cost.txt" >>"$summary"; cat "$OUT/cost.txt"
fi
# Only a few files come back: bundle the logs.
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt --exclude=check.log \
    --exclude=test-suite.log ./* 2>/dev/null && find . -maxdepth 1 -type f ! -name logs.tgz \
    ! -name summary.txt ! -name check.log ! -name test-suite.log -delete)
echo "=================== summary"; cat "$summary"
