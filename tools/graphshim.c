/* graphshim.c: the launcher. Runs a program with libgraphshim.so preloaded
 * and its options set from flags, prints the configuration, and hands
 * `graphshim report` to report.c.
 *
 *   graphshim [--mode M] [--log L] [--stats[=FILE]] [--verbose] [--dump DIR]
 *             [--set VAR=VALUE]... [--lib PATH] [--] program [args...]
 *   graphshim --print-config [flags...]
 *   graphshim report [--svg FILE] A.json [B.json...]
 *
 * Every option comes from the library's own table (src/optable.c, compiled
 * into this program; the interposing library itself is never linked), so
 * names, defaults, meanings and validation cannot drift apart. A bad flag
 * or value is refused before the program starts: one line on stderr, exit
 * 2. Values the environment already holds are passed on untouched (the
 * library warns about bad ones and keeps the default); flags win over the
 * environment.
 *
 * Which library: --lib PATH; else, when this executable is the one in the
 * build tree, the library built beside it; else the installed one, whose
 * path configure and make baked in (GS_LIBDIR). LD_PRELOAD keeps what the
 * user had, in order, with the shim appended (so a library preloaded to
 * wrap the driver stays in front of it, and a sanitizer runtime stays
 * first); an entry that is already a libgraphshim.so is replaced in place,
 * so the shim is never loaded twice.
 */
#include "config.h"
#include "options.h"
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GS_LIBDIR
#error "GS_LIBDIR (the installed library's directory) must be defined by the build"
#endif

#define USAGE "usage: graphshim [options] [--] program [args...]  (graphshim --help)"

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("graphshim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void help(void)
{
    printf("usage: graphshim [options] [--] program [args...]\n"
           "       graphshim --print-config [options]\n"
           "       graphshim report [--svg FILE] STATS.json [STATS.json...]\n"
           "\n"
           "Runs program with libgraphshim.so preloaded: the repeating steps of its CUDA\n"
           "work are replayed as CUDA graphs. Results stay bit-identical.\n"
           "\n"
           "options (each sets a GRAPHSHIM_ variable for the program):\n"
           "  --mode M          replay (default), observe or passthrough\n"
           "  --log L           error, warn (default), info, debug or trace\n"
           "  --stats           print the exit summary (findings first)\n"
           "  --stats=FILE      and write the statistics as JSON to FILE (%%p: the pid)\n"
           "  --verbose         the summary with its detail tables (GRAPHSHIM_STATS=verbose)\n"
           "  --dump DIR        GRAPHSHIM_DUMP_DIR: one text file per template\n"
           "  --set VAR=VALUE   any option (graphshim --print-config lists them);\n"
           "                    VAR with or without the GRAPHSHIM_ prefix\n"
           "  --lib PATH        preload this libgraphshim.so instead of the installed one\n"
           "  --print-config    print every option: value, where it came from, default,\n"
           "                    meaning; then exit\n"
           "  --help, --version\n"
           "\n"
           "The program's exit status is graphshim's; 2 is graphshim's own error (a bad\n"
           "flag or value, no program), 126 and 127 a program it could not run.\n"
           "See graphshim(1) and graphshim(7).\n");
}

/* ---------------------------------------------------------------- settings */

typedef struct {
    const gs_optdesc_t *d;
    const char *value; /* as given */
    const char *from;  /* the flag that set it */
} setting_t;

static setting_t settings[64];
static size_t nsettings;

/* Validates and records VAR=VALUE from `flag`; a later one replaces an
 * earlier one of the same variable. */
static void set_option(const char *var, const char *value, const char *flag)
{
    const gs_optdesc_t *d = gs_opt_find(var);
    if (d == NULL)
        die("%s: unknown option %s (graphshim --print-config lists them)", flag, var);
    gs_options_t scratch = gs_opt_defaults;
    if (!gs_opt_parse(d, value, &scratch))
        die("%s: invalid value \"%s\" for GRAPHSHIM_%s; it accepts %s", flag, value,
            d->name, d->accepts);
    for (size_t i = 0; i < nsettings; i++)
        if (settings[i].d == d) {
            settings[i].value = value;
            settings[i].from = flag;
            return;
        }
    if (nsettings == sizeof settings / sizeof settings[0])
        die("%s: too many settings", flag);
    settings[nsettings++] = (setting_t){d, value, flag};
}

static const setting_t *setting_of(const gs_optdesc_t *d)
{
    for (size_t i = 0; i < nsettings; i++)
        if (settings[i].d == d)
            return &settings[i];
    return NULL;
}

/* The argument of a flag given as "--flag VALUE" or "--flag=VALUE"; NULL if
 * argv[*i] is not this flag. */
static const char *flag_arg(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        die("%s needs a value", flag);
    return argv[++*i];
}

/* ---------------------------------------------------------------- library */

static bool exists(const char *path) { return access(path, R_OK) == 0; }

/* The library to preload, and in `how` why that one. */
static const char *find_library(const char *given, const char **how)
{
    static char path[PATH_MAX];
    if (given != NULL) {
        if (!exists(given))
            die("--lib: %s: %s", given, strerror(errno));
        *how = "--lib";
        return given;
    }
#ifdef GS_BUILD_TOOL
    char self[PATH_MAX], built[PATH_MAX];
    if (realpath("/proc/self/exe", self) != NULL && realpath(GS_BUILD_TOOL, built) != NULL &&
        strcmp(self, built) == 0 && exists(GS_BUILD_LIB)) {
        *how = "the build tree";
        return GS_BUILD_LIB;
    }
#endif
    static const char *const names[] = {"libgraphshim.so", "libgraphshim.so.0"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", GS_LIBDIR, names[i]);
        if (exists(path)) {
            *how = "installed";
            return path;
        }
    }
    snprintf(path, sizeof path, "%s/libgraphshim.so", GS_LIBDIR);
    *how = "installed, but missing";
    return path;
}

static bool is_shim(const char *entry)
{
    const char *b = strrchr(entry, '/');
    b = b ? b + 1 : entry;
    return strncmp(b, "libgraphshim.so", 15) == 0;
}

/* LD_PRELOAD for the program: the user's entries in order, the shim in
 * place of any libgraphshim.so among them, else appended. */
static char *compose_preload(const char *lib, const char *old)
{
    size_t cap = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *out = calloc(cap, 1), *copy = strdup(old ? old : "");
    if (out == NULL || copy == NULL)
        die("out of memory");
    bool placed = false;
    for (char *save = NULL, *e = strtok_r(copy, ": ", &save); e != NULL;
         e = strtok_r(NULL, ": ", &save)) {
        if (is_shim(e)) {
            if (placed)
                continue;
            e = (char *)lib;
            placed = true;
        }
        if (*out)
            strcat(out, ":");
        strcat(out, e);
    }
    if (!placed) {
        if (*out)
            strcat(out, ":");
        strcat(out, lib);
    }
    free(copy);
    return out;
}

/* ---------------------------------------------------------------- config */

static void print_config(const char *lib, const char *how, const char *preload)
{
    printf("library: %s (%s)\nLD_PRELOAD for the program: %s\n\n", lib, how, preload);
    for (size_t i = 0; i < gs_noptdescs; i++) {
        const gs_optdesc_t *d = &gs_optdescs[i];
        char var[64], dflt[1100];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", d->name);
        gs_opt_format(d, &gs_opt_defaults, dflt, sizeof dflt);
        const setting_t *s = setting_of(d);
        const char *env = getenv(var), *value = dflt, *from = "default";
        char note[1200] = "";
        if (s != NULL) {
            value = s->value;
            from = s->from;
            if (env != NULL)
                snprintf(note, sizeof note, ", replacing \"%s\" from the environment", env);
        } else if (env != NULL) {
            gs_options_t scratch = gs_opt_defaults;
            value = env;
            from = "environment";
            if (!gs_opt_parse(d, env, &scratch))
                snprintf(note, sizeof note, ", invalid: the library keeps the default");
        }
        printf("%s=%s\n    from %s%s; default %s; accepts %s\n    %s\n", var, value, from,
               note, *dflt ? dflt : "(unset)", d->accepts, d->meaning);
    }
    /* Variables of the prefix that are no option: most likely a typo. */
    extern char **environ;
    for (char **e = environ; *e != NULL; e++) {
        char var[128];
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "GRAPHSHIM_", 10) != 0 || eq == NULL || (size_t)(eq - *e) >= sizeof var)
            continue;
        memcpy(var, *e, (size_t)(eq - *e));
        var[eq - *e] = '\0';
        if (gs_opt_find(var) == NULL)
            printf("%s=%s\n    from environment; not an option of this version: ignored\n",
                   var, eq + 1);
    }
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "report") == 0)
        return gs_report_main(argc - 1, argv + 1);
    const char *libflag = NULL;
    bool print = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help();
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("graphshim %s\n", PACKAGE_VERSION);
            return 0;
        }
        if (strcmp(a, "--print-config") == 0) {
            print = true;
        } else if ((v = flag_arg(argc, argv, &i, "--mode")) != NULL) {
            set_option("MODE", v, "--mode");
        } else if ((v = flag_arg(argc, argv, &i, "--log")) != NULL) {
            set_option("LOG", v, "--log");
        } else if (strcmp(a, "--stats") == 0) {
            if (setting_of(gs_opt_find("STATS")) == NULL)
                set_option("STATS", "1", "--stats");
        } else if (strncmp(a, "--stats=", 8) == 0) {
            if (a[8] == '\0')
                die("--stats=FILE needs a file name");
            set_option("STATS_FILE", a + 8, "--stats");
            if (setting_of(gs_opt_find("STATS")) == NULL)
                set_option("STATS", "1", "--stats");
        } else if (strcmp(a, "--verbose") == 0) {
            set_option("STATS", "verbose", "--verbose");
        } else if ((v = flag_arg(argc, argv, &i, "--dump")) != NULL) {
            set_option("DUMP_DIR", v, "--dump");
        } else if ((v = flag_arg(argc, argv, &i, "--set")) != NULL) {
            const char *eq = strchr(v, '=');
            char var[128];
            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof var)
                die("--set: expected VAR=VALUE, not \"%s\"", v);
            memcpy(var, v, (size_t)(eq - v));
            var[eq - v] = '\0';
            set_option(var, eq + 1, "--set");
        } else if ((v = flag_arg(argc, argv, &i, "--lib")) != NULL) {
            libflag = v;
        } else {
            die("unknown flag %s; " USAGE, a);
        }
    }
    /* The options as the library will see them: the cross-field rule. */
    gs_options_t all = gs_opt_defaults;
    bool flagged = false;
    for (size_t k = 0; k < gs_noptdescs; k++) {
        const gs_optdesc_t *d = &gs_optdescs[k];
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", d->name);
        const setting_t *s = setting_of(d);
        const char *v = s ? s->value : getenv(var);
        if (v != NULL)
            gs_opt_parse(d, v, &all);
        flagged |= s != NULL && (d->offset == offsetof(gs_options_t, min_ops) ||
                                 d->offset == offsetof(gs_options_t, max_ops));
    }
    const char *cross = gs_opt_cross_check(&all);
    if (cross != NULL && flagged)
        die("%s", cross);

    const char *how;
    const char *lib = find_library(libflag, &how);
    char *preload = compose_preload(lib, getenv("LD_PRELOAD"));
    if (print) {
        print_config(lib, how, preload);
        return 0;
    }
    if (i >= argc)
        die("no program to run; " USAGE);
    if (!exists(lib))
        die("the library %s is missing (%s); give one with --lib PATH", lib, how);
    for (size_t k = 0; k < nsettings; k++) {
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", settings[k].d->name);
        setenv(var, settings[k].value, 1);
    }
    setenv("LD_PRELOAD", preload, 1);
    execvp(argv[i], argv + i);
    int e = errno;
    fprintf(stderr, "graphshim: cannot run %s: %s\n", argv[i], strerror(e));
    return e == ENOENT ? 127 : 126;
}
