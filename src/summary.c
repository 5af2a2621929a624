/* summary.c: the exit summary, findings first, and the advice it gives.
 *
 * A user who preloads the shim asks three things: is it working, how much
 * did it save, and if it saved little, what in their program stops it. The
 * summary answers them in that order, in a few lines: the share of ops
 * replayed and the graphs in use; the driver time saved, estimated from
 * costs measured in the same process; and when the share is low, the most
 * frequent step-breakers, each with its count, the call or attribute, the
 * program function that made it, and what to do about it. The tables of
 * the earlier summary (calls by function and path, every counter) and the
 * whole breakdown follow only at GRAPHSHIM_STATS=verbose (or
 * GRAPHSHIM_LOG=debug). The line "replayed through graphs: ..." keeps its
 * wording: scripts read it.
 */
#include "config.h"
#include "gs.h"
#include "fmt.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const path_names[GS_PATH_COUNT] = {"direct", "dlsym", "getproc"};

#define TOP_REASONS 3      /* listed when the share is low */
#define VERBOSE_REASONS 64 /* listed at verbose */

bool gs_share_is_low(void)
{
    unsigned long long ops = gs_counter(GS_CTR_ops);
    return ops > 0 && (double)gs_counter(GS_CTR_ops_replayed) < GS_LOW_SHARE * (double)ops;
}

unsigned long long gs_graphs_in_use(void)
{
    unsigned long long b = gs_counter(GS_CTR_graphs_built), e = gs_counter(GS_CTR_graphs_evicted);
    return b > e ? b - e : 0;
}

/* ---------------------------------------------------------------- advice */

/* Barriers by the name of the call, first match wins. */
static const struct {
    const char *pattern;
    const char *advice;
} barrier_advice[] = {
    {"cuStreamBeginCapture*", "the program captures a graph of its own: the shim stands "
     "aside for it; nothing to do"},
    {"cuStreamEndCapture*", "the program captures a graph of its own: nothing to do"},
    {"cuGraph*", "the program launches or edits graphs of its own: those steps are "
     "graphs already; nothing to do"},
    {"cu*Synchronize*", "the program waits for the GPU here. One wait per step is normal "
     "(it ends the step); a wait in the middle cuts the step in two: move it to the end of "
     "the step, or wait on an event recorded there"},
    {"cu*Query*", "the program polls the GPU here; a poll in the middle of a step cuts it: "
     "poll once per step, at its end"},
    {"cuMemcpy*Async*", "an asynchronous copy the shim cannot hold (see the copy's own "
     "reason): copy between device memory and page-locked host memory"},
    {"cuMemcpy*", "a synchronous copy waits for the GPU: use the Async form "
     "(cudaMemcpyAsync) on the step's stream, with page-locked host memory"},
    {"cuMemset*Async*", "an asynchronous memset the shim cannot hold: report it"},
    {"cuMemset*", "a synchronous memset waits for the GPU: use the Async form on the "
     "step's stream"},
    {"cuEventRecord*", "an event record the shim could not graph (a driver without graph "
     "event nodes): update the driver, or report it"},
    {"cuStreamWaitEvent*", "a stream waits for an event recorded in a step it cannot join "
     "(the legacy or a per-thread default stream, a blocking stream and a step begun on the "
     "legacy stream, a stream whose own step others joined, more than 8 streams, or another "
     "context): fork and join on ordinary non-blocking streams"},
    {"cuLaunchHostFunc*", "a host function the program was seen waiting for ends its step "
     "(every one, with GRAPHSHIM_HOST_WAIT=0): here that cut a held step, or left one "
     "shorter than GRAPHSHIM_MIN_OPS; a host function at the end of the step costs nothing"},
    {"cuStreamAddCallback*", "a stream callback inside the step: this version does not "
     "graph it; move it out of the step, or report it"},
    {"cuMemFree*", "memory is freed inside the loop: allocate before the loop, or use a "
     "caching allocator or pool that does not free every step"},
    {"cuMemAlloc*", "memory is allocated inside the loop: allocate before the loop, or use "
     "a caching allocator"},
    {"cuMemHost*", "page-locked memory is registered or freed inside the loop: do it once, "
     "before the loop"},
    {"cuMem*", "virtual memory is mapped, unmapped or a pool trimmed inside the loop: do "
     "it before the loop"},
    {"cuModule*", "modules are loaded or unloaded inside the loop (JIT compilation?): load "
     "them once at start-up"},
    {"cuLibrary*", "libraries are loaded or unloaded inside the loop: load them once at "
     "start-up"},
    {"cuStreamWriteValue*", "stream memory operations are barriers in this version: report "
     "it if it happens every step"},
    {"cuStreamWaitValue*", "stream memory operations are barriers in this version: report "
     "it if it happens every step"},
    {"cuStreamBatchMemOp*", "stream memory operations are barriers in this version: report "
     "it if it happens every step"},
    {"cuLaunchCooperativeKernel*", "cooperative launches are barriers (a limitation): "
     "report it"},
    {"cuStreamDestroy*", "streams are destroyed inside the loop: create them once"},
    {"cuEventDestroy*", "events are destroyed inside the loop: the shim defers the destroy "
     "while it names the event; creating them once saves the driver calls"},
    {"cuCtx*", "a context call inside the loop orders all work: move it out of the loop"},
};

const char *gs_breaker_advice(gs_breaker_t why, const char *detail)
{
    switch (why) {
    case GS_BRK_barrier:
        for (size_t i = 0; detail && i < sizeof barrier_advice / sizeof barrier_advice[0]; i++)
            if (fnmatch(barrier_advice[i].pattern, detail, 0) == 0)
                return barrier_advice[i].advice;
        return "a call that orders work cuts the step here: if it runs in the middle of "
               "every step, move it out of the step; if it cannot move, report it";
    case GS_BRK_attribute:
        if (detail && (strstr(detail, "PROGRAMMATIC_EVENT") ||
                       strstr(detail, "LAUNCH_COMPLETION_EVENT")))
            return "a kernel that triggers an event before it completes: the shim graphs "
                   "PDL on one stream (programmatic stream serialization) but runs these "
                   "launches eagerly, and they cut the step; where the program can, use "
                   "programmatic stream serialization instead";
        if (detail && strstr(detail, "COOPERATIVE"))
            return "cooperative launches are not graphed (a limitation): report it";
        return "a launch attribute this version does not graph: report it with the "
               "attribute's name";
    case GS_BRK_denied:
        return "a kernel on the deny list (NCCL's by default, and GRAPHSHIM_DENY_KERNELS): "
               "its steps run eagerly by design; take the pattern out of "
               "GRAPHSHIM_DENY_KERNELS if you added it";
    case GS_BRK_layout:
        return "the driver did not give the kernel's parameter layout (cuFuncGetParamInfo, "
               "cuKernelGetParamInfo: drivers of CUDA 12.4 or newer): update the driver, "
               "or report it";
    case GS_BRK_args:
        return "the kernel's arguments came in a form the shim cannot copy (an `extra` "
               "buffer without its size, or of another size than the layout): pass them "
               "as kernelParams, or report it";
    case GS_BRK_pageable:
        return "a copy the shim cannot hold: into or from pageable memory (the program may "
               "touch it as soon as the call returns; use cudaHostAlloc or "
               "cudaHostRegister), or a host-to-device copy larger than "
               "GRAPHSHIM_STAGING_MAX (raise it)";
    case GS_BRK_legacy:
        return "work on the legacy default stream synchronises with every blocking stream: "
               "give the loop a stream of its own created with CU_STREAM_NON_BLOCKING, or "
               "use the per-thread default stream";
    case GS_BRK_stream:
        return "ops on another stream in the middle of a step: this version graphs a step "
               "on one stream (steps across streams are issue 10); keep the step on one "
               "stream, or report it";
    case GS_BRK_event:
        return "an event the step cannot follow (recorded before the step, or waited for "
               "by another stream): report it with this summary";
    case GS_BRK_staging:
        return "the next step's host-to-device copies came while the last replay could "
               "still read their staging, or its merged host functions came while 32 "
               "replays' callbacks were pending; if it happens often, report it";
    case GS_BRK_full:
        return "steps longer than GRAPHSHIM_MAX_OPS: raise it (up to 65536)";
    case GS_BRK_mismatch:
        return "the step differs between occurrences (another kernel, block size, shared "
               "memory or attribute), and only steps that repeat are graphed: if a few "
               "variants alternate, raise GRAPHSHIM_MAX_GRAPHS; a step that keeps changing "
               "by design runs eagerly";
    case GS_BRK_capture:
        return "the program captures graphs of its own: the shim stands aside while it "
               "does; nothing to do";
    case GS_BRK_hostwait:
        return "the program waited for a host function's callback (as JAX does for each "
               "value it reads back) while the shim held it: the shim issued it after "
               "GRAPHSHIM_HOST_WAIT microseconds and ends the step at that host function "
               "from then on; a few times is the shim learning, many times means the "
               "callbacks waited for keep changing: set GRAPHSHIM_HOST_WAIT=0";
    case GS_BRK_failed:
        return "a graph call failed (see the warning above): run with GRAPHSHIM_LOG=debug "
               "and report it";
    case GS_BRK_COUNT:
        break;
    }
    return "report it";
}

/* ---------------------------------------------------------------- format */

/* "once", "twice", "N times". */
static const char *times(unsigned long long n, char *buf, size_t len)
{
    if (n == 1)
        return "once";
    if (n == 2)
        return "twice";
    snprintf(buf, len, "%llu times", n);
    return buf;
}

static void out_frame(gs_out_t *o, const gs_frame_t *f)
{
    if (f->sym[0] != '\0')
        gs_out_printf(o, "%s (%s)", f->sym, gs_base_name(f->lib));
    else
        gs_out_printf(o, "%s+%#llx", gs_base_name(f->lib), (unsigned long long)f->offset);
}

/* Returns true when a frame had no name (the caller adds the hint). */
static bool out_callers(gs_out_t *o, const gs_breaker_info_t *b, unsigned max)
{
    bool unnamed = false;
    for (unsigned c = 0; c < b->ncallers && c < max; c++) {
        const gs_caller_t *k = &b->callers[c];
        gs_out_printf(o, "       called from ");
        for (unsigned f = 0; f < k->depth; f++) {
            if (f > 0)
                gs_out_printf(o, " <- ");
            out_frame(o, &k->chain[f]);
            unnamed |= k->chain[f].sym[0] == '\0';
        }
        if (b->ncallers > 1)
            gs_out_printf(o, " (%u of the %u sampled)", k->hits,
                          b->count < GS_BREAKER_SAMPLES ? (unsigned)b->count
                                                        : GS_BREAKER_SAMPLES);
        gs_out_printf(o, "\n");
    }
    if (b->ncallers == 0)
        gs_out_printf(o, "       caller not found (no program frame outside the driver, "
                      "the runtime and the shim)\n");
    return unnamed;
}

static void out_reason(gs_out_t *o, unsigned rank, const gs_breaker_info_t *b,
                       unsigned max_callers, bool *unnamed)
{
    char buf[64];
    const char *name = gs_breaker_detail_name(b->why, b->detail, buf, sizeof buf);
    unsigned long long steps, ops;
    gs_diag_steps_by_reason(GS_STEP_EAGER, b->why, &steps, &ops);
    char t[32];
    gs_out_printf(o, "    %u. %s%s%s: %s", rank, gs_breaker_name(b->why), name ? " " : "",
                  name ? name : "", times(b->count, t, sizeof t));
    if (steps > 0)
        gs_out_printf(o, " (steps cut by %s: %llu, %llu ops eager)", gs_breaker_name(b->why),
                      steps, ops);
    gs_out_printf(o, "\n");
    *unnamed |= out_callers(o, b, max_callers);
    gs_out_printf(o, "       what to do: %s\n", gs_breaker_advice(b->why, name));
}

/* The engine's divergence counters, for runs whose engine recorded no
 * step-breakers (one that does not call gs_breaker yet). */
static const struct {
    gs_counter_t ctr;
    gs_breaker_t why;
} div_map[] = {
    {GS_CTR_div_mismatch, GS_BRK_mismatch}, {GS_CTR_div_barrier, GS_BRK_barrier},
    {GS_CTR_div_stream, GS_BRK_stream},     {GS_CTR_div_staging, GS_BRK_staging},
    {GS_CTR_div_full, GS_BRK_full},         {GS_CTR_fb_build, GS_BRK_failed},
    {GS_CTR_fb_patch, GS_BRK_failed},       {GS_CTR_fb_launch, GS_BRK_failed},
};

static void out_divergences(gs_out_t *o)
{
    unsigned rank = 0;
    for (size_t i = 0; i < sizeof div_map / sizeof div_map[0]; i++) {
        unsigned long long n = gs_counter(div_map[i].ctr);
        if (n == 0)
            continue;
        char t[32];
        gs_out_printf(o, "    %u. %s: %s (%s)\n       what to do: %s\n", ++rank,
                      gs_breaker_name(div_map[i].why), times(n, t, sizeof t),
                      gs_counter_docs[div_map[i].ctr], gs_breaker_advice(div_map[i].why, NULL));
    }
    if (rank == 0)
        gs_out_printf(o, "    nothing cut a held step: the eager ops ran while steps were "
                      "learned (a step is graphed once it has occurred GRAPHSHIM_WARMUP "
                      "times), or in steps that did not repeat, were shorter than "
                      "GRAPHSHIM_MIN_OPS, or were barriers\n");
}

/* ---------------------------------------------------------------- findings */

static void out_saving(gs_out_t *o)
{
    gs_saving_t sv;
    gs_costs_t c;
    char a[32], b[32], d[32], e[32];
    gs_diag_costs(&c);
    if (!gs_diag_saving(gs_counter(GS_CTR_ops_replayed), gs_counter(GS_CTR_ops_replayed_events),
                        &sv)) {
        gs_out_printf(o, "  driver time saved: not measured in this run (the engine "
                      "reported no %s timings)\n", c.eager.n == 0 ? "eager launch" : "graph launch");
        return;
    }
    gs_out_printf(o, "  driver time saved (estimate): %s = %llu ops replayed x %s (mean of "
                  "%llu timed eager ops), ", gs_fmt_ns(sv.saved_ns, a, sizeof a),
                  sv.ops_replayed - sv.ev_replayed, gs_fmt_ns(sv.eager_ns_per_op, b, sizeof b),
                  c.eager.n);
    if (sv.ev_replayed > 0)
        gs_out_printf(o, "and %llu event calls x %s (mean of %llu timed), ", sv.ev_replayed,
                      gs_fmt_ns(sv.eager_ev_ns_per_op, b, sizeof b), c.eager_ev.n);
    gs_out_printf(o, "less %s in %llu graph launches and patches, ",
                  gs_fmt_ns(sv.graph_ns, d, sizeof d), c.graph.n);
    if (c.hold.n > 0)
        gs_out_printf(o, "less %s holding %llu ops\n", gs_fmt_ns(sv.hold_ns, e, sizeof e),
                      sv.ops_held);
    else
        gs_out_printf(o, "holding ops not timed\n");
}

static void out_findings(gs_out_t *o, bool verbose)
{
    unsigned long long ops = gs_counter(GS_CTR_ops), rep = gs_counter(GS_CTR_ops_replayed);
    unsigned long long steps = gs_counter(GS_CTR_replays);
    gs_out_printf(o, "  replayed through graphs: %llu of %llu ops (%.1f%%); %llu steps "
                  "whole in %llu graph launches, %.1f nodes patched per step\n", rep, ops,
                  ops ? 100.0 * (double)rep / (double)ops : 0.0, steps,
                  gs_counter(GS_CTR_graph_launches),
                  steps ? (double)gs_counter(GS_CTR_nodes_patched) / (double)steps : 0.0);
    gs_out_printf(o, "  graphs in use: %llu (built %llu, evicted %llu; templates formed %llu)\n",
                  gs_graphs_in_use(), gs_counter(GS_CTR_graphs_built),
                  gs_counter(GS_CTR_graphs_evicted), gs_counter(GS_CTR_templates));
    unsigned long long cut = gs_counter(GS_CTR_retired_cut);
    if (gs_counter(GS_CTR_retired) > cut)
        gs_out_printf(o, "  templates retired: %llu did not pay (a replay cost more than its ops "
                      "eagerly; GRAPHSHIM_PAYOFF=0 keeps them)\n", gs_counter(GS_CTR_retired) - cut);
    if (cut > 0)
        gs_out_printf(o, "  templates retired: %llu cut short %u times in a row (the steps changed: "
                      "they now end earlier; GRAPHSHIM_PAYOFF=0 keeps them)\n", cut, GS_CUT_MAX);
    if (gs_counter(GS_CTR_stepped_aside) > 0)
        gs_out_printf(o, "  the engine stepped aside after %u templates were retired: the replays "
                      "until then had saved nothing, so every later call went straight to the "
                      "driver (GRAPHSHIM_PAYOFF=0 keeps it graphing)\n", GS_ASIDE_RETIRED);
    out_saving(o);

    if (gs_opt.mode == GS_MODE_PASSTHROUGH) {
        gs_out_printf(o, "  mode passthrough: calls were only counted; GRAPHSHIM_MODE=replay "
                      "graphs repeating steps\n");
        return;
    }
    if (gs_opt.mode == GS_MODE_OBSERVE)
        gs_out_printf(o, "  mode observe: %llu templates learned (logged at "
                      "GRAPHSHIM_LOG=info); nothing is replayed in this mode\n",
                      gs_counter(GS_CTR_templates));
    if (ops == 0) {
        gs_out_printf(o, "  no kernel launches, async copies or memsets were seen: the "
                      "program made none, or reaches the driver by a path the shim does not "
                      "intercept (calls by path: GRAPHSHIM_STATS=verbose)\n");
        return;
    }
    unsigned long long passed = gs_counter(GS_CTR_ops_passed);
    if (passed > 0)
        gs_out_printf(o, "  %llu ops passed through untouched (the program's own captures, "
                      "or the engine turned off or stepped aside)\n", passed);
    unsigned long long fb = gs_counter(GS_CTR_fb_build) + gs_counter(GS_CTR_fb_patch) +
                            gs_counter(GS_CTR_fb_launch);
    if (fb > 0)
        gs_out_printf(o, "  %llu graph calls failed (see the warnings above); those steps "
                      "ran eagerly\n", fb);

    static gs_breaker_info_t top[VERBOSE_REASONS];
    size_t n = gs_diag_breakers(top, VERBOSE_REASONS);
    bool low = gs_share_is_low();
    if (!low && !verbose) {
        if (n > 0)
            gs_out_printf(o, "  working: most ops went through graphs; %zu kind%s of "
                          "step-breaker remain%s (GRAPHSHIM_STATS=verbose lists them)\n", n,
                          n == 1 ? "" : "s", n == 1 ? "s" : "");
        else
            gs_out_printf(o, "  working: most ops went through graphs\n");
        return;
    }
    double eager = 100.0 * (double)(ops - gs_counter(GS_CTR_ops_replayed)) / (double)ops;
    if (n == 0 && low) {
        gs_out_printf(o, "  %.1f%% of ops ran eagerly; the engine recorded no step-breakers "
                      "with callers; what it counted:\n", eager);
        out_divergences(o);
        return;
    }
    if (n == 0)
        return;
    unsigned show = verbose ? VERBOSE_REASONS : TOP_REASONS;
    if (low)
        gs_out_printf(o, "  %.1f%% of ops ran eagerly; what stopped more, most frequent "
                      "first (%zu kind%s of step-breaker):\n", eager, n, n == 1 ? "" : "s");
    else
        gs_out_printf(o, "  step-breakers, most frequent first (%zu kind%s):\n", n,
                      n == 1 ? "" : "s");
    bool unnamed = false;
    for (size_t i = 0; i < n && i < show; i++)
        out_reason(o, (unsigned)i + 1, &top[i], verbose ? GS_BREAKER_SAMPLES : 1, &unnamed);
    if (n > show)
        gs_out_printf(o, "    ... and %zu more (GRAPHSHIM_STATS=verbose)\n", n - show);
    if (unnamed)
        gs_out_printf(o, "    (a frame shown as object+offset has no exported name: "
                      "`addr2line -f -e OBJECT OFFSET` names it in a build with symbols)\n");
}

/* ---------------------------------------------------------------- details */

static void out_details(gs_out_t *o)
{
    gs_out_printf(o, "  details:\n  %-36s %12s %12s %12s\n", "function", path_names[0],
                  path_names[1], path_names[2]);
    for (int i = 0; i < GS_HOOK_COUNT; i++) {
        if (gs_calls_of(i, 0) + gs_calls_of(i, 1) + gs_calls_of(i, 2) == 0)
            continue;
        gs_out_printf(o, "  %-36s %12llu %12llu %12llu\n", gs_hooks[i].name,
                      gs_calls_of(i, 0), gs_calls_of(i, 1), gs_calls_of(i, 2));
    }
    for (int c = 0; c < GS_CTR_COUNT; c++)
        gs_out_printf(o, "  %-24s %12llu  %s\n", gs_counter_names[c], gs_counter(c),
                      gs_counter_docs[c]);
    static gs_stream_diag_t st[GS_DIAG_STREAMS + 1];
    size_t n = gs_diag_streams(st, GS_DIAG_STREAMS + 1);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        if (st[i].others)
            snprintf(key, sizeof key, "(others)");
        else
            snprintf(key, sizeof key, "%#llx", (unsigned long long)st[i].key);
        gs_out_printf(o, "  stream %zu %s: steps %llu learning, %llu replayed, %llu eager; "
                      "ops %llu, %llu, %llu\n", i, key, st[i].steps[GS_STEP_LEARNING],
                      st[i].steps[GS_STEP_REPLAYED], st[i].steps[GS_STEP_EAGER],
                      st[i].ops[GS_STEP_LEARNING], st[i].ops[GS_STEP_REPLAYED],
                      st[i].ops[GS_STEP_EAGER]);
    }
    gs_costs_t c;
    gs_diag_costs(&c);
    const struct {
        const char *what;
        const gs_cost_t *cost;
    } costs[] = {{"eager op", &c.eager},
                 {"eager event record, wait or host function", &c.eager_ev},
                 {"held launch", &c.hold},
                 {"held event record, wait or host function", &c.hold_ev},
                 {"graph launch with its patches", &c.graph}};
    for (size_t i = 0; i < sizeof costs / sizeof costs[0]; i++) {
        char a[32], b[32], d[32];
        if (costs[i].cost->n == 0)
            continue;
        gs_out_printf(o, "  cost per %s: median %s, min %s, max %s (%llu timed)\n",
                      costs[i].what, gs_fmt_ns((double)costs[i].cost->median_ns, a, sizeof a),
                      gs_fmt_ns((double)costs[i].cost->min_ns, b, sizeof b),
                      gs_fmt_ns((double)costs[i].cost->max_ns, d, sizeof d), costs[i].cost->n);
    }
}

void gs_summary_write(int fd, bool verbose)
{
    gs_out_t o = {.fd = fd};
    gs_out_printf(&o, "graphshim[%ld]: summary: mode %s, %llu driver calls intercepted\n",
                  (long)getpid(), gs_mode_name(gs_opt.mode), gs_total_calls());
    out_findings(&o, verbose);
    if (verbose)
        out_details(&o);
    else
        gs_out_printf(&o, "  (GRAPHSHIM_STATS=verbose adds calls by function and path, every "
                      "counter and step-breaker, and the streams)\n");
    gs_out_flush(&o);
}
