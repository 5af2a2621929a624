#!/bin/sh
# paths.sh: the shim intercepts all three paths by which programs reach the
# driver (linked, dlsym, the runtime's cuGetProcAddress) and changes nothing:
# the same program prints the same result with and without it, and the shim
# counts every launch on the path it came by.
. "${top_srcdir:-.}/tests/env.sh"
P="$E2E/prog_paths"

for path in direct dlsym runtime; do
    run_sim "$P" --path=$path >"$TMP/plain.$path" || fail "$path without the shim"
    run_shim GRAPHSHIM_STATS_FILE="$TMP/stats.$path" "$P" --path=$path \
        >"$TMP/shim.$path" || fail "$path under the shim"
    grep -v '^resolver=' "$TMP/plain.$path" >"$TMP/a"
    grep -v '^resolver=' "$TMP/shim.$path" >"$TMP/b"
    cmp -s "$TMP/a" "$TMP/b" || { diff "$TMP/a" "$TMP/b"; fail "$path: output differs"; }
    launches=$(sed -n 's/^launches=//p' "$TMP/plain.$path")
    case $path in
    direct)  counted=$(( $(stats_get "$TMP/stats.$path" cuLaunchKernel.direct) +
                         $(stats_get "$TMP/stats.$path" cuLaunchKernelEx.direct) )) ;;
    dlsym)   counted=$(( $(stats_get "$TMP/stats.$path" cuLaunchKernel.dlsym) +
                         $(stats_get "$TMP/stats.$path" cuLaunchKernelEx.dlsym) )) ;;
    runtime) counted=$(( $(stats_get "$TMP/stats.$path" cuLaunchKernel.getproc) +
                         $(stats_get "$TMP/stats.$path" cuLaunchKernelEx.getproc) )) ;;
    esac
    expect_eq "$path: launches counted on the $path path" "$counted" "$launches"
    expect_eq "$path: totals.launches" "$(stats_get "$TMP/stats.$path" totals.launches)" "$launches"
    grep -q "launch=graphshim" "$TMP/shim.$path" || fail "$path: launch pointer not the shim's"
    grep -q "launch=libcuda" "$TMP/plain.$path" || fail "$path: launch pointer without the shim not libcuda's"
    pass "$path: $launches launches intercepted, output identical"
done
