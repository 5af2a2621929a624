/* options.c: every GRAPHSHIM_* environment variable is read here, once, from
 * one table (mimalloc's options.c is the model).
 *
 * Grammar: booleans 1/true/yes/on and 0/false/no/off; enumerations by name;
 * numbers in decimal with an optional K/M/G suffix for sizes; paths may
 * contain %p for the process id. A bad value prints one warning naming the
 * variable and what it accepts, and the default stays in force. At
 * GRAPHSHIM_LOG=debug every option is printed with its value.
 */
#include "config.h"
#include "gs.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Defaults live in this initialiser and nowhere else. gs_opt starts with
 * them too, so messages logged before the environment is read use them. */
#define GS_DEFAULT_OPTIONS                                                   \
    {                                                                        \
        .mode = GS_MODE_REPLAY, .log = GS_LOG_WARN, .log_file = "",          \
        .stats = false, .stats_file = "", .warmup = 3, .min_ops = 2,         \
        .max_ops = 4096, .max_graphs = 64, .staging_max = 64 << 10,          \
        .chunk_ops = 64, .deny_kernels = "", .test_fail = "",                \
        .test_drop_edge = 0, .dump_dir = "",                                 \
    }
static const gs_options_t gs_defaults = GS_DEFAULT_OPTIONS;
gs_options_t gs_opt = GS_DEFAULT_OPTIONS;

static const char *const mode_names[] = {"replay", "observe", "passthrough"};
static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

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

typedef enum { OPT_ENUM, OPT_BOOL, OPT_PATH, OPT_LONG, OPT_SIZE, OPT_LIST } opt_kind_t;
_Static_assert(sizeof(gs_mode_t) == sizeof(int) &&
                   sizeof(gs_log_level_t) == sizeof(int),
               "enumerated options are stored as int");

typedef struct {
    const char *name;    /* without the GRAPHSHIM_ prefix */
    opt_kind_t kind;
    const char *accepts; /* what the warning says is accepted */
    const char *const *names; /* OPT_ENUM */
    size_t nnames;
    long min, max;       /* OPT_LONG, OPT_SIZE (max) */
    size_t offset;       /* into gs_options_t */
    size_t size;         /* OPT_PATH buffer size */
} opt_desc_t;

#define OFF(f) offsetof(gs_options_t, f)
static const opt_desc_t opt_table[] = {
    {"MODE", OPT_ENUM, "replay, observe or passthrough", mode_names, 3, 0, 0,
     OFF(mode), 0},
    {"LOG", OPT_ENUM, "error, warn, info, debug or trace", level_names, 5, 0, 0,
     OFF(log), 0},
    {"LOG_FILE", OPT_PATH, "a file path (%p is replaced by the pid)", NULL, 0,
     0, 0, OFF(log_file), sizeof gs_opt.log_file},
    {"STATS", OPT_BOOL, "1/true/yes/on or 0/false/no/off", NULL, 0, 0, 0,
     OFF(stats), 0},
    {"STATS_FILE", OPT_PATH, "a file path (%p is replaced by the pid)", NULL, 0,
     0, 0, OFF(stats_file), sizeof gs_opt.stats_file},
    {"WARMUP", OPT_LONG, "an integer from 2 to 1000", NULL, 0, 2, 1000,
     OFF(warmup), 0},
    {"MIN_OPS", OPT_LONG, "an integer from 1 to 65536", NULL, 0, 1, 65536,
     OFF(min_ops), 0},
    {"MAX_OPS", OPT_LONG, "an integer from 2 to 65536", NULL, 0, 2, 65536,
     OFF(max_ops), 0},
    {"MAX_GRAPHS", OPT_LONG, "an integer from 1 to 100000", NULL, 0, 1, 100000,
     OFF(max_graphs), 0},
    {"STAGING_MAX", OPT_SIZE, "a size up to 1G (suffixes K, M, G)", NULL, 0, 0,
     1l << 30, OFF(staging_max), 0},
    {"CHUNK_OPS", OPT_LONG, "an integer from 0 (one graph a step) to 65536", NULL,
     0, 0, 65536, OFF(chunk_ops), 0},
    {"DUMP_DIR", OPT_PATH, "a directory path (%p is replaced by the pid)", NULL, 0, 0, 0,
     OFF(dump_dir), sizeof gs_opt.dump_dir},
    {"DENY_KERNELS", OPT_LIST, "comma-separated kernel-name patterns (fnmatch)",
     NULL, 0, 0, 0, OFF(deny_kernels), sizeof gs_opt.deny_kernels},
    {"TEST_FAIL", OPT_LIST, "name@nth[xcount],... (for tests)", NULL, 0, 0, 0,
     OFF(test_fail), sizeof gs_opt.test_fail},
    {"TEST_DROP_EDGE", OPT_LONG, "an integer from 0 (none) to 1000000 (for tests)", NULL,
     0, 0, 1000000, OFF(test_drop_edge), 0},
};
#undef OFF
#define NOPTS (sizeof opt_table / sizeof opt_table[0])

static bool parse_one(const opt_desc_t *d, const char *v, gs_options_t *o)
{
    char *field = (char *)o + d->offset;
    switch (d->kind) {
    case OPT_ENUM: {
        int x;
        if (!parse_enum(v, d->names, d->nnames, &x))
            return false;
        /* Both enumerations are int-sized enums. */
        memcpy(field, &x, sizeof x);
        return true;
    }
    case OPT_BOOL:
        return gs_parse_bool(v, (bool *)field);
    case OPT_PATH:
        if (*v == '\0')
            return false;
        return gs_expand_path(v, field, d->size);
    case OPT_LONG:
        return gs_parse_long(v, d->min, d->max, (long *)field);
    case OPT_SIZE: {
        size_t x;
        if (!gs_parse_size(v, &x) || x > (size_t)d->max)
            return false;
        memcpy(field, &x, sizeof x);
        return true;
    }
    case OPT_LIST:
        if (*v == '\0' || strlen(v) >= d->size)
            return false;
        memcpy(field, v, strlen(v) + 1);
        return true;
    }
    return false;
}

void gs_options_init(void)
{
    gs_options_t o = gs_defaults;
    const char *bad[NOPTS];
    size_t nbad = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", opt_table[i].name);
        const char *v = getenv(var);
        if (v == NULL)
            continue;
        gs_options_t trial = o;
        if (parse_one(&opt_table[i], v, &trial))
            o = trial;
        else
            bad[nbad++] = opt_table[i].name;
    }
    /* A cross-field rule: the shortest template may not exceed the longest.
     * Both values were valid alone, so the later one is the one rejected. */
    bool bad_range = o.min_ops > o.max_ops;
    if (bad_range) {
        o.min_ops = gs_defaults.min_ops;
        o.max_ops = gs_defaults.max_ops;
    }
    gs_opt = o;
    if (bad_range)
        GS_WARN("GRAPHSHIM_MIN_OPS exceeds GRAPHSHIM_MAX_OPS; keeping the "
                "defaults %ld and %ld", o.min_ops, o.max_ops);
    /* Warn after the log level itself is known. */
    for (size_t i = 0; i < nbad; i++) {
        const opt_desc_t *d = NULL;
        for (size_t j = 0; j < NOPTS; j++)
            if (opt_table[j].name == bad[i])
                d = &opt_table[j];
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", d->name);
        GS_WARN("environment option %s has an invalid value \"%s\"; it accepts "
                "%s; keeping the default", var, getenv(var), d->accepts);
    }
}

void gs_options_log(void)
{
    if (gs_opt.log < GS_LOG_DEBUG)
        return;
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_desc_t *d = &opt_table[i];
        const char *field = (const char *)&gs_opt + d->offset;
        int x;
        switch (d->kind) {
        case OPT_ENUM:
            memcpy(&x, field, sizeof x);
            GS_DEBUG("option GRAPHSHIM_%s=%s", d->name, d->names[x]);
            break;
        case OPT_BOOL:
            GS_DEBUG("option GRAPHSHIM_%s=%d", d->name, *(const bool *)field);
            break;
        case OPT_PATH:
        case OPT_LIST:
            GS_DEBUG("option GRAPHSHIM_%s=%s", d->name,
                     *field ? field : "(unset)");
            break;
        case OPT_LONG:
            GS_DEBUG("option GRAPHSHIM_%s=%ld", d->name, *(const long *)field);
            break;
        case OPT_SIZE:
            GS_DEBUG("option GRAPHSHIM_%s=%zu", d->name, *(const size_t *)field);
            break;
        }
    }
}
