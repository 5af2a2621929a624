/* wrappers.c: everything generated from the hook list (hooks.def).
 *
 * For each hooked function: a compile-time check of its prototype against
 * cuda.h, an implementation chosen by its class (forward, tell the engine
 * about an op or a barrier, or fix up cuGetProcAddress results), and three
 * entry points that differ only in the path counter they bump: the exported
 * symbol (programs linked against libcuda), and two private ones handed out
 * by the dlsym and cuGetProcAddress substitution. Keeping the path in the
 * entry point costs nothing at run time and tells the user how each call
 * reached the shim.
 *
 * Hot path of a wrapper: one TLS load (re-entry), one acquire load (ready),
 * one relaxed atomic add, then the class's work. No locks, no allocation.
 */
#include "config.h"
#include "gs.h"

/* ------------------------------------------------------------------ checks */

#define GS_HOOK(name, cls, since, strm, params, args)                        \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&name),            \
                                                CUresult(*) params),          \
                   #name ": parameter list differs from cuda.h");
#include "hooks.def"
#undef GS_HOOK

/* ---------------------------------------------------- per-class behaviour */

/* Each GS_IMPL_<class> is the body of the function's implementation. The
 * real pointer is only read after gs_ensure_init(); a missing one (a driver
 * older than the header) answers as the driver would for an unknown entry. */
#define GS_FORWARD(name, args)                                               \
    (GS_LIKELY(gs_real_fn[GS_ID_##name] != NULL) ? GS_REAL(name) args         \
                                                  : gs_missing(GS_ID_##name))

/* Queries and the program's own graph objects neither submit nor wait:
 * they need not follow a launch in flight (submit.c). */
#define GS_IMPL_QUERY(name, strm, args)                                      \
    return GS_LIKELY(gs_real_fn[GS_ID_##name] != NULL) ? GS_REAL_NOW(name) args \
                                                        : gs_missing(GS_ID_##name);
#define GS_IMPL_SBAR(name, strm, args)                                       \
    gs_eng_barrier_stream(GS_ID_##name, strm);                               \
    CUresult gs_b_ = GS_FORWARD(name, args);                                 \
    gs_eng_after_barrier(GS_ID_##name, strm, gs_b_);                         \
    return gs_b_;
#define GS_IMPL_BAR(name, strm, args)                                        \
    gs_eng_barrier_all(GS_ID_##name);                                        \
    return GS_FORWARD(name, args);
/* Ops: the engine calls the real function itself (or holds the op). */
#define GS_IMPL_OP(fn, name, args)                                           \
    if (GS_UNLIKELY(gs_real_fn[GS_ID_##name] == NULL))                       \
        return gs_missing(GS_ID_##name);                                     \
    return fn(GS_ID_##name, GS_UNPAREN args);
#define GS_UNPAREN(...) __VA_ARGS__
#define GS_IMPL_LAUNCH(name, strm, args) GS_IMPL_OP(gs_eng_launch, name, args)
#define GS_IMPL_LAUNCH_EX(name, strm, args) GS_IMPL_OP(gs_eng_launch_ex, name, args)
#define GS_IMPL_HTOD(name, strm, args) GS_IMPL_OP(gs_eng_htod, name, args)
#define GS_IMPL_DTOH(name, strm, args) GS_IMPL_OP(gs_eng_dtoh, name, args)
#define GS_IMPL_DTOD(name, strm, args) GS_IMPL_OP(gs_eng_dtod, name, args)
#define GS_IMPL_COPY(name, strm, args) GS_IMPL_OP(gs_eng_copy, name, args)
#define GS_IMPL_MEMSET8(name, strm, args) GS_IMPL_OP(gs_eng_memset8, name, args)
#define GS_IMPL_MEMSET16(name, strm, args) GS_IMPL_OP(gs_eng_memset16, name, args)
#define GS_IMPL_MEMSET32(name, strm, args) GS_IMPL_OP(gs_eng_memset32, name, args)
#define GS_IMPL_GETPROC(name, strm, args) return gs_getproc_##name args;
/* Events and host functions: the engine decides whether they are ops. */
#define GS_IMPL_EVREC(name, strm, args)                                      \
    if (GS_UNLIKELY(gs_real_fn[GS_ID_##name] == NULL))                       \
        return gs_missing(GS_ID_##name);                                     \
    return gs_eng_event_record(GS_ID_##name, GS_ARG1 args, strm, 0, false);
#define GS_IMPL_EVRECF(name, strm, args)                                     \
    if (GS_UNLIKELY(gs_real_fn[GS_ID_##name] == NULL))                       \
        return gs_missing(GS_ID_##name);                                     \
    return gs_eng_event_record(GS_ID_##name, GS_ARG1 args, strm, GS_ARG3 args, true);
#define GS_IMPL_EVWAIT(name, strm, args) GS_IMPL_OP(gs_eng_stream_wait, name, args)
#define GS_IMPL_HOSTFN(name, strm, args) GS_IMPL_OP(gs_eng_host_func, name, args)
#define GS_IMPL_EVHOST(name, strm, args)                                     \
    CUresult answer_ = CUDA_SUCCESS;                                         \
    if (!gs_eng_event_host(GS_ID_##name, strm, &answer_))                    \
        return answer_;                                                      \
    return GS_FORWARD(name, args);
#define GS_IMPL_EVCREATE(name, strm, args)                                   \
    CUresult gs_c_ = GS_FORWARD(name, args);                                 \
    if (gs_c_ == CUDA_SUCCESS)                                               \
        gs_eng_event_created(*GS_ARG1 args, GS_ARG2 args);                   \
    return gs_c_;
#define GS_ARG1(a, ...) a
#define GS_ARG2(a, b, ...) b
#define GS_ARG3(a, b, c, ...) c

/* The two cuGetProcAddress versions have their own fix-up functions. */
#define gs_getproc_cuGetProcAddress gs_getproc_v1
#define gs_getproc_cuGetProcAddress_v2 gs_getproc_v2

/* ---------------------------------------------------------- entry points */

/* A wrapper entered while this thread is already inside the shim or the
 * driver (the driver calling its own exported functions, the engine issuing
 * held work) forwards straight to the driver: no counting, no engine. */
#define GS_ENTRY(name, params, args, path)                                   \
    gs_ensure_init();                                                        \
    if (GS_UNLIKELY(gs_depth > 0))                                           \
        return GS_FORWARD(name, args);                                       \
    gs_count_call(GS_ID_##name, path);                                       \
    gs_depth++;                                                              \
    CUresult gs_r_ = gs_impl_##name args;                                    \
    gs_depth--;                                                              \
    return gs_r_;

#define GS_HOOK(name, cls, since, strm, params, args)                        \
    static inline CUresult gs_impl_##name params { GS_IMPL_##cls(name, strm, args) } \
    GS_EXPORT CUresult name params { GS_ENTRY(name, params, args, GS_PATH_DIRECT) } \
    static CUresult gs_dl_##name params { GS_ENTRY(name, params, args, GS_PATH_DLSYM) } \
    static CUresult gs_gp_##name params { GS_ENTRY(name, params, args, GS_PATH_GETPROC) }
#include "hooks.def"
#undef GS_HOOK

/* ---------------------------------------------------------------- tables */

/* Base names and the per-thread flag are derived from the exact name once at
 * start-up (interpose.c), so the list needs no extra columns. */
const gs_hook_t gs_hooks[GS_HOOK_COUNT] = {
/* (Parameter names differ from the member names they initialise.) */
#define GS_HOOK(n_, c_, v_, s_, params, args)                                \
    [GS_ID_##n_] = {.name = #n_,                                             \
                    .cls = GS_CLASS_##c_,                                    \
                    .since = v_,                                             \
                    .fn = {[GS_PATH_DIRECT] = (void *)n_,                    \
                           [GS_PATH_DLSYM] = (void *)gs_dl_##n_,             \
                           [GS_PATH_GETPROC] = (void *)gs_gp_##n_}},
#include "hooks.def"
#undef GS_HOOK
};

const char *const gs_fn_names[GS_FN_COUNT] = {
#define GS_HOOK(name, cls, since, strm, params, args) [GS_ID_##name] = #name,
#include "hooks.def"
#undef GS_HOOK
#define GS_REAL_FN(name) [GS_ID_##name] = #name,
#include "reals.def"
#undef GS_REAL_FN
};

const char *gs_class_name(gs_class_t c)
{
    static const char *const names[GS_CLASS_COUNT] = {
        [GS_CLASS_LAUNCH] = "launch",     [GS_CLASS_LAUNCH_EX] = "launch-ex",
        [GS_CLASS_HTOD] = "htod",         [GS_CLASS_DTOH] = "dtoh",
        [GS_CLASS_DTOD] = "dtod",         [GS_CLASS_COPY] = "copy",
        [GS_CLASS_MEMSET8] = "memset8",   [GS_CLASS_MEMSET16] = "memset16",
        [GS_CLASS_MEMSET32] = "memset32", [GS_CLASS_EVREC] = "event-record",
        [GS_CLASS_EVRECF] = "event-record", [GS_CLASS_EVWAIT] = "event-wait",
        [GS_CLASS_HOSTFN] = "host-function", [GS_CLASS_SBAR] = "stream-barrier",
        [GS_CLASS_EVHOST] = "event-host", [GS_CLASS_BAR] = "barrier",
        [GS_CLASS_QUERY] = "query",       [GS_CLASS_EVCREATE] = "event-create",
        [GS_CLASS_GETPROC] = "getproc",
    };
    return (unsigned)c < GS_CLASS_COUNT ? names[c] : "?";
}
