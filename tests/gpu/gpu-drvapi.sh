#!/bin/sh
# tests/gpu/gpu-drvapi.sh: the driver-API program (gpu_drvapi, linked with
# -lcuda, kernels loaded from PTX) must print the same result with and
# without the shim, and the shim must count exactly the launches it made.
# Skips (77) without a GPU or when nvcc was not found at configure time.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_drvapi
ptx=$top_builddir/tests/gpu/drv_kernels.ptx
if [ ! -x "$prog" ] || [ ! -f "$ptx" ]; then
    echo "gpu-drvapi: $prog or $ptx not built (nvcc not found?): skipped"
    exit 77
fi
gpu_differential gpu-drvapi "$prog" "$ptx"
