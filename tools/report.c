/* report.c: `graphshim report A.json [B.json...]`: the statistics of runs
 * side by side, one column per run: ops, the share replayed, graphs,
 * patches per step, the measured saving, the top step-breakers; then, per
 * run, the step-breakers with their callers. With --svg FILE, the runs'
 * step histories are drawn too (report_svg.c).
 *
 * Files from shims older than the schema (no "schema_version") are read
 * for what they have: the totals. A newer schema_version is read for the
 * fields this version knows, after a warning.
 */
#include "config.h"
#include "report.h"
#include "fmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_SCHEMA 1
#define TOP 5           /* step-breakers per column */
#define MAX_RUNS 16

const char *const gs_report_reasons[] = {
    "barrier", "attribute", "denied", "layout", "args", "pageable", "legacy",
    "stream", "event", "staging", "full", "mismatch", "capture", "failed",
};
const size_t gs_report_nreasons = sizeof gs_report_reasons / sizeof gs_report_reasons[0];

/* ---------------------------------------------------------------- cells */

#define MAX_ROWS 32
#define CELL 160

typedef struct {
    char label[40];
    char cell[MAX_RUNS][CELL];
} row_t;

static row_t rows[MAX_ROWS];
static size_t nrows;

static row_t *row(const char *label)
{
    for (size_t i = 0; i < nrows; i++)
        if (strcmp(rows[i].label, label) == 0)
            return &rows[i];
    if (nrows == MAX_ROWS)
        return &rows[MAX_ROWS - 1];
    snprintf(rows[nrows].label, sizeof rows[nrows].label, "%s", label);
    return &rows[nrows++];
}

static void cell(const char *label, size_t run, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cell(const char *label, size_t run, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(row(label)->cell[run], CELL, fmt, ap);
    va_end(ap);
}

/* A breaker's call or attribute, short: attribute names lose their prefix. */
static const char *short_name(const jval_t *b)
{
    const char *n = json_str(json_get(b, "name"), "");
    return strncmp(n, "CU_LAUNCH_ATTRIBUTE_", 20) == 0 ? n + 20 : n;
}

static void frame_text(const jval_t *f, char *buf, size_t n)
{
    const char *sym = json_str(json_get(f, "symbol"), NULL);
    const char *lib = gs_base_name(json_str(json_get(f, "library"), "?"));
    if (sym != NULL)
        snprintf(buf, n, "%s (%s)", sym, lib);
    else
        snprintf(buf, n, "%s+%#llx", lib, (unsigned long long)json_num(json_get(f, "offset"), 0));
}

/* ---------------------------------------------------------------- columns */

static double total(const jval_t *doc, const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "totals.%s", name);
    return json_num(json_path(doc, path), 0);
}

static void fill_column(size_t c, const gs_run_t *r)
{
    const jval_t *d = r->doc;
    char a[32], b[32];
    double ops = total(d, "ops"), rep = total(d, "ops_replayed"), steps = total(d, "replays");
    double built = total(d, "graphs_built"), evicted = total(d, "graphs_evicted");
    cell("file", c, "%s", gs_base_name(r->path));
    cell("pid, mode", c, "%.0f %s", json_num(json_get(d, "pid"), 0),
         json_str(json_get(d, "mode"), "?"));
    cell("ops", c, "%.0f", ops);
    cell("replayed", c, "%.0f (%.1f%%)", rep, ops > 0 ? 100.0 * rep / ops : 0.0);
    cell("graphs in use", c, "%.0f (%.0f built)", built > evicted ? built - evicted : 0, built);
    cell("steps replayed", c, "%.0f in %.0f launches", steps, total(d, "graph_launches"));
    cell("patches per step", c, "%.1f", steps > 0 ? total(d, "nodes_patched") / steps : 0.0);
    const jval_t *sv = json_path(d, "costs.saving");
    if (sv == NULL)
        cell("time saved (estimate)", c, "not in this file");
    else if (json_get(sv, "measured") == NULL || !json_get(sv, "measured")->b)
        cell("time saved (estimate)", c, "not measured");
    else
        cell("time saved (estimate)", c, "%s", gs_fmt_ns(json_num(json_get(sv, "saved_ns"), 0), a,
                                                    sizeof a));
    const jval_t *eager = json_path(d, "costs.eager");
    if (json_num(json_get(eager, "n"), 0) > 0)
        cell("eager op (median)", c, "%s (%.0f timed)",
             gs_fmt_ns(json_num(json_get(eager, "median_ns"), 0), b, sizeof b),
             json_num(json_get(eager, "n"), 0));
    else
        cell("eager op (median)", c, "-");
    const jval_t *top = json_path(d, "breakers.top");
    size_t n = top && top->t == J_ARR ? top->n : 0;
    for (size_t i = 0; i < TOP; i++) {
        /* The rows after the first have blank labels, distinct by length. */
        char label[40];
        if (i == 0)
            snprintf(label, sizeof label, "top step-breakers");
        else
            snprintf(label, sizeof label, "%*s", (int)i, "");
        if (i < n) {
            const jval_t *b0 = top->items[i];
            const char *nm = short_name(b0);
            cell(label, c, "%zu. %s%s%s x%.0f", i + 1, json_str(json_get(b0, "reason"), "?"),
                 *nm ? " " : "", nm, json_num(json_get(b0, "count"), 0));
        } else if (i == 0) {
            /* An engine that records no step-breakers still counts its
             * divergences. */
            static const char *const divs[] = {"div_mismatch", "div_barrier", "div_stream",
                                               "div_staging", "div_full"};
            char counted[CELL] = "";
            for (size_t k = 0; k < sizeof divs / sizeof divs[0]; k++) {
                double v = total(d, divs[k]);
                size_t at = strlen(counted);
                if (v > 0 && at < sizeof counted)
                    snprintf(counted + at, sizeof counted - at, "%s%s %.0f", at ? ", " : "",
                             divs[k] + 4, v);
            }
            if (top == NULL)
                cell(label, c, "not in this file");
            else if (*counted)
                cell(label, c, "none recorded (counted: %s)", counted);
            else
                cell(label, c, "none recorded");
        } else {
            row(label);
        }
    }
}

static void print_table(size_t nruns)
{
    size_t w0 = 0, w[MAX_RUNS] = {0};
    for (size_t r = 0; r < nrows; r++) {
        size_t l = strlen(rows[r].label);
        w0 = l > w0 ? l : w0;
        for (size_t c = 0; c < nruns; c++) {
            size_t k = strlen(rows[r].cell[c]);
            w[c] = k > w[c] ? k : w[c];
        }
    }
    for (size_t r = 0; r < nrows; r++) {
        bool any = false;
        for (size_t c = 0; c < nruns; c++)
            any |= rows[r].cell[c][0] != '\0';
        if (!any)
            continue;
        printf("%-*s", (int)w0, rows[r].label);
        for (size_t c = 0; c < nruns; c++)
            printf("  %-*s", c + 1 < nruns ? (int)w[c] : 0, rows[r].cell[c]);
        printf("\n");
    }
}

static void print_breakers(size_t c, const gs_run_t *r)
{
    const jval_t *top = json_path(r->doc, "breakers.top");
    if (top == NULL || top->t != J_ARR || top->n == 0)
        return;
    printf("\nrun %zu (%s): step-breakers, with the program's callers\n", c + 1,
           gs_base_name(r->path));
    for (size_t i = 0; i < top->n; i++) {
        const jval_t *b = top->items[i];
        const char *nm = json_str(json_get(b, "name"), "");
        double count = json_num(json_get(b, "count"), 0);
        char times[32];
        snprintf(times, sizeof times, count == 1 ? "once" : count == 2 ? "twice" : "%.0f times",
                 count);
        printf("  %zu. %s%s%s: %s\n", i + 1, json_str(json_get(b, "reason"), "?"),
               *nm ? " " : "", nm, times);
        const jval_t *callers = json_get(b, "callers");
        for (size_t k = 0; callers && k < callers->n; k++) {
            const jval_t *frames = json_get(callers->items[k], "frames");
            printf("     from ");
            for (size_t f = 0; frames && f < frames->n; f++) {
                char t[256];
                frame_text(frames->items[f], t, sizeof t);
                printf("%s%s", f ? " <- " : "", t);
            }
            printf("\n");
        }
    }
}

/* ---------------------------------------------------------------- main */

static int usage(void)
{
    fprintf(stderr, "graphshim: usage: graphshim report [--svg FILE] STATS.json [STATS.json...]\n");
    return 2;
}

int gs_report_main(int argc, char **argv)
{
    static gs_run_t runs[MAX_RUNS];
    const char *svg = NULL;
    size_t nruns = 0;
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: graphshim report [--svg FILE] STATS.json [STATS.json...]\n"
                   "Prints runs side by side from their GRAPHSHIM_STATS_FILE statistics; "
                   "with --svg,\ndraws each stream's steps over time (replayed, eager, "
                   "learning; eager by reason).\n");
            return 0;
        }
        if (strcmp(argv[i], "--svg") == 0 || strncmp(argv[i], "--svg=", 6) == 0) {
            if (argv[i][5] == '=')
                svg = argv[i] + 6;
            else if (i + 1 < argc)
                svg = argv[++i];
            if (svg == NULL || *svg == '\0') {
                fprintf(stderr, "graphshim: report: --svg needs a file name\n");
                return 2;
            }
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "graphshim: report: unknown flag %s; usage: graphshim report "
                    "[--svg FILE] STATS.json [STATS.json...]\n", argv[i]);
            return 2;
        }
        if (nruns == MAX_RUNS) {
            fprintf(stderr, "graphshim: report: at most %d files\n", MAX_RUNS);
            return 2;
        }
        char err[256];
        jval_t *doc = json_parse_file(argv[i], err, sizeof err);
        if (doc == NULL || doc->t != J_OBJ || json_get(doc, "totals") == NULL) {
            fprintf(stderr, "graphshim: report: %s: %s\n", argv[i],
                    doc == NULL ? err : "not graphshim statistics (no \"totals\")");
            json_free(doc);
            return 2;
        }
        double v = json_num(json_get(doc, "schema_version"), 0);
        if (v > KNOWN_SCHEMA)
            fprintf(stderr, "graphshim: report: warning: %s has schema version %.0f, newer than "
                    "%d; reading the fields this version knows\n", argv[i], v, KNOWN_SCHEMA);
        runs[nruns++] = (gs_run_t){argv[i], doc};
    }
    if (nruns == 0)
        return usage();
    for (size_t c = 0; c < nruns; c++)
        fill_column(c, &runs[c]);
    print_table(nruns);
    for (size_t c = 0; c < nruns; c++)
        print_breakers(c, &runs[c]);
    if (svg != NULL) {
        FILE *f = fopen(svg, "w");
        if (f == NULL) {
            fprintf(stderr, "graphshim: report: cannot write %s\n", svg);
            status = 2;
        } else {
            gs_report_svg(f, runs, nruns);
            if (fclose(f) != 0) {
                fprintf(stderr, "graphshim: report: cannot write %s\n", svg);
                status = 2;
            }
        }
    }
    for (size_t c = 0; c < nruns; c++)
        json_free(runs[c].doc);
    return status;
}
