/* test_util.c: the helpers the cmocka suites of simcuda share (declared in
 * test_util.h): the group setup every suite runs first, the shorthands
 * their tests use to reach kernels and device memory, and the re-execution
 * of a suite as a child for settings read at load time. They live in a file
 * of their own so that the suites, each its own program, do not carry
 * copies of them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_util.h"

CUcontext primary;
CUmodule mod;

CUfunction K(const char *name)
{
    CUfunction f;
    OK(cuModuleGetFunction(&f, mod, name));
    return f;
}

CUdeviceptr dalloc(size_t bytes)
{
    CUdeviceptr d;
    OK(cuMemAlloc(&d, bytes));
    return d;
}

void fill(CUstream s, CUdeviceptr y, float v, int n, unsigned grid, unsigned block)
{
    void *args[] = { &y, &v, &n };
    OK(cuLaunchKernel(K("sim_fill"), grid, 1, 1, block, 1, 1, 0, s, args, NULL));
}

float dget(CUdeviceptr p, int i)
{
    float v;
    OK(cuMemcpyDtoH(&v, p + (CUdeviceptr)i * sizeof(float), sizeof v));
    return v;
}

/* A kernel that records how it was launched. */
simcuda_launch_t probe_seen;
int probe_arg;
void probe_kernel(const simcuda_launch_t *L, void *const *args)
{
    probe_seen = *L;
    probe_arg = *(const int *)args[0];
}

/* Retains and makes current the primary context, loads a module and
 * registers t_probe. */
int group_setup(void **state)
{
    (void)state;
    static const size_t sz[] = { sizeof(int) };
    CUdevice dev;
    if (simcuda_register_kernel("t_probe", probe_kernel, 1, sz) != 0 || cuInit(0) || cuDeviceGet(&dev, 0) ||
        cuDevicePrimaryCtxRetain(&primary, dev) || cuCtxSetCurrent(primary) || cuModuleLoadData(&mod, "x"))
        return -1;
    return 0;
}

void launch_probe(CUstream s, int ptsz, int tag)
{
    void *args[] = { &tag };
    if (ptsz)
        OK(cuLaunchKernel_ptsz(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
    else
        OK(cuLaunchKernel(K("t_probe"), 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
    OK(cuCtxSynchronize());
}

/* Runs this program again with `env` set and argv[1] = `scenario`; returns
 * its exit status (128 if it was killed). */
int run_child(const char *scenario, const char *env1, const char *env2)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        char *e1 = env1 ? strdup(env1) : NULL, *e2 = env2 ? strdup(env2) : NULL;
        if (e1)
            putenv(e1);
        if (e2)
            putenv(e2);
        execl("/proc/self/exe", "simcuda-test-child", scenario, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
