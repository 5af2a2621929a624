#!/bin/sh
# inert.sh: without a loadable libcuda the shim changes nothing: lookups that
# failed without it fail with it (even cuLaunchKernel, which the preloaded
# shim itself exports), and it says once that it is passing everything through.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_probe"
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    echo "a system libcuda.so.1 is installed: cannot test its absence"; exit 77
fi
"$P" >"$TMP/plain" 2>&1 || fail "probe without the shim"
env LD_PRELOAD="$PRELOAD" GRAPHSHIM_LOG=info "$P" >"$TMP/shim" 2>"$TMP/err" ||
    fail "probe under the shim"
cmp -s "$TMP/plain" "$TMP/shim" || { diff "$TMP/plain" "$TMP/shim"; fail "output differs"; }
grep -q "cuLaunchKernel): not found" "$TMP/shim" || fail "the shim's own cuLaunchKernel was handed out without a driver"
expect_eq "warnings about the missing driver" "$(grep -c 'cannot load libcuda' "$TMP/err")" 1
pass "inert without libcuda: same answers, one warning"
