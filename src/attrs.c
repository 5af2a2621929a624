/* attrs.c: what the engine does with each launch attribute of
 * cuLaunchKernelEx, decided once per attribute with its reason.
 *
 * Every id that cuda.h defines has a row: set on the kernel node, expressed
 * by the edge into the node, dropped, or kept eager (a barrier). An id this
 * build does not know (a newer toolkit's) is a barrier until someone decides
 * it: nothing is dropped silently. Which attributes kernel nodes accept was
 * measured on an H200 with driver 580 (tests/gpu/graph_probe.cu, "attrs"):
 * 1, 2, 4, 5, 8, 9, 10, 13, 14 and 16 are accepted; 0, 3, 6, 7, 11 and 12
 * are refused with CUDA_ERROR_INVALID_VALUE.
 */
#include "config.h"
#include "eng.h"

typedef struct {
    const char *name;
    gs_attr_policy_t policy;
    unsigned char bytes;
    const char *reason;
} attr_row_t;

#define V(field) sizeof(((CUlaunchAttributeValue *)0)->field)

static const attr_row_t rows[] = {
    [CU_LAUNCH_ATTRIBUTE_IGNORE] = {
        "IGNORE", GS_ATTR_DROP, 0,
        "an entry the driver ignores; kernel nodes refuse the id, so it is left out"},
    [CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW] = {
        "ACCESS_POLICY_WINDOW", GS_ATTR_NODE, V(accessPolicyWindow),
        "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_COOPERATIVE] = {
        "COOPERATIVE", GS_ATTR_NODE, V(cooperative), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY] = {
        "SYNCHRONIZATION_POLICY", GS_ATTR_BARRIER, V(syncPolicy),
        "valid on streams only: kernel nodes refuse it"},
    [CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION] = {
        "CLUSTER_DIMENSION", GS_ATTR_NODE, V(clusterDim), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE] = {
        "CLUSTER_SCHEDULING_POLICY_PREFERENCE", GS_ATTR_NODE,
        V(clusterSchedulingPolicyPreference), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION] = {
        "PROGRAMMATIC_STREAM_SERIALIZATION", GS_ATTR_EDGE,
        V(programmaticStreamSerializationAllowed),
        "programmatic dependent launch: a programmatic edge from the kernel before it on "
        "its stream, as stream capture makes (measured: type PROGRAMMATIC, from port "
        "PROGRAMMATIC; after a copy or memset, a full edge)"},
    [CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT] = {
        "PROGRAMMATIC_EVENT", GS_ATTR_BARRIER, V(programmaticEvent),
        "records an event when the kernel's blocks trigger; in a graph that is a "
        "programmatic edge to the event's waiters, which the shim does not build: the "
        "launch stays eager"},
    [CU_LAUNCH_ATTRIBUTE_PRIORITY] = {
        "PRIORITY", GS_ATTR_NODE, V(priority), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP] = {
        "MEM_SYNC_DOMAIN_MAP", GS_ATTR_NODE, V(memSyncDomainMap), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN] = {
        "MEM_SYNC_DOMAIN", GS_ATTR_NODE, V(memSyncDomain), "valid on kernel nodes"},
    [CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION] = {
        "PREFERRED_CLUSTER_DIMENSION", GS_ATTR_BARRIER, V(preferredClusterDim),
        "kernel nodes refused it on the H200 (driver 580), so the launch stays eager"},
    [CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT] = {
        "LAUNCH_COMPLETION_EVENT", GS_ATTR_BARRIER, V(launchCompletionEvent),
        "records an event when all blocks have begun; a graph has no node for that: the "
        "launch stays eager"},
    [CU_LAUNCH_ATTRIBUTE_DEVICE_UPDATABLE_KERNEL_NODE] = {
        "DEVICE_UPDATABLE_KERNEL_NODE", GS_ATTR_BARRIER, V(deviceUpdatableKernelNode),
        "for graphs only: a launch outside capture fails, and the program must see the "
        "driver's answer"},
    [CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT] = {
        "PREFERRED_SHARED_MEMORY_CARVEOUT", GS_ATTR_NODE, V(sharedMemCarveout),
        "accepted by kernel nodes (measured)"},
    [CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING] = {
        "NVLINK_UTIL_CENTRIC_SCHEDULING", GS_ATTR_NODE, V(nvlinkUtilCentricScheduling),
        "valid on kernel nodes"},
};

static const attr_row_t unknown = {
    "?", GS_ATTR_BARRIER, 0,
    "an attribute this build of graphshim does not know: the launch stays eager until "
    "someone decides how to graph it"};

static const attr_row_t *row(CUlaunchAttributeID id)
{
    unsigned i = (unsigned)id;
    return i < sizeof rows / sizeof rows[0] && rows[i].name != NULL ? &rows[i] : &unknown;
}

gs_attr_policy_t gs_attr_policy(CUlaunchAttributeID id) { return row(id)->policy; }
size_t gs_attr_bytes(CUlaunchAttributeID id) { return row(id)->bytes; }
const char *gs_attr_name(CUlaunchAttributeID id) { return row(id)->name; }
const char *gs_attr_reason(CUlaunchAttributeID id) { return row(id)->reason; }
