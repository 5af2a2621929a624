/* eng.h: private header of the engine (record.c, detect.c, graph.c,
 * engine.c): the records of ops, the per-stream state machine, templates.
 *
 * The model (DESIGN.md section 3): every op is recorded with a snapshot of
 * its arguments; a step is the ops of one stream between two barriers (or
 * one period of a loop that never synchronises); a step whose signature
 * sequence recurs GRAPHSHIM_WARMUP times among the recent steps of its
 * stream becomes a template with an instantiated graph; from then on ops
 * that match a template are held, and when the last one matches, the nodes
 * whose grid or arguments changed are patched and the graph is launched.
 *
 * All engine state is guarded by one mutex (gs_eng_lock); forwarding of
 * ops that are not held happens outside it.
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
#define GS_KEY_LEGACY 1ull   /* normalised key of the legacy stream */

typedef enum { GS_OP_KERNEL, GS_OP_HTOD, GS_OP_DTOH, GS_OP_DTOD, GS_OP_MEMSET } gs_opkind_t;

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

/* Checked against cuda.h. */
_Static_assert(__builtin_types_compatible_p(launch_fn, __typeof__(&cuLaunchKernel_ptsz)), "launch");
_Static_assert(__builtin_types_compatible_p(launch_ex_fn, __typeof__(&cuLaunchKernelEx_ptsz)), "launch-ex");
_Static_assert(__builtin_types_compatible_p(htod_fn, __typeof__(&cuMemcpyHtoDAsync_v2_ptsz)), "htod");
_Static_assert(__builtin_types_compatible_p(dtoh_fn, __typeof__(&cuMemcpyDtoHAsync_v2_ptsz)), "dtoh");
_Static_assert(__builtin_types_compatible_p(dtod_fn, __typeof__(&cuMemcpyAsync_ptsz)), "copy");
_Static_assert(__builtin_types_compatible_p(memset32_fn, __typeof__(&cuMemsetD32Async_ptsz)), "memset32");


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
    UT_hash_handle hh;
} gs_func_t;

/* One recorded op. Argument bytes (and launch attributes, and host-to-device
 * source bytes) live in the stream's arena at `data`. */
typedef struct {
    uint64_t sig;
    uint8_t kind;
    uint8_t nattrs;
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

uint64_t gs_mix(uint64_t h, uint64_t x);

/* Issues one recorded op to the driver (eagerly, from its snapshot). */
CUresult gs_issue(const gs_rec_t *r, const uint8_t *arena);
/* Fills kp[] with pointers to each parameter inside a packed buffer. */
void gs_param_ptrs(const gs_func_t *fn, const uint8_t *packed, void **kp);

/* ----------------------------------------------------------- graph.c */

typedef struct gs_node {
    uint64_t sig;
    uint8_t kind;
    CUgraphNode node;
    /* What the executable graph holds now: */
    unsigned grid[3];
    uint32_t data, len;     /* argument bytes in the template's arena */
    CUdeviceptr dst, src;
    void *hdst;
    size_t n;
    unsigned value;
    void *staging;          /* page-locked source of a host-to-device node */
} gs_node_t;

/* A template's graph is cut into chunks of GRAPHSHIM_CHUNK_OPS nodes, each
 * its own executable graph: a chunk is launched as soon as its ops have been
 * matched, so the GPU starts on the step while the program is still issuing
 * the rest of it (a chunk launched is exactly its ops issued, in order). */
typedef struct {
    CUgraph graph;
    CUgraphExec exec;
    unsigned first, count;
    unsigned frees_seen;    /* gs_frees when its copy nodes were last set */
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
    CUevent done;           /* recorded after launches that read staging */
    bool launched_with_staging;
    uint64_t last_used;
    unsigned long long replays;
    struct gs_template *next;  /* in the global list */
} gs_template_t;

/* Builds and instantiates a graph from recs[0..len); false on any failure
 * (logged once, counted), with everything it made released. */
bool gs_graph_build(gs_template_t *t, const gs_rec_t *recs, const uint8_t *arena,
                    CUstream s);
/* Patches the nodes of chunk c that differ from recs (the records of the
 * template's node 0 onwards) and launches it on s; false on failure, in
 * which case nothing was launched. `busy` is set when staging could not be
 * refilled because the previous replay may still read it. */
bool gs_graph_launch_chunk(gs_template_t *t, unsigned c, const gs_rec_t *recs,
                           const uint8_t *arena, CUstream s, bool *busy);
void gs_graph_destroy(gs_template_t *t);
/* Checks that the driver has every graph function the engine needs. */
bool gs_graph_available(void);

/* ----------------------------------------------------------- detect.c */

typedef struct gs_stream {
    uint64_t key;
    bool per_thread;
    unsigned owner;             /* thread index, for per-thread streams */
    CUstream handle;            /* what to launch graphs on */
    CUcontext ctx;              /* current context when the step began */
    gs_rec_t *recs;
    unsigned n;                 /* records in the current step */
    uint8_t *arena;
    size_t used;
    uint64_t hash;              /* running hash of recs[0..n) */
    bool tainted;               /* a recorded op failed: never a template */
    unsigned issued;            /* recs[0..issued) are on the GPU's way */
    unsigned match_start;       /* where the current match began */
    bool holding;
    unsigned ncand;
    gs_template_t *cand[GS_MAX_CAND];
    gs_template_t *complete;    /* fully matched, longer candidates pending */
    unsigned chunks_done;       /* chunks of cand[0] launched in this match */
    unsigned period;            /* > 0: periodic mode with this period */
    struct { uint64_t hash; unsigned len; } hist[GS_HIST];
    unsigned hist_n, hist_pos;
    UT_hash_handle hh;
} gs_stream_t;

gs_stream_t *gs_stream_get(uint64_t key, bool per_thread, CUstream handle);
gs_stream_t *gs_stream_find(uint64_t key);
/* Empties the current step of st: no records, nothing held. */
void gs_step_reset(gs_stream_t *st);
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
void gs_streams_reset(uint64_t key); /* a destroyed stream */
void gs_for_each_stream(void (*fn)(gs_stream_t *));

/* ----------------------------------------------------------- engine.c */

/* Every driver call the engine makes goes through GS_CALL, so that
 * GRAPHSHIM_TEST_FAIL can make it fail (on a real driver too) and the tests
 * can prove that no such failure reaches the program. */
extern GS_HIDDEN unsigned gs_test_rules;
bool gs_test_fail_hit(gs_fn_id_t id);
#define GS_CALL(name, ...)                                                   \
    (GS_UNLIKELY(gs_test_rules > 0) && gs_test_fail_hit(GS_ID_##name)         \
         ? CUDA_ERROR_UNKNOWN                                                \
         : GS_REAL(name)(__VA_ARGS__))

extern GS_HIDDEN pthread_mutex_t gs_eng_lock;
extern GS_HIDDEN bool gs_eng_disabled;
/* A graph call failed: counts it, and past the limit turns the engine into
 * a pass-through for the rest of the process. */
void gs_eng_failure(gs_counter_t reason, const char *what, CUresult r);

#endif /* GS_ENG_H */
