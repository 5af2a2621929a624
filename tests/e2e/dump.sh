#!/bin/sh
# dump.sh: GRAPHSHIM_DUMP_DIR writes one text file per template: every node
# with its kernel name, grid, block, attributes and argument sizes, the
# edges into it, and at exit which arguments changed between replays and
# how often. An unwritable directory warns once and changes nothing else.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_scenarios"
run_sim "$P" allops >"$TMP/plain" || fail "without the shim"
run_shim GRAPHSHIM_CHUNK_OPS=0 GRAPHSHIM_DUMP_DIR="$TMP/dumps" "$P" allops >"$TMP/shim" 2>"$TMP/err" || fail "under the shim"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs with dumps on"
set -- "$TMP"/dumps/template-*.txt
[ -f "$1" ] || fail "no dump written"
expect_eq "dump files" "$#" 1
d=$1
grep -q '^graphshim template: stream 0x[0-9a-f]*, 14 nodes on 1 stream(s), 1 chunk(s)' "$d" || fail "no header: $(head -2 "$d")"
grep -q '^node 0 slot 0 kernel sim_fill grid=4,1,1 block=64,1,1 shmem=0 args=8,4,4 (16 bytes)' "$d" || fail "node 0 not described"
grep -q 'kernel sim_axpy .*attrs=CLUSTER_DIMENSION' "$d" || fail "attributes not listed"
grep -q '^node 13 slot 0 memcpy-dtoh 4 bytes' "$d" || fail "copies not described"
grep -q '^  <- node 12 (full)' "$d" || fail "edges not listed"
grep -q '^replayed [1-9][0-9]* times' "$d" || fail "replays not counted at exit"
grep -q '^node 0: argument 1 changed in [1-9][0-9]* of [1-9][0-9]* replays (patched)' "$d" ||
    fail "argument changes not counted: $(tail -5 "$d")"
grep -q '^node 3: ' "$d" && fail "node 3 (constant arguments) reported as changing"
pass "one dump per template: nodes, attributes, edges and argument changes ($(grep -c 'changed in' "$d") changing arguments)"

run_shim GRAPHSHIM_DUMP_DIR=/proc/nonexistent/dir "$P" allops >"$TMP/shim" 2>"$TMP/err" || fail "unwritable dump dir broke the program"
cmp -s "$TMP/plain" "$TMP/shim" || fail "result differs with an unwritable dump dir"
expect_eq "warnings for an unwritable dump dir" "$(grep -c 'cannot write GRAPHSHIM_DUMP_DIR' "$TMP/err")" 1
pass "an unwritable GRAPHSHIM_DUMP_DIR warns once; results unchanged"
