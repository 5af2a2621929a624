/* fmt.h: the few text forms the library's exit summary and the launcher's
 * `report` (tools/report.c, report_svg.c) both print, so that a figure
 * reads the same in both. Header-only: the launcher does not link the
 * library. */
#ifndef GS_FMT_H
#define GS_FMT_H

#include <stdio.h>
#include <string.h>

/* A duration with a readable unit ("1.3 ms"), into buf. */
static inline const char *gs_fmt_ns(double ns, char *buf, size_t n)
{
    double a = ns < 0 ? -ns : ns;
    if (a >= 1e9)
        snprintf(buf, n, "%.2f s", ns / 1e9);
    else if (a >= 1e6)
        snprintf(buf, n, "%.1f ms", ns / 1e6);
    else if (a >= 1e3)
        snprintf(buf, n, "%.1f us", ns / 1e3);
    else
        snprintf(buf, n, "%.0f ns", ns);
    return buf;
}

/* The last component of a path. */
static inline const char *gs_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#endif
