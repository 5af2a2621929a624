/*
 * tools/decode-bench.cu: a native LLM decode loop written against the CUDA
 * runtime API, the workload graphshim exists for.  This file holds the
 * options, the generation loop, the hand-captured graph, the state digest
 * and main(); the kernels and the model are in decode-bench-kernels.cu and
 * decode-bench-model.cu (decode-bench.h says what lives where).
 *
 * Each generated token is one "step": L transformer layers of 35 small
 * kernels each (rmsnorm, q/k/v GEMVs, rope, KV-cache write, attention whose
 * grid grows with the position, output projection, MLP, residual adds) plus
 * 7 kernels of embedding, final norm, LM head, argmax and next-token update,
 * then one 4-byte device-to-host copy of the token into page-locked memory
 * and a stream synchronisation.  With the defaults that is 287 launches of
 * microseconds of work each, so a step is bound by launch overhead: the case
 * where replaying the step as a CUDA graph pays.
 *
 * --mode=eager launches every kernel one by one, passing the position by
 * value and sizing the attention grids to p+1 blocks, as native engines do.
 * The runtime reaches the driver through cuGetProcAddress, the path the shim
 * must intercept.  --mode=graph is the hand-written ceiling for the same
 * kernels: the step is captured once with the position read from device
 * memory and attention grids sized to the KV capacity (blocks past the
 * position exit at once), then replayed with cudaGraphLaunch.
 *
 * Both modes run the very same kernel binaries: every position-dependent
 * kernel takes (int p_val, const int *p_ptr) and uses *p_ptr when it is not
 * NULL.  Reductions have a fixed order and there are no float atomics, so
 * eager, graph, and eager under the shim must print the same checksum (sum
 * of the generated tokens) and state (FNV-1a 64 of the KV cache, the hidden
 * state and the token/position words), run after run.
 *
 * Four options change how a step is issued, never what it computes, so
 * every combination prints the default's checksum and state, in both modes:
 *
 *   --pdl         every kernel is launched with cudaLaunchKernelEx and
 *                 PROGRAMMATIC_STREAM_SERIALIZATION = 1 (programmatic
 *                 dependent launch); the kernels wait with
 *                 cudaGridDependencySynchronize() before touching memory, in
 *                 every mode (see decode-bench-kernels.cu).  The graph mode
 *                 captures these launches: its graph has programmatic edges.
 *   --per-thread  the decode runs on cudaStreamPerThread.
 *   --streams=N   N-1 side streams (1 or 2), forked from the main stream by
 *                 an event after each layer's input norm, compute K and V
 *                 (projection, bias, rope, KV-cache write) while the main
 *                 stream computes Q, and are joined back by events before
 *                 attention; the capture has the same fork/join shape.
 *   --host-func   each step ends with cudaLaunchHostFunc (before the token
 *                 readback) of a callback counting steps; the program dies
 *                 unless the count equals the steps run.  Captured, it is a
 *                 host node.
 *
 * They all combine; --no-check is refused with --pdl, where it could not
 * skip anything, and --pdl on a GPU older than compute capability 9.0.
 *
 * stdout carries exactly one line, the result, with the options in force;
 * --verbose adds on stderr per-repetition lines and, in graph mode, the
 * captured graph's nodes and edges by type.  launches_total counts
 * every kernel launch the process issued (<<<>>> or cudaLaunchKernelEx:
 * setup, warmup, capture and all repetitions) so a test can compare it with
 * the shim's own counters.
 */
#include "decode-bench.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

/* ------------------------------------------------------------------ checks */

void db_check(cudaError_t e, const char *what, const char *file, int line)
{
    if (e != cudaSuccess) {
        fprintf(stderr, "decode-bench: %s:%d: %s failed: %s (%s)\n", file, line, what,
                cudaGetErrorName(e), cudaGetErrorString(e));
        exit(1);
    }
}

void db_die(const char *msg)
{
    fprintf(stderr, "decode-bench: %s\n", msg);
    exit(1);
}

/* ------------------------------------------------------------ options */

struct options {
    int graph, layers, hidden, tokens, warmup, reps, irregular, vocab, verbose;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: decode-bench [--mode=eager|graph] [--layers=L] [--hidden=H]\n"
            "       [--tokens=T] [--warmup=W] [--reps=R] [--irregular=K]\n"
            "       [--vocab=V] [--check|--no-check] [--verbose]\n"
            "       [--pdl] [--per-thread] [--streams=N] [--host-func]\n"
            "  --mode=eager    every kernel launched one by one (default)\n"
            "  --mode=graph    the step captured once and replayed (the ceiling)\n"
            "  --layers=8 --hidden=512 (multiple of %d) --tokens=256 --warmup=16\n"
            "  --reps=5        repetitions, each from the same initial state\n"
            "  --irregular=K   every K-th step launches one extra kernel (0: never)\n"
            "  --vocab=4096    vocabulary of the LM head\n"
            "  --no-check      skip cudaGetLastError after each <<<>>> launch\n"
            "  --verbose       per-repetition lines, and the captured graph's nodes and\n"
            "                  edges by type, on stderr\n"
            "  --pdl           programmatic dependent launch: cudaLaunchKernelEx with\n"
            "                  PROGRAMMATIC_STREAM_SERIALIZATION=1 (needs sm_90)\n"
            "  --per-thread    the decode on the per-thread default stream\n"
            "  --streams=N     1 (default) to 3: N-1 side streams, forked and joined by\n"
            "                  events in every layer, compute K and V\n"
            "  --host-func     a cudaLaunchHostFunc step counter before each readback\n"
            "All combinations are valid, in both modes, except --no-check with --pdl.\n",
            HD);
}

/* Parses --name=N into *out within [lo, hi]; 0 when arg is not --name=. */
static int int_opt(const char *arg, const char *name, int lo, int hi, int *out)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return 0;
    char *end;
    long v = strtol(arg + n + 1, &end, 10);
    if (end == arg + n + 1 || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "decode-bench: %s: expected an integer in [%d, %d]\n", arg, lo, hi);
        exit(2);
    }
    *out = (int)v;
    return 1;
}

static void parse_options(int argc, char **argv, options &o)
{
    o = {0, 8, 512, 256, 16, 5, 0, 4096, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--mode=eager"))
            o.graph = 0;
        else if (!strcmp(a, "--mode=graph"))
            o.graph = 1;
        else if (!strcmp(a, "--check"))
            g_lo.check = 1;
        else if (!strcmp(a, "--no-check"))
            g_lo.check = 0;
        else if (!strcmp(a, "--pdl"))
            g_lo.pdl = 1;
        else if (!strcmp(a, "--per-thread"))
            g_lo.per_thread = 1;
        else if (!strcmp(a, "--host-func"))
            g_lo.host_func = 1;
        else if (!strcmp(a, "--verbose"))
            o.verbose = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!int_opt(a, "--layers", 1, 1024, &o.layers) &&
                   !int_opt(a, "--hidden", HD, 16384, &o.hidden) &&
                   !int_opt(a, "--tokens", 1, 1 << 16, &o.tokens) &&
                   !int_opt(a, "--warmup", 0, 1 << 16, &o.warmup) &&
                   !int_opt(a, "--reps", 1, 1000, &o.reps) &&
                   !int_opt(a, "--irregular", 0, INT_MAX, &o.irregular) &&
                   !int_opt(a, "--vocab", 2, 1 << 24, &o.vocab) &&
                   !int_opt(a, "--streams", 1, 3, &g_lo.streams)) {
            fprintf(stderr, "decode-bench: unknown option '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (o.hidden % HD != 0) {
        fprintf(stderr, "decode-bench: --hidden must be a multiple of %d\n", HD);
        exit(2);
    }
    /* cudaLaunchKernelEx returns its launch error, which is always checked:
     * --no-check would promise a saving it cannot make. */
    if (g_lo.pdl && !g_lo.check) {
        fprintf(stderr, "decode-bench: --no-check has no effect with --pdl (cudaLaunchKernelEx "
                        "returns its error, which is always checked); drop one of them\n");
        exit(2);
    }
}

/* ---------------------------------------------------------- generation */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct runner {
    const model *M;
    const options *o;
    cudaGraphExec_t exec; /* NULL in eager mode */
    unsigned long long kpt; /* launches per regular step */
};

/* Steps run by generate(), the figure the --host-func counter must reach. */
static unsigned long long g_steps_run;

/* Dies unless the host callback ran exactly once per step run so far.  Every
 * step ends with a synchronisation of the main stream, which waits for the
 * callback too, so the count is complete when this is called. */
static void check_host_steps(void)
{
    unsigned long long got = __atomic_load_n(&g_host_steps, __ATOMIC_ACQUIRE);
    if (g_lo.host_func && got != g_steps_run) {
        fprintf(stderr, "decode-bench: the host callback ran %llu times in %llu steps\n", got,
                g_steps_run);
        exit(1);
    }
}

/* Generates n tokens from the initial state; returns their sum and sets
 * *secs to the wall time of the steps alone.  The launch count of every step
 * is checked against kpt, so the printed figure is the one really issued. */
static unsigned long long generate(const runner &r, int n, double *secs)
{
    const model &M = *r.M;
    unsigned long long sum = 0;
    reset_state(M);
    double t0 = now_s();
    for (int s = 0; s < n; s++) {
        int irr = (r.o->irregular > 0 && (s + 1) % r.o->irregular == 0) ? s : -1;
        unsigned long long before = g_launches;
        if (r.exec) {
            /* The extra kernel cannot join the graph; issuing it beside the
             * replay keeps the graph mode's work equal to eager's. */
            if (irr >= 0)
                LAUNCH(k_scratch, blocks_for(M.H), TPB, M.scratch, M.x, irr, M.H);
            CK(cudaGraphLaunch(r.exec, g_stream));
        } else {
            enqueue_step(M, s, NULL, (unsigned)s + 1, irr);
            enqueue_step_end(M);
        }
        CK(cudaStreamSynchronize(g_stream));
        g_steps_run++;
        unsigned long long want = (r.exec ? 0 : r.kpt) + (irr >= 0 ? 1 : 0);
        if (g_launches - before != want)
            db_die("internal error: a step issued an unexpected number of launches");
        sum += (unsigned long long)*M.tok_host;
    }
    *secs = now_s() - t0;
    check_host_steps();
    return sum;
}

/* --verbose, graph mode: what the capture made of the step, on stderr (the
 * shim builds its own graph of the same launches and should match it):
 * nodes by type, edges by type.  A programmatic edge is what capture makes
 * of a --pdl launch after a kernel. */
static void describe_graph(cudaGraph_t graph)
{
    size_t nn = 0, ne = 0;
    CK(cudaGraphGetNodes(graph, NULL, &nn));
    CK(cudaGraphGetEdges(graph, NULL, NULL, NULL, &ne));
    cudaGraphNode_t *nodes = (cudaGraphNode_t *)calloc(nn + 2 * ne + 1, sizeof *nodes);
    cudaGraphEdgeData *data = (cudaGraphEdgeData *)calloc(ne + 1, sizeof *data);
    if (!nodes || !data)
        db_die("out of host memory");
    CK(cudaGraphGetNodes(graph, nodes, &nn));
    unsigned long kinds[4] = {0, 0, 0, 0}; /* kernel, memcpy, host, other */
    for (size_t i = 0; i < nn; i++) {
        cudaGraphNodeType t;
        CK(cudaGraphNodeGetType(nodes[i], &t));
        kinds[t == cudaGraphNodeTypeKernel ? 0 : t == cudaGraphNodeTypeMemcpy ? 1
              : t == cudaGraphNodeTypeHost ? 2 : 3]++;
    }
    CK(cudaGraphGetEdges(graph, nodes + nn, nodes + nn + ne, data, &ne));
    unsigned long prog = 0;
    for (size_t i = 0; i < ne; i++)
        prog += data[i].type == cudaGraphDependencyTypeProgrammatic;
    fprintf(stderr, "decode-bench: captured graph: %zu nodes (%lu kernel, %lu memcpy, %lu host, "
            "%lu other), %zu edges (%lu programmatic, %lu full)\n", nn, kinds[0], kinds[1],
            kinds[2], kinds[3], ne, prog, (unsigned long)ne - prog);
    free(nodes);
    free(data);
}

/* Captures one step, position read from device memory and attention grids
 * sized to the capacity, host callback and readback included; returns the
 * launches captured.  The side streams join the capture through the fork
 * event and leave it through the join events, so the graph has the same
 * fork/join shape as the eager step; --pdl launches become kernel nodes with
 * programmatic edges, the callback a host node. */
static unsigned long long capture_step(const model &M, cudaGraphExec_t *exec, int verbose)
{
    cudaGraph_t graph;
    unsigned long long before = g_launches;
    CK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
    enqueue_step(M, 0, M.ctl + 1, (unsigned)M.cap, -1);
    enqueue_step_end(M);
    CK(cudaStreamEndCapture(g_stream, &graph));
    if (verbose)
        describe_graph(graph);
    CK(cudaGraphInstantiate(exec, graph, 0));
    CK(cudaGraphDestroy(graph));
    CK(cudaGraphUpload(*exec, g_stream));
    CK(cudaStreamSynchronize(g_stream));
    return g_launches - before;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* FNV-1a 64 of KV cache, hidden state and token/position, after a rep. */
static uint64_t state_hash(const model &M, int tokens)
{
    size_t kv = (size_t)M.L * M.cap * M.H * sizeof(float);
    unsigned char *buf = (unsigned char *)malloc(kv);
    if (!buf)
        db_die("out of host memory");
    uint64_t h = 0xcbf29ce484222325ull;
    int ctl[2];
    const struct { const void *src; size_t n; } parts[] = {
        {M.kc, kv}, {M.vc, kv}, {M.x, (size_t)M.H * sizeof(float)}, {M.ctl, sizeof ctl}};
    for (const auto &part : parts) {
        CK(cudaMemcpyAsync(buf, part.src, part.n, cudaMemcpyDeviceToHost, g_stream));
        CK(cudaStreamSynchronize(g_stream));
        h = fnv1a(h, buf, part.n);
    }
    memcpy(ctl, buf, sizeof ctl);
    free(buf);
    if (ctl[1] != tokens)
        db_die("internal error: the device position does not match the steps run");
    return h;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    options o;
    parse_options(argc, argv, o);

    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        fprintf(stderr, "decode-bench: no usable CUDA device (%s)\n",
                e != cudaSuccess ? cudaGetErrorName(e) : "device count is 0");
        return 1;
    }
    CK(cudaSetDevice(0));
    if (g_lo.pdl) {
        int major = 0, minor = 0;
        CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
        CK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
        if (major < 9) {
            fprintf(stderr, "decode-bench: --pdl needs compute capability 9.0 or newer; "
                            "device 0 is %d.%d\n", major, minor);
            return 2;
        }
    }
    streams_init();

    model M;
    memset(&M, 0, sizeof M);
    /* One capacity for warmup and reps: both start at position 0. */
    model_init(M, o.layers, o.hidden, o.vocab, o.tokens > o.warmup ? o.tokens : o.warmup);

    runner r = {&M, &o, NULL, (unsigned long long)PER_LAYER * o.layers + PER_STEP};
    double secs;
    if (o.graph) {
        /* One eager step first, so that lazy module loading happens
         * outside the capture. */
        generate(r, 1, &secs);
        if (capture_step(M, &r.exec, o.verbose) != r.kpt)
            db_die("internal error: the captured step has an unexpected launch count");
    }
    if (o.warmup > 0)
        generate(r, o.warmup, &secs);

    double *tps = (double *)malloc((size_t)o.reps * sizeof(double));
    if (!tps)
        db_die("out of host memory");
    unsigned long long checksum = 0;
    for (int i = 0; i < o.reps; i++) {
        unsigned long long sum = generate(r, o.tokens, &secs);
        tps[i] = (double)o.tokens / secs;
        if (o.verbose)
            fprintf(stderr, "decode-bench: rep %d: %.1f tokens/s checksum=%llu\n", i, tps[i], sum);
        if (i > 0 && sum != checksum)
            db_die("repetitions generated different tokens: kernels are not deterministic");
        checksum = sum;
    }
    uint64_t state = state_hash(M, o.tokens);

    qsort(tps, (size_t)o.reps, sizeof(double), cmp_double);
    double median = (o.reps % 2) ? tps[o.reps / 2]
                                 : 0.5 * (tps[o.reps / 2 - 1] + tps[o.reps / 2]);
    check_host_steps();
    char irr[32] = "";
    if (o.irregular > 0)
        snprintf(irr, sizeof irr, " irregular=%d", o.irregular);
    printf("decode-bench mode=%s layers=%d hidden=%d tokens=%d%s pdl=%d per_thread=%d "
           "streams=%d host_func=%d kernels_per_token=%llu "
           "tokens/s=%.1f min=%.1f max=%.1f us_per_token=%.2f checksum=%llu "
           "state=%016llx launches_total=%llu\n",
           o.graph ? "graph" : "eager", o.layers, o.hidden, o.tokens, irr, g_lo.pdl,
           g_lo.per_thread, g_lo.streams, g_lo.host_func, r.kpt, median,
           tps[0], tps[o.reps - 1], 1e6 / median, checksum, (unsigned long long)state,
           g_launches);
    fflush(stdout);

    free(tps);
    if (r.exec)
        CK(cudaGraphExecDestroy(r.exec));
    model_free(M);
    streams_free();
    return 0;
}
