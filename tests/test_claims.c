/* What README.md, docs/guide.md and the header promise, tried as a user would, in every column
 * (Linux fork, Linux spawn, Windows under Wine): functions from a library loaded at run time,
 * what terminate and kill do to a child that handles SIGTERM, when error callbacks of canceled
 * tasks run, what destroy does to a closed pool, the exit code of a timed-out task. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#ifndef _WIN32
    #include <dlfcn.h>
    #include <link.h>
#endif

#define TESTDYN_MAGIC "testdyn-arg" /* as in tests/testdyn.c */
#define LONG_TASK_MS 30000L
#define READY_LIMIT_MS 30000L

/* ---- tests/testdyn.c, loaded at run time --------------------------------------------------- */

static void *testdyn_symbol(const char *name)
{
#ifdef _WIN32
    static HMODULE h;
    FARPROC f;
    void *s;
    if (h == NULL) {
        h = LoadLibraryA(MPROC_TESTDYN);
    }
    assert_non_null(h);
    f = GetProcAddress(h, name);
    assert_non_null(f);
    memcpy(&s, &f, sizeof s);
    return s;
#else
    static void *h;
    void *s;
    if (h == NULL) {
        h = dlopen(MPROC_TESTDYN, RTLD_NOW);
    }
    if (h == NULL) {
        print_message("dlopen(%s): %s\n", MPROC_TESTDYN, dlerror());
    }
    assert_non_null(h);
    s = dlsym(h, name);
    assert_non_null(s);
    return s;
#endif
}

static mproc_task testdyn_task(void)
{
    void *s = testdyn_symbol("testdyn_task");
    mproc_task fn;
    memcpy(&fn, &s, sizeof fn);
    return fn;
}

static mproc_target testdyn_target(void)
{
    void *s = testdyn_symbol("testdyn_target");
    mproc_target fn;
    memcpy(&fn, &s, sizeof fn);
    return fn;
}

static int task_pid(const void *arg, size_t len, mproc_output *out)
{
    long pid = mproc_getpid();
    (void)arg;
    (void)len;
    tu_sleep_ms(50);
    return mproc_output_set(out, &pid, sizeof pid);
}

/* README: "a library the parent loaded at run time is loaded in the child too". Under fork the
 * workers were forked before the dlopen: they must load it themselves. */
static void claim_fn_pool_task_from_library_loaded_after_create(void **state)
{
    mproc_pool *p = NULL;
    mproc_results *r = NULL;
    char items[4][sizeof TESTDYN_MAGIC];
    size_t i;
    mproc_task fn;
    (void)state;

    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    /* Both workers exist and have run a task before the library is loaded. */
    assert_int_equal(mproc_pool_map(p, task_pid, NULL, 0, 4, 1, &r), MPROC_OK);
    for (i = 0; i < 4; i++) {
        assert_int_equal(mproc_results_get(r, i, NULL, NULL), MPROC_OK);
    }
    mproc_results_destroy(r);
    r = NULL;

    fn = testdyn_task();
    for (i = 0; i < 4; i++) {
        memcpy(items[i], TESTDYN_MAGIC, sizeof TESTDYN_MAGIC);
    }
    assert_int_equal(mproc_pool_map(p, fn, items, sizeof items[0], 4, 1, &r), MPROC_OK);
    for (i = 0; i < 4; i++) {
        const mproc_error *e = mproc_results_error(r, i);
        int code = mproc_results_get(r, i, NULL, NULL);
        if (code != MPROC_ETASK) {
            print_message("item %u: %s (exit code %d): %s\n", (unsigned)i, mproc_error_name(code),
                          e != NULL ? e->exitcode : 0, e != NULL ? e->message : "");
        }
        /* 77: testdyn_task ran, with its argument. */
        assert_int_equal(code, MPROC_ETASK);
        assert_non_null(e);
        assert_int_equal(e->status, 77);
        assert_int_equal(e->exitcode, 0);
    }
    mproc_results_destroy(r);
    assert_int_equal(mproc_pool_apply(p, task_pid, NULL, 0, NULL, NULL), MPROC_OK);
    mproc_pool_destroy(p);
}

static void claim_fn_process_target_from_library_loaded_at_run_time(void **state)
{
    mproc_process *c = NULL;
    int code = -1;
    (void)state;
    assert_int_equal(
        mproc_process_create(&c, testdyn_target(), TESTDYN_MAGIC, sizeof TESTDYN_MAGIC), MPROC_OK);
    assert_int_equal(mproc_process_start(c), MPROC_OK);
    assert_int_equal(mproc_process_join(c, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(c, &code), MPROC_OK);
    assert_int_equal(code, 43);
    mproc_process_destroy(c);
}

/* Another thread of the parent inside the loader (dl_iterate_phdr, as C++ unwinding or a
 * backtrace is) while the pool forks its workers: a worker must not need its own copy of the
 * loader's lock, held forever there, to find a task of the executable. */
static volatile long loader_hog_stop;

#ifndef _WIN32
static int slow_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    tu_sleep_ms(5);
    return 0;
}
#endif

static void loader_hog(void *arg)
{
    (void)arg;
    while (!tu_atomic_load(&loader_hog_stop)) {
#ifdef _WIN32
        HMODULE h = LoadLibraryA(MPROC_TESTDYN); /* the loader lock, on Windows */
        if (h != NULL) {
            FreeLibrary(h);
        }
#else
        dl_iterate_phdr(slow_phdr_cb, NULL);
#endif
    }
}

static void claim_fn_fork_worker_needs_no_loader_lock(void **state)
{
    enum { TASKS = 10 };
    mproc_pool_options o;
    mproc_pool *p = NULL;
    tu_thread t;
    int i;
    (void)state;
    tu_atomic_store(&loader_hog_stop, 0);
    tu_thread_start(&t, loader_hog, NULL);
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.max_tasks_per_child = 1; /* a fresh worker, forked while the loader is busy, per task */
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    for (i = 0; i < TASKS; i++) {
        mproc_async *a = NULL;
        int r;
        assert_int_equal(mproc_pool_apply_async(p, task_pid, NULL, 0, NULL, NULL, NULL, &a),
                         MPROC_OK);
        r = mproc_async_get(a, 30000, NULL, NULL);
        mproc_async_release(a);
        if (r != MPROC_OK) {
            print_message("task %d: %s (a worker stuck on the loader's lock?)\n", i,
                          mproc_error_name(r));
            tu_atomic_store(&loader_hog_stop, 1);
            tu_thread_join(&t);
            mproc_pool_terminate(p);
            mproc_pool_destroy(p);
            fail();
        }
    }
    tu_atomic_store(&loader_hog_stop, 1);
    tu_thread_join(&t);
    mproc_pool_destroy(p);
}

/* ---- terminate and kill ---------------------------------------------------------------------- */

static void on_sigterm(int sig)
{
    (void)sig;
    _exit(3);
}

/* arg: the path of the file that says the handler is in place. */
static int target_with_sigterm(const void *arg, size_t len, int ignore)
{
    char path[600];
    uint64_t end;
    if (len == 0 || len >= sizeof path) {
        return 100;
    }
    memcpy(path, arg, len);
    path[len] = '\0';
    signal(SIGTERM, ignore ? SIG_IGN : on_sigterm);
    if (tu_write_file_atomic(path, "ready") != 0) {
        return 101;
    }
    end = tu_now_ms() + (uint64_t)LONG_TASK_MS;
    while (tu_now_ms() < end) {
        tu_sleep_ms(20);
    }
    return 0;
}

static int target_handles_sigterm(const void *arg, size_t len)
{
    return target_with_sigterm(arg, len, 0);
}

static int target_ignores_sigterm(const void *arg, size_t len)
{
    return target_with_sigterm(arg, len, 1);
}

/* A started child whose SIGTERM handler (or SIG_IGN) is in place. */
static mproc_process *start_sigterm_child(mproc_target target, const char *tag)
{
    char path[600], buf[16];
    mproc_process *c = NULL;
    uint64_t end;
    tu_tmp_path(path, sizeof path, tag);
    remove(path);
    assert_int_equal(mproc_process_create(&c, target, path, strlen(path)), MPROC_OK);
    assert_int_equal(mproc_process_start(c), MPROC_OK);
    end = tu_now_ms() + (uint64_t)READY_LIMIT_MS;
    while (tu_read_file(path, buf, sizeof buf) <= 0) {
        assert_true(tu_now_ms() < end);
        assert_int_equal(mproc_process_is_alive(c), 1);
        tu_sleep_ms(10);
    }
    remove(path);
    return c;
}

/* The header: terminate is SIGTERM on POSIX (the child may handle it: Python's split too),
 * TerminateProcess with -15 on Windows. */
static void claim_terminate_is_sigterm_on_posix(void **state)
{
    mproc_process *c = start_sigterm_child(target_handles_sigterm, "handles-term");
    int code = 0;
    (void)state;
    assert_int_equal(mproc_process_terminate(c), MPROC_OK);
    assert_int_equal(mproc_process_join(c, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(c, &code), MPROC_OK);
    print_message("terminate, child with a SIGTERM handler: exit code %d\n", code);
#ifdef _WIN32
    assert_int_equal(code, -15);
#else
    assert_int_equal(code, 3); /* its handler's own code */
#endif
    mproc_process_destroy(c);
}

/* kill is the unconditional stop: -9 even for a child that ignores SIGTERM. */
static void claim_kill_stops_a_child_that_ignores_sigterm(void **state)
{
    mproc_process *c = start_sigterm_child(target_ignores_sigterm, "ignores-term");
    int code = 0;
    (void)state;
    assert_int_equal(mproc_process_terminate(c), MPROC_OK);
#ifdef _WIN32
    assert_int_equal(mproc_process_join(c, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(c, &code), MPROC_OK);
    assert_int_equal(code, -15);
#else
    /* Ignored: still running a second later. */
    assert_int_equal(mproc_process_join(c, 1000), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_process_is_alive(c), 1);
    assert_int_equal(mproc_process_kill(c), MPROC_OK);
    assert_int_equal(mproc_process_join(c, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(c, &code), MPROC_OK);
    assert_int_equal(code, -9);
#endif
    mproc_process_destroy(c);

    c = start_sigterm_child(target_handles_sigterm, "kill-handler");
    assert_int_equal(mproc_process_kill(c), MPROC_OK);
    assert_int_equal(mproc_process_join(c, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(c, &code), MPROC_OK);
    assert_int_equal(code, -9);
    mproc_process_destroy(c);
}

/* ---- pool: terminate, destroy, timeouts --------------------------------------------------------
 */

static int task_sleep(const void *arg, size_t len, mproc_output *out)
{
    long ms = 0;
    (void)out;
    if (len == sizeof ms) {
        memcpy(&ms, arg, sizeof ms);
    }
    tu_sleep_ms(ms);
    return 0;
}

static volatile long canceled_seen;

static void count_canceled(void *user, const mproc_error *err)
{
    (void)user;
    if (err->code == MPROC_ECANCELED) {
        tu_atomic_add(&canceled_seen, 1);
    }
}

/* The header: every error callback of a canceled task has run when terminate returns. */
static void claim_terminate_runs_error_callbacks_before_it_returns(void **state)
{
    enum { TASKS = 20 };
    mproc_pool *p = NULL;
    long ms = LONG_TASK_MS;
    int i;
    (void)state;
    tu_atomic_store(&canceled_seen, 0);
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    for (i = 0; i < TASKS; i++) {
        assert_int_equal(
            mproc_pool_apply_async(p, task_sleep, &ms, sizeof ms, NULL, count_canceled, NULL, NULL),
            MPROC_OK);
    }
    tu_sleep_ms(200); /* the first one is likely running: it is canceled as well */
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    assert_int_equal(tu_atomic_load(&canceled_seen), TASKS);
    mproc_pool_destroy(p);
}

static int task_ignoring_sigterm(const void *arg, size_t len, mproc_output *out)
{
    uint64_t end = tu_now_ms() + (uint64_t)LONG_TASK_MS;
    (void)arg;
    (void)len;
    (void)out;
    signal(SIGTERM, SIG_IGN);
    while (tu_now_ms() < end) {
        tu_sleep_ms(20);
    }
    return 0;
}

/* The header: pool terminate kills its workers (unlike Python's, which sends SIGTERM): a task
 * that ignores SIGTERM does not hold it up. */
static void claim_pool_terminate_is_unconditional(void **state)
{
    mproc_pool *p = NULL;
    mproc_async *a = NULL;
    uint64_t t0;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    assert_int_equal(
        mproc_pool_apply_async(p, task_ignoring_sigterm, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    tu_sleep_ms(500); /* running, SIGTERM ignored */
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    assert_true(tu_now_ms() - t0 < (uint64_t)LONG_TASK_MS / 2);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_ECANCELED);
    mproc_async_release(a);
    mproc_pool_destroy(p);
}

/* The header: destroy of a pool that was closed but not joined terminates it. */
static void claim_destroy_of_closed_pool_terminates_it(void **state)
{
    enum { TASKS = 3 };
    mproc_pool *p = NULL;
    mproc_async *a[TASKS];
    long ms = LONG_TASK_MS;
    uint64_t t0;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    for (i = 0; i < TASKS; i++) {
        assert_int_equal(
            mproc_pool_apply_async(p, task_sleep, &ms, sizeof ms, NULL, NULL, NULL, &a[i]),
            MPROC_OK);
    }
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    t0 = tu_now_ms();
    mproc_pool_destroy(p);
    /* Not a join: that would take TASKS * 30 s. */
    assert_true(tu_now_ms() - t0 < (uint64_t)LONG_TASK_MS / 2);
    for (i = 0; i < TASKS; i++) {
        assert_int_equal(mproc_async_get(a[i], 0, NULL, NULL), MPROC_ECANCELED);
        mproc_async_release(a[i]);
    }
}

/* The header: a timed-out task's worker is killed, and mproc_error::exitcode says so (-9). */
static void claim_timed_out_task_has_the_killed_workers_exit_code(void **state)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    mproc_async *a = NULL;
    const mproc_error *e;
    long ms = LONG_TASK_MS;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.task_timeout_ms = 300;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(p, task_sleep, &ms, sizeof ms, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_get(a, 60000, NULL, NULL), MPROC_ETIMEDOUT);
    e = mproc_async_error(a);
    assert_non_null(e);
    print_message("timed-out task: exit code %d, \"%s\"\n", e->exitcode, e->message);
    assert_int_equal(e->code, MPROC_ETIMEDOUT);
    assert_int_equal(e->status, 0);
    assert_int_equal(e->exitcode, -9);
    mproc_async_release(a);
    mproc_pool_destroy(p);
}

/* ---- what the sweep found: the header and the guide now say what these show ---------------- */

static int task_fail_returning_0(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    mproc_output_fail(out, "failed with %d", 7);
    return 0;
}

/* mproc_error::status is the task's return value: 0 for a failure reported by
 * mproc_output_fail() with a return of 0. */
static void claim_output_fail_with_return_0_has_status_0(void **state)
{
    mproc_pool *p = NULL;
    mproc_async *a = NULL;
    const mproc_error *e;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    assert_int_equal(
        mproc_pool_apply_async(p, task_fail_returning_0, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_get(a, 60000, NULL, NULL), MPROC_ETASK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->status, 0);
    assert_string_equal(e->message, "failed with 7");
    mproc_async_release(a);
    mproc_pool_destroy(p);
}

static void set_start_method_env(const char *value)
{
#ifdef _WIN32
    char buf[64];
    snprintf(buf, sizeof buf, "MPROC_START_METHOD=%s", value != NULL ? value : "");
    assert_int_equal(_putenv(buf), 0);
#else
    if (value != NULL) {
        assert_int_equal(setenv("MPROC_START_METHOD", value, 1), 0);
    } else {
        assert_int_equal(unsetenv("MPROC_START_METHOD"), 0);
    }
#endif
}

/* MPROC_START_METHOD=fork on Windows: every start that uses the default method fails with
 * MPROC_ENOTSUP, an explicit spawn still works (other values: bad-input row 145). */
static void claim_start_method_env_fork_on_windows(void **state)
{
    const char *saved = getenv("MPROC_START_METHOD");
    char keep[16] = "";
    mproc_pool_options o;
    mproc_pool *p = (mproc_pool *)&p;
    int r;
    (void)state;
    if (saved != NULL) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    set_start_method_env("fork");
    memset(&o, 0, sizeof o);
    o.workers = 1;
    r = mproc_pool_create_ex(&p, &o);
#ifdef _WIN32
    assert_int_equal(r, MPROC_ENOTSUP);
    assert_null(p);
#else
    assert_int_equal(r, MPROC_OK);
    mproc_pool_destroy(p);
#endif
    o.start_method = MPROC_START_SPAWN;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, task_pid, NULL, 0, NULL, NULL), MPROC_OK);
    mproc_pool_destroy(p);
    set_start_method_env(saved != NULL ? keep : NULL);
}

typedef struct map_run {
    mproc_pool *p;
    size_t count;
    char marker[600]; /* each item creates it when it starts, then sleeps */
    int rc;
    mproc_results *r;
} map_run;

typedef struct marked_item {
    char path[600];
} marked_item;

static int task_mark_then_sleep(const void *arg, size_t len, mproc_output *out)
{
    const marked_item *it = arg;
    uint64_t end = tu_now_ms() + (uint64_t)LONG_TASK_MS;
    (void)out;
    if (len != sizeof *it || memchr(it->path, '\0', sizeof it->path) == NULL) {
        return 1;
    }
    (void)tu_write_file_atomic(it->path, "started");
    while (tu_now_ms() < end) {
        tu_sleep_ms(20);
    }
    return 0;
}

static void map_in_thread(void *arg)
{
    map_run *m = arg;
    marked_item *items = calloc(m->count, sizeof *items);
    size_t i;
    if (items == NULL) {
        m->rc = MPROC_ENOMEM;
        return;
    }
    for (i = 0; i < m->count; i++) {
        memcpy(items[i].path, m->marker, strlen(m->marker) + 1);
    }
    m->rc = mproc_pool_map(m->p, task_mark_then_sleep, items, sizeof *items, m->count, 1, &m->r);
    free(items);
}

/* map while the pool is terminated: MPROC_ECANCELED with no results, whether items were still to
 * be sent (5000) or all had been sent and were running (2), as the header says. */
static void claim_map_during_terminate(void **state)
{
    static const size_t counts[] = {2, 5000};
    size_t k;
    (void)state;
    for (k = 0; k < 2; k++) {
        map_run m;
        tu_thread t;
        char buf[16];
        uint64_t end = tu_now_ms() + (uint64_t)READY_LIMIT_MS;
        memset(&m, 0, sizeof m);
        m.count = counts[k];
        m.rc = 1;
        tu_tmp_path(m.marker, sizeof m.marker, k == 0 ? "map-small" : "map-big");
        remove(m.marker);
        assert_int_equal(mproc_pool_create(&m.p, 2), MPROC_OK);
        tu_thread_start(&t, map_in_thread, &m);
        /* An item runs: map has begun sending. */
        while (tu_read_file(m.marker, buf, sizeof buf) <= 0 && tu_now_ms() < end) {
            tu_sleep_ms(10);
        }
        if (k == 0) {
            tu_sleep_ms(300); /* the other item starts too */
        }
        assert_int_equal(mproc_pool_terminate(m.p), MPROC_OK);
        tu_thread_join(&t);
        remove(m.marker);
        print_message("map of %u items, terminated: %s\n", (unsigned)m.count,
                      mproc_error_name(m.rc));
        assert_int_equal(m.rc, MPROC_ECANCELED);
        assert_null(m.r);
        mproc_pool_destroy(m.p);
    }
}

int main(int argc, char **argv)
{
    /* First thing: in a child this library spawned, this runs the child's work and exits. */
    if (tu_guard(argc, argv) != MPROC_OK) {
        return 1;
    }
    tu_no_core_dumps();
    {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(claim_fn_pool_task_from_library_loaded_after_create),
            cmocka_unit_test(claim_fn_process_target_from_library_loaded_at_run_time),
            cmocka_unit_test(claim_fn_fork_worker_needs_no_loader_lock),
            cmocka_unit_test(claim_terminate_is_sigterm_on_posix),
            cmocka_unit_test(claim_kill_stops_a_child_that_ignores_sigterm),
            cmocka_unit_test(claim_terminate_runs_error_callbacks_before_it_returns),
            cmocka_unit_test(claim_pool_terminate_is_unconditional),
            cmocka_unit_test(claim_destroy_of_closed_pool_terminates_it),
            cmocka_unit_test(claim_timed_out_task_has_the_killed_workers_exit_code),
            cmocka_unit_test(claim_output_fail_with_return_0_has_status_0),
            cmocka_unit_test(claim_start_method_env_fork_on_windows),
            cmocka_unit_test(claim_map_during_terminate),
        };
        return cmocka_run_group_tests_name("claims", tests, NULL, NULL);
    }
}
