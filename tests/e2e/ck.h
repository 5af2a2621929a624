/* ck.h: what the test programs on the driver API share. CK(call), the check
 * every end-to-end test program puts around its driver calls: on failure it
 * names the call, the line and the CUresult (and ck_context, when a program
 * sets it: a seed, a thread), and exits 1. ck_read_file(path), how the
 * programs that run on a GPU read the PTX they hand to cuModuleLoadData.
 * ck_wait_callback(done, arg), how a host waits for a host function's
 * callback with no driver call, as JAX does. */
#ifndef CK_H
#define CK_H

#include <dlfcn.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static __thread char ck_context[64];

static inline void ck_result(int r, const char *what, int line)
{
    if (r != 0) {
        fprintf(stderr, "%s%sline %d: %s failed with CUresult %d\n", ck_context,
                ck_context[0] ? ": " : "", line, what, r);
        exit(1);
    }
}
#define CK(call) ck_result((int)(call), #call, __LINE__)

/* The whole file, NUL-terminated (PTX is text); exits 2 if unreadable. */
static inline char *ck_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    long n = ftell(f);
    char *text = n < 0 ? NULL : calloc(1, (size_t)n + 1);
    rewind(f);
    if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return text;
}

/* Polls done(arg) until it is true or two seconds have passed, with no
 * driver call the shim could see (a callback the shim held for good never
 * comes); on simcuda the GPU's own progress is simcuda_progress(), on a
 * GPU it is real. Returns whether done came true. */
static inline bool ck_wait_callback(bool (*done)(const void *), const void *arg)
{
    static void (*progress)(void);
    static bool looked;
    if (!looked) {
        progress = (void (*)(void))dlsym(RTLD_DEFAULT, "simcuda_progress");
        looked = true;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned tries = 0; !done(arg); tries++) {
        if (progress != NULL)
            progress();
        else
            sched_yield();
        if (tries % 1024 == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000000000l + (t.tv_nsec - t0.tv_nsec) > 2000000000l)
                return done(arg);
        }
    }
    return true;
}

#endif
