/* report.h: `graphshim report`, runs side by side from their statistics
 * (report.c), and their steps over time as an SVG (report_svg.c).
 */
#ifndef GS_TOOLS_REPORT_H
#define GS_TOOLS_REPORT_H

#include "json.h"

#include <stdio.h>

/* One statistics file, read. */
typedef struct {
    const char *path;
    jval_t *doc;
} gs_run_t;

/* graphshim report [--svg FILE] A.json [B.json...]; argv[0] is "report". */
int gs_report_main(int argc, char **argv);

/* Writes the SVG of the runs' step histories to f. */
void gs_report_svg(FILE *f, const gs_run_t *runs, size_t nruns);

/* The step-breaker reasons in the order of src/diag.h, for colours. */
extern const char *const gs_report_reasons[];
extern const size_t gs_report_nreasons;

#endif /* GS_TOOLS_REPORT_H */
