#!/bin/sh
# tests/gpu/gpu-freed.sh: checks on the real driver what graphshim's replay
# assumes about freed graph operands (src/eng.h, gs_frees): after an operand
# of a node is freed and allocated again, setting the node again, unchanged,
# makes its launch safe, for every kind of node the shim builds. It also
# reports which kinds crash when launched untouched (on driver 580: the
# memcpy nodes with a host side), without failing on that, since a driver
# may stop crashing. Skips (77) without a GPU or nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/freed_operand
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-freed "$prog" "$ptx"
crashing=
for kind in htod-dev dtoh-dev dtoh-host dtod memset kernel; do
    "$prog" "$kind" set-again "$ptx" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" = 77 ] && { echo "gpu-freed: no usable GPU: skipped"; exit 77; }
    [ "$rc" = 0 ] || { echo "FAIL: $kind: set again, the launch still failed (status $rc):"; cat "$tmp/err"; exit 1; }
    grep -q "same-address=1" "$tmp/out" ||
        echo "gpu-freed: note: $kind: the driver gave a different address (the case is not exercised)"
    # In a subshell that waits for it (rather than exec'ing it), so that the
    # shell's own "Segmentation fault" notice is silenced with the rest: the
    # crash is expected and reported below.
    ("$prog" "$kind" as-is "$ptx"; echo $? >"$tmp/rc") >/dev/null 2>&1
    rc=$(cat "$tmp/rc")
    [ "$rc" = 0 ] || crashing="$crashing $kind(status $rc)"
done
echo "gpu-freed: set again after the free, every kind of node launches safely"
echo "gpu-freed: launched untouched, these crash:${crashing:- none}"
