/* sim-decode.h: the driver entry points tools/sim-decode issues its steps
 * through, as a table, so that --per-thread can swap the whole set.
 *
 * A program built for the per-thread default stream (nvcc
 * --default-stream per-thread, or CUDA_API_PER_THREAD_DEFAULT_STREAM before
 * <cuda.h>) calls the _ptsz entry points, where stream 0 is the calling
 * thread's per-thread stream. SD_API_TABLE is spelt with cuda.h's plain
 * names, so that it means the ordinary entry points in sim-decode.c and the
 * _ptsz ones in sim-decode-ptsz.c, which defines that macro first: the same
 * text, compiled both ways, as such a program would be. */
#ifndef SIM_DECODE_H
#define SIM_DECODE_H

#include <cuda.h>

typedef struct sd_api {
    CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                       CUstream, void **, void **);
    CUresult (*launch_ex)(const CUlaunchConfig *, CUfunction, void **, void **);
    CUresult (*dtoh_async)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*stream_sync)(CUstream);
    CUresult (*event_record)(CUevent, CUstream);
    CUresult (*stream_wait_event)(CUstream, CUevent, unsigned);
    CUresult (*host_func)(CUstream, CUhostFn, void *);
    CUresult (*begin_capture)(CUstream, CUstreamCaptureMode);
    CUresult (*end_capture)(CUstream, CUgraph *);
    CUresult (*graph_upload)(CUgraphExec, CUstream);
    CUresult (*graph_launch)(CUgraphExec, CUstream);
} sd_api_t;

#define SD_API_TABLE(var)                                                                      \
    const sd_api_t var = { cuLaunchKernel,      cuLaunchKernelEx,  cuMemcpyDtoHAsync,          \
                           cuStreamSynchronize, cuEventRecord,     cuStreamWaitEvent,          \
                           cuLaunchHostFunc,    cuStreamBeginCapture, cuStreamEndCapture,      \
                           cuGraphUpload,       cuGraphLaunch }

/* The ordinary entry points (sim-decode.c) and the _ptsz ones (sim-decode-ptsz.c). */
extern const sd_api_t sd_api_legacy, sd_api_ptsz;

#endif /* SIM_DECODE_H */
