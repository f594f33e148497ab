/* Signals (POSIX): an application's SIGCHLD handler stays installed through process and pool use
 * and still receives its signals; a signal the application handles (SIGUSR1, installed without
 * SA_RESTART so every blocking system call it lands in fails with EINTR) arriving again and again
 * during a blocking call does not fail the call: process start and join, pool create, apply,
 * apply_async's wait and get, map, imap's next and pool join.
 *
 * The signals come from a thread of the test (to the main thread, and to the whole process) and
 * from the children themselves (a process target or a task that signals its parent). Windows has
 * no such signals: each case skips there with the reason. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#define CHILD_MS 300L

#ifdef _WIN32

static void skip_on_windows(void **state)
{
    (void)state;
    print_message("skipped: POSIX signals (SIGCHLD, SIGUSR1 and EINTR) do not exist on Windows\n");
    skip();
}

static void test_sigchld_handler_stays_installed(void **state)
{
    skip_on_windows(state);
}

static void test_signal_during_process_calls(void **state)
{
    skip_on_windows(state);
}

static void test_sigchld_ignored(void **state)
{
    skip_on_windows(state);
}

static void test_signal_during_pool_calls(void **state)
{
    skip_on_windows(state);
}

#else

static volatile sig_atomic_t sigchld_count;
static volatile sig_atomic_t sigusr1_count;

static void on_sigchld(int sig)
{
    (void)sig;
    sigchld_count++;
}

static void on_sigusr1(int sig)
{
    (void)sig;
    sigusr1_count++;
}

/* Signals its parent every millisecond for CHILD_MS, then exits with 7. */
static int t_signal_parent(const void *arg, size_t len)
{
    uint64_t end = tu_now_ms() + CHILD_MS;
    pid_t parent = getppid();
    (void)arg;
    (void)len;
    while (tu_now_ms() < end) {
        kill(parent, SIGUSR1);
        tu_sleep_ms(1);
    }
    return 7;
}

static int t_sleep(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_sleep_ms(CHILD_MS);
    return 5;
}

/* A task that signals the pool's process (its worker's parent) for CHILD_MS, then answers its
 * argument squared. */
static int task_signal_parent(const void *arg, size_t len, mproc_output *out)
{
    uint64_t end = tu_now_ms() + CHILD_MS / 3;
    pid_t parent = getppid();
    int v = 0;
    if (len == sizeof v) {
        memcpy(&v, arg, sizeof v);
    }
    while (tu_now_ms() < end) {
        kill(parent, SIGUSR1);
        tu_sleep_ms(1);
    }
    v *= v;
    return mproc_output_set(out, &v, sizeof v);
}

/* ---- a thread that keeps signalling the main thread and the process ---- */

struct sender {
    volatile long stop;
    volatile long sent;
    pthread_t target;
};

static void sender_main(void *arg)
{
    struct sender *s = arg;
    sigset_t set;
    long n = 0;
    /* Not to this thread: the process-directed signals must land in the main thread. */
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (!tu_atomic_load(&s->stop)) {
        if (n % 2 == 0) {
            pthread_kill(s->target, SIGUSR1);
        } else {
            kill(getpid(), SIGUSR1);
        }
        n++;
        tu_sleep_ms(1);
    }
    tu_atomic_store(&s->sent, n);
}

static void install(int sig, void (*handler)(int), int flags, struct sigaction *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(sig, &sa, old), 0);
}

static void start_sender(struct sender *s, tu_thread *t)
{
    memset(s, 0, sizeof *s);
    s->target = pthread_self();
    tu_thread_start(t, sender_main, s);
}

static long stop_sender(struct sender *s, tu_thread *t)
{
    tu_atomic_store(&s->stop, 1);
    tu_thread_join(t);
    return tu_atomic_load(&s->sent);
}

static void test_sigchld_handler_stays_installed(void **state)
{
    struct sigaction old, now;
    mproc_process *p = NULL;
    mproc_pool *pool = NULL;
    mproc_results *r = NULL;
    int items[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v = 3, code = -1, i;
    (void)state;

    sigchld_count = 0;
    install(SIGCHLD, on_sigchld, SA_RESTART | SA_NOCLDSTOP, &old);

    for (i = 0; i < 5; i++) {
        assert_int_equal(mproc_process_create(&p, tu_return, &v, sizeof v), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
        assert_int_equal(code, 3);
        mproc_process_destroy(p);
    }
    assert_int_equal(mproc_pool_create(&pool, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(pool, tu_square, &v, sizeof v, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_map(pool, tu_square, items, sizeof items[0], 8, 1, &r), MPROC_OK);
    mproc_results_destroy(r);
    assert_int_equal(mproc_pool_close(pool), MPROC_OK);
    assert_int_equal(mproc_pool_join(pool), MPROC_OK);
    mproc_pool_destroy(pool);

    assert_int_equal(sigaction(SIGCHLD, NULL, &now), 0);
    print_message("SIGCHLD handler received %d signals from 5 processes and a pool of 2\n",
                  (int)sigchld_count);
    assert_true(now.sa_handler == on_sigchld);
    assert_true((now.sa_flags & (SA_RESTART | SA_NOCLDSTOP)) == (SA_RESTART | SA_NOCLDSTOP));
    assert_true(sigchld_count > 0);
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

/* With SIGCHLD ignored the kernel reaps children itself and keeps no status: join must still
 * say the child ended with its true code (a pidfd keeps it, or the child reported its return
 * value before it exited: never a false 0), and a pool must still notice its workers. */
static void test_sigchld_ignored(void **state)
{
    struct sigaction old;
    mproc_process *p = NULL;
    mproc_pool *pool = NULL;
    int v = 3, code = -1;
    (void)state;

    install(SIGCHLD, SIG_IGN, 0, &old);
    assert_int_equal(mproc_process_create(&p, tu_return, &v, sizeof v), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 3);
    assert_int_equal(mproc_process_is_alive(p), 0);
    mproc_process_destroy(p);
    assert_int_equal(mproc_pool_create(&pool, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(pool, tu_square, &v, sizeof v, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_close(pool), MPROC_OK);
    assert_int_equal(mproc_pool_join(pool), MPROC_OK);
    mproc_pool_destroy(pool);
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

static void test_signal_during_process_calls(void **state)
{
    struct sigaction old;
    struct sender s;
    tu_thread t;
    mproc_process *p = NULL;
    int code = -1, start_r, join_r, join2_r = 0;
    long sent;
    (void)state;

    sigusr1_count = 0;
    install(SIGUSR1, on_sigusr1, 0 /* no SA_RESTART: EINTR everywhere */, &old);
    start_sender(&s, &t);

    /* Signalled by the thread while joining without limit... */
    assert_int_equal(mproc_process_create(&p, t_sleep, NULL, 0), MPROC_OK);
    start_r = mproc_process_start(p);
    join_r = start_r == MPROC_OK ? mproc_process_join(p, MPROC_FOREVER) : start_r;
    if (join_r == MPROC_OK) {
        mproc_process_exitcode(p, &code);
    }
    mproc_process_destroy(p);
    /* ...and with a limit it does not reach, and by the child itself. */
    p = NULL;
    if (mproc_process_create(&p, t_signal_parent, NULL, 0) == MPROC_OK &&
        mproc_process_start(p) == MPROC_OK) {
        join2_r = mproc_process_join(p, 30000);
        if (join2_r == MPROC_OK) {
            int c = -1;
            mproc_process_exitcode(p, &c);
            join2_r = c == 7 ? MPROC_OK : MPROC_EPROTO;
        }
    }
    mproc_process_destroy(p);

    sent = stop_sender(&s, &t);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    print_message("%ld signals sent by a thread, %d handled during start and join\n", sent,
                  (int)sigusr1_count);
    assert_int_equal(start_r, MPROC_OK);
    assert_int_equal(join_r, MPROC_OK);
    assert_int_equal(code, 5);
    assert_int_equal(join2_r, MPROC_OK);
    assert_true(sigusr1_count > 0);
}

static void test_signal_during_pool_calls(void **state)
{
    struct sigaction old;
    struct sender s;
    tu_thread t;
    mproc_pool *pool = NULL;
    mproc_async *a = NULL;
    mproc_results *r = NULL;
    mproc_iter *it = NULL;
    int items[6] = {1, 2, 3, 4, 5, 6}, v = 9, rc[8], i, *res = NULL;
    size_t len = 0, index = 0, n = 0;
    const void *data = NULL;
    long sent;
    (void)state;

    for (i = 0; i < 8; i++) {
        rc[i] = -100;
    }
    sigusr1_count = 0;
    install(SIGUSR1, on_sigusr1, 0, &old);
    start_sender(&s, &t);

    rc[0] = mproc_pool_create(&pool, 2);
    if (rc[0] == MPROC_OK) {
        /* apply: the worker signals the parent too, while the parent waits. */
        rc[1] = mproc_pool_apply(pool, task_signal_parent, &v, sizeof v, (void **)&res, &len);
        if (rc[1] == MPROC_OK && (len != sizeof v || *res != 81)) {
            rc[1] = MPROC_EPROTO;
        }
        mproc_free(res);
        rc[2] =
            mproc_pool_apply_async(pool, task_signal_parent, &v, sizeof v, NULL, NULL, NULL, &a);
        if (rc[2] == MPROC_OK) {
            rc[2] = mproc_async_wait(a, 30000);
            rc[3] = mproc_async_get(a, MPROC_FOREVER, &data, &len);
            if (rc[3] == MPROC_OK && (len != sizeof v || memcmp(data, &(int){81}, sizeof v) != 0)) {
                rc[3] = MPROC_EPROTO;
            }
            mproc_async_release(a);
        }
        rc[4] = mproc_pool_map(pool, task_signal_parent, items, sizeof items[0], 6, 1, &r);
        if (rc[4] == MPROC_OK) {
            for (n = 0; n < 6; n++) {
                if (mproc_results_get(r, n, &data, &len) != MPROC_OK) {
                    rc[4] = MPROC_EPROTO;
                }
            }
            mproc_results_destroy(r);
        }
        rc[5] = mproc_pool_imap(pool, task_signal_parent, items, sizeof items[0], 6, 1, &it);
        if (rc[5] == MPROC_OK) {
            n = 0;
            while ((rc[5] = mproc_iter_next(it, MPROC_FOREVER, &index, &data, &len)) == MPROC_OK) {
                n++;
            }
            rc[5] = rc[5] == MPROC_EEND && n == 6 ? MPROC_OK : rc[5];
            mproc_iter_destroy(it);
        }
        /* join waits for a task still running. */
        rc[6] =
            mproc_pool_apply_async(pool, task_signal_parent, &v, sizeof v, NULL, NULL, NULL, NULL);
        mproc_pool_close(pool);
        rc[7] = mproc_pool_join(pool);
        mproc_pool_destroy(pool);
    }

    sent = stop_sender(&s, &t);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    print_message("%ld signals sent by a thread (and more by the tasks), %d handled during pool "
                  "calls\n",
                  sent, (int)sigusr1_count);
    for (i = 0; i < 8; i++) {
        if (rc[i] != MPROC_OK) {
            print_message("call %d returned %s\n", i, mproc_error_name(rc[i]));
        }
    }
    assert_int_equal(rc[0], MPROC_OK); /* create */
    assert_int_equal(rc[1], MPROC_OK); /* apply */
    assert_int_equal(rc[2], MPROC_OK); /* apply_async, wait */
    assert_int_equal(rc[3], MPROC_OK); /* get */
    assert_int_equal(rc[4], MPROC_OK); /* map */
    assert_int_equal(rc[5], MPROC_OK); /* imap, next */
    assert_int_equal(rc[6], MPROC_OK); /* apply_async */
    assert_int_equal(rc[7], MPROC_OK); /* join */
    assert_true(sigusr1_count > 0);
}

#endif /* _WIN32 */

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigchld_handler_stays_installed),
        cmocka_unit_test(test_signal_during_process_calls),
        cmocka_unit_test(test_signal_during_pool_calls),
        cmocka_unit_test(test_sigchld_ignored),
    };
    return TU_RUN_SUITE(argc, argv, "signals", tests);
}
