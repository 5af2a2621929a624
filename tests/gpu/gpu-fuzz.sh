#!/bin/sh
# tests/gpu/gpu-fuzz.sh: the differential fuzzer on a real GPU: GPU_FUZZ_COUNT
# (default 1000) seeded random programs of tests/e2e/prog_fuzz.c, built
# against the real driver with the PTX of fuzz_kernels.cu, run without the
# shim, under it, and under it with chunks of 5 ops; every program must
# print the same hash. Skips (77) without a GPU or without nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_fuzz
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-fuzz "$prog" "$ptx"
count=${GPU_FUZZ_COUNT:-1000}
pre=$(shim_preload)
"$prog" --module="$ptx" --first=1 --count="$count" >"$tmp/plain" || { echo "FAIL: without the shim"; exit 1; }
for chunk in 64 5; do
    env LD_PRELOAD="$pre" GRAPHSHIM_CHUNK_OPS=$chunk GRAPHSHIM_STATS_FILE="$tmp/st" \
        "$prog" --module="$ptx" --first=1 --count="$count" >"$tmp/shim" ||
        { echo "FAIL: under the shim (chunks of $chunk)"; exit 1; }
    if ! cmp -s "$tmp/plain" "$tmp/shim"; then
        seed=$(diff "$tmp/plain" "$tmp/shim" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1)
        echo "FAIL: seed $seed differs under the shim (chunks of $chunk)"
        exit 1
    fi
    echo "gpu-fuzz: $count programs identical under the shim (chunks of $chunk);" \
        "$(stats_get "$tmp/st" totals.ops_replayed) of $(stats_get "$tmp/st" totals.ops) ops replayed"
done
