/* libnext_a.c: a library that interposes gs_next_probe and forwards to the
 * next definition with dlsym(RTLD_NEXT), as libomp's ompt_start_tool and
 * many tracing tools do. If a preloaded dlsym override changed which object
 * counts as the caller, the lookup would find this definition again. */
#define _GNU_SOURCE
#include <dlfcn.h>

int gs_next_probe(int depth);

int gs_next_probe(int depth)
{
    if (depth > 4)
        return -1; /* we were handed ourselves again: a loop */
    int (*next)(int) = (int (*)(int))dlsym(RTLD_NEXT, "gs_next_probe");
    return next ? next(depth + 1) : -2;
}
