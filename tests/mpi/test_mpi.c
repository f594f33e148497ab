/* The pool's semantics with MPI ranks as workers: run under `mpiexec -n 3` (tests/mpi/run.sh).
 * Rank 0 runs the cmocka suite; ranks 1 and 2 serve inside mproc_mpi_init. Every wait is bounded;
 * a pool that lost its ranks fails the test instead of hanging it. */
#define _GNU_SOURCE
#include "testutil.h"

#include "mproc_mpi.h"
#include "testhooks.h"

#include <dlfcn.h>

#define WAIT_MS 60000L

/* ---- tasks -------------------------------------------------------------------------------- */

static int init_calls; /* per worker process */
static int init_value;

static int initializer(const void *arg, size_t len)
{
    init_calls++;
    if (len == sizeof init_value)
        memcpy(&init_value, arg, sizeof init_value);
    return 0;
}

/* {x*x, rank, pid, init_calls, init_value} */
typedef struct answer {
    long sq;
    long rank;
    long pid;
    long init_calls;
    long init_value;
} answer;

static int probe(const void *arg, size_t len, mproc_output *out)
{
    answer a;
    int x = 0;
    if (len == sizeof x)
        memcpy(&x, arg, sizeof x);
    a.sq = (long)x * x;
    a.rank = mproc_mpi_rank();
    a.pid = (long)getpid();
    a.init_calls = init_calls;
    a.init_value = init_value;
    return mproc_output_set(out, &a, sizeof a) == MPROC_OK ? 0 : 1;
}

static int failing(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    mproc_output_fail(out, "failed on rank %d", mproc_mpi_rank());
    return 7;
}

static int crashing(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    abort();
}

static int garbage(const void *arg, size_t len, mproc_output *out)
{
    static const unsigned char junk[] = {0xff, 0xff, 0xff, 0x7f, 0x99, 0x42, 1, 2, 3, 4, 5, 6};
    intptr_t ch = mproc__worker_channel();
    (void)arg;
    (void)len;
    (void)out;
    if (ch >= 0 && write((int)ch, junk, sizeof junk) < 0)
        return 1;
    /* Read while the task runs, as test_garbage's: then it is pinned on this task. */
    tu_sleep_ms(300);
    return 0;
}

/* Writes its pid into the file named by the argument, then sleeps for a minute. */
static int sleeper(const void *arg, size_t len, mproc_output *out)
{
    char path[512];
    FILE *f;
    (void)out;
    if (len == 0 || len >= sizeof path)
        return 1;
    memcpy(path, arg, len);
    path[len] = '\0';
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    tu_sleep_ms(60000);
    return 0;
}

/* The sum of the argument's bytes. */
static int checksum(const void *arg, size_t len, mproc_output *out)
{
    const unsigned char *p = arg;
    uint64_t s = 0;
    size_t i;
    for (i = 0; i < len; i++)
        s += p[i];
    return mproc_output_set(out, &s, sizeof s) == MPROC_OK ? 0 : 1;
}

/* A result of the size asked for, byte i = i * 7. */
static int big_result(const void *arg, size_t len, mproc_output *out)
{
    size_t n, i;
    unsigned char *b;
    int r;
    if (len != sizeof n)
        return 1;
    memcpy(&n, arg, sizeof n);
    b = malloc(n);
    if (b == NULL)
        return 2;
    for (i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7);
    r = mproc_output_set(out, b, n);
    free(b);
    return r == MPROC_OK ? 0 : 3;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static mproc_pool *mpi_pool(int workers, mproc_initializer init, const void *initarg,
                            size_t initarg_len, int max_tasks)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    memset(&o, 0, sizeof o);
    o.workers = workers;
    o.start_method = MPROC_START_MPI;
    o.initializer = init;
    o.initarg = initarg;
    o.initarg_len = initarg_len;
    o.max_tasks_per_child = max_tasks;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    return p;
}

static void finish(mproc_pool *p)
{
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static answer get_answer(const void *data, size_t len)
{
    answer a;
    assert_int_equal(len, sizeof a);
    memcpy(&a, data, sizeof a);
    return a;
}

/* Maps probe over the ints 0 .. n - 1, written to xs, in chunks of chunksize: the results. */
static mproc_results *map_probe(mproc_pool *p, int *xs, size_t n, size_t chunksize)
{
    mproc_results *r = NULL;
    size_t i;
    for (i = 0; i < n; i++)
        xs[i] = (int)i;
    assert_int_equal(mproc_pool_map(p, probe, xs, sizeof xs[0], n, chunksize, &r), MPROC_OK);
    return r;
}

/* The answer of item i of a map of probe (the item must have succeeded). */
static answer answer_at(mproc_results *r, size_t i)
{
    const void *data;
    size_t len;
    assert_int_equal(mproc_results_get(r, i, &data, &len), MPROC_OK);
    return get_answer(data, len);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* mproc_mpi.h's bad input (docs/bad-input.md says where the core's rows are). */
static void test_bad_input(void **state)
{
    int argc = 0;
    char **argv = NULL;
    (void)state;
    assert_int_equal(mproc_mpi_init(NULL, &argv), MPROC_EINVAL);
    assert_int_equal(mproc_mpi_init(&argc, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_mpi_init(&argc, &argv), MPROC_OK); /* a second call: nothing to do */
    assert_string_equal(mproc_mpi_last_error(), "");
}

static void test_ranks(void **state)
{
    (void)state;
    assert_int_equal(mproc_mpi_rank(), 0);
    assert_int_equal(mproc_mpi_ranks(), 2);
}

static void test_apply(void **state)
{
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    int x = 12;
    void *res = NULL;
    size_t len = 0;
    answer a;
    (void)state;
    assert_int_equal(mproc_pool_apply(p, probe, &x, sizeof x, &res, &len), MPROC_OK);
    a = get_answer(res, len);
    assert_int_equal(a.sq, 144);
    assert_true(a.rank == 1 || a.rank == 2);
    assert_true(a.pid != (long)getpid());
    mproc_free(res);
    finish(p);
}

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static int cb_ok, cb_err, cb_ranks;

static void on_result(void *user, const void *data, size_t len)
{
    answer a = get_answer(data, len);
    (void)user;
    pthread_mutex_lock(&cb_lock);
    if (a.sq == (long)(intptr_t)user * (long)(intptr_t)user)
        cb_ok++;
    cb_ranks |= 1 << (int)a.rank;
    pthread_mutex_unlock(&cb_lock);
}

static void on_error(void *user, const mproc_error *err)
{
    (void)user;
    pthread_mutex_lock(&cb_lock);
    if (err->code == MPROC_ETASK && err->status == 7 && strstr(err->message, "failed on rank"))
        cb_err++;
    pthread_mutex_unlock(&cb_lock);
}

static void test_apply_async_callbacks(void **state)
{
    enum { N = 400 };
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    mproc_async *h[N + 10];
    int xs[N], i;
    (void)state;
    cb_ok = cb_err = cb_ranks = 0;
    for (i = 0; i < N; i++) {
        xs[i] = i;
        assert_int_equal(mproc_pool_apply_async(p, probe, &xs[i], sizeof xs[i], on_result, on_error,
                                                (void *)(intptr_t)i, &h[i]),
                         MPROC_OK);
    }
    for (i = 0; i < 10; i++)
        assert_int_equal(
            mproc_pool_apply_async(p, failing, NULL, 0, on_result, on_error, NULL, &h[N + i]),
            MPROC_OK);
    for (i = 0; i < N + 10; i++) {
        assert_int_equal(mproc_async_wait(h[i], WAIT_MS), MPROC_OK);
        mproc_async_release(h[i]);
    }
    pthread_mutex_lock(&cb_lock);
    assert_int_equal(cb_ok, N);
    assert_int_equal(cb_err, 10);
    assert_int_equal(cb_ranks, (1 << 1) | (1 << 2)); /* both ranks served */
    pthread_mutex_unlock(&cb_lock);
    finish(p);
}

static void check_map(mproc_pool *p, size_t chunksize)
{
    enum { N = 1000 };
    static int xs[N];
    mproc_results *r = map_probe(p, xs, N, chunksize);
    size_t i;
    assert_int_equal(mproc_results_count(r), N);
    for (i = 0; i < N; i++)
        assert_int_equal(answer_at(r, i).sq, (long)i * (long)i);
    mproc_results_destroy(r);
}

static void test_map_chunksizes(void **state)
{
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    (void)state;
    check_map(p, 0);
    check_map(p, 1);
    check_map(p, 7);
    finish(p);
}

static void test_imap(void **state)
{
    enum { N = 300 };
    static int xs[N];
    static char seen[N];
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    int ordered;
    (void)state;
    for (ordered = 1; ordered >= 0; ordered--) {
        mproc_iter *it = NULL;
        const void *data;
        size_t i, len, index, n = 0;
        int rc;
        for (i = 0; i < N; i++)
            xs[i] = (int)i;
        memset(seen, 0, sizeof seen);
        if (ordered)
            assert_int_equal(mproc_pool_imap(p, probe, xs, sizeof xs[0], N, 3, &it), MPROC_OK);
        else
            assert_int_equal(mproc_pool_imap_unordered(p, probe, xs, sizeof xs[0], N, 3, &it),
                             MPROC_OK);
        while ((rc = mproc_iter_next(it, WAIT_MS, &index, &data, &len)) != MPROC_EEND) {
            assert_int_equal(rc, MPROC_OK);
            assert_true(index < N);
            if (ordered)
                assert_int_equal(index, n);
            assert_int_equal(seen[index], 0);
            seen[index] = 1;
            assert_int_equal(get_answer(data, len).sq, (long)index * (long)index);
            n++;
        }
        assert_int_equal(n, N);
        mproc_iter_destroy(it);
    }
    finish(p);
}

static void test_task_errors(void **state)
{
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    mproc_async *a = NULL;
    const mproc_error *e;
    int x = 3;
    void *res = NULL;
    size_t len;
    (void)state;
    /* A task's failure fails that task only. */
    assert_int_equal(mproc_pool_apply_async(p, failing, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_ETASK);
    assert_int_equal(e->status, 7);
    mproc_async_release(a);
    /* A crash costs its worker (the rank starts another) and the task. */
    assert_int_equal(mproc_pool_apply_async(p, crashing, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_EWORKER_LOST);
    assert_int_equal(e->exitcode, -SIGABRT);
    mproc_async_release(a);
    /* Garbage from a worker fails the task that sent it (run twice, as locally), nothing else. */
    assert_int_equal(mproc_pool_apply_async(p, garbage, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_EPROTO);
    mproc_async_release(a);
    assert_int_equal(mproc_pool_apply(p, probe, &x, sizeof x, &res, &len), MPROC_OK);
    assert_int_equal(get_answer(res, len).sq, 9);
    mproc_free(res);
    finish(p);
}

static void test_enofunc(void **state)
{
    char dir[] = "/tmp/mproc-mpi-XXXXXX", path[600], cmd[1400];
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    mproc_task fn;
    mproc_async *a = NULL;
    void *lib;
    (void)state;
    /* A library rank 0 loaded from a file the other ranks cannot find (as on another host
     * without it): the task fails with MPROC_ENOFUNC, the pool goes on. */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/libmproc_testdyn_copy.so", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", MPROC_TESTDYN, path);
    assert_int_equal(system(cmd), 0);
    lib = dlopen(path, RTLD_NOW);
    assert_non_null(lib);
    fn = (mproc_task)(uintptr_t)dlsym(lib, "testdyn_task");
    assert_non_null((void *)(uintptr_t)fn);
    /* Found where it exists: it runs (status 77 proves it got its argument). */
    assert_int_equal(
        mproc_pool_apply_async(p, fn, "testdyn-arg", sizeof "testdyn-arg", NULL, NULL, NULL, &a),
        MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_async_error(a)->status, 77);
    mproc_async_release(a);
    finish(p);
    p = mpi_pool(0, NULL, NULL, 0, 0);
    assert_int_equal(unlink(path), 0);
    rmdir(dir);
    assert_int_equal(
        mproc_pool_apply_async(p, fn, "testdyn-arg", sizeof "testdyn-arg", NULL, NULL, NULL, &a),
        MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    assert_non_null(mproc_async_error(a));
    assert_int_equal(mproc_async_error(a)->code, MPROC_ENOFUNC);
    mproc_async_release(a);
    finish(p);
    dlclose(lib);
}

static void test_close_join(void **state)
{
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    mproc_async *a = NULL;
    int x = 5;
    (void)state;
    assert_int_equal(mproc_pool_apply_async(p, probe, &x, sizeof x, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(p, probe, &x, sizeof x, NULL, NULL, NULL, NULL),
                     MPROC_ESTATE);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(mproc_async_ready(a), 1);
    assert_null(mproc_async_error(a));
    mproc_async_release(a);
    mproc_pool_destroy(p);
}

static long read_pid(const char *path)
{
    long pid = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid;
}

static void test_terminate(void **state)
{
    enum { N = 6 };
    char dir[] = "/tmp/mproc-mpi-XXXXXX", paths[N][600];
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    mproc_async *h[N];
    long pids[2] = {0, 0};
    uint64_t t0;
    int i, found = 0;
    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < N; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/pid%d", dir, i);
        assert_int_equal(
            mproc_pool_apply_async(p, sleeper, paths[i], strlen(paths[i]), NULL, NULL, NULL, &h[i]),
            MPROC_OK);
    }
    /* Both workers are running a sleeper: their pids are written. */
    t0 = tu_now_ms();
    while (found < 2 && tu_now_ms() - t0 < (uint64_t)WAIT_MS) {
        found = 0;
        for (i = 0; i < N && found < 2; i++)
            if ((pids[found] = read_pid(paths[i])) > 0)
                found++;
        tu_sleep_ms(20);
    }
    assert_int_equal(found, 2);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    assert_true(tu_now_ms() - t0 < 20000);
    for (i = 0; i < N; i++) {
        assert_int_equal(mproc_async_ready(h[i]), 1);
        assert_int_equal(mproc_async_error(h[i])->code, MPROC_ECANCELED);
        mproc_async_release(h[i]);
    }
    mproc_pool_destroy(p);
    /* The running tasks end on their ranks too (the ranks kill and reap their workers). */
    for (i = 0; i < 2; i++) {
        t0 = tu_now_ms();
        while (kill((pid_t)pids[i], 0) == 0 && tu_now_ms() - t0 < 20000)
            tu_sleep_ms(20);
        assert_int_equal(kill((pid_t)pids[i], 0), -1);
    }
    for (i = 0; i < N; i++)
        unlink(paths[i]);
    rmdir(dir);
}

static void test_initializer(void **state)
{
    enum { N = 60 };
    static int xs[N];
    int value = 4242, i, ranks = 0;
    mproc_pool *p = mpi_pool(0, initializer, &value, sizeof value, 0);
    mproc_results *r = map_probe(p, xs, N, 1);
    (void)state;
    for (i = 0; i < N; i++) {
        answer a = answer_at(r, (size_t)i);
        assert_int_equal(a.init_calls, 1); /* once per worker, one worker per rank */
        assert_int_equal(a.init_value, 4242);
        ranks |= 1 << (int)a.rank;
    }
    assert_int_equal(ranks, (1 << 1) | (1 << 2));
    mproc_results_destroy(r);
    finish(p);
}

static void test_max_tasks(void **state)
{
    enum { N = 40 };
    static int xs[N];
    long pids[N];
    int i, j, distinct = 0;
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 5);
    mproc_results *r = map_probe(p, xs, N, 2);
    (void)state;
    for (i = 0; i < N; i++) {
        answer a = answer_at(r, (size_t)i);
        assert_int_equal(a.sq, (long)i * i);
        pids[i] = a.pid;
        for (j = 0; j < i && pids[j] != a.pid; j++) {
        }
        distinct += j == i;
    }
    assert_true(distinct >= N / 5); /* workers were replaced on their ranks */
    mproc_results_destroy(r);
    finish(p);
}

static void test_big(void **state)
{
    size_t n = (size_t)16 << 20, i;
    unsigned char *arg = malloc(n);
    uint64_t want = 0, got;
    mproc_pool *p = mpi_pool(0, NULL, NULL, 0, 0);
    void *res = NULL;
    size_t len = 0, want_len = (size_t)64 << 20;
    (void)state;
    assert_non_null(arg);
    for (i = 0; i < n; i++) {
        arg[i] = (unsigned char)(i * 13 + 1);
        want += arg[i];
    }
    assert_int_equal(mproc_pool_apply(p, checksum, arg, n, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof got);
    memcpy(&got, res, sizeof got);
    assert_true(got == want);
    mproc_free(res);
    free(arg);
    assert_int_equal(mproc_pool_apply(p, big_result, &want_len, sizeof want_len, &res, &len),
                     MPROC_OK);
    assert_int_equal(len, want_len);
    for (i = 0; i < len; i += 4093)
        assert_int_equal(((unsigned char *)res)[i], (unsigned char)(i * 7));
    mproc_free(res);
    finish(p);
}

/* A task past the pool's task timeout: its (remote) worker is killed, the task fails with
 * MPROC_ETIMEDOUT, the pool goes on. */
static void test_task_timeout(void **state)
{
    char dir[] = "/tmp/mproc-mpi-XXXXXX", path[600];
    mproc_pool_options o;
    mproc_pool *p = NULL;
    mproc_async *a = NULL;
    void *res = NULL;
    size_t len;
    long pid;
    int x = 6;
    uint64_t t0;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pid", dir);
    memset(&o, 0, sizeof o);
    o.start_method = MPROC_START_MPI;
    o.task_timeout_ms = 500;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_apply_async(p, sleeper, path, strlen(path), NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    assert_true(tu_now_ms() - t0 < 30000);
    assert_non_null(mproc_async_error(a));
    assert_int_equal(mproc_async_error(a)->code, MPROC_ETIMEDOUT);
    mproc_async_release(a);
    pid = read_pid(path);
    assert_true(pid > 0);
    t0 = tu_now_ms();
    while (kill((pid_t)pid, 0) == 0 && tu_now_ms() - t0 < 20000)
        tu_sleep_ms(20);
    assert_int_equal(kill((pid_t)pid, 0), -1); /* killed on its rank */
    assert_int_equal(mproc_pool_apply(p, probe, &x, sizeof x, &res, &len), MPROC_OK);
    assert_int_equal(get_answer(res, len).sq, 36);
    mproc_free(res);
    finish(p);
    unlink(path);
    rmdir(dir);
}

static void test_env_method(void **state)
{
    mproc_pool *p = NULL;
    int x = 2;
    void *res = NULL;
    size_t len;
    (void)state;
    setenv("MPROC_START_METHOD", "mpi", 1);
    assert_int_equal(mproc_pool_create(&p, 0), MPROC_OK);
    unsetenv("MPROC_START_METHOD");
    assert_int_equal(mproc_pool_apply(p, probe, &x, sizeof x, &res, &len), MPROC_OK);
    assert_true(get_answer(res, len).rank >= 1);
    mproc_free(res);
    finish(p);
    /* More workers than ranks: spread round robin, all serving. */
    p = mpi_pool(5, NULL, NULL, 0, 0);
    check_map(p, 1);
    finish(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_ranks),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_apply_async_callbacks),
        cmocka_unit_test(test_map_chunksizes),
        cmocka_unit_test(test_imap),
        cmocka_unit_test(test_task_errors),
        cmocka_unit_test(test_enofunc),
        cmocka_unit_test(test_close_join),
        cmocka_unit_test(test_terminate),
        cmocka_unit_test(test_initializer),
        cmocka_unit_test(test_max_tasks),
        cmocka_unit_test(test_big),
        cmocka_unit_test(test_task_timeout),
        cmocka_unit_test(test_env_method),
    };
    int rc = mproc_mpi_init(&argc, &argv);
    if (rc < 0) {
        fprintf(stderr, "mproc_mpi_init: %s: %s\n", mproc_strerror(rc), mproc_mpi_last_error());
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
