#!/bin/sh
# tests/gpu/gpu-fuzz.sh: the differential fuzzer on a real GPU: GPU_FUZZ_COUNT
# (default 1000) seeded random programs of tests/e2e/prog_fuzz.c (the
# extended generator: programmatic dependent launches of the _gds kernels,
# launch attributes, per-thread default streams, forks to other streams,
# host functions, timing, a second thread), a fifth as many of the
# classic generator and a fifth with two adjacent ops now and then the
# other way round (--swaps), built against the real driver with the PTX of
# fuzz_kernels.cu (compute_90), run twice without the shim (the GPU's own
# scheduling must not change a result), under it, and under it with chunks
# of 5 ops; every program must print the same hash. Seeds marked "known" in
# tests/e2e/fuzz-regressions.txt (shim bugs not fixed yet) are left out and
# then run alone under the shim, to report whether they fail on the GPU too.
# Skips (77) without a GPU or without nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_fuzz
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-fuzz "$prog" "$ptx"
count=${GPU_FUZZ_COUNT:-1000}
classic=$((count / 5))
known=$(sed -n 's/#.*//; s/^ *known  *\([0-9][0-9]*\).*/\1/p' "$top_srcdir/tests/e2e/fuzz-regressions.txt" |
    tr '\n' ',' | sed 's/,$//')
# Extended program 703 races on a GPU by itself: without the shim, beside
# other GPU work, it gave two results in 25 runs (12 and 13; H200, driver
# 580, 2026-12-02); simcuda orders something the GPU does not. Left out
# until its generator is mended.
racy=703
skip=--skip=${known:+$known,}$racy
pre=$(shim_preload)
for gen in extended classic swaps; do
    case $gen in
    classic) n=$classic args=--classic ;;
    swaps) n=$classic args="--swaps $skip" ;;
    *) n=$count args=$skip ;;
    esac
    # shellcheck disable=SC2086
    "$prog" --module="$ptx" --first=1 --count="$n" $args >"$tmp/plain" || { echo "FAIL: $gen, without the shim"; exit 1; }
    # shellcheck disable=SC2086
    "$prog" --module="$ptx" --first=1 --count="$n" $args >"$tmp/again" || { echo "FAIL: $gen, without the shim, again"; exit 1; }
    if ! cmp -s "$tmp/plain" "$tmp/again"; then
        seed=$(diff "$tmp/plain" "$tmp/again" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1)
        # Alone, again: how often it differs says a race of the program's
        # from a one-off (seen once, extended seed 703, beside other GPU
        # tests; 200 runs alone and 6 runs of all 1,000 then agreed).
        # shellcheck disable=SC2086
        alone=$(for i in 1 2 3 4 5 6 7 8 9 10; do
            "$prog" --module="$ptx" --first="$seed" --count=1 $args
            echo
        done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
        echo "FAIL: $gen seed $seed differs between two runs without the shim: the program has a race" \
            "(ten runs of it alone: $alone)"
        exit 1
    fi
    for chunk in 64 5; do
        # shellcheck disable=SC2086
        env LD_PRELOAD="$pre" GRAPHSHIM_CHUNK_OPS=$chunk GRAPHSHIM_STATS_FILE="$tmp/st" \
            "$prog" --module="$ptx" --first=1 --count="$n" $args >"$tmp/shim" ||
            { echo "FAIL: $gen, under the shim (chunks of $chunk), after $(wc -l <"$tmp/shim") programs"; exit 1; }
        if ! cmp -s "$tmp/plain" "$tmp/shim"; then
            seed=$(diff "$tmp/plain" "$tmp/shim" | sed -n 's/^< \([0-9]*\) .*/\1/p' | head -1)
            echo "FAIL: $gen seed $seed differs under the shim (chunks of $chunk)"
            exit 1
        fi
        echo "gpu-fuzz: $n $gen programs identical under the shim (chunks of $chunk);" \
            "$(stats_get "$tmp/st" totals.ops_replayed) of $(stats_get "$tmp/st" totals.ops) ops replayed"
    done
done
# The known failures, one by one: reported, not counted.
for seed in $(echo "$known" | tr ',' ' '); do
    "$prog" --module="$ptx" --first="$seed" --count=1 >"$tmp/k.plain" 2>&1
    env LD_PRELOAD="$pre" "$prog" --module="$ptx" --first="$seed" --count=1 >"$tmp/k.shim" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && cmp -s "$tmp/k.plain" "$tmp/k.shim"; then
        echo "gpu-fuzz: known failure $seed passes on the GPU"
    else
        echo "gpu-fuzz: known failure $seed fails on the GPU too (exit $rc): $(tail -1 "$tmp/k.shim")"
    fi
done
