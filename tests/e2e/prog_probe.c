/* prog_probe.c: asks the loader for cuLaunchKernel (a name the shim exports) and for libcuda, without being
 * linked against any driver: for the no-driver test (inert.sh). */
#include "config.h"
#include <dlfcn.h>
#include <stdio.h>

int main(void)
{
    void *launch = dlsym(RTLD_DEFAULT, "cuLaunchKernel");
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    printf("dlsym(RTLD_DEFAULT, cuLaunchKernel): %s\n", launch ? "found" : "not found");
    printf("dlopen(libcuda.so.1): %s\n", h ? "loaded" : "not found");
    return 0;
}
