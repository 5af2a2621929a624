/* options.c: every GRAPHSHIM_* environment variable is read here, once,
 * with the shared table of src/optable.c (options.h), which the launcher
 * uses too.
 *
 * A bad value prints one warning naming the variable and what it accepts,
 * and the default stays in force (mimalloc's rule). At GRAPHSHIM_LOG=debug
 * every option is printed with its value.
 */
#include "config.h"
#include "gs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gs_options_t gs_opt = GS_DEFAULT_OPTIONS;

void gs_options_init(void)
{
    gs_options_t o = gs_opt_defaults;
    const gs_optdesc_t *bad[32];
    size_t nbad = 0;
    for (size_t i = 0; i < gs_noptdescs; i++) {
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", gs_optdescs[i].name);
        const char *v = getenv(var);
        if (v != NULL && !gs_opt_parse(&gs_optdescs[i], v, &o) && nbad < 32)
            bad[nbad++] = &gs_optdescs[i];
    }
    const char *cross = gs_opt_cross_check(&o);
    /* A spin outside passthrough would be charged to the shim's own
     * launches (the launcher has no say in it: not a cross-field rule). */
    bool spin_dropped = o.test_spin != 0 && o.mode != GS_MODE_PASSTHROUGH;
    if (spin_dropped)
        o.test_spin = 0;
    gs_opt = o;
    if (cross != NULL)
        GS_WARN("%s; keeping the defaults %ld and %ld", cross, o.min_ops, o.max_ops);
    if (spin_dropped)
        GS_WARN("GRAPHSHIM_TEST_SPIN applies only with GRAPHSHIM_MODE=passthrough; "
                "keeping the default 0");
    /* Warn after the log level itself is known. */
    for (size_t i = 0; i < nbad; i++) {
        char var[64];
        snprintf(var, sizeof var, "GRAPHSHIM_%s", bad[i]->name);
        GS_WARN("environment option %s has an invalid value \"%s\"; it accepts "
                "%s; keeping the default", var, getenv(var), bad[i]->accepts);
    }
}

void gs_options_log(void)
{
    if (gs_opt.log < GS_LOG_DEBUG)
        return;
    for (size_t i = 0; i < gs_noptdescs; i++) {
        char v[1100];
        gs_opt_format(&gs_optdescs[i], &gs_opt, v, sizeof v);
        GS_DEBUG("option GRAPHSHIM_%s=%s", gs_optdescs[i].name, *v ? v : "(unset)");
    }
}
