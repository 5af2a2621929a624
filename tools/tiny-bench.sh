#!/bin/bash
# tiny-bench.sh: the never-slower check on a GPU. Steps of two or three
# small kernels and a synchronisation (tests/gpu/gpu_dag tiny, tiny3) cost
# less eagerly than a graph launch and its patches; the shim's payoff rule
# must send such templates back to eager, so the program runs as fast under
# the shim as without it. Interleaved rounds, with and without the shim:
# median steps/s, the ratio, the spread, whether the results are identical,
# and what the shim's statistics say was replayed at the end.
# Run from a build tree: tools/tiny-bench.sh [steps]
ROUNDS=${ROUNDS:-5}
STEPS=${1:-20000}
SHIM=$PWD/src/.libs/libgraphshim.so
P=./tests/gpu/gpu_dag
PTX=./tests/gpu/fuzz_kernels.ptx
tmp=$(mktemp -d)
sps() { sed -n 's/.*steps\/s=\([0-9.]*\).*/\1/p' "$1"; }
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for sc in tiny tiny3; do
    for r in $(seq "$ROUNDS"); do
        $P $sc --steps="$STEPS" --module=$PTX >"$tmp/$sc.plain.$r" 2>"$tmp/$sc.plain.$r.err"
        env LD_PRELOAD="$SHIM" GRAPHSHIM_STATS_FILE="$tmp/$sc.json" GRAPHSHIM_LOG=info \
            $P $sc --steps="$STEPS" --module=$PTX >"$tmp/$sc.shim.$r" 2>"$tmp/$sc.shim.$r.err"
    done
    same=yes
    for r in $(seq "$ROUNDS"); do cmp -s "$tmp/$sc.plain.1" "$tmp/$sc.shim.$r" || same=no; done
    a=$(for r in $(seq "$ROUNDS"); do sps "$tmp/$sc.plain.$r.err"; done | med)
    b=$(for r in $(seq "$ROUNDS"); do sps "$tmp/$sc.shim.$r.err"; done | med)
    sa=$(for r in $(seq "$ROUNDS"); do sps "$tmp/$sc.plain.$r.err"; done | sort -g | tr '\n' ' ')
    sb=$(for r in $(seq "$ROUNDS"); do sps "$tmp/$sc.shim.$r.err"; done | sort -g | tr '\n' ' ')
    rep=$(grep -o '"ops_replayed":[0-9]*' "$tmp/$sc.json" | head -1 | cut -d: -f2)
    ops=$(grep -o '"ops":[0-9]*' "$tmp/$sc.json" | head -1 | cut -d: -f2)
    why=$(grep -h -o 'does not pay[^;]*' "$tmp/$sc.shim.$ROUNDS.err" | head -1)
    printf '%-6s plain %9s  shim %9s  ratio %s  identical %s  replayed %s of %s\n' "$sc" "$a" "$b" \
        "$(awk -v a="$b" -v b="$a" 'BEGIN{printf "%.3f", a/b}')" "$same" "${rep:-?}" "${ops:-?}"
    printf '       plain [%s]  shim [%s]\n' "$sa" "$sb"
    [ -n "$why" ] && printf '       log: %s\n' "$why"
done
rm -rf "$tmp"
