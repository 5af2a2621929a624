/* dump.c: GRAPHSHIM_DUMP_DIR, one text file per template, for an engine
 * author who wants to know what the shim made of a step and how to make it
 * graph-friendlier.
 *
 * Each node is listed with what it is (kernel name, grid, block, shared
 * memory, launch attributes, argument sizes; copy and memset extents;
 * events; host functions), the edges into it, and, once the template has
 * been replayed, which of its arguments changed between steps and how
 * often (each such change is a node patched before a launch, about a
 * microsecond of driver time). The file is written when the template is
 * built and again, with the counts, when it is evicted or the process
 * exits: never on the hot path. Counting the changes costs a comparison per
 * parameter, only for nodes that are patched anyway, and only when the
 * option is set.
 */
#include "config.h"
#include "eng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool gs_dump_on(void) { return gs_opt.dump_dir[0] != '\0'; }

/* A growing text buffer (this runs at build time, where allocating is
 * allowed). */
typedef struct {
    char *p;
    size_t n, cap;
} text_t;

static void put(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (t->p != NULL && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)k;
        char *np = realloc(t->p, cap);
        if (np == NULL)
            return;
        t->p = np;
        t->cap = cap;
    }
}

static const char *kind_name(uint8_t kind)
{
    static const char *const names[] = {
        [GS_OP_KERNEL] = "kernel", [GS_OP_HTOD] = "memcpy-htod", [GS_OP_DTOH] = "memcpy-dtoh",
        [GS_OP_DTOD] = "memcpy-dtod", [GS_OP_MEMSET] = "memset", [GS_OP_EVREC] = "event-record",
        [GS_OP_EVWAIT] = "event-wait", [GS_OP_HOST] = "host-function",
    };
    return kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static void describe(text_t *t, const gs_rec_t *r, const uint8_t *arena, unsigned i)
{
    put(t, "node %u slot %u %s", i, r->slot, kind_name(r->kind));
    switch ((gs_opkind_t)r->kind) {
    case GS_OP_KERNEL: {
        const gs_func_t *fn = r->u.k.fn;
        put(t, " %s grid=%u,%u,%u block=%u,%u,%u shmem=%u%s", fn->name, r->u.k.grid[0],
            r->u.k.grid[1], r->u.k.grid[2], r->u.k.block[0], r->u.k.block[1],
            r->u.k.block[2], r->u.k.shmem, r->flags & GS_REC_PDL ? " pdl" : "");
        const CUlaunchAttribute *a = r->nattrs ? gs_rec_attrs(r, arena) : NULL;
        for (unsigned j = 0; j < r->nattrs; j++)
            put(t, "%s%s", j ? "," : " attrs=", gs_attr_name(a[j].id));
        put(t, " args=");
        for (unsigned p = 0; p < fn->nparams; p++)
            put(t, "%s%u", p ? "," : "", fn->size[p]);
        put(t, " (%u bytes)", fn->argsize);
        break;
    }
    case GS_OP_HTOD:
    case GS_OP_DTOH:
    case GS_OP_DTOD:
        put(t, " %zu bytes", r->u.c.n);
        break;
    case GS_OP_MEMSET:
        put(t, " %zu elements of %u bytes", r->u.m.n, r->u.m.elsize);
        break;
    case GS_OP_EVREC:
        put(t, " (event %p)", (void *)r->u.e.ev);
        break;
    case GS_OP_EVWAIT:
        if (r->u.e.ref >= 0)
            put(t, " on the record of node %d: an edge, no node", r->u.e.ref);
        else
            put(t, " on an event recorded before the step (event %p)", (void *)r->u.e.ev);
        break;
    case GS_OP_HOST:
        put(t, " fn=%p", (void *)r->u.h.fn);
        break;
    }
    put(t, "\n");
}

void gs_dump_build(gs_template_t *t, const gs_rec_t *recs, const uint8_t *arena,
                   const gs_dag_t *dag)
{
    text_t x = {0};
    put(&x, "graphshim template: stream %#llx, %u nodes on %u stream(s), %u chunk(s)%s\n",
        (unsigned long long)t->stream_key, t->len, t->nslots, t->nchunks,
        t->periodic ? ", one period of a loop without barriers" : "");
    put(&x, "edges: %u full, %u programmatic\n\n", t->edges[0], t->edges[1]);
    for (unsigned i = 0; i < t->len; i++) {
        describe(&x, &recs[i], arena, i);
        if (dag->into != NULL && dag->into[i] == GS_DAG_AFTER)
            put(&x, "  no node: runs after its chunk's graph (cuLaunchHostFunc)\n");
        else if (dag->into != NULL && dag->into[i] != GS_DAG_NONE)
            put(&x, "  no node: runs from node %u's host node, before it\n", dag->into[i]);
        for (uint32_t e = dag->start[i]; e < dag->start[i + 1]; e++)
            put(&x, "  <- node %u (%s)\n", dag->edges[e].from,
                dag->edges[e].type == CU_GRAPH_DEPENDENCY_TYPE_PROGRAMMATIC ? "programmatic"
                                                                            : "full");
        if (recs[i].kind == GS_OP_KERNEL)
            t->nodes[i].nchg = recs[i].u.k.fn->nparams + 1; /* + the grid */
        else
            t->nodes[i].nchg = 2; /* destination, source (or event, function) */
        t->nodes[i].chg = calloc(t->nodes[i].nchg, sizeof *t->nodes[i].chg);
        if (recs[i].kind == GS_OP_KERNEL && recs[i].u.k.fn->nparams > 0) {
            t->nodes[i].psize = malloc(recs[i].u.k.fn->nparams * 2 * sizeof(uint32_t));
            if (t->nodes[i].psize != NULL)
                for (unsigned p = 0; p < recs[i].u.k.fn->nparams; p++) {
                    t->nodes[i].psize[2 * p] = recs[i].u.k.fn->off[p];
                    t->nodes[i].psize[2 * p + 1] = recs[i].u.k.fn->size[p];
                }
        }
    }
    t->dump = x.p;
    t->dump_len = x.n;
    gs_dump_write(t);
}

void gs_dump_change(gs_node_t *nd, unsigned what)
{
    if (nd->chg != NULL && what < nd->nchg)
        nd->chg[what]++;
}

void gs_dump_kernel_changes(gs_node_t *nd, const uint8_t *old, const uint8_t *now,
                            bool grid_changed)
{
    if (nd->chg == NULL)
        return;
    if (grid_changed)
        nd->chg[nd->nchg - 1]++;
    for (unsigned p = 0; nd->psize != NULL && p + 1 < nd->nchg; p++)
        if (memcmp(old + nd->psize[2 * p], now + nd->psize[2 * p], nd->psize[2 * p + 1]) != 0)
            nd->chg[p]++;
}

void gs_dump_write(const gs_template_t *t)
{
    if (t->dump == NULL)
        return;
    char path[sizeof gs_opt.dump_dir + 64];
    snprintf(path, sizeof path, "%s/template-%016llx-%016llx-%u.txt", gs_opt.dump_dir,
             (unsigned long long)t->stream_key, (unsigned long long)t->hash, t->len);
    (void)mkdir(gs_opt.dump_dir, 0755);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        GS_LOG_ONCE(GS_LOG_WARN, "cannot write GRAPHSHIM_DUMP_DIR file %s (%s); no "
                    "template dumps", path, strerror(errno));
        return;
    }
    text_t x = {0};
    put(&x, "%.*s\nreplayed %llu times\n", (int)t->dump_len, t->dump, t->replays);
    bool any = false;
    for (unsigned i = 0; i < t->len; i++) {
        const gs_node_t *nd = &t->nodes[i];
        for (unsigned k = 0; nd->chg != NULL && k < nd->nchg; k++) {
            if (nd->chg[k] == 0)
                continue;
            const char *what = nd->kind != GS_OP_KERNEL ? (k == 0 ? "destination/event/function"
                                                                  : "source/data")
                               : k + 1 == nd->nchg ? "grid"
                                                   : "argument";
            if (nd->kind == GS_OP_KERNEL && k + 1 < nd->nchg)
                put(&x, "node %u: %s %u changed in %u of %llu replays (patched)\n", i, what,
                    k, nd->chg[k], t->replays);
            else
                put(&x, "node %u: %s changed in %u of %llu replays (patched)\n", i, what,
                    nd->chg[k], t->replays);
            any = true;
        }
    }
    if (!any)
        put(&x, "no node needed patching between replays\n");
    size_t off = 0;
    while (x.p != NULL && off < x.n) {
        ssize_t w = write(fd, x.p + off, x.n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    free(x.p);
}

void gs_dump_free(gs_template_t *t)
{
    gs_dump_write(t);
    for (unsigned i = 0; t->nodes != NULL && i < t->len; i++) {
        free(t->nodes[i].chg);
        free(t->nodes[i].psize);
        t->nodes[i].chg = NULL;
        t->nodes[i].psize = NULL;
    }
    free(t->dump);
    t->dump = NULL;
}
