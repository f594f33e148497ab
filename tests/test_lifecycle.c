/* Lifecycle leaks: 2 000 process lifecycles (create, start, join, destroy, and the other ways a
 * process can end) and 100 pool create/destroy cycles leave the descriptor count (Linux
 * /proc/self/fd; Windows: the process's handles), the thread count (Linux /proc/self/task;
 * Windows: a Toolhelp thread snapshot) and the child and zombie counts at their baseline.
 *
 * Under Wine a process start costs ~60 ms instead of ~1 ms: 100 processes and 10 pools there
 * (and 500 processes in a sanitizer build). */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

/* Under a sanitizer every spawned child loads its runtime first (~50 ms a start): a quarter of
 * the processes keeps that build's suite well inside its timeout. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    #define SANITIZED 1
#elif defined(__has_feature)
    #if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
        #define SANITIZED 1
    #endif
#endif
#ifdef SANITIZED
    #define PROCESSES 500
#else
    #define PROCESSES 2000
#endif
#define WINE_PROCESSES 100
#define POOLS 100
#define WINE_POOLS 10
/* Processes alive at once: both cores busy, the count still small. */
#define BATCH 4

static int t_sleep(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_sleep_ms(10000);
    return 0;
}

/* The ways one lifecycle may go; i picks one, so every way repeats through the run. */
enum {
    WAY_JOIN,
    WAY_DAEMON_JOIN,
    WAY_POLL_ALIVE,
    WAY_TERMINATE,
    WAY_KILL,
    WAY_DESTROY_RUNNING,
    WAY_NEVER_STARTED,
    WAY_COUNT
};

static mproc_process *begin(int way, int i)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    int code = i % 200;
    memset(&o, 0, sizeof o);
    o.target = way >= WAY_TERMINATE && way <= WAY_DESTROY_RUNNING ? t_sleep : tu_return;
    o.arg = &code;
    o.arg_len = sizeof code;
    o.daemon = way == WAY_DAEMON_JOIN;
    o.name = way == WAY_POLL_ALIVE ? "lifecycle" : NULL;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    if (way != WAY_NEVER_STARTED) {
        assert_int_equal(mproc_process_start(p), MPROC_OK);
    }
    return p;
}

static void end(mproc_process *p, int way, int i)
{
    int code = 0x7fffffff;
    uint64_t deadline;
    switch (way) {
    case WAY_JOIN:
    case WAY_DAEMON_JOIN:
        assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
        assert_int_equal(code, i % 200);
        break;
    case WAY_POLL_ALIVE:
        deadline = tu_now_ms() + 30000;
        while (mproc_process_is_alive(p) && tu_now_ms() < deadline) {
            tu_sleep_ms(1);
        }
        assert_int_equal(mproc_process_is_alive(p), 0);
        break;
    case WAY_TERMINATE:
        assert_int_equal(mproc_process_terminate(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
        assert_int_equal(code, -15);
        break;
    case WAY_KILL:
        assert_int_equal(mproc_process_kill(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
        assert_int_equal(code, -9);
        break;
    default: /* WAY_DESTROY_RUNNING, WAY_NEVER_STARTED: destroy does it all */
        break;
    }
    mproc_process_destroy(p);
}

static void test_process_lifecycles_leak_nothing(void **state)
{
    const int total = tu_on_wine() ? WINE_PROCESSES : PROCESSES;
    mproc_process *batch[BATCH];
    int ways[BATCH];
    tu_counts base;
    uint64_t t0;
    int i, k;
    (void)state;

    /* Warm up: whatever the library or the C runtime opens once and keeps (the pidfd probe, a
     * thread-local key, the loader's handles) is not a leak. */
    for (k = 0; k < WAY_COUNT; k++) {
        end(begin(k, k), k, k);
    }
    base = tu_counts_now();
    tu_counts_print("baseline", &base);

    t0 = tu_now_ms();
    for (i = 0; i < total; i += BATCH) {
        for (k = 0; k < BATCH && i + k < total; k++) {
            ways[k] = (i + k) % WAY_COUNT;
            batch[k] = begin(ways[k], i + k);
        }
        for (k = 0; k < BATCH && i + k < total; k++) {
            end(batch[k], ways[k], i + k);
        }
    }
    print_message("%d process lifecycles (%s) in %.1f s\n", total, tu_method_name(),
                  (double)(tu_now_ms() - t0) / 1000.0);
    tu_assert_counts_back(&base, 5000);
}

static void one_pool(int i)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    void *res = NULL;
    size_t len = 0;
    int v = i;
    memset(&o, 0, sizeof o);
    o.workers = 1 + i % 3;
    o.max_tasks_per_child = i % 4 == 1 ? 1 : 0;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, tu_square_ll, &v, sizeof v, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof(long long));
    mproc_free(res);
    switch (i % 4) {
    case 0: /* Python's way: close, join, then free */
        assert_int_equal(mproc_pool_close(p), MPROC_OK);
        assert_int_equal(mproc_pool_join(p), MPROC_OK);
        break;
    case 1: /* tasks still queued, then terminate */
        assert_int_equal(
            mproc_pool_apply_async(p, tu_square_ll, &v, sizeof v, NULL, NULL, NULL, NULL),
            MPROC_OK);
        assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
        break;
    case 2: { /* an async handle that outlives the pool */
        mproc_async *a = NULL;
        assert_int_equal(
            mproc_pool_apply_async(p, tu_square_ll, &v, sizeof v, NULL, NULL, NULL, &a), MPROC_OK);
        assert_int_equal(mproc_async_wait(a, MPROC_FOREVER), MPROC_OK);
        mproc_pool_destroy(p);
        mproc_async_release(a);
        return;
    }
    default: /* destroy an open pool */
        break;
    }
    mproc_pool_destroy(p);
}

static void test_pool_lifecycles_leak_nothing(void **state)
{
    const int total = tu_on_wine() ? WINE_POOLS : POOLS;
    tu_counts base;
    uint64_t t0;
    int i;
    (void)state;

    for (i = 0; i < 4; i++) {
        one_pool(i); /* warm up, every way once */
    }
    base = tu_counts_now();
    tu_counts_print("baseline", &base);
    t0 = tu_now_ms();
    for (i = 0; i < total; i++) {
        one_pool(i);
    }
    print_message("%d pool lifecycles (%s) in %.1f s\n", total, tu_method_name(),
                  (double)(tu_now_ms() - t0) / 1000.0);
    tu_assert_counts_back(&base, 5000);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_lifecycles_leak_nothing),
        cmocka_unit_test(test_pool_lifecycles_leak_nothing),
    };
    return TU_RUN_SUITE(argc, argv, "lifecycle", tests);
}
