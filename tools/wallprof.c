/* wallprof.c: a wall-clock sampler to preload beside the shim, for the
 * question a CPU profile cannot answer on a lent GPU host (no perf there):
 * where does the program's launching thread spend the time of a step,
 * including the time it waits. JAX's eager loop is the case: under the shim
 * its driver calls cost less, yet its steps did not get shorter, and only
 * the waits (on the shim's lock, in XLA) said why (doc/measurements.md).
 *
 *   WALLPROF_OUT=samples.txt LD_PRELOAD=tools/.libs/libwallprof.so:libgraphshim.so prog
 *   tools/wallprof.py samples.txt ...
 *
 * A POSIX timer on CLOCK_MONOTONIC sends SIGPROF every WALLPROF_US
 * microseconds (default 50). The kernel gives a process-directed signal to
 * the main thread first when it can take it, so the samples follow the
 * main thread, running or blocked. Each sample keeps the interrupted
 * address, the thread and the time; every fourth also a backtrace (whose
 * frames say which call a wait is in). At exit the samples are written as
 * text, resolved with dladdr: "ns tid object offset symbol", and a backtrace
 * as a line "B object:offset:symbol ...". Nothing is resolved or written
 * in the handler; backtrace() is called there, which is not
 * async-signal-safe (a sample landing inside the unwinder's own lock would
 * hang the program): a diagnostic for a run that can be repeated, never for
 * one that must finish. Not setitimer: an interval timer survives exec, and
 * pyenv's shims exec python, which would die of the signal before this
 * library could catch it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 22) /* 200 s at the default rate */
#define MAX_TRACES (1 << 18)
#define TRACE_FRAMES 12

typedef struct {
    long long ns;
    void *pc;
    int tid;
    int trace; /* index into traces + 1, or 0 */
} sample_t;

static sample_t *samples;
static void *(*traces)[TRACE_FRAMES];
static int *trace_len;
static atomic_int nsamples, ntraces;
static timer_t timer;
static int armed;

static void on_sample(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    int saved = errno;
    int i = atomic_fetch_add_explicit(&nsamples, 1, memory_order_relaxed);
    if (i < MAX_SAMPLES) {
        ucontext_t *uc = ucv;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        sample_t *s = &samples[i];
        s->ns = t.tv_sec * 1000000000LL + t.tv_nsec;
        s->pc = (void *)uc->uc_mcontext.gregs[REG_RIP];
        s->tid = (int)syscall(SYS_gettid);
        s->trace = 0;
        if (i % 4 == 0) {
            int k = atomic_fetch_add_explicit(&ntraces, 1, memory_order_relaxed);
            if (k < MAX_TRACES) {
                trace_len[k] = backtrace(traces[k], TRACE_FRAMES);
                s->trace = k + 1;
            }
        }
    }
    errno = saved;
}

__attribute__((constructor)) static void wallprof_start(void)
{
    if (getenv("WALLPROF_OUT") == NULL)
        return;
    long us = 50;
    const char *v = getenv("WALLPROF_US");
    if (v != NULL) {
        char *end;
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < 10 || x > 1000000)
            fprintf(stderr, "wallprof: WALLPROF_US=%s is not 10 to 1000000: 50 us\n", v);
        else
            us = x;
    }
    samples = calloc(MAX_SAMPLES, sizeof *samples);
    traces = calloc(MAX_TRACES, sizeof *traces);
    trace_len = calloc(MAX_TRACES, sizeof *trace_len);
    if (samples == NULL || traces == NULL || trace_len == NULL) {
        fprintf(stderr, "wallprof: out of memory: no samples\n");
        return;
    }
    void *warm[2];
    backtrace(warm, 2); /* loads the unwinder here, not in the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sample;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGPROF;
    if (sigaction(SIGPROF, &sa, NULL) != 0 || timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) {
        fprintf(stderr, "wallprof: no timer: %s\n", strerror(errno));
        return;
    }
    struct itimerspec it = {{us / 1000000, us % 1000000 * 1000}, {us / 1000000, us % 1000000 * 1000}};
    timer_settime(timer, 0, &it, NULL);
    armed = 1;
}

/* An address as "object SEP offset SEP symbol", the object without its
 * directory (the offset is what addr2line takes). */
static void where(FILE *f, char sep, void *pc)
{
    Dl_info d;
    if (dladdr(pc, &d) == 0 || d.dli_fname == NULL) {
        fprintf(f, "?%c%p%c?", sep, pc, sep);
        return;
    }
    const char *base = strrchr(d.dli_fname, '/');
    fprintf(f, "%s%c%lx%c%s", base ? base + 1 : d.dli_fname, sep,
            (unsigned long)((char *)pc - (char *)d.dli_fbase), sep,
            d.dli_sname ? d.dli_sname : "?");
}

__attribute__((destructor)) static void wallprof_stop(void)
{
    if (!armed)
        return;
    armed = 0;
    timer_delete(timer);
    const char *path = getenv("WALLPROF_OUT");
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "wallprof: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    int n = atomic_load(&nsamples);
    if (n > MAX_SAMPLES)
        n = MAX_SAMPLES;
    for (int i = 0; i < n; i++) {
        const sample_t *s = &samples[i];
        fprintf(f, "%lld %d ", s->ns, s->tid);
        where(f, ' ', s->pc);
        fputc('\n', f);
        if (s->trace == 0)
            continue;
        /* Frames 0 and 1 are the handler and the signal trampoline. */
        int k = s->trace - 1;
        fputc('B', f);
        for (int j = 2; j < trace_len[k]; j++) {
            fputc(' ', f);
            where(f, ':', traces[k][j]);
        }
        fputc('\n', f);
    }
    fclose(f);
}
