#!/bin/sh
# launcher.sh: tools/graphshim: --help and --version; one-line errors with
# exit 2 for an unknown flag, a bad value, an unknown option and no program
# (127 for a program that does not exist); flags reach the program as
# GRAPHSHIM_* variables; an LD_PRELOAD the user had is kept in order with
# the shim appended, an old libgraphshim.so in it is replaced in place, and
# the shim is never there twice; --print-config shows every option with its
# value, source, default and meaning, and every option is documented; a
# real program runs under the launcher with identical results.
. "${top_srcdir:-.}/tests/env.sh"
G="$top_builddir/tools/graphshim"
# Whatever must stay first in sanitizer builds (the runtime), as a user's
# own LD_PRELOAD would have it.
SAN=${PRELOAD%"$SHIM"}
SAN=${SAN%:}
lp() { [ -n "$SAN" ] && printf '%s:%s' "$SAN" "$1" || printf '%s' "$1"; }

"$G" --version >"$TMP/out" || fail "--version"
grep -qx "graphshim [0-9.]*" "$TMP/out" || fail "--version printed $(cat "$TMP/out")"
"$G" --help >"$TMP/out" || fail "--help"
for w in --mode --log --stats --dump --set --print-config report; do
    grep -q -- "$w" "$TMP/out" || fail "--help does not mention $w"
done

# err_case WHAT WANT_RC PATTERN launcher-args...: one line on stderr, exit WANT_RC.
err_case() {
    what=$1 want=$2 pat=$3
    shift 3
    rc=0
    env LD_PRELOAD="$SAN" "$G" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
    expect_eq "$what: exit status" "$rc" "$want"
    expect_eq "$what: lines on stderr" "$(wc -l <"$TMP/err")" 1
    grep -q -- "$pat" "$TMP/err" || fail "$what: '$(cat "$TMP/err")' does not say '$pat'"
    [ -s "$TMP/out" ] && fail "$what: wrote to stdout"
    :
}
err_case "unknown flag" 2 "unknown flag --frobnicate" --frobnicate -- true
err_case "bad mode" 2 'invalid value "fast" for GRAPHSHIM_MODE; it accepts replay, observe or passthrough' --mode fast -- true
err_case "bad log level" 2 "GRAPHSHIM_LOG; it accepts error, warn" --log=loud true
err_case "bad --set value" 2 "GRAPHSHIM_WARMUP; it accepts an integer from 2 to 1000" --set WARMUP=1 true
err_case "--set of an unknown option" 2 "unknown option GRAPHSHIM_WARMPU" --set GRAPHSHIM_WARMPU=3 true
err_case "--set without =" 2 "expected VAR=VALUE" --set WARMUP true
err_case "--mode without a value" 2 "--mode needs a value" --mode
err_case "--stats= empty" 2 "--stats=FILE needs a file name" --stats= true
err_case "min above max" 2 "GRAPHSHIM_MIN_OPS exceeds GRAPHSHIM_MAX_OPS" --set MIN_OPS=50 --set MAX_OPS=20 true
err_case "no program" 2 "no program to run" --mode observe
err_case "no program after --" 2 "no program to run" --
err_case "a missing --lib" 2 "--lib: /no/such/lib.so" --lib /no/such/lib.so true
err_case "a program that does not exist" 127 "cannot run /no/such/program" -- /no/such/program
pass "help, version, and one-line errors for bad flags, values, options and programs"

# Flags become the program's GRAPHSHIM_* variables; flags win over the
# environment; the rest of the environment is untouched.
env LD_PRELOAD="$SAN" GRAPHSHIM_WARMUP=4 GRAPHSHIM_CHUNK_OPS=9 KEEP_ME=yes "$G" --mode observe \
    --log=info --stats="$TMP/s.%p.json" --dump "$TMP/dump" --set GRAPHSHIM_WARMUP=5 \
    --set MAX_GRAPHS=7 --verbose -- env >"$TMP/env" || fail "running env"
for kv in GRAPHSHIM_MODE=observe GRAPHSHIM_LOG=info "GRAPHSHIM_STATS_FILE=$TMP/s.%p.json" \
        GRAPHSHIM_STATS=verbose "GRAPHSHIM_DUMP_DIR=$TMP/dump" GRAPHSHIM_WARMUP=5 \
        GRAPHSHIM_MAX_GRAPHS=7 GRAPHSHIM_CHUNK_OPS=9 KEEP_ME=yes; do
    grep -qx "$kv" "$TMP/env" || fail "the program's environment lacks $kv"
done
expect_eq "LD_PRELOAD (none before)" "$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env")" "$(lp "$SHIM")"
pass "flags reach the program as GRAPHSHIM_* variables, over the environment"

# LD_PRELOAD the user had: kept in order, the shim appended.
A="$E2E/.libs/libnext_a.so" B="$E2E/.libs/libnext_b.so"
[ -f "$A" ] && [ -f "$B" ] || fail "the test libraries are not built"
env LD_PRELOAD="$(lp "$A:$B")" "$G" -- env >"$TMP/env" || fail "env with a preload"
expect_eq "LD_PRELOAD kept" "$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env")" "$(lp "$A:$B:$SHIM")"
# Separated by spaces, as ld.so also accepts.
env LD_PRELOAD="$(lp "$A") $B" "$G" -- env >"$TMP/env" || fail "env with a spaced preload"
expect_eq "LD_PRELOAD with spaces" "$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env")" "$(lp "$A:$B:$SHIM")"
# Already the shim: not twice.
env LD_PRELOAD="$(lp "$SHIM")" "$G" -- env >"$TMP/env" || fail "env with the shim preloaded"
expect_eq "LD_PRELOAD with the shim already" "$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env")" "$(lp "$SHIM")"
# Another copy of the shim: replaced where it was, later copies dropped.
mkdir -p "$TMP/old" && cp "$SHIM" "$TMP/old/libgraphshim.so.0"
env LD_PRELOAD="$(lp "$TMP/old/libgraphshim.so.0:$A:$TMP/old/libgraphshim.so.0")" "$G" -- env \
    >"$TMP/env" 2>/dev/null || fail "env with an old shim preloaded"
expect_eq "LD_PRELOAD with an old shim" "$(sed -n 's/^LD_PRELOAD=//p' "$TMP/env")" "$(lp "$SHIM:$A")"
pass "an LD_PRELOAD the user had is kept, the shim is appended once, an old one replaced in place"

# A real program that already had LD_PRELOAD set: both its library and the
# shim are loaded in it, it runs under the shim (the statistics show the
# shim counted its launches), and its results are unchanged.
env LD_PRELOAD="$(lp "$A")" "$G" -- cat /proc/self/maps >"$TMP/maps" || fail "cat under the launcher"
grep -q 'libnext_a.so' "$TMP/maps" || fail "the user's preload is not loaded"
grep -q 'libgraphshim.so' "$TMP/maps" || fail "the shim is not loaded"
run_sim "$E2E/prog_paths" --steps=4 >"$TMP/ref" || fail "reference run"
env LD_LIBRARY_PATH="$SIMDIR" LD_PRELOAD="$(lp "$A")" "$G" --stats="$TMP/st.json" -- \
    "$E2E/prog_paths" --steps=4 >"$TMP/out" 2>"$TMP/err" || fail "prog_paths under the launcher"
grep -v '^resolver=' "$TMP/out" >"$TMP/o1"; grep -v '^resolver=' "$TMP/ref" >"$TMP/o2"
cmp -s "$TMP/o1" "$TMP/o2" || fail "prog_paths' output changed under the launcher"
[ "$(stats_get "$TMP/st.json" totals.launches)" -gt 0 ] || fail "the shim counted no launches"
grep -q '^  replayed through graphs: ' "$TMP/err" || fail "--stats printed no summary"
pass "a program with its own LD_PRELOAD runs under the launcher, results unchanged, the shim counting"

# --print-config: every option, its value, where it came from, the default.
n_opts=$(env LD_PRELOAD="$SAN" "$G" --print-config | grep -c '^GRAPHSHIM_[A-Z_]*=')
[ "$n_opts" -ge 16 ] || fail "--print-config lists $n_opts options"
env LD_PRELOAD="$SAN" GRAPHSHIM_WARMUP=7 GRAPHSHIM_MAX_OPS=abc GRAPHSHIM_WARMPU=3 "$G" \
    --set MAX_GRAPHS=9 --mode observe --print-config >"$TMP/cfg" || fail "--print-config"
check_cfg() { # VAR=VALUE "from ..." pattern
    awk -v kv="$1" 'found { print; exit } $0 == kv { found = 1 }' "$TMP/cfg" | grep -q -- "$2" ||
        fail "--print-config: $1 is not followed by '$2': $(grep -A2 "^$1" "$TMP/cfg")"
}
check_cfg GRAPHSHIM_WARMUP=7 "from environment; default 3; accepts an integer from 2 to 1000"
check_cfg GRAPHSHIM_MAX_GRAPHS=9 "from --set; default 64"
check_cfg GRAPHSHIM_MODE=observe "from --mode; default replay; accepts replay, observe or passthrough"
check_cfg GRAPHSHIM_CHUNK_OPS=128 "from default; default 128"
check_cfg GRAPHSHIM_MAX_OPS=abc "from environment, invalid: the library keeps the default"
check_cfg GRAPHSHIM_WARMPU=3 "not an option of this version"
grep -q "^library: $SHIM (the build tree)" "$TMP/cfg" || fail "--print-config: library: $(head -1 "$TMP/cfg")"
grep -A2 '^GRAPHSHIM_STAGING_MAX=' "$TMP/cfg" | grep -q "largest host-to-device copy" ||
    fail "--print-config gives no meaning"
# A copy outside the build tree does not take the build tree's library.
cp "$G" "$TMP/graphshim"
env LD_PRELOAD="$SAN" "$TMP/graphshim" --print-config | head -1 | grep -q '(installed' ||
    fail "a launcher outside the build tree: $(env LD_PRELOAD="$SAN" "$TMP/graphshim" --print-config | head -1)"
pass "--print-config: $n_opts options with value, source, default, meaning; the build tree's library only from the build tree"

# Every option is documented: README, graphshim(7), and graphshim(1) for
# the launcher's flags.
for var in $(env LD_PRELOAD="$SAN" "$G" --print-config | sed -n 's/^\(GRAPHSHIM_[A-Z_]*\)=.*/\1/p'); do
    grep -q "$var" "$top_srcdir/README.md" || fail "$var is not in README.md"
    grep -q "$var" "$top_srcdir/doc/graphshim.7" || fail "$var is not in doc/graphshim.7"
done
for flag in --mode --log --stats --verbose --dump --set --lib --print-config report --svg; do
    grep -q -- "$(echo "$flag" | sed 's/-/\\\\-/g')" "$top_srcdir/doc/graphshim.1" ||
        fail "graphshim.1 does not document $flag"
done
pass "every option is documented in README.md and graphshim(7), every flag in graphshim(1)"
