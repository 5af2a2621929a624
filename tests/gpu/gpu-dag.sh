#!/bin/sh
# tests/gpu/gpu-dag.sh: the DAG scenarios of tests/e2e/prog_dag.c on a real
# GPU: programmatic dependent launch, launch attributes, per-thread streams
# meeting the legacy stream, fork/join across streams, event pools, a stream
# that never joins back, host functions (one the host waits for), PyTorch's
# side stream (the legacy main stream, events destroyed after each wait),
# timing events (cuEventElapsedTime must succeed every step), waits on
# earlier events. Each runs without the
# shim and under it (default chunks, and chunks of 3) and must print the
# same result; the statistics say how much was replayed. Skips (77) without
# a GPU or nvcc.
. "${top_srcdir:-.}/tests/gpu/common.sh"

prog=$top_builddir/tests/gpu/gpu_dag
ptx=$top_builddir/tests/gpu/fuzz_kernels.ptx
gpu_need gpu-dag "$prog" "$ptx"
pre=$(shim_preload)
status=0
for sc in pdl pdlmix attrs pt ptlegacy streams fan pool noreturn hostfn hostwait jaxwait jaxupload xupload xrace swapsame xorder hostrec slotwait spinquery xrecord leafobs hostobs poolobs sidepre hostjoin torchlike timing extwait; do
    "$prog" "$sc" --module="$ptx" >"$tmp/plain" 2>"$tmp/plain.err" ||
        { echo "FAIL: $sc without the shim: $(tail -2 "$tmp/plain.err")"; status=1; continue; }
    # jaxwait never synchronises: its steps form only once a run of it
    # fills a step (as dag_diff.sh runs it), which the default size never
    # does in its 1,160 ops.
    extra=""
    case $sc in jaxwait|jaxupload|xupload|xrace) extra="GRAPHSHIM_MAX_OPS=256" ;; esac
    for cfg in 64 3 64:0; do
        chunk=${cfg%%:*}
        after=1
        [ "$cfg" = "$chunk" ] || after=${cfg#*:}
        # shellcheck disable=SC2086
        env LD_PRELOAD="$pre" $extra GRAPHSHIM_CHUNK_OPS=$chunk GRAPHSHIM_HOST_AFTER=$after \
            GRAPHSHIM_STATS_FILE="$tmp/st" \
            "$prog" "$sc" --module="$ptx" >"$tmp/shim" 2>"$tmp/shim.err" ||
            { echo "FAIL: $sc under the shim (chunks of $chunk): $(tail -2 "$tmp/shim.err")"; status=1; continue; }
        if ! cmp -s "$tmp/plain" "$tmp/shim"; then
            echo "FAIL: $sc differs under the shim (chunks of $chunk): $(cat "$tmp/plain") / $(cat "$tmp/shim")"
            status=1
            continue
        fi
        # PyTorch's pattern: the driver refused to patch a node whose event
        # the program had destroyed, before the shim deferred destroys.
        fb=$(( $(stats_get "$tmp/st" totals.fb_patch) + $(stats_get "$tmp/st" totals.fb_launch) ))
        if [ "$sc" = torchlike ] && [ "$fb" -gt 0 ]; then
            echo "FAIL: $sc: $fb graph patches or launches failed: $(grep warning "$tmp/shim.err" | head -2)"
            status=1
        fi
        # Host functions run after their graph, and (with host nodes)
        # merged into one host node, must have run on a GPU (chunks of 3
        # ops hold one host function each).
        what=merged
        [ "$after" = 1 ] && what=after
        if [ "$sc" = hostobs ] && [ "$chunk" = 64 ] && [ "$(stats_get "$tmp/st" totals.hostfns_$what)" -eq 0 ]; then
            echo "FAIL: $sc (chunks of $chunk, GRAPHSHIM_HOST_AFTER=$after): no host functions $what"
            status=1
        fi
        echo "gpu-dag: $sc (chunks of $chunk, GRAPHSHIM_HOST_AFTER=$after): identical; $(stats_get "$tmp/st" totals.ops_replayed) of" \
            "$(stats_get "$tmp/st" totals.ops) ops replayed, $(stats_get "$tmp/st" totals.replays) replays," \
            "edges $(stats_get "$tmp/st" totals.edges_full) full / $(stats_get "$tmp/st" totals.edges_programmatic) programmatic," \
            "host functions $(stats_get "$tmp/st" totals.hostfns_merged) merged, $(stats_get "$tmp/st" totals.hostfns_after) after the graph," \
            "$(stats_get "$tmp/st" totals.ops_reordered) ops matched swapped"
    done
done
grep -q "elapsed_ok=40" "$tmp/shim" 2>/dev/null || true
exit $status
