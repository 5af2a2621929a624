/* fuzz.h: what the two halves of the differential fuzzer share:
 * prog_fuzz.c (the classic generator of ops and barriers on one stream, the
 * program loop, main) and fuzz_ext.c (what the extended generator adds:
 * programmatic dependent launch, launch attributes, per-thread default
 * streams, work forked to other streams and joined back, host functions,
 * timing events, a second thread).
 *
 * Both run on the simulated driver and, built against the real one with
 * the PTX of tests/gpu/fuzz_kernels.cu, on a GPU. Every program must be
 * race-free under the dependencies it declares, so that its result is the
 * same under every schedule: simcuda's SIMCUDA_SEED, a GPU's, the shim's. */
#ifndef FUZZ_H
#define FUZZ_H

#include "config.h"
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

#include <stdbool.h>
#include <stdint.h>

#define NB 6      /* device buffers */
#define N 256     /* floats per buffer */
#define MAXOPS 16
#define LANES 4   /* lane 0: the main stream; 1..3: streams work forks to */

/* A xorshift generator; the classic one and the extension's are apart, so
 * the classic part of a program is the same with and without extensions. */
typedef struct {
    uint64_t s;
} fz_rng_t;
unsigned fz_rnd(fz_rng_t *r, unsigned n); /* 0..n-1 */
bool fz_chance(fz_rng_t *r, unsigned percent);

typedef enum {
    K_FILL, K_AXPY, K_SCALE, K_ADD, K_AFFINE, K_INC,
    C_HTOD_PAGE, C_HTOD_PIN, C_DTOH, C_DTOD, C_UNIFIED,
    M_8, M_16, M_32, NKINDS
} kind_t;

/* Launch attributes an op of the extended generator carries. */
enum {
    FA_PRIO = 1, FA_CLUSTER = 2, FA_APW = 4, FA_DOMAIN = 8, FA_DMAP = 16, FA_IGNORE = 32,
    FA_COOP = 64, FA_CARVE = 128, FA_POLICY = 256, FA_PEVENT = 512, FA_LCEVENT = 1024
};

typedef struct {
    kind_t kind;
    int a, b, c;      /* buffer indices (mapped to the issuing lane's buffers) */
    float v;
    unsigned grid, block;
    unsigned off, len; /* elements */
    unsigned attrs;    /* FA_* */
    bool pdl;          /* the _gds twin, with programmatic stream serialisation */
    bool ptsz;         /* on a per-thread main stream: the _ptsz entry point with stream 0 */
} op_t;

/* ----------------------------------------------------------- prog_fuzz.c */

extern CUfunction kfill, kaxpy, kscale, kadd, kaffine, kinc;
extern CUfunction kgds[6]; /* the _gds twins, in the order of K_FILL..K_INC */
extern CUdeviceptr buf[NB], cnt;
extern CUstream s1, s2;
extern float *pinned_src, *pinned_dst; /* pinned_dst: N floats per lane */
extern float pageable_src[N];
extern bool on_gpu;
void fold(const void *p, size_t len);
void random_op(fz_rng_t *r, op_t *o);
/* Issues op o on lane `lane` (mapping its buffers to the lane's). */
void issue(const op_t *o, int lane);

/* ------------------------------------------------------------ fuzz_ext.c */

/* The main stream: s1, or the per-thread default stream. */
CUstream fx_main(void);
void fx_set_torchlike(bool on);
void fx_set_swaps(bool on);
/* The main thread begins (true) or ends (false) a capture of its own: the
 * second thread makes no context-wide synchronisation meanwhile. */
void fx_capturing(bool on);
/* --swaps: the op of this repetition issued after the one following it
 * (MAXOPS: none); called once a repetition, after fx_rep_begin. */
unsigned fx_swap(unsigned nops);
CUstream fx_lane_stream(int lane, bool ptsz);
/* The buffer index an op of `lane` uses for its index i. */
int fx_own(int lane, int i);
/* Whether some lane's work forked in this or an earlier step is not joined. */
bool fx_open(void);
/* Launches kernel op o (function f, arguments p) on stream s, with its
 * attributes and programmatic serialisation (attributes off in capture). */
void fx_launch(const op_t *o, kind_t k, CUfunction f, void **p, CUstream s, bool ptsz, bool capturing);
void fx_init(CUcontext ctx);
/* A program's extensions: drawn from rng2, for a step of nops classic ops. */
void fx_program_begin(unsigned long long seed, unsigned nops);
void fx_decorate_op(op_t *o);
void fx_rep_begin(void);
int fx_before_op(unsigned i);
void fx_rep_end(bool synced);
void fx_program_end(void);
void fx_describe(char *out, size_t n);

#endif
