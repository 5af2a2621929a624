/* stats.c: call counters by function and path, engine counters, and the exit
 * report.
 *
 * Counters are relaxed atomics bumped on the hot path (lock-free, no
 * allocation). The report runs once, at exit (or when asked): an aligned
 * table on the log when GRAPHSHIM_STATS=1 or GRAPHSHIM_LOG is info or more,
 * and a JSON document at GRAPHSHIM_STATS_FILE for tools and tests.
 */
#include "config.h"
#include "gs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

gs_callcount_t gs_calls[GS_HOOK_COUNT];
atomic_ullong gs_counters[GS_CTR_COUNT];

static const char *const counter_names[GS_CTR_COUNT] = {
#define GS_X(name, doc) #name,
    GS_COUNTERS(GS_X)
#undef GS_X
};
static const char *const counter_docs[GS_CTR_COUNT] = {
#define GS_X(name, doc) doc,
    GS_COUNTERS(GS_X)
#undef GS_X
};
static const char *const path_names[GS_PATH_COUNT] = {"direct", "dlsym",
                                                      "getproc"};

/* Set in a forked child: its report is written only if it made driver calls
 * of its own, so a program that forks helpers does not print one summary per
 * child. */
static bool quiet_unless_used;

void gs_stats_reset(void)
{
    quiet_unless_used = true;
    gs_log_reset_counts();
    gs_diag_reset();
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

static unsigned long long calls_of(int id, int path)
{
    return atomic_load_explicit(&gs_calls[id].n[path], memory_order_relaxed);
}

static unsigned long long counter(int c)
{
    return atomic_load_explicit(&gs_counters[c], memory_order_relaxed);
}

static unsigned long long total_calls(void)
{
    unsigned long long t = 0;
    for (int i = 0; i < GS_HOOK_COUNT; i++)
        for (int p = 0; p < GS_PATH_COUNT; p++)
            t += calls_of(i, p);
    return t;
}

/* A small buffered writer over a file descriptor: no stdio, no malloc. */
typedef struct {
    int fd;
    size_t n;
    char buf[4096];
} out_t;

static void out_flush(out_t *o)
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

static void out_printf(out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void out_printf(out_t *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t len = (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
    if (o->n + len > sizeof o->buf)
        out_flush(o);
    memcpy(o->buf + o->n, line, len);
    o->n += len;
}

void gs_stats_write_json(int fd)
{
    out_t o = {.fd = fd};
    out_printf(&o, "{\"graphshim\":\"%s\",\"pid\":%ld,\"mode\":\"%s\",\"calls\":{",
               PACKAGE_VERSION, (long)getpid(), gs_mode_name(gs_opt.mode));
    bool first = true;
    for (int i = 0; i < GS_HOOK_COUNT; i++) {
        if (calls_of(i, 0) + calls_of(i, 1) + calls_of(i, 2) == 0)
            continue;
        out_printf(&o, "%s\n\"%s\":{\"direct\":%llu,\"dlsym\":%llu,\"getproc\":%llu}",
                   first ? "" : ",", gs_hooks[i].name, calls_of(i, 0),
                   calls_of(i, 1), calls_of(i, 2));
        first = false;
    }
    out_printf(&o, "},\n\"totals\":{\"calls\":%llu", total_calls());
    for (int c = 0; c < GS_CTR_COUNT; c++)
        out_printf(&o, ",\"%s\":%llu", counter_names[c], counter(c));
    out_printf(&o, "}}\n");
    out_flush(&o);
}

static void write_summary(void)
{
    out_t o = {.fd = gs_log_fd()};
    out_printf(&o, "graphshim[%ld]: summary: mode %s, %llu driver calls "
               "intercepted\n", (long)getpid(), gs_mode_name(gs_opt.mode),
               total_calls());
    out_printf(&o, "  %-36s %12s %12s %12s\n", "function", path_names[0],
               path_names[1], path_names[2]);
    for (int i = 0; i < GS_HOOK_COUNT; i++) {
        if (calls_of(i, 0) + calls_of(i, 1) + calls_of(i, 2) == 0)
            continue;
        out_printf(&o, "  %-36s %12llu %12llu %12llu\n", gs_hooks[i].name,
                   calls_of(i, 0), calls_of(i, 1), calls_of(i, 2));
    }
    for (int c = 0; c < GS_CTR_COUNT; c++)
        out_printf(&o, "  %-24s %12llu  %s\n", counter_names[c], counter(c),
                   counter_docs[c]);
    unsigned long long ops = counter(GS_CTR_ops), rep = counter(GS_CTR_ops_replayed);
    unsigned long long steps = counter(GS_CTR_replays);
    out_printf(&o, "  replayed through graphs: %llu of %llu ops (%.1f%%); %llu steps "
               "whole in %llu graph launches, %.1f nodes patched per step\n", rep, ops,
               ops ? 100.0 * (double)rep / (double)ops : 0.0, steps,
               counter(GS_CTR_graph_launches),
               steps ? (double)counter(GS_CTR_nodes_patched) / (double)steps : 0.0);
    out_flush(&o);
}

void gs_stats_report(void)
{
    static atomic_flag done = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&done))
        return;
    if (quiet_unless_used && total_calls() == 0)
        return;
    if (gs_opt.stats || gs_opt.log >= GS_LOG_INFO)
        write_summary();
    gs_log_finish();
    if (gs_opt.stats_file[0] != '\0') {
        int fd = open(gs_opt.stats_file,
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            GS_WARN("cannot write GRAPHSHIM_STATS_FILE %s (%s); writing the "
                    "statistics to stderr", gs_opt.stats_file, strerror(errno));
            gs_stats_write_json(2);
            return;
        }
        gs_stats_write_json(fd);
        close(fd);
    }
}

/* ---------------------------------------------------------- public API */

#include "graphshim.h"

GS_EXPORT int graphshim_version(void) { return GRAPHSHIM_VERSION; }
