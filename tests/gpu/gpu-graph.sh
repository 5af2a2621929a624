#!/bin/sh
# tests/gpu/gpu-graph.sh: checks on the real driver what graphshim's DAG
# builder relies on (tests/gpu/graph_probe.cu): programmatic edges built
# node by node give right results and match what stream capture makes of
# programmatic dependent launches; event record nodes time like stream
# records; event and host nodes can be changed in an executable graph. Its
# report (edge types, which launch attributes kernel nodes accept, eager and
# graph microseconds per kernel with and without PDL) goes to the log.
# Then tests/gpu/patch_probe.cu: what patching costs per node kind, and the
# device-updatable alternative, both checked for the right result.
# Skips (77) without a GPU.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/graph_probe
gpu_need gpu-graph "$prog"
"$prog" >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || { echo "FAIL: graph_probe exited with status $rc"; exit 1; }
# What the shim builds for a PDL launch after a kernel must be what capture
# makes: type 1 (programmatic), from port 1 (programmatic).
grep -q '^pdl-capture: edge 0 kernel->kernel type=1 from_port=1 to_port=0' "$tmp/out" ||
    { echo "FAIL: stream capture no longer makes programmatic edges as the shim does"; exit 1; }
grep -q '^pdl-capture: edge 3 memcpy->kernel type=0 ' "$tmp/out" ||
    { echo "FAIL: capture makes something else of a PDL launch after a copy"; exit 1; }
pp=$top_builddir/tests/gpu/patch_probe
if [ -x "$pp" ]; then
    "$pp" >"$tmp/patch" 2>&1
    rc=$?
    cat "$tmp/patch"
    [ "$rc" = 0 ] || { echo "FAIL: patch_probe exited with status $rc"; exit 1; }
fi
echo "gpu-graph: the driver builds and runs what the DAG builder makes"
