/* log.c: every message of the shim goes through gs_log().
 *
 * One fixed prefix ("graphshim[pid]: warning: "), a fixed stack buffer (no
 * allocation while logging, so it is safe in any hook), one write() per
 * message (atomic for lines this short, so threads do not interleave), a
 * thread-local re-entry guard, and caps so a misbehaving program cannot
 * flood its own output: at most GS_MAX_WARNINGS errors and warnings, and at
 * most GRAPHSHIM_LOG_LIMIT lines below warn (info, debug, trace: the engine
 * logs per-step decisions at debug, which would otherwise write a line per
 * step). Lines over the limit are counted, not formatted, and the exit
 * report ends with one line saying how many were suppressed.
 *
 * GS_LOG checks the level before any formatting, so messages below the
 * active level cost one compare; GS_LOG_CAPPED also takes its line of the
 * budget before its arguments are evaluated, so a flood past the limit
 * costs a compare and an atomic add per message.
 */
#include "config.h"
#include "gs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GS_MAX_WARNINGS 100

static int log_fd = 2;
static atomic_uint warnings;
/* Lines below warn written, and those suppressed by GRAPHSHIM_LOG_LIMIT. */
static atomic_ulong lines, suppressed;
static GS_TLS int in_log;

int gs_log_fd(void) { return log_fd; }

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void gs_log_raw(const char *text, size_t len) { write_all(log_fd, text, len); }

bool gs_log_admit(void)
{
    unsigned long n = atomic_fetch_add_explicit(&lines, 1, memory_order_relaxed);
    if (gs_opt.log_limit <= 0 || n < (unsigned long)gs_opt.log_limit)
        return true;
    atomic_fetch_add_explicit(&suppressed, 1, memory_order_relaxed);
    return false;
}

/* Errors and warnings share their own cap (with one line saying so). */
static bool warning_admitted(void)
{
    unsigned n = atomic_fetch_add(&warnings, 1);
    if (n < GS_MAX_WARNINGS)
        return true;
    if (n == GS_MAX_WARNINGS) {
        char buf[160];
        int k = snprintf(buf, sizeof buf, "graphshim[%ld]: warning: more than %d "
                         "warnings; further ones are suppressed\n", (long)getpid(),
                         GS_MAX_WARNINGS);
        write_all(log_fd, buf, (size_t)k);
    }
    return false;
}

static void vlog(gs_log_level_t level, const char *fmt, va_list ap)
{
    static const char *const tag[] = {"error: ", "warning: ", "", "debug: ",
                                      "trace: "};
    char buf[1024];
    in_log = 1;
    int n = snprintf(buf, sizeof buf, "graphshim[%ld]: %s", (long)getpid(),
                     tag[(unsigned)level < 5 ? level : 4]);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2; /* truncated: keep the newline */
    buf[len++] = '\n';
    write_all(log_fd, buf, len);
    in_log = 0;
}

void gs_log(gs_log_level_t level, const char *fmt, ...)
{
    if (in_log)
        return;
    if (level <= GS_LOG_WARN ? !warning_admitted() : !gs_log_admit())
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void gs_log_admitted(gs_log_level_t level, const char *fmt, ...)
{
    if (in_log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void gs_log_finish(void)
{
    unsigned long n = atomic_exchange(&suppressed, 0);
    if (n == 0)
        return;
    char buf[256];
    int k = snprintf(buf, sizeof buf, "graphshim[%ld]: %lu more log lines below "
                     "warn level were suppressed after the first %ld "
                     "(GRAPHSHIM_LOG_LIMIT)\n", (long)getpid(), n, gs_opt.log_limit);
    write_all(log_fd, buf, (size_t)k);
}

void gs_log_reset_counts(void)
{
    atomic_store(&warnings, 0);
    atomic_store(&lines, 0);
    atomic_store(&suppressed, 0);
}

void gs_log_open(void)
{
    if (log_fd != 2) {
        close(log_fd);
        log_fd = 2;
    }
    if (gs_opt.log_file[0] == '\0')
        return;
    int fd = open(gs_opt.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
    if (fd < 0) {
        GS_WARN("cannot open GRAPHSHIM_LOG_FILE %s (%s); logging to stderr",
                gs_opt.log_file, strerror(errno));
        return;
    }
    log_fd = fd;
}
