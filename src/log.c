/* log.c: every message of the shim goes through gs_log().
 *
 * One fixed prefix ("graphshim[pid]: warning: "), a fixed stack buffer (no
 * allocation while logging, so it is safe in any hook), one write() per
 * message (atomic for lines this short, so threads do not interleave), a
 * thread-local re-entry guard, and a cap on warnings so a misbehaving
 * program cannot flood its own output. GS_LOG checks the level before any
 * formatting, so messages below the active level cost one compare.
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

void gs_log(gs_log_level_t level, const char *fmt, ...)
{
    static const char *const tag[] = {"error: ", "warning: ", "", "debug: ",
                                      "trace: "};
    char buf[1024];
    if (in_log)
        return;
    if (level <= GS_LOG_WARN) {
        unsigned n = atomic_fetch_add(&warnings, 1);
        if (n > GS_MAX_WARNINGS)
            return;
        if (n == GS_MAX_WARNINGS) {
            in_log = 1;
            int k = snprintf(buf, sizeof buf, "graphshim[%ld]: warning: more "
                             "than %d warnings; further ones are suppressed\n",
                             (long)getpid(), GS_MAX_WARNINGS);
            write_all(log_fd, buf, (size_t)k);
            in_log = 0;
            return;
        }
    }
    in_log = 1;
    int n = snprintf(buf, sizeof buf, "graphshim[%ld]: %s", (long)getpid(),
                     tag[(unsigned)level < 5 ? level : 4]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2; /* truncated: keep the newline */
    buf[len++] = '\n';
    write_all(log_fd, buf, len);
    in_log = 0;
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
