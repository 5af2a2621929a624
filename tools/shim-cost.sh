#!/bin/sh
# shim-cost.sh: what the shim adds per intercepted call. Runs tools/callcost
# without the shim, under it in passthrough mode and in the default mode,
# alternating several times, and prints the medians and the differences.
# On the simulated driver unless a GPU is present.
set -eu
top_builddir="${top_builddir:-$(pwd)}"
SHIM="$top_builddir/src/.libs/libgraphshim.so"
PROG="$top_builddir/tools/callcost"
if ! nvidia-smi -L >/dev/null 2>&1; then
    export LD_LIBRARY_PATH="$top_builddir/tests/simcuda/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    where="simulated driver"
else
    where="GPU"
fi
rounds=${ROUNDS:-5}
: >/tmp/gs-cost.$$
i=0
while [ $i -lt $rounds ]; do
    echo "plain $("$PROG" "$@")" >>/tmp/gs-cost.$$
    echo "pass $(env LD_PRELOAD="$SHIM" GRAPHSHIM_MODE=passthrough "$PROG" "$@")" >>/tmp/gs-cost.$$
    echo "replay $(env LD_PRELOAD="$SHIM" "$PROG" "$@")" >>/tmp/gs-cost.$$
    i=$((i + 1))
done
awk -v where="$where" '
function med(arr, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
    return arr[int((n + 1) / 2)]
}
{
    mode = $1; n[mode]++
    for (f = 2; f <= NF; f++) if (split($f, kv, "=") == 2 && kv[1] ~ /_ns$/) v[mode, kv[1], n[mode]] = kv[2] + 0
}
END {
    printf "shim cost per call on the %s (ns, median of %d runs)\n", where, n["plain"]
    printf "  %-10s %10s %10s %10s %12s %12s\n", "call", "plain", "passthru", "replay", "added(pass)", "added(repl)"
    split("query_ns launch_ns memset_ns held_ns", ks, " ")
    for (k = 1; k <= 4; k++) {
        for (m = 1; m <= n["plain"]; m++) { a[m] = v["plain", ks[k], m]; b[m] = v["pass", ks[k], m]; c[m] = v["replay", ks[k], m] }
        p = med(a, n["plain"]); q = med(b, n["pass"]); r = med(c, n["replay"])
        name = ks[k]; sub(/_ns/, "", name)
        printf "  %-10s %10.1f %10.1f %10.1f %12.1f %12.1f\n", name, p, q, r, q - p, r - p
    }
}' /tmp/gs-cost.$$
rm -f /tmp/gs-cost.$$
