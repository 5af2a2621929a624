/* stats.c: call counters by function and path, engine counters, the exit
 * report, and the JSON statistics (GRAPHSHIM_STATS_FILE, described by
 * doc/stats.schema.json).
 *
 * Counters are per-thread blocks from a fixed pool, bumped on the hot path
 * without a locked instruction (gs.h says why), and shared arrays for the
 * threads the pool cannot serve; readers sum them. The report runs once, at exit (or when asked): the summary
 * (summary.c) on the log when GRAPHSHIM_STATS is on or GRAPHSHIM_LOG is
 * info or more, and the JSON document at GRAPHSHIM_STATS_FILE. Both are
 * written through gs_out_t, a small buffered writer over a file descriptor
 * (no stdio, no malloc), because the report may run in a destructor while
 * other threads still call the driver.
 *
 * JSON layout: the fields tools and tests already read come first and keep
 * their shape ("graphshim", "pid", "mode", "calls", "totals" on one line);
 * every section added since follows them, on lines of its own, so a
 * line-oriented reader that takes the first "name":number still finds the
 * totals.
 */
#include "config.h"
#include "gs.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

gs_callcount_t gs_calls[GS_HOOK_COUNT];
atomic_ullong gs_counters[GS_CTR_COUNT];
GS_TLS gs_countblock_t *gs_my_counts;

/* Programs that call the driver from more threads than this (thread pools
 * that come and go give theirs back) count the rest in the shared arrays. */
#define POOL_BLOCKS 32
static gs_countblock_t pool[POOL_BLOCKS];
static atomic_bool pool_used[POOL_BLOCKS];
static pthread_key_t pool_key;
static bool pool_key_ok;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
/* Set after a thread found the pool empty, so later ones do not search. */
static atomic_bool pool_empty;

static void fold(gs_countblock_t *b)
{
    for (int i = 0; i < GS_HOOK_COUNT; i++)
        for (int p = 0; p < GS_PATH_COUNT; p++) {
            unsigned long long v = atomic_load_explicit(&b->calls[i].n[p], memory_order_relaxed);
            if (v != 0) {
                atomic_fetch_add_explicit(&gs_calls[i].n[p], v, memory_order_relaxed);
                atomic_store_explicit(&b->calls[i].n[p], 0, memory_order_relaxed);
            }
        }
    for (int c = 0; c < GS_CTR_COUNT; c++) {
        unsigned long long v = atomic_load_explicit(&b->ctr[c], memory_order_relaxed);
        if (v != 0) {
            atomic_fetch_add_explicit(&gs_counters[c], v, memory_order_relaxed);
            atomic_store_explicit(&b->ctr[c], 0, memory_order_relaxed);
        }
    }
}

/* A thread exits: its counts move to the shared arrays (a reader summing
 * at that moment may see them twice or not at all, once) and its block
 * goes back to the pool. */
static void pool_release(void *arg)
{
    gs_countblock_t *b = arg;
    fold(b);
    gs_my_counts = NULL;
    atomic_store_explicit(&pool_used[b - pool], false, memory_order_release);
    atomic_store_explicit(&pool_empty, false, memory_order_relaxed);
}

static void pool_init(void)
{
    pool_key_ok = pthread_key_create(&pool_key, pool_release) == 0;
}

gs_countblock_t *gs_counts_claim(void)
{
    if (atomic_load_explicit(&pool_empty, memory_order_relaxed))
        return NULL;
    pthread_once(&pool_once, pool_init);
    if (!pool_key_ok)
        return NULL; /* a block could not be given back: threads share */
    for (int i = 0; i < POOL_BLOCKS; i++) {
        bool no = false;
        if (!atomic_load_explicit(&pool_used[i], memory_order_relaxed) &&
            atomic_compare_exchange_strong(&pool_used[i], &no, true)) {
            if (pthread_setspecific(pool_key, &pool[i]) != 0) {
                atomic_store(&pool_used[i], false);
                return NULL;
            }
            gs_my_counts = &pool[i];
            return &pool[i];
        }
    }
    atomic_store_explicit(&pool_empty, true, memory_order_relaxed);
    return NULL;
}

const char *const gs_counter_names[GS_CTR_COUNT] = {
#define GS_X(name, doc) #name,
    GS_COUNTERS(GS_X)
#undef GS_X
};
const char *const gs_counter_docs[GS_CTR_COUNT] = {
#define GS_X(name, doc) doc,
    GS_COUNTERS(GS_X)
#undef GS_X
};

/* Set in a forked child: its report is written only if it made driver calls
 * of its own, so a program that forks helpers does not print one summary per
 * child. */
static bool quiet_unless_used;

void gs_stats_reset(void)
{
    quiet_unless_used = true;
    gs_log_reset_counts();
    gs_diag_reset();
    for (int i = 0; i < POOL_BLOCKS; i++)
        fold(&pool[i]);
    for (int i = 0; i < GS_HOOK_COUNT; i++)
        for (int p = 0; p < GS_PATH_COUNT; p++)
            atomic_store_explicit(&gs_calls[i].n[p], 0, memory_order_relaxed);
    for (int c = 0; c < GS_CTR_COUNT; c++)
        atomic_store_explicit(&gs_counters[c], 0, memory_order_relaxed);
}

static void account(gs_counter_t cur, gs_counter_t peak, long long delta)
{
    unsigned long long now =
        atomic_fetch_add(&gs_counters[cur], (unsigned long long)delta) +
        (unsigned long long)delta;
    unsigned long long p = atomic_load(&gs_counters[peak]);
    while (now > p && !atomic_compare_exchange_weak(&gs_counters[peak], &p, now))
        ;
}

void gs_mem_account(long long host, long long staging)
{
    if (host != 0)
        account(GS_CTR_host_bytes, GS_CTR_host_bytes_peak, host);
    if (staging != 0)
        account(GS_CTR_staging_bytes, GS_CTR_staging_bytes_peak, staging);
}

unsigned long long gs_calls_of(int id, int path)
{
    unsigned long long t = atomic_load_explicit(&gs_calls[id].n[path], memory_order_relaxed);
    for (int i = 0; i < POOL_BLOCKS; i++)
        t += atomic_load_explicit(&pool[i].calls[id].n[path], memory_order_relaxed);
    return t;
}

unsigned long long gs_counter(gs_counter_t c)
{
    unsigned long long t = atomic_load_explicit(&gs_counters[c], memory_order_relaxed);
    for (int i = 0; i < POOL_BLOCKS; i++)
        t += atomic_load_explicit(&pool[i].ctr[c], memory_order_relaxed);
    return t;
}

unsigned long long gs_total_calls(void)
{
    unsigned long long t = 0;
    for (int i = 0; i < GS_HOOK_COUNT; i++)
        for (int p = 0; p < GS_PATH_COUNT; p++)
            t += gs_calls_of(i, p);
    return t;
}

/* ---------------------------------------------------------------- output */

void gs_out_flush(gs_out_t *o)
{
    size_t off = 0;
    while (off < o->n) {
        ssize_t w = write(o->fd, o->buf + off, o->n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    o->n = 0;
}

void gs_out_write(gs_out_t *o, const char *p, size_t len)
{
    while (len > 0) {
        if (o->n == sizeof o->buf)
            gs_out_flush(o);
        size_t k = sizeof o->buf - o->n;
        if (k > len)
            k = len;
        memcpy(o->buf + o->n, p, k);
        o->n += k;
        p += k;
        len -= k;
    }
}

void gs_out_printf(gs_out_t *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    gs_out_write(o, line, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1);
}

/* Length of the valid UTF-8 sequence at p (0 if none). */
static size_t utf8_len(const unsigned char *p)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

void gs_out_json_str(gs_out_t *o, const char *s)
{
    gs_out_write(o, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        char esc[8];
        size_t n;
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            gs_out_write(o, esc, 2);
            p++;
        } else if (*p < 0x20 || *p == 0x7f) {
            gs_out_write(o, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p));
            p++;
        } else if (*p < 0x80) {
            gs_out_write(o, (const char *)p, 1);
            p++;
        } else if ((n = utf8_len(p)) > 0) {
            gs_out_write(o, (const char *)p, n);
            p += n;
        } else {
            /* Not UTF-8 (a path can be any bytes): kept as a code point. */
            gs_out_write(o, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p));
            p++;
        }
    }
    gs_out_write(o, "\"", 1);
}

/* A number JSON can carry (no inf or nan). */
static void out_num(gs_out_t *o, double v)
{
    if (!isfinite(v))
        v = 0;
    gs_out_printf(o, "%.6g", v);
}

/* ------------------------------------------------------------------ JSON */

static void json_cost(gs_out_t *o, const char *name, const gs_cost_t *c)
{
    gs_out_printf(o, "\"%s\":{\"n\":%llu,\"total_ns\":%llu,\"min_ns\":%llu,"
                  "\"median_ns\":%llu,\"max_ns\":%llu", name, c->n, c->total_ns,
                  c->min_ns, c->median_ns, c->max_ns);
}

static void json_findings(gs_out_t *o)
{
    unsigned long long ops = gs_counter(GS_CTR_ops), rep = gs_counter(GS_CTR_ops_replayed);
    unsigned long long steps = gs_counter(GS_CTR_replays);
    gs_saving_t sv;
    bool measured = gs_diag_saving(rep, gs_counter(GS_CTR_ops_replayed_events), &sv);
    gs_out_printf(o, ",\n\"findings\":{\"ops\":%llu,\"ops_replayed\":%llu,"
                  "\"replayed_share\":", ops, rep);
    out_num(o, ops ? (double)rep / (double)ops : 0.0);
    gs_out_printf(o, ",\"graphs_in_use\":%llu,\"steps_replayed\":%llu,"
                  "\"graph_launches\":%llu,\"patches_per_step\":",
                  gs_graphs_in_use(), steps, gs_counter(GS_CTR_graph_launches));
    out_num(o, steps ? (double)gs_counter(GS_CTR_nodes_patched) / (double)steps : 0.0);
    gs_out_printf(o, ",\"saved_ns\":");
    if (measured)
        gs_out_printf(o, "%.0f", isfinite(sv.saved_ns) ? sv.saved_ns : 0.0);
    else
        gs_out_printf(o, "null");
    gs_out_printf(o, ",\"low_share\":%s}", gs_share_is_low() ? "true" : "false");

    gs_costs_t c;
    gs_diag_costs(&c);
    gs_out_printf(o, ",\n\"costs\":{");
    json_cost(o, "eager", &c.eager);
    gs_out_printf(o, "},");
    json_cost(o, "eager_event", &c.eager_ev);
    gs_out_printf(o, "},");
    json_cost(o, "hold", &c.hold);
    gs_out_printf(o, "},");
    json_cost(o, "hold_event", &c.hold_ev);
    gs_out_printf(o, "},");
    json_cost(o, "graph", &c.graph);
    gs_out_printf(o, ",\"nodes\":%llu,\"patched\":%llu},\n\"saving\":{\"measured\":%s,"
                  "\"ops_replayed\":%llu,\"ops_held\":%llu,\"eager_ns_per_op\":",
                  c.graph_nodes, c.graph_patched, measured ? "true" : "false",
                  sv.ops_replayed, sv.ops_held);
    out_num(o, sv.eager_ns_per_op);
    gs_out_printf(o, ",\"ev_replayed\":%llu,\"eager_ev_ns_per_op\":", sv.ev_replayed);
    out_num(o, sv.eager_ev_ns_per_op);
    gs_out_printf(o, ",\"hold_ns_per_op\":");
    out_num(o, sv.hold_ns_per_op);
    gs_out_printf(o, ",\"eager_ns\":");
    out_num(o, sv.eager_ns);
    gs_out_printf(o, ",\"graph_ns\":");
    out_num(o, sv.graph_ns);
    gs_out_printf(o, ",\"hold_ns\":");
    out_num(o, sv.hold_ns);
    gs_out_printf(o, ",\"saved_ns\":");
    out_num(o, sv.saved_ns);
    gs_out_printf(o, "}}");
}

#define JSON_BREAKERS 64 /* (reason, detail) pairs written, most frequent */

static void json_breakers(gs_out_t *o)
{
    static gs_breaker_info_t top[JSON_BREAKERS];
    size_t n = gs_diag_breakers(top, JSON_BREAKERS);
    gs_out_printf(o, ",\n\"breakers\":{\"by_reason\":{");
    for (int r = 0; r < GS_BRK_COUNT; r++)
        gs_out_printf(o, "%s\"%s\":%llu", r ? "," : "", gs_breaker_name((gs_breaker_t)r),
                      gs_diag_breaker_count((gs_breaker_t)r));
    gs_out_printf(o, "},\"kinds\":%zu,\"top\":[", n);
    for (size_t i = 0; i < n && i < JSON_BREAKERS; i++) {
        const gs_breaker_info_t *b = &top[i];
        char buf[64];
        const char *name = gs_breaker_detail_name(b->why, b->detail, buf, sizeof buf);
        gs_out_printf(o, "%s\n{\"reason\":\"%s\",\"detail\":%u,\"name\":", i ? "," : "",
                      gs_breaker_name(b->why), b->detail);
        if (name != NULL)
            gs_out_json_str(o, name);
        else
            gs_out_printf(o, "null");
        gs_out_printf(o, ",\"count\":%llu,\"callers\":[", b->count);
        for (unsigned c = 0; c < b->ncallers; c++) {
            gs_out_printf(o, "%s{\"hits\":%u,\"frames\":[", c ? "," : "", b->callers[c].hits);
            for (unsigned f = 0; f < b->callers[c].depth; f++) {
                const gs_frame_t *fr = &b->callers[c].chain[f];
                gs_out_printf(o, "%s{\"library\":", f ? "," : "");
                gs_out_json_str(o, fr->lib);
                gs_out_printf(o, ",\"symbol\":");
                if (fr->sym[0] != '\0')
                    gs_out_json_str(o, fr->sym);
                else
                    gs_out_printf(o, "null");
                gs_out_printf(o, ",\"offset\":%llu}", (unsigned long long)fr->offset);
            }
            gs_out_printf(o, "]}");
        }
        gs_out_printf(o, "]}");
    }
    gs_out_printf(o, "]}");
    /* Steps and ops by outcome and by the reason that cut them. */
    gs_out_printf(o, ",\n\"cut_by_reason\":[");
    bool first = true;
    for (int oc = 0; oc < GS_STEP_OUTCOMES; oc++)
        for (int r = 0; r <= GS_BRK_COUNT; r++) {
            unsigned long long steps, ops;
            gs_diag_steps_by_reason((gs_step_outcome_t)oc, (gs_breaker_t)r, &steps, &ops);
            if (steps == 0)
                continue;
            gs_out_printf(o, "%s{\"outcome\":\"%s\",\"reason\":", first ? "" : ",",
                          gs_step_outcome_name((gs_step_outcome_t)oc));
            if (r == GS_BRK_COUNT)
                gs_out_printf(o, "null");
            else
                gs_out_printf(o, "\"%s\"", gs_breaker_name((gs_breaker_t)r));
            gs_out_printf(o, ",\"steps\":%llu,\"ops\":%llu}", steps, ops);
            first = false;
        }
    gs_out_printf(o, "]");
}

static void json_outcomes(gs_out_t *o, const char *name, const unsigned long long *v)
{
    gs_out_printf(o, "\"%s\":{", name);
    for (int oc = 0; oc < GS_STEP_OUTCOMES; oc++)
        gs_out_printf(o, "%s\"%s\":%llu", oc ? "," : "",
                      gs_step_outcome_name((gs_step_outcome_t)oc), v[oc]);
    gs_out_printf(o, "}");
}

static void json_steps(gs_out_t *o)
{
    static gs_stream_diag_t st[GS_DIAG_STREAMS + 1];
    size_t n = gs_diag_streams(st, GS_DIAG_STREAMS + 1);
    gs_out_printf(o, ",\n\"streams\":[");
    for (size_t i = 0; i < n; i++) {
        gs_out_printf(o, "%s\n{\"stream\":%zu,\"key\":", i ? "," : "", i);
        if (st[i].others)
            gs_out_printf(o, "null,\"others\":true,");
        else
            gs_out_printf(o, "\"%#llx\",\"others\":false,", (unsigned long long)st[i].key);
        json_outcomes(o, "steps", st[i].steps);
        gs_out_printf(o, ",");
        json_outcomes(o, "ops", st[i].ops);
        gs_out_printf(o, "}");
    }
    gs_out_printf(o, "]");

    static gs_hist_t h[GS_HISTORY_MAX];
    unsigned long long seen;
    size_t k = gs_diag_history(h, GS_HISTORY_MAX, &seen);
    gs_out_printf(o, ",\n\"history\":{\"capacity\":%ld,\"seen\":%llu,\"kept\":%zu,\"steps\":[",
                  gs_opt.history, seen, k);
    for (size_t i = 0; i < k; i++) {
        gs_out_printf(o, "%s\n{\"seq\":%llu,\"t_ns\":%llu,\"stream\":%u,\"ops\":%u,"
                      "\"outcome\":\"%s\",\"reason\":", i ? "," : "",
                      (unsigned long long)h[i].seq, (unsigned long long)h[i].t_ns,
                      h[i].stream, h[i].nops,
                      gs_step_outcome_name((gs_step_outcome_t)h[i].outcome));
        if (h[i].why < GS_BRK_COUNT)
            gs_out_printf(o, "\"%s\"}", gs_breaker_name((gs_breaker_t)h[i].why));
        else
            gs_out_printf(o, "null}");
    }
    gs_out_printf(o, "]}");
}

void gs_stats_write_json(int fd)
{
    gs_out_t o = {.fd = fd};
    gs_out_printf(&o, "{\"graphshim\":\"%s\",\"schema_version\":%d,\"pid\":%ld,"
                  "\"mode\":\"%s\",\"calls\":{", PACKAGE_VERSION, GS_STATS_SCHEMA_VERSION,
                  (long)getpid(), gs_mode_name(gs_opt.mode));
    bool first = true;
    for (int i = 0; i < GS_HOOK_COUNT; i++) {
        if (gs_calls_of(i, 0) + gs_calls_of(i, 1) + gs_calls_of(i, 2) == 0)
            continue;
        gs_out_printf(&o, "%s\n\"%s\":{\"direct\":%llu,\"dlsym\":%llu,\"getproc\":%llu}",
                      first ? "" : ",", gs_hooks[i].name, gs_calls_of(i, 0),
                      gs_calls_of(i, 1), gs_calls_of(i, 2));
        first = false;
    }
    gs_out_printf(&o, "},\n\"totals\":{\"calls\":%llu", gs_total_calls());
    for (int c = 0; c < GS_CTR_COUNT; c++)
        gs_out_printf(&o, ",\"%s\":%llu", gs_counter_names[c], gs_counter(c));
    gs_out_printf(&o, "}");
    json_findings(&o);
    json_breakers(&o);
    json_steps(&o);
    gs_out_printf(&o, "}\n");
    gs_out_flush(&o);
}

/* ---------------------------------------------------------------- report */

void gs_stats_report(void)
{
    static atomic_flag done = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&done))
        return;
    if (quiet_unless_used && gs_total_calls() == 0)
        return;
    if (gs_opt.stats || gs_opt.log >= GS_LOG_INFO)
        gs_summary_write(gs_log_fd(), gs_opt.stats >= GS_STATS_VERBOSE ||
                                          gs_opt.log >= GS_LOG_DEBUG);
    if (gs_opt.stats_file[0] != '\0') {
        int fd = open(gs_opt.stats_file,
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            GS_WARN("cannot write GRAPHSHIM_STATS_FILE %s (%s); writing the "
                    "statistics to stderr", gs_opt.stats_file, strerror(errno));
            gs_stats_write_json(2);
        } else {
            gs_stats_write_json(fd);
            close(fd);
        }
    }
    gs_log_finish();
}

/* ---------------------------------------------------------- public API */

#include "graphshim.h"

GS_EXPORT int graphshim_version(void) { return GRAPHSHIM_VERSION; }
