/* test_submit.c: graph launches made after the engine lock (src/submit.c)
 * against fake driver functions.
 *
 * A queued launch goes to the driver when its thread leaves the engine,
 * with the lock released and a submission marked in flight; a driver call
 * the same thread makes before it leaves sends the queue first; another
 * thread's call waits for a launch in flight (and does not with
 * GRAPHSHIM_TEST_UNORDERED); a launch the driver refuses has its ops issued
 * from copies of their records, on the streams they would have gone to,
 * and the template retires under the lock later (gs_sub_reap). */
#include "cm.h"
#include "eng.h"

#include <pthread.h>
#include <time.h>

#define EXEC ((CUgraphExec)0x10)
#define S_A ((CUstream)0x20)
#define S_B ((CUstream)0x21)
#define DONE ((CUevent)0x30)
#define EV ((CUevent)0x31)

static struct {
    char what[16][8]; /* the calls, in order */
    unsigned n;
    bool lock_free_at_launch, inflight_at_launch;
    CUresult launch_answer;
    long launch_sleep_us;
    uint64_t launch_end_ns, sync_ns;
    CUstream rec_stream, host_stream;
    CUevent rec_event;
    float htod_seen;
    CUstream htod_stream;
} f;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The fakes' own record is guarded: with GRAPHSHIM_TEST_UNORDERED two
 * threads are in them at once (on purpose), and ThreadSanitizer must judge
 * the shim, not the fakes. */
static pthread_mutex_t f_mu = PTHREAD_MUTEX_INITIALIZER;

static void called(const char *what)
{
    pthread_mutex_lock(&f_mu);
    if (f.n < 16)
        snprintf(f.what[f.n++], sizeof f.what[0], "%s", what);
    pthread_mutex_unlock(&f_mu);
}

static CUresult fake_graph_launch(CUgraphExec e, CUstream s)
{
    (void)e, (void)s;
    called("launch");
    f.lock_free_at_launch = pthread_mutex_trylock(&gs_eng_lock) == 0;
    if (f.lock_free_at_launch)
        pthread_mutex_unlock(&gs_eng_lock);
    f.inflight_at_launch = atomic_load(&gs_sub_inflight);
    if (f.launch_sleep_us > 0) {
        struct timespec d = {0, f.launch_sleep_us * 1000l};
        nanosleep(&d, NULL);
    }
    pthread_mutex_lock(&f_mu);
    f.launch_end_ns = now_ns();
    pthread_mutex_unlock(&f_mu);
    return f.launch_answer;
}

static CUresult fake_record(CUevent e, CUstream s)
{
    called(e == DONE ? "done" : "record");
    if (e != DONE)
        f.rec_stream = s, f.rec_event = e;
    return CUDA_SUCCESS;
}

static CUresult fake_sync(CUstream s)
{
    (void)s;
    uint64_t t = now_ns();
    called("sync");
    pthread_mutex_lock(&f_mu);
    f.sync_ns = t;
    pthread_mutex_unlock(&f_mu);
    return CUDA_SUCCESS;
}

static CUresult fake_hostfn(CUstream s, CUhostFn fn, void *data)
{
    (void)fn, (void)data;
    called("hostfn");
    f.host_stream = s;
    return CUDA_SUCCESS;
}

static CUresult fake_htod(CUdeviceptr d, const void *src, size_t n, CUstream s)
{
    (void)d, (void)n;
    called("htod");
    memcpy(&f.htod_seen, src, sizeof f.htod_seen);
    f.htod_stream = s;
    return CUDA_SUCCESS;
}

static gs_template_t tpl;

static int setup(void **state)
{
    (void)state;
    memset(&f, 0, sizeof f);
    memset(&tpl, 0, sizeof tpl);
    memset(gs_real_fn, 0, sizeof gs_real_fn);
    gs_real_fn[GS_ID_cuGraphLaunch] = (void *)fake_graph_launch;
    gs_real_fn[GS_ID_cuEventRecord] = (void *)fake_record;
    gs_real_fn[GS_ID_cuStreamSynchronize] = (void *)fake_sync;
    gs_real_fn[GS_ID_cuLaunchHostFunc] = (void *)fake_hostfn;
    gs_real_fn[GS_ID_cuMemcpyHtoDAsync_v2] = (void *)fake_htod;
    gs_opt.unlocked_launch = GS_UNLOCKED_ON;
    gs_opt.test_unordered = 0;
    return 0;
}

static gs_sub_chunk_t chunk(void)
{
    return (gs_sub_chunk_t){.t = &tpl, .exec = EXEC, .s = S_A, .done = DONE};
}

static void test_launch_after_the_lock(void **state)
{
    (void)state;
    gs_sub_chunk_t c = chunk();
    gs_eng_enter();
    assert_true(gs_sub_deferring());
    assert_true(gs_sub_push_chunk(&c, NULL, 0, NULL, false));
    assert_int_equal(f.n, 0); /* nothing reaches the driver under the lock */
    gs_eng_leave();
    assert_int_equal(f.n, 2);
    assert_string_equal(f.what[0], "launch");
    assert_string_equal(f.what[1], "done");
    assert_true(f.lock_free_at_launch);
    assert_true(f.inflight_at_launch);
    assert_false(atomic_load(&gs_sub_inflight));
    assert_int_equal(atomic_load(&tpl.sub_fail), 0);
}

static void test_own_call_sends_the_queue(void **state)
{
    (void)state;
    gs_sub_chunk_t c = chunk();
    gs_eng_enter();
    assert_true(gs_sub_push_chunk(&c, NULL, 0, NULL, false));
    assert_true(gs_sub_push_record(EV, S_B));
    (void)GS_REAL(cuStreamSynchronize)(S_A);
    assert_int_equal(f.n, 4);
    assert_string_equal(f.what[0], "launch");
    assert_string_equal(f.what[2], "record"); /* the queued record, before the call */
    assert_string_equal(f.what[3], "sync");
    assert_false(f.lock_free_at_launch); /* sent under the lock, in order */
    gs_eng_leave();
    assert_int_equal(f.n, 4);
    assert_ptr_equal(f.rec_stream, S_B);
}

static void test_refused_launch_issues_copies(void **state)
{
    (void)state;
    f.launch_answer = CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
    uint8_t arena[64] = {0};
    float v = 2.5f;
    memcpy(arena + 16, &v, sizeof v);
    gs_rec_t recs[3] = {0};
    recs[0].kind = GS_OP_HTOD, recs[0].id = GS_ID_cuMemcpyHtoDAsync_v2;
    recs[0].data = 16, recs[0].len = sizeof v, recs[0].stream = S_A;
    recs[0].u.c.dst = 0x1000, recs[0].u.c.n = sizeof v;
    recs[1].kind = GS_OP_EVREC, recs[1].id = GS_ID_cuEventRecord, recs[1].stream = S_A;
    recs[1].u.e.ev = EV;
    recs[2].kind = GS_OP_HOST, recs[2].id = GS_ID_cuLaunchHostFunc, recs[2].stream = S_B;
    recs[2].slot = 1;
    gs_sub_chunk_t c = chunk();
    c.nev = 2;
    gs_eng_enter();
    /* The step's first stream is another thread's per-thread stream: its
     * ops go to the legacy stream. */
    assert_true(gs_sub_push_chunk(&c, recs, 3, arena, true));
    memset(arena, 0, sizeof arena); /* the stream's next step reuses it */
    gs_eng_leave();
    assert_int_equal(f.n, 4);
    assert_string_equal(f.what[0], "launch");
    assert_string_equal(f.what[1], "htod");
    assert_string_equal(f.what[2], "record");
    assert_string_equal(f.what[3], "hostfn");
    assert_true(f.htod_seen == 2.5f);
    assert_ptr_equal(f.htod_stream, CU_STREAM_LEGACY);
    assert_ptr_equal(f.rec_stream, CU_STREAM_LEGACY);
    assert_ptr_equal(f.rec_event, EV);
    assert_ptr_equal(f.host_stream, S_B);
    /* Taken up under the lock: the template retires, the failure counted. */
    assert_int_equal(atomic_load(&tpl.sub_fail), (int)CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
    unsigned long long before = gs_counter(GS_CTR_fb_launch);
    gs_eng_enter();
    gs_sub_reap(&tpl);
    gs_eng_leave();
    assert_true(tpl.failed);
    assert_int_equal(gs_counter(GS_CTR_fb_launch), before + 1);
    assert_int_equal(atomic_load(&tpl.sub_fail), 0);
}

static void *submitter(void *arg)
{
    (void)arg;
    gs_sub_chunk_t c = chunk();
    gs_eng_enter();
    (void)gs_sub_push_chunk(&c, NULL, 0, NULL, false);
    gs_eng_leave();
    return NULL;
}

/* Another thread's call while a launch is in flight (20 ms long): after
 * it, unless GRAPHSHIM_TEST_UNORDERED. */
static void other_thread_call(bool unordered)
{
    gs_opt.test_unordered = unordered;
    f.launch_sleep_us = 20000;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submitter, NULL), 0);
    while (!atomic_load(&gs_sub_inflight))
        ;
    (void)GS_REAL(cuStreamSynchronize)(S_B);
    pthread_join(th, NULL);
    if (unordered)
        assert_true(f.sync_ns < f.launch_end_ns);
    else
        assert_true(f.sync_ns >= f.launch_end_ns);
}

static void test_other_thread_waits(void **state)
{
    (void)state;
    other_thread_call(false);
}

static void test_unordered_does_not_wait(void **state)
{
    (void)state;
    other_thread_call(true);
}

static void test_off_and_auto(void **state)
{
    (void)state;
    gs_opt.unlocked_launch = GS_UNLOCKED_OFF;
    assert_false(gs_sub_deferring());
    /* auto: this process has had more than one thread in the engine (the
     * submitter threads above, when they ran first), or it has not. */
    gs_opt.unlocked_launch = GS_UNLOCKED_AUTO;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submitter, NULL), 0);
    pthread_join(th, NULL);
    gs_eng_enter();
    gs_eng_leave();
    assert_true(gs_sub_deferring());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_launch_after_the_lock, setup),
        cmocka_unit_test_setup(test_own_call_sends_the_queue, setup),
        cmocka_unit_test_setup(test_refused_launch_issues_copies, setup),
        cmocka_unit_test_setup(test_other_thread_waits, setup),
        cmocka_unit_test_setup(test_unordered_does_not_wait, setup),
        cmocka_unit_test_setup(test_off_and_auto, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
