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

/* ---- the sweep ---- */

/* One step of a sweep: runs the call with the n-th allocation failing and checks what it left;
 * answers nonzero when the sweep is over (the call succeeded without reaching the n-th). */
typedef int (*step_fn)(void *ctx, long n);

/* Runs steps n = 1, 2, ... under the watchdog until one answers that the sweep is over. */
static void sweep(const char *what, step_fn step, void *ctx)
{
    long n;
    for (n = 1; n <= MAX_STEPS; n++) {
        int over;
        step_begin(what, n);
        over = step(ctx, n);
        step_end();
        if (over)
            break;
    }
    assert_true(n <= MAX_STEPS);
    sweep_done(what, n);
}

/* What the steps of one sweep share: the pool they run on and their argument. */
typedef struct sweep_ctx {
    mproc_pool *p;
    const char *what;
    int items[MAP_ITEMS];
    char *arg;
    long size;
} sweep_ctx;

/* A pool's sweep: on a pool of the given workers, then destroyed. */
static void sweep_pool(const char *what, step_fn step, sweep_ctx *c, int workers)
{
    c->p = new_pool(workers);
    sweep(what, step, c);
    mproc_pool_destroy(c->p);
}

/* A sweep with the big argument (over the ring's size) in c->arg. */
static void sweep_pool_big_arg(const char *what, step_fn step, sweep_ctx *c)
{
    c->arg = malloc(BIG_RESULT - 1000);
    assert_non_null(c->arg);
    memset(c->arg, 'a', BIG_RESULT - 1000);
    sweep_pool(what, step, c, 1);
    free(c->arg);
}

/* One result of map or imap (its code checked): item idx squared; answers 0 where the item took
 * the failure. */
static int item_ok(int ir, const void *data, size_t len, size_t idx)
{
    if (ir != MPROC_OK)
        return 0;
    assert_int_equal(len, sizeof(long long));
    assert_true(*(const long long *)data == (long long)idx * (long long)idx);
    return 1;
}

/* ---- process ---- */

static int step_process_create(void *ctx, long n)
{
    mproc_process *pr = NULL;
    int rc;
    long left;
    (void)ctx;
    mproc__alloc_fail_after(n);
    rc = mproc_process_create(&pr, child_target, "abc", 3);
    left = mproc__alloc_fail_after(0);
    assert_documented("process_create", n, rc, 0);
    if (rc != MPROC_OK)
        assert_null(pr);
    mproc_process_destroy(pr);
    return rc == MPROC_OK && left > 0;
}

static void test_process_create(void **state)
{
    (void)state;
    sweep("process_create", step_process_create, NULL);
}

static int step_process_start(void *ctx, long n)
{
    mproc_process *pr = NULL;
    int rc, code = -1;
    long left;
    (void)ctx;
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
    return rc == MPROC_OK && left > 0;
}

static void test_process_start(void **state)
{
    (void)state;
    sweep("process_start", step_process_start, NULL);
}

static int step_process_join_destroy(void *ctx, long n)
{
    mproc_process *pr = NULL;
    int rc, code = -1;
    long left;
    (void)ctx;
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
    return rc == MPROC_OK && left > 0;
}

static void test_process_join_destroy(void **state)
{
    (void)state;
    sweep("process_join+destroy", step_process_join_destroy, NULL);
}

/* ---- pool ---- */

static int init_check(const void *arg, size_t len)
{
    return len == 5 && memcmp(arg, "hello", 5) == 0 ? 0 : 1;
}

/* Both pool_create sweeps: with no options (ctx NULL), or with the ones in ctx. */
static int step_pool_create(void *ctx, long n)
{
    const mproc_pool_options *o = ctx;
    const char *what = o ? "pool_create_ex" : "pool_create";
    mproc_pool *p = NULL;
    int rc;
    long left;
    mproc__alloc_fail_after(n);
    rc = o ? mproc_pool_create_ex(&p, o) : mproc_pool_create(&p, 2);
    left = mproc__alloc_fail_after(0);
    assert_documented(what, n, rc, MPROC_ESYS);
    if (rc == MPROC_OK)
        assert_pool_works(p, what, n);
    else
        assert_null(p);
    mproc_pool_destroy(p);
    return rc == MPROC_OK && left > 0;
}

static void test_pool_create(void **state)
{
    (void)state;
    sweep("pool_create", step_pool_create, NULL);
}

/* With the options that bring allocations of their own: an initializer and its argument. */
static void test_pool_create_ex(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = init_check;
    o.initarg = "hello";
    o.initarg_len = 5;
    o.max_tasks_per_child = 3;
    sweep("pool_create_ex", step_pool_create, &o);
}

static int step_pool_apply(void *ctx, long n)
{
    sweep_ctx *c = ctx;
    int v = 5, rc;
    void *res = NULL;
    size_t rlen = 0;
    long left;
    mproc__alloc_fail_after(n);
    rc = mproc_pool_apply(c->p, square_task, &v, sizeof v, &res, &rlen);
    left = mproc__alloc_fail_after(0);
    assert_documented("pool_apply", n, rc, 0);
    if (rc == MPROC_OK) {
        assert_int_equal(rlen, sizeof(long long));
        assert_true(*(long long *)res == 25);
        mproc_free(res);
    } else {
        assert_null(res);
    }
    assert_pool_works(c->p, "pool_apply", n);
    return rc == MPROC_OK && left > 0;
}

static void test_pool_apply(void **state)
{
    sweep_ctx c;
    (void)state;
    sweep_pool("pool_apply", step_pool_apply, &c, 2);
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

static int step_pool_apply_big(void *ctx, long n)
{
    sweep_ctx *c = ctx;
    int rc;
    void *res = NULL;
    size_t rlen = 0;
    long left;
    mproc__alloc_fail_after(n);
    rc = mproc_pool_apply(c->p, big_task, c->arg, BIG_RESULT - 1000, &res, &rlen);
    left = mproc__alloc_fail_after(0);
    assert_documented("pool_apply (big)", n, rc, 0);
    if (rc == MPROC_OK) {
        assert_int_equal(rlen, BIG_RESULT);
        assert_int_equal(((char *)res)[BIG_RESULT - 1], 'b');
        mproc_free(res);
    } else {
        assert_null(res);
    }
    assert_pool_works(c->p, "pool_apply (big)", n);
    return rc == MPROC_OK && left > 0;
}

static void test_pool_apply_big(void **state)
{
    sweep_ctx c;
    (void)state;
    sweep_pool_big_arg("pool_apply (big)", step_pool_apply_big, &c);
}

static int step_pool_apply_async(void *ctx, long n)
{
    sweep_ctx *c = ctx;
    int v = 6, rc, got = MPROC_OK;
    mproc_async *a = NULL;
    long left;
    mproc__alloc_fail_after(n);
    rc = mproc_pool_apply_async(c->p, square_task, &v, sizeof v, NULL, NULL, NULL, &a);
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
    assert_pool_works(c->p, "pool_apply_async", n);
    return rc == MPROC_OK && got == MPROC_OK && left > 0;
}

static void test_pool_apply_async(void **state)
{
    sweep_ctx c;
    (void)state;
    sweep_pool("pool_apply_async", step_pool_apply_async, &c, 2);
}

static int step_pool_map(void *ctx, long n)
{
    sweep_ctx *c = ctx;
    mproc_results *r = NULL;
    int rc, all_ok = 1;
    long left;
    size_t i;
    mproc__alloc_fail_after(n);
    rc = mproc_pool_map(c->p, square_task, c->items, sizeof c->items[0], MAP_ITEMS, 3, &r);
    left = mproc__alloc_fail_after(0);
    assert_documented("pool_map", n, rc, 0);
    if (rc == MPROC_OK) {
        assert_int_equal(mproc_results_count(r), MAP_ITEMS);
        for (i = 0; i < MAP_ITEMS; i++) {
            const void *data = NULL;
            size_t len = 0;
            int ir = mproc_results_get(r, i, &data, &len);
            assert_documented("pool_map item", n, ir, 0);
            if (!item_ok(ir, data, len, i))
                all_ok = 0;
        }
        mproc_results_destroy(r);
    } else {
        assert_null(r);
    }
    assert_pool_works(c->p, "pool_map", n);
    return rc == MPROC_OK && all_ok && left > 0;
}

static int step_pool_imap(void *ctx, long n)
{
    sweep_ctx *c = ctx;
    mproc_iter *it = NULL;
    int rc, all_ok = 1;
    long left;
    mproc__alloc_fail_after(n);
    rc = n % 2 ? mproc_pool_imap(c->p, square_task, c->items, sizeof c->items[0], MAP_ITEMS, 3, &it)
               : mproc_pool_imap_unordered(c->p, square_task, c->items, sizeof c->items[0],
                                           MAP_ITEMS, 3, &it);
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
            if (!item_ok(ir, data, len, idx))
                all_ok = 0;
        }
        assert_int_equal(count, MAP_ITEMS);
        mproc_iter_destroy(it);
    } else {
        assert_null(it);
    }
    left = mproc__alloc_fail_after(0);
    assert_pool_works(c->p, "pool_imap", n);
    return rc == MPROC_OK && all_ok && left > 0;
}

/* map and imap over the items 0 .. MAP_ITEMS - 1. */
static void sweep_pool_items(const char *what, step_fn step)
{
    sweep_ctx c;
    size_t i;
    for (i = 0; i < MAP_ITEMS; i++)
        c.items[i] = (int)i;
    sweep_pool(what, step, &c, 2);
}

static void test_pool_map(void **state)
{
    (void)state;
    sweep_pool_items("pool_map", step_pool_map);
}

static void test_pool_imap(void **state)
{
    (void)state;
    sweep_pool_items("pool_imap", step_pool_imap);
}

static int step_pool_close_join(void *ctx, long n)
{
    mproc_pool *p = new_pool(1);
    mproc_async *a = NULL;
    int v = 4, rc_close, rc_join;
    long left;
    (void)ctx;
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
    return rc_close == MPROC_OK && rc_join == MPROC_OK && left > 0;
}

static void test_pool_close_join(void **state)
{
    (void)state;
    sweep("pool_close+join", step_pool_close_join, NULL);
}

static int step_pool_terminate(void *ctx, long n)
{
    mproc_pool *p = new_pool(1);
    mproc_async *a = NULL;
    int rc;
    long left;
    (void)ctx;
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
    return rc == MPROC_OK && left > 0;
}

static void test_pool_terminate(void **state)
{
    (void)state;
    sweep("pool_terminate", step_pool_terminate, NULL);
}

static int step_pool_destroy(void *ctx, long n)
{
    mproc_pool *p = new_pool(1);
    mproc_async *a = NULL;
    long left;
    (void)ctx;
    /* A pending task and a live handle: destroy must cancel it and let the handle go. */
    assert_int_equal(mproc_pool_apply_async(p, sleep_task, NULL, 0, NULL, NULL, NULL, &a),
                     MPROC_OK);
    mproc__alloc_fail_after(n);
    mproc_pool_destroy(p);
    left = mproc__alloc_fail_after(0);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    mproc_async_release(a);
    return left > 0;
}

static void test_pool_destroy(void **state)
{
    (void)state;
    sweep("pool_destroy", step_pool_destroy, NULL);
}

/* In the worker, by the probe task: what was left of its countdown. */
static long probe_left(mproc_pool *p)
{
    void *res = NULL;
    size_t rlen = 0;
    long left = 0;
    assert_int_equal(mproc_pool_apply(p, worker_probe_task, NULL, 0, &res, &rlen), MPROC_OK);
    assert_int_equal(rlen, sizeof left);
    memcpy(&left, res, sizeof left);
    mproc_free(res);
    return left;
}

/* A worker cannot allocate its result (or what carries it): that task fails, with
 * MPROC_ENOMEM, and the pool goes on; the next task on the same worker succeeds. */
static int step_worker_result(void *ctx, long k)
{
    sweep_ctx *c = ctx;
    worker_fail_arg a;
    void *res = NULL;
    size_t rlen = 0;
    long left = 0;
    int rc, probe, tries;
    a.k = k;
    a.size = c->size;
    rc = mproc_pool_apply(c->p, worker_fail_task, &a, sizeof a, &res, &rlen);
    if (rc != MPROC_OK && rc != MPROC_ENOMEM)
        fail_msg("%s at k = %ld: %s (the task, and only it, should fail with MPROC_ENOMEM)",
                 c->what, k, mproc_error_name(rc));
    if (rc == MPROC_OK) {
        assert_int_equal(rlen, (size_t)c->size);
        assert_int_equal(((char *)res)[c->size - 1], 'w');
        mproc_free(res);
    }
    /* The probe disarms the hook in the worker. Its own receipt may take a failure still
     * armed (the worker reads the probe's frame): then the second probe succeeds. */
    for (tries = 0, probe = -1; tries < 2 && probe != MPROC_OK; tries++) {
        res = NULL;
        probe = mproc_pool_apply(c->p, worker_probe_task, NULL, 0, &res, &rlen);
        if (probe == MPROC_OK) {
            assert_int_equal(rlen, sizeof left);
            memcpy(&left, res, sizeof left);
            mproc_free(res);
        } else if (probe != MPROC_ENOMEM) {
            fail_msg("%s at k = %ld: the probe after it gave %s", c->what, k,
                     mproc_error_name(probe));
        }
    }
    assert_int_equal(probe, MPROC_OK);
    assert_pool_works(c->p, c->what, k);
    return rc == MPROC_OK && left > 0;
}

static void sweep_worker_result(const char *what, long size)
{
    sweep_ctx c;
    c.what = what;
    c.size = size;
    sweep_pool(what, step_worker_result, &c, 1);
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

static long receipt_lost; /* steps of the receipt sweep that lost the worker */

/* A worker cannot allocate what receives a task (its frame, its argument's copy): that task
 * fails with MPROC_ENOMEM, and the worker goes on with the next. */
static int step_worker_receipt(void *ctx, long k)
{
    sweep_ctx *c = ctx;
    long left;
    int rc;
    assert_int_equal(mproc_pool_apply(c->p, worker_arm_task, &k, sizeof k, NULL, NULL), MPROC_OK);
    rc = mproc_pool_apply(c->p, big_arg_task, c->arg, BIG_RESULT - 1000, NULL, NULL);
    /* A frame the worker has no buffer for cannot be read, nor its task named: the worker
     * ends and the task fails with MPROC_EWORKER_LOST (the pool starts another). Any other
     * failure (the argument's copy) fails the task with MPROC_ENOMEM. */
    if (rc == MPROC_EWORKER_LOST)
        receipt_lost++;
    else if (rc != MPROC_OK && rc != MPROC_ENOMEM)
        fail_msg("worker receipt at k = %ld: %s (the task, and only it, should fail with "
                 "MPROC_ENOMEM)",
                 k, mproc_error_name(rc));
    left = probe_left(c->p);
    assert_pool_works(c->p, "worker receipt", k);
    return rc == MPROC_OK && left > 0;
}

static void test_worker_receipt_alloc(void **state)
{
    sweep_ctx c;
    (void)state;
    receipt_lost = 0;
    sweep_pool_big_arg("worker receipt", step_worker_receipt, &c);
    printf("test_alloc: worker receipt: %ld step(s) lost the worker (a frame it could not "
           "hold)\n",
           receipt_lost);
    /* One site only: the input buffer's growth for the big frame. */
    assert_true(receipt_lost <= 1);
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
