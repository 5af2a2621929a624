/* report_svg.c: `graphshim report --svg FILE`: each run's steps over time,
 * one lane per stream, each step a bar from the close of the stream's step
 * before it to its own close: green when replayed through graphs, grey
 * while the shim was learning, and for steps that ran eagerly the colour of
 * the step-breaker that cut them. A dashed line marks where the history
 * dropped steps (it keeps the first and the latest). Self-contained: no
 * scripts, no external fonts or styles; each bar carries a <title> that
 * viewers show as a tooltip.
 */
#include "config.h"
#include "report.h"
#include "fmt.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1000.0
#define LEFT 90.0   /* lane labels */
#define RIGHT 20.0
#define LANE 22.0
#define MAX_LANES 65

static const char *const reason_colour[] = {
    "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#9467bd",
    "#1f77b4", "#f0027f", "#bf5b17", "#666600", "#e6ab02", "#66a61e", "#000000",
};
#define COLOUR_REPLAYED "#2ca02c"
#define COLOUR_LEARNING "#c7c7c7"
#define COLOUR_UNCUT "#7f7f7f" /* eager with no reason recorded */

static const char *colour_of(const char *outcome, const char *reason)
{
    if (strcmp(outcome, "replayed") == 0)
        return COLOUR_REPLAYED;
    if (strcmp(outcome, "learning") == 0)
        return COLOUR_LEARNING;
    for (size_t i = 0; reason && i < gs_report_nreasons; i++)
        if (strcmp(reason, gs_report_reasons[i]) == 0)
            return reason_colour[i % (sizeof reason_colour / sizeof reason_colour[0])];
    return COLOUR_UNCUT;
}

/* Text for XML: the five special characters escaped, control characters
 * (which XML 1.0 forbids) dropped. */
static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

/* A step of the history, read. */
typedef struct {
    double seq, t, ops;
    int stream;
    const char *outcome, *reason;
} step_t;

static size_t read_steps(const jval_t *doc, step_t **out)
{
    const jval_t *steps = json_path(doc, "history.steps");
    size_t n = steps && steps->t == J_ARR ? steps->n : 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (*out == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const jval_t *s = steps->items[i];
        step_t *o = &(*out)[i];
        o->seq = json_num(json_get(s, "seq"), (double)i);
        o->t = json_num(json_get(s, "t_ns"), 0);
        o->ops = json_num(json_get(s, "ops"), 0);
        o->stream = (int)json_num(json_get(s, "stream"), 0);
        if (o->stream < 0 || o->stream >= MAX_LANES)
            o->stream = MAX_LANES - 1;
        o->outcome = json_str(json_get(s, "outcome"), "eager");
        o->reason = json_str(json_get(s, "reason"), NULL);
    }
    return n;
}

/* A tick step of 1, 2 or 5 times a power of ten, for about 8 ticks. */
static double tick_step(double span)
{
    double raw = span / 8, p = pow(10, floor(log10(raw > 0 ? raw : 1)));
    return raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
}

/* Draws one run at vertical offset y; returns the height used. */
static double draw_run(FILE *f, const gs_run_t *r, size_t index, double y)
{
    step_t *st;
    size_t n = read_steps(r->doc, &st);
    int lanes = 0;
    double tmax = 0;
    for (size_t i = 0; i < n; i++) {
        lanes = st[i].stream + 1 > lanes ? st[i].stream + 1 : lanes;
        tmax = st[i].t > tmax ? st[i].t : tmax;
    }
    const jval_t *hist = json_get(r->doc, "history");
    fprintf(f, "<g transform=\"translate(0,%.1f)\">\n<text x=\"4\" y=\"16\" "
            "font-weight=\"bold\">run %zu: ", y, index + 1);
    xml_text(f, gs_base_name(r->path));
    fprintf(f, " (%.0f steps closed, %zu kept)</text>\n", json_num(json_get(hist, "seen"), 0), n);
    if (n == 0) {
        fprintf(f, "<text x=\"%.0f\" y=\"40\">%s</text>\n</g>\n", LEFT,
                hist ? "no steps in the history (the engine recorded none)"
                     : "no history in this file (written by an older shim)");
        free(st);
        return 60;
    }
    double span = tmax > 0 ? tmax : 1, plot = WIDTH - LEFT - RIGHT;
    double top = 28, bottom = top + lanes * LANE;
#define X(t) (LEFT + (t) / span * plot)
    for (int l = 0; l < lanes; l++)
        fprintf(f, "<text x=\"4\" y=\"%.1f\">stream %d</text>\n", top + l * LANE + 15, l);
    double last[MAX_LANES];
    for (int l = 0; l < MAX_LANES; l++)
        last[l] = -1;
    for (size_t i = 0; i < n; i++) {
        const step_t *s = &st[i];
        if (i > 0 && s->seq > st[i - 1].seq + 1) {
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#444\" "
                    "stroke-dasharray=\"4,3\"><title>%.0f steps not kept</title></line>\n",
                    X(s->t), top - 4, X(s->t), bottom + 2, s->seq - st[i - 1].seq - 1);
            for (int l = 0; l < MAX_LANES; l++)
                last[l] = -1; /* the next bar starts at its own close */
        }
        double t0 = last[s->stream] >= 0 ? last[s->stream] : s->t;
        double x0 = X(t0), w = X(s->t) - x0;
        if (w < 0.6) {
            w = 0.6;
            x0 = X(s->t) - w;
        }
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\">"
                "<title>step %.0f, stream %d: %s, %.0f ops", x0, top + s->stream * LANE + 3,
                w, LANE - 6, colour_of(s->outcome, s->reason), s->seq, s->stream, s->outcome,
                s->ops);
        if (s->reason) {
            fputs(", cut by ", f);
            xml_text(f, s->reason);
        }
        fprintf(f, ", at %.3f ms</title></rect>\n", s->t / 1e6);
        last[s->stream] = s->t;
    }
    /* The time axis. */
    double step = tick_step(span / 1e6);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#000\"/>\n", LEFT,
            bottom + 4, WIDTH - RIGHT, bottom + 4);
    for (double t = 0; t <= span / 1e6 + 1e-9; t += step)
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" stroke=\"#000\"/>"
                "<text x=\"%.2f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", X(t * 1e6),
                bottom + 4, X(t * 1e6), bottom + 8, X(t * 1e6), bottom + 20, t);
    fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">ms since the first step "
            "closed</text>\n</g>\n", WIDTH - RIGHT, bottom + 34);
#undef X
    free(st);
    return bottom + 44;
}

void gs_report_svg(FILE *f, const gs_run_t *runs, size_t nruns)
{
    /* Heights first, so the root element can say how tall it is. */
    double h = 10;
    FILE *null = fopen("/dev/null", "w");
    for (size_t i = 0; null && i < nruns; i++)
        h += draw_run(null, &runs[i], i, 0);
    if (null)
        fclose(null);
    double legend = 24 + 18 * ((gs_report_nreasons + 3 + 4) / 5);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<title>graphshim: steps over time</title>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n", WIDTH, h + legend, WIDTH,
            h + legend);
    double y = 10;
    for (size_t i = 0; i < nruns; i++)
        y += draw_run(f, &runs[i], i, y);
    /* The legend: outcomes, then eager steps by reason. */
    fprintf(f, "<g transform=\"translate(0,%.1f)\">\n<text x=\"4\" y=\"12\" "
            "font-weight=\"bold\">steps</text>\n", y);
    const char *labels[32], *colours[32];
    size_t k = 0;
    labels[k] = "replayed", colours[k++] = COLOUR_REPLAYED;
    labels[k] = "learning", colours[k++] = COLOUR_LEARNING;
    labels[k] = "eager, no reason", colours[k++] = COLOUR_UNCUT;
    for (size_t i = 0; i < gs_report_nreasons && k < 32; i++)
        labels[k] = gs_report_reasons[i], colours[k++] = colour_of("eager", gs_report_reasons[i]);
    for (size_t i = 0; i < k; i++) {
        double lx = LEFT + (double)(i % 5) * 180, ly = 4 + (double)(i / 5) * 18;
        fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.0f\">%s%s</text>\n", lx, ly, colours[i], lx + 16, ly + 10,
                i >= 3 ? "eager: " : "", labels[i]);
    }
    fprintf(f, "</g>\n</svg>\n");
}
