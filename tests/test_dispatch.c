/* The dispatch suite: how the pool hands tasks to workers and notices they are gone. Workers
 * whose initializer fails or dies (bounded restarts with a back-off, then the pool gives up;
 * it recovers when the cause goes away), no task waiting behind a busy worker while another is
 * free, and (POSIX) a worker's death seen at once although a process its task forked holds
 * its pipes. Every wait is bounded; timing bounds are generous, since the machine may be
 * loaded: each is far below what the old behaviour took. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

/* ---- tasks and initializers ---- */

/* A path crosses to a worker as bytes: a spawned worker has none of the parent's globals. */
static int arg_path(const void *arg, size_t len, char *path, size_t cap)
{
    if (len == 0 || len >= cap || memchr(arg, '\0', len) != NULL)
        return 0;
    memcpy(path, arg, len);
    path[len] = '\0';
    return 1;
}

static void temp_path(char *buf, size_t cap, const char *what)
{
    const char *tmp = getenv("TMPDIR");
#ifdef _WIN32
    if (tmp == NULL)
        tmp = getenv("TEMP");
#endif
    snprintf(buf, cap, "%s/mproc-dispatch-%s-%ld", tmp ? tmp : "/tmp", what, mproc_getpid());
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fclose(f);
    return 1;
}

static long count_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = 0;
    if (f == NULL)
        return 0;
    while (fgetc(f) != EOF)
        n++;
    fclose(f);
    return n;
}

static void append_byte(const char *path)
{
    (void)tu_append(path, "x");
}

/* Logs its run (one byte in the file at arg), then aborts. */
static int aborting_initializer(const void *arg, size_t len)
{
    char path[512];
    if (arg_path(arg, len, path, sizeof path))
        append_byte(path);
#ifndef _WIN32
    signal(SIGABRT, SIG_DFL); /* a forked worker inherits cmocka's handler */
#endif
    abort();
    return 0;
}

/* arg: "<mode><path>": fails (mode 'r': returns 1, 'a': aborts) while the file exists. */
static int flaky_initializer(const void *arg, size_t len)
{
    char buf[512];
    if (!arg_path(arg, len, buf, sizeof buf) || len < 2 || !file_exists(buf + 1))
        return 0;
    if (buf[0] == 'r')
        return 1;
#ifndef _WIN32
    signal(SIGABRT, SIG_DFL);
#endif
    abort();
    return 0;
}

/* Sleeps the long's milliseconds, returns when it started (a clock all processes share) and
 * in which process. */
struct ran {
    uint64_t start_ms, end_ms;
    long pid;
};

static int sleeper(const void *arg, size_t len, mproc_output *out)
{
    long ms;
    struct ran r;
    if (len != sizeof ms)
        return 1;
    memcpy(&ms, arg, sizeof ms);
    r.start_ms = tu_now_ms();
    r.pid = mproc_getpid();
    tu_sleep_ms(ms);
    r.end_ms = tu_now_ms();
    return mproc_output_set(out, &r, sizeof r);
}

/* sleeper on an item of BIG_ITEM bytes (its argument crosses in a slot of the worker's shared
 * memory): the sleep in its first bytes. */
#define BIG_ITEM (300u * 1024u)

static int big_sleeper(const void *arg, size_t len, mproc_output *out)
{
    return len == BIG_ITEM ? sleeper(arg, sizeof(long), out) : 1;
}

static int nothing(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

static int reset(void **state)
{
    (void)state;
    return 0;
}

/* ---- issue 17 item 1: an aborting initializer ---- */

/* Before: 11 414 worker starts in 2 s (fork), every task "the worker running the task died",
 * for as long as the pool lived. Now: a handful of starts with a back-off, then the pool gives
 * up and says the initializer died, with its exit code. */
static void test_aborting_initializer_gives_up(void **state)
{
    char log[512], expect[64];
    mproc_pool *p;
    mproc_pool_options o;
    mproc_async *a;
    const mproc_error *e;
    long runs, later;
    (void)state;
    temp_path(log, sizeof log, "abort-init");
    remove(log);
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = aborting_initializer;
    o.initarg = log;
    o.initarg_len = strlen(log);
    /* Create does not wait for the initializers: the failure shows in the tasks. */
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    tu_sleep_ms(2000);
    runs = count_bytes(log);
    /* Two at the start, then one at a time after 100, 200, 400, 800 ms (more on a slow start,
     * never thousands). */
    assert_true(runs >= 1);
    assert_true(runs <= 8);
    assert_int_equal(mproc_pool_apply_async(p, nothing, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    assert_int_equal(mproc_async_wait(a, 60000), MPROC_OK);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_EWORKER_LOST);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_true(e->exitcode != 0);
    assert_non_null(strstr(e->message, "initializer died"));
    snprintf(expect, sizeof expect, "exit code %d", e->exitcode);
    assert_non_null(strstr(e->message, expect));
    mproc_async_release(a);
    /* Given up means no more starts. */
    runs = count_bytes(log);
    assert_true(runs <= 8);
    tu_sleep_ms(500);
    later = count_bytes(log);
    assert_int_equal(later, runs);
    /* Later tasks fail at once, and the pool still closes. */
    assert_int_equal(mproc_pool_apply(p, nothing, NULL, 0, NULL, NULL), MPROC_EWORKER_LOST);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
    remove(log);
}

/* ---- issue 20 item 4: a failed initializer is not the end of the pool ---- */

static void run_recovery(char mode)
{
    char flag[512], arg[520];
    mproc_pool *p;
    mproc_pool_options o;
    mproc_async *a;
    FILE *f;
    int i;

    temp_path(flag, sizeof flag, mode == 'r' ? "flag-ret" : "flag-abort");
    f = fopen(flag, "wb");
    assert_non_null(f);
    fclose(f);
    snprintf(arg, sizeof arg, "%c%s", mode, flag);
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.initializer = flaky_initializer;
    o.initarg = arg;
    o.initarg_len = strlen(arg);
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    /* Submitted while every start fails: it waits, it does not fail. */
    assert_int_equal(mproc_pool_apply_async(p, nothing, NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
    tu_sleep_ms(300);
    assert_int_equal(mproc_async_ready(a), 0);
    /* The cause goes away well before the pool would give up (about 3 s of back-off). */
    remove(flag);
    assert_int_equal(mproc_async_wait(a, 60000), MPROC_OK);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_OK);
    mproc_async_release(a);
    for (i = 0; i < 4; i++)
        assert_int_equal(mproc_pool_apply(p, nothing, NULL, 0, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void test_initializer_failure_recovers(void **state)
{
    (void)state;
    run_recovery('r');
}

static void test_initializer_crash_recovers(void **state)
{
    (void)state;
    run_recovery('a');
}

/* ---- issue 17 item 2: no task waits behind a busy worker while another is free ---- */

/* Before: with one 15 s task and five 10 ms tasks on two workers, one short task waited for
 * the long one. Now every short task is done long before the long one (60 s here) ends. */
static void test_short_tasks_do_not_wait_behind_long(void **state)
{
    mproc_pool *p;
    mproc_async *lng, *a[5];
    long ms = 60000, shortms = 10;
    int i;
    (void)state;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, nothing, NULL, 0, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(p, sleeper, &ms, sizeof ms, NULL, NULL, NULL, &lng),
                     MPROC_OK);
    for (i = 0; i < 5; i++)
        assert_int_equal(
            mproc_pool_apply_async(p, sleeper, &shortms, sizeof shortms, NULL, NULL, NULL, &a[i]),
            MPROC_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(mproc_async_wait(a[i], 20000), MPROC_OK);
        assert_int_equal(mproc_async_get(a[i], 0, NULL, NULL), MPROC_OK);
        mproc_async_release(a[i]);
    }
    assert_int_equal(mproc_async_ready(lng), 0);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    assert_int_equal(mproc_async_get(lng, 0, NULL, NULL), MPROC_ECANCELED);
    mproc_async_release(lng);
    mproc_pool_destroy(p);
}

/* Maps fn over 9 items of item_size bytes (item 0 the long one) with chunksize 1 on two
 * workers: no item runs on the long item's worker after it. */
static void map_none_behind_long(mproc_task fn, const void *items, size_t item_size)
{
    mproc_pool *p;
    mproc_results *res;
    struct ran r[9];
    size_t i, len;
    const void *d;
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, nothing, NULL, 0, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_map(p, fn, items, item_size, 9, 1, &res), MPROC_OK);
    for (i = 0; i < 9; i++) {
        assert_int_equal(mproc_results_get(res, i, &d, &len), MPROC_OK);
        assert_int_equal(len, sizeof r[i]);
        memcpy(&r[i], d, sizeof r[i]);
    }
    for (i = 1; i < 9; i++)
        if (r[i].pid == r[0].pid)
            assert_true(r[i].end_ms <= r[0].start_ms + 50);
    mproc_results_destroy(res);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

/* Before: map of one long item among short ones (chunksize 1, two workers) left four short
 * items queued behind the long one while the other worker went idle. Now none runs on the long
 * item's worker after it: the other worker takes them back. */
static void test_map_items_do_not_wait_behind_long(void **state)
{
    long items[9];
    size_t i;
    (void)state;
    for (i = 0; i < 9; i++)
        items[i] = i == 0 ? 5000 : 250;
    map_none_behind_long(sleeper, items, sizeof items[0]);
}

/* Items whose arguments cross in the slots: the next one waits in a slot behind a running one
 * however long that runs (so no worker waits for its next argument to be copied), and is taken
 * back when the other worker runs dry: none runs after the long item on its worker. */
static void test_big_items_do_not_wait_behind_long(void **state)
{
    unsigned char *items = calloc(9, BIG_ITEM);
    size_t i;
    (void)state;
    assert_non_null(items);
    for (i = 0; i < 9; i++) {
        long ms = i == 0 ? 5000 : 250;
        memcpy(items + i * BIG_ITEM, &ms, sizeof ms);
    }
    map_none_behind_long(big_sleeper, items, BIG_ITEM);
    free(items);
}

/* Trivial tasks still travel pipelined and each runs exactly once, whatever is taken back at
 * the end of a batch (a task run twice or lost shows in the counts). */
static long counted;

static void on_count(void *user, const void *result, size_t len)
{
    (void)user;
    (void)result;
    (void)len;
    counted++; /* the pool's thread runs callbacks one at a time */
}

static int index_task(const void *arg, size_t len, mproc_output *out)
{
    return mproc_output_set(out, arg, len);
}

static void test_every_task_once_under_take_back(void **state)
{
    mproc_pool *p;
    mproc_results *res;
    /* Under Wine every message costs some 50 times more. */
    size_t N = tu_on_wine() ? 2000 : 20000, napply = N / 10;
    int *items = malloc(N * sizeof *items);
    size_t i, len;
    const void *d;
    long sl = 30;
    (void)state;
    assert_non_null(items);
    for (i = 0; i < N; i++)
        items[i] = (int)i;
    assert_int_equal(mproc_pool_create(&p, 3), MPROC_OK);
    counted = 0;
    for (i = 0; i < napply; i++) {
        /* A slow one now and then makes the others take back what waits behind it. */
        if (i % (napply / 4) == 0)
            assert_int_equal(
                mproc_pool_apply_async(p, sleeper, &sl, sizeof sl, on_count, NULL, NULL, NULL),
                MPROC_OK);
        assert_int_equal(mproc_pool_apply_async(p, index_task, &items[i], sizeof items[i], on_count,
                                                NULL, NULL, NULL),
                         MPROC_OK);
    }
    assert_int_equal(mproc_pool_map(p, index_task, items, sizeof *items, N, 1, &res), MPROC_OK);
    for (i = 0; i < N; i++) {
        assert_int_equal(mproc_results_get(res, i, &d, &len), MPROC_OK);
        assert_int_equal(len, sizeof(int));
        assert_int_equal(*(const int *)d, (int)i);
    }
    mproc_results_destroy(res);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(counted, (long)napply + 4);
    mproc_pool_destroy(p);
    free(items);
}

/* ---- issue 17 item 4 (POSIX): a helper forked by a task holds the worker's pipes ---- */
#ifndef _WIN32

/* Forks a child that sleeps 8 s with the worker's descriptors (its stdio on /dev/null, so the
 * test runner does not wait for it); its pid goes to the file at arg. Then aborts (crash) or
 * returns. */
static void fork_helper(const void *arg, size_t len)
{
    char path[512];
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        sleep(8);
        _exit(0);
    }
    if (pid > 0 && arg_path(arg, len, path, sizeof path)) {
        char line[32];
        snprintf(line, sizeof line, "%ld\n", (long)pid);
        (void)tu_append(path, line);
    }
}

static int fork_then_crash(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    fork_helper(arg, len);
    signal(SIGABRT, SIG_DFL);
    abort();
    return 0;
}

static int fork_then_return(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    fork_helper(arg, len);
    return 0;
}

static void kill_helpers(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid;
    if (f == NULL)
        return;
    while (fscanf(f, "%ld", &pid) == 1)
        if (pid > 0)
            kill((pid_t)pid, SIGKILL);
    fclose(f);
    remove(path);
}

/* Before: 8 s each (the helper's sleep). Now the worker's death is seen from its process. */
static void test_forked_helper_does_not_stall_pool(void **state)
{
    char pids[512];
    mproc_pool *p;
    mproc_pool_options o;
    uint64_t t0;
    (void)state;
    temp_path(pids, sizeof pids, "helpers");
    remove(pids);

    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_apply(p, fork_then_crash, pids, strlen(pids), NULL, NULL),
                     MPROC_EWORKER_LOST);
    assert_true(tu_now_ms() - t0 < 5000); /* the crash, seen at once (200 ms without pidfd) */
    assert_int_equal(mproc_pool_apply(p, fork_then_return, pids, strlen(pids), NULL, NULL),
                     MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_true(tu_now_ms() - t0 < 5000); /* close + join */
    mproc_pool_destroy(p);

    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.max_tasks_per_child = 1;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, fork_then_return, pids, strlen(pids), NULL, NULL),
                     MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_apply(p, nothing, NULL, 0, NULL, NULL), MPROC_OK);
    assert_true(tu_now_ms() - t0 < 5000); /* the replacement worker, started at once */
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
    kill_helpers(pids);
}
#endif

/* ---- the same on Windows: a process the task started holds the worker's pipe ---- */
#ifdef _WIN32
    #define HOLD_ARG "--dispatch-hold-pipe"

/* The worker's answer channel (an internal function of the static library, as for
 * test_garbage). A worker's own handles are not inheritable; a copy that is stands for what a
 * careless task hands to a process it starts. */
extern intptr_t mproc__worker_channel(void);

static void start_holder(const void *arg, size_t len)
{
    char path[512];
    wchar_t exe[1024], cmd[1200];
    HANDLE dup = NULL;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;

    if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)mproc__worker_channel(), GetCurrentProcess(),
                         &dup, 0, TRUE, DUPLICATE_SAME_ACCESS))
        return;
    GetModuleFileNameW(NULL, exe, 1024);
    _snwprintf(cmd, 1200,
               L"\"%ls\" "
               L"" HOLD_ARG,
               exe);
    cmd[1199] = 0;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (CreateProcessW(exe, cmd, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, NULL, &si, &pi)) {
        if (arg_path(arg, len, path, sizeof path)) {
            char line[32];
            snprintf(line, sizeof line, "%lu\n", (unsigned long)pi.dwProcessId);
            (void)tu_append(path, line);
        }
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    }
    CloseHandle(dup);
}

static int hold_then_crash(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    start_holder(arg, len);
    TerminateProcess(GetCurrentProcess(), 3);
    return 0;
}

static int hold_then_return(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    start_holder(arg, len);
    return 0;
}

static void kill_holders(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long pid;
    if (f == NULL)
        return;
    while (fscanf(f, "%lu", &pid) == 1) {
        HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
        if (h != NULL) {
            TerminateProcess(h, 1);
            CloseHandle(h);
        }
    }
    fclose(f);
    remove(path);
}

/* Before: the end of the worker showed only when the holder let go of the pipe. */
static void test_pipe_holder_does_not_stall_pool(void **state)
{
    char pids[512];
    mproc_pool *p;
    uint64_t t0;
    (void)state;
    temp_path(pids, sizeof pids, "holders");
    remove(pids);
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_apply(p, hold_then_crash, pids, strlen(pids), NULL, NULL),
                     MPROC_EWORKER_LOST);
    assert_true(tu_now_ms() - t0 < 5000);
    assert_int_equal(mproc_pool_apply(p, hold_then_return, pids, strlen(pids), NULL, NULL),
                     MPROC_OK);
    t0 = tu_now_ms();
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_true(tu_now_ms() - t0 < 5000);
    mproc_pool_destroy(p);
    kill_holders(pids);
}
#endif

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_aborting_initializer_gives_up, reset),
        cmocka_unit_test_setup(test_initializer_failure_recovers, reset),
        cmocka_unit_test_setup(test_initializer_crash_recovers, reset),
        cmocka_unit_test_setup(test_short_tasks_do_not_wait_behind_long, reset),
        cmocka_unit_test_setup(test_map_items_do_not_wait_behind_long, reset),
        cmocka_unit_test_setup(test_big_items_do_not_wait_behind_long, reset),
        cmocka_unit_test_setup(test_every_task_once_under_take_back, reset),
#ifndef _WIN32
        cmocka_unit_test_setup(test_forked_helper_does_not_stall_pool, reset),
#else
        cmocka_unit_test_setup(test_pipe_holder_does_not_stall_pool, reset),
#endif
    };
#ifdef _WIN32
    /* A holder (test_pipe_holder_does_not_stall_pool): sleeps with the pipe, then ends. */
    if (argc > 1 && strcmp(argv[1], HOLD_ARG) == 0) {
        Sleep(8000);
        return 0;
    }
#endif
    return TU_RUN_SUITE(argc, argv, "dispatch", tests);
}
