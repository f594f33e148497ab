/* The pool suite: the seed's claims, every way a task can end, crashes, limits and states.
 * Timing bounds are generous on purpose: the machine may be loaded, and speed is the
 * benchmarks' business. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

/* ---- tasks ---- */

enum op {
    OP_SLEEP,
    OP_SQUARE,
    OP_FAIL,
    OP_ABORT,
    OP_KILL,
    OP_SEGV,
    OP_BIG,
    OP_PID,
    OP_EMPTY,
    OP_SIZED,      /* a result of value bytes, sized_byte(i, value) each */
    OP_TOUCH_SLEEP /* creates touch_path(value), then sleeps ms */
};

/* The pool's own counters of applies its callers ran themselves come from a test hook
 * (src/testhooks.h). */

static unsigned char sized_byte(size_t i, int size)
{
    return (unsigned char)(i * 7u + (unsigned)size);
}

static void touch_path(char *buf, size_t cap, int id)
{
    const char *tmp = getenv("TMPDIR");
#ifdef _WIN32
    if (tmp == NULL)
        tmp = getenv("TEMP");
#endif
    snprintf(buf, cap, "%s/mproc-touch-%d", tmp ? tmp : "/tmp", id);
}

struct job {
    int op;
    int value;
    long ms;
};

static struct job job(int op, int value, long ms)
{
    struct job j;
    memset(&j, 0, sizeof j);
    j.op = op;
    j.value = value;
    j.ms = ms;
    return j;
}

#define BIG_RESULT ((size_t)64 << 20)

static int task(const void *arg, size_t len, mproc_output *out)
{
    const struct job *j = arg;
    if (len != sizeof *j)
        return mproc_output_fail(out, "bad argument size %u", (unsigned)len), 1;
    switch (j->op) {
    case OP_SLEEP:
        tu_sleep_ms(j->ms);
        return mproc_output_set(out, "filename", 8);
    case OP_SQUARE: {
        long long sq = (long long)j->value * j->value;
        return mproc_output_set(out, &sq, sizeof sq);
    }
    case OP_FAIL:
        mproc_output_fail(out, "task %d refused", j->value);
        return 7;
    case OP_ABORT:
        /* A forked worker inherits cmocka's handlers, which would catch the crash. (A Windows
         * worker is spawned: it never ran cmocka, and mproc's own handler maps the abort.) */
#ifndef _WIN32
        signal(SIGABRT, SIG_DFL);
#endif
        abort();
    case OP_KILL:
        tu_die_by_kill();
        return 0;
    case OP_SEGV: {
        volatile int *volatile nowhere = (int *)16;
#ifndef _WIN32
        signal(SIGSEGV, SIG_DFL);
#endif
        *nowhere = 1;
        return 0;
    }
    case OP_BIG: {
        unsigned char *b = malloc(BIG_RESULT);
        size_t i;
        int r;
        if (b == NULL)
            return mproc_output_fail(out, "no memory"), 1;
        for (i = 0; i < BIG_RESULT; i++)
            b[i] = (unsigned char)(i * 31 + 7);
        r = mproc_output_set(out, b, BIG_RESULT);
        free(b);
        return r;
    }
    case OP_PID: {
        long pid = mproc_getpid();
        tu_sleep_ms(j->ms);
        return mproc_output_set(out, &pid, sizeof pid);
    }
    case OP_EMPTY:
        return 0;
    case OP_SIZED: {
        unsigned char *b = malloc(j->value > 0 ? (size_t)j->value : 1);
        size_t i;
        int r;
        if (b == NULL)
            return mproc_output_fail(out, "no memory"), 1;
        for (i = 0; i < (size_t)j->value; i++)
            b[i] = sized_byte(i, j->value);
        r = mproc_output_set(out, b, (size_t)j->value);
        free(b);
        return r;
    }
    case OP_TOUCH_SLEEP: {
        char path[512];
        FILE *f;
        touch_path(path, sizeof path, j->value);
        f = fopen(path, "w");
        if (f != NULL)
            fclose(f);
        tu_sleep_ms(j->ms);
        return 0;
    }
    }
    return 1;
}

static int echo(const void *arg, size_t len, mproc_output *out)
{
    return mproc_output_set(out, arg, len);
}

/* ---- callbacks ---- */

struct tally {
    int ok, failed, filename;
    int lost, canceled, timedout;
    int seen[1000];
    char last_message[256];
    int last_status, last_exitcode;
};

static struct tally tally;

static void on_result(void *user, const void *result, size_t len)
{
    int index = (int)(intptr_t)user;
    tally.ok++;
    if (len == 8 && memcmp(result, "filename", 8) == 0)
        tally.filename++;
    if (index >= 0 && index < 1000)
        tally.seen[index]++;
}

static void on_error(void *user, const mproc_error *e)
{
    int index = (int)(intptr_t)user;
    tally.failed++;
    if (e->code == MPROC_EWORKER_LOST)
        tally.lost++;
    if (e->code == MPROC_ECANCELED)
        tally.canceled++;
    if (e->code == MPROC_ETIMEDOUT)
        tally.timedout++;
    snprintf(tally.last_message, sizeof tally.last_message, "%s", e->message);
    tally.last_status = e->status;
    tally.last_exitcode = e->exitcode;
    if (index >= 0 && index < 1000)
        tally.seen[index]++;
}

static int reset(void **state)
{
    (void)state;
    memset(&tally, 0, sizeof tally);
    return 0;
}

static void submit(mproc_pool *p, struct job j, int index)
{
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, on_result, on_error,
                                            (void *)(intptr_t)index, NULL),
                     MPROC_OK);
}

static void finish(mproc_pool *p)
{
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

/* ---- the seed's claims ---- */

static void test_seed_apply_is_serial(void **state)
{
    mproc_pool *p;
    double t0;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 5), MPROC_OK);
    t0 = tu_now_s();
    for (i = 0; i < 10; i++) {
        struct job j = job(OP_SLEEP, i, 200);
        void *res;
        size_t len;
        assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &res, &len), MPROC_OK);
        assert_int_equal(len, 8);
        assert_memory_equal(res, "filename", 8);
        mproc_free(res);
    }
    assert_true(tu_now_s() - t0 >= 1.9);
    finish(p);
}

static void test_seed_apply_async_is_parallel(void **state)
{
    mproc_pool *p;
    double t0, elapsed;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 5), MPROC_OK);
    t0 = tu_now_s();
    for (i = 0; i < 10; i++)
        submit(p, job(OP_SLEEP, i, 200), i);
    finish(p);
    elapsed = tu_now_s() - t0;
    assert_true(elapsed >= 0.39);
    if (!tu_under_valgrind())
        assert_true(elapsed < 1.2);
    assert_int_equal(tally.filename, 10);
    assert_int_equal(tally.failed, 0);
}

static void test_every_callback_exactly_once(void **state)
{
    mproc_pool *p;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 3), MPROC_OK);
    for (i = 0; i < 1000; i++)
        submit(p, job(i % 3 ? OP_SQUARE : OP_FAIL, i, 0), i);
    finish(p);
    for (i = 0; i < 1000; i++)
        assert_int_equal(tally.seen[i], 1);
    assert_int_equal(tally.ok + tally.failed, 1000);
    assert_int_equal(tally.failed, 334);
}

static void test_failure_message_reaches_caller(void **state)
{
    mproc_pool *p;
    mproc_async *a;
    const mproc_error *e;
    struct job j = job(OP_FAIL, 42, 0);
    void *res = (void *)&j;
    size_t len = 99;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(
        mproc_pool_apply_async(p, task, &j, sizeof j, on_result, on_error, (void *)-1, &a),
        MPROC_OK);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_ETASK);
    assert_true(mproc_async_ready(a));
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_ETASK);
    assert_int_equal(e->status, 7);
    assert_string_equal(e->message, "task 42 refused");
    /* The error callback ran before the handle became ready. */
    assert_int_equal(tally.failed, 1);
    assert_string_equal(tally.last_message, "task 42 refused");
    mproc_async_release(a);

    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &res, &len), MPROC_ETASK);
    assert_null(res);
    assert_int_equal(len, 0);
    finish(p);
}

static void test_async_handle_timeouts(void **state)
{
    mproc_pool *p;
    mproc_async *a;
    struct job j = job(OP_SLEEP, 0, 300);
    const void *data;
    size_t len;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_wait(a, 0), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_async_get(a, 10, &data, &len), MPROC_ETIMEDOUT);
    assert_false(mproc_async_ready(a));
    assert_null(mproc_async_error(a));
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, &data, &len), MPROC_OK);
    assert_int_equal(len, 8);
    assert_memory_equal(data, "filename", 8);
    assert_null(mproc_async_error(a));
    mproc_async_release(a);
    finish(p);
}

/* ---- map and imap ---- */

static void test_map_squares_in_order(void **state)
{
    mproc_pool *p;
    mproc_results *r;
    static int items[10000];
    size_t chunks[] = {0, 1, 7, 10000};
    size_t c, i;
    (void)state;
    for (i = 0; i < 10000; i++)
        items[i] = (int)i;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        assert_int_equal(
            mproc_pool_map(p, tu_square_ll, items, sizeof items[0], 10000, chunks[c], &r),
            MPROC_OK);
        assert_int_equal(mproc_results_count(r), 10000);
        for (i = 0; i < 10000; i++) {
            const void *d;
            size_t len;
            long long v;
            assert_int_equal(mproc_results_get(r, i, &d, &len), MPROC_OK);
            assert_int_equal(len, sizeof v);
            memcpy(&v, d, sizeof v);
            assert_true(v == (long long)i * (long long)i);
            assert_null(mproc_results_error(r, i));
        }
        assert_int_equal(mproc_results_get(r, 10000, NULL, NULL), MPROC_EINVAL);
        mproc_results_destroy(r);
    }
    /* No items: an empty result, at once. */
    assert_int_equal(mproc_pool_map(p, tu_square_ll, NULL, sizeof(int), 0, 0, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), 0);
    mproc_results_destroy(r);
    finish(p);
}

/* Large chunks are appended to a worker's pipe buffer while an earlier one is half written:
 * the buffer compacts under the frame being built (a bug once failed whole chunks). */
static void test_map_large_chunks(void **state)
{
    mproc_pool *p;
    mproc_results *r;
    size_t n = 1000000, i;
    int *items = malloc(n * sizeof *items);
    (void)state;
    assert_non_null(items);
    for (i = 0; i < n; i++)
        items[i] = (int)i;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_map(p, echo, items, sizeof *items, n, 0, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), n);
    for (i = 0; i < n; i++) {
        const void *d;
        size_t len;
        int v;
        assert_int_equal(mproc_results_get(r, i, &d, &len), MPROC_OK);
        assert_int_equal(len, sizeof v);
        memcpy(&v, d, sizeof v);
        assert_int_equal(v, (int)i);
    }
    mproc_results_destroy(r);
    free(items);
    finish(p);
}

static void test_map_item_failure_is_per_item(void **state)
{
    mproc_pool *p;
    mproc_results *r;
    struct job jobs[6];
    size_t i;
    (void)state;
    for (i = 0; i < 6; i++)
        jobs[i] = job(i == 3 ? OP_FAIL : OP_SQUARE, (int)i, 0);
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_map(p, task, jobs, sizeof jobs[0], 6, 2, &r), MPROC_OK);
    for (i = 0; i < 6; i++) {
        if (i == 3) {
            const mproc_error *e = mproc_results_error(r, i);
            assert_int_equal(mproc_results_get(r, i, NULL, NULL), MPROC_ETASK);
            assert_non_null(e);
            assert_string_equal(e->message, "task 3 refused");
        } else {
            assert_int_equal(mproc_results_get(r, i, NULL, NULL), MPROC_OK);
        }
    }
    mproc_results_destroy(r);
    finish(p);
}

static void run_imap(int ordered, size_t chunksize)
{
    mproc_pool *p;
    mproc_iter *it;
    static int items[5000];
    static unsigned char seen[5000];
    size_t i, index, n = 0, expect = 0;
    const void *d;
    size_t len;
    int r;

    for (i = 0; i < 5000; i++)
        items[i] = (int)i;
    memset(seen, 0, sizeof seen);
    assert_int_equal(mproc_pool_create(&p, 3), MPROC_OK);
    if (ordered)
        r = mproc_pool_imap(p, tu_square_ll, items, sizeof items[0], 5000, chunksize, &it);
    else
        r = mproc_pool_imap_unordered(p, tu_square_ll, items, sizeof items[0], 5000, chunksize,
                                      &it);
    assert_int_equal(r, MPROC_OK);
    while ((r = mproc_iter_next(it, MPROC_FOREVER, &index, &d, &len)) != MPROC_EEND) {
        long long v;
        assert_int_equal(r, MPROC_OK);
        assert_true(index < 5000);
        if (ordered)
            assert_int_equal(index, expect++);
        memcpy(&v, d, sizeof v);
        assert_true(v == (long long)index * (long long)index);
        seen[index]++;
        n++;
    }
    assert_int_equal(n, 5000);
    for (i = 0; i < 5000; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(mproc_iter_next(it, 0, &index, &d, &len), MPROC_EEND);
    mproc_iter_destroy(it);
    finish(p);
}

static void test_imap_unordered_each_index_once(void **state)
{
    (void)state;
    run_imap(0, 1);
    run_imap(0, 64);
}

static void test_imap_ordered(void **state)
{
    (void)state;
    run_imap(1, 1);
    run_imap(1, 0);
}

static void test_imap_destroy_early(void **state)
{
    mproc_pool *p;
    mproc_iter *it;
    static int items[20000];
    size_t index;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_imap(p, tu_square_ll, items, sizeof items[0], 20000, 1, &it),
                     MPROC_OK);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_OK);
    assert_int_equal(index, 0);
    mproc_iter_destroy(it);
    /* The pool drops the rest and stays usable. */
    assert_int_equal(mproc_pool_map(p, tu_square_ll, items, sizeof items[0], 100, 0, NULL),
                     MPROC_EINVAL);
    {
        mproc_results *r;
        assert_int_equal(mproc_pool_map(p, tu_square_ll, items, sizeof items[0], 100, 0, &r),
                         MPROC_OK);
        mproc_results_destroy(r);
    }
    finish(p);
}

/* ---- crashes ---- */

static void test_crash_storm(void **state)
{
    mproc_pool *p;
    int i;
    struct job ok;
    void *res;
    size_t len;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 4), MPROC_OK);
    for (i = 0; i < 200; i++) {
        int op = i % 10 == 3 ? OP_ABORT : i % 10 == 7 ? OP_KILL : OP_SQUARE;
        submit(p, job(op, i, 0), i);
    }
    /* The pool still serves while and after its workers die. */
    ok = job(OP_SQUARE, 12, 0);
    assert_int_equal(mproc_pool_apply(p, task, &ok, sizeof ok, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof(long long));
    assert_true(*(long long *)res == 144);
    mproc_free(res);
    finish(p);
    assert_int_equal(tally.lost, 40);
    assert_int_equal(tally.failed, 40);
    assert_int_equal(tally.ok, 160);
    for (i = 0; i < 200; i++)
        assert_int_equal(tally.seen[i], 1);
}

static void test_lost_worker_reports_exit_code(void **state)
{
    mproc_pool *p;
    mproc_async *a;
    const mproc_error *e;
    struct job j = job(OP_SEGV, 0, 0);
    double t0;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    t0 = tu_now_s();
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_EWORKER_LOST);
    /* Generous: it is about noticing at all, not speed (the benchmarks measure that). */
    assert_true(tu_now_s() - t0 < (tu_under_valgrind() ? 30.0 : 5.0));
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_EWORKER_LOST);
    assert_int_equal(e->exitcode, -11);
    mproc_async_release(a);

    j = job(OP_ABORT, 0, 0);
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_EWORKER_LOST);
    assert_int_equal(mproc_async_error(a)->exitcode, -6);
    mproc_async_release(a);
    finish(p);
}

static void test_task_timeout(void **state)
{
    mproc_pool *p;
    mproc_pool_options o;
    struct job slow = job(OP_SLEEP, 0, 30000), quick = job(OP_SQUARE, 5, 0);
    void *res;
    size_t len;
    double t0;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 2;
    /* The quick task runs on a fresh worker, within the same limit. */
    o.task_timeout_ms = tu_under_valgrind() ? 5000 : 500;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    t0 = tu_now_s();
    assert_int_equal(mproc_pool_apply(p, task, &slow, sizeof slow, &res, &len), MPROC_ETIMEDOUT);
    assert_true(tu_now_s() - t0 < (tu_under_valgrind() ? 20.0 : 10.0));
    assert_int_equal(mproc_pool_apply(p, task, &quick, sizeof quick, &res, &len), MPROC_OK);
    mproc_free(res);
    finish(p);
}

/* ---- worker lifecycle ---- */

static char init_log[512];

/* The log's path travels as the initializer's bytes: a spawned worker has none of the
 * parent's globals. Two workers may start at once: tu_append's lines land whole. */
static int initializer(const void *arg, size_t len)
{
    char path[512], line[32];
    if (len == 0 || len >= sizeof path || memchr(arg, '\0', len) != NULL)
        return 1;
    memcpy(path, arg, len);
    path[len] = '\0';
    snprintf(line, sizeof line, "%ld\n", mproc_getpid());
    return tu_append(path, line) == 0 ? 0 : 1;
}

static int count_pid_lines(long pid)
{
    FILE *f = fopen(init_log, "r");
    long v;
    int n = 0;
    if (f == NULL)
        return -1;
    while (fscanf(f, "%ld", &v) == 1)
        n += v == pid;
    fclose(f);
    return n;
}

static void test_initializer_and_max_tasks(void **state)
{
    mproc_pool *p;
    mproc_pool_options o;
    long pids[8];
    const char *tmp = getenv("TMPDIR");
    int i, k;
    (void)state;
#ifdef _WIN32
    if (tmp == NULL)
        tmp = getenv("TEMP");
#endif
    snprintf(init_log, sizeof init_log, "%s/mproc-init-%ld.log", tmp ? tmp : "/tmp",
             mproc_getpid());
    remove(init_log);
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = initializer;
    o.initarg = init_log;
    o.initarg_len = strlen(init_log);
    o.max_tasks_per_child = 1;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    for (i = 0; i < 8; i++) {
        struct job j = job(OP_PID, i, 0);
        void *res;
        size_t len;
        assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &res, &len), MPROC_OK);
        assert_int_equal(len, sizeof(long));
        memcpy(&pids[i], res, sizeof(long));
        mproc_free(res);
    }
    finish(p);
    for (i = 0; i < 8; i++) {
        for (k = 0; k < i; k++)
            assert_true(pids[i] != pids[k]);
        /* Every worker that ran a task ran the initializer first, exactly once. */
        assert_int_equal(count_pid_lines(pids[i]), 1);
    }
    remove(init_log);
}

static int failing_initializer(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 1;
}

static void test_failing_initializer_does_not_hang(void **state)
{
    mproc_pool *p;
    mproc_pool_options o;
    struct job j = job(OP_SQUARE, 2, 0);
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = failing_initializer;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    /* Python's Pool respawns such workers forever; we give up and say why. */
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_EWORKER_LOST);
    mproc_pool_destroy(p);
}

static void test_terminate_with_pending(void **state)
{
    mproc_pool *p;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (i = 0; i < 1000; i++)
        submit(p, job(OP_SLEEP, i, 50), i);
    tu_sleep_ms(100);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    /* Every task ended exactly once, most of them canceled, before terminate returned. */
    assert_int_equal(tally.ok + tally.failed, 1000);
    assert_true(tally.canceled >= 900);
    for (i = 0; i < 1000; i++)
        assert_int_equal(tally.seen[i], 1);
    assert_int_equal(mproc_pool_apply_async(p, task, &tally, 1, NULL, NULL, NULL, NULL),
                     MPROC_ESTATE);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void test_destroy_open_pool(void **state)
{
    mproc_pool *p;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (i = 0; i < 20; i++)
        submit(p, job(OP_SLEEP, i, 20), i);
    mproc_pool_destroy(p);
    assert_int_equal(tally.ok + tally.failed, 20);
}

/* ---- sizes ---- */

static void test_big_result(void **state)
{
    mproc_pool *p;
    struct job j = job(OP_BIG, 0, 0);
    unsigned char *res;
    size_t len, i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, (void **)&res, &len), MPROC_OK);
    assert_int_equal(len, BIG_RESULT);
    for (i = 0; i < BIG_RESULT; i += 4093)
        assert_int_equal(res[i], (unsigned char)(i * 31 + 7));
    assert_int_equal(res[BIG_RESULT - 1], (unsigned char)((BIG_RESULT - 1) * 31 + 7));
    mproc_free(res);

    j = job(OP_EMPTY, 0, 0);
    res = (unsigned char *)&j;
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, (void **)&res, &len), MPROC_OK);
    assert_int_equal(len, 0);
    mproc_free(res);
    finish(p);
}

static void test_big_argument(void **state)
{
    mproc_pool *p;
    size_t n = (size_t)16 << 20, i;
    unsigned char *arg = malloc(n), *res;
    size_t len;
    (void)state;
    assert_non_null(arg);
    for (i = 0; i < n; i++)
        arg[i] = (unsigned char)(i ^ (i >> 8));
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, echo, arg, n, (void **)&res, &len), MPROC_OK);
    assert_int_equal(len, n);
    assert_memory_equal(res, arg, n);
    mproc_free(res);
    free(arg);
    finish(p);
}

/* Answers small enough for the shared ring and answers too large for it (sent through the
 * pipe) interleave: each must reach its own task, whole, many times around the ring. */
static int sized(const void *arg, size_t len, mproc_output *out)
{
    static unsigned char buf[40000];
    int i;
    size_t n, k;
    if (len != sizeof i)
        return 1;
    memcpy(&i, arg, sizeof i);
    n = i % 7 == 0 ? sizeof buf : (size_t)(i % 100);
    for (k = 0; k < n; k++)
        buf[k] = (unsigned char)(i + k);
    return mproc_output_set(out, buf, n);
}

static int sized_bad;

static void on_sized(void *user, const void *result, size_t len)
{
    int i = (int)(intptr_t)user;
    const unsigned char *b = result;
    size_t k, n = i % 7 == 0 ? 40000 : (size_t)(i % 100);
    if (len != n)
        sized_bad++;
    for (k = 0; k < len && k < n; k++)
        if (b[k] != (unsigned char)(i + k)) {
            sized_bad++;
            break;
        }
    if (i >= 0 && i < 1000)
        tally.seen[i]++;
    tally.ok++;
}

static void test_mixed_result_sizes(void **state)
{
    mproc_pool *p;
    int i, round;
    (void)state;
    sized_bad = 0;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (round = 0; round < 5; round++)
        for (i = 0; i < 1000; i++)
            assert_int_equal(mproc_pool_apply_async(p, sized, &i, sizeof i, on_sized, on_error,
                                                    (void *)(intptr_t)i, NULL),
                             MPROC_OK);
    finish(p);
    assert_int_equal(sized_bad, 0);
    assert_int_equal(tally.failed, 0);
    assert_int_equal(tally.ok, 5000);
    for (i = 0; i < 1000; i++)
        assert_int_equal(tally.seen[i], 5);
}

/* ---- threads ---- */

struct thread_arg {
    mproc_pool *pool;
    int base;
    int errors;
};

static void submit_many(struct thread_arg *t)
{
    int i;
    for (i = 0; i < 100; i++) {
        struct job j = job(OP_SQUARE, t->base + i, 0);
        void *res;
        size_t len;
        if (i % 2) {
            if (mproc_pool_apply(t->pool, task, &j, sizeof j, &res, &len) != MPROC_OK ||
                *(long long *)res != (long long)(t->base + i) * (t->base + i))
                t->errors++;
            mproc_free(res);
        } else if (mproc_pool_apply_async(t->pool, task, &j, sizeof j, on_result, on_error,
                                          (void *)(intptr_t)(t->base + i), NULL) != MPROC_OK) {
            t->errors++;
        }
    }
}

#ifdef _WIN32
static unsigned __stdcall thread_main(void *arg)
{
    submit_many(arg);
    return 0;
}
#else
static void *thread_main(void *arg)
{
    submit_many(arg);
    return NULL;
}
#endif

static void test_submit_from_four_threads(void **state)
{
    mproc_pool *p;
    struct thread_arg args[4];
    int i;
#ifdef _WIN32
    HANDLE th[4];
#else
    pthread_t th[4];
#endif
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (i = 0; i < 4; i++) {
        args[i].pool = p;
        args[i].base = i * 100;
        args[i].errors = 0;
#ifdef _WIN32
        th[i] = (HANDLE)_beginthreadex(NULL, 0, thread_main, &args[i], 0, NULL);
        assert_non_null(th[i]);
#else
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
#endif
    }
    for (i = 0; i < 4; i++) {
#ifdef _WIN32
        WaitForSingleObject(th[i], INFINITE);
        CloseHandle(th[i]);
#else
        pthread_join(th[i], NULL);
#endif
        assert_int_equal(args[i].errors, 0);
    }
    finish(p);
    assert_int_equal(tally.ok, 200);
    for (i = 0; i < 400; i++)
        assert_int_equal(tally.seen[i], i % 2 ? 0 : 1);
}

/* ---- apply run by the calling thread (src/pool/lend.c) ---- */

/* Where the OS has a wait on shared memory across processes (a Linux futex; on Windows a named
 * event per word), an apply on an idle pool is run by the caller itself; elsewhere every apply
 * goes through the pool thread. */
static int direct_expected(void)
{
#if defined(__linux__) || defined(_WIN32)
    return 1;
#else
    return 0;
#endif
}

/* The pool's counters: at least min_done applies the caller completed, min_back it handed back
 * (where the caller can do it), else none of either. */
static void check_direct(mproc_pool *p, long min_done, long min_back)
{
    long done, back;
    mproc__pool_direct_stats(p, &done, &back);
    print_message("applies run by the caller: %ld, handed back: %ld\n", done, back);
    if (direct_expected()) {
        assert_true(done >= min_done);
        assert_true(back >= min_back);
    } else {
        assert_int_equal(done + back, 0);
    }
}

static void apply_ok(mproc_pool *p, struct job j)
{
    void *res;
    size_t len;
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &res, &len), MPROC_OK);
    mproc_free(res);
}

/* Answers that fit the ring, and those of 32 KiB or more (the worker's result area), come back
 * to the caller; one just under 32 KiB fits neither (its frame's head takes it past a quarter
 * of the ring) and comes through the pipe, and the caller hands its task back to the pool
 * thread: all give the same bytes. */
static void test_apply_direct_and_handed_back(void **state)
{
    static const int sizes[] = {0,         1, 100, 32 * 1024 - 200, 32 * 1024 - 20, 32 * 1024 + 200,
                                200 * 1024};
    mproc_pool *p;
    int round, k;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    apply_ok(p, job(OP_SQUARE, 3, 0));
    for (round = 0; round < 20; round++) {
        for (k = 0; k < (int)(sizeof sizes / sizeof sizes[0]); k++) {
            struct job j = job(OP_SIZED, sizes[k], 0);
            unsigned char *res;
            size_t len, i;
            void *out;
            assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &out, &len), MPROC_OK);
            res = out;
            assert_int_equal(len, (size_t)sizes[k]);
            for (i = 0; i < len; i++)
                if (res[i] != sized_byte(i, sizes[k]))
                    fail_msg("byte %lu of a %d-byte result differs", (unsigned long)i, sizes[k]);
            mproc_free(out);
        }
    }
    /* The pipe's are handed back; most others, after the first, are the caller's. */
    check_direct(p, 60, 20);
    finish(p);
}

/* A worker that dies running a caller's task: the task fails as any lost task does, and the
 * pool goes on. */
static void test_direct_apply_lost_worker(void **state)
{
    mproc_pool *p;
    struct job j;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (i = 0; i < 3; i++)
        apply_ok(p, job(OP_SQUARE, i, 0));
    j = job(OP_SEGV, 0, 0);
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_EWORKER_LOST);
    j = job(OP_ABORT, 0, 0);
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_EWORKER_LOST);
    j = job(OP_KILL, 0, 0);
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_EWORKER_LOST);
    for (i = 0; i < 50; i++) {
        long long *sq;
        size_t len;
        void *out;
        j = job(OP_SQUARE, i, 0);
        assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &out, &len), MPROC_OK);
        sq = out;
        assert_int_equal(len, sizeof *sq);
        assert_int_equal(*sq, (long long)i * i);
        mproc_free(out);
    }
    /* After the warm-up a worker is parked, so the first crash at least was the caller's. */
    check_direct(p, 2, 1);
    finish(p);
}

struct sleeper_arg {
    mproc_pool *pool;
    int id;
    int result;
};

static void run_sleeper(void *arg)
{
    struct sleeper_arg *a = arg;
    struct job j = job(OP_TOUCH_SLEEP, a->id, 20000);
    a->result = mproc_pool_apply(a->pool, task, &j, sizeof j, NULL, NULL);
}

/* terminate while another thread's apply runs on a worker it borrowed: the apply ends with
 * MPROC_ECANCELED at once, not when the task would have ended. */
static void test_terminate_during_direct_apply(void **state)
{
    mproc_pool *p;
    struct sleeper_arg a;
    char path[512];
    double t0;
    int i;
    tu_thread th;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    for (i = 0; i < 3; i++)
        apply_ok(p, job(OP_SQUARE, i, 0));
    a.pool = p;
    a.id = (int)mproc_getpid();
    a.result = 1;
    touch_path(path, sizeof path, a.id);
    remove(path);
    tu_thread_start(&th, run_sleeper, &a);
    /* The task runs once its file is there. */
    t0 = tu_now_s();
    for (;;) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            fclose(f);
            break;
        }
        assert_true(tu_now_s() - t0 < 60.0);
        tu_sleep_ms(10);
    }
    t0 = tu_now_s();
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    tu_thread_join(&th);
    remove(path);
    assert_int_equal(a.result, MPROC_ECANCELED);
    assert_true(tu_now_s() - t0 < 15.0);
    check_direct(p, 0, 1);
    mproc_pool_destroy(p);
}

static void test_hundred_workers(void **state)
{
    mproc_pool *p;
    mproc_results *r;
    static int items[1000];
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 100), MPROC_OK);
    assert_int_equal(mproc_pool_workers(p), 100);
    assert_int_equal(mproc_pool_map(p, tu_square_ll, items, sizeof items[0], 1000, 1, &r),
                     MPROC_OK);
    assert_int_equal(mproc_results_count(r), 1000);
    mproc_results_destroy(r);
    finish(p);
}

/* ---- resources ---- */

static long count_resources(void)
{
#ifdef _WIN32
    DWORD n = 0;
    GetProcessHandleCount(GetCurrentProcess(), &n);
    return (long)n;
#else
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n++;
    closedir(d);
    return n;
#endif
}

static long count_zombies(void)
{
#ifdef _WIN32
    return 0; /* Windows has no zombies: handles are counted instead. */
#else
    DIR *d = opendir("/proc");
    struct dirent *e;
    long n = 0, me = (long)getpid();
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512], *paren, st;
        long ppid;
        FILE *f;
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(buf, sizeof buf, f) != NULL && (paren = strrchr(buf, ')')) != NULL &&
            sscanf(paren + 1, " %c %ld", &st, &ppid) == 2 && st == 'Z' && ppid == me)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
#endif
}

static void test_no_leaks_after_many_pools(void **state)
{
    long fds, zombies;
    int i, rounds = tu_on_wine() ? 10 : 100;
    (void)state;
    {
        /* Warm up: the first pool may allocate lazily (thread stacks, loader). */
        mproc_pool *p;
        assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
        finish(p);
    }
    fds = count_resources();
    zombies = count_zombies();
    for (i = 0; i < rounds; i++) {
        mproc_pool *p;
        struct job j = job(OP_SQUARE, i, 0);
        assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
        assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_OK);
        if (i % 2)
            finish(p);
        else
            mproc_pool_destroy(p);
    }
    assert_int_equal(count_resources(), fds);
    assert_int_equal(count_zombies(), zombies);
}

/* ---- states and bad input ---- */

static void test_states_and_bad_input(void **state)
{
    mproc_pool *p;
    mproc_pool_options o;
    struct job j = job(OP_SQUARE, 1, 0);
    mproc_iter *it;
    mproc_results *r;
    mproc_async *a;
    (void)state;
    assert_int_equal(mproc_pool_create(NULL, 2), MPROC_EINVAL);
    assert_int_equal(mproc_pool_create_ex(&p, NULL), MPROC_EINVAL);
    memset(&o, 0, sizeof o);
    o.max_tasks_per_child = -1;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    memset(&o, 0, sizeof o);
    o.start_method = (mproc_start_method)42;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);

    assert_int_equal(mproc_pool_create(&p, 0), MPROC_OK);
    assert_int_equal(mproc_pool_workers(p), mproc_cpu_count());
    assert_int_equal(mproc_pool_apply(NULL, task, &j, sizeof j, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pool_apply(p, NULL, &j, sizeof j, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pool_apply(p, task, NULL, 4, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pool_apply_async(p, task, NULL, 4, NULL, NULL, NULL, &a), MPROC_EINVAL);
    assert_null(a);
    assert_int_equal(mproc_pool_map(p, tu_square_ll, NULL, 4, 10, 0, &r), MPROC_EINVAL);
    assert_int_equal(mproc_pool_imap(p, tu_square_ll, NULL, 4, 10, 0, &it), MPROC_EINVAL);
    assert_int_equal(mproc_pool_imap(p, tu_square_ll, &j, 4, 1, 0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_iter_next(NULL, 0, NULL, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_async_wait(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_async_ready(NULL), 0);
    assert_null(mproc_async_error(NULL));
    assert_null(mproc_results_error(NULL, 0));
    assert_int_equal(mproc_results_count(NULL), 0);
    mproc_results_destroy(NULL);
    mproc_iter_destroy(NULL);
    mproc_async_release(NULL);
    mproc_pool_destroy(NULL);
    assert_int_equal(mproc_pool_close(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pool_join(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pool_terminate(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_output_set(NULL, "x", 1), MPROC_EINVAL);
    assert_int_equal(mproc_output_fail(NULL, "x"), MPROC_EINVAL);

    /* Python's rules: join needs close first; nothing enters after close. */
    assert_int_equal(mproc_pool_join(p), MPROC_ESTATE);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, NULL, NULL), MPROC_ESTATE);
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, NULL),
                     MPROC_ESTATE);
    assert_int_equal(mproc_pool_map(p, tu_square_ll, &j, 4, 1, 0, &r), MPROC_ESTATE);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    mproc_pool_destroy(p);
}

/* A handle may outlive its pool: destroy waits for nothing, and the handle still answers. */
static void test_handle_outlives_pool(void **state)
{
    mproc_pool *p;
    mproc_async *a;
    struct job j = job(OP_SQUARE, 9, 0);
    const void *d;
    size_t len;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, &a), MPROC_OK);
    finish(p);
    assert_int_equal(mproc_async_get(a, 0, &d, &len), MPROC_OK);
    assert_true(*(const long long *)d == 81);
    mproc_async_release(a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_seed_apply_is_serial, reset),
        cmocka_unit_test_setup(test_seed_apply_async_is_parallel, reset),
        cmocka_unit_test_setup(test_every_callback_exactly_once, reset),
        cmocka_unit_test_setup(test_failure_message_reaches_caller, reset),
        cmocka_unit_test_setup(test_async_handle_timeouts, reset),
        cmocka_unit_test_setup(test_map_squares_in_order, reset),
        cmocka_unit_test_setup(test_map_large_chunks, reset),
        cmocka_unit_test_setup(test_map_item_failure_is_per_item, reset),
        cmocka_unit_test_setup(test_imap_unordered_each_index_once, reset),
        cmocka_unit_test_setup(test_imap_ordered, reset),
        cmocka_unit_test_setup(test_imap_destroy_early, reset),
        cmocka_unit_test_setup(test_crash_storm, reset),
        cmocka_unit_test_setup(test_lost_worker_reports_exit_code, reset),
        cmocka_unit_test_setup(test_task_timeout, reset),
        cmocka_unit_test_setup(test_initializer_and_max_tasks, reset),
        cmocka_unit_test_setup(test_failing_initializer_does_not_hang, reset),
        cmocka_unit_test_setup(test_terminate_with_pending, reset),
        cmocka_unit_test_setup(test_destroy_open_pool, reset),
        cmocka_unit_test_setup(test_big_result, reset),
        cmocka_unit_test_setup(test_big_argument, reset),
        cmocka_unit_test_setup(test_mixed_result_sizes, reset),
        cmocka_unit_test_setup(test_submit_from_four_threads, reset),
        cmocka_unit_test_setup(test_apply_direct_and_handed_back, reset),
        cmocka_unit_test_setup(test_direct_apply_lost_worker, reset),
        cmocka_unit_test_setup(test_terminate_during_direct_apply, reset),
        cmocka_unit_test_setup(test_hundred_workers, reset),
        cmocka_unit_test_setup(test_no_leaks_after_many_pools, reset),
        cmocka_unit_test_setup(test_states_and_bad_input, reset),
        cmocka_unit_test_setup(test_handle_outlives_pool, reset),
    };
    return TU_RUN_SUITE(argc, argv, "pool", tests);
}
