/* sim_internal.h: what the sim_*.c files of simcuda share, grouped by the
 * file that defines it.
 *
 * The whole simulated driver runs under one global mutex. Every exported
 * entry point is defined with SIM_API, which takes the lock, counts the
 * call, applies injected failures, runs the body (name##_impl) and reports
 * errors; it also generates a twin with no exported name that
 * cuGetProcAddress hands out under SIMCUDA_GPA_HIDDEN=1 (sim_entry.c holds
 * that path and the table of entry points). Bodies only ever
 * call internal helpers, never an exported cu* function, so a preloaded shim
 * sees exactly the program's own calls. */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <cuda.h>
#include <uthash.h>
#include "simcuda.h"

#define SIM_EXPORT __attribute__((visibility("default")))

struct sim_ctx;
struct sim_stream;
struct sim_event;
struct sim_kdef;

/* ----------------------------------------------------------- "sim_entry.c" */

/* One per exported entry point: its name, its base name (computed at load
 * by stripping _v<N>, _ptsz, _ptds) and its call counter. */
typedef struct sim_entry {
    const char *name;
    char base[64];
    int per_thread;
    unsigned long long calls;
} sim_entry_t;

CUresult sim_enter(sim_entry_t *e, int hidden, int *locked);
CUresult sim_leave(sim_entry_t *e, CUresult r, int locked);

/* Defines exported entry point `name` (its prototype comes from cuda.h, so
 * the definition is type-checked), its unexported twin name##_hidden, and
 * opens the definition of the body name##_impl. */
#define SIM_API(name, params, args)                                         \
    static CUresult name##_impl params;                                     \
    static sim_entry_t name##_entry = { #name, { 0 }, 0, 0 };              \
    SIM_EXPORT CUresult CUDAAPI name params;                                \
    CUresult CUDAAPI name params                                            \
    {                                                                       \
        int lk_;                                                            \
        CUresult r_ = sim_enter(&name##_entry, 0, &lk_);                    \
        if (r_ == CUDA_SUCCESS)                                             \
            r_ = name##_impl args;                                          \
        return sim_leave(&name##_entry, r_, lk_);                           \
    }                                                                       \
    static CUresult CUDAAPI name##_hidden params                            \
    {                                                                       \
        int lk_;                                                            \
        CUresult r_ = sim_enter(&name##_entry, 1, &lk_);                    \
        if (r_ == CUDA_SUCCESS)                                             \
            r_ = name##_impl args;                                          \
        return sim_leave(&name##_entry, r_, lk_);                           \
    }                                                                       \
    static CUresult name##_impl params

/* Defines an entry point and its per-thread-stream twin name##pt (pt is
 * _ptsz or _ptds) with the same parameters; `expr` computes the result and
 * sees pt_ = 0 in the first, 1 in the second. */
#define SIM_TWINS(name, pt, params, args, expr)                             \
    SIM_API(name, params, args)                                             \
    {                                                                       \
        const int pt_ = 0;                                                  \
        return (expr);                                                      \
    }                                                                       \
    SIM_API(name##pt, params, args)                                         \
    {                                                                       \
        const int pt_ = 1;                                                  \
        return (expr);                                                      \
    }

/* A row of the cuGetProcAddress table: entry point `name` is what the base
 * name resolves to from cudaVersion `ver` on. */
typedef struct sim_proc {
    sim_entry_t *entry;
    int version;
    void *fn;
    void *hidden;
} sim_proc_t;
#define SIM_PROC(name, ver) { &name##_entry, (ver), (void *)(name), (void *)(name##_hidden) }

/* Each file's rows. */
extern const sim_proc_t sim_core_procs[], sim_entry_procs[], sim_mem_procs[], sim_copy_procs[],
    sim_stream_procs[], sim_launch_procs[], sim_graph_procs[], sim_exec_procs[], sim_capture_procs[],
    sim_kernels_procs[];
extern const size_t sim_core_nprocs, sim_entry_nprocs, sim_mem_nprocs, sim_copy_nprocs,
    sim_stream_nprocs, sim_launch_nprocs, sim_graph_nprocs, sim_exec_nprocs, sim_capture_nprocs,
    sim_kernels_nprocs;

/* Names the entry points and reads SIMCUDA_GPA_HIDDEN, SIMCUDA_FAIL and the
 * costs below; run once by the library constructor. */
void sim_entry_init(void);
/* SIMCUDA_LAUNCH_NS, SIMCUDA_SETPARAMS_NS: CPU time an eager launch and a
 * kernel node update take (default 0), so that a test can give the
 * simulated driver a GPU's costs; sim_spend spends it. */
extern unsigned long sim_launch_ns, sim_setparams_ns, sim_event_ns, sim_graph_launch_ns;
/* SIMCUDA_GRAPH_LAUNCH_SPIKE=K:N: the K-th graph launch spends N ns more. */
extern unsigned long sim_spike_at, sim_spike_ns;
void sim_spend(unsigned long ns);

/* ------------------------------------------------------------ "sim_core.c" */

/* Handles: every handle given out is a pointer to a struct that starts with
 * sim_obj_t and is registered in a table keyed by its address, so a stale or
 * foreign value is recognised without dereferencing it. Destroyed objects
 * stay registered with a cleared magic. */
enum sim_kind {
    SIM_K_CTX = 1, SIM_K_STREAM, SIM_K_EVENT, SIM_K_MODULE, SIM_K_FUNC,
    SIM_K_LIBRARY, SIM_K_KERNEL, SIM_K_GRAPH, SIM_K_NODE, SIM_K_EXEC
};
#define SIM_MAGIC 0x53494d43u

typedef struct sim_obj {
    void *key;
    uint32_t magic;
    uint32_t kind;
    struct sim_ctx *ctx; /* owner, destroyed with it; NULL if none */
    UT_hash_handle hh;
} sim_obj_t;

void sim_obj_add(sim_obj_t *o, enum sim_kind kind, struct sim_ctx *ctx);
void sim_obj_kill(sim_obj_t *o);
sim_obj_t *sim_obj_get(const void *handle);             /* live, any kind */
void *sim_obj_find(const void *handle, enum sim_kind kind); /* live, that kind */

struct sim_cmd;

/* A reference to a queued command: it is pending while c->seq == seq (a
 * command's seq is cleared when it completes and its memory is reused). */
typedef struct sim_ref {
    struct sim_cmd *c;
    unsigned long long seq;
} sim_ref_t;

/* A set of commands that later work must follow, with the latest virtual
 * completion time among everything ever folded into it (completed commands
 * drop out of refs but not out of t). */
typedef struct sim_after {
    sim_ref_t *refs;
    size_t n, cap;
    unsigned long long t;
} sim_after_t;

typedef struct sim_ctx {
    sim_obj_t obj;
    int primary;
    int active;
    unsigned flags;
    unsigned refcount;
    unsigned long long id;
    CUresult sticky;             /* CUDA_ERROR_ILLEGAL_ADDRESS once a kernel faulted */
    struct sim_stream *legacy;
    struct sim_stream *streams;  /* created and per-thread streams */
    sim_after_t gone;            /* work of destroyed blocking streams */
    int next_pt_ordinal;         /* -1, -2, ...: per-thread streams by first use */
} sim_ctx_t;

#define SIM_CTX_STACK 16
typedef struct sim_tls {
    sim_ctx_t *stack[SIM_CTX_STACK];
    int depth;
    int holding;                 /* lock depth held by this thread */
    int in_host_fn;              /* running a host function or kernel */
    struct sim_stream *ptstreams; /* this thread's per-thread default streams */
    char reason[256];
} sim_tls_t;
extern __thread sim_tls_t sim_tl;

extern int sim_verbose;

void sim_lock(void);
void sim_unlock(void);
CUresult sim_err(CUresult r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *sim_error_name(CUresult r);
CUresult sim_need_init(void);
CUresult sim_ctx_current(sim_ctx_t **out);
CUresult sim_ctx_check(sim_ctx_t *c);
CUresult sim_ctx_arg(CUcontext h, sim_ctx_t **out);
/* The usual tail of a getter: r if it is an error, CUDA_ERROR_INVALID_VALUE
 * for a null output pointer, else success with *p = v (v is evaluated only
 * then). */
#define SIM_OUT(r, p, v)                                                    \
    __extension__({                                                         \
        CUresult out_r_ = (r);                                              \
        if (out_r_ == CUDA_SUCCESS && !(p))                                 \
            out_r_ = CUDA_ERROR_INVALID_VALUE;                              \
        else if (out_r_ == CUDA_SUCCESS)                                    \
            *(p) = (v);                                                     \
        out_r_;                                                             \
    })
uint64_t sim_fnv(uint64_t h, const void *p, size_t n);
#define SIM_FNV_INIT 0xcbf29ce484222325ull

/* ------------------------------------------------------------- "sim_mem.c" */

unsigned char *sim_dev_host(CUdeviceptr p, size_t bytes);
int sim_dev_owned(CUdeviceptr p);
unsigned long long sim_mem_id(CUdeviceptr p);
int sim_host_pinned(const void *p, size_t bytes);
void sim_exec_free(CUdeviceptr p);
void sim_mem_ctx_gone(sim_ctx_t *ctx);

/* ------------------------------------------------------------ "sim_copy.c" */

/* One copy, in the shape of CUDA_MEMCPY3D with offsets folded in. */
typedef struct sim_copy {
    int src_dev, dst_dev;
    int src_pin, dst_pin;        /* host side was page-locked when the copy was made */
    CUdeviceptr src_d, dst_d;
    const unsigned char *src_h;
    unsigned char *dst_h;
    size_t src_pitch, src_height, dst_pitch, dst_height;
    size_t width, height, depth;
} sim_copy_t;

CUresult sim_copy_check(const sim_copy_t *c);
CUresult sim_copy_from_3d(const CUDA_MEMCPY3D *p, sim_copy_t *c);
int sim_exec_copy(const sim_copy_t *c, const unsigned char *snap, uint64_t *hash);
int sim_exec_memset(CUdeviceptr dst, size_t pitch, unsigned value, unsigned elem,
                    size_t width, size_t height, uint64_t *hash);

/* --------------------------------------------------------- "sim_kernels.c" */

typedef struct sim_kdef {
    char *name;
    simcuda_kernel_fn fn;
    simcuda_kernel_fn prologue;  /* may run before a programmatic predecessor */
    unsigned flags;              /* SIMCUDA_KERNEL_GDS */
    unsigned nparams;
    size_t *sizes;
    size_t *offsets;
    size_t total;
    UT_hash_handle hh;
} sim_kdef_t;

CUresult sim_launchable(const void *f, sim_ctx_t *ctx, sim_kdef_t **kdef, int *max_shmem);
CUresult sim_kernel_handle(const void *kern, sim_kdef_t **kdef);
CUresult sim_func_handle(const void *func, sim_kdef_t **kdef, sim_ctx_t **ctx);
CUresult sim_pack_args(const sim_kdef_t *k, void **params, void **extra,
                       unsigned char **out, size_t *outsz);
void sim_obj_released(sim_obj_t *o);

/* -------------------------------------------------------- "sim_builtins.c" */

void sim_kernels_init(void);

/* ------------------------------------------------------------ ops, events */

enum sim_op_kind {
    SIM_OP_EMPTY, SIM_OP_KERNEL, SIM_OP_COPY, SIM_OP_MEMSET, SIM_OP_HOST,
    SIM_OP_EVENT, SIM_OP_FREE, SIM_OP_WAIT
};

struct sim_capture;
struct sim_node;

/* Where an event recorded during capture sits in the capture's graph. */
typedef struct sim_capmark {
    struct sim_capture *cap;
    struct sim_node **deps;
    size_t ndeps;
} sim_capmark_t;

typedef struct sim_event {
    sim_obj_t obj;
    unsigned flags;
    unsigned long long recorded, completed; /* generations */
    sim_ref_t rec;                          /* the command of the latest record */
    unsigned long long t_us;                /* virtual time of the latest record */
    unsigned long long ran;                 /* when it completed, among all records */
    sim_capmark_t mark;                     /* where it was last recorded in a capture */
} sim_event_t;

/* Launch attributes a kernel keeps beyond those in simcuda_launch_t; `set`
 * has bit (1 << id) for each attribute given. */
typedef struct sim_kattr {
    unsigned set;
    CUaccessPolicyWindow apw;
    int policy;                  /* cluster scheduling policy preference */
    CUlaunchMemSyncDomainMap dmap;
    int domain;
    simcuda_dim3 pcluster;       /* preferred cluster dimension */
    unsigned carveout;
    unsigned nvlink;
    int updatable;               /* device-updatable kernel node */
} sim_kattr_t;

/* One unit of stream work; commands in the queue and nodes of graphs both
 * hold one. Pointers in it (args, snap) are owned by it. */
typedef struct sim_op {
    enum sim_op_kind kind;
    union {
        struct {
            sim_kdef_t *kdef;
            simcuda_launch_t launch;
            unsigned char *args;
            size_t argsz;
            sim_kattr_t attr;
            int pdl;                 /* programmatic stream serialization */
            sim_event_t *ev[2];      /* programmatic / launch completion event */
            unsigned long long evgen[2];
        } k;
        struct {
            sim_copy_t c;
            unsigned char *snap; /* pageable source copied at the call */
            unsigned long long ids[2]; /* graph nodes: source and destination
                                          allocations (sim_mem_id) when set */
        } c;
        struct {
            CUdeviceptr dst;
            size_t pitch, width, height;
            unsigned value, elem;
        } m;
        struct {
            CUhostFn fn;
            CUstreamCallback cb;
            CUstream hstream;
            void *user;
        } h;
        struct {
            sim_event_t *ev;
            unsigned long long gen;  /* record: the generation it completes */
        } e;
        struct {
            CUdeviceptr p;
        } f;
    } u;
} sim_op_t;

void sim_op_free(sim_op_t *op);
int sim_op_clone(sim_op_t *dst, const sim_op_t *src);

/* ---------------------------------------------------------- "sim_stream.c" */

typedef struct sim_stream {
    sim_obj_t obj;
    int ordinal;
    unsigned flags;
    int priority;
    int legacy;
    int per_thread;
    unsigned long long id;
    struct sim_capture *cap;     /* capture this stream takes part in */
    struct sim_node **deps;      /* capture frontier */
    size_t ndeps, capdeps;
    int cap_kernel;              /* the frontier is the kernel captured last */
    sim_after_t tail;            /* what the stream's next command follows */
    int tail_kernel;             /* tail is the kernel launched last on it */
    struct sim_stream *next_pt;  /* per-thread list */
    struct sim_stream *next_ctx; /* the context's streams, legacy excluded */
} sim_stream_t;

/* Blocking streams synchronise with the legacy stream. */
#define SIM_BLOCKING(s) (!(s)->legacy && !((s)->flags & CU_STREAM_NON_BLOCKING))

CUresult sim_stream_get(CUstream h, int ptsz, sim_stream_t **out);
sim_stream_t *sim_stream_new_legacy(sim_ctx_t *ctx);
void sim_stream_released(sim_obj_t *o);
CUresult sim_event_arg(CUevent h, sim_event_t **out);

/* ----------------------------------------------------------- "sim_sched.c" */

typedef struct sim_cmd sim_cmd_t;

void sim_sched_init(void);
/* Queues *op (taking it) on stream s, or hands it to the stream's capture. */
CUresult sim_submit(sim_stream_t *s, sim_op_t *op);
/* Synchronisation: of one stream (runs what it must, maybe more), or of the
 * whole context (s NULL: runs everything); checks capture rules first. */
CUresult sim_sync_point(sim_ctx_t *ctx, sim_stream_t *s);
CUresult sim_sync_event(sim_event_t *e);
void sim_flush(void);
/* Building blocks of graph launches: a command for *op (taken), its
 * dependencies, and sealing it once they are all in. */
sim_cmd_t *sim_cmd_new(sim_op_t *op, sim_ctx_t *ctx, int ordinal, int from_graph);
void sim_cmd_dep(sim_cmd_t *c, sim_ref_t r, unsigned long long t);
void sim_cmd_after(sim_cmd_t *c, const sim_after_t *a);
void sim_cmd_entry(sim_cmd_t *c, sim_stream_t *s);
void sim_cmd_early(sim_cmd_t *c, const sim_cmd_t *k);
void sim_cmd_seal(sim_cmd_t *c);
sim_ref_t sim_cmd_ref(sim_cmd_t *c);
unsigned long long sim_cmd_time(const sim_cmd_t *c);
void sim_cmd_records(sim_cmd_t *c);
void sim_after_set(sim_after_t *a, sim_cmd_t *const *cmds, size_t n);
void sim_after_add(sim_after_t *a, sim_ref_t r, unsigned long long t);
void sim_after_merge(sim_after_t *dst, const sim_after_t *src);
void sim_after_free(sim_after_t *a);
void sim_sched_maybe_flush(void);
/* A draw from the scheduler's seeded PRNG, 0 .. n-1 (n - 1 under
 * SIMCUDA_SCHED=fifo). */
size_t sim_sched_pick(size_t n);
void *sim_grow(void *p, size_t *cap, size_t need, size_t elem);

/* ------------------------------------------------------------- "sim_run.c" */

/* Which part of a kernel a command runs: all of it, or (programmatic
 * dependent launch) only the prologue that may run early, or the body. */
enum { SIM_RUN_WHOLE = 0, SIM_RUN_PROLOGUE = 1, SIM_RUN_BODY = 2 };
/* Runs one chosen command's operation; a fault makes ctx's error sticky. */
void sim_run_op(sim_op_t *op, sim_ctx_t *ctx, int ordinal, int from_graph, unsigned part);

/* ----------------------------------------------------------- "sim_launch.c" */

CUresult sim_check_dims(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz);
/* Applies launch attributes to kernel op `op`: for a launch (node 0; the
 * stream's capture state in `capturing`) or as kernel node attributes. */
CUresult sim_apply_attrs(sim_op_t *op, const CUlaunchAttribute *attrs, unsigned n, int node, int capturing);
CUresult sim_get_attr(const sim_op_t *op, CUlaunchAttributeID id, CUlaunchAttributeValue *v);

/* ----------------------------------------------------------- "sim_graph.c" */

typedef struct sim_graph {
    sim_obj_t obj;
    unsigned long long id;
    struct sim_node **nodes;
    size_t n, cap;
} sim_graph_t;

/* A node and its incoming edges (deps[i] with edata[i]). */
typedef struct sim_node {
    sim_obj_t obj;
    sim_graph_t *graph;
    size_t index;
    sim_op_t op;
    struct sim_node **deps;
    CUgraphEdgeData *edata;
    size_t ndeps, capdeps;
} sim_node_t;

sim_graph_t *sim_graph_new(void);
/* edata may be NULL (all default edges). Takes ownership of *op. */
CUresult sim_graph_add(sim_graph_t *g, sim_node_t *const *deps, const CUgraphEdgeData *edata, size_t ndeps,
                       sim_op_t *op, sim_node_t **out);
void sim_graph_free(sim_graph_t *g);
int sim_edge_programmatic(const CUgraphEdgeData *e);
CUresult sim_kernel_op(const CUDA_KERNEL_NODE_PARAMS_v2 *p, sim_op_t *op);
CUDA_KERNEL_NODE_PARAMS_v2 sim_kernel_params_v1(const CUDA_KERNEL_NODE_PARAMS_v1 *p);
CUresult sim_copy_op(const CUDA_MEMCPY3D *p, CUcontext ctx, sim_op_t *op);
CUresult sim_memset_op(const CUDA_MEMSET_NODE_PARAMS *p, CUcontext ctx, sim_op_t *op);
CUresult sim_node_arg(CUgraphNode h, sim_node_t **n);
CUdeviceptr sim_side_addr(const sim_copy_t *c, int dst);
CUresult sim_graph_arg(CUgraph h, sim_graph_t **g);

/* ------------------------------------------------------------ "sim_exec.c" */

void sim_graph_released(sim_obj_t *o);

/* --------------------------------------------------------- "sim_capture.c" */

CUresult sim_capture_add(sim_stream_t *s, sim_op_t *op);
CUresult sim_capture_guard(sim_stream_t *s);
CUresult sim_capture_unsafe(void);
CUresult sim_capture_implicit(sim_ctx_t *ctx);
void sim_capture_stream_gone(sim_stream_t *s);
int sim_capmark_active(const sim_capmark_t *m);
CUresult sim_capture_mark(sim_stream_t *s, sim_capmark_t *m);
CUresult sim_capture_wait(sim_stream_t *s, const sim_capmark_t *m, int recorded);
CUresult sim_capture_node(sim_stream_t *s, sim_op_t *op);
int sim_capture_invalid(const sim_stream_t *s);

#endif /* SIM_INTERNAL_H */
