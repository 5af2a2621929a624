/* ck.h: CK(call), the check every end-to-end test program puts around its
 * driver calls: on failure it names the call, the line and the CUresult
 * (and ck_context, when a program sets it: a seed, a thread), and exits 1. */
#ifndef CK_H
#define CK_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
