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
# so the figures are the shim's CPU cost, not a GPU speed-up.  Either way it
# then times the option sets (--pdl, --per-thread, --streams=2, --host-func)
# in interleaved rounds, and eager against eager --pdl.
#
# Usage: run-bench.sh [decode-bench or sim-decode options, e.g. --tokens=512]
# (the options go to every run; do not pass --mode).  Run from the build
# directory; top_srcdir defaults to this script's parent directory and
# top_builddir to the current one.  Environment: TORCH_DECODE (path of
# torch_decode.py), GS_TORCH_SHIM_MODE (GRAPHSHIM_MODE for the PyTorch run
# under the shim, default passthrough), BENCH_ROUNDS (rounds of the
# variants, default 3), BENCH_VARIANTS (their option sets, '+' joining the
# options of one set; "none" skips them).
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
    variants "$db" db-eager "$@"
}

# ------------------------------------------------------------- variants
# The option sets of issues 8 and 10 (programmatic dependent launch, the
# per-thread default stream, a side stream forked and joined by events, a
# host callback per step), the same program in each of them.  Every set runs
# in BENCH_ROUNDS interleaved rounds of eager, eager under the shim and the
# hand graph, so drift hits all three alike; each run must print the
# default's checksum and state (the options change how a step is issued,
# never what it computes).  Then eager against eager --pdl, interleaved:
# does programmatic dependent launch change eager speed on this GPU?
# BENCH_VARIANTS: the sets, '+' joining the options of one
# ("--pdl+--streams=2"); "none" skips the part.
BENCH_ROUNDS=${BENCH_ROUNDS:-3}

# median_spread: "median min max" of the numbers on stdin, one a line.
median_spread() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- - -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f %s %s\n", m, v[1], v[NR] }'
}

# variant_rounds PROG TAG WANT OPTS MODE...: BENCH_ROUNDS rounds, each
# running every MODE (eager, shim, graph, eager-pdl) of PROG with OPTS and
# the script's arguments; every run's "checksum state" must be WANT.  Prints
# a row per mode: median tokens/s, its ratio to the first mode's median, the
# spread over the rounds, and for the shim the ops it replayed.
variant_rounds() {
    vr_prog=$1 vr_tag=$2 vr_want=$3 vr_opts=$4
    shift 4
    vr_round=1
    while [ "$vr_round" -le "$BENCH_ROUNDS" ]; do
        for vr_m in "$@"; do
            vr_l=$vr_tag.$vr_m.$vr_round
            vr_pdl=
            vr_mode=--mode=eager
            case $vr_m in
            eager-pdl) vr_pdl=--pdl ;;
            graph) vr_mode=--mode=graph ;;
            esac
            # shellcheck disable=SC2086  # option lists
            if [ "$vr_m" = shim ]; then
                bench_run "$vr_l" env LD_PRELOAD="$pre" GRAPHSHIM_STATS_FILE="$tmp/$vr_tag.json" \
                    "$vr_prog" $vr_mode $vr_opts $bench_args >"$tmp/br.log"
            else
                bench_run "$vr_l" "$vr_prog" $vr_mode $vr_pdl $vr_opts $bench_args >"$tmp/br.log"
            fi || { cat "$tmp/br.log"; status=1; return 1; }
            vr_r=$(result "$vr_l")
            vr_got="$(field "$vr_r" checksum) $(field "$vr_r" state)"
            if [ "$vr_got" != "$vr_want" ]; then
                echo "run-bench: FAIL: ${vr_opts:-(default)} $vr_m (round $vr_round): checksum and" \
                    "state '$vr_got', the default's '$vr_want'"
                status=1
                return 1
            fi
        done
        vr_round=$((vr_round + 1))
    done
    vr_base=
    for vr_m in "$@"; do
        vr_stat=$(for vr_f in "$tmp/$vr_tag.$vr_m."*.out; do
            field "$(grep 'checksum=' "$vr_f" | tail -n 1)" tokens/s; done | median_spread)
        vr_med=${vr_stat%% *}
        vr_spread=$(echo "$vr_stat" | awk '{ print $2 ".." $3 }')
        [ -n "$vr_base" ] || vr_base=$vr_med
        vr_extra=
        if [ "$vr_m" = shim ] && vr_ops=$(stats_get "$tmp/$vr_tag.json" totals.ops); then
            vr_extra="replayed $(stats_get "$tmp/$vr_tag.json" totals.ops_replayed) of $vr_ops ops"
        fi
        printf '  %-26s %-10s %10s %8s %21s  %s\n' "${vr_opts:-(default)}" "$vr_m" "$vr_med" \
            "$(ratio "$vr_med" "$vr_base")" "$vr_spread" "$vr_extra"
    done
}

# variants PROG REF_LABEL ARGS...: the part, against the default eager run
# REF_LABEL made before; ARGS are the script's arguments.
variants() {
    va_prog=$1
    va_ref=$(result "$2")
    shift 2
    bench_args="$*"
    [ "${BENCH_VARIANTS:-}" != none ] || return 0
    va_want="$(field "$va_ref" checksum) $(field "$va_ref" state)"
    va_list=${BENCH_VARIANTS:-"--pdl --per-thread --streams=2 --host-func"}
    # --pdl needs sm_90 (decode-bench) or simcuda's GDS twins (sim-decode);
    # without them the --pdl sets are skipped, any other failure is one.
    va_pdl=1
    if ! "$va_prog" --pdl --tokens=1 --layers=1 >"$tmp/pdl-probe.out" 2>"$tmp/pdl-probe.err"; then
        if grep -q "needs compute capability\|GDS twins" "$tmp/pdl-probe.err"; then
            echo "run-bench: the --pdl sets are skipped: $(tail -n 1 "$tmp/pdl-probe.err")"
            va_pdl=0
        else
            echo "run-bench: FAIL: $va_prog --pdl:"
            tail -n 20 "$tmp/pdl-probe.err" | sed 's/^/  /'
            status=1
            return 1
        fi
    fi
    echo
    echo "variants, $BENCH_ROUNDS interleaved rounds; every run printed checksum and state $va_want"
    printf '  %-26s %-10s %10s %8s %21s\n' options mode tokens/s "vs first" "min..max"
    va_i=0
    for va_v in $va_list; do
        va_opts=$(echo "$va_v" | tr '+' ' ')
        case " $va_opts " in *" --pdl "*) [ "$va_pdl" = 1 ] || continue ;; esac
        va_i=$((va_i + 1))
        variant_rounds "$va_prog" "var$va_i" "$va_want" "$va_opts" eager shim graph || return 1
    done
    if [ "$va_pdl" = 1 ]; then
        echo "  eager against eager --pdl (the same kernels; only the launch API and attribute differ):"
        variant_rounds "$va_prog" varpdl "$va_want" "" eager eager-pdl || return 1
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
    variants "$sd" sim-eager "$@"
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
