#!/bin/sh
# tests/gpu/gpu-multi.sh: two GPUs. One process stepping on both, and two
# processes exchanging data through NCCL inside the step, print the same
# with the shim as without it, and NCCL's kernels are never graphed (the
# shim says so at GRAPHSHIM_LOG=info). Skips (77) without PyTorch or with
# fewer than two GPUs.
. "${top_srcdir:-.}/tests/gpu/common.sh"
py=$top_srcdir/tests/gpu/multi_gpu.py
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.device_count() >= 2 else 77)' 2>/dev/null ||
    { echo "gpu-multi: PyTorch with two GPUs not available: skipped"; exit 77; }
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpu-multi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pre=$(shim_preload)
for what in two-devices nccl; do
    timeout 300 python3 "$py" $what | sort >"$tmp/plain" || { echo "FAIL: $what without the shim"; exit 1; }
    env LD_PRELOAD="$pre" GRAPHSHIM_LOG=info GRAPHSHIM_STATS_FILE="$tmp/st.%p" timeout 300 \
        python3 "$py" $what 2>"$tmp/err" | sort >"$tmp/shim" || { echo "FAIL: $what under the shim"; exit 1; }
    cmp -s "$tmp/plain" "$tmp/shim" || { echo "FAIL: $what: results differ"; cat "$tmp/plain" "$tmp/shim"; exit 1; }
    echo "gpu-multi: $what: same results under the shim: $(tr '\n' ' ' <"$tmp/shim")"
done
grep -q "nccl.*matches the deny list" "$tmp/err" ||
    { echo "FAIL: no NCCL kernel was seen and refused"; exit 1; }
echo "gpu-multi: NCCL kernels refused: $(grep -c 'matches the deny list' "$tmp/err") kernel names"
