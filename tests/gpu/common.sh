# tests/gpu/common.sh: sourced by the GPU test scripts (and by
# tools/run-bench.sh).  It finds the shim, skips the test (exit 77, as
# Automake expects) when the machine has no GPU, and gives the scripts what
# they share: reading a counter from the shim's JSON statistics, the
# LD_PRELOAD value that works for sanitizer builds too, and reading
# key=value fields from a program's output.  POSIX sh; awk and sed only, so
# it runs where the project builds (no python, no jq).
#
# Sourcing it with GS_GPU_OPTIONAL=1 defines everything but does not exit
# when there is no GPU: run-bench.sh then runs its simulated demonstration.
# shellcheck shell=sh

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
SHIM=$top_builddir/src/.libs/libgraphshim.so

# True when nvidia-smi lists at least one GPU ("GPU 0: NVIDIA H100 ...").
gpu_present() {
    command -v nvidia-smi >/dev/null 2>&1 || return 1
    nvidia-smi -L 2>/dev/null | grep -q '^GPU [0-9]'
}

if [ "${GS_GPU_OPTIONAL:-0}" != 1 ] && ! gpu_present; then
    echo "no GPU: skipped"
    exit 77
fi

# stats_get FILE NAME: print the number at the dotted path NAME of the JSON
# object in FILE (e.g. "totals.launches", "calls.cuLaunchKernel.getproc").
# The shim writes one flat-enough object; this walks it token by token so
# whitespace and key order do not matter.  Returns 1 when the path is absent.
stats_get() {
    [ -r "$1" ] || return 1
    awk -v want="$2" '
    { buf = buf $0 "\n" }
    END {
        n = length(buf); depth = 0; expect_key = 0; found = 0
        for (i = 1; i <= n && !found; i++) {
            ch = substr(buf, i, 1)
            if (ch == "{") { depth++; isobj[depth] = 1; key[depth] = ""; expect_key = 1 }
            else if (ch == "[") { depth++; isobj[depth] = 0; key[depth] = 0; expect_key = 0 }
            else if (ch == "}" || ch == "]") { depth--; expect_key = 0 }
            else if (ch == ",") {
                if (isobj[depth]) expect_key = 1; else key[depth]++
            }
            else if (ch == "\"") {
                s = ""
                for (i++; i <= n; i++) {
                    ch = substr(buf, i, 1)
                    if (ch == "\\") { i++; s = s substr(buf, i, 1); continue }
                    if (ch == "\"") break
                    s = s ch
                }
                if (isobj[depth] && expect_key) { key[depth] = s; expect_key = 0 }
            }
            else if (ch ~ /[-0-9]/) {
                v = ch
                while (i < n && substr(buf, i + 1, 1) ~ /[-+0-9.eE]/) { i++; v = v substr(buf, i, 1) }
                path = ""
                for (d = 1; d <= depth; d++) path = path (d > 1 ? "." : "") key[d]
                if (path == want) { print v; found = 1 }
            }
        }
        exit(found ? 0 : 1)
    }' "$1"
}

# field TEXT NAME: the value of the first NAME=value word of TEXT.
field() {
    printf '%s\n' "$1" | awk -v k="$2=" '{
        for (i = 1; i <= NF; i++)
            if (index($i, k) == 1) { print substr($i, length(k) + 1); exit }
    }'
}

# The LD_PRELOAD value for the shim.  A shim built with a sanitizer needs
# the sanitizer's runtime loaded first (and CUDA needs ASan's shadow-gap
# protection off), or the program dies before main.
shim_preload() {
    rt=$(ldd "$SHIM" 2>/dev/null | awk '/lib(asan|tsan)\.so/ { print $3; exit }')
    if [ -n "$rt" ]; then
        printf '%s %s\n' "$rt" "$SHIM"
    else
        printf '%s\n' "$SHIM"
    fi
}
case $(ldd "$SHIM" 2>/dev/null) in
*libasan*)
    ASAN_OPTIONS="protect_shadow_gap=0:detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export ASAN_OPTIONS ;;
esac

# gpu_differential NAME PROGRAM [ARGS...]: the body of a GPU test.  Runs the
# program without the shim, under it in its default mode, and under it in
# passthrough mode with statistics; the stdout of the three runs must be
# identical, and the shim's totals.launches must equal the program's own
# `launches=` count.  Exits: 0 pass, 77 the program found no GPU, 1 failure.
gpu_differential() {
    name=$1
    shift
    if [ ! -f "$SHIM" ]; then
        echo "$name: FAIL: the shim $SHIM is not built"
        exit 1
    fi
    gd_tmp=$(mktemp -d "${TMPDIR:-/tmp}/graphshim-gpu.XXXXXX") || exit 1
    trap 'rm -rf "$gd_tmp"' EXIT
    gd_pre=$(shim_preload)
    gd_to=
    if command -v timeout >/dev/null 2>&1; then
        gd_to="timeout ${GS_GPU_TIMEOUT:-300}"
    fi

    gd_run plain "$@"
    gd_run shim env LD_PRELOAD="$gd_pre" "$@"
    gd_run passthrough env LD_PRELOAD="$gd_pre" GRAPHSHIM_MODE=passthrough \
        GRAPHSHIM_STATS_FILE="$gd_tmp/stats.json" "$@"

    for run in shim passthrough; do
        if ! cmp -s "$gd_tmp/plain.out" "$gd_tmp/$run.out"; then
            echo "$name: FAIL: output under the shim ($run) differs from the output without it:"
            diff -u "$gd_tmp/plain.out" "$gd_tmp/$run.out" | sed 's/^/  /'
            exit 1
        fi
    done
    echo "$name: compared stdout without the shim, with LD_PRELOAD=libgraphshim.so (default mode)"
    echo "$name: and with GRAPHSHIM_MODE=passthrough: identical:"
    sed 's/^/  /' "$gd_tmp/plain.out"

    want=$(field "$(cat "$gd_tmp/plain.out")" launches)
    if [ -z "$want" ]; then
        echo "$name: FAIL: the program printed no launches= count"
        exit 1
    fi
    if ! got=$(stats_get "$gd_tmp/stats.json" totals.launches); then
        echo "$name: FAIL: no totals.launches in the shim's statistics file (GRAPHSHIM_STATS_FILE):"
        sed 's/^/  /' "$gd_tmp/stats.json" 2>/dev/null || echo "  (file not written)"
        exit 1
    fi
    if [ "$got" != "$want" ]; then
        echo "$name: FAIL: the shim counted totals.launches=$got, the program issued launches=$want"
        exit 1
    fi
    echo "$name: compared launches: program $want, shim totals.launches $got: equal"
}

# gd_run LABEL COMMAND...: run one variant, stdout and stderr kept apart.
gd_run() {
    gd_label=$1
    shift
    # shellcheck disable=SC2086  # gd_to is a command prefix or empty
    $gd_to "$@" >"$gd_tmp/$gd_label.out" 2>"$gd_tmp/$gd_label.err"
    gd_rc=$?
    if [ "$gd_rc" -eq 77 ] && [ "$gd_label" = plain ]; then
        cat "$gd_tmp/plain.out"
        echo "$name: the program found no usable GPU: skipped"
        exit 77
    fi
    # Linked with -lcuda, a program cannot report a missing driver library
    # itself: the loader fails first.
    if [ "$gd_rc" -eq 127 ] && [ "$gd_label" = plain ] &&
        grep -q 'libcuda\.so\.1' "$gd_tmp/plain.err"; then
        echo "$name: libcuda.so.1 cannot be loaded (no driver installed): skipped"
        exit 77
    fi
    if [ "$gd_rc" -ne 0 ]; then
        gd_why=
        [ "$gd_rc" -eq 124 ] && [ -n "$gd_to" ] && gd_why=" (timed out)"
        echo "$name: FAIL: run '$gd_label' exited with status $gd_rc$gd_why; its stderr:"
        tail -n 30 "$gd_tmp/$gd_label.err" | sed 's/^/  /'
        exit 1
    fi
}

# gpu_need NAME FILE...: skip (exit 77) unless every FILE was built (the GPU
# programs are built only when configure found nvcc); then make $tmp, a
# scratch directory removed at exit.
gpu_need() {
    gn_name=$1
    shift
    for gn_f in "$@"; do
        if [ ! -e "$gn_f" ]; then
            echo "$gn_name: $gn_f not built (nvcc not found?): skipped"
            exit 77
        fi
    done
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$gn_name.XXXXXX") || exit 1
    trap 'rm -rf "$tmp"' EXIT
}
