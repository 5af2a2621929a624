#!/bin/sh
# tools/run-bench.sh: the job behind `make bench`.  It measures what the shim
# is for, in one invocation, as DESIGN.md section 8 asks: eager, eager under
# the shim, and the same step captured by hand (the ceiling), with identical
# output checked, ratios reported against eager of the same run.
#
# On a GPU: tools/decode-bench (a native decode loop, ~300 launches a token)
# in the three modes, then, when PyTorch with CUDA and torch_decode.py are
# available, the framework workload the same way.  Without a GPU: the same
# demonstration on the simulated driver (tests/simcuda) with tools/sim-decode,
# so the figures are the shim's CPU cost, not a GPU speed-up.
#
# Usage: run-bench.sh [decode-bench or sim-decode options, e.g. --tokens=512]
# (the options go to every run; do not pass --mode).  Run from the build
# directory; top_srcdir defaults to this script's parent directory and
# top_builddir to the current one.  Environment: TORCH_DECODE (path of
# torch_decode.py), GS_TORCH_SHIM_MODE (GRAPHSHIM_MODE for the PyTorch run
# under the shim, default passthrough).
# Exit status: 0 when every compared output matched, 1 otherwise.

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$here/..}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
GS_GPU_OPTIONAL=1
. "$top_srcdir/tests/gpu/common.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/graphshim-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
pre=$(shim_preload)

# bench_run LABEL COMMAND...: stdout to $tmp/LABEL.out, stderr to
# $tmp/LABEL.err; on failure show the end of stderr and return 1.
bench_run() {
    br_label=$1
    shift
    echo "run-bench: $br_label: $*"
    "$@" >"$tmp/$br_label.out" 2>"$tmp/$br_label.err"
    br_rc=$?
    if [ "$br_rc" -ne 0 ]; then
        echo "run-bench: FAIL: $br_label exited with status $br_rc; its stderr ends with:"
        tail -n 20 "$tmp/$br_label.err" | sed 's/^/  /'
        return 1
    fi
}

# result LABEL: the last line of LABEL's stdout that carries a checksum.
result() {
    grep 'checksum=' "$tmp/$1.out" | tail -n 1
}

# ratio A B: A/B with two decimals, for the tables.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'
}

# same WHAT VALUE_REF VALUE...: fail unless every VALUE equals VALUE_REF.
same() {
    sm_what=$1
    sm_ref=$2
    shift 2
    if [ -z "$sm_ref" ]; then
        echo "run-bench: FAIL: no $sm_what in the output"
        status=1
        return 1
    fi
    for sm_v in "$@"; do
        if [ "$sm_v" != "$sm_ref" ]; then
            echo "run-bench: FAIL: $sm_what differs between runs: '$sm_ref' vs '$sm_v'"
            status=1
            return 1
        fi
    done
    echo "run-bench: $sm_what identical in all runs: $sm_ref"
}

# shim_launches LABEL LAUNCHES_TOTAL: compare the shim's totals.launches
# (statistics of run LABEL) with what the program says it issued.
shim_launches() {
    if ! sl_got=$(stats_get "$tmp/$1.json" totals.launches); then
        echo "run-bench: the shim wrote no totals.launches (GRAPHSHIM_STATS_FILE); not compared"
        return 0
    fi
    if [ -z "$2" ]; then
        echo "shim launches: $sl_got (the program printed no launch count to compare)"
    elif [ "$sl_got" = "$2" ]; then
        echo "shim launches: $sl_got = launches the program issued ($2): equal"
    else
        echo "run-bench: FAIL: shim launches: $sl_got, but the program issued $2"
        status=1
    fi
}

# table_row MODE TOKENS/S EAGER_TOKENS/S CHECKSUM EXTRA
table_row() {
    printf '%-32s %12s %9s %14s%s\n' "$1" "$2" "$(ratio "$2" "$3")" "$4" "${5:+  $5}"
}

# ------------------------------------------------------------ decode-bench
gpu_decode_bench() {
    db=$top_builddir/tools/decode-bench
    if [ ! -x "$db" ]; then
        echo "run-bench: $db not built (configure found no nvcc): decode-bench skipped"
        return 2
    fi
    bench_run db-eager "$db" --mode=eager "$@" || { status=1; return 1; }
    bench_run db-shim env LD_PRELOAD="$pre" GRAPHSHIM_STATS=1 \
        GRAPHSHIM_STATS_FILE="$tmp/db-shim.json" "$db" --mode=eager "$@" || { status=1; return 1; }
    bench_run db-graph "$db" --mode=graph "$@" || { status=1; return 1; }
    e=$(result db-eager)
    s=$(result db-shim)
    g=$(result db-graph)
    echo
    echo "$e"
    echo "$s"
    echo "$g"
    echo
    same "decode-bench checksum" "$(field "$e" checksum)" "$(field "$s" checksum)" "$(field "$g" checksum)"
    same "decode-bench state" "$(field "$e" state)" "$(field "$s" state)" "$(field "$g" state)"
    et=$(field "$e" tokens/s)
    echo
    printf '%-32s %12s %9s %14s  %s\n' mode tokens/s "vs eager" checksum "tokens/s min..max"
    table_row "eager" "$et" "$et" "$(field "$e" checksum)" "$(field "$e" min)..$(field "$e" max)"
    table_row "eager + shim" "$(field "$s" tokens/s)" "$et" "$(field "$s" checksum)" \
        "$(field "$s" min)..$(field "$s" max)"
    table_row "graph by hand (ceiling)" "$(field "$g" tokens/s)" "$et" "$(field "$g" checksum)" \
        "$(field "$g" min)..$(field "$g" max)"
    echo
    kpt=$(field "$s" kernels_per_token)
    tok=$(field "$s" tokens)
    if [ -n "$kpt" ] && [ -n "$tok" ]; then
        echo "kernels_per_token x tokens = $kpt x $tok = $((kpt * tok)) launches per repetition" \
            "(launches_total adds setup, warmup and the other repetitions)"
    fi
    shim_launches db-shim "$(field "$s" launches_total)"
    if [ -s "$tmp/db-shim.err" ]; then
        echo "the shim's report (stderr of the run under it):"
        tail -n 40 "$tmp/db-shim.err" | sed 's/^/  /'
    fi
}

# ---------------------------------------------------------------- PyTorch
gpu_torch() {
    tp=
    for c in "${TORCH_DECODE:-}" "$top_srcdir/workloads/torch_decode.py" \
        "$top_srcdir/shared/workloads/torch_decode.py"; do
        if [ -n "$c" ] && [ -f "$c" ]; then
            tp=$c
            break
        fi
    done
    if [ -z "$tp" ]; then
        echo "run-bench: torch_decode.py not found (set TORCH_DECODE): PyTorch workload skipped"
        return 2
    fi
    if ! python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
        echo "run-bench: PyTorch with CUDA not available: PyTorch workload skipped"
        return 2
    fi
    tmode=${GS_TORCH_SHIM_MODE:-passthrough}
    echo
    bench_run pt-eager env MODE=eager python3 "$tp" || { status=1; return 1; }
    bench_run pt-shim env LD_PRELOAD="$pre" GRAPHSHIM_MODE="$tmode" GRAPHSHIM_STATS=1 \
        GRAPHSHIM_STATS_FILE="$tmp/pt-shim.json" MODE=eager python3 "$tp" || { status=1; return 1; }
    bench_run pt-graph env MODE=graph python3 "$tp" || { status=1; return 1; }
    e=$(result pt-eager)
    s=$(result pt-shim)
    g=$(result pt-graph)
    echo
    echo "$e"
    echo "$s"
    echo "$g"
    echo
    same "torch_decode checksum" "$(field "$e" checksum)" "$(field "$s" checksum)" "$(field "$g" checksum)"
    same "torch_decode kv" "$(field "$e" kv)" "$(field "$s" kv)" "$(field "$g" kv)"
    et=$(field "$e" tokens/s)
    echo
    printf '%-32s %12s %9s %14s\n' mode tokens/s "vs eager" checksum
    table_row "torch eager" "$et" "$et" "$(field "$e" checksum)"
    table_row "torch eager + shim ($tmode)" "$(field "$s" tokens/s)" "$et" "$(field "$s" checksum)"
    table_row "torch CUDAGraph by hand" "$(field "$g" tokens/s)" "$et" "$(field "$g" checksum)"
    shim_launches pt-shim ""
}

# ------------------------------------------------------- simulated driver
sim_demo() {
    echo "no GPU found: running the same demonstration against the simulated driver (tests/simcuda)"
    sd=$top_builddir/tools/sim-decode
    if [ ! -x "$sd" ]; then
        echo "run-bench: FAIL: $sd not built (run make first)"
        return 1
    fi
    LD_LIBRARY_PATH=$top_builddir/tests/simcuda/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LD_LIBRARY_PATH
    bench_run sim-eager "$sd" "$@" || return 1
    bench_run sim-shim env LD_PRELOAD="$pre" GRAPHSHIM_STATS=1 \
        GRAPHSHIM_STATS_FILE="$tmp/sim-shim.json" "$sd" "$@" || return 1
    bench_run sim-graph "$sd" --mode=graph "$@" || return 1
    e=$(result sim-eager)
    s=$(result sim-shim)
    g=$(result sim-graph)
    echo
    echo "$e"
    echo "$s"
    echo "$g"
    echo
    same "sim-decode checksum" "$(field "$e" checksum)" "$(field "$s" checksum)" "$(field "$g" checksum)"
    same "sim-decode state" "$(field "$e" state)" "$(field "$s" state)" "$(field "$g" state)"
    et=$(field "$e" tokens/s)
    echo
    echo "(simulated driver: the ratios show the shim's own CPU cost, not a GPU speed-up)"
    printf '%-32s %12s %9s %14s\n' mode tokens/s "vs eager" checksum
    table_row "eager ($(field "$e" mode))" "$et" "$et" "$(field "$e" checksum)"
    table_row "eager + shim" "$(field "$s" tokens/s)" "$et" "$(field "$s" checksum)"
    table_row "graph by hand ($(field "$g" mode))" "$(field "$g" tokens/s)" "$et" "$(field "$g" checksum)"
    echo
    n=$(field "$s" launches_total)
    [ -n "$n" ] || n=$(field "$s" launches)
    shim_launches sim-shim "$n"
    if [ -s "$tmp/sim-shim.err" ]; then
        echo "the shim's report (stderr of the run under it):"
        tail -n 40 "$tmp/sim-shim.err" | sed 's/^/  /'
    fi
}

if [ ! -f "$SHIM" ]; then
    echo "run-bench: FAIL: $SHIM not built (run make first)"
    exit 1
fi

if gpu_present; then
    echo "GPU: $(nvidia-smi -L 2>/dev/null | sed -n 1p)"
    gpu_decode_bench "$@"
    r1=$?
    gpu_torch
    r2=$?
    if [ "$r1" -eq 2 ] && [ "$r2" -eq 2 ]; then
        echo "run-bench: FAIL: a GPU is present but there was nothing to measure"
        status=1
    fi
else
    sim_demo "$@" || status=1
fi

echo
if [ "$status" -eq 0 ]; then
    echo "run-bench: all compared outputs identical"
else
    echo "run-bench: FAILED (see above)"
fi
exit "$status"
