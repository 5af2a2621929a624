/* sim_run.c: what running one command of simcuda does, once the scheduler
 * (sim_sched.c) has chosen it: a kernel (its prologue, its body or both),
 * a copy, a memset, a host function, an event record, a deferred free;
 * the SIMCUDA_TRACE line each writes; the kernel counts by origin; and
 * simcuda_ptr, through which kernels reach memory (an address outside every
 * live allocation is a fault that stops the context, as on a GPU). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

static unsigned long long graph_kernels, eager_kernels;
static int trace_fd = -2;
static int exec_fault;
static const char *exec_kernel = "(none)"; /* for fault messages */
static unsigned char *scratch;
static size_t scratch_cap;
/* SIMCUDA_TRACE_DATA=1: a kernel's line hashes the memory it reached
 * through simcuda_ptr, after it ran, instead of its arguments. */
static int trace_data = -1;
static struct {
    unsigned char *h;
    size_t n;
} touched[16];
static unsigned ntouched;

/* ------------------------------------------------------------------ trace */

static void trace(int ordinal, const char *kind, const char *name, const sim_op_t *k, uint64_t hash)
{
    char line[768], more[384] = "";
    size_t n, m = 0;
    if (trace_fd == -2) {
        const char *path = getenv("SIMCUDA_TRACE");
        trace_fd = path && *path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    }
    if (trace_fd < 0)
        return;
    simcuda_launch_t z = { 0 };
    const simcuda_launch_t *L = k ? &k->u.k.launch : &z;
    /* Attributes a kernel node keeps, when they differ from the default. */
#define MORE(...) (m += (size_t)snprintf(more + m, sizeof more - m, __VA_ARGS__), m = m < sizeof more ? m : sizeof more - 1)
    if (L->clusterDim.x)
        MORE(" cluster=%u,%u,%u", L->clusterDim.x, L->clusterDim.y, L->clusterDim.z);
    if (L->priority)
        MORE(" priority=%d", L->priority);
    if (L->cooperative)
        MORE(" cooperative=1");
    if (k) {
        const sim_kattr_t *a = &k->u.k.attr;
        if (a->policy)
            MORE(" policy=%d", a->policy);
        if (a->apw.num_bytes)
            MORE(" apw=%llx+%zu:%g:%d:%d", (unsigned long long)(uintptr_t)a->apw.base_ptr, a->apw.num_bytes,
                 (double)a->apw.hitRatio, (int)a->apw.hitProp, (int)a->apw.missProp);
        if (a->domain)
            MORE(" domain=%d", a->domain);
        if ((a->set & (1u << CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP)) && (a->dmap.default_ != 0 || a->dmap.remote != 1))
            MORE(" dmap=%u,%u", a->dmap.default_, a->dmap.remote);
        if (a->set & (1u << CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION))
            MORE(" pcluster=%u,%u,%u", a->pcluster.x, a->pcluster.y, a->pcluster.z);
        if (a->set & (1u << CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT))
            MORE(" carveout=%d", (int)a->carveout);
        if (a->nvlink)
            MORE(" nvlink=1");
    }
#undef MORE
    /* One write per line, so processes sharing the file never interleave. */
    n = (size_t)snprintf(line, sizeof line, "%d %s %.300s grid=%u,%u,%u block=%u,%u,%u shmem=%u args=%016llx%s\n",
                         ordinal, kind, name, L->gridDim.x, L->gridDim.y, L->gridDim.z, L->blockDim.x,
                         L->blockDim.y, L->blockDim.z, L->sharedMemBytes, (unsigned long long)hash, more);
    if (n >= sizeof line)
        n = sizeof line - 1;
    if (write(trace_fd, line, n) != (ssize_t)n)
        sim_say("trace: short write");
}

/* -------------------------------------------------------------- execution */

SIMCUDA_API void *simcuda_ptr(CUdeviceptr p, size_t bytes)
{
    sim_lock();
    unsigned char *h = sim_dev_host(p, bytes);
    if (!h) {
        exec_fault = 1;
        sim_say("kernel %s: illegal address 0x%llx+%zu, outside every live allocation", exec_kernel,
                (unsigned long long)p, bytes);
        if (bytes + 64 > scratch_cap) {
            /* The kernel will touch `bytes` bytes; without room it would
             * corrupt the host, so running out here ends the process. */
            if (!(scratch = realloc(scratch, bytes + 64))) {
                fprintf(stderr, "simcuda: cannot allocate %zu bytes of scratch\n", bytes);
                abort();
            }
            scratch_cap = bytes + 64;
        }
        h = memset(scratch, 0, bytes + 64);
    } else if (trace_data > 0 && ntouched < 16) {
        touched[ntouched].h = h;
        touched[ntouched++].n = bytes;
    }
    sim_unlock();
    return h;
}

SIMCUDA_API unsigned long long simcuda_graph_kernels(void)
{
    return __atomic_load_n(&graph_kernels, __ATOMIC_RELAXED);
}

SIMCUDA_API unsigned long long simcuda_eager_kernels(void)
{
    return __atomic_load_n(&eager_kernels, __ATOMIC_RELAXED);
}

/* Records complete in the order the scheduler runs them (under the sim
 * lock); cuEventElapsedTime compares the two records' places in it. */
static unsigned long long records_run;

static void complete_event(sim_event_t *e, unsigned long long gen)
{
    if (e && gen > e->completed) {
        e->completed = gen;
        e->ran = ++records_run;
    }
}

static void run_kernel(sim_op_t *op, int ordinal, int from_graph, unsigned part)
{
    void *argv[64] = { 0 };
    void **av = argv;
    const sim_kdef_t *k = op->u.k.kdef;
    simcuda_launch_t L = op->u.k.launch;
    L.fromGraph = from_graph;
    L.streamOrdinal = ordinal;
    if (k->nparams > 64 && !(av = malloc(k->nparams * sizeof *av)))
        return;
    for (unsigned i = 0; i < k->nparams; i++)
        av[i] = op->u.k.args + k->offsets[i];
    exec_kernel = k->name;
    if (trace_data < 0) {
        const char *td = getenv("SIMCUDA_TRACE_DATA");
        trace_data = td != NULL && strcmp(td, "1") == 0;
    }
    ntouched = 0;
    sim_tl.in_host_fn++;
    if (k->prologue && part != SIM_RUN_BODY)
        k->prologue(&L, av);
    if (part != SIM_RUN_PROLOGUE)
        k->fn(&L, av);
    sim_tl.in_host_fn--;
    if (av != argv)
        free(av);
    if (part == SIM_RUN_PROLOGUE)
        return;
    __atomic_add_fetch(from_graph ? &graph_kernels : &eager_kernels, 1, __ATOMIC_RELAXED);
    uint64_t th = sim_fnv(SIM_FNV_INIT, op->u.k.args, op->u.k.argsz);
    for (unsigned i = 0; trace_data > 0 && i < ntouched; i++)
        th = sim_fnv(th, touched[i].h, touched[i].n);
    trace(ordinal, "kernel", k->name, op, th);
    /* Programmatic and launch completion events: recorded when the kernel
     * completes, a legal moment for both. */
    complete_event(op->u.k.ev[0], op->u.k.evgen[0]);
    complete_event(op->u.k.ev[1], op->u.k.evgen[1]);
}

static const char *copy_dir(const sim_copy_t *c)
{
    static const char *names[2][2] = { { "HtoH", "HtoD" }, { "DtoH", "DtoD" } };
    return names[c->src_dev][c->dst_dev];
}

void sim_run_op(sim_op_t *op, sim_ctx_t *ctx, int ordinal, int from_graph, unsigned part)
{
    uint64_t h = 0;
    exec_fault = 0;
    switch (op->kind) {
    case SIM_OP_KERNEL:
        run_kernel(op, ordinal, from_graph, part);
        break;
    case SIM_OP_COPY:
        exec_fault = sim_exec_copy(&op->u.c.c, op->u.c.snap, &h) != 0;
        if (!exec_fault)
            trace(ordinal, "memcpy", copy_dir(&op->u.c.c), NULL, h);
        break;
    case SIM_OP_MEMSET:
        exec_fault = sim_exec_memset(op->u.m.dst, op->u.m.pitch, op->u.m.value, op->u.m.elem, op->u.m.width,
                                     op->u.m.height, &h) != 0;
        if (!exec_fault)
            trace(ordinal, "memset", op->u.m.elem == 1 ? "D8" : op->u.m.elem == 2 ? "D16" : "D32", NULL, h);
        break;
    case SIM_OP_HOST:
        sim_tl.in_host_fn++;
        if (op->u.h.fn)
            op->u.h.fn(op->u.h.user);
        else
            op->u.h.cb(op->u.h.hstream, CUDA_SUCCESS, op->u.h.user);
        sim_tl.in_host_fn--;
        trace(ordinal, "host", op->u.h.fn ? "fn" : "callback", NULL, SIM_FNV_INIT);
        break;
    case SIM_OP_EVENT:
        complete_event(op->u.e.ev, op->u.e.gen);
        trace(ordinal, "event", "record", NULL, SIM_FNV_INIT);
        break;
    case SIM_OP_FREE:
        sim_exec_free(op->u.f.p);
        break;
    case SIM_OP_WAIT:
    case SIM_OP_EMPTY:
        break;
    }
    if (exec_fault)
        ctx->sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
}
