# tests/env.sh: sourced by the shell tests. Paths to what the build made, how
# to preload the shim (after the sanitizer runtime in sanitizer builds), how
# to run a program on the simulated driver, and small assertion helpers.
# Automake's test harness exports top_srcdir and top_builddir.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
SHIM="$top_builddir/src/.libs/libgraphshim.so"
SIMDIR="$top_builddir/tests/simcuda/.libs"
E2E="$top_builddir/tests/e2e"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/gs-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# In sanitizer builds every program is instrumented, and the runtime must be
# the first object loaded: name it before the shim.
PRELOAD="$SHIM"
case "${GS_SANITIZER_KIND:-none}" in
address) PRELOAD="$(${CC:-cc} -print-file-name=libasan.so):$SHIM"
         export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" ;;
thread)  PRELOAD="$(${CC:-cc} -print-file-name=libtsan.so):$SHIM" ;;
esac

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# run_sim [VAR=value ...] program args...: on the simulated driver, no shim.
run_sim() { env LD_LIBRARY_PATH="$SIMDIR" "$@"; }
# run_shim [VAR=value ...] program args...: on the simulated driver, shim
# preloaded. The payoff rule (GRAPHSHIM_PAYOFF) judges templates by measured
# times, which on the simulated driver say nothing of a GPU and vary from run
# to run: the tests switch it off, except tests/e2e/payoff.sh, which gives
# the simulated driver a GPU's kind of costs and passes GRAPHSHIM_PAYOFF=1.
run_shim() { env LD_LIBRARY_PATH="$SIMDIR" LD_PRELOAD="$PRELOAD" GRAPHSHIM_PAYOFF=0 "$@"; }

# stats_get FILE KEY: a number from the shim's JSON stats. KEY is
# totals.NAME or FUNCTION.PATH (e.g. cuLaunchKernel.getproc); 0 if absent.
stats_get() {
    awk -v key="$2" '
    BEGIN { n = split(key, k, "."); }
    {
        if (k[1] == "totals") pat = "\"" k[2] "\":[0-9]+";
        else pat = "\"" k[1] "\":\\{[^}]*\"" k[2] "\":[0-9]+";
        if (match($0, pat)) {
            s = substr($0, RSTART, RLENGTH); sub(/.*:/, "", s); print s; found = 1; exit
        }
    }
    END { if (!found) print 0 }' "$1"
}

# expect_eq WHAT GOT WANT
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }

# Execution traces (SIMCUDA_TRACE). simcuda runs independent work in a
# seeded random order, so the global order of a trace's lines varies; each
# stream's own lines keep the program's order (for a program whose streams
# are each deterministic). Per-thread default streams have ordinals -1, -2,
# ... by first use in their context; the legacy stream is 0.
# trace_by_stream FILE: the lines grouped by stream ordinal, each stream's
# in their order (a stable sort on the first field).
trace_by_stream() { LC_ALL=C sort -s -k1,1 "$1"; }
# trace_same A B: every stream ordinal's subsequence of lines is identical.
trace_same() {
    trace_by_stream "$1" >"$TMP/trace.a"
    trace_by_stream "$2" >"$TMP/trace.b"
    cmp -s "$TMP/trace.a" "$TMP/trace.b"
}
# trace_same_work A B: for graphs that span streams (a graph traces all its
# nodes on the stream it was launched on): the same lines as a multiset,
# stream ordinals removed.
trace_same_work() {
    cut -d' ' -f2- "$1" | LC_ALL=C sort >"$TMP/work.a"
    cut -d' ' -f2- "$2" | LC_ALL=C sort >"$TMP/work.b"
    cmp -s "$TMP/work.a" "$TMP/work.b"
}
# trace_diff A B: the first differences, stream by stream (after trace_same).
trace_diff() { diff "$TMP/trace.a" "$TMP/trace.b" | head -"${3:-6}" >&2; }
