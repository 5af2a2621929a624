/* libnext_b.c: the next definition of gs_next_probe (see libnext_a.c). */
int gs_next_probe(int depth);

int gs_next_probe(int depth) { return 40 + depth + 1; }
