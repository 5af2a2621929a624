#!/bin/sh
# tests/gpu/gpu-faults.sh: on a real GPU, every driver call the shim makes
# for itself is made to fail in turn (GRAPHSHIM_TEST_FAIL, the shim's
# test-only switch): the fuzzer's programs print what they print without the
# shim, and each cause is logged once. Skips (77) without a GPU or nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_fuzz
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-faults "$prog" "$ptx"
pre=$(shim_preload)
"$prog" --module="$ptx" --first=1 --count=100 >"$tmp/plain" || { echo "FAIL: without the shim"; exit 1; }
for site in cuFuncGetParamInfo cuFuncGetName cuPointerGetAttribute cuCtxGetCurrent cuMemHostAlloc \
        cuGraphCreate cuGraphAddKernelNode_v2 cuGraphKernelNodeSetAttribute cuGraphAddMemcpyNode \
        cuGraphAddMemsetNode cuGraphInstantiateWithFlags cuGraphUpload cuEventCreate \
        cuGraphExecKernelNodeSetParams_v2 cuGraphExecMemcpyNodeSetParams \
        cuGraphExecMemsetNodeSetParams cuGraphLaunch cuEventRecord cuEventQuery; do
    env LD_PRELOAD="$pre" GRAPHSHIM_TEST_FAIL="$site@2" "$prog" --module="$ptx" --first=1 \
        --count=100 >"$tmp/shim" 2>"$tmp/err" || { echo "FAIL: $site: the program failed"; exit 1; }
    cmp -s "$tmp/plain" "$tmp/shim" || { echo "FAIL: $site: results differ"; exit 1; }
    n=$(grep -c "${site%_v2} failed (CUresult" "$tmp/err")
    [ "$n" = 1 ] || { echo "FAIL: $site: its failure logged $n times, not once:"; cat "$tmp/err"; exit 1; }
    echo "gpu-faults: $site failing: same results, the cause logged once"
done
env LD_PRELOAD="$pre" GRAPHSHIM_TEST_FAIL="cuGraphLaunch@1x0" "$prog" --module="$ptx" --first=1 \
    --count=100 >"$tmp/shim" 2>"$tmp/err" || { echo "FAIL: repeated failures: the program failed"; exit 1; }
cmp -s "$tmp/plain" "$tmp/shim" || { echo "FAIL: repeated failures: results differ"; exit 1; }
grep -q "turns itself into a pass-through" "$tmp/err" || { echo "FAIL: no pass-through after repeated failures"; exit 1; }
echo "gpu-faults: every launch failing: same results, the shim turned itself into a pass-through"
