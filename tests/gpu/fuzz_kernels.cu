// fuzz_kernels.cu: the kernels of tests/e2e/prog_fuzz.c for a real GPU, with
// the names and parameter layouts of the simulated driver's built-ins
// (tests/simcuda/README.md), so the same fuzzer runs on both: one thread per
// element i < n, as many elements as the grid covers.
//
// Each has a twin named _gds for programmatic dependent launch, as simcuda's
// SIMCUDA_KERNEL_GDS twins: it calls cudaGridDependencySynchronize() before
// it touches memory (so launched with programmatic stream serialisation it
// still sees everything its predecessor wrote), then
// cudaTriggerProgrammaticLaunchCompletion() (so a programmatic successor may
// start; it waits for this kernel's completion in its own
// cudaGridDependencySynchronize()). Both need compute capability 9.0: the
// Makefile compiles this file to compute_90 PTX.
struct sim_affine_t {
    float scale, bias;
};

#define IDX (blockIdx.x * blockDim.x + threadIdx.x)

// Each kernel's body once, and the two entry points that run it.
#define KERNEL(name, params, body)                                           \
    static __device__ __forceinline__ void name##_body params body           \
    extern "C" __global__ void name params { name##_body ARGS_##name; }     \
    extern "C" __global__ void name##_gds params                             \
    {                                                                         \
        cudaGridDependencySynchronize();                                      \
        cudaTriggerProgrammaticLaunchCompletion();                            \
        name##_body ARGS_##name;                                              \
    }

#define ARGS_sim_fill (y, v, n)
KERNEL(sim_fill, (float *y, float v, int n), {
    int i = IDX;
    if (i < n)
        y[i] = v;
})

#define ARGS_sim_axpy (y, x, a, n)
KERNEL(sim_axpy, (float *y, const float *x, float a, int n), {
    int i = IDX;
    if (i < n)
        y[i] += a * x[i];
})

#define ARGS_sim_scale (y, x, a, n)
KERNEL(sim_scale, (float *y, const float *x, float a, int n), {
    int i = IDX;
    if (i < n)
        y[i] = a * x[i];
})

#define ARGS_sim_add (y, a, b, n)
KERNEL(sim_add, (float *y, const float *a, const float *b, int n), {
    int i = IDX;
    if (i < n)
        y[i] = a[i] + b[i];
})

#define ARGS_sim_affine (y, x, p, n)
KERNEL(sim_affine, (float *y, const float *x, sim_affine_t p, int n), {
    int i = IDX;
    if (i < n)
        y[i] = x[i] * p.scale + p.bias;
})

// Launched with one thread, as the simulated kernel runs once per launch.
#define ARGS_sim_inc_i32 (p, v)
KERNEL(sim_inc_i32, (int *p, int v), {
    if (IDX == 0)
        *p += v;
})
