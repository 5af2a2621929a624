#!/bin/sh
# rtld_next.sh: with the shim preloaded, a library that interposes a symbol
# and calls dlsym(RTLD_NEXT, ...) reaches the next definition, not itself
# (the shim forwards RTLD_NEXT with a tail jump; DESIGN.md section 2).
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_rtld_next"
expect_eq "without the shim" "$("$P")" "gs_next_probe=42"
expect_eq "with the shim" "$(env LD_PRELOAD="$PRELOAD" "$P")" "gs_next_probe=42"
pass "dlsym(RTLD_NEXT) reaches the next definition under the shim"
