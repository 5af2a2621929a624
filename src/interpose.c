/* interpose.c: how calls reach the shim, and how it reaches the driver.
 *
 * Programs reach driver functions three ways (DESIGN.md section 2): by
 * linking against libcuda (the exported wrappers in wrappers.c answer), by
 * dlsym (the dlsym override below substitutes our wrapper for the driver's
 * function), and by cuGetProcAddress (the wrappers of cuGetProcAddress
 * substitute every pointer they hand out, including the resolver itself when
 * the CUDA runtime asks for "cuGetProcAddress", which is how the runtime then
 * resolves everything else).
 *
 * A pointer is mapped to a wrapper by the exact exported name the driver's
 * pointer carries (dladdr), so each wrapper has the ABI and stream semantics
 * of what the driver resolved (cuMemcpyHtoDAsync_v2_ptsz, not
 * "cuMemcpyHtoDAsync"). Pointers with no exported name are matched against
 * the real table, and failing that, for cuGetProcAddress only, decided from
 * (symbol, cudaVersion, flags). Pointers that do not come from libcuda are
 * never replaced.
 *
 * Initialisation is lazy (the first hooked call, or the first dlsym of a
 * driver name), runs once, takes no lock across a loader call, and leaves
 * the shim inert when libcuda cannot be loaded.
 */
#include "config.h"
#include "gs.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

void *gs_real_fn[GS_FN_COUNT];
atomic_int gs_ready;
GS_TLS int gs_depth;
bool gs_inert;
char gs_hook_base[GS_HOOK_COUNT][48];
bool gs_hook_per_thread[GS_HOOK_COUNT];

/* --------------------------------------------------------------- the real dlsym */

typedef void *(*gs_dlsym_fn)(void *, const char *);
/* Read by dlsym_tramp.S, which forwards RTLD_NEXT requests to it with a
 * tail jump so that the caller's return address, which decides what "next"
 * means, is the program's and not ours. */
GS_HIDDEN gs_dlsym_fn gs_real_dlsym;

GS_HIDDEN void *gs_resolve_real_dlsym(void) GS_NO_SANITIZE;
GS_HIDDEN void *gs_dlsym_hook(void *handle, const char *name) GS_NO_SANITIZE;

/* dlvsym, not dlsym (which is us) and not _dl_sym (private to glibc). The
 * 2.34 version is libc's own; 2.2.5 is libdl's on older glibc. */
GS_HIDDEN void *gs_resolve_real_dlsym(void)
{
    gs_dlsym_fn f = __atomic_load_n(&gs_real_dlsym, __ATOMIC_ACQUIRE);
    if (GS_LIKELY(f != NULL))
        return (void *)f;
    f = (gs_dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (f == NULL)
        f = (gs_dlsym_fn)dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    if (f == NULL) {
        static const char msg[] =
            "graphshim: error: cannot find the C library's dlsym; aborting\n";
        (void)!write(2, msg, sizeof msg - 1);
        abort();
    }
    __atomic_store_n(&gs_real_dlsym, f, __ATOMIC_RELEASE);
    return (void *)f;
}

/* ------------------------------------------------------------ lookup tables */

/* Built once, without any loader call, and read-only afterwards: exact name
 * to hook id, and real driver pointer to hook id. */
typedef struct {
    const char *key;
    int id;
    UT_hash_handle hh;
} gs_name_ent_t;
typedef struct {
    void *key;
    int id;
    UT_hash_handle hh;
} gs_ptr_ent_t;

static gs_name_ent_t *by_name;
static gs_name_ent_t name_ents[GS_HOOK_COUNT];
static gs_ptr_ent_t *by_ptr;
static gs_ptr_ent_t ptr_ents[GS_FN_COUNT];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static bool has_suffix(const char *s, size_t len, const char *suf)
{
    size_t n = strlen(suf);
    return len >= n && memcmp(s + len - n, suf, n) == 0;
}

/* cuMemcpyHtoDAsync_v2_ptsz -> cuMemcpyHtoDAsync; cuLaunchKernel -> itself. */
static void derive_base(const char *name, char *base, size_t cap, bool *pt)
{
    size_t len = strlen(name);
    *pt = has_suffix(name, len, "_ptsz") || has_suffix(name, len, "_ptds");
    if (*pt)
        len -= 5;
    size_t i = len;
    while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
        i--;
    if (i < len && i >= 2 && name[i - 1] == 'v' && name[i - 2] == '_')
        len = i - 2;
    if (len >= cap)
        len = cap - 1;
    memcpy(base, name, len);
    base[len] = '\0';
}

static void build_tables(void)
{
    for (int id = 0; id < GS_HOOK_COUNT; id++) {
        derive_base(gs_hooks[id].name, gs_hook_base[id], sizeof gs_hook_base[id],
                    &gs_hook_per_thread[id]);
        name_ents[id].key = gs_hooks[id].name;
        name_ents[id].id = id;
        HASH_ADD_KEYPTR(hh, by_name, name_ents[id].key, strlen(name_ents[id].key),
                        &name_ents[id]);
    }
}

static void ensure_tables(void) { pthread_once(&tables_once, build_tables); }

int gs_hook_by_name(const char *name)
{
    gs_name_ent_t *e = NULL;
    ensure_tables();
    HASH_FIND_STR(by_name, name, e);
    return e ? e->id : -1;
}

static int hook_by_real_ptr(void *p)
{
    gs_ptr_ent_t *e = NULL;
    HASH_FIND_PTR(by_ptr, &p, e);
    return e && e->id < GS_HOOK_COUNT ? e->id : -1;
}

int gs_hook_for_request(const char *symbol, int ver, cuuint64_t flags)
{
    bool want_pt = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
    int best = -1, best_any_pt = -1;
    ensure_tables();
    if (symbol == NULL)
        return -1;
    for (int id = 0; id < GS_HOOK_COUNT; id++) {
        if (strcmp(gs_hook_base[id], symbol) != 0 || gs_hooks[id].since > ver)
            continue;
        int *slot = gs_hook_per_thread[id] == want_pt ? &best : &best_any_pt;
        if (*slot < 0 || gs_hooks[id].since > gs_hooks[*slot].since)
            *slot = id;
    }
    /* A function without a per-thread variant resolves to its only form
     * whatever the flag says; the reverse never happens (legacy requests
     * must not get per-thread semantics). */
    if (best < 0 && want_pt && best_any_pt >= 0)
        best = best_any_pt;
    return best;
}

/* ------------------------------------------------------------ initialisation */

static atomic_int init_state; /* 0 not started, 1 running, 2 done */
static GS_TLS int in_init;
static void *self_base;
static void *cuda_base;
static void *cuda_handle;

static void atfork_child(void)
{
    /* The child starts with no intercepted calls of its own; the parent's
     * counts would otherwise be reported twice. */
    gs_stats_reset();
    gs_eng_atfork_child();
}

static void do_init(void)
{
    Dl_info self;
    gs_options_init();
    gs_log_open();
    ensure_tables();
    gs_resolve_real_dlsym();
    if (dladdr((void *)&do_init, &self) != 0)
        self_base = self.dli_fbase;

    cuda_handle = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (cuda_handle == NULL) {
        const char *why = dlerror();
        gs_inert = true;
        GS_WARN("cannot load libcuda.so.1 (%s); pass-through only, nothing is "
                "intercepted", why ? why : "unknown reason");
        return;
    }
    int present = 0;
    for (int id = 0; id < GS_FN_COUNT; id++) {
        gs_real_fn[id] = gs_real_dlsym(cuda_handle, gs_fn_names[id]);
        if (gs_real_fn[id] == NULL)
            continue;
        present += id < GS_HOOK_COUNT;
        ptr_ents[id].key = gs_real_fn[id];
        ptr_ents[id].id = id;
        gs_ptr_ent_t *dup = NULL;
        HASH_FIND_PTR(by_ptr, &ptr_ents[id].key, dup);
        if (dup == NULL)
            HASH_ADD_PTR(by_ptr, key, &ptr_ents[id]);
    }
    Dl_info cu;
    void *probe = gs_real_dlsym(cuda_handle, "cuInit");
    if (probe != NULL && dladdr(probe, &cu) != 0)
        cuda_base = cu.dli_fbase;
    gs_eng_setup();
    pthread_atfork(NULL, NULL, atfork_child);
    GS_INFO("graphshim %s: driver %s, %d of %d hooked functions present, "
            "mode %s", PACKAGE_VERSION, probe && cuda_base ? cu.dli_fname : "?",
            present, GS_HOOK_COUNT, gs_mode_name(gs_opt.mode));
    gs_options_log();
}

void gs_init(void)
{
    if (atomic_load_explicit(&gs_ready, memory_order_acquire))
        return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&init_state, &expected, 1)) {
        in_init = 1;
        gs_depth++;
        do_init();
        gs_depth--;
        in_init = 0;
        atomic_store(&init_state, 2);
        atomic_store_explicit(&gs_ready, 1, memory_order_release);
        return;
    }
    /* Re-entered from inside our own initialisation (the driver's loader
     * calling back): the caller proceeds without the real table. */
    if (in_init)
        return;
    while (!atomic_load_explicit(&gs_ready, memory_order_acquire))
        sched_yield();
}

CUresult gs_missing(gs_fn_id_t id)
{
    if (gs_inert || !atomic_load(&gs_ready))
        return CUDA_ERROR_NOT_INITIALIZED;
    GS_LOG_ONCE(GS_LOG_WARN, "%s is not provided by this driver; returning "
                "CUDA_ERROR_NOT_FOUND (further such calls are not reported)",
                gs_fn_names[id]);
    return CUDA_ERROR_NOT_FOUND;
}

/* ---------------------------------------------------------------- substitution */

/* Maps a pointer a lookup returned to the wrapper for `path`, or returns it
 * unchanged. `symbol`, `ver` and `flags` describe a cuGetProcAddress request
 * (symbol NULL for dlsym). */
static void *substitute(void *real, gs_path_t path, const char *symbol, int ver,
                        cuuint64_t flags)
{
    Dl_info info;
    int id = -1;
    bool by_request = false;
    if (dladdr(real, &info) == 0)
        return real;
    if (info.dli_fbase == self_base && self_base != NULL) {
        /* The lookup found our own export (RTLD_DEFAULT searches the
         * preloaded shim first). Answer as the driver alone would have. */
        if (info.dli_sname == NULL || info.dli_saddr != real ||
            (id = gs_hook_by_name(info.dli_sname)) < 0)
            return real;
        if (gs_inert || gs_real_fn[id] == NULL)
            return NULL;
        return gs_hooks[id].fn[path];
    }
    if (gs_inert || info.dli_fbase != cuda_base)
        return real;
    if (info.dli_sname != NULL && info.dli_saddr == real)
        id = gs_hook_by_name(info.dli_sname);
    else if ((id = hook_by_real_ptr(real)) < 0 && symbol != NULL) {
        id = gs_hook_for_request(symbol, ver, flags);
        by_request = id >= 0;
    }
    if (id < 0)
        return real; /* a function the shim leaves alone */
    if (by_request) {
        /* The driver's own pointer is what this wrapper must call when the
         * driver exports no function of that name. */
        if (gs_real_fn[id] == NULL)
            __atomic_store_n(&gs_real_fn[id], real, __ATOMIC_RELEASE);
        gs_count(GS_CTR_getproc_by_request, 1);
        GS_DEBUG("cuGetProcAddress(%s, %d, %llu) returned an unnamed pointer; "
                 "mapped to %s", symbol, ver, (unsigned long long)flags,
                 gs_hooks[id].name);
    }
    gs_count(path == GS_PATH_GETPROC ? GS_CTR_getproc_substituted
                                     : GS_CTR_dlsym_substituted, 1);
    return gs_hooks[id].fn[path];
}

GS_HIDDEN void *gs_dlsym_hook(void *handle, const char *name)
{
    gs_dlsym_fn real_dlsym = (gs_dlsym_fn)gs_resolve_real_dlsym();
    void *r = real_dlsym(handle, name);
    /* Decided without anything instrumented: most lookups (and all those a
     * sanitizer runtime makes while starting) end here. */
    if (r == NULL || !gs_is_driver_name(name) || gs_depth > 0)
        return r;
    if (!atomic_load_explicit(&gs_ready, memory_order_acquire)) {
        if (atomic_load(&init_state) == 1 && !in_init) {
            /* Another thread is initialising and may be waiting for the
             * loader lock this thread holds: do not wait for it. */
            GS_LOG_ONCE(GS_LOG_WARN, "dlsym(%s) during initialisation in "
                        "another thread was not intercepted", name);
            return r;
        }
        gs_init();
        if (!atomic_load_explicit(&gs_ready, memory_order_acquire))
            return r;
    }
    return substitute(r, GS_PATH_DLSYM, NULL, 0, 0);
}

/* ----------------------------------------------------------- cuGetProcAddress */

static void fix_getproc(CUresult r, const char *symbol, void **pfn, int ver,
                        cuuint64_t flags)
{
    if (r == CUDA_SUCCESS && pfn != NULL && *pfn != NULL && symbol != NULL)
        *pfn = substitute(*pfn, GS_PATH_GETPROC, symbol, ver, flags);
}

CUresult gs_getproc_v1(const char *symbol, void **pfn, int ver, cuuint64_t flags)
{
    if (gs_real_fn[GS_ID_cuGetProcAddress] == NULL)
        return gs_missing(GS_ID_cuGetProcAddress);
    CUresult r = GS_REAL(cuGetProcAddress)(symbol, pfn, ver, flags);
    fix_getproc(r, symbol, pfn, ver, flags);
    return r;
}

CUresult gs_getproc_v2(const char *symbol, void **pfn, int ver, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status)
{
    if (gs_real_fn[GS_ID_cuGetProcAddress_v2] == NULL)
        return gs_missing(GS_ID_cuGetProcAddress_v2);
    CUresult r = GS_REAL(cuGetProcAddress_v2)(symbol, pfn, ver, flags, status);
    fix_getproc(r, symbol, pfn, ver, flags);
    return r;
}

/* ---------------------------------------------------------------- exit */

__attribute__((destructor)) static void gs_fini(void)
{
    if (atomic_load_explicit(&gs_ready, memory_order_acquire)) {
        gs_eng_stop_threads();
        gs_eng_at_exit();
        gs_stats_report();
    }
}
