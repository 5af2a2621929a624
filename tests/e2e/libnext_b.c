/* libnext_b.c: the next definition of gs_next_probe (see libnext_a.c). */
int gs_next_probe(int depth);
int gs_next_b_present(void);

int gs_next_probe(int depth) { return 40 + depth + 1; }

/* Referenced by the program so that the linker keeps this library. */
int gs_next_b_present(void) { return 1; }
