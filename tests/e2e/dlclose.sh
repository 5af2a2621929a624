#!/bin/sh
# dlclose.sh: a program that opens and closes libcuda repeatedly runs the
# same under the shim (which keeps its own reference to the driver, so the
# pointers it handed out stay valid).
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_dlclose"
expect_eq "without the shim" "$(run_sim "$P")" "total=45"
expect_eq "with the shim" "$(run_shim timeout 60 "$P")" "total=45"
pass "dlopen/dlclose of libcuda five times under the shim"
