#!/bin/sh
# tests/gpu/gpu-variants.sh: tools/decode-bench's option sets (--pdl,
# --per-thread, --streams=N, --host-func and combinations), each run briefly
# eager, eager under the shim and as the hand-captured graph.  Every run must
# print the default's checksum and state (the options change how a step is
# issued, never what it computes; --host-func also makes the program check
# its callback count itself), and under the shim its totals.launches must
# equal the program's launches_total (cudaLaunchKernelEx launches included).
# The shim's share of ops replayed is printed, not required: that is for the
# benchmark.  --pdl needs compute capability 9.0; on an older GPU the --pdl
# sets are skipped, said in the output.  Skips (77) without a GPU or nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

db=$top_builddir/tools/decode-bench
gpu_need gpu-variants "$db"
pre=$(shim_preload)
to=
command -v timeout >/dev/null 2>&1 && to="timeout ${GS_GPU_TIMEOUT:-300}"
args=${GPU_VARIANTS_ARGS:---layers=4 --tokens=48 --warmup=8 --reps=2}

# run LABEL COMMAND...: stdout to $tmp/LABEL, stderr to $tmp/LABEL.err; the
# result line is echoed back.  A failure shows the program's stderr (on our
# stderr: run is called inside $(...)) and exits, which the caller passes on.
run() {
    r_label=$1
    shift
    # shellcheck disable=SC2086  # $to is a command prefix or empty
    if ! $to "$@" >"$tmp/$r_label" 2>"$tmp/$r_label.err"; then
        {
            echo "gpu-variants: FAIL: $r_label: $*; its stderr:"
            tail -n 20 "$tmp/$r_label.err" | sed 's/^/  /'
        } >&2
        exit 1
    fi
    tail -n 1 "$tmp/$r_label"
}

# shellcheck disable=SC2086  # $args is a list of options
ref=$(run ref "$db" --mode=eager $args) || exit 1
want="$(field "$ref" checksum) $(field "$ref" state)"
[ "$want" != " " ] || { echo "gpu-variants: FAIL: no checksum/state in: $ref"; exit 1; }
echo "gpu-variants: default eager: checksum and state $want"

pdl_ok=1
# shellcheck disable=SC2086
if ! $to "$db" --pdl --layers=1 --tokens=1 --warmup=0 --reps=1 >/dev/null 2>"$tmp/pdl.err"; then
    if grep -q "needs compute capability" "$tmp/pdl.err"; then
        pdl_ok=0
        echo "gpu-variants: $(cat "$tmp/pdl.err"): the --pdl sets are skipped"
    else
        echo "gpu-variants: FAIL: decode-bench --pdl:"
        sed 's/^/  /' "$tmp/pdl.err"
        exit 1
    fi
fi

n=0
for opts in "--pdl" "--per-thread" "--streams=2" "--streams=3" "--host-func" "--pdl --per-thread" \
    "--pdl --streams=2 --host-func" "--per-thread --streams=2 --host-func" \
    "--pdl --per-thread --streams=3 --host-func --irregular=5"; do
    case " $opts " in *" --pdl "*) [ "$pdl_ok" = 1 ] || continue ;; esac
    # shellcheck disable=SC2086
    e=$(run eager "$db" --mode=eager $args $opts) || exit 1
    # shellcheck disable=SC2086
    s=$(run shim env LD_PRELOAD="$pre" GRAPHSHIM_STATS_FILE="$tmp/stats.json" \
        "$db" --mode=eager $args $opts) || exit 1
    # shellcheck disable=SC2086
    g=$(run graph "$db" --mode=graph $args $opts) || exit 1
    for l in "$e" "$s" "$g"; do
        got="$(field "$l" checksum) $(field "$l" state)"
        if [ "$got" != "$want" ]; then
            echo "gpu-variants: FAIL: $opts: checksum and state '$got', the default's '$want':"
            printf '  %s\n' "$e" "$s" "$g"
            exit 1
        fi
    done
    lp=$(field "$s" launches_total)
    if ! ls=$(stats_get "$tmp/stats.json" totals.launches) || [ "$ls" != "$lp" ]; then
        echo "gpu-variants: FAIL: $opts: the shim counted totals.launches=${ls:-none}, the program" \
            "issued launches_total=$lp"
        exit 1
    fi
    echo "gpu-variants: $opts: eager, shim, graph identical ($want); launches $lp counted;" \
        "shim replayed $(stats_get "$tmp/stats.json" totals.ops_replayed) of" \
        "$(stats_get "$tmp/stats.json" totals.ops) ops"
    n=$((n + 1))
done
echo "gpu-variants: $n option sets identical to the default in all three modes"
