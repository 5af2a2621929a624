/* hooklist.c: prints the name and class of every entry of src/hooks.def, one
 * per line, for tests/coverage/check-cuda-h.sh. */
#include <stdio.h>

int main(void)
{
#define GS_HOOK(name, cls, since, strm, params, args) puts(#name " " #cls);
#include "../../src/hooks.def"
#undef GS_HOOK
    return 0;
}
