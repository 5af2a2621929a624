/* prog_rtld_next.c: calls gs_next_probe, linked against libnext_a then
 * libnext_b. Prints 42 when RTLD_NEXT reaches libnext_b; -1 on a loop. */
#include <stdio.h>

int gs_next_probe(int depth);
int gs_next_b_present(void);

int main(void)
{
    if (!gs_next_b_present())
        return 1;
    printf("gs_next_probe=%d\n", gs_next_probe(0));
    return 0;
}
