/* The process API against its contract (include/mproc.h), the same source on Linux (run once
 * with MPROC_START_METHOD=fork and once with spawn) and on Windows (MinGW-w64 build under Wine).
 * The test executable is its own child: main() calls mproc_init() first. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

#include <sys/stat.h>

#ifdef _WIN32
    /* dllimport: &testlib_target is then the address inside the DLL, not a thunk in this exe. */
    #define TESTLIB_IMPORT __declspec(dllimport)
#else
    #define TESTLIB_IMPORT
#endif

/* tests/testlib.c, a shared library. */
TESTLIB_IMPORT int testlib_target(const void *arg, size_t arg_len);
TESTLIB_IMPORT mproc_target testlib_target_address(void);
#define TESTLIB_MAGIC "testlib-arg"

/* Each process costs about 60 ms under Wine against about 1 ms on Linux, so the Windows run
 * repeats less where the count only adds confidence, not coverage. */
#ifdef _WIN32
    #define LIFECYCLES 50
#else
    #define LIFECYCLES 500
#endif
#define MANY_AT_ONCE 50
#define BIG_ARG (1024u * 1024u)
#define SLEEPER_MS 10000L

/* ---- test-only helpers (the shared ones are in testutil.h) ---- */

static size_t count_occurrences(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += len;
    }
    return n;
}

/* ---- targets: functions in this executable, found again in a spawned child by offset ------- */

static int t_exit(const void *arg, size_t len)
{
    exit(tu_read_int(arg, len));
}

static int t_abort(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_no_core_dumps();
    abort();
}

/* An address in the first page, which no OS maps: a real fault on every platform. Not NULL, so
 * UBSan's null check lets the store reach the hardware; volatile, so the compiler cannot see the
 * value and emits the store itself rather than a trap instruction. */
static volatile uintptr_t unmapped_address = 16;

static int t_segfault(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_no_core_dumps();
#ifndef _WIN32
    /* A forked child inherits the cmocka runner's SIGSEGV handler, which would longjmp back into
     * the test suite inside the child. */
    signal(SIGSEGV, SIG_DFL);
#endif
    *(volatile int *)unmapped_address = 1;
    return 0;
}

/* Sleeps arg milliseconds (a long), SLEEPER_MS without an argument. */
static int t_sleep(const void *arg, size_t len)
{
    long ms = SLEEPER_MS;
    if (arg != NULL && len == sizeof ms) {
        memcpy(&ms, arg, sizeof ms);
    }
    tu_sleep_ms(ms);
    return 0;
}

/* Writes "<pid> <ppid>" as the child sees them to the path in arg. */
static int t_report_ids(const void *arg, size_t len)
{
    char text[64];
    if (arg == NULL || len == 0 || ((const char *)arg)[len - 1] != '\0') {
        return 1;
    }
    snprintf(text, sizeof text, "%ld %ld\n", mproc_getpid(), mproc_getppid());
    return tu_write_file_atomic(arg, text) == 0 ? 0 : 2;
}

static unsigned char pattern_byte(size_t i)
{
    /* Not periodic in 256 nor 4096, so a shifted or repeated block shows. */
    return (unsigned char)((i ^ (i >> 8) ^ (i >> 16)) * 31u + 7u);
}

static int t_arg_empty(const void *arg, size_t len)
{
    return arg == NULL && len == 0 ? 0 : 1;
}

static int t_arg_one(const void *arg, size_t len)
{
    if (arg == NULL || len != 1) {
        return 1;
    }
    if ((uintptr_t)arg % 8 != 0) {
        return 2;
    }
    return *(const unsigned char *)arg == 0xA5 ? 0 : 3;
}

static int t_arg_big(const void *arg, size_t len)
{
    const unsigned char *b = arg;
    size_t i;
    if (arg == NULL || len != BIG_ARG) {
        return 1;
    }
    if ((uintptr_t)arg % 8 != 0) {
        return 2;
    }
    for (i = 0; i < len; i++) {
        if (b[i] != pattern_byte(i)) {
            return 3;
        }
    }
    return 0;
}

/* Sleeps a little, then exits with its index + 1, so every exit code tells which child it is. */
static int t_indexed(const void *arg, size_t len)
{
    tu_sleep_ms(300);
    return tu_read_int(arg, len) + 1;
}

static int t_print(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    /* No newline and no fflush: the library flushes the child's stdio before it exits. */
    printf("child-line;");
    return 0;
}

/* Set by the parent before a start: a forked child sees the copy, a spawned one the initial 0. */
static int fork_marker;

static int t_sees_marker(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return fork_marker == 1234 ? 1 : 0;
}

static int t_daemon_grandchild(const void *arg, size_t len)
{
    char text[32];
    (void)len;
    snprintf(text, sizeof text, "%ld\n", mproc_getpid());
    if (tu_write_file_atomic(arg, text) != 0) {
        return 1;
    }
    tu_sleep_ms(60000);
    return 0;
}

/* Starts a daemon grandchild (which writes its pid to the file named in arg), then waits to be
 * killed. */
static int t_daemon_parent(const void *arg, size_t len)
{
    mproc_process_options o = {0};
    mproc_process *p = NULL;
    o.target = t_daemon_grandchild;
    o.arg = arg;
    o.arg_len = len;
    o.daemon = 1;
    if (mproc_process_create_ex(&p, &o) != MPROC_OK || mproc_process_start(p) != MPROC_OK) {
        return 1;
    }
    tu_sleep_ms(60000);
    return 0;
}

/* A daemon started from a thread that ends as soon as the daemon runs its target (by then a
 * Linux child has asked for its parent-death notice, which is tied to that thread). */
struct thread_start {
    const char *path; /* the daemon writes its pid there */
    mproc_process *p;
    int r;
};

static void start_daemon_on_thread(void *arg)
{
    struct thread_start *ts = arg;
    mproc_process_options o = {0};
    char text[64];
    uint64_t deadline;

    o.target = t_daemon_grandchild;
    o.arg = ts->path;
    o.arg_len = strlen(ts->path) + 1;
    o.daemon = 1;
    ts->r = mproc_process_create_ex(&ts->p, &o);
    if (ts->r == MPROC_OK) {
        ts->r = mproc_process_start(ts->p);
    }
    deadline = tu_now_ms() + 30000;
    while (ts->r == MPROC_OK && tu_read_file(ts->path, text, sizeof text) <= 0 &&
           tu_now_ms() < deadline) {
        tu_sleep_ms(10);
    }
}

/* As t_daemon_parent, with the daemon started from a thread that has ended. */
static int t_daemon_parent_thread(const void *arg, size_t len)
{
    struct thread_start ts = {0};
    tu_thread t;
    (void)len;
    ts.path = arg;
    tu_thread_start(&t, start_daemon_on_thread, &ts);
    tu_thread_join(&t);
    if (ts.r != MPROC_OK) {
        return 1;
    }
    tu_sleep_ms(60000);
    return 0;
}

/* ---- helpers for the tests -------------------------------------------------------------- */

static mproc_process *start_ex(mproc_target t, const void *arg, size_t len,
                               mproc_start_method method)
{
    mproc_process_options o = {0};
    mproc_process *p = NULL;
    int r;
    o.target = t;
    o.arg = arg;
    o.arg_len = len;
    o.start_method = method;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_non_null(p);
    r = mproc_process_start(p);
    if (r != MPROC_OK) {
        /* Say which OS error it was: CI logs are all there is of a rare failure. */
        print_message("mproc_process_start: %s (%s), OS error %ld\n", mproc_error_name(r),
                      mproc_strerror(r), mproc_last_os_error());
    }
    assert_int_equal(r, MPROC_OK);
    return p;
}

static mproc_process *start(mproc_target t, const void *arg, size_t len)
{
    return start_ex(t, arg, len, MPROC_START_DEFAULT);
}

static int join_code(mproc_process *p)
{
    int code = 0x7fffffff;
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    return code;
}

/* Creates, starts, joins and destroys one process; its exit code. */
static int run_ex(mproc_target t, const void *arg, size_t len, mproc_start_method method)
{
    mproc_process *p = start_ex(t, arg, len, method);
    int code = join_code(p);
    mproc_process_destroy(p);
    return code;
}

static int run(mproc_target t, const void *arg, size_t len)
{
    return run_ex(t, arg, len, MPROC_START_DEFAULT);
}

/* ---- the tests ---------------------------------------------------------------------------- */

/* On POSIX all 256 codes: the status is 8 bits there and every value takes its own path through
 * WEXITSTATUS, at about a millisecond a process. Windows keeps the full 32-bit code, so there is
 * no truncation to cover, and a process costs about 60 ms under Wine: the boundaries and a few
 * values between them (0, 1, 2, 42, 127, 128, 200, 254, 255) say as much. */
static void check_exit_codes(mproc_target t)
{
#ifdef _WIN32
    static const int codes[] = {0, 1, 2, 42, 127, 128, 200, 254, 255};
    const size_t n = sizeof codes / sizeof codes[0];
    #define CODE_AT(i) codes[i]
#else
    const size_t n = 256;
    #define CODE_AT(i) ((int)(i))
#endif
    enum { BATCH = 16 };
    mproc_process *procs[BATCH];
    int args[BATCH];
    size_t first, k;

    for (first = 0; first < n; first += BATCH) {
        size_t count = n - first < BATCH ? n - first : BATCH;
        for (k = 0; k < count; k++) {
            args[k] = CODE_AT(first + k);
            procs[k] = start(t, &args[k], sizeof args[k]);
        }
        for (k = 0; k < count; k++) {
            assert_int_equal(join_code(procs[k]), args[k]);
            mproc_process_destroy(procs[k]);
        }
    }
#undef CODE_AT
}

static void test_exit_codes_from_return(void **state)
{
    (void)state;
    check_exit_codes(tu_return);
}

static void test_exit_codes_from_exit(void **state)
{
    (void)state;
    check_exit_codes(t_exit);
}

/* -SIGABRT and -SIGSEGV with Linux's numbers, on Windows too (the backend maps the crash). */
static void test_abort_gives_minus_sigabrt(void **state)
{
    (void)state;
    assert_int_equal(run(t_abort, NULL, 0), -6);
}

static void test_segfault_gives_minus_sigsegv(void **state)
{
    (void)state;
    assert_int_equal(run(t_segfault, NULL, 0), -11);
}

static void test_terminate(void **state)
{
    mproc_process *p = NULL;
    int code = 0;
    (void)state;

    assert_int_equal(mproc_process_create(&p, t_sleep, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_terminate(p), MPROC_ESTATE); /* not started */
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(join_code(p), -15);
    assert_int_equal(mproc_process_is_alive(p), 0);
    /* Already ended: fine, and the exit code stays. */
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, -15);
    mproc_process_destroy(p);
}

static void test_kill(void **state)
{
    mproc_process *p = NULL;
    (void)state;

    assert_int_equal(mproc_process_create(&p, t_sleep, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_kill(p), MPROC_ESTATE); /* not started */
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_kill(p), MPROC_OK);
    assert_int_equal(join_code(p), -9);
    assert_int_equal(mproc_process_kill(p), MPROC_OK); /* already ended */
    mproc_process_destroy(p);
}

static void test_join_timeout(void **state)
{
    mproc_process *p = start(t_sleep, NULL, 0); /* sleeps 10 s */
    uint64_t t0, waited;
    int code = 0;
    (void)state;

    t0 = tu_now_ms();
    assert_int_equal(mproc_process_join(p, 100), MPROC_ETIMEDOUT);
    waited = tu_now_ms() - t0;
    assert_true(waited >= 80);  /* it waited (timer granularity allowed for) */
    assert_true(waited < 5000); /* and did not wait for the child */
    assert_int_equal(mproc_process_join(p, 0), MPROC_ETIMEDOUT);      /* 0 polls */
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_ESTATE); /* not joined yet */
    assert_int_equal(mproc_process_is_alive(p), 1);

    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_join(p, 0), MPROC_OK); /* again at every later call */
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, -15);
    mproc_process_destroy(p);
}

static void test_is_alive(void **state)
{
    mproc_process *p = NULL;
    uint64_t deadline;
    int zero = 0;
    (void)state;

    assert_int_equal(mproc_process_is_alive(NULL), 0);
    assert_int_equal(mproc_process_create(&p, t_sleep, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_is_alive(p), 0); /* before start */
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_is_alive(p), 1); /* running */
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_is_alive(p), 0); /* after join */
    mproc_process_destroy(p);

    /* A child that ends by itself is seen as ended without a join. */
    p = start(tu_return, &zero, sizeof zero);
    deadline = tu_now_ms() + 20000;
    while (mproc_process_is_alive(p) && tu_now_ms() < deadline) {
        tu_sleep_ms(5);
    }
    assert_int_equal(mproc_process_is_alive(p), 0);
    assert_int_equal(join_code(p), 0);
    mproc_process_destroy(p);
}

static void test_child_sees_parent_pid(void **state)
{
    char path[512], text[128];
    mproc_process *p = NULL;
    long child_pid = 0, child_ppid = 0;
    (void)state;

    tu_tmp_path(path, sizeof path, "ids.txt");
    remove(path);
    assert_true(mproc_getpid() > 0);
    assert_int_equal(mproc_process_create(&p, t_report_ids, path, strlen(path) + 1), MPROC_OK);
    assert_int_equal(mproc_process_pid(p), 0); /* not started */
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_true(mproc_process_pid(p) > 0);
    assert_int_equal(join_code(p), 0);

    assert_true(tu_read_file(path, text, sizeof text) > 0);
    remove(path);
    assert_int_equal(sscanf(text, "%ld %ld", &child_pid, &child_ppid), 2);
    assert_int_equal(child_pid, mproc_process_pid(p));
    assert_int_equal(child_ppid, mproc_getpid());
    mproc_process_destroy(p);
}

static void test_argument_bytes(void **state)
{
    unsigned char one = 0xA5, *big;
    size_t i;
    (void)state;

    assert_int_equal(run(t_arg_empty, NULL, 0), 0);
    assert_int_equal(run(t_arg_empty, &one, 0), 0); /* arg_len 0: the child gets NULL */
    assert_int_equal(run(t_arg_one, &one, 1), 0);

    big = malloc(BIG_ARG);
    assert_non_null(big);
    for (i = 0; i < BIG_ARG; i++) {
        big[i] = pattern_byte(i);
    }
    assert_int_equal(run(t_arg_big, big, BIG_ARG), 0);
    free(big);
}

/* The argument is copied at creation: changing the caller's buffer afterwards changes nothing. */
static void test_argument_copied_at_create(void **state)
{
    int v = 7;
    mproc_process *p = NULL;
    (void)state;

    assert_int_equal(mproc_process_create(&p, tu_return, &v, sizeof v), MPROC_OK);
    v = 99;
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(join_code(p), 7);
    mproc_process_destroy(p);
}

static void test_many_at_once(void **state)
{
    mproc_process *procs[MANY_AT_ONCE];
    int idx[MANY_AT_ONCE];
    int i, j;
    (void)state;

    for (i = 0; i < MANY_AT_ONCE; i++) {
        idx[i] = i;
        procs[i] = start(t_indexed, &idx[i], sizeof idx[i]);
    }
    for (i = 0; i < MANY_AT_ONCE; i++) {
        assert_true(mproc_process_pid(procs[i]) > 0);
        for (j = 0; j < i; j++) {
            assert_int_not_equal(mproc_process_pid(procs[i]), mproc_process_pid(procs[j]));
        }
    }
    for (i = 0; i < MANY_AT_ONCE; i++) {
        assert_int_equal(join_code(procs[i]), i + 1);
        mproc_process_destroy(procs[i]);
    }
}

/* Windows: a start that fails as Wine's address-space collision does (ERROR_INTERNAL_ERROR from
 * CreateProcessW, about one start in 4,000 under Wine) is tried again, up to 5 attempts; past
 * that the start fails with MPROC_ESYS and that OS error. The failures come from a test hook. */
static void test_start_retries_a_collided_start(void **state)
{
#ifdef _WIN32
    mproc_process *p = NULL;
    int one = 1;
    (void)state;
    mproc__spawn_test_fail(4);
    assert_int_equal(run(tu_return, &one, sizeof one), 1);

    mproc__spawn_test_fail(5);
    assert_int_equal(mproc_process_create(&p, tu_return, &one, sizeof one), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_ESYS);
    assert_int_equal(mproc_last_os_error(), 1359); /* ERROR_INTERNAL_ERROR */
    mproc_process_destroy(p);
    mproc__spawn_test_fail(0);
    assert_int_equal(run(tu_return, &one, sizeof one), 1);
#else
    (void)state;
    skip(); /* the retry is the Windows backend's: fork and posix_spawn do not fail this way */
#endif
}

static void test_state_errors(void **state)
{
    mproc_process *p = NULL;
    int zero = 0, code = 0;
    (void)state;

    assert_int_equal(mproc_process_create(&p, tu_return, &zero, sizeof zero), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_ESTATE); /* before start */
    assert_int_equal(mproc_process_join(p, 0), MPROC_ESTATE);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_ESTATE); /* twice */
    assert_int_equal(join_code(p), 0);
    assert_int_equal(mproc_process_start(p), MPROC_ESTATE); /* after join */
    mproc_process_destroy(p);
}

static void test_invalid_arguments(void **state)
{
    mproc_process_options o = {0};
    mproc_process *p = NULL;
    int zero = 0, code = 0;
    (void)state;

    assert_int_equal(mproc_process_create(&p, NULL, NULL, 0), MPROC_EINVAL); /* NULL target */
    assert_int_equal(mproc_process_create(NULL, tu_return, NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_process_create(&p, tu_return, NULL, 5), MPROC_EINVAL);

    assert_int_equal(mproc_process_create_ex(&p, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL); /* NULL target */
    o.target = tu_return;
    assert_int_equal(mproc_process_create_ex(NULL, &o), MPROC_EINVAL);
    o.arg_len = 3; /* with arg NULL */
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    o.arg = &zero;
    o.arg_len = sizeof zero;
    o.start_method = (mproc_start_method)3;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    o.start_method = (mproc_start_method)-1;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);

    assert_int_equal(mproc_process_start(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_process_join(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_process_exitcode(NULL, &code), MPROC_EINVAL);
    assert_int_equal(mproc_process_pid(NULL), 0);
    assert_null(mproc_process_name(NULL));
    mproc_process_destroy(NULL);
}

static void daemon_dies_with_parent(mproc_target parent_target, const char *tag)
{
    char path[512], text[64];
    mproc_process *parent;
    long grandchild = 0;
    uint64_t deadline;
    int gone;
    tu_tmp_path(path, sizeof path, tag);
    remove(path);
    parent = start(parent_target, path, strlen(path) + 1);

    deadline = tu_now_ms() + 30000;
    while (tu_now_ms() < deadline && mproc_process_is_alive(parent)) {
        if (tu_read_file(path, text, sizeof text) > 0 && sscanf(text, "%ld", &grandchild) == 1) {
            break;
        }
        tu_sleep_ms(10);
    }
    remove(path);
    if (grandchild <= 0) {
        mproc_process_destroy(parent);
        fail_msg("the daemon grandchild never wrote its pid");
    }
    assert_false(tu_pid_gone(grandchild));

    assert_int_equal(mproc_process_kill(parent), MPROC_OK);
    assert_int_equal(join_code(parent), -9);
    mproc_process_destroy(parent);

    deadline = tu_now_ms() + 2000;
    while (!(gone = tu_pid_gone(grandchild)) && tu_now_ms() < deadline) {
        tu_sleep_ms(10);
    }
    if (!gone) {
        tu_pid_force_kill(grandchild);
    }
    assert_true(gone);
}

static void test_daemon_dies_with_parent(void **state)
{
    (void)state;
    daemon_dies_with_parent(t_daemon_parent, "daemon.pid");
}

/* TSan turns its interceptors off in a child forked from a process with threads, and so never
 * runs an asynchronous signal handler there (it waits for an interceptor to deliver it): under
 * fork, the daemon grandchild, forked by the starting thread, never sees its parent-death
 * signal. A TSan limitation (scripts/sanitize.sh); the spawn column runs it under TSan. */
#if defined(__SANITIZE_THREAD__)
    #define TSAN_BUILD 1
#elif defined(__has_feature)
    #if __has_feature(thread_sanitizer)
        #define TSAN_BUILD 1
    #endif
#endif

/* Linux ties the parent-death signal to the thread that started the child: the daemon must
 * still go with the process when that thread has ended long before. */
static void test_thread_daemon_dies_with_parent(void **state)
{
    (void)state;
#ifdef TSAN_BUILD
    if (tu_is_fork()) {
        print_message("skipped under TSan with fork: TSan never runs a signal handler in a child "
                      "forked from a process with threads\n");
        skip();
    }
#endif
    daemon_dies_with_parent(t_daemon_parent_thread, "daemon-thread.pid");
}

/* ...and must not go when only that thread ends. */
static void test_daemon_outlives_starting_thread(void **state)
{
    char path[512];
    struct thread_start ts = {0};
    tu_thread t;
    (void)state;

    tu_tmp_path(path, sizeof path, "daemon-outlives.pid");
    remove(path);
    ts.path = path;
    tu_thread_start(&t, start_daemon_on_thread, &ts);
    tu_thread_join(&t);
    remove(path);
    assert_int_equal(ts.r, MPROC_OK);
    /* A signal sent as the thread ended would have landed long before this. */
    tu_sleep_ms(500);
    assert_int_equal(mproc_process_is_alive(ts.p), 1);
    assert_int_equal(mproc_process_terminate(ts.p), MPROC_OK);
    assert_int_equal(join_code(ts.p), -15);
    mproc_process_destroy(ts.p);
}

/* Under valgrind no spawned child can start: mproc spawns /proc/self/exe, which there is
 * valgrind's own tool binary. */
static int spawn_works(void)
{
    return !tu_under_valgrind();
}

/* A target inside a shared library, under every start method this platform has. Under spawn it
 * crosses as (module, offset) and the child loads the library to find it. */
static void test_shared_library_target(void **state)
{
    static const mproc_start_method methods[] = {
        MPROC_START_DEFAULT,
        MPROC_START_SPAWN,
#ifndef _WIN32
        MPROC_START_FORK,
#endif
    };
    const mproc_target inside = testlib_target_address();
    size_t i;
    (void)state;

    /* The address this executable uses is the library's own, so the test exercises the module
     * path, not a stub inside the executable. */
    assert_true(inside == testlib_target);
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (methods[i] == MPROC_START_SPAWN && !spawn_works())
            continue;
        assert_int_equal(run_ex(testlib_target, TESTLIB_MAGIC, sizeof TESTLIB_MAGIC, methods[i]),
                         42);
    }
}

/* The run's start method is the one MPROC_START_METHOD names, and an explicit method wins. */
static void test_start_methods(void **state)
{
    const char *env = getenv("MPROC_START_METHOD");
    (void)state;

    fork_marker = 1234;
#ifdef _WIN32
    (void)env;
    assert_int_equal(run(t_sees_marker, NULL, 0), 0); /* always spawn */
#else
    /* Without the variable the default is fork. */
    assert_int_equal(run(t_sees_marker, NULL, 0), env != NULL && strcmp(env, "spawn") == 0 ? 0 : 1);
    assert_int_equal(run_ex(t_sees_marker, NULL, 0, MPROC_START_FORK), 1);
#endif
    if (spawn_works())
        assert_int_equal(run_ex(t_sees_marker, NULL, 0, MPROC_START_SPAWN), 0);
    fork_marker = 0;
}

static void test_fork_on_windows_is_enotsup(void **state)
{
    (void)state;
#ifdef _WIN32
    {
        mproc_process_options o = {0};
        mproc_process *p = NULL;
        o.target = tu_return;
        o.start_method = MPROC_START_FORK;
        assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_ENOTSUP);
        assert_int_equal(mproc_process_is_alive(p), 0);
        assert_int_equal(mproc_process_pid(p), 0);
        mproc_process_destroy(p);
    }
#else
    print_message("skipped: POSIX has fork; MPROC_ENOTSUP for MPROC_START_FORK is Windows-only\n");
    skip();
#endif
}

static void test_names(void **state)
{
    char name[16] = "worker-7";
    mproc_process_options o = {0};
    mproc_process *p = NULL, *q = NULL;
    const char *a, *b;
    char *end;
    unsigned long na, nb;
    int zero = 0;
    (void)state;

    o.target = tu_return;
    o.arg = &zero;
    o.arg_len = sizeof zero;
    o.name = name;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    name[0] = 'X'; /* the name was copied */
    assert_string_equal(mproc_process_name(p), "worker-7");
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(join_code(p), 0);
    assert_string_equal(mproc_process_name(p), "worker-7");
    mproc_process_destroy(p);

    /* Default names: "Process-N", counting up. */
    assert_int_equal(mproc_process_create(&p, tu_return, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_create(&q, tu_return, NULL, 0), MPROC_OK);
    a = mproc_process_name(p);
    b = mproc_process_name(q);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strncmp(a, "Process-", 8), 0);
    assert_int_equal(strncmp(b, "Process-", 8), 0);
    na = strtoul(a + 8, &end, 10);
    assert_true(end != a + 8 && *end == '\0' && na >= 1);
    nb = strtoul(b + 8, &end, 10);
    assert_true(end != b + 8 && *end == '\0');
    assert_true(nb > na);
    mproc_process_destroy(p);
    mproc_process_destroy(q);
}

/* Create, start, join (or destroy a running child, which kills and reaps it) many times: no
 * descriptor, handle or zombie is left. LIFECYCLES is 50 under Wine, where each costs ~60 ms. */
static void test_lifecycles_leak_nothing(void **state)
{
    long fds_before, fds_after;
    int i, zero = 0;
    (void)state;

    /* Warm up: whatever the library or the C runtime opens once and keeps is not a leak. */
    mproc_process_destroy(start(t_sleep, NULL, 0));
    assert_int_equal(run(tu_return, &zero, sizeof zero), 0);

    fds_before = tu_count_descriptors();
    assert_true(fds_before > 0); /* the count is real, so the comparison below means something */
#ifndef _WIN32
    long all_before, zombies_before, all_after, zombies_after;
    all_before = tu_children(NULL, 0, &zombies_before);
    assert_true(all_before >= 0);
#endif
    for (i = 0; i < LIFECYCLES; i++) {
        if (i % 10 == 9) {
            mproc_process_destroy(start(t_sleep, NULL, 0));
        } else {
            assert_int_equal(run(tu_return, &zero, sizeof zero), 0);
        }
    }
    fds_after = tu_count_descriptors();
    assert_int_equal(fds_after, fds_before);
#ifndef _WIN32
    all_after = tu_children(NULL, 0, &zombies_after);
    assert_true(all_after >= 0);
    assert_int_equal(zombies_after, 0);
    assert_int_equal(zombies_after, zombies_before);
    assert_int_equal(all_after, all_before);
#endif
}

/* A line still in the parent's stdio buffer when it forks must appear once, not once per process.
 * stdout goes to a temporary file for the duration; nothing is asserted while it does. */
static void test_output_printed_once(void **state)
{
    char path[512], line[64], *text;
    mproc_process *p = NULL;
    int saved, fd, started, joined = -1, code = -1;
    long n;
    (void)state;

    tu_tmp_path(path, sizeof path, "stdout.txt");
    snprintf(line, sizeof line, "parent-line-%ld;", mproc_getpid());
    assert_int_equal(mproc_process_create(&p, t_print, NULL, 0), MPROC_OK);

    fflush(stdout);
#ifdef _WIN32
    saved = _dup(_fileno(stdout));
    fd = _open(path, _O_WRONLY | _O_CREAT | _O_TRUNC | _O_BINARY, _S_IREAD | _S_IWRITE);
    assert_true(saved >= 0 && fd >= 0);
    _dup2(fd, _fileno(stdout));
    _close(fd);
#else
    saved = dup(fileno(stdout));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, fileno(stdout));
    close(fd);
#endif

    printf("%s", line); /* stays in the buffer: no newline, no flush */
    started = mproc_process_start(p);
    if (started == MPROC_OK) {
        joined = mproc_process_join(p, MPROC_FOREVER);
        mproc_process_exitcode(p, &code);
    }
    printf("\n");
    fflush(stdout);

#ifdef _WIN32
    _dup2(saved, _fileno(stdout));
    _close(saved);
#else
    dup2(saved, fileno(stdout));
    close(saved);
#endif

    mproc_process_destroy(p);
    assert_int_equal(started, MPROC_OK);
    assert_int_equal(joined, MPROC_OK);
    assert_int_equal(code, 0);

    text = malloc(65536);
    assert_non_null(text);
    n = tu_read_file(path, text, 65536);
    remove(path);
    if (n < 0) {
        free(text);
        fail_msg("cannot read %s", path);
    }
    if (count_occurrences(text, line) != 1 || count_occurrences(text, "child-line;") != 1) {
        print_message("captured stdout: \"%s\"\n", text);
    }
    assert_int_equal(count_occurrences(text, line), 1);
    assert_int_equal(count_occurrences(text, "child-line;"), 1);
    free(text);
}

int main(int argc, char **argv)
{
    /* First thing: in a child this library spawned, this runs the child's work and exits. */
    if (tu_guard(argc, argv) != MPROC_OK) {
        return 1;
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes_from_return),
        cmocka_unit_test(test_exit_codes_from_exit),
        cmocka_unit_test(test_abort_gives_minus_sigabrt),
        cmocka_unit_test(test_segfault_gives_minus_sigsegv),
        cmocka_unit_test(test_terminate),
        cmocka_unit_test(test_kill),
        cmocka_unit_test(test_join_timeout),
        cmocka_unit_test(test_is_alive),
        cmocka_unit_test(test_child_sees_parent_pid),
        cmocka_unit_test(test_argument_bytes),
        cmocka_unit_test(test_argument_copied_at_create),
        cmocka_unit_test(test_many_at_once),
        cmocka_unit_test(test_start_retries_a_collided_start),
        cmocka_unit_test(test_state_errors),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_daemon_dies_with_parent),
        cmocka_unit_test(test_thread_daemon_dies_with_parent),
        cmocka_unit_test(test_daemon_outlives_starting_thread),
        cmocka_unit_test(test_shared_library_target),
        cmocka_unit_test(test_start_methods),
        cmocka_unit_test(test_fork_on_windows_is_enotsup),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lifecycles_leak_nothing),
        cmocka_unit_test(test_output_printed_once),
    };
    return cmocka_run_group_tests_name("process", tests, NULL, NULL);
}
