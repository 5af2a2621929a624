/* gs.h: the private header of libgraphshim, grouped by the source file that
 * implements each part (as mimalloc's internal header is).
 *
 * cuda.h is included with __CUDA_API_VERSION_INTERNAL so that it declares
 * every exported variant of every function (cuLaunchKernel and
 * cuLaunchKernel_ptsz, cuMemcpyHtoDAsync_v2 and the legacy 32-bit
 * cuMemcpyHtoDAsync) under its own name with its true prototype; the shim
 * defines functions of exactly those names, so the compiler checks each one.
 */
#ifndef GS_H
#define GS_H

#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_EXPORT __attribute__((visibility("default")))
#define GS_HIDDEN __attribute__((visibility("hidden")))
#define GS_LIKELY(x) __builtin_expect(!!(x), 1)
#define GS_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Initial-exec TLS: no __tls_get_addr call (which may allocate) on first use
 * in a thread, so thread-locals are safe inside dlsym and malloc hooks. */
#define GS_TLS __thread __attribute__((tls_model("initial-exec")))
#define GS_NO_STREAM ((CUstream)0)
/* For code that runs inside dlsym before a sanitizer runtime has finished
 * its own start-up (which itself calls dlsym): no instrumentation there. */
#define GS_NO_SANITIZE __attribute__((no_sanitize("address", "undefined", "thread")))

/* ------------------------------------------------------------ hooks.def */

typedef enum {
    GS_CLASS_LAUNCH,
    GS_CLASS_LAUNCH_EX,
    GS_CLASS_HTOD,
    GS_CLASS_DTOH,
    GS_CLASS_DTOD,
    GS_CLASS_COPY,
    GS_CLASS_MEMSET8,
    GS_CLASS_MEMSET16,
    GS_CLASS_MEMSET32,
    GS_CLASS_EVREC,
    GS_CLASS_EVRECF,
    GS_CLASS_EVWAIT,
    GS_CLASS_HOSTFN,
    GS_CLASS_SBAR,
    GS_CLASS_EVHOST,
    GS_CLASS_BAR,
    GS_CLASS_QUERY,
    GS_CLASS_EVCREATE,
    GS_CLASS_GETPROC,
    GS_CLASS_COUNT
} gs_class_t;

/* Ops are the classes before SBAR: what the engine may hold and graph. */
static inline bool gs_class_is_op(gs_class_t c) { return c < GS_CLASS_SBAR; }
static inline bool gs_class_is_barrier(gs_class_t c)
{
    return c == GS_CLASS_SBAR || c == GS_CLASS_EVHOST || c == GS_CLASS_BAR;
}

/* How a program obtained the function it called. */
typedef enum {
    GS_PATH_DIRECT,  /* bound to the exported symbol at load time */
    GS_PATH_DLSYM,   /* pointer returned by dlsym */
    GS_PATH_GETPROC, /* pointer returned by cuGetProcAddress */
    GS_PATH_COUNT
} gs_path_t;

/* Function ids: first every hooked function, then functions the shim calls
 * but does not hook (reals.def). gs_real_fn[] is indexed by the same ids. */
typedef enum {
#define GS_HOOK(name, cls, since, strm, params, args) GS_ID_##name,
#include "hooks.def"
#undef GS_HOOK
    GS_HOOK_COUNT,
    GS_REAL_FIRST = GS_HOOK_COUNT - 1,
#define GS_REAL_FN(name) GS_ID_##name,
#include "reals.def"
#undef GS_REAL_FN
    GS_FN_COUNT
} gs_fn_id_t;

/* What the interposition layer knows of each hooked function. */
typedef struct {
    const char *name;    /* exact exported name */
    gs_class_t cls;
    int since;           /* cudaVersion from which `base` resolves here */
    void *fn[GS_PATH_COUNT]; /* wrapper handed out on each path */
} gs_hook_t;

/* ------------------------------------------------------------ wrappers.c */

extern GS_HIDDEN const gs_hook_t gs_hooks[GS_HOOK_COUNT];
extern GS_HIDDEN const char *const gs_fn_names[GS_FN_COUNT];
const char *gs_class_name(gs_class_t c);

/* ----------------------------------------------------------- interpose.c */

/* Real driver entry points by id; NULL where the driver lacks one. Written
 * once during initialisation, read-only afterwards. */
extern GS_HIDDEN void *gs_real_fn[GS_FN_COUNT];
/* ------------------------------------------------------------- submit.c */

/* A graph launch is in flight outside the engine lock, and the calling
 * thread's own queued launches: every driver call that submits or waits
 * comes after both (submit.c says why). */
extern GS_HIDDEN atomic_bool gs_sub_inflight;
extern GS_HIDDEN __thread unsigned gs_sub_mine __attribute__((tls_model("initial-exec")));
void gs_sub_sync_slow(void);
static inline void gs_sub_sync(void)
{
    if (GS_UNLIKELY(gs_sub_mine != 0 ||
                    atomic_load_explicit(&gs_sub_inflight, memory_order_acquire)))
        gs_sub_sync_slow();
}
/* The real function `id`, once what the engine decided before is out. */
static inline void *gs_real_sync(unsigned id)
{
    gs_sub_sync();
    return gs_real_fn[id];
}
/* Typed access to a real function: GS_REAL(cuLaunchKernel)(f, ...). */
#define GS_REAL(name) ((__typeof__(&name))gs_real_sync(GS_ID_##name))
/* The same without the wait, for calls that neither submit nor wait. */
#define GS_REAL_NOW(name) ((__typeof__(&name))gs_real_fn[GS_ID_##name])

/* Derived from the exact names at start-up: the name cuGetProcAddress is
 * asked for (no _vN, _ptsz, _ptds), and whether stream 0 means the calling
 * thread's per-thread stream (_ptsz/_ptds variants). */
extern GS_HIDDEN char gs_hook_base[GS_HOOK_COUNT][48];
extern GS_HIDDEN bool gs_hook_per_thread[GS_HOOK_COUNT];

/* Set (release) once the real table is complete. */
extern GS_HIDDEN atomic_int gs_ready;
/* Nesting depth of the calling thread inside the shim: wrappers entered
 * from within the driver or the shim itself forward without side effects. */
extern GS_HIDDEN GS_TLS int gs_depth;
/* True when libcuda could not be loaded: every hook forwards or fails as the
 * program would have seen without the shim. */
extern GS_HIDDEN bool gs_inert;

void gs_init(void);
static inline void gs_ensure_init(void)
{
    if (GS_UNLIKELY(!atomic_load_explicit(&gs_ready, memory_order_acquire)))
        gs_init();
}
/* Called when a hooked function has no real counterpart. */
CUresult gs_missing(gs_fn_id_t id);

CUresult gs_getproc_v1(const char *symbol, void **pfn, int ver, cuuint64_t flags);
CUresult gs_getproc_v2(const char *symbol, void **pfn, int ver, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status);
/* The hooked function a cuGetProcAddress(symbol, ver, flags) request maps
 * to when the driver's pointer has no exported name; -1 if none. */
int gs_hook_for_request(const char *symbol, int ver, cuuint64_t flags);
/* The hooked function with this exact exported name; -1 if none. */
int gs_hook_by_name(const char *name);
/* Would this looked-up name be one of the driver's (cu[A-Z]...)? Also runs
 * inside dlsym while a sanitizer runtime starts: not instrumented. */
GS_NO_SANITIZE static inline bool gs_is_driver_name(const char *name)
{
    return name != NULL && name[0] == 'c' && name[1] == 'u' && name[2] >= 'A' &&
           name[2] <= 'Z';
}

/* ------------------------------------------------------------- options.c */

/* The option table, its types and parsers (shared with the launcher). */
#include "options.h"

extern GS_HIDDEN gs_options_t gs_opt;
/* Reads every GRAPHSHIM_* variable once; a bad value warns and keeps the
 * default. Safe to call again (it re-reads; used by the unit tests). */
void gs_options_init(void);
/* Prints every option and its value at debug level. */
void gs_options_log(void);

/* ----------------------------------------------------------------- log.c */

/* The level is checked before any formatting happens. */
#define GS_LOG(level, ...)                                                   \
    do {                                                                     \
        if (GS_UNLIKELY((int)(level) <= (int)gs_opt.log))                    \
            gs_log((level), __VA_ARGS__);                                    \
    } while (0)
#define GS_ERROR(...) GS_LOG(GS_LOG_ERROR, __VA_ARGS__)
#define GS_WARN(...) GS_LOG(GS_LOG_WARN, __VA_ARGS__)
#define GS_INFO(...) GS_LOG(GS_LOG_INFO, __VA_ARGS__)
#define GS_DEBUG(...) GS_LOG(GS_LOG_DEBUG, __VA_ARGS__)
/* Logs at most once per call site for the life of the process. */
#define GS_LOG_ONCE(level, ...)                                              \
    do {                                                                     \
        static atomic_flag gs_once_ = ATOMIC_FLAG_INIT;                      \
        if ((int)(level) <= (int)gs_opt.log &&                               \
            !atomic_flag_test_and_set(&gs_once_))                            \
            gs_log((level), __VA_ARGS__);                                    \
    } while (0)

/* Like GS_LOG, for messages that may come once per step or per op (the
 * engine's per-step decisions at debug): past GRAPHSHIM_LOG_LIMIT lines
 * below warn, a call only counts itself, without evaluating its arguments. */
#define GS_LOG_CAPPED(level, ...)                                            \
    do {                                                                     \
        if (GS_UNLIKELY((int)(level) <= (int)gs_opt.log) && gs_log_admit())  \
            gs_log_admitted((level), __VA_ARGS__);                           \
    } while (0)
#define GS_DEBUG_CAPPED(...) GS_LOG_CAPPED(GS_LOG_DEBUG, __VA_ARGS__)
/* GRAPHSHIM_LOG=trace: a line per op the engine records, per barrier and
 * per step it closes, to see why a program's steps do not repeat. */
#define GS_TRACE(...) GS_LOG_CAPPED(GS_LOG_TRACE, __VA_ARGS__)

void gs_log(gs_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* gs_log for a line already admitted by gs_log_admit (not counted again). */
void gs_log_admitted(gs_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Takes one line of the budget below warn; false (and counted as
 * suppressed) once GRAPHSHIM_LOG_LIMIT lines were written. */
bool gs_log_admit(void);
/* Writes the closing line saying how many lines were suppressed (if any);
 * the exit report calls it last. */
void gs_log_finish(void);
/* Forgets the warning and line counts (in a forked child, and tests). */
void gs_log_reset_counts(void);
/* Opens GRAPHSHIM_LOG_FILE (or keeps stderr); warns and falls back to stderr
 * when it cannot be opened. */
void gs_log_open(void);
int gs_log_fd(void);
/* Writes a preformatted line without prefix (for the exit summary). */
void gs_log_raw(const char *text, size_t len);

/* --------------------------------------------------------------- stats.c */

/* Matches of a template cut short in a row before it retires (hold.c). */
#define GS_CUT_MAX 16
/* Templates retired in the process before the engine may step aside (engine.c). */
#define GS_ASIDE_RETIRED 4

/* Counters of the engine and the interposition layer, declared once. */
#define GS_COUNTERS(X)                                                       \
    X(ops, "stream-ordered ops seen")                                        \
    X(barriers, "barriers seen")                                             \
    X(launches, "kernel launches (cuLaunchKernel + cuLaunchKernelEx)")       \
    X(ops_replayed, "ops replayed through graphs")                           \
    X(ops_replayed_events, "  of which event records, waits, host functions") \
    X(ops_passed, "ops passed through untouched (capture, denied, off)")     \
    X(templates, "templates formed")                                         \
    X(graphs_built, "graphs built")                                          \
    X(graphs_evicted, "graphs evicted (least recently used)")                \
    X(thrash_skipped, "steps not built again: evicted unused before")        \
    X(retired, "templates retired: a replay cost more than its ops eagerly")  \
    X(retired_cut, "  or their matches were cut short 16 times in a row (GS_CUT_MAX)") \
    X(stepped_aside, "the engine stepped aside: templates kept being retired and replays saved nothing") \
    X(replays, "steps replayed whole through graphs")                        \
    X(graph_launches, "graph launches (a step may be several chunks)")       \
    X(launches_unlocked, "  of which made after the engine lock (GRAPHSHIM_UNLOCKED_LAUNCH)") \
    X(nodes_patched, "nodes patched")                                        \
    X(edges_full, "graph edges built: full dependencies")                    \
    X(edges_programmatic, "graph edges built: programmatic (PDL)")            \
    X(events_deferred, "event destroys deferred while the shim named them")  \
    X(hostfn_waits, "held host functions issued: the program waited for them") \
    X(queries_held, "event queries answered not ready: the record was held") \
    X(hostfns_merged, "host functions replayed from another's host node")    \
    X(hostfns_after, "host functions run after their chunk's graph (one cuLaunchHostFunc)") \
    X(ops_reordered, "held ops matched one place from where they came: two threads' ops of different streams the other way round") \
    X(div_mismatch, "divergence: an op differed from every template")        \
    X(div_barrier, "divergence: a barrier in the middle of a step")          \
    X(div_stream, "divergence: an op on another stream")                     \
    X(div_staging, "divergence: staging or host slots still used by the last replays") \
    X(div_full, "divergence: step buffer full")                              \
    X(fb_build, "fallback: graph build failed")                              \
    X(fb_patch, "fallback: patching a node failed")                          \
    X(fb_launch, "fallback: graph launch failed")                            \
    X(host_bytes, "host memory the shim holds now (bytes)")                  \
    X(host_bytes_peak, "  at most (bytes)")                                  \
    X(staging_bytes, "page-locked staging the shim holds now (bytes)")       \
    X(staging_bytes_peak, "  at most (bytes)")                               \
    X(getproc_substituted, "cuGetProcAddress results substituted")          \
    X(getproc_by_request, "  of which decided from (symbol, version, flags)") \
    X(dlsym_substituted, "dlsym results substituted")

typedef enum {
#define GS_X(name, doc) GS_CTR_##name,
    GS_COUNTERS(GS_X)
#undef GS_X
    GS_CTR_COUNT
} gs_counter_t;

typedef struct {
    atomic_ullong n[GS_PATH_COUNT];
} gs_callcount_t;

/* Counts are kept per thread: a locked add on a shared line cost more than
 * the rest of a held launch together (measured with perf on simcuda). Each
 * thread that counts takes a block from a fixed pool (stats.c) and bumps it
 * with a relaxed load and store, which compile to plain moves: one writer
 * per block, readers from any thread. A thread beyond the pool counts into
 * the shared arrays below with locked adds; a thread that exits folds its
 * block into them and gives it back. Readers sum the shared arrays and
 * every block (gs_calls_of, gs_counter). */
typedef struct {
    gs_callcount_t calls[GS_HOOK_COUNT];
    atomic_ullong ctr[GS_CTR_COUNT];
} gs_countblock_t;

extern GS_HIDDEN gs_callcount_t gs_calls[GS_HOOK_COUNT];
extern GS_HIDDEN atomic_ullong gs_counters[GS_CTR_COUNT];
extern GS_HIDDEN GS_TLS gs_countblock_t *gs_my_counts;
/* Takes a block for this thread; NULL when the pool is empty. */
gs_countblock_t *gs_counts_claim(void);

static inline void gs_bump(atomic_ullong *mine, atomic_ullong *shared, unsigned long long n)
{
    if (GS_LIKELY(mine != NULL))
        atomic_store_explicit(mine, atomic_load_explicit(mine, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(shared, n, memory_order_relaxed);
}
static inline gs_countblock_t *gs_counts_mine(void)
{
    gs_countblock_t *b = gs_my_counts;
    return GS_LIKELY(b != NULL) ? b : gs_counts_claim();
}
static inline void gs_count_call(gs_fn_id_t id, gs_path_t path)
{
    gs_countblock_t *b = gs_counts_mine();
    gs_bump(b ? &b->calls[id].n[path] : NULL, &gs_calls[id].n[path], 1);
}
static inline void gs_count(gs_counter_t c, unsigned long long n)
{
    gs_countblock_t *b = gs_counts_mine();
    gs_bump(b ? &b->ctr[c] : NULL, &gs_counters[c], n);
}
/* Accounts memory the shim allocates (negative: frees), keeping the peak. */
void gs_mem_account(long long host, long long staging);
/* Writes the exit summary (to the log) and the JSON stats file as the
 * options ask; runs once. */
void gs_stats_report(void);
/* Writes the JSON document to fd (exposed for the unit tests). Its layout
 * is doc/stats.schema.json, whose "version" this must equal. */
#define GS_STATS_SCHEMA_VERSION 1
void gs_stats_write_json(int fd);
/* Readers of the counters, for the summary. */
extern GS_HIDDEN const char *const gs_counter_names[GS_CTR_COUNT];
extern GS_HIDDEN const char *const gs_counter_docs[GS_CTR_COUNT];
unsigned long long gs_calls_of(int id, int path);
unsigned long long gs_counter(gs_counter_t c);
unsigned long long gs_total_calls(void);

/* A buffered writer over a file descriptor: no stdio, no malloc. */
typedef struct {
    int fd;
    size_t n;
    char buf[4096];
} gs_out_t;
void gs_out_write(gs_out_t *o, const char *p, size_t len);
void gs_out_printf(gs_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes s as a JSON string (quoted, escaped; bytes that are not UTF-8
 * become \u00XX). */
void gs_out_json_str(gs_out_t *o, const char *s);
void gs_out_flush(gs_out_t *o);

/* Forgets every count (in a forked child). */
void gs_stats_reset(void);

/* --------------------------------------------------------------- diag.c */

#include "diag.h"

/* ------------------------------------------------------------- summary.c */

/* Below this share of ops replayed the summary lists what stopped more. */
#define GS_LOW_SHARE 0.90
bool gs_share_is_low(void);
/* Graphs built and not evicted. */
unsigned long long gs_graphs_in_use(void);
/* Writes the exit summary to fd: findings first (share replayed, graphs,
 * time saved, what stopped more and what to do), then with `verbose` the
 * detail tables (calls by function and path, every counter, every
 * step-breaker with its callers, the streams). */
void gs_summary_write(int fd, bool verbose);
/* What a user can do about a step-breaker (one or two sentences). */
const char *gs_breaker_advice(gs_breaker_t why, const char *detail_name);

/* -------------------------------------------------------------- engine.c */

/* The engine sees every op and barrier (DESIGN.md section 3). */
void gs_eng_setup(void);
void gs_eng_atfork_child(void);
/* Before exit reporting: the shim's own threads touch nothing more. */
void gs_eng_stop_threads(void);
/* At exit: what must be written about the templates (GRAPHSHIM_DUMP_DIR). */
void gs_eng_at_exit(void);
void gs_eng_after_barrier(gs_fn_id_t id, CUstream s, CUresult res);
CUresult gs_eng_launch(gs_fn_id_t id, CUfunction f, unsigned gx, unsigned gy,
                       unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream s, void **params, void **extra);
CUresult gs_eng_launch_ex(gs_fn_id_t id, const CUlaunchConfig *cfg, CUfunction f,
                          void **params, void **extra);
CUresult gs_eng_htod(gs_fn_id_t id, CUdeviceptr dst, const void *src, size_t n,
                     CUstream s);
CUresult gs_eng_dtoh(gs_fn_id_t id, void *dst, CUdeviceptr src, size_t n,
                     CUstream s);
CUresult gs_eng_dtod(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s);
CUresult gs_eng_copy(gs_fn_id_t id, CUdeviceptr dst, CUdeviceptr src, size_t n,
                     CUstream s);
CUresult gs_eng_memset8(gs_fn_id_t id, CUdeviceptr dst, unsigned char v,
                        size_t n, CUstream s);
CUresult gs_eng_memset16(gs_fn_id_t id, CUdeviceptr dst, unsigned short v,
                         size_t n, CUstream s);
CUresult gs_eng_memset32(gs_fn_id_t id, CUdeviceptr dst, unsigned int v,
                         size_t n, CUstream s);
/* Called before a barrier is forwarded: on one stream, or on all. */
void gs_eng_barrier_stream(gs_fn_id_t id, CUstream s);
void gs_eng_barrier_all(gs_fn_id_t id);
/* events.c: event records, waits and host functions (ops when the driver
 * has the graph nodes for them), and host-side uses of an event. */
CUresult gs_eng_event_record(gs_fn_id_t id, CUevent e, CUstream s, unsigned flags,
                             bool with_flags);
CUresult gs_eng_stream_wait(gs_fn_id_t id, CUstream s, CUevent e, unsigned flags);
CUresult gs_eng_host_func(gs_fn_id_t id, CUstream s, CUhostFn fn, void *data);
/* A host-side use of event e; false when the call must not reach the driver
 * (a destroy the shim defers, evlife.c). */
bool gs_eng_event_host(gs_fn_id_t id, CUevent e, CUresult *answer);
/* The program created event e with these flags (cuEventCreate succeeded). */
void gs_eng_event_created(CUevent e, unsigned flags);

#endif /* GS_H */
