/* Same program, same behaviour (issue 19): what a program sees must not depend on the OS or
 * the start method. Exit codes keep the low byte everywhere; joining one process from two
 * threads gives both the true code; a status the application took (SIGCHLD ignored, its own
 * waitpid) is recovered or reported as MPROC_ENOSTATUS, never as a false 0; the parent's
 * output comes before the child's; a daemon's non-daemon child outlives it and a daemon's
 * daemon child dies with it; and the suite runs from a long executable path (its copy, run as
 * test_portable_longpath with --long-path=N). */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#define WAIT_MS 30000L

/* ---- small helpers ----------------------------------------------------------------------- */

static int wait_file(const char *path, long ms)
{
    char buf[64];
    uint64_t end = tu_now_ms() + (uint64_t)ms;
    while (tu_read_file(path, buf, sizeof buf) < 0) {
        if (tu_now_ms() >= end) {
            return 0;
        }
        tu_sleep_ms(10);
    }
    return 1;
}

static long read_pid(const char *path)
{
    char text[64];
    long pid = 0;
    if (tu_read_file(path, text, sizeof text) <= 0 || sscanf(text, "%ld", &pid) != 1) {
        return 0;
    }
    return pid;
}

static int write_text(const char *path, long v)
{
    char text[32];
    snprintf(text, sizeof text, "%ld\n", v);
    return tu_write_file_atomic(path, text);
}

static int wait_gone(long pid, long ms)
{
    uint64_t end = tu_now_ms() + (uint64_t)ms;
    while (!tu_pid_gone(pid)) {
        if (tu_now_ms() >= end) {
            return 0;
        }
        tu_sleep_ms(10);
    }
    return 1;
}

/* ---- 4: exit codes keep the low byte on every OS ------------------------------------------ */

static int t_return(const void *arg, size_t len)
{
    int v;
    (void)len;
    memcpy(&v, arg, sizeof v);
    return v;
}

static int t_exit(const void *arg, size_t len)
{
    int v;
    (void)len;
    memcpy(&v, arg, sizeof v);
    fflush(NULL);
    exit(v);
}

static int run_code(mproc_target t, int v, int *code)
{
    mproc_process *p = NULL;
    int r;
    assert_int_equal(mproc_process_create(&p, t, &v, sizeof v), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
    r = mproc_process_exitcode(p, code);
    mproc_process_destroy(p);
    return r;
}

static void test_exit_code_low_byte(void **state)
{
    static const int values[] = {0, 42, 255, 256, 1000, -1, -15, 65536 + 9, -9};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        int code = 12345;
        assert_int_equal(run_code(t_return, values[i], &code), MPROC_OK);
        print_message("return %d -> exit code %d\n", values[i], code);
        assert_int_equal(code, values[i] & 255);
        /* exit(n) as well: n & 255, as POSIX keeps it (on Windows for n in -256..65535:
         * above, the codes of crashes and of terminate begin). */
        if (values[i] > 65535) {
            continue;
        }
        code = 12345;
        assert_int_equal(run_code(t_exit, values[i], &code), MPROC_OK);
        assert_int_equal(code, values[i] & 255);
    }
}

/* ---- 5: two threads join one process ------------------------------------------------------ */

struct joiner {
    mproc_process *p;
    int rc, code;
};

static void join_thread(void *arg)
{
    struct joiner *j = arg;
    j->rc = mproc_process_join(j->p, WAIT_MS);
    if (j->rc == MPROC_OK) {
        j->rc = mproc_process_exitcode(j->p, &j->code);
    }
}

static void test_join_from_two_threads(void **state)
{
    int runs = tu_on_wine() ? 10 : 50, i, wrong = 0, v = 7;
    (void)state;
    for (i = 0; i < runs; i++) {
        struct joiner a, b;
        tu_thread ta, tb;
        mproc_process *p = NULL;
        assert_int_equal(mproc_process_create(&p, t_return, &v, sizeof v), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_OK);
        a.p = b.p = p;
        a.rc = b.rc = a.code = b.code = -999;
        tu_thread_start(&ta, join_thread, &a);
        tu_thread_start(&tb, join_thread, &b);
        tu_thread_join(&ta);
        tu_thread_join(&tb);
        /* A third look after both: the same answer again. */
        if (a.rc != MPROC_OK || b.rc != MPROC_OK || a.code != 7 || b.code != 7 ||
            mproc_process_is_alive(p) != 0) {
            wrong++;
            print_message("run %d: rc %d/%d code %d/%d\n", i, a.rc, b.rc, a.code, b.code);
        }
        mproc_process_destroy(p);
    }
    print_message("two-thread join wrong in %d of %d runs\n", wrong, runs);
    assert_int_equal(wrong, 0);
}

/* ---- 5 and issue 16: the application takes the status ------------------------------------ */

#ifndef _WIN32
static int t_sleep(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_sleep_ms(WAIT_MS);
    return 3;
}

static int task_abort(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    abort();
}

/* Without a pidfd (MPROC_NO_PIDFD, old kernels) nothing keeps a lost status but the child's
 * own report; with one, Linux 6.15 and later keep it too. */
static int pidfd_off(void)
{
    const char *v = getenv("MPROC_NO_PIDFD");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* A signal's code when the status may be lost: -sig where it was kept (a pidfd on Linux 6.15
 * and later; or the library reaped first, racing an application's reaper), else ENOSTATUS.
 * With SIGCHLD ignored and no pidfd, nothing can keep it. */
static void check_lost_signal(int rc, int code, int sig, int kept_impossible)
{
    if (rc == MPROC_OK) {
        assert_false(kept_impossible);
        assert_int_equal(code, -sig);
    } else {
        assert_int_equal(rc, MPROC_ENOSTATUS);
    }
}

static void terminated_code(int *rc, int *code)
{
    mproc_process *p = NULL;
    assert_int_equal(mproc_process_create(&p, t_sleep, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
    *code = 12345;
    *rc = mproc_process_exitcode(p, code);
    mproc_process_destroy(p);
}

static void pool_abort_code(int *exitcode)
{
    mproc_pool *pool = NULL;
    mproc_async *a = NULL;
    const mproc_error *e;
    assert_int_equal(mproc_pool_create(&pool, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(pool, task_abort, NULL, 0, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_wait(a, WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_EWORKER_LOST);
    e = mproc_async_error(a);
    assert_non_null(e);
    *exitcode = e->exitcode;
    print_message("pool task abort: worker lost, exit code %d (%s)\n", e->exitcode, e->message);
    mproc_async_release(a);
    assert_int_equal(mproc_pool_terminate(pool), MPROC_OK);
    mproc_pool_destroy(pool);
}

static void steal_checks(const char *what, int kept_impossible)
{
    int v = 42, code = 12345, rc, i;
    for (i = 0; i < 5; i++) {
        code = 12345;
        assert_int_equal(run_code(t_return, v, &code), MPROC_OK);
        assert_int_equal(code, 42);
    }
    code = 12345;
    assert_int_equal(run_code(t_return, 0, &code), MPROC_OK);
    assert_int_equal(code, 0);
    terminated_code(&rc, &code);
    print_message("%s: terminate -> %s, code %d\n", what, mproc_error_name(rc), code);
    check_lost_signal(rc, code, 15, kept_impossible);
    pool_abort_code(&code);
    check_lost_signal(code == -6 ? MPROC_OK : code, code, 6, kept_impossible);
}

static void test_sigchld_ignored_codes(void **state)
{
    struct sigaction sa, old;
    (void)state;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
    steal_checks("SIGCHLD ignored", pidfd_off());
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}

static void reap_all(int sig)
{
    int saved = errno;
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

/* A failed check leaves the handler in place: the next tests must not inherit it. */
static int restore_sigchld(void **state)
{
    (void)state;
    signal(SIGCHLD, SIG_DFL);
    return 0;
}

static void test_application_reaper(void **state)
{
    struct sigaction sa, old;
    (void)state;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = reap_all;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
    steal_checks("waitpid(-1) reaper", 0);
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
}
#endif

/* ---- 3: the parent's output comes first --------------------------------------------------- */

static int t_print(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    printf("child line\n");
    return 0;
}

/* Runs with stdout a file, fully buffered from the start in a spawned child: prints, starts a
 * child that prints, joins it. */
static int t_order_runner(const void *arg, size_t len)
{
    mproc_process *p = NULL;
    (void)arg;
    (void)len;
    printf("parent line\n");
    if (mproc_process_create(&p, t_print, NULL, 0) != MPROC_OK || mproc_process_start(p) != 0 ||
        mproc_process_join(p, WAIT_MS) != MPROC_OK) {
        return 1;
    }
    mproc_process_destroy(p);
    return 0;
}

static void test_output_order(void **state)
{
    char path[600], text[256];
    mproc_process *p = NULL;
    int code = -1, r;
#ifdef _WIN32
    HANDLE f, saved = GetStdHandle(STD_OUTPUT_HANDLE);
#else
    int fd, saved;
#endif
    (void)state;
    tu_tmp_path(path, sizeof path, "order");
    remove(path);
    fflush(NULL);
#ifdef _WIN32
    f = CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, CREATE_ALWAYS, 0,
                    NULL);
    assert_true(f != INVALID_HANDLE_VALUE);
    SetStdHandle(STD_OUTPUT_HANDLE, f);
#else
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    saved = dup(1);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 1) == 1);
    close(fd);
#endif
    r = mproc_process_create(&p, t_order_runner, NULL, 0);
    if (r == MPROC_OK) {
        r = mproc_process_start(p);
    }
    if (r == MPROC_OK) {
        r = mproc_process_join(p, WAIT_MS);
    }
    if (r == MPROC_OK) {
        r = mproc_process_exitcode(p, &code);
    }
    mproc_process_destroy(p);
    fflush(NULL);
#ifdef _WIN32
    SetStdHandle(STD_OUTPUT_HANDLE, saved);
    CloseHandle(f);
#else
    dup2(saved, 1);
    close(saved);
#endif
    assert_int_equal(r, MPROC_OK);
    assert_int_equal(code, 0);
    assert_true(tu_read_file(path, text, sizeof text) > 0);
    remove(path);
    {
        /* Text mode on Windows writes CRLF. */
        char *from = text, *to = text;
        for (; *from != '\0'; from++) {
            if (*from != '\r') {
                *to++ = *from;
            }
        }
        *to = '\0';
    }
    print_message("stdout a file: \"%s\"\n", text);
    assert_string_equal(text, "parent line\nchild line\n");
}

/* ---- 1: daemon and non-daemon grandchildren ----------------------------------------------- */

/* What a child is told: a prefix of file names it writes ("-<tag>-pid", "-<tag>-done") and
 * waits for ("-go"). */
struct plan {
    char prefix[480];
    char tag[16];
    int daemon; /* for the child this one starts */
};

static void name_file(char *out, size_t cap, const char *prefix, const char *suffix)
{
    snprintf(out, cap, "%s-%s", prefix, suffix);
}

/* A grandchild: writes its pid, waits for the go file, writes its done file. */
static int t_grandchild(const void *arg, size_t len)
{
    const struct plan *pl = arg;
    char f[600];
    if (len != sizeof *pl) {
        return 1;
    }
    snprintf(f, sizeof f, "%s-%s-pid", pl->prefix, pl->tag);
    write_text(f, mproc_getpid());
    name_file(f, sizeof f, pl->prefix, "go");
    if (!wait_file(f, WAIT_MS)) {
        return 2;
    }
    snprintf(f, sizeof f, "%s-%s-done", pl->prefix, pl->tag);
    write_text(f, mproc_getpid());
    return 0;
}

/* Starts a grandchild as the plan says (its handle kept: destroying it would kill it). */
static int start_grandchild(const struct plan *from, const char *tag, int daemon)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    struct plan pl = *from;
    snprintf(pl.tag, sizeof pl.tag, "%s", tag);
    memset(&o, 0, sizeof o);
    o.target = t_grandchild;
    o.arg = &pl;
    o.arg_len = sizeof pl;
    o.daemon = daemon;
    if (mproc_process_create_ex(&p, &o) != MPROC_OK || mproc_process_start(p) != MPROC_OK) {
        return 1;
    }
    return 0;
}

/* A pool task: starts a non-daemon grandchild and returns. */
static int task_start_plain(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    if (len != sizeof(struct plan)) {
        return 1;
    }
    return start_grandchild(arg, "plain", 0);
}

static void cleanup_pids(const char *prefix, const char *const *tags, size_t n)
{
    size_t i;
    char f[600];
    for (i = 0; i < n; i++) {
        long pid;
        snprintf(f, sizeof f, "%s-%s-pid", prefix, tags[i]);
        pid = read_pid(f);
        if (pid > 0 && !tu_pid_gone(pid)) {
            tu_pid_force_kill(pid);
        }
        remove(f);
        snprintf(f, sizeof f, "%s-%s-done", prefix, tags[i]);
        remove(f);
    }
    name_file(f, sizeof f, prefix, "go");
    remove(f);
}

static void test_pool_task_child_outlives_pool(void **state)
{
    static const char *const tags[] = {"plain"};
    struct plan pl;
    mproc_pool *pool = NULL;
    char f[600];
    int ok;
    (void)state;
    memset(&pl, 0, sizeof pl);
    tu_tmp_path(pl.prefix, sizeof pl.prefix, "pooltask");
    cleanup_pids(pl.prefix, tags, 1);
    assert_int_equal(mproc_pool_create(&pool, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply(pool, task_start_plain, &pl, sizeof pl, NULL, NULL),
                     MPROC_OK);
    snprintf(f, sizeof f, "%s-plain-pid", pl.prefix);
    ok = wait_file(f, WAIT_MS);
    assert_int_equal(mproc_pool_close(pool), MPROC_OK);
    assert_int_equal(mproc_pool_join(pool), MPROC_OK);
    mproc_pool_destroy(pool);
    /* The pool and its workers are gone; the task's plain child must still run. */
    name_file(f, sizeof f, pl.prefix, "go");
    write_text(f, 1);
    snprintf(f, sizeof f, "%s-plain-done", pl.prefix);
    ok = ok && wait_file(f, WAIT_MS);
    print_message("a pool task's non-daemon child after the pool's end: %s\n",
                  ok ? "alive" : "killed");
    cleanup_pids(pl.prefix, tags, 1);
    assert_true(ok);
}

/* The daemon: starts a non-daemon and a daemon grandchild, says so, and waits to die. */
static int t_daemon(const void *arg, size_t len)
{
    const struct plan *pl = arg;
    char f[600];
    if (len != sizeof *pl) {
        return 1;
    }
    if (start_grandchild(pl, "plain", 0) != 0 || start_grandchild(pl, "daemon", 1) != 0) {
        return 2;
    }
    /* Both run their own code before this one may end (a slow start, under a sanitizer, would
     * otherwise let the daemon child die before it wrote its pid). */
    snprintf(f, sizeof f, "%s-plain-pid", pl->prefix);
    if (!wait_file(f, WAIT_MS)) {
        return 3;
    }
    snprintf(f, sizeof f, "%s-daemon-pid", pl->prefix);
    if (!wait_file(f, WAIT_MS)) {
        return 4;
    }
    snprintf(f, sizeof f, "%s-mid-pid", pl->prefix);
    write_text(f, mproc_getpid());
    tu_sleep_ms(WAIT_MS);
    return 0;
}

/* The top: starts the daemon, waits until it has its children, and returns from its target,
 * which ends this process as returning from main would. */
static int t_top(const void *arg, size_t len)
{
    const struct plan *pl = arg;
    mproc_process_options o;
    mproc_process *p = NULL;
    char f[600];
    if (len != sizeof *pl) {
        return 1;
    }
    memset(&o, 0, sizeof o);
    o.target = t_daemon;
    o.arg = pl;
    o.arg_len = sizeof *pl;
    o.daemon = 1;
    if (mproc_process_create_ex(&p, &o) != MPROC_OK || mproc_process_start(p) != MPROC_OK) {
        return 2;
    }
    snprintf(f, sizeof f, "%s-mid-pid", pl->prefix);
    if (!wait_file(f, WAIT_MS)) {
        return 3;
    }
    return 0;
}

/* Ends the daemon's parent (by return, or killed) and checks: the daemon goes, its daemon child
 * goes, its non-daemon child stays. */
static void daemon_matrix(int kill_parent)
{
    static const char *const tags[] = {"plain", "daemon", "mid"};
    mproc_process_options o;
    mproc_process *p = NULL;
    struct plan pl;
    char f[600];
    long mid, dpid, ppid;
    int code = -1, mid_gone, daemon_gone, plain_alive;

    memset(&pl, 0, sizeof pl);
    tu_tmp_path(pl.prefix, sizeof pl.prefix, kill_parent ? "dkill" : "dret");
    cleanup_pids(pl.prefix, tags, 3);
    memset(&o, 0, sizeof o);
    if (kill_parent) {
        /* The daemon itself, killed by us: its own children are the question. */
        o.target = t_daemon;
        o.daemon = 1;
    } else {
        o.target = t_top;
    }
    o.arg = &pl;
    o.arg_len = sizeof pl;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    snprintf(f, sizeof f, "%s-mid-pid", pl.prefix);
    assert_true(wait_file(f, WAIT_MS));
    if (kill_parent) {
        assert_int_equal(mproc_process_kill(p), MPROC_OK);
    }
    assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, kill_parent ? -9 : 0);
    mproc_process_destroy(p);

    mid = read_pid(f);
    snprintf(f, sizeof f, "%s-daemon-pid", pl.prefix);
    assert_true(wait_file(f, WAIT_MS));
    dpid = read_pid(f);
    snprintf(f, sizeof f, "%s-plain-pid", pl.prefix);
    assert_true(wait_file(f, WAIT_MS));
    ppid = read_pid(f);
    assert_true(mid > 0 && dpid > 0 && ppid > 0);
    mid_gone = wait_gone(mid, WAIT_MS);
    daemon_gone = wait_gone(dpid, WAIT_MS);
    name_file(f, sizeof f, pl.prefix, "go");
    write_text(f, 1);
    snprintf(f, sizeof f, "%s-plain-done", pl.prefix);
    plain_alive = wait_file(f, WAIT_MS);
    print_message("%s: daemon %s, its daemon child %s, its non-daemon child %s\n",
                  kill_parent ? "daemon killed" : "daemon's parent returned",
                  kill_parent ? "killed" : (mid_gone ? "gone" : "ALIVE"),
                  daemon_gone ? "gone" : "ALIVE", plain_alive ? "alive" : "KILLED");
    cleanup_pids(pl.prefix, tags, 3);
    assert_true(mid_gone);
    assert_true(daemon_gone);
    assert_true(plain_alive);
}

static void test_daemon_parent_returns(void **state)
{
    (void)state;
    daemon_matrix(0);
}

static void test_daemon_killed(void **state)
{
    (void)state;
    daemon_matrix(1);
}

/* ---- 2: a long executable path ------------------------------------------------------------ */

static long long_path_min;

/* This executable's path length in characters, and whether it has a space and a character
 * outside ASCII. */
static long own_path_length(int *space, int *non_ascii)
{
    long n = 0;
#ifdef _WIN32
    wchar_t buf[40000];
    DWORD i, len = GetModuleFileNameW(NULL, buf, 40000);
    *space = *non_ascii = 0;
    for (i = 0; i < len; i++) {
        *space |= buf[i] == L' ';
        *non_ascii |= buf[i] > 127;
    }
    n = (long)len;
#else
    char buf[8192];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1), i;
    *space = *non_ascii = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        *space |= c == ' ';
        *non_ascii |= c > 127;
        n += (c & 0xC0) != 0x80; /* UTF-8: count the first byte of each character */
    }
#endif
    return n;
}

static int task_ok(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    return 0;
}

static void test_long_path_starts(void **state)
{
    int space, non_ascii, code = -1, r;
    long n = own_path_length(&space, &non_ascii);
    mproc_pool *pool = NULL;
    (void)state;
    print_message("running from a path of %ld characters (space %d, non-ASCII %d)\n", n, space,
                  non_ascii);
    assert_true(n >= long_path_min);
    assert_true(space);
#ifndef _WIN32
    assert_true(non_ascii);
#endif
    r = run_code(t_return, 9, &code);
    if (r != MPROC_OK) {
        print_message("start failed: %s, OS error %ld\n", mproc_error_name(r),
                      mproc_last_os_error());
    }
    assert_int_equal(r, MPROC_OK);
    assert_int_equal(code, 9);
    assert_int_equal(mproc_pool_create(&pool, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply(pool, task_ok, NULL, 0, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_close(pool), MPROC_OK);
    assert_int_equal(mproc_pool_join(pool), MPROC_OK);
    mproc_pool_destroy(pool);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_low_byte),
        cmocka_unit_test(test_join_from_two_threads),
#ifndef _WIN32
        cmocka_unit_test_teardown(test_sigchld_ignored_codes, restore_sigchld),
        cmocka_unit_test_teardown(test_application_reaper, restore_sigchld),
#endif
        cmocka_unit_test(test_output_order),
        cmocka_unit_test(test_pool_task_child_outlives_pool),
        cmocka_unit_test(test_daemon_parent_returns),
        cmocka_unit_test(test_daemon_killed),
    };
    const struct CMUnitTest long_tests[] = {
        cmocka_unit_test(test_long_path_starts),
    };
    /* The guard: a spawned child runs here and never returns. */
    if (mproc_init(argc, argv) != MPROC_OK) {
        return 1;
    }
    tu_no_core_dumps();
    if (argc > 1 && strncmp(argv[1], "--long-path=", 12) == 0) {
        long_path_min = strtol(argv[1] + 12, NULL, 10);
        return cmocka_run_group_tests_name("portable_longpath", long_tests, NULL, NULL);
    }
    return cmocka_run_group_tests_name("portable", tests, NULL, NULL);
}
