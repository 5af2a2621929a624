#!/bin/sh
# sim_variants.sh: tools/sim-decode's option sets (--pdl, --per-thread,
# --streams=N, --host-func and combinations) on the simulated driver, each
# eager, eager under the shim and captured by hand (also under the shim, which
# must stand aside during the program's capture). For every run:
# - the checksum and state are the default's (the options change how a step
#   is issued, never what it computes);
# - the shim counts exactly the launches the program says it made;
# - eager and eager under the shim execute the same work: the same commands
#   per stream in the same order for one stream; with side streams the same
#   multiset of commands (a graph the shim launches for a fork/join step runs
#   its side-stream nodes on the main stream's ordinal);
# - each option visibly takes effect in the trace (kernels on the per-thread
#   stream, N streams, one host function per step, the GDS twins), so a
#   variant that silently fell back to the default would fail.
# --pdl needs simcuda's GDS twins (sim_X_gds); a simcuda without them makes
# those sets skip, said in the output.
. "${top_srcdir:-.}/tests/env.sh"
P="$top_builddir/tools/sim-decode"
T=24
base="--tokens=$T --layers=3"
strip() { sed 's/ tokens\/s=[^ ]*//' "$1"; }
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$1"; }

run_sim "$P" $base >"$TMP/ref" || fail "default run"
want=$(field "$TMP/ref" checksum)/$(field "$TMP/ref" state)

pdl_ok=1
if ! run_sim "$P" --pdl --tokens=1 --layers=1 >/dev/null 2>"$TMP/pdl.err"; then
    grep -q "GDS twins" "$TMP/pdl.err" || fail "--pdl: $(cat "$TMP/pdl.err")"
    pdl_ok=0
    echo "note: this simcuda has no GDS twins (sim_X_gds): the --pdl sets are skipped"
fi

# Event records are left out of the comparison: the shim records events of
# its own, and the program's records that a later record of the same event
# in the step supersedes are seen by nothing and run no node (src/dag.c).
# sorted_per_stream TRACE: per stream ordinal, its commands in order.
per_stream() { grep -v ' event record ' "$1" | sort -s -k1,1n; }
# multiset TRACE: the commands without stream ordinals, sorted.
multiset() { grep -v ' event record ' "$1" | cut -d' ' -f2- | sort; }

for opts in "" "--pdl" "--per-thread" "--streams=2" "--streams=3" "--host-func" \
    "--pdl --per-thread --streams=2 --host-func" "--per-thread --streams=3 --host-func --irregular=5" \
    "--pdl --streams=3 --irregular=4"; do
    case " $opts " in *" --pdl "*) [ "$pdl_ok" = 1 ] || continue ;; esac
    for mode in eager graph; do
        a="--mode=$mode $base $opts"
        rm -f "$TMP/t.plain" "$TMP/t.shim"
        run_sim SIMCUDA_TRACE="$TMP/t.plain" "$P" $a >"$TMP/plain" || fail "without the shim ($a)"
        run_shim SIMCUDA_TRACE="$TMP/t.shim" GRAPHSHIM_STATS_FILE="$TMP/s.json" "$P" $a >"$TMP/shim" ||
            fail "under the shim ($a)"
        [ "$(strip "$TMP/plain")" = "$(strip "$TMP/shim")" ] ||
            fail "($a) output differs under the shim: $(strip "$TMP/plain") / $(strip "$TMP/shim")"
        got=$(field "$TMP/plain" checksum)/$(field "$TMP/plain" state)
        expect_eq "($a) checksum/state against the default" "$got" "$want"
        expect_eq "($a) shim launches" "$(stats_get "$TMP/s.json" totals.launches)" \
            "$(field "$TMP/plain" launches_total)"
        if [ "$mode" = eager ]; then
            case " $opts " in
            *" --streams="[23]*)
                multiset "$TMP/t.plain" >"$TMP/a"; multiset "$TMP/t.shim" >"$TMP/b" ;;
            *)  per_stream "$TMP/t.plain" >"$TMP/a"; per_stream "$TMP/t.shim" >"$TMP/b" ;;
            esac
            cmp -s "$TMP/a" "$TMP/b" || { diff "$TMP/a" "$TMP/b" | head -5; fail "($a) execution trace differs"; }
        fi
        # The options must show in what the device executed.
        tr=$TMP/t.plain
        case " $opts " in *" --per-thread "*)
            [ "$(awk '$2 == "kernel" && $1 == -1' "$tr" | wc -l)" -gt 0 ] ||
                fail "($a) no kernel ran on the per-thread stream" ;;
        esac
        case " $opts " in *" --host-func "*)
            expect_eq "($a) host functions executed" "$(grep -c ' host fn ' "$tr")" "$T" ;;
        *)  expect_eq "($a) host functions executed" "$(grep -c ' host fn ' "$tr")" 0 ;;
        esac
        case " $opts " in *" --pdl "*)
            [ "$(grep ' kernel ' "$tr" | grep -vc '_gds ')" = 0 ] || fail "($a) a kernel that is not a GDS twin ran" ;;
        *)  [ "$(grep -c '_gds ' "$tr")" = 0 ] || fail "($a) a GDS twin ran without --pdl" ;;
        esac
        if [ "$mode" = eager ]; then
            replayed=$(stats_get "$TMP/s.json" totals.ops_replayed)
            n=$(echo " $opts " | sed -n 's/.* --streams=\([0-9]\) .*/\1/p')
            [ -n "$n" ] || n=1
            k=$(awk '$2 == "kernel" && $1 != 0 { print $1 }' "$tr" | sort -u | wc -l)
            expect_eq "($a) streams that ran kernels" "$k" "$n"
        fi
    done
    pass "sim-decode $opts: eager, eager under the shim, graph, graph under the shim:" \
        "checksum/state $got, launches counted, traces equal" \
        "(eager under the shim: $replayed ops replayed through graphs)"
done
