/* options.h: the one table of GRAPHSHIM_* options, shared by the library
 * (src/options.c reads the environment with it) and the launcher
 * (tools/graphshim prints and validates with it), so that names, defaults,
 * what each accepts, what each means and how a value is checked are written
 * once. Nothing here needs cuda.h or the rest of the shim: the launcher
 * compiles src/optable.c on its own and never links the interposing
 * library.
 */
#ifndef GS_OPTIONS_H
#define GS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { GS_MODE_REPLAY, GS_MODE_OBSERVE, GS_MODE_PASSTHROUGH } gs_mode_t;
typedef enum {
    GS_LOG_ERROR,
    GS_LOG_WARN,
    GS_LOG_INFO,
    GS_LOG_DEBUG,
    GS_LOG_TRACE
} gs_log_level_t;
/* GRAPHSHIM_STATS: off, on (the findings), verbose (and the detail tables). */
enum { GS_STATS_OFF, GS_STATS_ON, GS_STATS_VERBOSE };
/* GRAPHSHIM_UNLOCKED_LAUNCH. */
enum { GS_UNLOCKED_AUTO, GS_UNLOCKED_ON, GS_UNLOCKED_OFF };

typedef struct {
    gs_mode_t mode;
    gs_log_level_t log;
    char log_file[256];
    long log_limit;        /* debug and trace lines written; 0: no limit */
    int stats;             /* GS_STATS_* */
    char stats_file[256];
    long history;          /* steps kept in the step history */
    long warmup;           /* occurrences before a step becomes a template */
    long min_ops, max_ops; /* step lengths that may become templates */
    long max_graphs;       /* templates kept (LRU) */
    size_t staging_max;    /* largest host-to-device copy snapshotted */
    long chunk_ops;        /* nodes per graph chunk; 0: one graph a step */
    long chunk_first;      /* nodes in the first chunk; later ones double */
    int payoff;            /* retire templates whose replays do not pay */
    long host_wait;        /* us a held host function's step may stall; 0: they end steps */
    int host_merge;        /* host functions of a stream share host nodes */
    int host_after;        /* host functions nothing in a chunk follows run after it */
    int unlocked_launch;   /* GS_UNLOCKED_*: graph launches after the engine lock */
    char deny_kernels[1024]; /* extra kernel-name patterns never graphed */
    char dump_dir[256];    /* where template dumps go */
    char test_fail[256];   /* tests only: make the shim's own calls fail */
    long test_drop_edge;   /* tests only: leave out the n-th edge of each graph */
    int test_unordered;    /* tests only: calls do not wait for unlocked launches */
    long test_spin;        /* measurements only: ns each launch waits in passthrough */
} gs_options_t;

/* The defaults, in this initialiser and nowhere else: the library's gs_opt
 * starts with them (so messages logged before the environment is read use
 * them), and gs_opt_defaults is the same value for everyone else. */
#define GS_DEFAULT_OPTIONS                                                   \
    {                                                                        \
        .mode = GS_MODE_REPLAY, .log = GS_LOG_WARN, .log_file = "",          \
        .log_limit = 10000, .stats = GS_STATS_OFF, .stats_file = "",         \
        .history = 4096, .warmup = 3, .min_ops = 2, .max_ops = 4096,         \
        .max_graphs = 64, .staging_max = 64 << 10, .chunk_ops = 128,         \
        .chunk_first = 8, .payoff = 1, .host_wait = 500, .host_merge = 1,    \
        .host_after = 1, .unlocked_launch = GS_UNLOCKED_AUTO,                \
        .deny_kernels = "", .dump_dir = "", .test_fail = "",                 \
        .test_drop_edge = 0, .test_unordered = 0, .test_spin = 0,         \
    }
extern const gs_options_t gs_opt_defaults;

typedef enum {
    GS_OPT_ENUM,  /* one of `names`, stored as int */
    GS_OPT_STATS, /* a boolean or "verbose", stored as int */
    GS_OPT_PATH,  /* a path, %p expanded to the pid */
    GS_OPT_LONG,  /* an integer in [min, max] */
    GS_OPT_SIZE,  /* a size with K/M/G, up to max */
    GS_OPT_LIST,  /* a string kept as given */
    GS_OPT_BOOL   /* 1/true/yes/on or 0/false/no/off, stored as int */
} gs_opt_kind_t;

typedef struct {
    const char *name;    /* without the GRAPHSHIM_ prefix */
    gs_opt_kind_t kind;
    const char *accepts; /* what a warning says is accepted */
    const char *meaning; /* one sentence for --print-config */
    const char *const *names; /* GS_OPT_ENUM */
    size_t nnames;
    long min, max;       /* GS_OPT_LONG, GS_OPT_SIZE (max) */
    size_t offset;       /* into gs_options_t */
    size_t size;         /* string buffer size */
} gs_optdesc_t;

extern const gs_optdesc_t gs_optdescs[];
extern const size_t gs_noptdescs;

/* The descriptor of `name`, given with or without the GRAPHSHIM_ prefix
 * (case-sensitive, as environment variables are); NULL if unknown. */
const gs_optdesc_t *gs_opt_find(const char *name);
/* Parses `value` into o's field; false (o unchanged) for a bad value. */
bool gs_opt_parse(const gs_optdesc_t *d, const char *value, gs_options_t *o);
/* Writes o's field as text ("" for an unset path or list). */
void gs_opt_format(const gs_optdesc_t *d, const gs_options_t *o, char *buf,
                   size_t n);
/* Rules across fields. Returns NULL when o is consistent, else a sentence
 * saying what is wrong, after which o holds the defaults of those fields. */
const char *gs_opt_cross_check(gs_options_t *o);

/* Parsers, exposed for the unit tests. Return false for a bad value. */
bool gs_parse_bool(const char *s, bool *out);
bool gs_parse_long(const char *s, long min, long max, long *out);
bool gs_parse_size(const char *s, size_t *out);
const char *gs_mode_name(gs_mode_t m);
const char *gs_log_level_name(gs_log_level_t l);
/* Expands %p to the pid; false if the result does not fit. */
bool gs_expand_path(const char *pattern, char *out, size_t outsz);

#endif /* GS_OPTIONS_H */
