/* sim_entry.c: simcuda's entry points by name: the path every exported
 * call takes (call counting, injected failures, the SIMCUDA_VERBOSE error
 * line), the base names that simcuda_calls() and simcuda_fail() match, the
 * SIMCUDA_FAIL and SIMCUDA_GPA_HIDDEN settings, and cuGetProcAddress.
 *
 * All of it works on one table: the rows (entry point, version) that each
 * sim_*.c file contributes, gathered here. It lives apart from sim_core.c,
 * which simulates the device and its contexts, because none of it simulates
 * anything: it is how a call is found, counted and made to fail. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "sim_internal.h"

static int gpa_hidden;

/* -------------------------------------- the table, entry path, injection */

#define SIM_MAX_RULES 64
static struct rule {
    char name[64];
    int is_base;
    unsigned nth, count;
    CUresult code;
    unsigned long long seen;
} rules[SIM_MAX_RULES];
static int nrules;

static const struct {
    const sim_proc_t *rows;
    const size_t *n;
} tables[] = {
    { sim_core_procs, &sim_core_nprocs },       { sim_entry_procs, &sim_entry_nprocs },
    { sim_mem_procs, &sim_mem_nprocs },         { sim_copy_procs, &sim_copy_nprocs },
    { sim_stream_procs, &sim_stream_nprocs },   { sim_launch_procs, &sim_launch_nprocs },
    { sim_graph_procs, &sim_graph_nprocs },     { sim_exec_procs, &sim_exec_nprocs },
    { sim_capture_procs, &sim_capture_nprocs }, { sim_kernels_procs, &sim_kernels_nprocs },
};
#define FOR_EACH_PROC(p)                                                    \
    for (size_t t_ = 0; t_ < sizeof tables / sizeof tables[0]; t_++)        \
        for (const sim_proc_t *p = tables[t_].rows; p < tables[t_].rows + *tables[t_].n; p++)

static int is_base_name(const char *s)
{
    FOR_EACH_PROC(p)
        if (!strcmp(p->entry->base, s))
            return 1;
    return 0;
}

/* The matching rule of simcuda_calls() and simcuda_fail(), see simcuda.h. */
static int name_matches(const char *pat, int pat_is_base, const sim_entry_t *e)
{
    if (pat[0] == '=')
        return !strcmp(pat + 1, e->name);
    return pat_is_base ? !strcmp(pat, e->base) : !strcmp(pat, e->name);
}

CUresult sim_enter(sim_entry_t *e, int hidden, int *locked)
{
    (void)hidden;
    __atomic_add_fetch(&e->calls, 1, __ATOMIC_RELAXED);
    *locked = 0;
    sim_tl.reason[0] = '\0';
    if (sim_tl.in_host_fn)
        return sim_err(CUDA_ERROR_NOT_PERMITTED, "called from inside a host function or kernel");
    sim_lock();
    *locked = 1;
    for (int i = 0; i < nrules; i++) {
        struct rule *r = &rules[i];
        if (!name_matches(r->name, r->is_base, e))
            continue;
        r->seen++;
        if (r->seen >= r->nth && (r->count == 0 || r->seen < (unsigned long long)r->nth + r->count))
            return sim_err(r->code, "injected failure (call %llu)", r->seen);
    }
    return CUDA_SUCCESS;
}

CUresult sim_leave(sim_entry_t *e, CUresult r, int locked)
{
    if (r != CUDA_SUCCESS && sim_verbose)
        fprintf(stderr, "simcuda: error: %s: %s\n", e->name,
                sim_tl.reason[0] ? sim_tl.reason : sim_error_name(r));
    if (locked)
        sim_unlock();
    return r;
}

static int add_rule(const char *name, unsigned nth, unsigned count, CUresult code)
{
    if (!name || !*name || strlen(name) >= sizeof rules[0].name || nth == 0 ||
        nrules == SIM_MAX_RULES)
        return -1;
    struct rule *r = &rules[nrules++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->is_base = is_base_name(name);
    r->nth = nth;
    r->count = count;
    r->code = code;
    r->seen = 0;
    return 0;
}

SIMCUDA_API int simcuda_fail(const char *fn, unsigned nth, unsigned count, CUresult code)
{
    sim_lock();
    int rc = add_rule(fn, nth, count, code);
    sim_unlock();
    return rc;
}

SIMCUDA_API void simcuda_fail_clear(void)
{
    sim_lock();
    nrules = 0;
    sim_unlock();
}

SIMCUDA_API unsigned long long simcuda_calls(const char *fn)
{
    unsigned long long n = 0;
    if (!fn)
        return 0;
    int base = is_base_name(fn);
    FOR_EACH_PROC(p)
        if (name_matches(fn, base, p->entry))
            n += __atomic_load_n(&p->entry->calls, __ATOMIC_RELAXED);
    return n;
}

/* SIMCUDA_FAIL=name[@nth][xcount][=code],... */
static void parse_fail_env(const char *s)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned nth = 1, count = 1;
        long code = CUDA_ERROR_UNKNOWN;
        /* The name ends at '@' or at the '=' of a code ('x' can be part of a
         * name: cuGraphExecKernelNodeSetParams); a leading '=' asks for
         * the exact entry point. */
        char *end, *p = tok + (tok[0] == '=');
        p += strcspn(p, "@=");
        int ok = p > tok + (tok[0] == '=');
        char sep = *p;
        *p = '\0';
        if (ok && sep == '@') {
            nth = (unsigned)strtoul(p + 1, &end, 10);
            p = end;
            sep = *p;
        }
        if (ok && sep == 'x') {
            count = (unsigned)strtoul(p + 1, &end, 10);
            p = end;
            sep = *p;
        }
        if (ok && sep == '=') {
            code = strtol(p + 1, &end, 10);
            p = end;
            sep = *p;
        }
        if (!ok || sep != '\0' || add_rule(tok, nth, count, (CUresult)code) != 0)
            fprintf(stderr, "simcuda: warning: SIMCUDA_FAIL: cannot use '%s'\n", tok);
    }
}

static void set_base_name(sim_entry_t *e)
{
    size_t n = strlen(e->name);
    snprintf(e->base, sizeof e->base, "%s", e->name);
    if (n > 5 && (!strcmp(e->base + n - 5, "_ptsz") || !strcmp(e->base + n - 5, "_ptds"))) {
        e->per_thread = 1;
        n -= 5;
        e->base[n] = '\0';
    }
    char *v = strrchr(e->base, '_');
    if (v && v[1] == 'v' && v[2] >= '0' && v[2] <= '9' && strspn(v + 2, "0123456789") == strlen(v + 2))
        *v = '\0';
}

/* Called once by the library constructor (sim_core.c): names every entry
 * point, then reads SIMCUDA_GPA_HIDDEN and SIMCUDA_FAIL (which matches
 * base names, so it comes last). */
void sim_entry_init(void)
{
    const char *s;
    FOR_EACH_PROC(p)
        set_base_name(p->entry);
    s = getenv("SIMCUDA_GPA_HIDDEN");
    gpa_hidden = s && *s && strcmp(s, "0") != 0;
    s = getenv("SIMCUDA_FAIL");
    if (s && *s)
        parse_fail_env(s);
    s = getenv("SIMCUDA_LAUNCH_NS");
    sim_launch_ns = s && *s ? strtoul(s, NULL, 10) : 0;
    s = getenv("SIMCUDA_SETPARAMS_NS");
    sim_setparams_ns = s && *s ? strtoul(s, NULL, 10) : 0;
    s = getenv("SIMCUDA_EVENT_NS");
    sim_event_ns = s && *s ? strtoul(s, NULL, 10) : 0;
    s = getenv("SIMCUDA_GRAPH_LAUNCH_NS");
    sim_graph_launch_ns = s && *s ? strtoul(s, NULL, 10) : 0;
    /* K:N: the K-th graph launch of the process (1-based) spends N more
     * nanoseconds, as a launch the OS preempted would. */
    s = getenv("SIMCUDA_GRAPH_LAUNCH_SPIKE");
    if (s && *s) {
        char *end = NULL;
        sim_spike_at = strtoul(s, &end, 10);
        sim_spike_ns = end && *end == ':' ? strtoul(end + 1, NULL, 10) : 0;
    }
}

unsigned long sim_launch_ns, sim_setparams_ns, sim_event_ns, sim_graph_launch_ns;
unsigned long sim_spike_at, sim_spike_ns;

/* Spends `ns` nanoseconds of CPU, as a driver call of that cost would. */
void sim_spend(unsigned long ns)
{
    struct timespec t0, t;
    if (ns == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((unsigned long)((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec)) < ns);
}

/* ------------------------------------------------------- cuGetProcAddress */

/* Resolves a base name to the entry point in force at cudaVersion: the row
 * of that base with the highest version not above it, or, when the
 * per-thread default stream is asked for, that row's _ptsz/_ptds twin. Works
 * before cuInit, as the runtime needs it to find cuInit. */
static CUresult gpa(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                    CUdriverProcAddressQueryResult *status)
{
    const sim_proc_t *best = NULL, *best_pt = NULL;
    int known = 0;
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    *pfn = NULL;
    if (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "unknown flags 0x%llx", (unsigned long long)flags);
    FOR_EACH_PROC(p) {
        if (strcmp(p->entry->base, symbol))
            continue;
        known = 1;
        if (p->version > cudaVersion)
            continue;
        const sim_proc_t **slot = p->entry->per_thread ? &best_pt : &best;
        if (!*slot || p->version > (*slot)->version)
            *slot = p;
    }
    const sim_proc_t *pick = best;
    if (best && best_pt && (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) &&
        !strncmp(best_pt->entry->name, best->entry->name, strlen(best->entry->name)) &&
        strlen(best_pt->entry->name) == strlen(best->entry->name) + 5)
        pick = best_pt;
    if (!pick) {
        if (status)
            *status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT : CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return sim_err(CUDA_ERROR_NOT_FOUND, "%s %s at cudaVersion %d", symbol,
                       known ? "needs a newer version than" : "is not known", cudaVersion);
    }
    *pfn = gpa_hidden ? pick->hidden : pick->fn;
    if (status)
        *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}

SIM_API(cuGetProcAddress, (const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags),
        (symbol, pfn, cudaVersion, flags))
{
    return gpa(symbol, pfn, cudaVersion, flags, NULL);
}

SIM_API(cuGetProcAddress_v2, (const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                              CUdriverProcAddressQueryResult *symbolStatus),
        (symbol, pfn, cudaVersion, flags, symbolStatus))
{
    return gpa(symbol, pfn, cudaVersion, flags, symbolStatus);
}

const sim_proc_t sim_entry_procs[] = {
    SIM_PROC(cuGetProcAddress, 11030),
    SIM_PROC(cuGetProcAddress_v2, 12000),
};
const size_t sim_entry_nprocs = sizeof sim_entry_procs / sizeof sim_entry_procs[0];
