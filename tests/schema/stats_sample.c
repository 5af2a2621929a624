/* stats_sample.c: writes the statistics of a made-up run with every
 * section filled (step-breakers of every reason with callers, steps of
 * every outcome on three streams, measured costs) to the file named by its
 * argument, through the shim's own writer, so the schema test checks the
 * parts a run on the simulated driver may leave empty. Linked with the
 * shim's code and -export-dynamic (so the callers have names). */
#include "config.h"
#include "gs.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static volatile int sink;

__attribute__((noinline)) void sample_step(gs_breaker_t why, unsigned detail);
__attribute__((noinline)) void sample_step(gs_breaker_t why, unsigned detail)
{
    gs_breaker(why, detail);
    sink++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: stats_sample FILE\n");
        return 2;
    }
    gs_count_call(GS_ID_cuLaunchKernel, GS_PATH_DIRECT);
    gs_count_call(GS_ID_cuLaunchKernelEx, GS_PATH_GETPROC);
    gs_count(GS_CTR_ops, 5000);
    gs_count(GS_CTR_ops_replayed, 1200);
    gs_count(GS_CTR_replays, 12);
    gs_count(GS_CTR_graph_launches, 24);
    gs_count(GS_CTR_graphs_built, 3);
    gs_count(GS_CTR_nodes_patched, 40);
    for (int r = 0; r < GS_BRK_COUNT; r++)
        for (int i = 0; i <= r; i++)
            sample_step((gs_breaker_t)r,
                        r == GS_BRK_barrier     ? GS_ID_cuStreamSynchronize
                        : r == GS_BRK_attribute ? 6u
                        : r == GS_BRK_pageable  ? GS_ID_cuMemcpyDtoHAsync_v2
                        : r == GS_BRK_event     ? GS_ID_cuStreamWaitEvent
                        : r == GS_BRK_capture   ? GS_ID_cuStreamBeginCapture_v2
                        : r == GS_BRK_failed    ? GS_ID_cuGraphInstantiateWithFlags
                        : r == GS_BRK_hostwait  ? GS_ID_cuLaunchHostFunc
                        : r == GS_BRK_staging || r == GS_BRK_full || r == GS_BRK_mismatch
                            ? 0u
                            : GS_ID_cuLaunchKernel);
    sample_step(GS_BRK_attribute, 99);
    for (unsigned i = 0; i < 300; i++)
        gs_diag_step(0x1000 + i % 3, 100, (gs_step_outcome_t)(i % 3),
                     i % 3 == 2 ? (gs_breaker_t)(i / 3 % GS_BRK_COUNT) : GS_BRK_COUNT);
    for (int i = 0; i < 50; i++) {
        gs_diag_eager_ns(4000 + (uint64_t)i);
        gs_diag_hold_ns(150);
        gs_diag_graph_ns(30000, 100, 3);
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    gs_stats_write_json(fd);
    close(fd);
    return 0;
}
