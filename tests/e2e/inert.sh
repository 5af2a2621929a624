#!/bin/sh
# inert.sh: without a loadable libcuda the shim changes nothing: lookups that
# failed without it fail with it (even for names the shim itself exports),
# and it says once that it is passing everything through.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
    echo "a system libcuda.so.1 is installed: cannot test its absence"; exit 77
fi
"$P" --probe >"$TMP/plain" 2>&1 || fail "probe without the shim"
env LD_PRELOAD="$PRELOAD" GRAPHSHIM_LOG=info "$P" --probe >"$TMP/shim" 2>"$TMP/err" ||
    fail "probe under the shim"
cmp -s "$TMP/plain" "$TMP/shim" || { diff "$TMP/plain" "$TMP/shim"; fail "output differs"; }
grep -q "cuInit): not found" "$TMP/shim" || fail "cuInit found without a driver"
expect_eq "warnings about the missing driver" "$(grep -c 'cannot load libcuda' "$TMP/err")" 1
set +e
env LD_PRELOAD="$PRELOAD" "$P" --path=dlsym >"$TMP/o" 2>&1; rc=$?
set -e
expect_eq "dlsym path without a driver: exit code" "$rc" 3
pass "inert without libcuda: same answers, one warning"
