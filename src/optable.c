/* optable.c: the table of GRAPHSHIM_* options (options.h) and the grammar
 * of their values, shared by the library and the launcher.
 *
 * Grammar (mimalloc's options.c is the model): booleans 1/true/yes/on and
 * 0/false/no/off; enumerations by name, case-insensitively; numbers in
 * decimal, sizes with an optional K/M/G suffix; paths may contain %p for the
 * process id. Nothing here logs or allocates: the callers decide what to say
 * about a bad value (the library warns and keeps the default, the launcher
 * refuses to start).
 */
#include "config.h"
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const gs_options_t gs_opt_defaults = GS_DEFAULT_OPTIONS;

static const char *const mode_names[] = {"replay", "observe", "passthrough"};
static const char *const unlocked_names[] = {"auto", "on", "off"};
static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};
static const char *const stats_names[] = {"off", "on", "verbose"};

const char *gs_mode_name(gs_mode_t m)
{
    return (unsigned)m < 3 ? mode_names[m] : "?";
}

const char *gs_log_level_name(gs_log_level_t l)
{
    return (unsigned)l < 5 ? level_names[l] : "?";
}

/* ---------------------------------------------------------------- parsers */

bool gs_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

bool gs_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool gs_parse_size(const char *s, size_t *out)
{
    char *end;
    if (*s == '\0' || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift != 0 && (*end == 'i' || *end == 'I'))
        end++;
    if (shift != 0 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)(v << shift);
    return true;
}

bool gs_expand_path(const char *pattern, char *out, size_t outsz)
{
    size_t o = 0;
    for (const char *p = pattern; *p != '\0'; p++) {
        char num[24];
        const char *piece = p;
        size_t n = 1;
        if (p[0] == '%' && p[1] == 'p') {
            n = (size_t)snprintf(num, sizeof num, "%ld", (long)getpid());
            piece = num;
            p++;
        }
        if (o + n >= outsz)
            return false;
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = '\0';
    return true;
}

static bool parse_enum(const char *s, const char *const *names, size_t n, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return *out = (int)i, true;
    return false;
}

/* ---------------------------------------------------------------- the table */

_Static_assert(sizeof(gs_mode_t) == sizeof(int) &&
                   sizeof(gs_log_level_t) == sizeof(int),
               "enumerated options are stored as int");

#define OFF(f) offsetof(gs_options_t, f), sizeof(((gs_options_t *)0)->f)
#define PATH_ACCEPTS "a file path (%p is replaced by the pid)"
const gs_optdesc_t gs_optdescs[] = {
    {"MODE", GS_OPT_ENUM, "replay, observe or passthrough",
     "replay graphs repeating steps; observe learns and logs (at info) what it "
     "would graph and never holds an op; passthrough only counts",
     mode_names, 3, 0, 0, OFF(mode)},
    {"LOG", GS_OPT_ENUM, "error, warn, info, debug or trace",
     "log level: warn says only what went wrong; info adds the exit summary, "
     "templates and fallbacks; debug adds every option and per-step decisions; "
     "trace a line per op recorded, per barrier and per step closed",
     level_names, 5, 0, 0, OFF(log)},
    {"LOG_FILE", GS_OPT_PATH, PATH_ACCEPTS,
     "where messages go instead of stderr (stderr, after a warning, if it "
     "cannot be opened)", NULL, 0, 0, 0, OFF(log_file)},
    {"LOG_LIMIT", GS_OPT_LONG, "an integer from 0 (no limit) to 1000000000",
     "info, debug and trace lines written before further ones are only "
     "counted (a last line says how many)", NULL, 0, 0, 1000000000, OFF(log_limit)},
    {"STATS", GS_OPT_STATS, "1/true/yes/on, 0/false/no/off, or verbose",
     "print the exit summary (findings first); verbose adds the per-function "
     "calls, every counter, every step-breaker and caller, and the streams",
     stats_names, 3, 0, 0, OFF(stats)},
    {"STATS_FILE", GS_OPT_PATH, PATH_ACCEPTS,
     "write the statistics as JSON at exit (doc/stats.schema.json; stderr if "
     "unwritable)", NULL, 0, 0, 0, OFF(stats_file)},
    {"HISTORY", GS_OPT_LONG, "an integer from 0 to 65536",
     "steps kept in the step history of the statistics (the first half and "
     "the most recent half), for graphshim report --svg",
     NULL, 0, 0, 65536, OFF(history)},
    {"WARMUP", GS_OPT_LONG, "an integer from 2 to 1000",
     "occurrences of a step among its stream's last 32 before it becomes a "
     "template", NULL, 0, 2, 1000, OFF(warmup)},
    {"MIN_OPS", GS_OPT_LONG, "an integer from 1 to 65536",
     "shortest step that may become a template", NULL, 0, 1, 65536,
     OFF(min_ops)},
    {"MAX_OPS", GS_OPT_LONG, "an integer from 2 to 65536",
     "longest step that may become a template; also the run without a "
     "barrier after which a period is looked for", NULL, 0, 2, 65536,
     OFF(max_ops)},
    {"MAX_GRAPHS", GS_OPT_LONG, "an integer from 1 to 100000",
     "templates kept; the least recently used is evicted", NULL, 0, 1, 100000,
     OFF(max_graphs)},
    {"STAGING_MAX", GS_OPT_SIZE, "a size up to 1G (suffixes K, M, G)",
     "largest host-to-device copy the shim snapshots; larger ones are "
     "barriers", NULL, 0, 0, 1l << 30, OFF(staging_max)},
    {"CHUNK_OPS", GS_OPT_LONG, "an integer from 0 (one graph a step) to 65536",
     "nodes per graph chunk, each launched as soon as its ops have matched",
     NULL, 0, 0, 65536, OFF(chunk_ops)},
    {"PAYOFF", GS_OPT_BOOL, "1/true/yes/on or 0/false/no/off",
     "retire a template whose replays cost more (measured launches, patches "
     "and holding) than its ops cost eagerly: it runs eagerly from then on",
     NULL, 0, 0, 0, OFF(payoff)},
    {"HOST_WAIT", GS_OPT_LONG, "an integer from 0 to 1000000 (microseconds)",
     "how long a step that holds a host function may stop growing before the "
     "shim issues it (the program may be waiting for the callback, as JAX "
     "does); a host function waited for ends its step from then on; 0: every "
     "host function ends its step", NULL, 0, 0, 1000000, OFF(host_wait)},
    {"HOST_MERGE", GS_OPT_BOOL, "1/true/yes/on or 0/false/no/off",
     "host functions of one stream with only waits on the step's own events "
     "between them run from one host node of a graph, in their order (a host "
     "node costs a launch about ten kernel nodes' time); 0: a node each",
     NULL, 0, 0, 0, OFF(host_merge)},
    {"HOST_AFTER", GS_OPT_BOOL, "1/true/yes/on or 0/false/no/off",
     "host functions that nothing in their graph chunk follows run after the "
     "chunk's graph, all from one cuLaunchHostFunc (on their own stream when "
     "they are of one), in their order, rather than from host nodes (a host "
     "node costs a launch about 3.2 us, and its stream waits for the "
     "callback); 0: host nodes",
     NULL, 0, 0, 0, OFF(host_after)},
    {"UNLOCKED_LAUNCH", GS_OPT_ENUM, "auto, on or off",
     "graph launches are made after the shim's engine lock is released, so "
     "that other threads' held ops need not wait for them (every driver call "
     "still follows them); auto: once a second thread calls through the "
     "engine (JAX's upload thread); off: under the lock",
     unlocked_names, 3, 0, 0, OFF(unlocked_launch)},
    {"CHUNK_FIRST", GS_OPT_LONG, "an integer from 1 to 65536",
     "nodes in a template's first chunk (the GPU starts on a step once they "
     "are in); each next chunk doubles, up to GRAPHSHIM_CHUNK_OPS",
     NULL, 0, 1, 65536, OFF(chunk_first)},
    {"DENY_KERNELS", GS_OPT_LIST, "comma-separated kernel-name patterns (fnmatch)",
     "kernels never graphed, added to the built-in *nccl*,*Nccl*,*NCCL*",
     NULL, 0, 0, 0, OFF(deny_kernels)},
    {"DUMP_DIR", GS_OPT_PATH, "a directory path (%p is replaced by the pid)",
     "one text file per template: its nodes, their edges, and which arguments "
     "changed between replays and how often", NULL, 0, 0, 0, OFF(dump_dir)},
    {"TEST_FAIL", GS_OPT_LIST, "name@nth[xcount],... (for tests)",
     "for tests only: the nth call of a driver function the shim itself "
     "makes fails with CUDA_ERROR_UNKNOWN", NULL, 0, 0, 0, OFF(test_fail)},
    {"TEST_DROP_EDGE", GS_OPT_LONG, "an integer from 0 (none) to 1000000 (for tests)",
     "for tests only: every graph built leaves out its nth edge, so a test can "
     "prove that a missing dependency is caught", NULL, 0, 0, 1000000,
     OFF(test_drop_edge)},
    {"TEST_UNORDERED", GS_OPT_BOOL, "1/true/yes/on or 0/false/no/off (for tests)",
     "for tests only: driver calls do not wait for graph launches another "
     "thread makes after the engine lock (GRAPHSHIM_UNLOCKED_LAUNCH), so a "
     "test can prove that the missing order is caught", NULL, 0, 0, 0,
     OFF(test_unordered)},
    {"TEST_SPIN", GS_OPT_LONG,
     "an integer from 0 (none) to 1000000 (nanoseconds; passthrough mode only)",
     "for measurements only: in passthrough mode every kernel launch waits this "
     "long before it goes to the driver, to measure how much of a program's "
     "time follows the cost of its launches", NULL, 0, 0, 1000000, OFF(test_spin)},
};
#undef OFF
const size_t gs_noptdescs = sizeof gs_optdescs / sizeof gs_optdescs[0];

const gs_optdesc_t *gs_opt_find(const char *name)
{
    if (strncmp(name, "GRAPHSHIM_", 10) == 0)
        name += 10;
    for (size_t i = 0; i < gs_noptdescs; i++)
        if (strcmp(gs_optdescs[i].name, name) == 0)
            return &gs_optdescs[i];
    return NULL;
}

bool gs_opt_parse(const gs_optdesc_t *d, const char *v, gs_options_t *o)
{
    char *field = (char *)o + d->offset;
    switch (d->kind) {
    case GS_OPT_ENUM: {
        int x;
        if (!parse_enum(v, d->names, d->nnames, &x))
            return false;
        memcpy(field, &x, sizeof x);
        return true;
    }
    case GS_OPT_STATS: {
        bool b;
        int x;
        if (gs_parse_bool(v, &b))
            x = b ? GS_STATS_ON : GS_STATS_OFF;
        else if (strcasecmp(v, "verbose") == 0)
            x = GS_STATS_VERBOSE;
        else
            return false;
        memcpy(field, &x, sizeof x);
        return true;
    }
    case GS_OPT_PATH: {
        char tmp[sizeof o->log_file];
        if (*v == '\0' || d->size > sizeof tmp || !gs_expand_path(v, tmp, d->size))
            return false;
        memcpy(field, tmp, strlen(tmp) + 1);
        return true;
    }
    case GS_OPT_LONG: {
        long x;
        if (!gs_parse_long(v, d->min, d->max, &x))
            return false;
        memcpy(field, &x, sizeof x);
        return true;
    }
    case GS_OPT_SIZE: {
        size_t x;
        if (!gs_parse_size(v, &x) || x > (size_t)d->max)
            return false;
        memcpy(field, &x, sizeof x);
        return true;
    }
    case GS_OPT_LIST:
        if (*v == '\0' || strlen(v) >= d->size)
            return false;
        memcpy(field, v, strlen(v) + 1);
        return true;
    case GS_OPT_BOOL: {
        bool b;
        if (!gs_parse_bool(v, &b))
            return false;
        int x = b;
        memcpy(field, &x, sizeof x);
        return true;
    }
    }
    return false;
}

void gs_opt_format(const gs_optdesc_t *d, const gs_options_t *o, char *buf,
                   size_t n)
{
    const char *field = (const char *)o + d->offset;
    int x;
    long l;
    size_t z;
    switch (d->kind) {
    case GS_OPT_ENUM:
    case GS_OPT_STATS:
        memcpy(&x, field, sizeof x);
        snprintf(buf, n, "%s", (unsigned)x < d->nnames ? d->names[x] : "?");
        return;
    case GS_OPT_PATH:
    case GS_OPT_LIST:
        snprintf(buf, n, "%s", field);
        return;
    case GS_OPT_LONG:
        memcpy(&l, field, sizeof l);
        snprintf(buf, n, "%ld", l);
        return;
    case GS_OPT_SIZE:
        memcpy(&z, field, sizeof z);
        snprintf(buf, n, "%zu", z);
        return;
    case GS_OPT_BOOL:
        memcpy(&x, field, sizeof x);
        snprintf(buf, n, "%s", x ? "on" : "off");
        return;
    }
    snprintf(buf, n, "?");
}

const char *gs_opt_cross_check(gs_options_t *o)
{
    /* Both values were valid alone, so both fall back together. */
    if (o->min_ops > o->max_ops) {
        o->min_ops = gs_opt_defaults.min_ops;
        o->max_ops = gs_opt_defaults.max_ops;
        return "GRAPHSHIM_MIN_OPS exceeds GRAPHSHIM_MAX_OPS";
    }
    return NULL;
}
