/* eng.h: private header of the engine, grouped by the file that implements
 * each part: the records of ops (record.c), launch attributes (attrs.c),
 * streams, steps and templates (detect.c), the DAG of a step (dag.c), graphs
 * (graph.c builds, graph_launch.c patches and launches), holding and
 * issuing (hold.c), the entry points of ops (ops.c), barriers (barrier.c),
 * entering the engine and launching after its lock (submit.c) and what they
 * share (engine.c).
 *
 * The model (DESIGN.md sections 3 and 9): every op is recorded with a
 * snapshot of its arguments; a step is the ops between two barriers of the
 * stream where it began (or one period of a loop that never synchronises),
 * and of the streams that joined it by waiting on an event recorded inside
 * it; a step whose signature sequence recurs GRAPHSHIM_WARMUP times among the
 * recent steps of its stream becomes a template with an instantiated graph,
 * a DAG of the step's ops joined by stream order, programmatic edges (PDL)
 * and events; from then on ops that match a template are held, and when the
 * last one matches, the nodes whose arguments changed are patched and the
 * graph is launched on the stream where the step began.
 *
 * All engine state is guarded by one mutex (gs_eng_lock).
 */
#ifndef GS_ENG_H
#define GS_ENG_H

#include "gs.h"

#include <pthread.h>
#include <uthash.h>

#define GS_MAX_PARAMS 1024   /* kernels with more parameters are barriers */
#define GS_MAX_ATTRS 8       /* launch attributes recorded per op */
#define GS_HIST 32           /* recent steps remembered per stream */
#define GS_MAX_CAND 16       /* templates matched at once on a stream */
#define GS_MAX_SLOTS 8       /* streams one step may span */
#define GS_MAX_WAITS 8       /* host functions awaited remembered per stream */
#define GS_RETIRE_MAX 4      /* templates retired before a stream forms no more */
#define GS_PAYOFF_WINDOW 32  /* replays whose costs the payoff rule weighs */
#define GS_KEY_LEGACY 1ull   /* normalised key of the legacy stream */

typedef enum {
    GS_OP_KERNEL,
    GS_OP_HTOD,
    GS_OP_DTOH,
    GS_OP_DTOD,
    GS_OP_MEMSET,
    GS_OP_EVREC,  /* the program's cuEventRecord: an event record node */
    GS_OP_EVWAIT, /* cuStreamWaitEvent: an edge, or an event wait node */
    GS_OP_HOST    /* cuLaunchHostFunc: a host node */
} gs_opkind_t;

/* Event records, waits and host functions: far cheaper than a launch when
 * issued eagerly (the payoff rule and the summary value them apart). */
static inline bool gs_op_is_event(uint8_t kind)
{
    return kind == GS_OP_EVREC || kind == GS_OP_EVWAIT || kind == GS_OP_HOST;
}

/* The sampling of measured costs: the first 32 calls counted by *tick,
 * then one in 64 (a clock read is about 20 ns: vDSO, no syscall). */
static inline bool gs_sample(unsigned *tick)
{
    return ++*tick <= 32 || (*tick & 63) == 0;
}

/* The prototype shared by every entry of each op class (hooks.def), so an
 * op can go back to the driver through the entry point it came by. */
typedef CUresult (*launch_fn)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                              unsigned, unsigned, unsigned, CUstream, void **, void **);
typedef CUresult (*launch_ex_fn)(const CUlaunchConfig *, CUfunction, void **, void **);
typedef CUresult (*htod_fn)(CUdeviceptr, const void *, size_t, CUstream);
typedef CUresult (*dtoh_fn)(void *, CUdeviceptr, size_t, CUstream);
typedef CUresult (*dtod_fn)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
typedef CUresult (*memset8_fn)(CUdeviceptr, unsigned char, size_t, CUstream);
typedef CUresult (*memset16_fn)(CUdeviceptr, unsigned short, size_t, CUstream);
typedef CUresult (*memset32_fn)(CUdeviceptr, unsigned int, size_t, CUstream);
typedef CUresult (*evrec_fn)(CUevent, CUstream);
typedef CUresult (*evrecf_fn)(CUevent, CUstream, unsigned int);
typedef CUresult (*evwait_fn)(CUstream, CUevent, unsigned int);
typedef CUresult (*hostfn_fn)(CUstream, CUhostFn, void *);

/* Checked against cuda.h. */
_Static_assert(__builtin_types_compatible_p(launch_fn, __typeof__(&cuLaunchKernel_ptsz)), "launch");
_Static_assert(__builtin_types_compatible_p(launch_ex_fn, __typeof__(&cuLaunchKernelEx_ptsz)), "launch-ex");
_Static_assert(__builtin_types_compatible_p(htod_fn, __typeof__(&cuMemcpyHtoDAsync_v2_ptsz)), "htod");
_Static_assert(__builtin_types_compatible_p(dtoh_fn, __typeof__(&cuMemcpyDtoHAsync_v2_ptsz)), "dtoh");
_Static_assert(__builtin_types_compatible_p(dtod_fn, __typeof__(&cuMemcpyAsync_ptsz)), "copy");
_Static_assert(__builtin_types_compatible_p(memset32_fn, __typeof__(&cuMemsetD32Async_ptsz)), "memset32");
_Static_assert(__builtin_types_compatible_p(evrec_fn, __typeof__(&cuEventRecord_ptsz)), "evrec");
_Static_assert(__builtin_types_compatible_p(evrecf_fn, __typeof__(&cuEventRecordWithFlags_ptsz)), "evrecf");
_Static_assert(__builtin_types_compatible_p(evwait_fn, __typeof__(&cuStreamWaitEvent_ptsz)), "evwait");
_Static_assert(__builtin_types_compatible_p(hostfn_fn, __typeof__(&cuLaunchHostFunc_ptsz)), "hostfn");

/* ----------------------------------------------------------- record.c */

/* What the shim knows of a kernel handle: found once, cached. */
typedef struct gs_func {
    void *key;          /* the CUfunction (or CUkernel cast to one) */
    bool is_kernel;     /* a CUkernel: graph nodes take it as `kern` */
    bool unusable;      /* no parameter layout, too many parameters, or
                           denied by name: its launches are barriers */
    bool denied;
    unsigned nparams;
    uint32_t argsize;   /* bytes of the packed argument buffer */
    uint32_t *off, *size;
    char *name;
    /* The signature of its last launch without attributes, and what it was
     * made of (entry point, block, shared memory). */
    uint64_t sig;
    unsigned sig_id, sig_block[3], sig_shmem;
    UT_hash_handle hh;
} gs_func_t;

/* Record flags. */
#define GS_REC_PDL 1u   /* a kernel launched with programmatic stream
                           serialisation: a programmatic edge from the
                           kernel before it on its stream */
#define GS_REC_LEAF 2u  /* a record of an event created without timing: its
                           node hangs off its stream's chain (dag.c) */

/* One recorded op. Argument bytes (and launch attributes, and host-to-device
 * source bytes) live in the step's arena at `data`. */
typedef struct {
    uint64_t sig;
    uint8_t kind;
    uint8_t nattrs;
    uint8_t slot;       /* the step's stream it is on (0: where it began) */
    uint8_t flags;
    uint16_t id;        /* the entry point it came in on (for eager issue) */
    uint32_t data, len; /* arena offset and length of argument/source bytes */
    CUstream stream;    /* as the program passed it */
    union {
        struct {
            gs_func_t *fn;
            unsigned grid[3], block[3], shmem;
        } k;
        struct {
            CUdeviceptr dst, src; /* device sides */
            void *hdst;           /* DtoH destination (page-locked) */
            size_t n;
            bool unified;         /* came through cuMemcpyAsync */
        } c;
        struct {
            CUdeviceptr dst;
            unsigned value, elsize;
            size_t n;
        } m;
        struct {
            CUevent ev;
            unsigned flags;
            int ref;              /* a wait on an event recorded in this step:
                                     the index of that record; else -1 */
            int prev;             /* a record: the index of the same event's
                                     record before it in this step, or -1 */
        } e;
        struct {
            CUhostFn fn;
            void *data;
        } h;
    } u;
} gs_rec_t;

/* Launch attributes of a cuLaunchKernelEx record follow its argument bytes,
 * aligned to 8. */
static inline uint32_t gs_attr_offset(uint32_t argsize) { return (argsize + 7u) & ~7u; }
static inline CUlaunchAttribute *gs_rec_attrs(const gs_rec_t *r, const uint8_t *arena)
{
    return (CUlaunchAttribute *)(void *)(arena + r->data + gs_attr_offset(r->u.k.fn->argsize));
}

/* Stream key: the handle, or GS_KEY_LEGACY, or a per-thread key. */
uint64_t gs_stream_key(gs_fn_id_t id, CUstream s, bool *per_thread);
/* Thread index of the caller (1, 2, ...): names per-thread streams. */
unsigned gs_thread_index(void);

gs_func_t *gs_func_get(CUfunction f);
/* The direct-mapped cache in front of gs_func_get's hash (record.c): a
 * step launches a few dozen kernels over and over, and hashing the handle
 * was the dearest part of holding a launch. Read under gs_eng_lock. */
#define GS_FUNC_SLOTS 512
extern GS_HIDDEN gs_func_t *gs_func_cache[GS_FUNC_SLOTS];
static inline unsigned gs_func_slot(const void *key)
{
    return (unsigned)(((uintptr_t)key >> 4) * 0x9e3779b97f4a7c15ull >> 55) % GS_FUNC_SLOTS;
}
/* Forgets every kernel handle (their module was unloaded: a new kernel may
 * get the same handle). No record or template may refer to one after. */
void gs_func_cache_clear(void);
/* Kind of memory a pointer is: 1 device, 2 page-locked host, 0 pageable
 * host, -1 unknown. Cached; gs_ptr_cache_clear() after frees. */
int gs_ptr_kind(const void *p);
void gs_ptr_cache_clear(void);
/* Compiles GRAPHSHIM_DENY_KERNELS and the default list. */
void gs_deny_init(void);
bool gs_deny_match(const char *name);

/* A 64-bit multiply-xorshift combine: cheap, and good enough that step
 * hashes only need confirming by length (nodes are compared one by one
 * when a template is matched). Inline: every op mixes twice. */
static inline uint64_t gs_mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

/* Issues one recorded op to the driver (eagerly, from its snapshot), on
 * stream `s` (the record's own, or the legacy stream for another thread's
 * per-thread stream). */
CUresult gs_issue(const gs_rec_t *r, const uint8_t *arena, CUstream s);
/* Fills kp[] with pointers to each parameter inside a packed buffer. */
void gs_param_ptrs(const gs_func_t *fn, const uint8_t *packed, void **kp);

/* ------------------------------------------------------------ attrs.c */

/* What the engine does with a launch attribute (each decision and its
 * reason is in attrs.c's table). */
typedef enum {
    GS_ATTR_BARRIER, /* the launch cannot be graphed: it stays eager */
    GS_ATTR_NODE,    /* set on the kernel node (cuGraphKernelNodeSetAttribute) */
    GS_ATTR_EDGE,    /* expressed by the edge into the node (PDL) */
    GS_ATTR_DROP     /* means nothing (an ignored entry) */
} gs_attr_policy_t;

gs_attr_policy_t gs_attr_policy(CUlaunchAttributeID id);
/* Bytes of the value union that the attribute means (the rest may be
 * whatever the program's stack held, so it must not reach a signature). */
size_t gs_attr_bytes(CUlaunchAttributeID id);
const char *gs_attr_name(CUlaunchAttributeID id);
const char *gs_attr_reason(CUlaunchAttributeID id);

/* ------------------------------------------------------------ dag.c */

/* An edge into a node from an earlier node of the same step. */
typedef struct {
    uint32_t from;
    uint8_t type; /* CU_GRAPH_DEPENDENCY_TYPE_DEFAULT or _PROGRAMMATIC */
} gs_edge_t;

/* The dependencies of every record of a step, in CSR form: record i's edges
 * are edges[start[i] .. start[i + 1]). Records that become no node (a wait
 * on an event recorded in the step) have none and are never an edge's
 * source; their effect is folded into the edges of what follows. */
typedef struct {
    uint32_t *start;
    gs_edge_t *edges;
    uint32_t nedges;
    bool *virt;     /* record i makes no graph node */
    uint32_t *into; /* a host function merged: the host node that runs it,
                       or GS_DAG_AFTER */
} gs_dag_t;
#define GS_DAG_NONE UINT32_MAX
#define GS_DAG_AFTER (UINT32_MAX - 1) /* runs after its chunk's graph */

/* Computes the DAG of recs[0..n). false when out of memory. */
bool gs_dag_build(gs_dag_t *d, const gs_rec_t *recs, unsigned n);
/* The same, with the template's chunks (chunk_of[i]: record i's; NULL: one)
 * and, when merge_host, host functions run in a later host node of their
 * stream and chunk where only waits on the step's events lie between. */
bool gs_dag_build_chunked(gs_dag_t *d, const gs_rec_t *recs, unsigned n,
                          const uint32_t *chunk_of, bool merge_host);
/* Host functions that nothing in their chunk follows (GRAPHSHIM_HOST_AFTER):
 * they and the functions merged into them make no node and are marked
 * GS_DAG_AFTER in `into`, to run after the chunk's graph. */
void gs_dag_mark_after(gs_dag_t *d, const gs_rec_t *recs, unsigned n,
                       const uint32_t *chunk_of);
void gs_dag_free(gs_dag_t *d);

/* ------------------------------------------- graph.c, graph_launch.c */

typedef struct gs_node {
    uint64_t sig;
    uint8_t kind;
    uint8_t slot;
    CUgraphNode node;       /* NULL: the record makes no node */
    /* What the executable graph holds now: */
    unsigned grid[3];
    uint32_t data, len;     /* argument bytes in the template's arena */
    CUdeviceptr dst, src;
    void *hdst;
    size_t n;
    unsigned value;
    void *staging;          /* page-locked source of a host-to-device node */
    CUevent ev;             /* event record / wait node */
    bool sup;               /* a record superseded in this launch (graph.c) */
    CUhostFn fn;            /* host node */
    void *fdata;
    struct gs_hostrun *run; /* a host node that runs several (hostrun.c) */
    /* GRAPHSHIM_DUMP_DIR only: how often each argument (kernels: each
     * parameter, then the grid) changed between replays. */
    uint32_t *chg, *psize;  /* psize: (offset, size) of each parameter */
    unsigned nchg;
} gs_node_t;

/* A template's graph is cut into chunks of GRAPHSHIM_CHUNK_OPS nodes, each
 * its own executable graph: a chunk is launched as soon as its ops have been
 * matched, so the GPU starts on the step while the program is still issuing
 * the rest of it (a chunk launched is exactly its ops issued, in order). */
typedef struct {
    CUgraph graph;
    CUgraphExec exec;
    unsigned first, count;
    unsigned nev;           /* event records, waits and host functions in it */
    unsigned frees_seen;    /* gs_frees when its copy nodes were last set */
    unsigned nruns;         /* host nodes in it that run several */
    struct gs_hostrun *after; /* its host functions that run after its graph */
    uint8_t after_slot;     /* >0: they are all of that slot, and run on its stream */
    CUstream after_stream;
    uint8_t real_slots;     /* slots (bits) of the records that are nodes in it */
} gs_chunk_t;

/* Counts the program's calls that free or unmap memory. A memcpy node with
 * a host side keeps the allocations of its operands, and if one of them is
 * freed and allocated again at the same address (as the driver does for a
 * buffer of the same size), launching the graph crashes the driver (SIGSEGV
 * in cuGraphLaunch, measured on an H100 with driver 580): such nodes are set
 * again, unchanged, before their chunk's next launch, which cures it. */
extern GS_HIDDEN unsigned gs_frees;

typedef struct gs_template {
    uint64_t hash;
    unsigned len;
    unsigned nslots;        /* streams the step spans */
    uint64_t stream_key;
    CUcontext ctx;
    bool failed;            /* negative cache: this step stays eager */
    bool periodic;          /* one period of a loop that never syncs */
    bool observed;          /* observe mode: never built */
    gs_node_t *nodes;
    uint8_t *arena;
    size_t arena_bytes;
    size_t staging_bytes;
    unsigned nchunks;
    gs_chunk_t *chunks;
    unsigned edges[2];      /* full and programmatic edges built */
    CUevent done;           /* recorded after launches that read staging */
    CUevent ph;             /* the event its graphs' event nodes are built with */
    CUevent aev;            /* orders host functions after a graph on their stream */
    uint8_t real_slots;     /* slots (bits) with a node in some chunk */
    uint8_t after_slots;    /* slots whose stream has host functions of this replay
                               that its next chunks have not waited for */
    bool launched_with_staging;
    uint64_t last_used;
    unsigned long long replays;
    unsigned cuts;          /* matches of it cut short since its last whole one (hold.c) */
    uint64_t graph_ns;      /* measured time of its launches and patches */
    /* What each of the last GS_PAYOFF_WINDOW replays cost (graph_ns since
     * the replay before, in ns, saturated): the payoff rule takes their
     * median, which one preempted or first-time launch does not move. */
    uint64_t graph_ns_mark;
    uint32_t replay_ns[GS_PAYOFF_WINDOW];
    /* A launch made outside the engine lock failed (submit.c): the
     * CUresult, and which call (gs_sub_reap counts it under the lock). */
    atomic_int sub_fail;
    uint8_t sub_what;
    atomic_ullong sub_ns;   /* what those launches cost, not yet in graph_ns */
    char *dump;             /* GRAPHSHIM_DUMP_DIR: what the template is */
    size_t dump_len;
    struct gs_template *next;  /* in the global list */
} gs_template_t;

/* Builds and instantiates a graph from recs[0..len); false on any failure
 * (logged once, counted), with everything it made released. */
bool gs_graph_build(gs_template_t *t, const gs_rec_t *recs, const uint8_t *arena,
                    CUstream s);
/* Patches the nodes of chunk c that differ from recs (the records of the
 * template's node 0 onwards, which are the step's from index `base`) and
 * launches it on s, or queues the launch for after the engine lock
 * (submit.c; should it fail then, the records' copies go out eagerly in its
 * place, and slot0_legacy says where those of the first stream go). false
 * on failure, in which case nothing was launched. `busy` is set when
 * staging could not be refilled because the previous replay may still read
 * it. */
bool gs_graph_launch_chunk(gs_template_t *t, unsigned c, const gs_rec_t *recs,
                           unsigned base, const uint8_t *arena, CUstream s, bool slot0_legacy,
                           bool *busy);
void gs_graph_destroy(gs_template_t *t);
/* The driver's parameters of node nd (a kernel's from its launch's grid,
 * block, shared memory and argument pointers kp), for adding the node
 * (graph.c) and for patching it (graph_launch.c). */
void gs_kernel_params(CUDA_KERNEL_NODE_PARAMS_v2 *p, const gs_func_t *fn,
                      const unsigned grid[3], const unsigned block[3], unsigned shmem,
                      void **kp);
void gs_copy_params(CUDA_MEMCPY3D *c, const gs_node_t *nd);
void gs_memset_params(CUDA_MEMSET_NODE_PARAMS *m, const gs_node_t *nd, unsigned elsize);
/* ---------------------------------------------------------- hostrun.c */

/* Host functions of one stream run from one host node (dag.c says which). */
typedef struct gs_hostrun gs_hostrun_t;
/* A run calling the host functions of the template's records members[0..k)
 * in that order; NULL when out of memory. */
gs_hostrun_t *gs_hostrun_new(const uint32_t *members, unsigned k);
size_t gs_hostrun_bytes(unsigned k);
unsigned gs_hostrun_count(const gs_hostrun_t *h);
/* Whether the next launch's slot is free (its last launch's callback ran). */
bool gs_hostrun_ready(const gs_hostrun_t *h);
/* Fills the next slot from the template's records; the host node's data. */
void *gs_hostrun_fill(gs_hostrun_t *h, const gs_rec_t *recs);
/* The slot filled went out with a launch: the next one is filled next.
 * Returns that slot. */
void *gs_hostrun_launched(gs_hostrun_t *h);
/* A slot's launch was refused after all: it counts as run (its functions
 * were called another way). Safe without the engine lock. */
void gs_hostrun_cancel(void *slot);
/* The host node's function: calls a slot's functions in order. */
void CUDA_CB gs_hostrun_call(void *slot);
/* Frees it once its pending callbacks have run (NULL: only those freed
 * before whose callbacks have run since). */
void gs_hostrun_free(gs_hostrun_t *h);

/* Checks that the driver has every graph function the engine needs. */
bool gs_graph_available(void);
/* Whether the driver takes event and host nodes (issue 10's step kinds);
 * without them such calls stay barriers. */
bool gs_graph_has_event_nodes(void);

/* ------------------------------------------------------------ dump.c */

bool gs_dump_on(void);
/* Describes a template just built (its records and DAG) and writes its
 * file; from then on its nodes count their changes. */
void gs_dump_build(gs_template_t *t, const gs_rec_t *recs, const uint8_t *arena,
                   const gs_dag_t *dag);
/* A node is patched: kernels compare each parameter (old: the bytes the
 * graph held), others count `what` (0: destination, event or function; 1:
 * source or data). Nothing unless the template is dumped. */
void gs_dump_kernel_changes(gs_node_t *nd, const uint8_t *old, const uint8_t *now,
                            bool grid_changed);
void gs_dump_change(gs_node_t *nd, unsigned what);
/* Writes the template's file again, with the counts. */
void gs_dump_write(const gs_template_t *t);
/* The last write, and what dumping holds, when a template goes. */
void gs_dump_free(gs_template_t *t);

/* ----------------------------------------------------------- detect.c */

typedef struct gs_stream {
    uint64_t key;
    bool per_thread;
    bool legacy;
    bool blocking;              /* synchronises with the legacy stream */
    unsigned owner;             /* thread index, for per-thread streams */
    CUstream handle;            /* what to launch graphs on */
    CUcontext ctx;              /* current context when the step began */
    /* The step this stream's ops go to: its own (origin == itself) or the
     * one it joined by waiting on an event recorded there, as `slot`. */
    struct gs_stream *origin;
    uint8_t slot;
    /* A shim event this stream must wait on before its next work: the end
     * of a graph launched elsewhere that held some of its ops. */
    CUevent pending;
    /* The step (meaningful where origin == this stream): */
    gs_rec_t *recs;
    unsigned n;                 /* records in the current step */
    uint8_t *arena;
    size_t used;
    uint64_t hash;              /* running hash of recs[0..n) */
    uint64_t hash_prev;         /* of recs[0..n-1) */
    /* hold.c: an op held where the template has it one later, waiting for
     * the op the template has before it (index + 1; 0: none), and the hash
     * before the op. */
    unsigned swap_at;
    uint64_t swap_hash;
    unsigned last;              /* where the op committed last is now */
    uint64_t gen;               /* which step: advances at every reset */
    bool tainted;               /* a recorded op failed: never a template */
    unsigned issued;            /* recs[0..issued) are on the GPU's way */
    unsigned match_start;       /* where the current match began */
    bool holding;
    unsigned ncand;
    gs_template_t *cand[GS_MAX_CAND];
    gs_template_t *complete;    /* fully matched, longer candidates pending */
    unsigned chunks_done;       /* chunks of cand[0] launched in this match */
    unsigned period;            /* > 0: periodic mode with this period */
    gs_breaker_t cut;           /* why the current step was cut, if it was */
    bool replayed;              /* some of the current step went as graphs */
    struct gs_stream *slots[GS_MAX_SLOTS]; /* slots[0] is this stream */
    unsigned nslots;
    unsigned slots_ordered;     /* slots whose earlier work the graph waits for */
    bool after_needed;          /* graphs went out since `after` was recorded */
    CUevent slot_ev[GS_MAX_SLOTS]; /* shim events: a slot stream's earlier work */
    CUevent after;              /* shim event: the end of the last graph launch */
    struct { uint64_t hash; unsigned len; } hist[GS_HIST];
    unsigned hist_n, hist_pos;
    /* watchdog.c: the contexts of host functions the program waited for
     * (they end the step), and what the watchdog last saw of the step. */
    uint64_t waits[GS_MAX_WAITS];
    unsigned nwaits, waits_pos;
    uint64_t wd_gen, wd_since;
    unsigned wd_n;
    unsigned retired;           /* its templates that did not pay (hold.c) */
    UT_hash_handle hh;
} gs_stream_t;

gs_stream_t *gs_stream_get(uint64_t key, bool per_thread, CUstream handle);
/* The stream gs_stream_get returned last (detect.c), for the held-launch
 * fast path (ops.c); read and written under gs_eng_lock. */
extern GS_HIDDEN gs_stream_t *gs_last_stream;

/* ----------------------------------------------------------- watchdog.c */

/* Whether the host function just committed (at g->last, which is the last
 * op of g's step unless hold.c swapped it with the one before) is one the
 * program was seen waiting for: it ends the step. */
bool gs_watchdog_awaited(const gs_stream_t *g);
/* Remembers the host function at recs[i] as one the program waits for (up
 * to GS_MAX_WAITS contexts a stream, the oldest forgotten first). */
void gs_watchdog_learn(gs_stream_t *g, unsigned i);
/* A run without barriers filled g's step and no periodic template can
 * follow it (it spans streams, or waits on its own events): if it repeats,
 * a host function of its last repetition, one whose context is there only
 * once, ends steps from then on, so that steps form (JAX's eager loop). */
void gs_watchdog_bootstrap(gs_stream_t *g);
/* A host function is held: the watchdog (started on first use) looks. */
void gs_watchdog_held(void);
/* Before exit reporting: the watchdog issues nothing more. */
void gs_watchdog_stop(void);
void gs_watchdog_atfork_child(void);
/* The legacy stream's, once it has been used (NULL before). */
extern GS_HIDDEN gs_stream_t *gs_legacy_stream;
gs_stream_t *gs_stream_find(uint64_t key);
/* Empties the current step of st: no records, nothing held, streams that
 * had joined it go back to steps of their own. */
void gs_step_reset(gs_stream_t *st);
/* Bytes of argument snapshots one stream's step may hold. */
#define GS_ARENA_BYTES (8u << 20)
size_t gs_arena_bytes(void);
/* Closes the current step of st: remembers it, forms a template when it has
 * recurred often enough, and resets the step. */
void gs_step_close(gs_stream_t *st);
/* Looks for a period in a long unsynchronised run; forms a periodic template
 * from its last period. Returns the template or NULL. */
gs_template_t *gs_period_detect(gs_stream_t *st);
/* Templates of a stream whose first node has this signature. */
unsigned gs_templates_starting(gs_stream_t *st, uint64_t sig,
                               gs_template_t **out, unsigned cap);
void gs_template_touch(gs_template_t *t);
void gs_templates_release_all(void);
/* Writes every template's dump (at exit). */
void gs_templates_dump(void);
void gs_streams_reset(uint64_t key); /* a destroyed stream */
void gs_for_each_stream(void (*fn)(gs_stream_t *));
/* Where an event was last recorded by the program, as far as the engine
 * follows it: in step `gen` of stream `origin`, record `index`. */
typedef struct gs_event {
    CUevent key;
    gs_stream_t *origin;
    uint64_t gen;
    unsigned index;
    unsigned refs;  /* exec nodes whose event it is now (evlife.c) */
    unsigned queries; /* cuEventQuery answered "not ready" for its held record */
    bool destroyed; /* by the program; the real destroy waits (evlife.c) */
    bool notiming;  /* created with CU_EVENT_DISABLE_TIMING, seen at its
                       cuEventCreate (unknown: as if it timed) */
    UT_hash_handle hh;
} gs_event_t;
/* The direct-mapped cache in front of gs_event_get's hash (detect.c), as
 * gs_func_cache is in front of the kernels': XLA makes three event calls
 * for every kernel, from a pool of hundreds of events, between whole
 * microseconds of its own work that leave the shim's data out of the CPU's
 * caches; walking a chain of the hash then cost a cache miss an item, half
 * of what holding such a call cost. Read and written under gs_eng_lock. */
#define GS_EVENT_SLOTS 1024
static inline unsigned gs_event_slot(CUevent e)
{
    return (unsigned)(((uintptr_t)e >> 4) * 0x9e3779b97f4a7c15ull >> 54) % GS_EVENT_SLOTS;
}
gs_event_t *gs_event_get(CUevent e, bool create);
void gs_event_forget(CUevent e);
/* The record, in a step still open, that an event's latest record is;
 * NULL when it is not in one. */
static inline const gs_rec_t *gs_event_in_step(const gs_event_t *ev)
{
    return ev != NULL && ev->origin != NULL && ev->origin->gen == ev->gen &&
                   ev->index < ev->origin->n
               ? &ev->origin->recs[ev->index]
               : NULL;
}

/* ----------------------------------------------------------- evlife.c */

/* The program destroys e: true when the real destroy must wait (the shim
 * still names it), false when it may go through now. */
bool gs_event_destroy_later(gs_event_t *ev);
/* An exec node's event becomes e, or stops being it. */
void gs_event_ref(CUevent e);
void gs_event_unref(CUevent e);
/* Destroys the deferred events whose steps have issued their ops (called as
 * steps end, when gs_graves_waiting), or everything nothing names. */
extern GS_HIDDEN unsigned gs_graves_waiting;
void gs_event_sweep(void);
void gs_event_sweep_all(void);

/* ------------------------------------------------------------- hold.c */

/* Steps holding ops now; read without the lock to skip work when none. */
extern GS_HIDDEN atomic_int gs_holders;

/* Decides about the op just recorded at idx of st's step: true if it is
 * held (or went out as part of a graph), false if the caller forwards it. */
bool gs_hold_advance(gs_stream_t *st, unsigned idx);
/* Completes or releases what st's step holds (a held sequence that is a
 * whole template is launched), counting `why` when it is cut. */
void gs_hold_settle(gs_stream_t *st, gs_breaker_t why);
/* The same for every stream that holds, except `except`; `blocking_only`:
 * only steps on streams that synchronise with the legacy stream. */
void gs_hold_settle_all(gs_stream_t *except, bool blocking_only, gs_breaker_t why);
/* Issues held records [issued, end) one by one, in order. */
void gs_hold_issue(gs_stream_t *st, unsigned end);
/* Whether two ops of st's step may run in either order: on different
 * streams, neither the legacy nor a per-thread stream, and not both calls
 * on one event. */
bool gs_hold_commute(const gs_stream_t *st, const gs_rec_t *a, const gs_rec_t *b);
/* Makes st wait for the graph that holds some of its ops, if there is one,
 * before it gets work of its own (inline: asked before every op). */
void gs_hold_join_pending_slow(gs_stream_t *st);
static inline void gs_hold_join_pending(gs_stream_t *st)
{
    if (GS_UNLIKELY(st->pending != NULL))
        gs_hold_join_pending_slow(st);
}
/* ... for every stream (before a legacy-stream op). */
void gs_hold_join_all_pending(void);
/* The stream a held record of st's step goes out on when issued by the
 * calling thread (another thread's per-thread stream: the legacy one). */
CUstream gs_hold_issue_stream(const gs_stream_t *origin, const gs_rec_t *r);

/* ----------------------------------------------------------- submit.c */

#define GS_SUB_RUNS 16
/* What ends a chunk's launch: its graph on s, the staging event after it,
 * and the host functions after it (a hostrun slot, on after_stream when
 * they are of one joined stream, which waits for the graph through aev). */
typedef struct {
    gs_template_t *t;
    CUgraphExec exec;
    CUstream s;
    CUevent done;
    void *after;
    CUstream after_stream;
    CUevent aev;
    unsigned nev;                /* event ops and host functions replayed */
    unsigned nruns;              /* host runs of its host nodes, this launch's slots */
    void *runs[GS_SUB_RUNS];
} gs_sub_chunk_t;

/* Whether launches are queued for after the engine lock now
 * (GRAPHSHIM_UNLOCKED_LAUNCH). */
bool gs_sub_deferring(void);
/* Queues chunk c, with copies of its n records (from recs, their bytes in
 * arena) to issue eagerly should the launch fail; slot0_legacy: the
 * records of the step's first stream go to the legacy stream. false: not
 * queued (memory), the caller launches now. */
bool gs_sub_push_chunk(const gs_sub_chunk_t *c, const gs_rec_t *recs, unsigned n,
                       const uint8_t *arena, bool slot0_legacy);
/* Queues a record of ev on s (the host waits for s if it fails). */
bool gs_sub_push_record(CUevent ev, CUstream s);
/* Launches chunk c now; locked: under the engine lock, failures after the
 * graph's launch are counted at once. Returns cuGraphLaunch's answer. */
CUresult gs_sub_run_chunk(const gs_sub_chunk_t *c, bool locked);
/* c's graph was refused after its host runs' slots were marked launched:
 * they count as run. */
void gs_sub_cancel_runs(const gs_sub_chunk_t *c);
/* Counts and applies a failure of t's launches outside the lock (a plain
 * load when there was none: it runs for every template a step may start). */
void gs_sub_reap_slow(gs_template_t *t);
static inline void gs_sub_reap(gs_template_t *t)
{
    if (GS_UNLIKELY(atomic_load_explicit(&t->sub_fail, memory_order_relaxed) != 0))
        gs_sub_reap_slow(t);
}
void gs_sub_atfork_child(void);

/* ----------------------------------------------------------- engine.c */

/* Every driver call the engine makes goes through GS_CALL, so that
 * GRAPHSHIM_TEST_FAIL can make it fail (on a real driver too) and the tests
 * can prove that no such failure reaches the program. */
extern GS_HIDDEN unsigned gs_test_rules;
bool gs_test_fail_hit(gs_fn_id_t id);
/* (It waits for launches in flight first, as GS_REAL does, so that the
 * test's call counts are never touched by two threads at once.) */
#define GS_CALL(name, ...)                                                   \
    (gs_sub_sync(), GS_UNLIKELY(gs_test_rules > 0) && gs_test_fail_hit(GS_ID_##name) \
                        ? CUDA_ERROR_UNKNOWN                                 \
                        : GS_REAL(name)(__VA_ARGS__))
/* GRAPHSHIM_TEST_DROP_EDGE: the n-th edge of every graph build is left out
 * (0: none), so tests can prove that a missing edge is caught. */
extern GS_HIDDEN unsigned gs_test_drop_edge;

extern GS_HIDDEN pthread_mutex_t gs_eng_lock;
/* Enter and leave the engine (its lock). Leaving makes the launches this
 * thread queued meanwhile, after the lock is released (submit.c). */
void gs_eng_enter(void);
void gs_eng_leave(void);
/* The driver call the engine is deciding about (under the lock): what a
 * step-breaker names when a step is cut because of it. */
extern GS_HIDDEN unsigned gs_eng_call;
extern GS_HIDDEN bool gs_eng_disabled;
extern GS_HIDDEN atomic_int gs_captures;
extern GS_HIDDEN atomic_bool gs_paused;
extern GS_HIDDEN atomic_bool gs_aside;
/* The payoff rule's last word, after a template was retired (under the
 * lock): a program whose templates keep being retired (GS_ASIDE_RETIRED)
 * while its replays have saved nothing by the summary's estimate makes the
 * engine step aside for the rest of the process, as a pause does. */
void gs_eng_judge_aside(void);
/* A graph call failed: counts it, and past the limit turns the engine into
 * a pass-through for the rest of the process. */
void gs_eng_failure(gs_counter_t reason, const char *what, CUresult r);

static inline bool gs_engine_on(void)
{
    return gs_opt.mode != GS_MODE_PASSTHROUGH && !gs_eng_disabled &&
           atomic_load_explicit(&gs_captures, memory_order_relaxed) == 0 && !gs_inert &&
           !atomic_load_explicit(&gs_paused, memory_order_relaxed) &&
           !atomic_load_explicit(&gs_aside, memory_order_relaxed);
}

/* ------------------------------------------------------------ ops.c */

typedef enum { GS_REC_OK, GS_REC_PASS, GS_REC_BARRIER } gs_rec_outcome_t;
/* The stream of an op of `id` on s, after what must go out before any of
 * its work (the legacy stream's rules, a graph it must wait for). */
gs_stream_t *gs_op_stream(gs_fn_id_t id, CUstream s);
/* Makes room for a record with `bytes` of data in the step of the op's
 * stream (*xp). GS_REC_OK: *out is the record, to fill and commit.
 * GS_REC_PASS: forward it unrecorded. GS_REC_BARRIER: it closes its step. */
gs_rec_outcome_t gs_op_begin(gs_fn_id_t id, CUstream s, size_t bytes, gs_stream_t **xp,
                             gs_rec_t **out);
/* The engine went off (a capture began, or repeated failures turned it into
 * a pass-through) while steps held ops: they go out before anything else. */
void gs_eng_flush_if_off(void);
/* The calling thread's current context; NULL (logged once) if the driver
 * cannot say. */
CUcontext gs_op_current_ctx(void);
/* Commits the record at the end of g's step: true if it is held. */
bool gs_op_commit(gs_stream_t *g, gs_rec_t *r);
/* A wait's signature before its slot is mixed in, at index pos of its
 * step: a wait on the step's own event (ref: the record's index) is known
 * by how far back the record is, one on an earlier event (ref -1) by being
 * external. */
uint64_t gs_op_wait_sig(int ref, unsigned pos);
/* The signature r would have at index pos of its step. */
uint64_t gs_op_sig_at(const gs_rec_t *r, unsigned pos);
/* The record just committed was forwarded, with this result. */
void gs_op_forwarded(gs_stream_t *g, CUresult res);
/* Settles and closes the step of stream x; true if that cut a step short
 * (it held ops, or had fewer than GRAPHSHIM_MIN_OPS). */
bool gs_op_close(gs_stream_t *x, gs_breaker_t why);

/* A call of `id` on stream s orders its work and cannot be graphed: it
 * settles and closes the step of s (with the legacy stream's rules first).
 * Returns whether that cut a step short (held ops, or fewer than
 * GRAPHSHIM_MIN_OPS), for the caller to count. */
bool gs_op_barrier(gs_fn_id_t id, CUstream s, gs_breaker_t why);

#endif /* GS_ENG_H */
