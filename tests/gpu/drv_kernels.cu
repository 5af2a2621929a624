/*
 * tests/gpu/drv_kernels.cu: the kernels gpu_drvapi loads through the driver
 * API.  The Makefile compiles this file to PTX (-ptx -arch=compute_80), so
 * the test exercises cuModuleLoadData with JIT compilation, as frameworks
 * that ship PTX do.  Names are extern "C" so cuModuleGetFunction finds them
 * unmangled.  Every kernel is bitwise deterministic: no atomics, and the
 * float arithmetic is exact for the values the test feeds it (scaling by
 * powers of two, sums of small dyadic numbers).
 */

/* c[i] = a[i] + b[i]; c may alias a. */
extern "C" __global__ void vadd(float *c, const float *a, const float *b, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        c[i] = a[i] + b[i];
}

/* x[i] *= s. */
extern "C" __global__ void scale(float *x, float s, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        x[i] *= s;
}

/* One thread per slot: slot i of 64 accumulates step * (i + 1) when the
 * step is a multiple of i + 1, so the result depends on every step's value
 * of the by-value argument. */
extern "C" __global__ void count_step(int *counter, int step)
{
    int i = threadIdx.x;
    if (i < 64 && step % (i + 1) == 0)
        counter[i] += step * (i + 1);
}
