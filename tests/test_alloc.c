/* The allocation-failure suite (SQLite's standard): for each public call, the n-th allocation
 * fails, for n = 1, 2, ... until the call succeeds without reaching it. Every step must end in
 * a documented code (MPROC_ENOMEM or the call's own error), leave the objects usable or
 * destroyable, never crash, and never hang: a watchdog thread ends the run if a step outlives
 * STEP_BOUND_MS, so a hang fails the test instead of stalling CI. ASan (scripts/sanitize.sh)
 * catches the leaks.
 *
 * How the sweep counts: mproc__alloc_fail_after (src/testhooks.h) counts every allocation of
 * the process, the pool thread's included, and fails once. A sweep ends at the first n whose
 * countdown is still pending when the call returns OK (the call has fewer allocations than n).
 * The pool thread may take the failure in the caller's stead (it reads results while the call
 * waits): that is a site too, and the step must still end in a documented code. Under fork a
 * worker started during the step inherits the countdown, so the workers' own start-up is swept
 * as well. A worker's failures are swept on purpose by a task that arms the hook in the worker
 * itself: a task whose result cannot be allocated, or sent, fails that task only. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

#define STEP_BOUND_MS 60000L /* a step (one n) must end within this: else the run is a hang */
#define WAIT_MS 30000L       /* bound of every wait inside a step */
#define MAX_STEPS 2000L      /* a sweep that has not ended by then fails */
#define MAP_ITEMS 24

/* ---- the watchdog ---- */

static volatile long wd_deadline_lo; /* ms since start when the current step must be over */
static volatile long wd_stop;
static const char *volatile wd_what = "";
static volatile long wd_n;
static uint64_t wd_start;
static tu_thread wd_thread;

static void watchdog_main(void *arg)
{
    (void)arg;
    while (!tu_atomic_load(&wd_stop)) {
        long deadline = tu_atomic_load(&wd_deadline_lo);
        if (deadline > 0 && (long)(tu_now_ms() - wd_start) > deadline) {
            fprintf(stderr, "test_alloc: HANG: %s at n = %ld did not end in %ld ms\n", wd_what,
                    tu_atomic_load(&wd_n), STEP_BOUND_MS);
            fflush(stderr);
            abort();
        }
        tu_sleep_ms(100);
    }
}

static void step_begin(const char *what, long n)
{
    wd_what = what;
    tu_atomic_store(&wd_n, n);
    tu_atomic_store(&wd_deadline_lo, (long)(tu_now_ms() - wd_start) + STEP_BOUND_MS);
}

static void step_end(void)
{
    tu_atomic_store(&wd_deadline_lo, 0);
}

/* The figures the report gives: per call, the steps run (n = 1 .. last). */
static long total_steps;

static void sweep_done(const char *what, long steps)
{
    total_steps += steps;
    printf("test_alloc: %-22s %4ld steps (sites reached: %ld)\n", what, steps, steps - 1);
    fflush(stdout);
}

/* A step's code: OK, ENOMEM, or one of the call's own. */
static void assert_documented(const char *what, long n, int rc, int also)
{
    if (rc != MPROC_OK && rc != MPROC_ENOMEM && rc != also) {
        fprintf(stderr, "%s at n = %ld: %s\n", what, n, mproc_error_name(rc));
        fail_msg("%s at n = %ld returned %d (%s)", what, n, rc, mproc_error_name(rc));
    }
}

/* ---- tasks ---- */

static int child_target(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 7;
}

static int square_task(const void *arg, size_t len, mproc_output *out)
{
    int v;
    long long sq;
    if (len != sizeof v)
        return mproc_output_fail(out, "bad size"), 1;
    memcpy(&v, arg, sizeof v);
    sq = (long long)v * v;
    return mproc_output_set(out, &sq, sizeof sq);
}

static int sleep_task(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    tu_sleep_ms(300);
    return mproc_output_set(out, "z", 1);
}

/* In the worker: arms the hook for the k-th allocation from here, then sets a result of the
 * given size. What follows (the result's copy, its encoding and sending) so fails at each of its
 * sites in turn: a small result goes through the shared ring, one over the ring's size
 * (128 KiB) through a frame built in the worker's pipe buffer. */
typedef struct worker_fail_arg {
    long k;
    long size;
} worker_fail_arg;

#define BIG_RESULT ((size_t)256 << 10)
static char big_result[BIG_RESULT];

static int worker_fail_task(const void *arg, size_t len, mproc_output *out)
{
    worker_fail_arg a;
    if (len != sizeof a)
        return mproc_output_fail(out, "bad argument"), 1;
    memcpy(&a, arg, sizeof a);
    if ((size_t)a.size > BIG_RESULT)
        return mproc_output_fail(out, "bad size"), 1;
    memset(big_result, 'w', (size_t)a.size);
    mproc__alloc_fail_after(a.k);
    return mproc_output_set(out, big_result, (size_t)a.size);
}

/* In the worker: disarms the hook and answers what was left of its countdown (> 0: the
 * failure armed by worker_fail_task was never reached). */
static int worker_probe_task(const void *arg, size_t len, mproc_output *out)
{
    long left = mproc__alloc_fail_after(0);
    (void)arg;
    (void)len;
    return mproc_output_set(out, &left, sizeof left);
}

static mproc_pool *new_pool(int workers)
{
    mproc_pool *p = NULL;
    mproc__alloc_fail_after(0);
    assert_int_equal(mproc_pool_create(&p, workers), MPROC_OK);
    return p;
}

/* The pool still works: one apply gives the right answer. */
static void assert_pool_works(mproc_pool *p, const char *what, long n)
{
    int v = 9, rc;
    void *res = NULL;
    size_t rlen = 0;
    rc = mproc_pool_apply(p, square_task, &v, sizeof v, &res, &rlen);
    if (rc != MPROC_OK)
        fail_msg("%s at n = %ld: the pool no longer works (%s)", what, n, mproc_error_name(rc));
    assert_int_equal(rlen, sizeof(long long));
    assert_true(*(long long *)res == 81);
    mproc_free(res);
}

/* ---- process ---- */

static void test_process_create(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_process *pr = NULL;
        int rc;
        long left;
        step_begin("process_create", n);
        mproc__alloc_fail_after(n);
        rc = mproc_process_create(&pr, child_target, "abc", 3);
        left = mproc__alloc_fail_after(0);
        assert_documented("process_create", n, rc, 0);
        if (rc != MPROC_OK)
            assert_null(pr);
        mproc_process_destroy(pr);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("process_create", n);
}

static void test_process_start(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_process *pr = NULL;
        int rc, code = -1;
        long left;
        step_begin("process_start", n);
        assert_int_equal(mproc_process_create(&pr, child_target, "abc", 3), MPROC_OK);
        mproc__alloc_fail_after(n);
        rc = mproc_process_start(pr);
        left = mproc__alloc_fail_after(0);
        assert_documented("process_start", n, rc, 0);
        if (rc == MPROC_OK) {
            assert_int_equal(mproc_process_join(pr, WAIT_MS), MPROC_OK);
            assert_int_equal(mproc_process_exitcode(pr, &code), MPROC_OK);
            /* Under fork the child inherits the countdown, but its target allocates nothing. */
            assert_int_equal(code, 7);
        } else {
            /* A failed start leaves the object as it was: it can start now. */
            assert_int_equal(mproc_process_start(pr), MPROC_OK);
            assert_int_equal(mproc_process_join(pr, WAIT_MS), MPROC_OK);
        }
        mproc_process_destroy(pr);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("process_start", n);
}

static void test_process_join_destroy(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_process *pr = NULL;
        int rc, code = -1;
        long left;
        step_begin("process_join+destroy", n);
        assert_int_equal(mproc_process_create(&pr, child_target, NULL, 0), MPROC_OK);
        assert_int_equal(mproc_process_start(pr), MPROC_OK);
        mproc__alloc_fail_after(n);
        rc = mproc_process_join(pr, WAIT_MS);
        assert_documented("process_join", n, rc, MPROC_ESYS);
        if (rc != MPROC_OK)
            assert_int_equal(mproc_process_join(pr, WAIT_MS), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(pr, &code), MPROC_OK);
        assert_int_equal(code, 7);
        mproc_process_destroy(pr);
        left = mproc__alloc_fail_after(0);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("process_join+destroy", n);
}

/* ---- pool ---- */

static void test_pool_create(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_pool *p = NULL;
        int rc;
        long left;
        step_begin("pool_create", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_create(&p, 2);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_create", n, rc, MPROC_ESYS);
        if (rc == MPROC_OK)
            assert_pool_works(p, "pool_create", n);
        else
            assert_null(p);
        mproc_pool_destroy(p);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_create", n);
}

static int init_check(const void *arg, size_t len)
{
    return len == 5 && memcmp(arg, "hello", 5) == 0 ? 0 : 1;
}

/* With the options that bring allocations of their own: an initializer and its argument. */
static void test_pool_create_ex(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_pool_options o;
        mproc_pool *p = NULL;
        int rc;
        long left;
        memset(&o, 0, sizeof o);
        o.workers = 2;
        o.initializer = init_check;
        o.initarg = "hello";
        o.initarg_len = 5;
        o.max_tasks_per_child = 3;
        step_begin("pool_create_ex", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_create_ex(&p, &o);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_create_ex", n, rc, MPROC_ESYS);
        if (rc == MPROC_OK)
            assert_pool_works(p, "pool_create_ex", n);
        else
            assert_null(p);
        mproc_pool_destroy(p);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_create_ex", n);
}

static void test_pool_apply(void **state)
{
    mproc_pool *p = new_pool(2);
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        int v = 5, rc;
        void *res = NULL;
        size_t rlen = 0;
        long left;
        step_begin("pool_apply", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_apply(p, square_task, &v, sizeof v, &res, &rlen);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_apply", n, rc, 0);
        if (rc == MPROC_OK) {
            assert_int_equal(rlen, sizeof(long long));
            assert_true(*(long long *)res == 25);
            mproc_free(res);
        } else {
            assert_null(res);
        }
        assert_pool_works(p, "pool_apply", n);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_apply", n);
    mproc_pool_destroy(p);
}

/* Over the ring's size both ways: the argument and the result cross as frames through the
 * pipes, built and read in buffers of their own (the parent's included). */
static int big_task(const void *arg, size_t len, mproc_output *out)
{
    if (len != BIG_RESULT - 1000 || ((const char *)arg)[len - 1] != 'a')
        return mproc_output_fail(out, "bad argument"), 1;
    memset(big_result, 'b', BIG_RESULT);
    return mproc_output_set(out, big_result, BIG_RESULT);
}

static void test_pool_apply_big(void **state)
{
    mproc_pool *p = new_pool(1);
    char *arg = malloc(BIG_RESULT - 1000);
    long n;
    (void)state;
    assert_non_null(arg);
    memset(arg, 'a', BIG_RESULT - 1000);
    for (n = 1; n <= MAX_STEPS; n++) {
        int rc;
        void *res = NULL;
        size_t rlen = 0;
        long left;
        step_begin("pool_apply (big)", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_apply(p, big_task, arg, BIG_RESULT - 1000, &res, &rlen);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_apply (big)", n, rc, 0);
        if (rc == MPROC_OK) {
            assert_int_equal(rlen, BIG_RESULT);
            assert_int_equal(((char *)res)[BIG_RESULT - 1], 'b');
            mproc_free(res);
        } else {
            assert_null(res);
        }
        assert_pool_works(p, "pool_apply (big)", n);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_apply (big)", n);
    free(arg);
    mproc_pool_destroy(p);
}

static void test_pool_apply_async(void **state)
{
    mproc_pool *p = new_pool(2);
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        int v = 6, rc, got = MPROC_OK;
        mproc_async *a = NULL;
        long left;
        step_begin("pool_apply_async", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_apply_async(p, square_task, &v, sizeof v, NULL, NULL, NULL, &a);
        if (rc == MPROC_OK) {
            const void *data = NULL;
            size_t len = 0;
            got = mproc_async_get(a, WAIT_MS, &data, &len);
            /* The pool thread may take the failure (reading the result): the task's error. */
            assert_documented("async_get", n, got, 0);
            if (got == MPROC_OK) {
                assert_int_equal(len, sizeof(long long));
                assert_true(*(const long long *)data == 36);
            } else {
                assert_int_equal(mproc_async_error(a)->code, MPROC_ENOMEM);
            }
            mproc_async_release(a);
        } else {
            assert_documented("pool_apply_async", n, rc, 0);
            assert_null(a);
        }
        left = mproc__alloc_fail_after(0);
        assert_pool_works(p, "pool_apply_async", n);
        step_end();
        if (rc == MPROC_OK && got == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_apply_async", n);
    mproc_pool_destroy(p);
}

static void test_pool_map(void **state)
{
    mproc_pool *p = new_pool(2);
    int items[MAP_ITEMS];
    long n;
    size_t i;
    (void)state;
    for (i = 0; i < MAP_ITEMS; i++)
        items[i] = (int)i;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_results *r = NULL;
        int rc, all_ok = 1;
        long left;
        step_begin("pool_map", n);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_map(p, square_task, items, sizeof items[0], MAP_ITEMS, 3, &r);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_map", n, rc, 0);
        if (rc == MPROC_OK) {
            assert_int_equal(mproc_results_count(r), MAP_ITEMS);
            for (i = 0; i < MAP_ITEMS; i++) {
                const void *data = NULL;
                size_t len = 0;
                int ir = mproc_results_get(r, i, &data, &len);
                assert_documented("pool_map item", n, ir, 0);
                if (ir == MPROC_OK) {
                    assert_int_equal(len, sizeof(long long));
                    assert_true(*(const long long *)data == (long long)i * (long long)i);
                } else {
                    all_ok = 0;
                }
            }
            mproc_results_destroy(r);
        } else {
            assert_null(r);
        }
        assert_pool_works(p, "pool_map", n);
        step_end();
        if (rc == MPROC_OK && all_ok && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_map", n);
    mproc_pool_destroy(p);
}

static void test_pool_imap(void **state)
{
    mproc_pool *p = new_pool(2);
    int items[MAP_ITEMS];
    long n;
    size_t i;
    (void)state;
    for (i = 0; i < MAP_ITEMS; i++)
        items[i] = (int)i;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_iter *it = NULL;
        int rc, all_ok = 1;
        long left;
        step_begin("pool_imap", n);
        mproc__alloc_fail_after(n);
        rc = n % 2 ? mproc_pool_imap(p, square_task, items, sizeof items[0], MAP_ITEMS, 3, &it)
                   : mproc_pool_imap_unordered(p, square_task, items, sizeof items[0], MAP_ITEMS, 3,
                                               &it);
        assert_documented("pool_imap", n, rc, 0);
        if (rc == MPROC_OK) {
            char seen[MAP_ITEMS];
            size_t count = 0;
            memset(seen, 0, sizeof seen);
            for (;;) {
                size_t idx = (size_t)-1, len = 0;
                const void *data = NULL;
                int ir = mproc_iter_next(it, WAIT_MS, &idx, &data, &len);
                if (ir == MPROC_EEND)
                    break;
                if (ir == MPROC_ETIMEDOUT)
                    fail_msg("pool_imap at n = %ld: no result in %ld ms (a hang)", n, WAIT_MS);
                assert_documented("pool_imap item", n, ir, 0);
                assert_true(idx < MAP_ITEMS);
                assert_int_equal(seen[idx], 0);
                seen[idx] = 1;
                count++;
                if (ir == MPROC_OK) {
                    assert_int_equal(len, sizeof(long long));
                    assert_true(*(const long long *)data == (long long)idx * (long long)idx);
                } else {
                    all_ok = 0;
                }
            }
            assert_int_equal(count, MAP_ITEMS);
            mproc_iter_destroy(it);
        } else {
            assert_null(it);
        }
        left = mproc__alloc_fail_after(0);
        assert_pool_works(p, "pool_imap", n);
        step_end();
        if (rc == MPROC_OK && all_ok && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_imap", n);
    mproc_pool_destroy(p);
}

static void test_pool_close_join(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_pool *p = new_pool(1);
        mproc_async *a = NULL;
        int v = 4, rc_close, rc_join;
        long left;
        step_begin("pool_close+join", n);
        assert_int_equal(mproc_pool_apply_async(p, square_task, &v, sizeof v, NULL, NULL, NULL, &a),
                         MPROC_OK);
        mproc__alloc_fail_after(n);
        rc_close = mproc_pool_close(p);
        rc_join = mproc_pool_join(p);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_close", n, rc_close, 0);
        assert_documented("pool_join", n, rc_join, 0);
        if (rc_close != MPROC_OK)
            assert_int_equal(mproc_pool_close(p), MPROC_OK);
        if (rc_join != MPROC_OK)
            assert_int_equal(mproc_pool_join(p), MPROC_OK);
        /* The task submitted before close ran to its end. */
        assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
        mproc_async_release(a);
        mproc_pool_destroy(p);
        step_end();
        if (rc_close == MPROC_OK && rc_join == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_close+join", n);
}

static void test_pool_terminate(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_pool *p = new_pool(1);
        mproc_async *a = NULL;
        int rc;
        long left;
        step_begin("pool_terminate", n);
        assert_int_equal(mproc_pool_apply_async(p, sleep_task, NULL, 0, NULL, NULL, NULL, &a),
                         MPROC_OK);
        mproc__alloc_fail_after(n);
        rc = mproc_pool_terminate(p);
        left = mproc__alloc_fail_after(0);
        assert_documented("pool_terminate", n, rc, 0);
        if (rc != MPROC_OK)
            assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
        /* The task ended: done before terminate, or canceled. */
        assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
        mproc_async_release(a);
        mproc_pool_destroy(p);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_terminate", n);
}

static void test_pool_destroy(void **state)
{
    long n;
    (void)state;
    for (n = 1; n <= MAX_STEPS; n++) {
        mproc_pool *p = new_pool(1);
        mproc_async *a = NULL;
        long left;
        step_begin("pool_destroy", n);
        /* A pending task and a live handle: destroy must cancel it and let the handle go. */
        assert_int_equal(mproc_pool_apply_async(p, sleep_task, NULL, 0, NULL, NULL, NULL, &a),
                         MPROC_OK);
        mproc__alloc_fail_after(n);
        mproc_pool_destroy(p);
        left = mproc__alloc_fail_after(0);
        assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
        mproc_async_release(a);
        step_end();
        if (left > 0)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done("pool_destroy", n);
}

/* A worker cannot allocate its result (or what carries it): that task fails, with
 * MPROC_ENOMEM, and the pool goes on; the next task on the same worker succeeds. */
static void sweep_worker_result(const char *what, long size)
{
    mproc_pool *p = new_pool(1);
    long k;
    for (k = 1; k <= MAX_STEPS; k++) {
        worker_fail_arg a;
        void *res = NULL;
        size_t rlen = 0;
        long left = 0;
        int rc, probe, tries;
        a.k = k;
        a.size = size;
        step_begin(what, k);
        rc = mproc_pool_apply(p, worker_fail_task, &a, sizeof a, &res, &rlen);
        if (rc != MPROC_OK && rc != MPROC_ENOMEM)
            fail_msg("%s at k = %ld: %s (the task, and only it, should fail with MPROC_ENOMEM)",
                     what, k, mproc_error_name(rc));
        if (rc == MPROC_OK) {
            assert_int_equal(rlen, (size_t)size);
            assert_int_equal(((char *)res)[size - 1], 'w');
            mproc_free(res);
        }
        /* The probe disarms the hook in the worker. Its own receipt may take a failure still
         * armed (the worker reads the probe's frame): then the second probe succeeds. */
        for (tries = 0, probe = -1; tries < 2 && probe != MPROC_OK; tries++) {
            res = NULL;
            probe = mproc_pool_apply(p, worker_probe_task, NULL, 0, &res, &rlen);
            if (probe == MPROC_OK) {
                assert_int_equal(rlen, sizeof left);
                memcpy(&left, res, sizeof left);
                mproc_free(res);
            } else if (probe != MPROC_ENOMEM) {
                fail_msg("%s at k = %ld: the probe after it gave %s", what, k,
                         mproc_error_name(probe));
            }
        }
        assert_int_equal(probe, MPROC_OK);
        assert_pool_works(p, what, k);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(k <= MAX_STEPS);
    sweep_done(what, k);
    mproc_pool_destroy(p);
}

/* In the worker: sets its small result first, then arms the hook, so the failures fall in
 * what the worker does next: reading the next task's frame and copying its argument. */
static int worker_arm_task(const void *arg, size_t len, mproc_output *out)
{
    long k;
    int r;
    if (len != sizeof k)
        return mproc_output_fail(out, "bad argument"), 1;
    memcpy(&k, arg, sizeof k);
    r = mproc_output_set(out, "k", 1);
    mproc__alloc_fail_after(k);
    return r;
}

static int big_arg_task(const void *arg, size_t len, mproc_output *out)
{
    if (len != BIG_RESULT - 1000 || ((const char *)arg)[len - 1] != 'a')
        return mproc_output_fail(out, "bad argument"), 1;
    return mproc_output_set(out, "ok", 2);
}

/* A worker cannot allocate what receives a task (its frame, its argument's copy): that task
 * fails with MPROC_ENOMEM, and the worker goes on with the next. */
static void test_worker_receipt_alloc(void **state)
{
    mproc_pool *p = new_pool(1);
    char *arg = malloc(BIG_RESULT - 1000);
    long k, lost = 0;
    (void)state;
    assert_non_null(arg);
    memset(arg, 'a', BIG_RESULT - 1000);
    for (k = 1; k <= MAX_STEPS; k++) {
        void *res = NULL;
        size_t rlen = 0;
        long left = 0;
        int rc;
        step_begin("worker receipt", k);
        assert_int_equal(mproc_pool_apply(p, worker_arm_task, &k, sizeof k, NULL, NULL), MPROC_OK);
        rc = mproc_pool_apply(p, big_arg_task, arg, BIG_RESULT - 1000, NULL, NULL);
        /* A frame the worker has no buffer for cannot be read, nor its task named: the worker
         * ends and the task fails with MPROC_EWORKER_LOST (the pool starts another). Any other
         * failure (the argument's copy) fails the task with MPROC_ENOMEM. */
        if (rc == MPROC_EWORKER_LOST)
            lost++;
        else if (rc != MPROC_OK && rc != MPROC_ENOMEM)
            fail_msg("worker receipt at k = %ld: %s (the task, and only it, should fail with "
                     "MPROC_ENOMEM)",
                     k, mproc_error_name(rc));
        rlen = 0;
        assert_int_equal(mproc_pool_apply(p, worker_probe_task, NULL, 0, &res, &rlen), MPROC_OK);
        assert_int_equal(rlen, sizeof left);
        memcpy(&left, res, sizeof left);
        mproc_free(res);
        assert_pool_works(p, "worker receipt", k);
        step_end();
        if (rc == MPROC_OK && left > 0)
            break;
    }
    assert_true(k <= MAX_STEPS);
    sweep_done("worker receipt", k);
    printf("test_alloc: worker receipt: %ld step(s) lost the worker (a frame it could not "
           "hold)\n",
           lost);
    /* One site only: the input buffer's growth for the big frame. */
    assert_true(lost <= 1);
    free(arg);
    mproc_pool_destroy(p);
}

static void test_worker_result_alloc(void **state)
{
    (void)state;
    sweep_worker_result("worker result (ring)", 256);
}

static void test_worker_big_result_alloc(void **state)
{
    (void)state;
    sweep_worker_result("worker result (pipe)", (long)BIG_RESULT);
}

static int group_setup(void **state)
{
    (void)state;
    wd_start = tu_now_ms();
    tu_thread_start(&wd_thread, watchdog_main, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_atomic_store(&wd_stop, 1);
    tu_thread_join(&wd_thread);
    printf("test_alloc: %ld steps in all (%s)\n", total_steps, tu_method_name());
    return 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_create),
        cmocka_unit_test(test_process_start),
        cmocka_unit_test(test_process_join_destroy),
        cmocka_unit_test(test_pool_create),
        cmocka_unit_test(test_pool_create_ex),
        cmocka_unit_test(test_pool_apply),
        cmocka_unit_test(test_pool_apply_big),
        cmocka_unit_test(test_pool_apply_async),
        cmocka_unit_test(test_pool_map),
        cmocka_unit_test(test_pool_imap),
        cmocka_unit_test(test_pool_close_join),
        cmocka_unit_test(test_pool_terminate),
        cmocka_unit_test(test_pool_destroy),
        cmocka_unit_test(test_worker_result_alloc),
        cmocka_unit_test(test_worker_big_result_alloc),
        cmocka_unit_test(test_worker_receipt_alloc),
    };
    int r = mproc_init(argc, argv);
    if (r != MPROC_OK) {
        fprintf(stderr, "mproc_init: %s\n", mproc_strerror(r));
        return 1;
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
