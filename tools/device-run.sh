#!/bin/bash
# device-run.sh: everything one GPU session measures, in one command, on a
# machine without libtool or cmocka: builds from the dist tarball with
# carried dependencies, runs `make check` (the GPU tests included), then the
# decode benchmark and the PyTorch workload with and without the shim, the
# shim's per-call cost, and the PyTorch profiler's kernel count. Logs go to
# $OUT; a short table is printed last.
#   tools/device-run.sh CARRY_DIR [PART...]
#   PART: check bench torch compile count cost (default: all but compile)
set -u
CARRY=$(cd "$1" && pwd); shift
PARTS=${*:-check bench torch count cost}
OUT=${OUT:-/tmp/gs-out}; mkdir -p "$OUT"
DEPS=$CARRY/deps/usr
B=/tmp/gs-build
rm -rf "$B" && mkdir -p "$B" && tar -C "$B" -xzf "$CARRY"/graphshim-*.tar.gz && cd "$B"/graphshim-* || exit 1
export CPPFLAGS="-I$DEPS/include" CMOCKA_CFLAGS="-I$DEPS/include"
export CMOCKA_LIBS="-L$DEPS/lib/x86_64-linux-gnu -lcmocka -Wl,-rpath,$DEPS/lib/x86_64-linux-gnu"
./configure >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
make -j16 >"$OUT/make.log" 2>&1 || { grep -E "error|Error" "$OUT/make.log" | head -30; exit 1; }
SHIM=$PWD/src/.libs/libgraphshim.so
TD=$CARRY/workloads/torch_decode.py
summary=$OUT/summary.txt; : >"$summary"
note() { echo "$*" | tee -a "$summary"; }
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }'; }
jget() { grep -o "\"$2\":[0-9]*" "$1" 2>/dev/null | head -1 | cut -d: -f2; }

note "device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null)"
if [[ " $PARTS " == *" check "* ]]; then
    make -j8 check >"$OUT/check.log" 2>&1; rc=$?
    cp test-suite.log "$OUT/" 2>/dev/null
    note "make check: rc=$rc $(grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR)' "$OUT/check.log" | tr -s ' ' | tr '\n' ' ')"
    grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "$OUT/check.log" | sort | uniq -c | awk '{print "  " $0}' >>"$summary"
    for t in tests/gpu/*.log; do note "  $t: $(tail -3 "$t" | tr '\n' ';' | cut -c1-400)"; done
fi
if [[ " $PARTS " == *" bench "* ]]; then
    DB=./tools/decode-bench
    run() { local tag=$1; shift; "$@" >"$OUT/$tag.out" 2>"$OUT/$tag.err"; tail -1 "$OUT/$tag.out"; }
    e=$(run db-eager $DB --mode=eager)
    p=$(GRAPHSHIM_MODE=passthrough GRAPHSHIM_STATS_FILE=$OUT/db-pass.json LD_PRELOAD=$SHIM run db-pass $DB --mode=eager)
    s=$(GRAPHSHIM_STATS=1 GRAPHSHIM_STATS_FILE=$OUT/db-shim.json LD_PRELOAD=$SHIM run db-shim $DB --mode=eager)
    g=$(run db-graph $DB --mode=graph)
    ie=$(run db-irr-eager $DB --mode=eager --irregular=4)
    is=$(GRAPHSHIM_STATS_FILE=$OUT/db-irr.json LD_PRELOAD=$SHIM run db-irr-shim $DB --mode=eager --irregular=4)
    et=$(field "$e" tokens/s); iet=$(field "$ie" tokens/s)
    note "decode-bench (median of reps; tokens/s, ratio to eager, checksum, state)"
    for x in "eager:$e" "shim-passthrough:$p" "shim-replay:$s" "graph-by-hand:$g" "irregular4-eager:$ie" "irregular4-shim:$is"; do
        l=${x#*:}; base=$et; [[ $x == irregular* ]] && base=$iet
        note "  $(printf '%-18s %10s %6s %8s %s' "${x%%:*}" "$(field "$l" tokens/s)" "$(awk -v a="$(field "$l" tokens/s)" -v b="$base" 'BEGIN{printf "%.3f", a/b}')" "$(field "$l" checksum)" "$(field "$l" state)")"
    done
    note "  launches: program $(field "$p" launches_total) / shim passthrough $(jget "$OUT/db-pass.json" launches) / shim replay $(jget "$OUT/db-shim.json" launches)"
    note "  replay: ops $(jget "$OUT/db-shim.json" ops) replayed $(jget "$OUT/db-shim.json" ops_replayed) replays $(jget "$OUT/db-shim.json" replays) patched $(jget "$OUT/db-shim.json" nodes_patched) graphs $(jget "$OUT/db-shim.json" graphs_built) fb_build $(jget "$OUT/db-shim.json" fb_build) div_mismatch $(jget "$OUT/db-shim.json" div_mismatch)"
    note "  irregular: ops $(jget "$OUT/db-irr.json" ops) replayed $(jget "$OUT/db-irr.json" ops_replayed) templates $(jget "$OUT/db-irr.json" templates) div_mismatch $(jget "$OUT/db-irr.json" div_mismatch)"
fi
if [[ " $PARTS " == *" torch "* ]]; then
    trun() { local tag=$1; shift; env "$@" python3 "$TD" >"$OUT/$tag.out" 2>"$OUT/$tag.err"; tail -1 "$OUT/$tag.out"; }
    e=$(trun pt-eager MODE=eager)
    p=$(trun pt-pass MODE=eager LD_PRELOAD=$SHIM GRAPHSHIM_MODE=passthrough GRAPHSHIM_STATS_FILE=$OUT/pt-pass.json)
    s=$(trun pt-shim MODE=eager LD_PRELOAD=$SHIM GRAPHSHIM_STATS=1 GRAPHSHIM_STATS_FILE=$OUT/pt-shim.json)
    g=$(trun pt-graph MODE=graph)
    gs=$(trun pt-graph-shim MODE=graph LD_PRELOAD=$SHIM GRAPHSHIM_STATS_FILE=$OUT/pt-graph.json)
    et=$(field "$e" tokens/s)
    note "torch_decode (tokens/s, ratio to eager, checksum, kv)"
    for x in "eager:$e" "shim-passthrough:$p" "shim-replay:$s" "graph-by-hand:$g" "graph+shim:$gs"; do
        l=${x#*:}
        note "  $(printf '%-18s %10s %6s %8s %s' "${x%%:*}" "$(field "$l" tokens/s)" "$(awk -v a="$(field "$l" tokens/s)" -v b="$et" 'BEGIN{printf "%.3f", a/b}')" "$(field "$l" checksum)" "$(field "$l" kv)")"
    done
    note "  replay: ops $(jget "$OUT/pt-shim.json" ops) replayed $(jget "$OUT/pt-shim.json" ops_replayed) replays $(jget "$OUT/pt-shim.json" replays) patched $(jget "$OUT/pt-shim.json" nodes_patched) templates $(jget "$OUT/pt-shim.json" templates) div_mismatch $(jget "$OUT/pt-shim.json" div_mismatch) div_barrier $(jget "$OUT/pt-shim.json" div_barrier) fb $(jget "$OUT/pt-shim.json" fb_build)/$(jget "$OUT/pt-shim.json" fb_patch)/$(jget "$OUT/pt-shim.json" fb_launch)"
fi
if [[ " $PARTS " == *" compile "* ]]; then
    trun() { local tag=$1; shift; env "$@" python3 "$TD" >"$OUT/$tag.out" 2>"$OUT/$tag.err"; tail -1 "$OUT/$tag.out"; }
    e=$(trun ptc-eager MODE=compile-cpp)
    s=$(trun ptc-shim MODE=compile-cpp LD_PRELOAD=$SHIM GRAPHSHIM_STATS_FILE=$OUT/ptc-shim.json)
    et=$(field "$e" tokens/s)
    note "torch_decode MODE=compile-cpp (tokens/s, ratio, checksum, kv)"
    for x in "compile-cpp:$e" "compile-cpp+shim:$s"; do
        l=${x#*:}
        note "  $(printf '%-18s %10s %6s %8s %s' "${x%%:*}" "$(field "$l" tokens/s)" "$(awk -v a="$(field "$l" tokens/s)" -v b="$et" 'BEGIN{printf "%.3f", a/b}')" "$(field "$l" checksum)" "$(field "$l" kv)")"
    done
    note "  replay: ops $(jget "$OUT/ptc-shim.json" ops) replayed $(jget "$OUT/ptc-shim.json" ops_replayed) replays $(jget "$OUT/ptc-shim.json" replays) templates $(jget "$OUT/ptc-shim.json" templates) fb $(jget "$OUT/ptc-shim.json" fb_build)/$(jget "$OUT/ptc-shim.json" fb_patch)/$(jget "$OUT/ptc-shim.json" fb_launch)"
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
if [[ " $PARTS " == *" cost "* ]]; then
    sh tools/shim-cost.sh >"$OUT/cost.txt" 2>&1
    cat "$OUT/cost.txt" >>"$summary"; cat "$OUT/cost.txt"
fi
# Only a few files come back: bundle the logs.
(cd "$OUT" && tar czf logs.tgz --exclude=logs.tgz --exclude=summary.txt --exclude=check.log \
    --exclude=test-suite.log ./* 2>/dev/null && find . -maxdepth 1 -type f ! -name logs.tgz \
    ! -name summary.txt ! -name check.log ! -name test-suite.log -delete)
echo "=================== summary"; cat "$summary"
