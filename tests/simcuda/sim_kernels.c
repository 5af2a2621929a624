/* sim_kernels.c: what names a kernel in simcuda: the registry of
 * host-implemented kernels with their parameter layouts, the handles that
 * reach them (modules and CUfunction, libraries and CUkernel), parameter
 * packing for launches, and the function and kernel queries.
 *
 * Modules and libraries live here rather than in sim_core.c because all they
 * do is look kernels up in this registry. CUfunction and CUkernel are kept
 * strictly apart, as on the real driver: the function queries accept only a
 * CUfunction, the kernel queries only a CUkernel, and only launches accept
 * both (the CUDA runtime passes CUkernel handles cast to CUfunction). The
 * built-in kernels themselves are in sim_builtins.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define SIM_DEFAULT_DYN_SHMEM 49152
#define SIM_MAX_DYN_SHMEM 232448

typedef struct sim_module {
    sim_obj_t obj;
    struct sim_func *funcs;
} sim_module_t;

typedef struct sim_library {
    sim_obj_t obj;
    struct sim_kernel *kernels;
} sim_library_t;

typedef struct sim_kernel {
    sim_obj_t obj;
    sim_kdef_t *kdef;
    sim_library_t *lib;
    struct sim_func *funcs; /* one per context, from cuKernelGetFunction */
    struct sim_kernel *next;
} sim_kernel_t;

typedef struct sim_func {
    sim_obj_t obj;
    sim_kdef_t *kdef;
    sim_module_t *mod;
    sim_kernel_t *kern;
    int max_dyn_shmem;
    struct sim_func *next;
} sim_func_t;

static sim_kdef_t *kdefs;

/* --------------------------------------------------------------- registry */

static size_t param_align(size_t size)
{
    if (size >= 8)
        return 8;
    size_t a = 1;
    while (a < 8 && size % (a * 2) == 0)
        a *= 2;
    return a;
}

static int layout_equal(const sim_kdef_t *k, unsigned nparams, const size_t *sizes)
{
    if (k->nparams != nparams)
        return 0;
    for (unsigned i = 0; i < nparams; i++)
        if (k->sizes[i] != sizes[i])
            return 0;
    return 1;
}

/* Registers a kernel, or replaces the functions and flags of one of the
 * same layout. A prologue, the part of a kernel that runs before its
 * cudaGridDependencySynchronize(), only makes sense for a GDS kernel. */
SIMCUDA_API int simcuda_register_kernel_ex(const char *name, simcuda_kernel_fn fn, unsigned nparams,
                                           const size_t *sizes, unsigned flags, simcuda_kernel_fn prologue)
{
    sim_kdef_t *k = NULL;
    int rc = -1;
    if (!name || !*name || !fn || (nparams && !sizes) || (flags & ~SIMCUDA_KERNEL_GDS) ||
        (prologue && !(flags & SIMCUDA_KERNEL_GDS)))
        return -1;
    for (unsigned i = 0; i < nparams; i++)
        if (sizes[i] == 0 || sizes[i] > 4096)
            return -1;
    sim_lock();
    HASH_FIND_STR(kdefs, name, k);
    if (k) {
        if (layout_equal(k, nparams, sizes)) {
            k->fn = fn;
            k->prologue = prologue;
            k->flags = flags;
            rc = 0;
        }
    } else if ((k = calloc(1, sizeof *k)) && (k->name = strdup(name)) &&
               (k->sizes = calloc(nparams + 1, sizeof *k->sizes)) &&
               (k->offsets = calloc(nparams + 1, sizeof *k->offsets))) {
        size_t off = 0;
        for (unsigned i = 0; i < nparams; i++) {
            size_t a = param_align(sizes[i]);
            off = (off + a - 1) / a * a;
            k->offsets[i] = off;
            k->sizes[i] = sizes[i];
            off += sizes[i];
        }
        k->fn = fn;
        k->prologue = prologue;
        k->flags = flags;
        k->nparams = nparams;
        k->total = off;
        HASH_ADD_KEYPTR(hh, kdefs, k->name, strlen(k->name), k);
        rc = 0;
    } else if (k) {
        free(k->name);
        free(k->sizes);
        free(k);
    }
    sim_unlock();
    return rc;
}

SIMCUDA_API int simcuda_register_kernel(const char *name, simcuda_kernel_fn fn, unsigned nparams,
                                        const size_t *sizes)
{
    return simcuda_register_kernel_ex(name, fn, nparams, sizes, 0, NULL);
}

static sim_kdef_t *kdef_by_name(const char *name)
{
    sim_kdef_t *k = NULL;
    if (name)
        HASH_FIND_STR(kdefs, name, k);
    return k;
}

/* Copies the arguments of one launch into a buffer laid out as the kernel's
 * parameters: from kernelParams, or from an `extra` buffer of exactly the
 * layout's size. */
CUresult sim_pack_args(const sim_kdef_t *k, void **params, void **extra, unsigned char **out, size_t *outsz)
{
    void *buf = NULL;
    size_t bufsz = 0;
    int have_size = 0;
    *out = NULL;
    *outsz = 0;
    if (params && extra)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "both kernelParams and extra given");
    if (extra) {
        for (void **e = extra; e[0] != CU_LAUNCH_PARAM_END; e += 2) {
            if (e[0] == CU_LAUNCH_PARAM_BUFFER_POINTER)
                buf = e[1];
            else if (e[0] == CU_LAUNCH_PARAM_BUFFER_SIZE && e[1]) {
                bufsz = *(size_t *)e[1];
                have_size = 1;
            } else
                return sim_err(CUDA_ERROR_INVALID_VALUE, "unknown extra option %p", e[0]);
        }
        if (!buf || !have_size || bufsz != k->total)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "extra buffer of %zu bytes, %s takes %zu", bufsz,
                           k->name, k->total);
    } else if (!params && k->nparams)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%s takes %u parameters, none given", k->name, k->nparams);
    if (k->total == 0)
        return CUDA_SUCCESS;
    unsigned char *b = calloc(1, k->total);
    if (!b)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (extra)
        memcpy(b, buf, k->total);
    else
        for (unsigned i = 0; i < k->nparams; i++) {
            if (!params[i]) {
                free(b);
                return sim_err(CUDA_ERROR_INVALID_VALUE, "kernelParams[%u] of %s is NULL", i, k->name);
            }
            memcpy(b + k->offsets[i], params[i], k->sizes[i]);
        }
    *out = b;
    *outsz = k->total;
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- handles */

CUresult sim_launchable(const void *f, sim_ctx_t *ctx, sim_kdef_t **kdef, int *max_shmem)
{
    sim_obj_t *o = sim_obj_get(f);
    if (o && o->kind == SIM_K_FUNC) {
        sim_func_t *fn = (sim_func_t *)o;
        if (o->ctx != ctx)
            return sim_err(CUDA_ERROR_INVALID_CONTEXT, "function %p belongs to another context", f);
        *kdef = fn->kdef;
        *max_shmem = fn->max_dyn_shmem;
        return CUDA_SUCCESS;
    }
    if (o && o->kind == SIM_K_KERNEL) {
        *kdef = ((sim_kernel_t *)o)->kdef;
        *max_shmem = SIM_DEFAULT_DYN_SHMEM;
        return CUDA_SUCCESS;
    }
    return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is neither a live CUfunction nor a CUkernel", f);
}

CUresult sim_kernel_handle(const void *kern, sim_kdef_t **kdef)
{
    sim_kernel_t *k = sim_obj_find(kern, SIM_K_KERNEL);
    if (!k)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live CUkernel", kern);
    *kdef = k->kdef;
    return CUDA_SUCCESS;
}

CUresult sim_func_handle(const void *func, sim_kdef_t **kdef, sim_ctx_t **ctx)
{
    sim_func_t *f = sim_obj_find(func, SIM_K_FUNC);
    if (!f) {
        sim_obj_t *o = sim_obj_get(func);
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live CUfunction%s", func,
                       o && o->kind == SIM_K_KERNEL ? " (it is a CUkernel)" : "");
    }
    *kdef = f->kdef;
    if (ctx)
        *ctx = f->obj.ctx;
    return CUDA_SUCCESS;
}

static sim_func_t *func_new(sim_kdef_t *k, sim_ctx_t *ctx)
{
    sim_func_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    sim_obj_add(&f->obj, SIM_K_FUNC, ctx);
    f->kdef = k;
    f->max_dyn_shmem = SIM_DEFAULT_DYN_SHMEM;
    return f;
}

static void module_kill(sim_module_t *m)
{
    for (sim_func_t *f = m->funcs; f; f = f->next)
        sim_obj_kill(&f->obj);
    sim_obj_kill(&m->obj);
}

/* A context is going away: its modules take their functions with them. */
void sim_obj_released(sim_obj_t *o)
{
    if (o->kind == SIM_K_MODULE)
        module_kill((sim_module_t *)o);
}

/* ---------------------------------------------------------------- modules */

static CUresult module_load(CUmodule *module, const void *image)
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    if (!module || !image)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null module or image");
    sim_module_t *m = calloc(1, sizeof *m);
    if (!m)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sim_obj_add(&m->obj, SIM_K_MODULE, ctx);
    *module = (CUmodule)m;
    return CUDA_SUCCESS;
}

SIM_API(cuModuleLoadData, (CUmodule *module, const void *image), (module, image))
{
    return module_load(module, image);
}

SIM_API(cuModuleLoadDataEx, (CUmodule *module, const void *image, unsigned int numOptions,
                             CUjit_option *options, void **optionValues),
        (module, image, numOptions, options, optionValues))
{
    (void)numOptions;
    (void)options;
    (void)optionValues;
    return module_load(module, image);
}

SIM_API(cuModuleLoad, (CUmodule *module, const char *fname), (module, fname))
{
    FILE *f = fname ? fopen(fname, "rb") : NULL;
    if (!f)
        return sim_err(CUDA_ERROR_FILE_NOT_FOUND, "cannot open %s", fname ? fname : "(null)");
    fclose(f);
    return module_load(module, fname);
}

SIM_API(cuModuleGetFunction, (CUfunction *hfunc, CUmodule hmod, const char *name), (hfunc, hmod, name))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_module_t *m = sim_obj_find(hmod, SIM_K_MODULE);
    if (!m)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live module", (void *)hmod);
    if (!hfunc || !name)
        return CUDA_ERROR_INVALID_VALUE;
    sim_kdef_t *k = kdef_by_name(name);
    if (!k)
        return sim_err(CUDA_ERROR_NOT_FOUND, "no kernel named %s is registered", name);
    sim_func_t *f = m->funcs;
    while (f && f->kdef != k)
        f = f->next;
    if (!f) {
        if (!(f = func_new(k, m->obj.ctx)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        f->mod = m;
        f->next = m->funcs;
        m->funcs = f;
    }
    *hfunc = (CUfunction)f;
    return CUDA_SUCCESS;
}

SIM_API(cuModuleUnload, (CUmodule hmod), (hmod))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_module_t *m = sim_obj_find(hmod, SIM_K_MODULE);
    if (!m)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live module", (void *)hmod);
    if ((r = sim_sync_point(m->obj.ctx, NULL)) != CUDA_SUCCESS)
        return r;
    module_kill(m);
    return CUDA_SUCCESS;
}

/* -------------------------------------------------------------- libraries */

SIM_API(cuLibraryLoadData, (CUlibrary *library, const void *code, CUjit_option *jitOptions,
                            void **jitOptionsValues, unsigned int numJitOptions,
                            CUlibraryOption *libraryOptions, void **libraryOptionValues,
                            unsigned int numLibraryOptions),
        (library, code, jitOptions, jitOptionsValues, numJitOptions, libraryOptions,
         libraryOptionValues, numLibraryOptions))
{
    (void)jitOptions;
    (void)jitOptionsValues;
    (void)numJitOptions;
    (void)libraryOptions;
    (void)libraryOptionValues;
    (void)numLibraryOptions;
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    if (!library || !code)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null library or code");
    sim_library_t *l = calloc(1, sizeof *l);
    if (!l)
        return CUDA_ERROR_OUT_OF_MEMORY;
    sim_obj_add(&l->obj, SIM_K_LIBRARY, NULL);
    *library = (CUlibrary)l;
    return CUDA_SUCCESS;
}

SIM_API(cuLibraryGetKernel, (CUkernel *pKernel, CUlibrary library, const char *name), (pKernel, library, name))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_library_t *l = sim_obj_find(library, SIM_K_LIBRARY);
    if (!l)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live library", (void *)library);
    if (!pKernel || !name)
        return CUDA_ERROR_INVALID_VALUE;
    sim_kdef_t *k = kdef_by_name(name);
    if (!k)
        return sim_err(CUDA_ERROR_NOT_FOUND, "no kernel named %s is registered", name);
    sim_kernel_t *kn = l->kernels;
    while (kn && kn->kdef != k)
        kn = kn->next;
    if (!kn) {
        if (!(kn = calloc(1, sizeof *kn)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        sim_obj_add(&kn->obj, SIM_K_KERNEL, NULL);
        kn->kdef = k;
        kn->lib = l;
        kn->next = l->kernels;
        l->kernels = kn;
    }
    *pKernel = (CUkernel)kn;
    return CUDA_SUCCESS;
}

SIM_API(cuLibraryUnload, (CUlibrary library), (library))
{
    CUresult r = sim_need_init();
    if (r != CUDA_SUCCESS)
        return r;
    sim_library_t *l = sim_obj_find(library, SIM_K_LIBRARY);
    if (!l)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live library", (void *)library);
    sim_flush();
    for (sim_kernel_t *k = l->kernels; k; k = k->next) {
        for (sim_func_t *f = k->funcs; f; f = f->next)
            sim_obj_kill(&f->obj);
        sim_obj_kill(&k->obj);
    }
    sim_obj_kill(&l->obj);
    return CUDA_SUCCESS;
}

SIM_API(cuKernelGetFunction, (CUfunction *pFunc, CUkernel kernel), (pFunc, kernel))
{
    sim_ctx_t *ctx = NULL;
    CUresult r = sim_ctx_current(&ctx);
    if (r != CUDA_SUCCESS)
        return r;
    sim_kernel_t *k = sim_obj_find(kernel, SIM_K_KERNEL);
    if (!k)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "%p is not a live CUkernel", (void *)kernel);
    if (!pFunc)
        return CUDA_ERROR_INVALID_VALUE;
    sim_func_t *f = k->funcs;
    while (f && (f->obj.ctx != ctx || f->obj.magic != SIM_MAGIC))
        f = f->next;
    if (!f) {
        if (!(f = func_new(k->kdef, ctx)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        f->kern = k;
        f->next = k->funcs;
        k->funcs = f;
    }
    *pFunc = (CUfunction)f;
    return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------- queries */

static CUresult param_info(const sim_kdef_t *k, size_t i, size_t *off, size_t *size)
{
    if (i >= k->nparams)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%s has %u parameters, asked for #%zu", k->name, k->nparams, i);
    if (off)
        *off = k->offsets[i];
    if (size)
        *size = k->sizes[i];
    return CUDA_SUCCESS;
}

SIM_API(cuFuncGetParamInfo, (CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize),
        (func, paramIndex, paramOffset, paramSize))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_func_handle(func, &k, NULL);
    return r == CUDA_SUCCESS ? param_info(k, paramIndex, paramOffset, paramSize) : r;
}

SIM_API(cuKernelGetParamInfo, (CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize),
        (kernel, paramIndex, paramOffset, paramSize))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_kernel_handle(kernel, &k);
    return r == CUDA_SUCCESS ? param_info(k, paramIndex, paramOffset, paramSize) : r;
}

SIM_API(cuFuncGetName, (const char **name, CUfunction hfunc), (name, hfunc))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_func_handle(hfunc, &k, NULL);
    return SIM_OUT(r, name, k->name);
}

SIM_API(cuKernelGetName, (const char **name, CUkernel hfunc), (name, hfunc))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_kernel_handle(hfunc, &k);
    return SIM_OUT(r, name, k->name);
}

SIM_API(cuFuncGetAttribute, (int *pi, CUfunction_attribute attrib, CUfunction hfunc), (pi, attrib, hfunc))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_func_handle(hfunc, &k, NULL);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pi)
        return CUDA_ERROR_INVALID_VALUE;
    switch (attrib) {
    case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
    case CU_FUNC_ATTRIBUTE_NUM_REGS: *pi = 32; break;
    case CU_FUNC_ATTRIBUTE_PTX_VERSION:
    case CU_FUNC_ATTRIBUTE_BINARY_VERSION: *pi = 90; break;
    case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
        *pi = ((sim_func_t *)sim_obj_get(hfunc))->max_dyn_shmem;
        break;
    case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT: *pi = -1; break;
    default:
        if ((int)attrib < 0 || attrib >= CU_FUNC_ATTRIBUTE_MAX)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "attribute %d out of range", (int)attrib);
        *pi = 0;
    }
    return CUDA_SUCCESS;
}

SIM_API(cuFuncSetAttribute, (CUfunction hfunc, CUfunction_attribute attrib, int value), (hfunc, attrib, value))
{
    sim_kdef_t *k = NULL;
    CUresult r = sim_need_init();
    if (r == CUDA_SUCCESS)
        r = sim_func_handle(hfunc, &k, NULL);
    if (r != CUDA_SUCCESS)
        return r;
    if (attrib == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        if (value < 0 || value > SIM_MAX_DYN_SHMEM)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "%d bytes of dynamic shared memory", value);
        ((sim_func_t *)sim_obj_get(hfunc))->max_dyn_shmem = value;
    }
    return CUDA_SUCCESS;
}

const sim_proc_t sim_kernels_procs[] = {
    SIM_PROC(cuModuleLoadData, 2000),
    SIM_PROC(cuModuleLoadDataEx, 2010),
    SIM_PROC(cuModuleLoad, 2000),
    SIM_PROC(cuModuleGetFunction, 2000),
    SIM_PROC(cuModuleUnload, 2000),
    SIM_PROC(cuLibraryLoadData, 12000),
    SIM_PROC(cuLibraryGetKernel, 12000),
    SIM_PROC(cuLibraryUnload, 12000),
    SIM_PROC(cuKernelGetFunction, 12000),
    SIM_PROC(cuFuncGetParamInfo, 12040),
    SIM_PROC(cuKernelGetParamInfo, 12040),
    SIM_PROC(cuFuncGetName, 12030),
    SIM_PROC(cuKernelGetName, 12030),
    SIM_PROC(cuFuncGetAttribute, 2020),
    SIM_PROC(cuFuncSetAttribute, 9000),
};
const size_t sim_kernels_nprocs = sizeof sim_kernels_procs / sizeof sim_kernels_procs[0];
