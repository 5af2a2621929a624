/* sim_launch.c: kernel launches in simcuda: cuLaunchKernel,
 * cuLaunchCooperativeKernel and cuLaunchKernelEx with their per-thread
 * twins, the grid and block limits, and launch attributes, which kernel
 * nodes share (cuGraphKernelNodeSetAttribute and GetAttribute in
 * sim_graph.c use the same validation).
 *
 * Every attribute cuda.h defines is known here and validated as the
 * driver documents it. Attributes valid on kernel nodes are kept with the
 * kernel (sim_kattr_t, and clusterDim, priority, cooperative in the
 * simcuda_launch_t a kernel sees) and appear in the trace when they differ
 * from the default, so a shim that drops one when it turns launches into
 * graph nodes is caught. Launch-only attributes act when the launch is
 * queued: programmatic stream serialisation lets the kernel start before
 * the previous kernel of its stream completes (sim_sched.c), the
 * programmatic and launch completion events are recorded by the kernel
 * itself, when it completes. */
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define MAX_WINDOW 134213632u /* CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE */
#define DOMAINS 4             /* CU_DEVICE_ATTRIBUTE_MEM_SYNC_DOMAIN_COUNT */

CUresult sim_check_dims(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz)
{
    if (!gx || !gy || !gz || !bx || !by || !bz)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "zero grid or block dimension");
    if (bx > 1024 || by > 1024 || bz > 64 || (unsigned long long)bx * by * bz > 1024)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "block %ux%ux%u exceeds the device limits", bx, by, bz);
    if (gx > 2147483647u || gy > 65535 || gz > 65535)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "grid %ux%ux%u exceeds the device limits", gx, gy, gz);
    return CUDA_SUCCESS;
}

/* The events of PROGRAMMATIC_EVENT and LAUNCH_COMPLETION_EVENT: live,
 * without timing, not interprocess, recorded without the external flag. */
static CUresult completion_event(CUevent h, int flags, sim_ctx_t *ctx, sim_event_t **out)
{
    sim_event_t *e = NULL;
    CUresult r = sim_event_arg(h, &e);
    if (r != CUDA_SUCCESS)
        return r;
    if (!(e->flags & CU_EVENT_DISABLE_TIMING) || (e->flags & CU_EVENT_INTERPROCESS))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "a launch's event must disable timing and not be interprocess");
    if (flags != 0)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "event record flags 0x%x on a launch event", (unsigned)flags);
    if (ctx && e->obj.ctx != ctx)
        return sim_err(CUDA_ERROR_INVALID_HANDLE, "event of another context");
    *out = e;
    return CUDA_SUCCESS;
}

/* Whether attribute `id` may be set on a kernel node (the
 * CU_KERNEL_NODE_ATTRIBUTE_* of cuda.h, and NVLINK_UTIL_CENTRIC_SCHEDULING,
 * which cuda.h documents as valid for graph nodes). */
static int node_attr(CUlaunchAttributeID id)
{
    switch (id) {
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
        return 1;
    default:
        return 0;
    }
}

static CUresult check_cluster(const simcuda_launch_t *L, unsigned x, unsigned y, unsigned z)
{
    if (!x || !y || !z || (unsigned long long)x * y * z > 8 || L->gridDim.x % x || L->gridDim.y % y ||
        L->gridDim.z % z)
        return sim_err(CUDA_ERROR_INVALID_CLUSTER_SIZE, "cluster %ux%ux%u for grid %ux%ux%u", x, y, z,
                       L->gridDim.x, L->gridDim.y, L->gridDim.z);
    return CUDA_SUCCESS;
}

/* One attribute; the caller checks whether it is allowed where it is used. */
static CUresult apply1(sim_op_t *op, const CUlaunchAttribute *a, int node, int capturing)
{
    simcuda_launch_t *L = &op->u.k.launch;
    sim_kattr_t *K = &op->u.k.attr;
    const CUlaunchAttributeValue *v = &a->value;
    CUresult r = CUDA_SUCCESS;
    switch (a->id) {
    case CU_LAUNCH_ATTRIBUTE_IGNORE:
        return CUDA_SUCCESS;
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW: {
        const CUaccessPolicyWindow *w = &v->accessPolicyWindow;
        if (!(w->hitRatio >= 0.0f && w->hitRatio <= 1.0f) || (unsigned)w->hitProp > CU_ACCESS_PROPERTY_PERSISTING ||
            (unsigned)w->missProp > CU_ACCESS_PROPERTY_STREAMING || w->num_bytes > MAX_WINDOW)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "access policy window %zu bytes, hit ratio %g, props %d/%d",
                           w->num_bytes, (double)w->hitRatio, (int)w->hitProp, (int)w->missProp);
        K->apw = *w;
        break;
    }
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
        L->cooperative = v->cooperative != 0;
        break;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        if ((r = check_cluster(L, v->clusterDim.x, v->clusterDim.y, v->clusterDim.z)) != CUDA_SUCCESS)
            return r;
        L->clusterDim = (simcuda_dim3){ v->clusterDim.x, v->clusterDim.y, v->clusterDim.z };
        break;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        if ((unsigned)v->clusterSchedulingPolicyPreference > CU_CLUSTER_SCHEDULING_POLICY_LOAD_BALANCING)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "cluster scheduling policy %d",
                           (int)v->clusterSchedulingPolicyPreference);
        K->policy = (int)v->clusterSchedulingPolicyPreference;
        break;
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
        op->u.k.pdl = v->programmaticStreamSerializationAllowed != 0;
        break;
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT:
    case CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT: {
        int pe = a->id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT;
        sim_event_t *e = NULL;
        r = completion_event(pe ? v->programmaticEvent.event : v->launchCompletionEvent.event,
                             pe ? v->programmaticEvent.flags : v->launchCompletionEvent.flags, NULL, &e);
        if (r != CUDA_SUCCESS)
            return r;
        op->u.k.ev[pe ? 0 : 1] = e;
        break;
    }
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
        L->priority = v->priority;
        break;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        if (v->memSyncDomainMap.default_ >= DOMAINS || v->memSyncDomainMap.remote >= DOMAINS)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "memory sync domain map %u,%u (the device has %d domains)",
                           v->memSyncDomainMap.default_, v->memSyncDomainMap.remote, DOMAINS);
        K->dmap = v->memSyncDomainMap;
        break;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
        if ((unsigned)v->memSyncDomain > CU_LAUNCH_MEM_SYNC_DOMAIN_REMOTE)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "memory sync domain %d", (int)v->memSyncDomain);
        K->domain = (int)v->memSyncDomain;
        break;
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
        if (!v->preferredClusterDim.x || !v->preferredClusterDim.y || !v->preferredClusterDim.z)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "preferred cluster dimension with a zero");
        K->pcluster = (simcuda_dim3){ v->preferredClusterDim.x, v->preferredClusterDim.y, v->preferredClusterDim.z };
        break;
    case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
        if ((unsigned)v->deviceUpdatableKernelNode.deviceUpdatable > 1)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "deviceUpdatable %d", v->deviceUpdatableKernelNode.deviceUpdatable);
        if (!node && !capturing)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "DEVICE_UPDATABLE_KERNEL_NODE on a stream that is not capturing");
        if (!node && v->deviceUpdatableKernelNode.deviceUpdatable)
            return sim_err(CUDA_ERROR_NOT_SUPPORTED, "device-updatable nodes through capture are not simulated");
        if (K->updatable && !v->deviceUpdatableKernelNode.deviceUpdatable)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "a device-updatable node cannot opt out");
        K->updatable = v->deviceUpdatableKernelNode.deviceUpdatable;
        break;
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        if (v->sharedMemCarveout > 100 && (int)v->sharedMemCarveout != CU_SHAREDMEM_CARVEOUT_DEFAULT)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "shared memory carveout %u%%", v->sharedMemCarveout);
        K->carveout = v->sharedMemCarveout;
        break;
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
        if (v->nvlinkUtilCentricScheduling > 1)
            return sim_err(CUDA_ERROR_INVALID_VALUE, "nvlinkUtilCentricScheduling %u", v->nvlinkUtilCentricScheduling);
        K->nvlink = v->nvlinkUtilCentricScheduling;
        break;
    default:
        return sim_err(CUDA_ERROR_INVALID_VALUE, "launch attribute %d", (int)a->id);
    }
    K->set |= 1u << a->id;
    return CUDA_SUCCESS;
}

/* Applies attributes to a kernel op: those of a launch (node 0), which
 * may be any that cuda.h documents as valid for launches, or one set on a
 * kernel node (node 1). On failure the op may be partly changed; callers
 * apply to a copy. */
CUresult sim_apply_attrs(sim_op_t *op, const CUlaunchAttribute *attrs, unsigned n, int node, int capturing)
{
    CUresult r = CUDA_SUCCESS;
    if (n && !attrs)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%u attributes, null array", n);
    for (unsigned i = 0; i < n && r == CUDA_SUCCESS; i++) {
        CUlaunchAttributeID id = attrs[i].id;
        if (node && !node_attr(id))
            r = sim_err(CUDA_ERROR_INVALID_VALUE, "attribute %d is not valid on a kernel node", (int)id);
        else if (!node && id == CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY)
            r = sim_err(CUDA_ERROR_INVALID_VALUE, "SYNCHRONIZATION_POLICY is a stream attribute");
        else
            r = apply1(op, &attrs[i], node, capturing);
    }
    /* A preferred cluster is a multiple of the cluster, and divides the grid. */
    const simcuda_launch_t *L = &op->u.k.launch;
    const simcuda_dim3 p = op->u.k.attr.pcluster;
    if (r == CUDA_SUCCESS && L->clusterDim.x && (op->u.k.attr.set & (1u << CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION)) &&
        (p.x % L->clusterDim.x || p.y % L->clusterDim.y || p.z != L->clusterDim.z || L->gridDim.x % p.x ||
         L->gridDim.y % p.y || L->gridDim.z % p.z))
        r = sim_err(CUDA_ERROR_INVALID_CLUSTER_SIZE, "preferred cluster %ux%ux%u for cluster %ux%ux%u, grid %ux%ux%u",
                    p.x, p.y, p.z, L->clusterDim.x, L->clusterDim.y, L->clusterDim.z, L->gridDim.x, L->gridDim.y,
                    L->gridDim.z);
    return r;
}

/* The value a kernel node holds for a node attribute. */
CUresult sim_get_attr(const sim_op_t *op, CUlaunchAttributeID id, CUlaunchAttributeValue *v)
{
    const simcuda_launch_t *L = &op->u.k.launch;
    const sim_kattr_t *K = &op->u.k.attr;
    if (!node_attr(id))
        return sim_err(CUDA_ERROR_INVALID_VALUE, "attribute %d is not valid on a kernel node", (int)id);
    memset(v, 0, sizeof *v);
    switch (id) {
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW: v->accessPolicyWindow = K->apw; break;
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE: v->cooperative = L->cooperative; break;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
        v->clusterDim.x = L->clusterDim.x ? L->clusterDim.x : 1;
        v->clusterDim.y = L->clusterDim.y ? L->clusterDim.y : 1;
        v->clusterDim.z = L->clusterDim.z ? L->clusterDim.z : 1;
        break;
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
        v->clusterSchedulingPolicyPreference = (CUclusterSchedulingPolicy)K->policy;
        break;
    case CU_LAUNCH_ATTRIBUTE_PRIORITY: v->priority = L->priority; break;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
        v->memSyncDomainMap = K->set & (1u << id) ? K->dmap : (CUlaunchMemSyncDomainMap){ 0, 1 };
        break;
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN: v->memSyncDomain = (CUlaunchMemSyncDomain)K->domain; break;
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
        v->preferredClusterDim.x = K->pcluster.x, v->preferredClusterDim.y = K->pcluster.y;
        v->preferredClusterDim.z = K->pcluster.z;
        break;
    case CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE:
        v->deviceUpdatableKernelNode.deviceUpdatable = K->updatable;
        break;
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
        v->sharedMemCarveout = K->set & (1u << id) ? K->carveout : (unsigned)CU_SHAREDMEM_CARVEOUT_DEFAULT;
        break;
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING: v->nvlinkUtilCentricScheduling = K->nvlink; break;
    default: break;
    }
    return CUDA_SUCCESS;
}

static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shmem, CUstream hs, int ptsz, void **params, void **extra,
                       const CUlaunchAttribute *attrs, unsigned nattrs, int cooperative)
{
    sim_spend(sim_launch_ns);
    sim_stream_t *s = NULL;
    sim_kdef_t *k = NULL;
    int max_shmem;
    CUresult r = sim_stream_get(hs, ptsz, &s);
    if (r == CUDA_SUCCESS)
        r = sim_launchable(f, s->obj.ctx, &k, &max_shmem);
    if (r == CUDA_SUCCESS)
        r = sim_check_dims(gx, gy, gz, bx, by, bz);
    if (r != CUDA_SUCCESS)
        return r;
    if (shmem > (unsigned)max_shmem)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "%u bytes of dynamic shared memory, %s allows %d", shmem,
                       k->name, max_shmem);
    sim_op_t op;
    memset(&op, 0, sizeof op);
    op.kind = SIM_OP_KERNEL;
    simcuda_launch_t *L = &op.u.k.launch;
    L->name = k->name;
    L->gridDim = (simcuda_dim3){ gx, gy, gz };
    L->blockDim = (simcuda_dim3){ bx, by, bz };
    L->sharedMemBytes = shmem;
    L->cooperative = cooperative;
    if ((r = sim_apply_attrs(&op, attrs, nattrs, 0, s->cap != NULL)) != CUDA_SUCCESS)
        return r;
    for (int i = 0; i < 2; i++)
        if (op.u.k.ev[i] && op.u.k.ev[i]->obj.ctx != s->obj.ctx)
            return sim_err(CUDA_ERROR_INVALID_HANDLE, "launch event of another context");
    if (L->cooperative &&
        (unsigned long long)gx * gy * gz > 132ull * (2048u / (bx * by * bz) ? 2048u / (bx * by * bz) : 1))
        return sim_err(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, "%ux%ux%u blocks cannot be co-resident", gx, gy, gz);
    op.u.k.kdef = k;
    if ((r = sim_pack_args(k, params, extra, &op.u.k.args, &op.u.k.argsz)) != CUDA_SUCCESS)
        return r;
    return sim_submit(s, &op);
}

/* The parameters of cuLaunchKernel, then `more`. */
#define LAUNCH_PARAMS(...)                                                                            \
    (CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, \
     unsigned int bz, unsigned int shmem, CUstream hStream, void **kernelParams __VA_ARGS__)
SIM_TWINS(cuLaunchKernel, _ptsz, LAUNCH_PARAMS(, void **extra),
          (f, gx, gy, gz, bx, by, bz, shmem, hStream, kernelParams, extra),
          launch(f, gx, gy, gz, bx, by, bz, shmem, hStream, pt_, kernelParams, extra, NULL, 0, 0))
SIM_TWINS(cuLaunchCooperativeKernel, _ptsz, LAUNCH_PARAMS(), (f, gx, gy, gz, bx, by, bz, shmem, hStream, kernelParams),
          launch(f, gx, gy, gz, bx, by, bz, shmem, hStream, pt_, kernelParams, NULL, NULL, 0, 1))

static CUresult launch_ex(const CUlaunchConfig *c, CUfunction f, void **params, void **extra, int ptsz)
{
    if (!c)
        return sim_err(CUDA_ERROR_INVALID_VALUE, "null launch config");
    return launch(f, c->gridDimX, c->gridDimY, c->gridDimZ, c->blockDimX, c->blockDimY, c->blockDimZ,
                  c->sharedMemBytes, c->hStream, ptsz, params, extra, c->attrs, c->numAttrs, 0);
}
SIM_TWINS(cuLaunchKernelEx, _ptsz, (const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra),
          (config, f, kernelParams, extra), launch_ex(config, f, kernelParams, extra, pt_))

const sim_proc_t sim_launch_procs[] = {
    SIM_PROC(cuLaunchKernel, 4000),                  SIM_PROC(cuLaunchKernel_ptsz, 7000),
    SIM_PROC(cuLaunchKernelEx, 11060),               SIM_PROC(cuLaunchKernelEx_ptsz, 11060),
    SIM_PROC(cuLaunchCooperativeKernel, 9000),       SIM_PROC(cuLaunchCooperativeKernel_ptsz, 9000),
};
const size_t sim_launch_nprocs = sizeof sim_launch_procs / sizeof sim_launch_procs[0];
