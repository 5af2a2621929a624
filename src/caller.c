/* caller.c: which function of the program made the call that broke a step.
 *
 * A sample is taken in two halves, because the first runs under the
 * engine's lock and the second needs the loader's:
 *
 * - capture (gs_caller_capture, at the breaker): backtrace() into a slot of
 *   a fixed pool, and one dl_iterate_phdr() pass that notes, for every
 *   frame, the loaded object that contains it (interned into a fixed table
 *   of object paths). No allocation and no dladdr: dl_iterate_phdr takes
 *   only the loader's list lock, which nobody holds while running code that
 *   could wait for a shim lock, and glibc 2.35's libgcc unwinds through
 *   _dl_find_object without any lock at all.
 * - resolve (gs_caller_resolve, at exit): walks the frames outwards and
 *   skips those in libcuda, the CUDA runtime (libcudart*), the sanitizer
 *   runtimes, and the shim itself; the first frame left is the program's
 *   caller, named with dladdr. A frame of an object unloaded since (checked
 *   by path) keeps its path and offset, without a symbol.
 *
 * The shim's own frames are recognised as frames in the shim's object that
 * carry no exported name or the name of one of the shim's exports (cu*,
 * dlsym, graphshim_*): inside libgraphshim.so that is every frame, and
 * where the shim's code is linked into a program (the unit tests, with
 * -export-dynamic) the program's named functions stay visible.
 *
 * backtrace() loads libgcc_s and allocates the first time it runs, so it
 * runs once in this file's constructor, when the shim is loaded: outside
 * any lock and never inside a dlsym hook. That costs one dlopen of
 * libgcc_s.so.1 at start-up where the program has not loaded it already.
 */
#include "config.h"
#include "gs.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    unsigned n;                        /* frames */
    uintptr_t pc[GS_CALLER_FRAMES];    /* return addresses */
    uint16_t obj[GS_CALLER_FRAMES];    /* 1 + index in objs; 0 unknown */
} sample_t;

static sample_t pool[GS_CALLER_POOL];

/* Object paths seen in samples, interned; the loader's "" for the main
 * program is kept as "". Guarded by objs_lock (taken only while sampling,
 * never around a call that could wait for a shim lock). */
#define NOBJS 256
static struct {
    uintptr_t base; /* load bias (dlpi_addr) */
    char path[160];
} objs[NOBJS];
static unsigned nobjs;
static pthread_mutex_t objs_lock = PTHREAD_MUTEX_INITIALIZER;
/* The shim's own object: found at start-up from this file's code. */
static int self_obj = -1;

/* ------------------------------------------------------------ start-up */

static int find_self(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t pc = (uintptr_t)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && pc >= lo && pc < lo + ph->p_memsz) {
            objs[0].base = info->dlpi_addr;
            snprintf(objs[0].path, sizeof objs[0].path, "%s",
                     info->dlpi_name ? info->dlpi_name : "");
            return 1;
        }
    }
    return 0;
}

__attribute__((constructor)) static void caller_warm_up(void)
{
    void *pcs[4];
    /* The first backtrace loads the unwinder and allocates: here, once. */
    (void)backtrace(pcs, 4);
    if (dl_iterate_phdr(find_self, (void *)(uintptr_t)&caller_warm_up) == 1) {
        nobjs = 1;
        self_obj = 0;
    }
}

/* ------------------------------------------------------------ capture */

typedef struct {
    sample_t *s;
    unsigned todo;
} match_t;

static unsigned intern(uintptr_t base, const char *path)
{
    for (unsigned i = 0; i < nobjs; i++)
        if (objs[i].base == base && strcmp(objs[i].path, path) == 0)
            return i + 1;
    if (nobjs == NOBJS)
        return 0;
    objs[nobjs].base = base;
    snprintf(objs[nobjs].path, sizeof objs[nobjs].path, "%s", path);
    return ++nobjs;
}

static int match_frames(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    match_t *m = data;
    unsigned id = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        for (unsigned f = 0; f < m->s->n; f++) {
            uintptr_t pc = m->s->pc[f] - 1; /* inside the call instruction */
            if (m->s->obj[f] != 0 || pc < lo || pc >= hi)
                continue;
            if (id == 0)
                id = intern(info->dlpi_addr, info->dlpi_name ? info->dlpi_name : "");
            m->s->obj[f] = (uint16_t)id;
            m->todo--;
        }
    }
    return m->todo == 0;
}

void gs_caller_capture(unsigned slot)
{
    if (slot >= GS_CALLER_POOL)
        return;
    sample_t *s = &pool[slot];
    void *pcs[GS_CALLER_FRAMES];
    int n = backtrace(pcs, GS_CALLER_FRAMES);
    s->n = n > 0 ? (unsigned)n : 0;
    for (unsigned i = 0; i < s->n; i++) {
        s->pc[i] = (uintptr_t)pcs[i];
        s->obj[i] = 0;
    }
    match_t m = {s, s->n};
    pthread_mutex_lock(&objs_lock);
    if (m.todo > 0)
        dl_iterate_phdr(match_frames, &m);
    pthread_mutex_unlock(&objs_lock);
}

/* ------------------------------------------------------------ resolve */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool gs_caller_skips_object(const char *path)
{
    static const char *const skip[] = {
        "libcuda.so", "libcudart", /* the driver, the runtime */
        "libasan.so", "libtsan.so", "libubsan.so", "liblsan.so", "libhwasan.so",
    };
    const char *b = base_name(path);
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strncmp(b, skip[i], strlen(skip[i])) == 0)
            return true;
    return false;
}

static bool is_shim_export(const char *sym)
{
    return gs_is_driver_name(sym) || strcmp(sym, "dlsym") == 0 ||
           strncmp(sym, "graphshim_", 10) == 0 || strncmp(sym, "gs_", 3) == 0;
}

/* Names frame f of s into out; false if its object is unknown. The symbol
 * is trusted only if dladdr finds the same object the capture saw. */
static bool name_frame(const sample_t *s, unsigned f, gs_frame_t *out)
{
    unsigned id = s->obj[f];
    if (id == 0)
        return false;
    /* A copy, so that dladdr (the loader's lock) runs without objs_lock:
     * a thread holding the loader's lock may be waiting for objs_lock. */
    char path[sizeof objs[0].path];
    pthread_mutex_lock(&objs_lock);
    uintptr_t base = objs[id - 1].base;
    memcpy(path, objs[id - 1].path, sizeof path);
    pthread_mutex_unlock(&objs_lock);
    uintptr_t pc = s->pc[f] - 1;
    Dl_info info;
    memset(out, 0, sizeof *out);
    if (path[0] == '\0') /* the main program */
        snprintf(out->lib, sizeof out->lib, "%s", program_invocation_name);
    else
        snprintf(out->lib, sizeof out->lib, "%s", path);
    out->offset = pc + 1 - base;
    if (dladdr((void *)pc, &info) != 0 &&
        (path[0] == '\0' || (info.dli_fname && strcmp(info.dli_fname, path) == 0)) &&
        info.dli_sname != NULL && info.dli_saddr != NULL) {
        snprintf(out->sym, sizeof out->sym, "%s", info.dli_sname);
        out->offset = pc + 1 - (uintptr_t)info.dli_saddr;
    }
    return true;
}

bool gs_caller_resolve(unsigned slot, gs_caller_t *out)
{
    if (slot >= GS_CALLER_POOL)
        return false;
    const sample_t *s = &pool[slot];
    memset(out, 0, sizeof *out);
    for (unsigned f = 0; f < s->n; f++) {
        gs_frame_t fr;
        if (!name_frame(s, f, &fr)) {
            if (out->depth > 0)
                break; /* code of no object (JIT): the chain ends */
            continue;
        }
        if (out->depth == 0) {
            if ((int)s->obj[f] - 1 == self_obj &&
                (fr.sym[0] == '\0' || is_shim_export(fr.sym)))
                continue;
            if (gs_caller_skips_object(fr.lib))
                continue;
        }
        out->chain[out->depth++] = fr;
        if (out->depth == GS_CALLER_CHAIN)
            break;
    }
    return out->depth > 0;
}
