/* The guard without main's argv (issue 16): mproc_init(0, NULL), an argv the application built
 * itself, two calls, a call again inside the child's work, a guard bypassed on purpose (the
 * cascade breaker), and nested pools in workers. Every spawned child of this suite appends one
 * byte to a count file before mproc_init(), so the number of times main() was entered is
 * counted from the children's side: a cascade shows as more bytes than children.
 *
 * This main calls mproc_init(0, NULL), never with its argv: the library must find the marker on
 * its own. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

/* Test hooks (src/testhooks.h): mproc_init() leaves the child role alone; the OS's command line
 * is not read. */

/* What the parent hands its spawned children through the environment (inherited on every
 * platform): where to count, and how main() calls the guard. */
#define COUNT_ENV "MPROC_TEST_MISUSE_COUNT"
#define MODE_ENV "MPROC_TEST_MISUSE_MODE"

/* A spawned child that came back from mproc_init() as a parent: it must not run the suite. */
#define EXIT_NOT_RECOGNISED 99
/* A target's answer when it ran as it should. */
#define TARGET_OK 42

static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
    assert_int_equal(_putenv_s(name, value != NULL ? value : ""), 0);
#else
    if (value == NULL) {
        assert_int_equal(unsetenv(name), 0);
    } else {
        assert_int_equal(setenv(name, value, 1), 0);
    }
#endif
}

/* Appends one byte to the count file, if the parent asked for counting. Usable before the guard:
 * no cmocka assertion. */
static void count_entry(void)
{
    const char *path = getenv(COUNT_ENV);
    if (path == NULL || path[0] == '\0') {
        return;
    }
    (void)tu_append(path, "x");
}

/* The count file of the whole run: main() names it in the environment before the suite, so
 * every child of every test counts. */
static char count_path[512];

static void count_begin(void)
{
    remove(count_path);
}

/* The entries since count_begin(). */
static long count_end(void)
{
    char buf[4096];
    long n = tu_read_file(count_path, buf, sizeof buf);
    remove(count_path);
    return n < 0 ? 0 : n;
}

static int t_answer(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return TARGET_OK;
}

/* The guard called again inside the child's work: nothing to do, and it says so. */
static int t_init_again(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (mproc_init(0, NULL) != MPROC_OK) {
        return 1;
    }
    return TARGET_OK;
}

/* A task that runs a pool of its own (the worker's nested pool) and answers with its sum. */
static int task_nested_pool(const void *arg, size_t len, mproc_output *out)
{
    static const int items[4] = {1, 2, 3, 4};
    mproc_pool *p = NULL;
    mproc_results *res = NULL;
    int sum = 0, i, r;
    (void)arg;
    (void)len;
    r = mproc_pool_create(&p, 2);
    if (r != MPROC_OK) {
        return mproc_output_fail(out, "nested pool_create: %s", mproc_error_name(r)), 1;
    }
    r = mproc_pool_map(p, tu_square, items, sizeof items[0], 4, 1, &res);
    if (r == MPROC_OK) {
        for (i = 0; i < 4; i++) {
            const void *d = NULL;
            size_t n = 0;
            int v = 0;
            if (mproc_results_get(res, (size_t)i, &d, &n) == MPROC_OK && n == sizeof v) {
                memcpy(&v, d, sizeof v);
                sum += v;
            }
        }
    }
    mproc_results_destroy(res);
    mproc_pool_destroy(p);
    if (r != MPROC_OK) {
        return mproc_output_fail(out, "nested map: %s", mproc_error_name(r)), 1;
    }
    return mproc_output_set(out, &sum, sizeof sum);
}

/* Starts target with the given method and mode, and gives its exit code (bounded). */
static int run_child(mproc_target target, mproc_start_method method, const char *mode)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    int code = -1000;
    memset(&o, 0, sizeof o);
    o.target = target;
    o.start_method = method;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    set_env(MODE_ENV, mode);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    set_env(MODE_ENV, NULL);
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    mproc_process_destroy(p);
    return code;
}

/* Children spawned by this process enter main() once each (forked ones never). */
static long entries_per_child(mproc_start_method method)
{
    if (method == MPROC_START_SPAWN) {
        return 1;
    }
    return tu_is_fork() ? 0 : 1;
}

static void test_init_zero_then_process(void **state)
{
    static const mproc_start_method methods[] = {MPROC_START_SPAWN, MPROC_START_DEFAULT};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        count_begin();
        assert_int_equal(run_child(t_answer, methods[i], NULL), TARGET_OK);
        assert_int_equal(count_end(), entries_per_child(methods[i]));
    }
}

static void test_init_zero_then_pool(void **state)
{
    static const mproc_start_method methods[] = {MPROC_START_SPAWN, MPROC_START_DEFAULT};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        mproc_pool_options o;
        mproc_pool *p = NULL;
        int v, out = 0;
        void *res = NULL;
        size_t len = 0;
        memset(&o, 0, sizeof o);
        o.workers = 2;
        o.start_method = methods[i];
        count_begin();
        assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
        for (v = 1; v <= 6; v++) {
            assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, &res, &len), MPROC_OK);
            assert_int_equal(len, sizeof out);
            memcpy(&out, res, sizeof out);
            assert_int_equal(out, v * v);
            mproc_free(res);
        }
        /* close + join: every worker ends by itself, having entered main() before. */
        assert_int_equal(mproc_pool_close(p), MPROC_OK);
        assert_int_equal(mproc_pool_join(p), MPROC_OK);
        mproc_pool_destroy(p);
        assert_int_equal(count_end(), 2 * entries_per_child(methods[i]));
    }
}

static void test_init_with_an_argv_without_marker(void **state)
{
    (void)state;
    count_begin();
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, "fake-argv"), TARGET_OK);
    assert_int_equal(count_end(), 1);
}

static void test_init_twice_in_parent(void **state)
{
    char *argv[] = {(char *)"test_misuse", NULL};
    (void)state;
    assert_int_equal(mproc_init(0, NULL), MPROC_OK);
    assert_int_equal(mproc_init(1, argv), MPROC_OK);
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, NULL), TARGET_OK);
    assert_int_equal(run_child(t_answer, MPROC_START_DEFAULT, NULL), TARGET_OK);
}

/* A first call that fails does not count; the next one runs the child's work. */
static void test_init_twice_in_child(void **state)
{
    (void)state;
    count_begin();
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, "bad-then-good"), TARGET_OK);
    assert_int_equal(count_end(), 1);
}

static void test_init_again_inside_the_childs_work(void **state)
{
    (void)state;
    assert_int_equal(run_child(t_init_again, MPROC_START_SPAWN, NULL), TARGET_OK);
    assert_int_equal(run_child(t_init_again, MPROC_START_DEFAULT, NULL), TARGET_OK);
}

/* The breaker: a spawned child whose first mproc_init() was kept from taking up its role gets
 * MPROC_EGUARD from start and pool_create (exit code 64 + 16), and main() is entered once: no
 * grandchild. */
static void test_breaker_in_a_bypassed_child(void **state)
{
    (void)state;
    count_begin();
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, "bypass"), 64 - MPROC_EGUARD);
    assert_int_equal(count_end(), 1);
}

/* ... and a second mproc_init() in that child, the hook off, still runs the child's work. */
static void test_second_init_runs_the_work_the_first_did_not(void **state)
{
    (void)state;
    count_begin();
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, "bypass-then-init"), TARGET_OK);
    assert_int_equal(count_end(), 1);
}

/* POSIX systems other than Linux do not show a process its command line: the parent also puts
 * the marker in the child's environment. Without argv and without the command line, the child
 * still finds it there. */
static void test_marker_in_the_environment(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* Windows always has GetCommandLineW: the environment is no channel there */
#else
    (void)state;
    count_begin();
    assert_int_equal(run_child(t_answer, MPROC_START_SPAWN, "no-cmdline"), TARGET_OK);
    assert_int_equal(count_end(), 1);
#endif
}

static void test_nested_pools_in_workers(void **state)
{
    static const mproc_start_method methods[] = {MPROC_START_SPAWN, MPROC_START_DEFAULT};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        mproc_pool_options o;
        mproc_pool *p = NULL;
        void *res = NULL;
        size_t len = 0;
        int sum = 0, r;
        memset(&o, 0, sizeof o);
        o.workers = 1;
        o.start_method = methods[i];
        assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
        r = mproc_pool_apply(p, task_nested_pool, NULL, 0, &res, &len);
        assert_int_equal(r, MPROC_OK);
        assert_int_equal(len, sizeof sum);
        memcpy(&sum, res, sizeof sum);
        assert_int_equal(sum, 1 + 4 + 9 + 16);
        mproc_free(res);
        mproc_pool_destroy(p);
    }
}

/* main() of a spawned child in one of the modes above: the guard called as the mode says. */
static int child_main(const char *env_mode, char *argv0)
{
    mproc_process *p = NULL;
    mproc_pool *pool = NULL;
    int r, rpool;
    char mode[64];
    /* A copy: changing the environment below may free getenv()'s string (it does on Windows). */
    snprintf(mode, sizeof mode, "%s", env_mode);
    if (strcmp(mode, "fake-argv") == 0) {
        /* What an application's own option parser might hand over: no marker in it. */
        char *fake[] = {argv0, (char *)"--verbose", (char *)"input.txt", NULL};
        mproc_init(3, fake);
        return EXIT_NOT_RECOGNISED;
    }
    if (strcmp(mode, "no-cmdline") == 0) {
        mproc__guard_test_no_cmdline(1);
        mproc_init(0, NULL);
        return EXIT_NOT_RECOGNISED;
    }
    if (strcmp(mode, "bad-then-good") == 0) {
        if (mproc_init(-1, NULL) != MPROC_EINVAL) {
            return 2;
        }
        mproc_init(0, NULL);
        return EXIT_NOT_RECOGNISED;
    }
    /* bypass, bypass-then-init */
    mproc__guard_test_skip(1);
    if (mproc_init(0, NULL) != MPROC_OK) {
        return 3;
    }
    /* Should the breaker fail, the grandchild must be a plain child, not bypass in turn. */
    set_env(MODE_ENV, NULL);
    if (mproc_process_create(&p, t_answer, NULL, 0) != MPROC_OK) {
        return 4;
    }
    r = mproc_process_start(p);
    mproc_process_destroy(p);
    rpool = mproc_pool_create(&pool, 1);
    mproc_pool_destroy(pool);
    if (r != MPROC_EGUARD || rpool != MPROC_EGUARD || pool != NULL) {
        return 5;
    }
    if (strcmp(mode, "bypass") == 0) {
        return 64 - r;
    }
    mproc__guard_test_skip(0);
    mproc_init(0, NULL); /* runs the child's work: does not return */
    return EXIT_NOT_RECOGNISED;
}

int main(int argc, char **argv)
{
    const char *mode = getenv(MODE_ENV);
    int r;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_zero_then_process),
        cmocka_unit_test(test_init_zero_then_pool),
        cmocka_unit_test(test_init_with_an_argv_without_marker),
        cmocka_unit_test(test_init_twice_in_parent),
        cmocka_unit_test(test_init_twice_in_child),
        cmocka_unit_test(test_init_again_inside_the_childs_work),
        cmocka_unit_test(test_breaker_in_a_bypassed_child),
        cmocka_unit_test(test_second_init_runs_the_work_the_first_did_not),
        cmocka_unit_test(test_marker_in_the_environment),
        cmocka_unit_test(test_nested_pools_in_workers),
    };
    count_entry();
    if (mode != NULL && mode[0] != '\0') {
        return child_main(mode, argc > 0 ? argv[0] : (char *)"test_misuse");
    }
    /* The guard, without argv: a spawned child runs its work here and never returns. */
    if (mproc_init(0, NULL) != MPROC_OK) {
        return 1;
    }
    /* Counting means this process is a child of the suite that the guard did not recognise:
     * running the suite again here would start the cascade the guard exists to prevent. */
    if (getenv(COUNT_ENV) != NULL) {
        return EXIT_NOT_RECOGNISED;
    }
    snprintf(count_path, sizeof count_path, "%s/mproc-test-%ld-misuse-count", tu_tmp_dir(),
             mproc_getpid());
#ifdef _WIN32
    _putenv_s(COUNT_ENV, count_path);
#else
    setenv(COUNT_ENV, count_path, 1);
#endif
    r = cmocka_run_group_tests_name("misuse", tests, NULL, NULL);
    remove(count_path);
    return r;
}
