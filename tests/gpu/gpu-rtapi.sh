#!/bin/sh
# tests/gpu/gpu-rtapi.sh: the runtime-API program (gpu_rtapi, which reaches
# the driver through cuGetProcAddress) must print the same result with and
# without the shim, and the shim must count exactly the launches it made.
# Skips (77) without a GPU or when nvcc was not found at configure time.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_rtapi
if [ ! -x "$prog" ]; then
    echo "gpu-rtapi: $prog not built (nvcc not found?): skipped"
    exit 77
fi
gpu_differential gpu-rtapi "$prog"
