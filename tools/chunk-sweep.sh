#!/bin/bash
# chunk-sweep.sh: decode-bench under the shim for several chunkings
# (GRAPHSHIM_CHUNK_FIRST, GRAPHSHIM_CHUNK_OPS), beside eager and the hand
# graph, in interleaved rounds: median tokens/s and ratio to the hand graph.
# Run from a build tree on a GPU: tools/chunk-sweep.sh [decode-bench args]
ROUNDS=${ROUNDS:-3}
SHIM=$PWD/src/.libs/libgraphshim.so
DB=./tools/decode-bench
SETS=${SETS:-"64:64 8:64 8:128 16:256 4:64 32:512 0:0"}
tmp=$(mktemp -d)
for r in $(seq "$ROUNDS"); do
    $DB --mode=graph "$@" | tail -1 >"$tmp/graph.$r"
    $DB --mode=eager "$@" | tail -1 >"$tmp/eager.$r"
    for s in $SETS; do
        f=${s%:*} o=${s#*:}
        env LD_PRELOAD="$SHIM" GRAPHSHIM_CHUNK_FIRST=$([ "$f" = 0 ] && echo 65536 || echo "$f") \
            GRAPHSHIM_CHUNK_OPS=$o $DB --mode=eager "$@" | tail -1 >"$tmp/s$f-$o.$r"
    done
done
tps() { sed -n 's/.*tokens\/s=\([0-9.]*\).*/\1/p' "$1"; }
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
g=$(for r in $(seq "$ROUNDS"); do tps "$tmp/graph.$r"; done | med)
for k in graph eager $(for s in $SETS; do echo "s${s%:*}-${s#*:}"; done); do
    v=$(for r in $(seq "$ROUNDS"); do tps "$tmp/$k.$r"; done | med)
    all=$(for r in $(seq "$ROUNDS"); do tps "$tmp/$k.$r"; done | tr '\n' ' ')
    sums=$(for r in $(seq "$ROUNDS"); do sed -n 's/.*checksum=\([0-9]*\).*/\1/p' "$tmp/$k.$r"; done | sort -u | tr '\n' ' ')
    printf '%-10s %9s %7s  [%s] sums %s\n' "$k" "$v" "$(awk -v a="$v" -v b="$g" 'BEGIN{printf "%.3f", a/b}')" "$all" "$sums"
done
rm -rf "$tmp"
