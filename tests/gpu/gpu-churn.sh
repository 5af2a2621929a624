#!/bin/sh
# tests/gpu/gpu-churn.sh: the long churn run on a real GPU (GPU_CHURN_STEPS,
# default 20000): templates keep changing and the module is reloaded every
# 10000 steps; same result as without the shim, and neither the shim's host
# memory and staging (its statistics) nor the device memory in use
# (cuMemGetInfo) grows between 1000 steps and the end. Skips (77) without a
# GPU or nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_churn
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-churn "$prog" "$ptx"
steps=${GPU_CHURN_STEPS:-20000}
pre=$(shim_preload)
"$prog" --module="$ptx" --steps="$steps" >"$tmp/plain" 2>/dev/null || { echo "FAIL: without the shim"; exit 1; }
env LD_PRELOAD="$pre" GRAPHSHIM_WARMUP=2 GRAPHSHIM_MAX_GRAPHS=4 GRAPHSHIM_STATS_FILE="$tmp/st" \
    "$prog" --module="$ptx" --steps="$steps" >"$tmp/shim" 2>"$tmp/err" || { echo "FAIL: under the shim"; exit 1; }
cmp -s "$tmp/plain" "$tmp/shim" || { echo "FAIL: results differ"; exit 1; }
mem=$(sed -n 's/^device memory in use: \([0-9]*\) bytes after 1000 steps, \([0-9]*\) at the end$/\1 \2/p' "$tmp/err")
set -- $mem
[ "$#" = 2 ] || { echo "FAIL: no device memory figures"; exit 1; }
# Allow 64 MiB of driver-side variation; a leak of a graph per step is far more.
[ "$2" -le $(($1 + 64 * 1024 * 1024)) ] || { echo "FAIL: device memory grew from $1 to $2 bytes"; exit 1; }
echo "gpu-churn: $steps steps, same result; device memory $1 -> $2 bytes;" \
    "shim host peak $(stats_get "$tmp/st" totals.host_bytes_peak) bytes, staging peak" \
    "$(stats_get "$tmp/st" totals.staging_bytes_peak); $(stats_get "$tmp/st" totals.graphs_built) graphs built," \
    "$(stats_get "$tmp/st" totals.graphs_evicted) evicted, $(stats_get "$tmp/st" totals.replays) replays"
