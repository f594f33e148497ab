/* Parent death: a process that runs a busy pool and a daemon child is killed (or crashes), and
 * every pool worker and the daemon child are gone within 2 s. The library makes pool workers
 * daemons (PR_SET_PDEATHSIG on Linux, a job object that kills on close on Windows).
 *
 * The test cannot kill itself, so it starts an intermediate process whose target creates a pool
 * of 2 with tasks that sleep 30 s, starts a daemon process child, writes every pid to a temporary
 * file and waits. The test kills the intermediate (or tells it to abort), then polls the pids. A
 * killed process reparented to init may stay a zombie for a moment: a zombie counts as gone. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#define TASK_SLEEP_MS 30000L
#define GONE_WITHIN_MS 2000L
#define READY_WITHIN_MS 60000L

/* What the intermediate is told: where to write, and how it ends. */
struct plan {
    char prefix[480]; /* file names are prefix + "-task-0", "-daemon", "-ready", "-go" */
    int abort_on_go;  /* 0: waits to be killed; 1: aborts once the go file appears */
};

static void name_file(char *out, size_t cap, const char *prefix, const char *suffix)
{
    snprintf(out, cap, "%s-%s", prefix, suffix);
}

static int write_pid(const char *path)
{
    char text[32];
    snprintf(text, sizeof text, "%ld\n", mproc_getpid());
    return tu_write_file_atomic(path, text);
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

/* A pool task: writes its worker's pid to the file named in arg, then sleeps. */
static int task_pid_then_sleep(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    if (arg == NULL || len == 0 || ((const char *)arg)[len - 1] != '\0') {
        return 1;
    }
    if (write_pid(arg) != 0) {
        return 2;
    }
    tu_sleep_ms(TASK_SLEEP_MS);
    return 0;
}

/* The daemon child: writes its pid, then sleeps. */
static int t_daemon(const void *arg, size_t len)
{
    if (arg == NULL || len == 0 || ((const char *)arg)[len - 1] != '\0') {
        return 1;
    }
    if (write_pid(arg) != 0) {
        return 2;
    }
    tu_sleep_ms(60000);
    return 0;
}

static void die_by_abort(void)
{
#ifndef _WIN32
    /* A forked intermediate inherits cmocka's handlers, which would catch the abort. */
    signal(SIGABRT, SIG_DFL);
#endif
    abort();
}

/* The intermediate: a busy pool of 2 and a daemon child, their pids in files, then a wait. */
static int t_intermediate(const void *arg, size_t len)
{
    struct plan plan;
    char paths[3][512], ready[512], go[512], text[128];
    mproc_process_options o;
    mproc_process *daemon = NULL;
    mproc_pool *pool = NULL;
    long pids[3];
    uint64_t deadline;
    int i;

    if (arg == NULL || len != sizeof plan) {
        return 1;
    }
    memcpy(&plan, arg, sizeof plan);
    name_file(paths[0], sizeof paths[0], plan.prefix, "task-0");
    name_file(paths[1], sizeof paths[1], plan.prefix, "task-1");
    name_file(paths[2], sizeof paths[2], plan.prefix, "daemon");
    name_file(ready, sizeof ready, plan.prefix, "ready");
    name_file(go, sizeof go, plan.prefix, "go");

    if (mproc_pool_create(&pool, 2) != MPROC_OK) {
        return 2;
    }
    for (i = 0; i < 2; i++) {
        if (mproc_pool_apply_async(pool, task_pid_then_sleep, paths[i], strlen(paths[i]) + 1, NULL,
                                   NULL, NULL, NULL) != MPROC_OK) {
            return 3;
        }
    }
    memset(&o, 0, sizeof o);
    o.target = t_daemon;
    o.arg = paths[2];
    o.arg_len = strlen(paths[2]) + 1;
    o.daemon = 1;
    if (mproc_process_create_ex(&daemon, &o) != MPROC_OK ||
        mproc_process_start(daemon) != MPROC_OK) {
        return 4;
    }
    deadline = tu_now_ms() + READY_WITHIN_MS;
    for (i = 0; i < 3; i++) {
        while ((pids[i] = read_pid(paths[i])) == 0 && tu_now_ms() < deadline) {
            tu_sleep_ms(10);
        }
        if (pids[i] == 0) {
            return 5;
        }
        remove(paths[i]);
    }
    snprintf(text, sizeof text, "%ld %ld %ld\n", pids[0], pids[1], pids[2]);
    if (tu_write_file_atomic(ready, text) != 0) {
        return 6;
    }
    for (;;) {
        if (plan.abort_on_go && tu_read_file(go, text, sizeof text) >= 0) {
            die_by_abort();
        }
        tu_sleep_ms(10);
    }
}

/* Starts the intermediate and waits for its pids (worker, worker, daemon). */
static mproc_process *start_intermediate(struct plan *plan, int abort_on_go, const char *tag,
                                         long pids[3])
{
    char ready[512], text[128];
    mproc_process *p = NULL;
    uint64_t deadline;
    int n = 0;

    memset(plan, 0, sizeof *plan);
    tu_tmp_path(plan->prefix, sizeof plan->prefix, tag);
    plan->abort_on_go = abort_on_go;
    name_file(ready, sizeof ready, plan->prefix, "ready");
    remove(ready);
    assert_int_equal(mproc_process_create(&p, t_intermediate, plan, sizeof *plan), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    deadline = tu_now_ms() + READY_WITHIN_MS;
    while (tu_now_ms() < deadline && mproc_process_is_alive(p)) {
        if (tu_read_file(ready, text, sizeof text) > 0 &&
            (n = sscanf(text, "%ld %ld %ld", &pids[0], &pids[1], &pids[2])) == 3) {
            break;
        }
        tu_sleep_ms(10);
    }
    remove(ready);
    if (n != 3) {
        int code = 0;
        if (mproc_process_join(p, 0) == MPROC_OK) {
            mproc_process_exitcode(p, &code);
        }
        mproc_process_destroy(p);
        fail_msg("the intermediate never reported its pids (exit code %d)", code);
    }
    return p;
}

/* Polls until every pid is gone; returns how many are left after GONE_WITHIN_MS (those are
 * killed, so no test leaves a process behind). */
static int wait_all_gone(const long pids[3], uint64_t since)
{
    static const char *what[3] = {"pool worker 1", "pool worker 2", "daemon child"};
    uint64_t deadline = since + GONE_WITHIN_MS;
    int i, left;
    for (;;) {
        left = 0;
        for (i = 0; i < 3; i++) {
            left += !tu_pid_gone(pids[i]);
        }
        if (left == 0 || tu_now_ms() >= deadline) {
            break;
        }
        tu_sleep_ms(10);
    }
    print_message("%d of 3 gone %lu ms after the parent died\n", 3 - left,
                  (unsigned long)(tu_now_ms() - since));
    for (i = 0; i < 3; i++) {
        if (!tu_pid_gone(pids[i])) {
            print_message("%s (pid %ld) outlived its parent\n", what[i], pids[i]);
            tu_pid_force_kill(pids[i]);
        }
    }
    return left;
}

static void test_parent_killed_workers_and_daemon_go(void **state)
{
    struct plan plan;
    long pids[3];
    mproc_process *p;
    uint64_t killed_at;
    int code = 0, i;
    (void)state;

    p = start_intermediate(&plan, 0, "death-kill", pids);
    for (i = 0; i < 3; i++) {
        assert_false(tu_pid_gone(pids[i]));
    }
    assert_int_equal(mproc_process_kill(p), MPROC_OK);
    killed_at = tu_now_ms();
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    mproc_process_destroy(p);
    assert_int_equal(code, -9);
    assert_int_equal(wait_all_gone(pids, killed_at), 0);
}

static void test_parent_crashed_workers_and_daemon_go(void **state)
{
    struct plan plan;
    char go[512];
    long pids[3];
    mproc_process *p;
    uint64_t told_at;
    int code = 0, i;
    (void)state;

    p = start_intermediate(&plan, 1, "death-abort", pids);
    for (i = 0; i < 3; i++) {
        assert_false(tu_pid_gone(pids[i]));
    }
    name_file(go, sizeof go, plan.prefix, "go");
    assert_int_equal(tu_write_file_atomic(go, "go\n"), 0);
    told_at = tu_now_ms();
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    mproc_process_destroy(p);
    remove(go);
    assert_int_equal(code, -6);
    assert_int_equal(wait_all_gone(pids, told_at), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parent_killed_workers_and_daemon_go),
        cmocka_unit_test(test_parent_crashed_workers_and_daemon_go),
    };
    if (tu_guard(argc, argv) != MPROC_OK) {
        return 1;
    }
    tu_no_core_dumps();
    return cmocka_run_group_tests_name("parent_death", tests, NULL, NULL);
}
