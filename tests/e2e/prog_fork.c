/* prog_fork.c: forks while another thread keeps looking up driver functions
 * and launching work, then carries on in the parent; the child looks up a
 * driver function and exits. Under the shim nothing may deadlock and the
 * parent's results must be those without it. */
#include "config.h"
#include "drv.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int stop;

static void *lookups(void *h)
{
    while (!atomic_load(&stop)) {
        void *p = dlsym(h, "cuStreamQuery");
        if (p == NULL)
            abort();
    }
    return NULL;
}

int main(void)
{
    drv_t d;
    if (!drv_load(&d, DRV_DLSYM, false, 12000))
        return 3;
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    CUcontext ctx;
    CUmodule mod;
    CUfunction inc;
    CUstream s;
    CUdeviceptr cnt;
    CK(d.Init(0));
    CK(d.DevicePrimaryCtxRetain(&ctx, 0));
    CK(d.CtxSetCurrent(ctx));
    CK(d.ModuleLoadData(&mod, "simcuda"));
    CK(d.ModuleGetFunction(&inc, mod, "sim_inc_i32"));
    CK(d.StreamCreate(&s, 0));
    CK(d.MemAlloc(&cnt, sizeof(int)));
    CK(d.MemsetD32Async(cnt, 0, 1, s));
    pthread_t t;
    pthread_create(&t, NULL, lookups, h);
    int one = 1;
    void *args[] = {&cnt, &one};
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < 10; i++)
            CK(d.LaunchKernel(inc, 1, 1, 1, 1, 1, 1, 0, s, args, NULL));
        pid_t pid = fork();
        if (pid == 0) {
            /* The child may look things up; it must not hang doing so, and
             * exit() runs the shim's destructor, which must stay quiet. */
            exit(dlsym(h, "cuLaunchKernel") != NULL ? 0 : 1);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) {
            fprintf(stderr, "child %d failed\n", round);
            return 1;
        }
        CK(d.StreamSynchronize(s));
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    int out = 0;
    CK(d.MemcpyDtoH(&out, cnt, sizeof out));
    printf("count=%d\n", out);
    return 0;
}
