// fuzz_kernels.cu: the kernels of tests/e2e/prog_fuzz.c for a real GPU, with
// the names and parameter layouts of the simulated driver's built-ins
// (tests/simcuda/README.md), so the same fuzzer runs on both: one thread per
// element i < n, as many elements as the grid covers.
struct sim_affine_t {
    float scale, bias;
};

#define IDX (blockIdx.x * blockDim.x + threadIdx.x)

extern "C" __global__ void sim_fill(float *y, float v, int n)
{
    int i = IDX;
    if (i < n)
        y[i] = v;
}

extern "C" __global__ void sim_axpy(float *y, const float *x, float a, int n)
{
    int i = IDX;
    if (i < n)
        y[i] += a * x[i];
}

extern "C" __global__ void sim_scale(float *y, const float *x, float a, int n)
{
    int i = IDX;
    if (i < n)
        y[i] = a * x[i];
}

extern "C" __global__ void sim_add(float *y, const float *a, const float *b, int n)
{
    int i = IDX;
    if (i < n)
        y[i] = a[i] + b[i];
}

extern "C" __global__ void sim_affine(float *y, const float *x, sim_affine_t p, int n)
{
    int i = IDX;
    if (i < n)
        y[i] = x[i] * p.scale + p.bias;
}

// Launched with one thread, as the simulated kernel runs once per launch.
extern "C" __global__ void sim_inc_i32(int *p, int v)
{
    if (IDX == 0)
        *p += v;
}
