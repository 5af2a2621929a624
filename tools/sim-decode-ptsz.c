/* sim-decode-ptsz.c: the _ptsz entry-point table of tools/sim-decode
 * (--per-thread). This file is compiled as a program built for the
 * per-thread default stream is: with CUDA_API_PER_THREAD_DEFAULT_STREAM
 * defined before <cuda.h>, which maps every stream-ordered name of the table
 * to its _ptsz variant (cuLaunchKernel_ptsz, cuMemcpyDtoHAsync_v2_ptsz,
 * cuStreamBeginCapture_v2_ptsz, ...). sim-decode.h explains the table. */
#define CUDA_API_PER_THREAD_DEFAULT_STREAM 1
#include <cuda.h>

#include "sim-decode.h"

SD_API_TABLE(sd_api_ptsz);
