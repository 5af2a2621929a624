/* test_hooks.c: the hook table (src/wrappers.c) and the lookups of the
 * interposition layer (src/interpose.c): exact names, classes, per-thread
 * variants, and the (symbol, cudaVersion, flags) decision for pointers the
 * driver hands out without an exported name. */
#include "cm.h"
#include "gs.h"

static const char *name_of(int id) { return id >= 0 ? gs_hooks[id].name : "(none)"; }

static void test_by_name(void **state)
{
    (void)state;
    assert_int_equal(gs_hook_by_name("cuLaunchKernel"), GS_ID_cuLaunchKernel);
    assert_int_equal(gs_hook_by_name("cuMemcpyHtoDAsync_v2_ptsz"),
                     GS_ID_cuMemcpyHtoDAsync_v2_ptsz);
    assert_int_equal(gs_hook_by_name("cuInit"), -1);
    assert_int_equal(gs_hook_by_name("cuLaunchKernelX"), -1);
}

static void test_classes(void **state)
{
    (void)state;
    assert_int_equal(gs_hooks[GS_ID_cuLaunchKernel].cls, GS_CLASS_LAUNCH);
    assert_int_equal(gs_hooks[GS_ID_cuLaunchKernelEx_ptsz].cls, GS_CLASS_LAUNCH_EX);
    assert_int_equal(gs_hooks[GS_ID_cuMemcpyDtoHAsync_v2].cls, GS_CLASS_DTOH);
    assert_int_equal(gs_hooks[GS_ID_cuStreamSynchronize].cls, GS_CLASS_SBAR);
    assert_int_equal(gs_hooks[GS_ID_cuEventRecord].cls, GS_CLASS_EVREC);
    assert_int_equal(gs_hooks[GS_ID_cuStreamWaitEvent_ptsz].cls, GS_CLASS_EVWAIT);
    assert_int_equal(gs_hooks[GS_ID_cuLaunchHostFunc].cls, GS_CLASS_HOSTFN);
    assert_int_equal(gs_hooks[GS_ID_cuEventQuery].cls, GS_CLASS_EVHOST);
    /* Its flags say whether a record may hang off its stream's chain. */
    assert_int_equal(gs_hooks[GS_ID_cuEventCreate].cls, GS_CLASS_EVCREATE);
    assert_false(gs_class_is_op(GS_CLASS_EVCREATE));
    assert_false(gs_class_is_barrier(GS_CLASS_EVCREATE));
    assert_int_equal(gs_hooks[GS_ID_cuCtxSynchronize].cls, GS_CLASS_BAR);
    assert_int_equal(gs_hooks[GS_ID_cuMemFree_v2].cls, GS_CLASS_BAR);
    assert_int_equal(gs_hooks[GS_ID_cuModuleUnload].cls, GS_CLASS_BAR);
    assert_int_equal(gs_hooks[GS_ID_cuMemcpyHtoD_v2].cls, GS_CLASS_BAR);
    assert_int_equal(gs_hooks[GS_ID_cuStreamGetFlags].cls, GS_CLASS_QUERY);
    assert_int_equal(gs_hooks[GS_ID_cuGetProcAddress_v2].cls, GS_CLASS_GETPROC);
    /* Copies the engine cannot snapshot are barriers on their stream. */
    assert_int_equal(gs_hooks[GS_ID_cuMemcpy2DAsync_v2].cls, GS_CLASS_SBAR);
    assert_true(gs_class_is_op(GS_CLASS_MEMSET32));
    assert_false(gs_class_is_op(GS_CLASS_SBAR));
    assert_true(gs_class_is_barrier(GS_CLASS_BAR));
    assert_string_equal(gs_class_name(GS_CLASS_LAUNCH_EX), "launch-ex");
}

static void test_table_well_formed(void **state)
{
    (void)state;
    for (int id = 0; id < GS_HOOK_COUNT; id++) {
        const gs_hook_t *h = &gs_hooks[id];
        assert_non_null(h->name);
        assert_int_equal(gs_hook_by_name(h->name), id); /* names unique */
        for (int p = 0; p < GS_PATH_COUNT; p++) {
            assert_non_null(h->fn[p]);
            for (int q = 0; q < p; q++)
                assert_ptr_not_equal(h->fn[p], h->fn[q]);
        }
        assert_string_equal(gs_fn_names[id], h->name);
        /* Every op has a per-thread twin, so _ptsz requests never fall back
         * to legacy-stream semantics. */
        if (gs_class_is_op(h->cls) && strstr(h->name, "_ptsz") == NULL) {
            char twin[96];
            snprintf(twin, sizeof twin, "%s_ptsz", h->name);
            assert_true(gs_hook_by_name(twin) >= 0);
        }
    }
    assert_string_equal(gs_fn_names[GS_ID_cuGraphAddKernelNode_v2],
                        "cuGraphAddKernelNode_v2");
}

static void test_driver_names(void **state)
{
    (void)state;
    assert_true(gs_is_driver_name("cuInit"));
    assert_true(gs_is_driver_name("cuLaunchKernel"));
    assert_false(gs_is_driver_name("cudnnCreate"));
    assert_false(gs_is_driver_name("cudaMalloc"));
    assert_false(gs_is_driver_name("cu"));
    assert_false(gs_is_driver_name(""));
    assert_false(gs_is_driver_name(NULL));
}

static void test_by_request(void **state)
{
    (void)state;
    const cuuint64_t PT = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    struct { const char *sym; int ver; cuuint64_t flags; const char *want; } cases[] = {
        {"cuMemcpyHtoDAsync", 12000, 0, "cuMemcpyHtoDAsync_v2"},
        {"cuMemcpyHtoDAsync", 2000, 0, "cuMemcpyHtoDAsync"},
        {"cuMemcpyHtoDAsync", 12000, PT, "cuMemcpyHtoDAsync_v2_ptsz"},
        {"cuMemcpyHtoD", 12000, PT, "cuMemcpyHtoD_v2_ptds"},
        {"cuLaunchKernel", 12000, 0, "cuLaunchKernel"},
        {"cuLaunchKernel", 12000, PT, "cuLaunchKernel_ptsz"},
        {"cuLaunchKernel", 12000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, "cuLaunchKernel"},
        {"cuStreamGetCaptureInfo", 11030, 0, "cuStreamGetCaptureInfo_v2"},
        {"cuStreamGetCaptureInfo", 12030, PT, "cuStreamGetCaptureInfo_v3_ptsz"},
        {"cuGetProcAddress", 11030, 0, "cuGetProcAddress"},
        {"cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2"},
        /* No per-thread variant: the only form, whatever the flag. */
        {"cuCtxSynchronize", 12000, PT, "cuCtxSynchronize"},
        {"cuCtxSynchronize", 13000, 0, "cuCtxSynchronize_v2"},
        {"cuInit", 12000, 0, "(none)"},
        {"cuLaunchKernel", 1000, 0, "(none)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = name_of(gs_hook_for_request(cases[i].sym, cases[i].ver, cases[i].flags));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("(%s, %d, %llu): got %s, want %s", cases[i].sym, cases[i].ver,
                     (unsigned long long)cases[i].flags, got, cases[i].want);
    }
    assert_int_equal(gs_hook_for_request(NULL, 12000, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_name),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_table_well_formed),
        cmocka_unit_test(test_driver_names),
        cmocka_unit_test(test_by_request),
    };
    return cmocka_run_group_tests_name("hooks", tests, NULL, NULL);
}
