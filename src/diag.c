/* diag.c: step-breakers, measured costs and the step history (diag.h).
 *
 * Step-breakers are counted in a fixed open-addressing table keyed by
 * (reason, detail), claimed with a compare-and-swap, so gs_breaker never
 * locks or allocates; the first GS_BREAKER_SAMPLES occurrences of each key
 * also take a caller sample (caller.c) from a fixed pool. Costs are relaxed
 * atomic sums with a log2 histogram for the median. The step history keeps
 * the first half of its capacity and a ring of the most recent half, each
 * entry two relaxed atomic words, so a report that runs while other threads
 * still close steps reads whole entries without a lock.
 */
#include "config.h"
#include "gs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ names */

static const char *const breaker_names[GS_BRK_COUNT] = {
#define GS_X(name, doc) #name,
    GS_BREAKERS(GS_X)
#undef GS_X
};
static const char *const breaker_docs[GS_BRK_COUNT] = {
#define GS_X(name, doc) doc,
    GS_BREAKERS(GS_X)
#undef GS_X
};

const char *gs_breaker_name(gs_breaker_t why)
{
    return (unsigned)why < GS_BRK_COUNT ? breaker_names[why] : "?";
}

const char *gs_breaker_doc(gs_breaker_t why)
{
    return (unsigned)why < GS_BRK_COUNT ? breaker_docs[why] : "?";
}

gs_breaker_t gs_breaker_by_name(const char *name)
{
    for (int i = 0; i < GS_BRK_COUNT; i++)
        if (strcmp(breaker_names[i], name) == 0)
            return (gs_breaker_t)i;
    return GS_BRK_COUNT;
}

const char *gs_step_outcome_name(gs_step_outcome_t o)
{
    static const char *const n[] = {"learning", "replayed", "eager"};
    return (unsigned)o < GS_STEP_OUTCOMES ? n[o] : "?";
}

/* CUlaunchAttributeID values are part of the driver's ABI; the names are
 * those of cuda.h 13.0 (15 is unassigned there). */
static const char *const attr_names[] = {
    "CU_LAUNCH_ATTRIBUTE_IGNORE",
    "CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW",
    "CU_LAUNCH_ATTRIBUTE_COOPERATIVE",
    "CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY",
    "CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION",
    "CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE",
    "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION",
    "CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT",
    "CU_LAUNCH_ATTRIBUTE_PRIORITY",
    "CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP",
    "CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN",
    "CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION",
    "CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT",
    "CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE",
    "CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT",
    NULL,
    "CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING",
};
_Static_assert(CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION == 6 &&
                   CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT == 14,
               "attribute names follow cuda.h's values");

const char *gs_breaker_detail_name(gs_breaker_t why, unsigned detail, char *buf,
                                   size_t n)
{
    switch (why) {
    case GS_BRK_attribute:
        if (detail < sizeof attr_names / sizeof attr_names[0] && attr_names[detail])
            return attr_names[detail];
        snprintf(buf, n, "launch attribute %u", detail);
        return buf;
    case GS_BRK_staging:
    case GS_BRK_full:
    case GS_BRK_mismatch:
    case GS_BRK_COUNT:
        return NULL;
    default:
        /* A driver function: the call, or the op, or the graph call. */
        return detail < GS_FN_COUNT ? gs_fn_names[detail] : NULL;
    }
}

/* ------------------------------------------------------------ breakers */

#define NSLOTS 1024 /* (reason, detail) pairs; later ones are folded */

typedef struct {
    atomic_ullong key;   /* 1 + (why << 32 | detail); 0: free */
    atomic_ullong count;
    atomic_uint taken;   /* samples claimed */
    atomic_int sample[GS_BREAKER_SAMPLES]; /* 1 + pool slot; 0: none yet */
} slot_t;

static slot_t slots[NSLOTS];
static atomic_uint pool_used;
/* By reason, all details together (also those that found no slot). */
static atomic_ullong by_reason[GS_BRK_COUNT];

static slot_t *slot_for(unsigned long long key)
{
    unsigned h = (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 54) % NSLOTS;
    for (unsigned probe = 0; probe < NSLOTS; probe++) {
        slot_t *s = &slots[(h + probe) % NSLOTS];
        unsigned long long k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == key)
            return s;
        if (k == 0) {
            unsigned long long expected = 0;
            if (atomic_compare_exchange_strong(&s->key, &expected, key) ||
                expected == key)
                return s;
        }
    }
    return NULL;
}

/* Kept out of line so that the common case stays small. */
__attribute__((noinline)) static void take_sample(slot_t *s, unsigned i)
{
    unsigned p = atomic_fetch_add(&pool_used, 1);
    if (p >= GS_CALLER_POOL)
        return;
    gs_caller_capture(p);
    atomic_store_explicit(&s->sample[i], (int)p + 1, memory_order_release);
}

GS_TLS bool gs_no_caller_samples;

void gs_breaker(gs_breaker_t why, unsigned detail)
{
    if ((unsigned)why >= GS_BRK_COUNT)
        return;
    atomic_fetch_add_explicit(&by_reason[why], 1, memory_order_relaxed);
    slot_t *s = slot_for(1 + ((unsigned long long)why << 32 | detail));
    if (s == NULL)
        return;
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    if (GS_UNLIKELY(atomic_load_explicit(&s->taken, memory_order_relaxed) <
                    GS_BREAKER_SAMPLES) && !gs_no_caller_samples) {
        unsigned i = atomic_fetch_add(&s->taken, 1);
        if (i < GS_BREAKER_SAMPLES)
            take_sample(s, i);
    }
}

unsigned long long gs_diag_breaker_count(gs_breaker_t why)
{
    return (unsigned)why < GS_BRK_COUNT ? atomic_load(&by_reason[why]) : 0;
}

static bool same_caller(const gs_caller_t *a, const gs_caller_t *b)
{
    if (a->depth != b->depth)
        return false;
    for (unsigned i = 0; i < a->depth; i++)
        if (strcmp(a->chain[i].lib, b->chain[i].lib) != 0 ||
            strcmp(a->chain[i].sym, b->chain[i].sym) != 0 ||
            a->chain[i].offset != b->chain[i].offset)
            return false;
    return true;
}

static void resolve_callers(slot_t *s, gs_breaker_info_t *o)
{
    o->ncallers = 0;
    for (unsigned i = 0; i < GS_BREAKER_SAMPLES; i++) {
        int p = atomic_load_explicit(&s->sample[i], memory_order_acquire);
        gs_caller_t c;
        if (p == 0 || !gs_caller_resolve((unsigned)p - 1, &c))
            continue;
        unsigned j = 0;
        while (j < o->ncallers && !same_caller(&o->callers[j], &c))
            j++;
        if (j == o->ncallers) {
            c.hits = 0;
            o->callers[o->ncallers++] = c;
        }
        o->callers[j].hits++;
    }
}

typedef struct {
    unsigned long long count;
    unsigned long long key;
    unsigned slot;
} rank_t;

static int by_count_desc(const void *a, const void *b)
{
    const rank_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->key < y->key ? -1 : x->key > y->key;
}

size_t gs_diag_breakers(gs_breaker_info_t *out, size_t max)
{
    /* Rank the keys first (cheap), then resolve only the ones returned. */
    static rank_t rank[NSLOTS];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < NSLOTS; i++) {
        unsigned long long k = atomic_load(&slots[i].key);
        unsigned long long c = atomic_load(&slots[i].count);
        if (k != 0 && c != 0)
            rank[n++] = (rank_t){c, k, i};
    }
    qsort(rank, n, sizeof rank[0], by_count_desc);
    for (size_t i = 0; i < n && i < max; i++) {
        out[i].why = (gs_breaker_t)((rank[i].key - 1) >> 32);
        out[i].detail = (unsigned)((rank[i].key - 1) & 0xffffffffu);
        out[i].count = rank[i].count;
        resolve_callers(&slots[rank[i].slot], &out[i]);
    }
    pthread_mutex_unlock(&lock);
    return n;
}

/* ------------------------------------------------------------ costs */

#define HIST_BUCKETS 256 /* 4 per octave: up to 2^64 ns */

typedef struct {
    atomic_ullong n, total, min, max;
    atomic_uint hist[HIST_BUCKETS];
} cost_acc_t;

static cost_acc_t eager_acc, eager_ev_acc, hold_acc, hold_ev_acc, graph_acc;
static atomic_ullong graph_nodes, graph_patched;

/* Bucket of ns: 4 * floor(log2) + the next two bits. */
static unsigned bucket_of(uint64_t ns)
{
    if (ns < 4)
        return (unsigned)ns;
    unsigned lg = 63u - (unsigned)__builtin_clzll(ns);
    return 4 * lg + (unsigned)((ns >> (lg - 2)) & 3);
}

/* The middle of bucket b, the inverse of bucket_of. */
static uint64_t bucket_mid(unsigned b)
{
    if (b < 8) /* 4..7 are never used: 4 ns falls in bucket 8 */
        return b < 4 ? b : 4;
    unsigned lg = b / 4;
    uint64_t lo = (1ull << lg) | ((uint64_t)(b & 3) << (lg - 2));
    return lo + (1ull << (lg - 2)) / 2;
}

static void cost_add(cost_acc_t *a, uint64_t ns)
{
    atomic_fetch_add_explicit(&a->n, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->total, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->hist[bucket_of(ns)], 1, memory_order_relaxed);
    unsigned long long m = atomic_load_explicit(&a->min, memory_order_relaxed);
    while ((m == 0 || ns < m) && !atomic_compare_exchange_weak(&a->min, &m, ns))
        ;
    m = atomic_load_explicit(&a->max, memory_order_relaxed);
    while (ns > m && !atomic_compare_exchange_weak(&a->max, &m, ns))
        ;
}

static void cost_read(cost_acc_t *a, gs_cost_t *out)
{
    memset(out, 0, sizeof *out);
    out->n = atomic_load(&a->n);
    out->total_ns = atomic_load(&a->total);
    out->min_ns = atomic_load(&a->min);
    out->max_ns = atomic_load(&a->max);
    unsigned long long seen = 0, half = (out->n + 1) / 2;
    for (unsigned b = 0; b < HIST_BUCKETS && out->n > 0; b++) {
        seen += atomic_load(&a->hist[b]);
        if (seen >= half) {
            out->median_ns = bucket_mid(b);
            break;
        }
    }
    /* The bucket's middle may fall outside what was measured. */
    if (out->n > 0 && out->median_ns < out->min_ns)
        out->median_ns = out->min_ns;
    if (out->n > 0 && out->median_ns > out->max_ns)
        out->median_ns = out->max_ns;
}

void gs_diag_eager_ns(uint64_t ns) { cost_add(&eager_acc, ns); }
void gs_diag_eager_ev_ns(uint64_t ns) { cost_add(&eager_ev_acc, ns); }
void gs_diag_hold_ns(uint64_t ns) { cost_add(&hold_acc, ns); }
void gs_diag_hold_ev_ns(uint64_t ns) { cost_add(&hold_ev_acc, ns); }

void gs_diag_graph_ns(uint64_t ns, unsigned nodes, unsigned patched)
{
    cost_add(&graph_acc, ns);
    atomic_fetch_add_explicit(&graph_nodes, nodes, memory_order_relaxed);
    atomic_fetch_add_explicit(&graph_patched, patched, memory_order_relaxed);
}

uint64_t gs_diag_graph_total_ns(void)
{
    return atomic_load_explicit(&graph_acc.total, memory_order_relaxed);
}

void gs_diag_costs(gs_costs_t *out)
{
    cost_read(&eager_acc, &out->eager);
    cost_read(&eager_ev_acc, &out->eager_ev);
    cost_read(&hold_acc, &out->hold);
    cost_read(&hold_ev_acc, &out->hold_ev);
    cost_read(&graph_acc, &out->graph);
    out->graph_nodes = atomic_load(&graph_nodes);
    out->graph_patched = atomic_load(&graph_patched);
}

uint64_t gs_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ steps */

/* Per stream (and the streams beyond the table, together, at the end). */
static atomic_ullong stream_keys[GS_DIAG_STREAMS];
static atomic_uint nstreams;
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong st_steps[GS_DIAG_STREAMS + 1][GS_STEP_OUTCOMES];
static atomic_ullong st_ops[GS_DIAG_STREAMS + 1][GS_STEP_OUTCOMES];
/* By outcome and reason (the last column: cut by none). */
static atomic_ullong why_steps[GS_STEP_OUTCOMES][GS_BRK_COUNT + 1];
static atomic_ullong why_ops[GS_STEP_OUTCOMES][GS_BRK_COUNT + 1];

/* The history: two words per entry (time; the rest packed). */
static atomic_ullong hist_t[GS_HISTORY_MAX], hist_w[GS_HISTORY_MAX];
static atomic_ullong steps_seen, epoch_ns;

static unsigned stream_ordinal(uint64_t key)
{
    unsigned n = atomic_load_explicit(&nstreams, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (atomic_load_explicit(&stream_keys[i], memory_order_relaxed) == key)
            return i;
    /* A stream not seen before: rare, so a lock is fine here. */
    pthread_mutex_lock(&streams_lock);
    n = atomic_load(&nstreams);
    unsigned i = 0;
    while (i < n && atomic_load(&stream_keys[i]) != key)
        i++;
    if (i == n && n < GS_DIAG_STREAMS) {
        atomic_store(&stream_keys[n], key);
        atomic_store_explicit(&nstreams, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&streams_lock);
    return i < GS_DIAG_STREAMS ? i : GS_DIAG_STREAMS;
}

static unsigned history_cap(void)
{
    long c = gs_opt.history;
    return c < 0 ? 0 : c > GS_HISTORY_MAX ? GS_HISTORY_MAX : (unsigned)c;
}

void gs_diag_step(uint64_t key, unsigned nops, gs_step_outcome_t outcome,
                  gs_breaker_t why)
{
    if ((unsigned)outcome >= GS_STEP_OUTCOMES)
        return;
    if ((unsigned)why > GS_BRK_COUNT)
        why = GS_BRK_COUNT;
    unsigned s = stream_ordinal(key);
    atomic_fetch_add_explicit(&st_steps[s][outcome], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st_ops[s][outcome], nops, memory_order_relaxed);
    atomic_fetch_add_explicit(&why_steps[outcome][why], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&why_ops[outcome][why], nops, memory_order_relaxed);

    unsigned cap = history_cap();
    uint64_t now = gs_clock_ns();
    unsigned long long e = 0;
    if (atomic_load_explicit(&epoch_ns, memory_order_relaxed) == 0)
        atomic_compare_exchange_strong(&epoch_ns, &e, now);
    unsigned long long seq = atomic_fetch_add(&steps_seen, 1);
    if (cap == 0)
        return;
    unsigned first = cap / 2, ring = cap - first, at;
    if (seq < first)
        at = (unsigned)seq;
    else
        at = first + (unsigned)((seq - first) % ring);
    uint64_t t = now - atomic_load_explicit(&epoch_ns, memory_order_relaxed);
    uint64_t w = (uint64_t)nops | (uint64_t)s << 32 | (uint64_t)outcome << 48 |
                 (uint64_t)why << 52;
    /* The sequence number is not stored: the reader knows it from the
     * position. */
    atomic_store_explicit(&hist_t[at], t, memory_order_relaxed);
    atomic_store_explicit(&hist_w[at], w, memory_order_relaxed);
}

size_t gs_diag_history(gs_hist_t *out, size_t max, unsigned long long *seen)
{
    unsigned long long n = atomic_load(&steps_seen);
    unsigned cap = history_cap(), first = cap / 2, ring = cap - first;
    *seen = n;
    size_t k = 0;
    /* The sequence numbers kept: [0, first) and the last `ring` ones. */
    unsigned long long lo = n > first + (unsigned long long)ring ? n - ring : first;
    for (unsigned long long seq = 0; seq < n && k < max; seq++) {
        if (seq >= first && seq < lo)
            seq = lo;
        if (seq >= n)
            break;
        unsigned at = seq < first ? (unsigned)seq : first + (unsigned)((seq - first) % ring);
        uint64_t w = atomic_load_explicit(&hist_w[at], memory_order_relaxed);
        out[k].seq = seq;
        out[k].t_ns = atomic_load_explicit(&hist_t[at], memory_order_relaxed);
        out[k].nops = (uint32_t)w;
        out[k].stream = (uint16_t)(w >> 32);
        out[k].outcome = (uint8_t)((w >> 48) & 0xf);
        out[k].why = (uint8_t)(w >> 52);
        k++;
    }
    return k;
}

size_t gs_diag_streams(gs_stream_diag_t *out, size_t max)
{
    unsigned n = atomic_load(&nstreams);
    size_t k = 0;
    for (unsigned i = 0; i <= GS_DIAG_STREAMS && k < max; i++) {
        if (i < GS_DIAG_STREAMS && i >= n)
            continue;
        gs_stream_diag_t d = {.key = i < n ? atomic_load(&stream_keys[i]) : 0,
                              .others = i == GS_DIAG_STREAMS};
        unsigned long long any = 0;
        for (int o = 0; o < GS_STEP_OUTCOMES; o++) {
            d.steps[o] = atomic_load(&st_steps[i][o]);
            d.ops[o] = atomic_load(&st_ops[i][o]);
            any += d.steps[o];
        }
        if (d.others && any == 0)
            continue;
        out[k++] = d;
    }
    return k;
}

void gs_diag_steps_by_reason(gs_step_outcome_t o, gs_breaker_t why,
                             unsigned long long *steps, unsigned long long *ops)
{
    *steps = *ops = 0;
    if ((unsigned)o >= GS_STEP_OUTCOMES || (unsigned)why > GS_BRK_COUNT)
        return;
    *steps = atomic_load(&why_steps[o][why]);
    *ops = atomic_load(&why_ops[o][why]);
}

/* ------------------------------------------------------------ estimate */

bool gs_diag_saving(unsigned long long ops_replayed, unsigned long long ev_replayed,
                    gs_saving_t *out)
{
    gs_costs_t c;
    gs_diag_costs(&c);
    memset(out, 0, sizeof *out);
    unsigned long long s, eager_held;
    gs_diag_steps_by_reason(GS_STEP_EAGER, GS_BRK_COUNT, &s, &eager_held);
    for (int w = 0; w < GS_BRK_COUNT; w++) {
        unsigned long long st, ops;
        gs_diag_steps_by_reason(GS_STEP_EAGER, (gs_breaker_t)w, &st, &ops);
        eager_held += ops;
    }
    out->ops_replayed = ops_replayed;
    out->ops_held = ops_replayed + eager_held;
    if (c.eager.n == 0 || (ops_replayed > 0 && c.graph.n == 0))
        return false;
    if (ev_replayed > ops_replayed)
        ev_replayed = ops_replayed;
    out->ev_replayed = ev_replayed;
    out->eager_ns_per_op = (double)c.eager.total_ns / (double)c.eager.n;
    out->eager_ev_ns_per_op = c.eager_ev.n ? (double)c.eager_ev.total_ns / (double)c.eager_ev.n
                                           : out->eager_ns_per_op;
    out->hold_ns_per_op = c.hold.n ? (double)c.hold.total_ns / (double)c.hold.n : 0.0;
    out->eager_ns = out->eager_ns_per_op * (double)(ops_replayed - ev_replayed) +
                    out->eager_ev_ns_per_op * (double)ev_replayed;
    out->graph_ns = (double)c.graph.total_ns;
    out->hold_ns = out->hold_ns_per_op * (double)out->ops_held;
    out->saved_ns = out->eager_ns - out->graph_ns - out->hold_ns;
    return true;
}

/* ------------------------------------------------------------ reset */

void gs_diag_reset(void)
{
    for (unsigned i = 0; i < NSLOTS; i++) {
        atomic_store(&slots[i].key, 0);
        atomic_store(&slots[i].count, 0);
        atomic_store(&slots[i].taken, 0);
        for (unsigned j = 0; j < GS_BREAKER_SAMPLES; j++)
            atomic_store(&slots[i].sample[j], 0);
    }
    atomic_store(&pool_used, 0);
    for (int i = 0; i < GS_BRK_COUNT; i++)
        atomic_store(&by_reason[i], 0);
    cost_acc_t *accs[] = {&eager_acc, &eager_ev_acc, &hold_acc, &hold_ev_acc, &graph_acc};
    for (size_t a = 0; a < sizeof accs / sizeof accs[0]; a++) {
        atomic_store(&accs[a]->n, 0);
        atomic_store(&accs[a]->total, 0);
        atomic_store(&accs[a]->min, 0);
        atomic_store(&accs[a]->max, 0);
        for (int b = 0; b < HIST_BUCKETS; b++)
            atomic_store(&accs[a]->hist[b], 0);
    }
    atomic_store(&graph_nodes, 0);
    atomic_store(&graph_patched, 0);
    atomic_store(&nstreams, 0);
    for (int i = 0; i <= GS_DIAG_STREAMS; i++)
        for (int o = 0; o < GS_STEP_OUTCOMES; o++) {
            atomic_store(&st_steps[i][o], 0);
            atomic_store(&st_ops[i][o], 0);
        }
    for (int o = 0; o < GS_STEP_OUTCOMES; o++)
        for (int w = 0; w <= GS_BRK_COUNT; w++) {
            atomic_store(&why_steps[o][w], 0);
            atomic_store(&why_ops[o][w], 0);
        }
    atomic_store(&steps_seen, 0);
    atomic_store(&epoch_ns, 0);
}
