/* The bad-input table (docs/bad-input.md): every public function of include/mproc.h called with
 * NULL, zero, negative and huge values, and in every wrong state, with the exact code it
 * returns. One test per row of the table: row_NN_<what> here is row NN there.
 *
 * Where the library's behaviour differs from what the header promises (a crash, a hang, an
 * undocumented code), the table marks the row **should** and lists it under "Rows that fail
 * today", and its test checks today's result with FAILS_TODAY(), which fails the day the row gives
 * its should result (scripts/check-bad-input.sh keeps the table, that list and the FAILS_TODAY
 * calls in step). A row that could crash or hang the suite runs its calls in a child process
 * (isolated()), so the suite survives to report it. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

static int saved_argc;
static char **saved_argv;

/* In row `row`'s test, for a row that fails today: `got` must still be `today`. The day it is
 * `should`, the test fails and says so: the row, its line under "Rows that fail today" and this
 * call then move to the should result together. */
#define FAILS_TODAY(row, got, today, should)                                                       \
    do {                                                                                           \
        int fails_today_got_ = (got);                                                              \
        if (fails_today_got_ == (should)) {                                                        \
            fail_msg("row %d now gives its should result (%d): update docs/bad-input.md and "      \
                     "this test",                                                                  \
                     (row), fails_today_got_);                                                     \
        }                                                                                          \
        assert_int_equal(fails_today_got_, (today));                                               \
    } while (0)

/* ---- targets and tasks (tu_return and tu_square come from testutil.h) ---- */

static int t_arg_null(const void *arg, size_t len)
{
    return arg == NULL && len == 0 ? 0 : 1;
}

static int t_sleep(const void *arg, size_t len)
{
    long ms = 10000;
    if (arg != NULL && len == sizeof ms) {
        memcpy(&ms, arg, sizeof ms);
    }
    tu_sleep_ms(ms);
    return 0;
}

static int task_sleep(const void *arg, size_t len, mproc_output *out)
{
    long ms = 10000;
    if (arg != NULL && len == sizeof ms) {
        memcpy(&ms, arg, sizeof ms);
    }
    tu_sleep_ms(ms);
    return mproc_output_set(out, "slept", 5);
}

/* An item of zero bytes arrives as NULL, 0. */
static int task_arg_null(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    return arg == NULL && len == 0 ? 0 : 1;
}

/* Calls mproc_output_set / mproc_output_fail with bad input inside a worker and answers with
 * the codes they returned (as ints). */
enum probe {
    PROBE_SET_NULL,
    PROBE_SET_NULL_DATA,
    PROBE_SET_HUGE,
    PROBE_SET_EMPTY,
    PROBE_FAIL_NULL,
    PROBE_FAIL_NULL_FMT,
    PROBE_FAIL_LONG,
    PROBE_RETURN_NONZERO
};

static int task_probe(const void *arg, size_t len, mproc_output *out)
{
    int op = 0, codes[2] = {0, 0};
    static char big[10000];
    if (len == sizeof op) {
        memcpy(&op, arg, sizeof op);
    }
    switch (op) {
    case PROBE_SET_NULL:
        codes[0] = mproc_output_set(NULL, "x", 1);
        codes[1] = mproc_output_set(NULL, NULL, 0);
        break;
    case PROBE_SET_NULL_DATA:
        codes[0] = mproc_output_set(out, NULL, 5);
        break;
    case PROBE_SET_HUGE:
        codes[0] = mproc_output_set(out, "x", SIZE_MAX);
        codes[1] = mproc_output_set(out, "x", ((size_t)1 << 30) + 1);
        break;
    case PROBE_SET_EMPTY:
        codes[0] = mproc_output_set(out, NULL, 0);
        /* Empty result: answers nothing, successfully. */
        return codes[0] == MPROC_OK ? 0 : 1;
    case PROBE_FAIL_NULL:
        codes[0] = mproc_output_fail(NULL, "x");
        break;
    case PROBE_FAIL_NULL_FMT:
        codes[0] = mproc_output_fail(out, NULL);
        break;
    case PROBE_FAIL_LONG:
        memset(big, 'm', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        mproc_output_fail(out, "%s", big);
        return 3;
    case PROBE_RETURN_NONZERO:
        return 5;
    default:
        return 1;
    }
    return mproc_output_set(out, codes, sizeof codes);
}

/* Runs a probe in a worker of a fresh pool; the two codes it saw. */
static void probe(int op, int codes[2])
{
    mproc_pool *p = NULL;
    void *res = NULL;
    size_t len = 0;
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, task_probe, &op, sizeof op, &res, &len), MPROC_OK);
    assert_int_equal(len, 2 * sizeof(int));
    memcpy(codes, res, 2 * sizeof(int));
    mproc_free(res);
    mproc_pool_destroy(p);
}

/* ---- helpers ---- */

static mproc_process *created(mproc_target t, const void *arg, size_t len)
{
    mproc_process *p = NULL;
    assert_int_equal(mproc_process_create(&p, t, arg, len), MPROC_OK);
    assert_non_null(p);
    return p;
}

static mproc_process *started(mproc_target t, const void *arg, size_t len)
{
    mproc_process *p = created(t, arg, len);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    return p;
}

static mproc_process *joined(void)
{
    int zero = 0;
    mproc_process *p = started(tu_return, &zero, sizeof zero);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    return p;
}

static mproc_pool *pool_of(int workers)
{
    mproc_pool *p = NULL;
    assert_int_equal(mproc_pool_create(&p, workers), MPROC_OK);
    assert_non_null(p);
    return p;
}

static mproc_pool *closed_pool(void)
{
    mproc_pool *p = pool_of(1);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    return p;
}

static mproc_pool *terminated_pool(void)
{
    mproc_pool *p = pool_of(1);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    return p;
}

/* A handle of a task that sleeps ms. */
static mproc_async *pending(mproc_pool *p, long ms)
{
    mproc_async *a = NULL;
    assert_int_equal(mproc_pool_apply_async(p, task_sleep, &ms, sizeof ms, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_non_null(a);
    return a;
}

/* ---- row helpers: the shapes many rows share ---- */

/* A call on a process object that takes nothing else: start, terminate, kill. */
typedef int (*process_call)(mproc_process *p);

/* call(p) gives code; then p is destroyed. */
static void process_call_gives(mproc_process *p, process_call call, int code)
{
    assert_int_equal(call(p), code);
    mproc_process_destroy(p);
}

/* mproc_pool_apply refuses these arguments with code, and hands out no result. */
static void apply_refused(mproc_pool *p, mproc_task fn, const void *arg, size_t arg_len, int code)
{
    void *res = (void *)&res;
    size_t len = 9;
    assert_int_equal(mproc_pool_apply(p, fn, arg, arg_len, &res, &len), code);
    assert_null(res);
    assert_int_equal(len, 0);
}

/* mproc_pool_apply_async refuses these arguments with code, and hands out no handle. */
static void apply_async_refused(mproc_pool *p, mproc_task fn, const void *arg, size_t arg_len,
                                int code)
{
    mproc_async *a = (mproc_async *)&a;
    assert_int_equal(mproc_pool_apply_async(p, fn, arg, arg_len, NULL, NULL, NULL, &a), code);
    assert_null(a);
}

/* mproc_pool_map refuses these arguments with code, and hands out no results. */
static void map_refused(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                        size_t count, int code)
{
    mproc_results *r = (mproc_results *)&r;
    assert_int_equal(mproc_pool_map(p, fn, items, item_size, count, 0, &r), code);
    assert_null(r);
}

/* The two imap calls, which every imap row runs alike: k 0 is mproc_pool_imap, k 1
 * mproc_pool_imap_unordered. (A call, not a table of pointers: the address of a DLL's function is
 * no constant for MSVC.) */
#define IMAP_CALLS 2
static int imap_call(size_t k, mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                     size_t count, size_t chunksize, mproc_iter **out)
{
    if (k == 0) {
        return mproc_pool_imap(p, fn, items, item_size, count, chunksize, out);
    }
    return mproc_pool_imap_unordered(p, fn, items, item_size, count, chunksize, out);
}

/* mproc_pool_imap and mproc_pool_imap_unordered refuse these arguments with code, and hand out
 * no iterator. */
static void imap_refused(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                         size_t count, int code)
{
    size_t k;
    for (k = 0; k < IMAP_CALLS; k++) {
        mproc_iter *it = (mproc_iter *)&it;
        assert_int_equal(imap_call(k, p, fn, items, item_size, count, 0, &it), code);
        assert_null(it);
    }
}

/* The two codes a probe saw in a worker (MPROC_OK for the second when it makes one call). */
static void probe_gives(int op, int want0, int want1)
{
    int codes[2];
    probe(op, codes);
    assert_int_equal(codes[0], want0);
    assert_int_equal(codes[1], want1);
}

/* ---- rows run in a child process: they could crash or hang the suite ---- */

/* The child's exit code carries the row's return code: 64 - code (MPROC_OK 64, MPROC_EINVAL 65,
 * ... MPROC_ETOOBIG 78). */
#define ISOLATED_BASE 64
#define ISOLATED_HANG 1000
#define ISOLATED_CRASH 2000

static int iso_pool_huge_workers(void)
{
    mproc_pool *p = NULL;
    int r = mproc_pool_create(&p, INT_MAX);
    mproc_pool_destroy(p);
    return r;
}

static int imap_size_overflow(size_t k)
{
    static int items[4];
    mproc_pool *p = NULL;
    mproc_iter *it = NULL;
    size_t index;
    int r;
    if (mproc_pool_create(&p, 1) != MPROC_OK) {
        return 1;
    }
    /* count * item_size does not fit in size_t: no caller can own such an array. */
    r = imap_call(k, p, tu_square, items, 4, SIZE_MAX / 2, 0, &it);
    if (r == MPROC_OK) {
        /* Taking items would read far past the array. */
        mproc_iter_next(it, 2000, &index, NULL, NULL);
        mproc_iter_destroy(it);
    }
    mproc_pool_destroy(p);
    return r;
}

static int iso_imap_size_overflow(void)
{
    return imap_size_overflow(0);
}

static int iso_imap_unordered_size_overflow(void)
{
    return imap_size_overflow(1);
}

static int iso_map_size_overflow(void)
{
    static int items[4];
    mproc_pool *p = NULL;
    mproc_results *res = NULL;
    int r;
    if (mproc_pool_create(&p, 1) != MPROC_OK) {
        return 1;
    }
    r = mproc_pool_map(p, tu_square, items, 4, SIZE_MAX / 2, 0, &res);
    mproc_results_destroy(res);
    mproc_pool_destroy(p);
    return r;
}

static int (*const isolated_rows[])(void) = {iso_pool_huge_workers, iso_imap_size_overflow,
                                             iso_map_size_overflow,
                                             iso_imap_unordered_size_overflow};

static int t_isolated(const void *arg, size_t len)
{
    int which = tu_read_int(arg, len);
    if (which < 0 || which >= (int)(sizeof isolated_rows / sizeof isolated_rows[0])) {
        return 1;
    }
    return ISOLATED_BASE - isolated_rows[which]();
}

/* The code the row's calls returned in a child, or ISOLATED_HANG / ISOLATED_CRASH + signal. */
static int isolated(int which, long timeout_ms)
{
    mproc_process *p = started(t_isolated, &which, sizeof which);
    int code = 0, r = mproc_process_join(p, timeout_ms);
    if (r == MPROC_ETIMEDOUT) {
        mproc_process_destroy(p);
        print_message("the row's calls hung (no return within %ld ms)\n", timeout_ms);
        return ISOLATED_HANG;
    }
    assert_int_equal(r, MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    mproc_process_destroy(p);
    if (code < 0) {
        print_message("the row's calls crashed the process (signal %d)\n", -code);
        return ISOLATED_CRASH - code;
    }
    if (code < ISOLATED_BASE || code > ISOLATED_BASE - MPROC__ERRNO_LAST) {
        print_message("the row's child exited with %d\n", code);
        return ISOLATED_CRASH;
    }
    return ISOLATED_BASE - code;
}

/* ======================================================================================== */
/* Library                                                                                   */

static void row_01_init_negative_argc(void **state)
{
    (void)state;
    assert_int_equal(mproc_init(-1, saved_argv), MPROC_EINVAL);
    assert_int_equal(mproc_init(INT_MIN, saved_argv), MPROC_EINVAL);
}

static void row_02_init_null_argv(void **state)
{
    (void)state;
    assert_int_equal(mproc_init(1, NULL), MPROC_EINVAL);
}

static void row_03_init_zero_argc_null_argv(void **state)
{
    (void)state;
    assert_int_equal(mproc_init(0, NULL), MPROC_OK);
}

static void row_04_init_twice(void **state)
{
    (void)state;
    assert_int_equal(mproc_init(saved_argc, saved_argv), MPROC_OK);
}

static void row_05_strerror_unknown_code(void **state)
{
    (void)state;
    assert_string_equal(mproc_strerror(12345), "unknown error");
    assert_string_equal(mproc_strerror(INT_MIN), "unknown error");
    assert_string_equal(mproc_strerror(INT_MAX), "unknown error");
    assert_string_equal(mproc_strerror(MPROC__ERRNO_LAST - 1), "unknown error");
}

static void row_06_error_name_unknown_code(void **state)
{
    (void)state;
    assert_string_equal(mproc_error_name(12345), "MPROC_E?");
    assert_string_equal(mproc_error_name(INT_MIN), "MPROC_E?");
    assert_string_equal(mproc_error_name(1), "MPROC_E?");
}

static void row_07_every_code_has_a_name_and_sentence(void **state)
{
    int c;
    (void)state;
    assert_string_equal(mproc_error_name(MPROC_OK), "MPROC_OK");
    for (c = -1; c >= MPROC__ERRNO_LAST; c--) {
        assert_string_not_equal(mproc_strerror(c), "unknown error");
        assert_string_not_equal(mproc_error_name(c), "MPROC_E?");
        assert_int_equal(strncmp(mproc_error_name(c), "MPROC_E", 7), 0);
    }
}

static void row_08_free_null(void **state)
{
    (void)state;
    mproc_free(NULL);
}

static void last_error_in_thread(void *arg)
{
    *(long *)arg = mproc_last_os_error();
}

static void row_09_last_os_error_without_esys(void **state)
{
    tu_thread t;
    long err = -1;
    (void)state;
    tu_thread_start(&t, last_error_in_thread, &err);
    tu_thread_join(&t);
    assert_int_equal(err, 0);
}

static void row_10_getters_without_input(void **state)
{
    (void)state;
    assert_string_equal(mproc_version(), MPROC_VERSION_STRING);
    assert_true(mproc_cpu_count() >= 1);
    assert_true(mproc_getpid() > 0);
    assert_true(mproc_getppid() >= 0);
}

/* ======================================================================================== */
/* Process: create                                                                           */

static void row_11_process_create_null_out(void **state)
{
    (void)state;
    assert_int_equal(mproc_process_create(NULL, tu_return, NULL, 0), MPROC_EINVAL);
}

static void row_12_process_create_null_target(void **state)
{
    mproc_process *p = (mproc_process *)&p;
    (void)state;
    assert_int_equal(mproc_process_create(&p, NULL, NULL, 0), MPROC_EINVAL);
    assert_null(p);
}

static void row_13_process_create_null_arg_nonzero_len(void **state)
{
    mproc_process *p = NULL;
    (void)state;
    assert_int_equal(mproc_process_create(&p, tu_return, NULL, 5), MPROC_EINVAL);
    assert_int_equal(mproc_process_create(&p, tu_return, NULL, SIZE_MAX), MPROC_EINVAL);
    assert_null(p);
}

static void row_14_process_create_null_arg_zero_len(void **state)
{
    mproc_process *p = NULL;
    int code = -1;
    (void)state;
    assert_int_equal(mproc_process_create(&p, t_arg_null, NULL, 0), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 0);
    mproc_process_destroy(p);
}

static void row_15_process_create_huge_arg_len(void **state)
{
    mproc_process *p = NULL;
    char one = 1;
    (void)state;
    /* The length is checked before anything is read from arg. */
    assert_int_equal(mproc_process_create(&p, tu_return, &one, SIZE_MAX), MPROC_ETOOBIG);
    assert_int_equal(mproc_process_create(&p, tu_return, &one, ((size_t)1 << 30) + 1),
                     MPROC_ETOOBIG);
    assert_null(p);
}

/* ---- row helpers: the shape many rows share ---- */

/* These process options are refused with code, and no process is made. */
static void process_options_refused(const mproc_process_options *o, int code)
{
    mproc_process *p = NULL;
    assert_int_equal(mproc_process_create_ex(&p, o), code);
    assert_null(p);
}

/* These pool options are refused with code, and no pool is made. */
static void pool_options_refused(const mproc_pool_options *o, int code)
{
    mproc_pool *p = NULL;
    assert_int_equal(mproc_pool_create_ex(&p, o), code);
    assert_null(p);
}

static void row_16_process_create_ex_null_opts(void **state)
{
    mproc_process *p = NULL;
    (void)state;
    assert_int_equal(mproc_process_create_ex(&p, NULL), MPROC_EINVAL);
    assert_null(p);
}

static void row_17_process_create_ex_null_out(void **state)
{
    mproc_process_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    assert_int_equal(mproc_process_create_ex(NULL, &o), MPROC_EINVAL);
}

static void row_18_process_create_ex_zero_options(void **state)
{
    mproc_process_options o;
    (void)state;
    memset(&o, 0, sizeof o); /* no target */
    process_options_refused(&o, MPROC_EINVAL);
}

static void row_19_process_create_ex_bad_start_method(void **state)
{
    mproc_process_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.start_method = (mproc_start_method)3;
    process_options_refused(&o, MPROC_EINVAL);
    o.start_method = (mproc_start_method)-1;
    process_options_refused(&o, MPROC_EINVAL);
    o.start_method = (mproc_start_method)INT_MAX;
    process_options_refused(&o, MPROC_EINVAL);
}

static void row_20_process_create_ex_huge_arg_len(void **state)
{
    mproc_process_options o;
    char one = 1;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.arg = &one;
    o.arg_len = SIZE_MAX;
    process_options_refused(&o, MPROC_ETOOBIG);
    o.arg = NULL;
    process_options_refused(&o, MPROC_EINVAL);
}

static void row_21_process_create_ex_empty_name(void **state)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.name = "";
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_string_equal(mproc_process_name(p), "");
    mproc_process_destroy(p);
}

static void row_22_process_create_ex_daemon_any_nonzero(void **state)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    int code = -1;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.daemon = -42;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 0);
    mproc_process_destroy(p);
}

/* ---- Process: start ---- */

static void row_23_process_start_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_process_start(NULL), MPROC_EINVAL);
}

static void row_24_process_start_twice(void **state)
{
    long ms = 200;
    (void)state;
    process_call_gives(started(t_sleep, &ms, sizeof ms), mproc_process_start, MPROC_ESTATE);
}

static void row_25_process_start_after_join(void **state)
{
    (void)state;
    process_call_gives(joined(), mproc_process_start, MPROC_ESTATE);
}

static void row_26_process_start_fork_where_there_is_none(void **state)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    int r;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.start_method = MPROC_START_FORK;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    r = mproc_process_start(p);
#ifdef _WIN32
    assert_int_equal(r, MPROC_ENOTSUP);
    assert_int_equal(mproc_process_pid(p), 0);
    assert_int_equal(mproc_process_join(p, 0), MPROC_ESTATE); /* still not started */
#else
    assert_int_equal(r, MPROC_OK); /* POSIX has fork */
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
#endif
    mproc_process_destroy(p);
}

/* ---- Process: join ---- */

static void row_27_process_join_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_process_join(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_process_join(NULL, MPROC_FOREVER), MPROC_EINVAL);
}

static void row_28_process_join_before_start(void **state)
{
    mproc_process *p = created(tu_return, NULL, 0);
    (void)state;
    assert_int_equal(mproc_process_join(p, 0), MPROC_ESTATE);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_ESTATE);
    mproc_process_destroy(p);
}

static void row_29_process_join_negative_timeout(void **state)
{
    long ms = 200;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    (void)state;
    assert_int_equal(mproc_process_join(p, -2), MPROC_EINVAL);
    assert_int_equal(mproc_process_join(p, LONG_MIN), MPROC_EINVAL);
    mproc_process_destroy(p);
}

static void row_30_process_join_poll_running(void **state)
{
    long ms = 5000;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    (void)state;
    assert_int_equal(mproc_process_join(p, 0), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_process_join(p, 10), MPROC_ETIMEDOUT);
    mproc_process_destroy(p);
}

static void row_31_process_join_huge_timeout(void **state)
{
    long ms = 100;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    (void)state;
    assert_int_equal(mproc_process_join(p, LONG_MAX), MPROC_OK);
    mproc_process_destroy(p);
}

static void row_32_process_join_twice(void **state)
{
    mproc_process *p = joined();
    (void)state;
    assert_int_equal(mproc_process_join(p, 0), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    mproc_process_destroy(p);
}

/* ---- Process: is_alive, terminate, kill ---- */

static void row_33_process_is_alive_null_and_not_running(void **state)
{
    mproc_process *p = created(tu_return, NULL, 0);
    (void)state;
    assert_int_equal(mproc_process_is_alive(NULL), 0);
    assert_int_equal(mproc_process_is_alive(p), 0); /* before start */
    mproc_process_destroy(p);
    p = joined();
    assert_int_equal(mproc_process_is_alive(p), 0); /* after join */
    mproc_process_destroy(p);
}

static void row_34_process_terminate_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_process_terminate(NULL), MPROC_EINVAL);
}

static void row_35_process_terminate_before_start(void **state)
{
    (void)state;
    process_call_gives(created(tu_return, NULL, 0), mproc_process_terminate, MPROC_ESTATE);
}

static void row_36_process_terminate_after_join(void **state)
{
    mproc_process *p = joined();
    int code = -1;
    (void)state;
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 0); /* unchanged */
    mproc_process_destroy(p);
}

static void row_37_process_kill_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_process_kill(NULL), MPROC_EINVAL);
}

static void row_38_process_kill_before_start(void **state)
{
    (void)state;
    process_call_gives(created(tu_return, NULL, 0), mproc_process_kill, MPROC_ESTATE);
}

static void row_39_process_kill_after_join(void **state)
{
    (void)state;
    process_call_gives(joined(), mproc_process_kill, MPROC_OK);
}

static void row_40_process_kill_ended_not_joined(void **state)
{
    int zero = 0, code = -1;
    mproc_process *p = started(tu_return, &zero, sizeof zero);
    (void)state;
    tu_sleep_ms(300); /* it has ended; nobody has reaped it */
    assert_int_equal(mproc_process_kill(p), MPROC_OK);
    assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_true(code == 0 || code == -9); /* whichever came first */
    mproc_process_destroy(p);
}

/* ---- Process: exitcode, pid, name, destroy ---- */

static void row_41_process_exitcode_null(void **state)
{
    mproc_process *p = joined();
    int code = 0;
    (void)state;
    assert_int_equal(mproc_process_exitcode(NULL, &code), MPROC_EINVAL);
    assert_int_equal(mproc_process_exitcode(p, NULL), MPROC_EINVAL);
    mproc_process_destroy(p);
}

static void row_42_process_exitcode_before_start(void **state)
{
    mproc_process *p = created(tu_return, NULL, 0);
    int code = 77;
    (void)state;
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_ESTATE);
    assert_int_equal(code, 77); /* untouched */
    mproc_process_destroy(p);
}

static void row_43_process_exitcode_before_join(void **state)
{
    long ms = 5000;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    int code = 77;
    (void)state;
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_ESTATE);
    assert_int_equal(code, 77);
    mproc_process_destroy(p);
}

static void row_44_process_exitcode_after_is_alive_said_no(void **state)
{
    int seven = 7, code = -1;
    uint64_t deadline = tu_now_ms() + 20000;
    mproc_process *p = started(tu_return, &seven, sizeof seven);
    (void)state;
    while (mproc_process_is_alive(p) && tu_now_ms() < deadline) {
        tu_sleep_ms(5);
    }
    /* is_alive reaped it, as Python's does: the code is there without a join. */
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 7);
    mproc_process_destroy(p);
}

static void row_45_process_pid_null_and_not_started(void **state)
{
    mproc_process *p = created(tu_return, NULL, 0);
    (void)state;
    assert_int_equal(mproc_process_pid(NULL), 0);
    assert_int_equal(mproc_process_pid(p), 0);
    mproc_process_destroy(p);
}

static void row_46_process_name_null(void **state)
{
    (void)state;
    assert_null(mproc_process_name(NULL));
}

static void row_47_process_destroy_null(void **state)
{
    (void)state;
    mproc_process_destroy(NULL);
}

static void row_48_process_destroy_running(void **state)
{
    long before = tu_children(NULL, 0, NULL), after, ms = 30000;
    uint64_t deadline = tu_now_ms() + 5000;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    (void)state;
    mproc_process_destroy(p); /* killed and reaped: no zombie, no child left */
    while ((after = tu_children(NULL, 0, NULL)) != before && tu_now_ms() < deadline) {
        tu_sleep_ms(10);
    }
    assert_int_equal(after, before);
}

static void row_49_process_destroy_never_started(void **state)
{
    (void)state;
    mproc_process_destroy(created(tu_return, NULL, 0));
}

/* ======================================================================================== */
/* Pool: create                                                                              */

static void row_50_pool_create_null_out(void **state)
{
    (void)state;
    assert_int_equal(mproc_pool_create(NULL, 2), MPROC_EINVAL);
}

static void row_51_pool_create_zero_workers(void **state)
{
    mproc_pool *p = pool_of(0);
    (void)state;
    assert_int_equal(mproc_pool_workers(p), mproc_cpu_count());
    mproc_pool_destroy(p);
}

static void row_52_pool_create_negative_workers(void **state)
{
    mproc_pool *p = pool_of(-5);
    (void)state;
    assert_int_equal(mproc_pool_workers(p), mproc_cpu_count());
    mproc_pool_destroy(p);
    p = pool_of(INT_MIN);
    assert_int_equal(mproc_pool_workers(p), mproc_cpu_count());
    mproc_pool_destroy(p);
}

static void row_53_pool_create_huge_workers(void **state)
{
    (void)state;
    /* INT_MAX workers: no memory for their table. Run in a child: should the table be granted,
     * the pool would try to start them all. */
    assert_int_equal(isolated(0, 20000), MPROC_ENOMEM);
}

static void row_54_pool_create_ex_null_opts(void **state)
{
    mproc_pool *p = (mproc_pool *)&p;
    (void)state;
    assert_int_equal(mproc_pool_create_ex(&p, NULL), MPROC_EINVAL);
    assert_null(p);
}

static void row_55_pool_create_ex_null_out(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    assert_int_equal(mproc_pool_create_ex(NULL, &o), MPROC_EINVAL);
}

static void row_56_pool_create_ex_null_initarg_nonzero_len(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.initarg_len = 4;
    pool_options_refused(&o, MPROC_EINVAL);
}

static void row_57_pool_create_ex_huge_initarg_len(void **state)
{
    mproc_pool_options o;
    char one = 1;
    (void)state;
    memset(&o, 0, sizeof o);
    o.initarg = &one;
    o.initarg_len = SIZE_MAX;
    pool_options_refused(&o, MPROC_ETOOBIG);
}

static void row_58_pool_create_ex_negative_max_tasks(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.max_tasks_per_child = -1;
    pool_options_refused(&o, MPROC_EINVAL);
    o.max_tasks_per_child = INT_MIN;
    pool_options_refused(&o, MPROC_EINVAL);
}

static void row_59_pool_create_ex_negative_task_timeout(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.task_timeout_ms = -1;
    pool_options_refused(&o, MPROC_EINVAL);
    o.task_timeout_ms = LONG_MIN;
    pool_options_refused(&o, MPROC_EINVAL);
}

static void row_60_pool_create_ex_bad_start_method(void **state)
{
    mproc_pool_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.start_method = (mproc_start_method)42;
    pool_options_refused(&o, MPROC_EINVAL);
    o.start_method = (mproc_start_method)-1;
    pool_options_refused(&o, MPROC_EINVAL);
}

static void row_61_pool_create_ex_fork_where_there_is_none(void **state)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    int r;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.start_method = MPROC_START_FORK;
    r = mproc_pool_create_ex(&p, &o);
#ifdef _WIN32
    assert_int_equal(r, MPROC_ENOTSUP);
    assert_null(p);
#else
    assert_int_equal(r, MPROC_OK);
    mproc_pool_destroy(p);
#endif
}

static void row_62_pool_create_ex_huge_task_timeout(void **state)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    int v = 3;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.task_timeout_ms = LONG_MAX;
    o.max_tasks_per_child = INT_MAX;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, NULL, NULL), MPROC_OK);
    mproc_pool_destroy(p);
}

/* ---- Pool: apply ---- */

static void row_63_pool_apply_null_pool(void **state)
{
    int v = 3;
    (void)state;
    apply_refused(NULL, tu_square, &v, sizeof v, MPROC_EINVAL);
}

static void row_64_pool_apply_null_fn(void **state)
{
    int v = 3;
    apply_refused((mproc_pool *)*state, NULL, &v, sizeof v, MPROC_EINVAL);
}

static void row_65_pool_apply_null_arg_nonzero_len(void **state)
{
    apply_refused((mproc_pool *)*state, tu_square, NULL, 4, MPROC_EINVAL);
}

static void row_66_pool_apply_huge_arg_len(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int v = 3;
    apply_refused(p, tu_square, &v, SIZE_MAX, MPROC_ETOOBIG);
    apply_refused(p, tu_square, &v, ((size_t)1 << 30) + 1, MPROC_ETOOBIG);
}

static void row_67_pool_apply_null_result_pointers(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int v = 3;
    void *res = NULL;
    size_t len = 0;
    assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, &res, NULL), MPROC_OK);
    mproc_free(res);
    assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, NULL, &len), MPROC_OK);
    assert_int_equal(len, sizeof v);
}

static void row_68_pool_apply_after_close(void **state)
{
    mproc_pool *p = closed_pool();
    int v = 3;
    (void)state;
    apply_refused(p, tu_square, &v, sizeof v, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_69_pool_apply_after_terminate(void **state)
{
    mproc_pool *p = terminated_pool();
    int v = 3;
    (void)state;
    apply_refused(p, tu_square, &v, sizeof v, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

/* ---- Pool: apply_async and its handle ---- */

static void row_70_pool_apply_async_null_pool(void **state)
{
    int v = 3;
    (void)state;
    apply_async_refused(NULL, tu_square, &v, sizeof v, MPROC_EINVAL);
}

static void row_71_pool_apply_async_null_fn(void **state)
{
    int v = 3;
    apply_async_refused((mproc_pool *)*state, NULL, &v, sizeof v, MPROC_EINVAL);
}

static void row_72_pool_apply_async_null_arg_nonzero_len(void **state)
{
    apply_async_refused((mproc_pool *)*state, tu_square, NULL, 4, MPROC_EINVAL);
}

static void row_73_pool_apply_async_huge_arg_len(void **state)
{
    int v = 3;
    apply_async_refused((mproc_pool *)*state, tu_square, &v, SIZE_MAX, MPROC_ETOOBIG);
}

static void row_74_pool_apply_async_after_close(void **state)
{
    mproc_pool *p = closed_pool();
    int v = 3;
    (void)state;
    apply_async_refused(p, tu_square, &v, sizeof v, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_75_pool_apply_async_no_callbacks_no_handle(void **state)
{
    mproc_pool *p = pool_of(1);
    int v = 3;
    (void)state;
    assert_int_equal(mproc_pool_apply_async(p, tu_square, &v, sizeof v, NULL, NULL, NULL, NULL),
                     MPROC_OK);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_76_async_wait_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_async_wait(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_async_wait(NULL, MPROC_FOREVER), MPROC_EINVAL);
}

static void row_77_async_wait_negative_timeout(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 0);
    assert_int_equal(mproc_async_wait(a, -2), MPROC_EINVAL);
    assert_int_equal(mproc_async_wait(a, LONG_MIN), MPROC_EINVAL);
    assert_int_equal(mproc_async_wait(a, MPROC_FOREVER), MPROC_OK);
    mproc_async_release(a);
}

static void row_78_async_wait_timeout_while_pending(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 500);
    assert_int_equal(mproc_async_wait(a, 0), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_async_wait(a, 10), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_async_wait(a, LONG_MAX), MPROC_OK);
    mproc_async_release(a);
}

static void row_79_async_ready_null_and_pending(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 500);
    assert_int_equal(mproc_async_ready(NULL), 0);
    assert_int_equal(mproc_async_ready(a), 0);
    assert_int_equal(mproc_async_wait(a, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_async_ready(a), 1);
    mproc_async_release(a);
}

static void row_80_async_get_null(void **state)
{
    const void *data = (const void *)&data;
    size_t len = 9;
    (void)state;
    assert_int_equal(mproc_async_get(NULL, 0, &data, &len), MPROC_EINVAL);
    assert_null(data);
    assert_int_equal(len, 0);
}

static void row_81_async_get_timeout(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 500);
    const void *data = (const void *)&data;
    size_t len = 9;
    assert_int_equal(mproc_async_get(a, 0, &data, &len), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_async_get(a, 10, &data, &len), MPROC_ETIMEDOUT);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_int_equal(mproc_async_get(a, -2, &data, &len), MPROC_EINVAL);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, &data, &len), MPROC_OK);
    assert_int_equal(len, 5);
    mproc_async_release(a);
}

static void row_82_async_get_null_outputs(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 0);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_OK);
    mproc_async_release(a);
}

static void row_83_async_error_null_pending_and_success(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = pending(p, 300);
    assert_null(mproc_async_error(NULL));
    assert_null(mproc_async_error(a)); /* pending */
    assert_int_equal(mproc_async_wait(a, MPROC_FOREVER), MPROC_OK);
    assert_null(mproc_async_error(a)); /* succeeded */
    mproc_async_release(a);
}

static void row_84_async_release_null(void **state)
{
    (void)state;
    mproc_async_release(NULL);
}

static void row_85_async_handle_after_pool_destroyed(void **state)
{
    mproc_pool *p = pool_of(1);
    mproc_async *a = pending(p, 0);
    const void *data = NULL;
    size_t len = 0;
    (void)state;
    assert_int_equal(mproc_async_wait(a, MPROC_FOREVER), MPROC_OK);
    mproc_pool_destroy(p);
    assert_int_equal(mproc_async_ready(a), 1);
    assert_int_equal(mproc_async_get(a, 0, &data, &len), MPROC_OK);
    assert_int_equal(len, 5);
    mproc_async_release(a);
}

static void row_86_async_pending_when_pool_terminated(void **state)
{
    mproc_pool *p = pool_of(1);
    mproc_async *a = pending(p, 10000);
    const mproc_error *e;
    (void)state;
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_ECANCELED);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_ECANCELED);
    assert_non_null(e->message);
    mproc_async_release(a);
    mproc_pool_destroy(p);
}

/* ---- Pool: map and its results ---- */

static void row_87_pool_map_null_out(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int items[2] = {1, 2};
    assert_int_equal(mproc_pool_map(p, tu_square, items, sizeof items[0], 2, 0, NULL),
                     MPROC_EINVAL);
}

static void row_88_pool_map_null_pool_or_fn(void **state)
{
    int items[2] = {1, 2};
    map_refused(NULL, tu_square, items, sizeof items[0], 2, MPROC_EINVAL);
    map_refused((mproc_pool *)*state, NULL, items, sizeof items[0], 2, MPROC_EINVAL);
}

static void row_89_pool_map_null_items_nonzero_count(void **state)
{
    map_refused((mproc_pool *)*state, tu_square, NULL, sizeof(int), 10, MPROC_EINVAL);
}

static void row_90_pool_map_zero_count(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_results *r = NULL;
    assert_int_equal(mproc_pool_map(p, tu_square, NULL, sizeof(int), 0, 0, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), 0);
    assert_int_equal(mproc_results_get(r, 0, NULL, NULL), MPROC_EINVAL);
    mproc_results_destroy(r);
}

static void row_91_pool_map_zero_item_size(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_results *r = NULL;
    size_t i;
    /* Items of no bytes (items may then be NULL): each task gets NULL, 0. */
    assert_int_equal(mproc_pool_map(p, task_arg_null, NULL, 0, 10, 0, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), 10);
    for (i = 0; i < 10; i++) {
        assert_int_equal(mproc_results_get(r, i, NULL, NULL), MPROC_OK);
    }
    mproc_results_destroy(r);
}

static void row_92_pool_map_huge_item_size(void **state)
{
    int items[2] = {1, 2};
    map_refused((mproc_pool *)*state, tu_square, items, SIZE_MAX, 2, MPROC_ETOOBIG);
}

static void row_93_pool_map_count_times_size_overflows(void **state)
{
    (void)state;
    /* count * item_size past SIZE_MAX: no caller can own such an array. */
    assert_int_equal(isolated(2, 20000), MPROC_EINVAL);
}

static void row_94_pool_map_huge_chunksize(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_results *r = NULL;
    int items[3] = {1, 2, 3};
    size_t i;
    /* A chunk larger than the items is one chunk of them all, as in Python. */
    assert_int_equal(mproc_pool_map(p, tu_square, items, sizeof items[0], 3, 1000, &r), MPROC_OK);
    mproc_results_destroy(r);
    r = NULL;
    assert_int_equal(mproc_pool_map(p, tu_square, items, sizeof items[0], 3, SIZE_MAX, &r),
                     MPROC_OK);
    assert_int_equal(mproc_results_count(r), 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(mproc_results_get(r, i, NULL, NULL), MPROC_OK);
    }
    mproc_results_destroy(r);
}

static void row_95_pool_map_after_close(void **state)
{
    mproc_pool *p = closed_pool();
    int items[2] = {1, 2};
    (void)state;
    map_refused(p, tu_square, items, sizeof items[0], 2, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_96_pool_map_after_terminate(void **state)
{
    mproc_pool *p = terminated_pool();
    int items[2] = {1, 2};
    (void)state;
    map_refused(p, tu_square, items, sizeof items[0], 2, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_97_results_null(void **state)
{
    const void *data = (const void *)&data;
    size_t len = 9;
    (void)state;
    assert_int_equal(mproc_results_count(NULL), 0);
    assert_int_equal(mproc_results_get(NULL, 0, &data, &len), MPROC_EINVAL);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_null(mproc_results_error(NULL, 0));
    mproc_results_destroy(NULL);
}

static void row_98_results_index_out_of_range(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_results *r = NULL;
    int items[2] = {1, 2};
    assert_int_equal(mproc_pool_map(p, tu_square, items, sizeof items[0], 2, 0, &r), MPROC_OK);
    assert_int_equal(mproc_results_get(r, 2, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_results_get(r, SIZE_MAX, NULL, NULL), MPROC_EINVAL);
    assert_null(mproc_results_error(r, 2));
    assert_null(mproc_results_error(r, SIZE_MAX));
    assert_null(mproc_results_error(r, 0)); /* succeeded */
    mproc_results_destroy(r);
}

/* ---- Pool: imap and its iterator ---- */

static void row_99_pool_imap_null_out(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int items[2] = {1, 2};
    size_t k;
    for (k = 0; k < IMAP_CALLS; k++) {
        assert_int_equal(imap_call(k, p, tu_square, items, sizeof items[0], 2, 0, NULL),
                         MPROC_EINVAL);
    }
}

static void row_100_pool_imap_null_pool_fn_or_items(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int items[2] = {1, 2};
    imap_refused(NULL, tu_square, items, sizeof items[0], 2, MPROC_EINVAL);
    imap_refused(p, NULL, items, sizeof items[0], 2, MPROC_EINVAL);
    imap_refused(p, tu_square, NULL, sizeof items[0], 2, MPROC_EINVAL);
}

static void row_101_pool_imap_huge_item_size(void **state)
{
    int items[2] = {1, 2};
    imap_refused((mproc_pool *)*state, tu_square, items, SIZE_MAX, 2, MPROC_ETOOBIG);
}

static void row_102_pool_imap_count_times_size_overflows(void **state)
{
    (void)state;
    assert_int_equal(isolated(1, 20000), MPROC_EINVAL); /* imap */
    assert_int_equal(isolated(3, 20000), MPROC_EINVAL); /* imap_unordered */
}

static void row_103_pool_imap_huge_chunksize(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int items[3] = {1, 2, 3}, n, r;
    size_t index, k;
    for (k = 0; k < IMAP_CALLS; k++) {
        mproc_iter *it = NULL;
        assert_int_equal(imap_call(k, p, tu_square, items, sizeof items[0], 3, SIZE_MAX, &it),
                         MPROC_OK);
        n = 0;
        while ((r = mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL)) == MPROC_OK) {
            n++;
        }
        assert_int_equal(r, MPROC_EEND);
        assert_int_equal(n, 3);
        mproc_iter_destroy(it);
    }
}

static void row_104_pool_imap_after_close(void **state)
{
    mproc_pool *p = closed_pool();
    int items[2] = {1, 2};
    (void)state;
    imap_refused(p, tu_square, items, sizeof items[0], 2, MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_105_pool_imap_zero_count(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    size_t index = 7, k;
    for (k = 0; k < IMAP_CALLS; k++) {
        mproc_iter *it = NULL;
        assert_int_equal(imap_call(k, p, tu_square, NULL, sizeof(int), 0, 0, &it), MPROC_OK);
        assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_EEND);
        mproc_iter_destroy(it);
    }
}

static void row_106_iter_next_null(void **state)
{
    size_t index = 7, len = 9;
    const void *data = (const void *)&data;
    (void)state;
    assert_int_equal(mproc_iter_next(NULL, 0, &index, &data, &len), MPROC_EINVAL);
    assert_int_equal(index, 0);
    assert_null(data);
    assert_int_equal(len, 0);
}

static void row_107_iter_next_negative_timeout(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_iter *it = NULL;
    int items[2] = {1, 2};
    assert_int_equal(mproc_pool_imap(p, tu_square, items, sizeof items[0], 2, 0, &it), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, -2, NULL, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_iter_next(it, LONG_MIN, NULL, NULL, NULL), MPROC_EINVAL);
    mproc_iter_destroy(it);
}

static void row_108_iter_next_after_end(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_iter *it = NULL;
    int items[2] = {1, 2};
    size_t index;
    assert_int_equal(mproc_pool_imap(p, tu_square, items, sizeof items[0], 2, 0, &it), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_EEND);
    assert_int_equal(mproc_iter_next(it, 0, &index, NULL, NULL), MPROC_EEND);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, NULL, NULL, NULL), MPROC_EEND);
    assert_null(mproc_iter_error(it));
    mproc_iter_destroy(it);
}

static void row_109_iter_next_timeout(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_iter *it = NULL;
    long items[1] = {500};
    size_t index = 7;
    assert_int_equal(mproc_pool_imap(p, task_sleep, items, sizeof items[0], 1, 0, &it), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, 0, &index, NULL, NULL), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_iter_next(it, 10, &index, NULL, NULL), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_OK);
    assert_int_equal(index, 0);
    mproc_iter_destroy(it);
}

static void row_110_iter_next_after_pool_terminated(void **state)
{
    mproc_pool *p = pool_of(1);
    mproc_iter *it = NULL;
    long items[4] = {10000, 10000, 10000, 10000};
    const mproc_error *e;
    int r, n = 0;
    (void)state;
    assert_int_equal(mproc_pool_imap(p, task_sleep, items, sizeof items[0], 4, 1, &it), MPROC_OK);
    tu_sleep_ms(100);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    /* Every item not done fails with MPROC_ECANCELED; the iterator then ends (EEND), or says
     * MPROC_ECANCELED for chunks it never sent. */
    while ((r = mproc_iter_next(it, 5000, NULL, NULL, NULL)) == MPROC_ECANCELED && n < 10) {
        e = mproc_iter_error(it);
        if (e != NULL) {
            assert_int_equal(e->code, MPROC_ECANCELED);
        }
        n++;
    }
    assert_true(n >= 1);
    assert_int_equal(r, MPROC_EEND);
    mproc_iter_destroy(it);
    mproc_pool_destroy(p);
}

static void row_111_iter_error_and_destroy_null(void **state)
{
    (void)state;
    assert_null(mproc_iter_error(NULL));
    mproc_iter_destroy(NULL);
}

static void row_112_iter_outlives_pool(void **state)
{
    mproc_pool *p = pool_of(1);
    mproc_iter *it = NULL;
    int items[2] = {1, 2};
    size_t index;
    (void)state;
    assert_int_equal(mproc_pool_imap(p, tu_square, items, sizeof items[0], 2, 0, &it), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL), MPROC_OK);
    mproc_pool_destroy(p);
    /* The pool is gone: what was not delivered is canceled, never a crash. */
    assert_true(mproc_iter_next(it, 5000, &index, NULL, NULL) <= MPROC_OK);
    mproc_iter_destroy(it);
}

/* ---- Pool: close, join, terminate, destroy, workers ---- */

static void row_113_pool_close_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_pool_close(NULL), MPROC_EINVAL);
}

static void row_114_pool_close_twice(void **state)
{
    mproc_pool *p = closed_pool();
    (void)state;
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_115_pool_join_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_pool_join(NULL), MPROC_EINVAL);
}

static void row_116_pool_join_before_close(void **state)
{
    mproc_pool *p = pool_of(1);
    (void)state;
    assert_int_equal(mproc_pool_join(p), MPROC_ESTATE);
    mproc_pool_destroy(p);
}

static void row_117_pool_join_twice(void **state)
{
    mproc_pool *p = closed_pool();
    (void)state;
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_118_pool_terminate_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_pool_terminate(NULL), MPROC_EINVAL);
}

static void row_119_pool_terminate_twice(void **state)
{
    mproc_pool *p = terminated_pool();
    (void)state;
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_120_pool_close_and_join_after_terminate(void **state)
{
    mproc_pool *p = terminated_pool();
    (void)state;
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_121_pool_terminate_after_join(void **state)
{
    mproc_pool *p = closed_pool();
    (void)state;
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    assert_int_equal(mproc_pool_terminate(p), MPROC_OK);
    mproc_pool_destroy(p);
}

static void row_122_pool_destroy_null(void **state)
{
    (void)state;
    mproc_pool_destroy(NULL);
}

static void row_123_pool_workers_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_pool_workers(NULL), 0);
}

/* ---- Tasks: mproc_output_set / mproc_output_fail in a worker ---- */

static void row_124_output_set_null_output(void **state)
{
    (void)state;
    probe_gives(PROBE_SET_NULL, MPROC_EINVAL, MPROC_EINVAL);
}

static void row_125_output_set_null_result_nonzero_len(void **state)
{
    (void)state;
    probe_gives(PROBE_SET_NULL_DATA, MPROC_EINVAL, MPROC_OK);
}

static void row_126_output_set_huge_len(void **state)
{
    (void)state;
    probe_gives(PROBE_SET_HUGE, MPROC_ETOOBIG, MPROC_ETOOBIG);
}

static void row_127_output_set_null_result_zero_len(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int op = PROBE_SET_EMPTY;
    void *res = (void *)&op;
    size_t len = 9;
    assert_int_equal(mproc_pool_apply(p, task_probe, &op, sizeof op, &res, &len), MPROC_OK);
    assert_int_equal(len, 0);
    mproc_free(res);
}

static void row_128_output_fail_null_output_or_format(void **state)
{
    (void)state;
    probe_gives(PROBE_FAIL_NULL, MPROC_EINVAL, MPROC_OK);
    probe_gives(PROBE_FAIL_NULL_FMT, MPROC_EINVAL, MPROC_OK);
}

static void row_129_output_fail_message_past_4k(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int op = PROBE_FAIL_LONG;
    mproc_async *a = NULL;
    const mproc_error *e;
    assert_int_equal(mproc_pool_apply_async(p, task_probe, &op, sizeof op, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_ETASK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->status, 3);
    assert_int_equal(strlen(e->message), 4095); /* cut at 4 KiB, terminator included */
    mproc_async_release(a);
}

static void row_130_task_nonzero_return_without_message(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    int op = PROBE_RETURN_NONZERO;
    mproc_async *a = NULL;
    const mproc_error *e;
    assert_int_equal(mproc_pool_apply_async(p, task_probe, &op, sizeof op, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_ETASK);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, MPROC_ETASK);
    assert_int_equal(e->status, 5);
    assert_string_equal(e->message, "task returned 5");
    mproc_async_release(a);
}

/* ---- Tasks: a task that ends its worker with an exit code the library uses itself ---- */

static int task_exit_with(const void *arg, size_t len, mproc_output *out)
{
    int code = 0;
    (void)out;
    if (len == sizeof code) {
        memcpy(&code, arg, sizeof code);
    }
    fflush(NULL);
    _exit(code);
}

static void row_131_task_exits_worker_with_120_or_121(void **state)
{
    static const int codes[] = {120, 121};
    size_t i;
    (void)state;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        mproc_pool *p = pool_of(1);
        mproc_async *a = NULL;
        const mproc_error *e;
        int v = 3, r;
        /* The first task of a fresh worker: the exit code is the task's, not a failed boot. */
        assert_int_equal(mproc_pool_apply_async(p, task_exit_with, &codes[i], sizeof codes[i], NULL,
                                                NULL, NULL, &a),
                         MPROC_OK);
        assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_EWORKER_LOST);
        e = mproc_async_error(a);
        assert_non_null(e);
        print_message("_exit(%d) in a task: \"%s\" (exit code %d)\n", codes[i], e->message,
                      e->exitcode);
        assert_int_equal(e->exitcode, codes[i]);
        mproc_async_release(a);
        /* ...and the pool goes on. */
        r = mproc_pool_apply(p, tu_square, &v, sizeof v, NULL, NULL);
        mproc_pool_destroy(p);
        assert_int_equal(r, MPROC_OK);
    }
}

/* ======================================================================================== */
/* Misuse (issue 16): calls from a pool's own callback thread, a fork's copy of a pool or a   */
/* process, the cascade breaker, MPROC_START_METHOD, a pool's OS error, the 1 GiB edge.       */

/* The breaker's row uses a test hook (src/testhooks.h): mproc_init() leaves the child role
 * alone. */

/* How long a call that must not wait may take on a loaded machine, and how long the task it
 * would otherwise wait for runs: a call that waits shows as a time past the first. */
#define MISUSE_AT_ONCE_MS 3000
#define MISUSE_SLOW_MS 8000L

enum cb_call {
    CB_APPLY,
    CB_MAP,
    CB_JOIN,
    CB_WAIT_OTHER,
    CB_IMAP_NEXT,
    CB_TERMINATE,
    CB_DESTROY,
    CB_APPLY_ASYNC
};

typedef struct cb_probe {
    mproc_pool *pool;
    mproc_async *other; /* a task of the same pool still running */
    int call;
    int codes[4];
    long ms; /* how long the calls took */
    volatile long nested_done;
    volatile long done;
} cb_probe;

static void nested_cb(void *user, const void *result, size_t len)
{
    cb_probe *pr = user;
    (void)result;
    (void)len;
    tu_atomic_store(&pr->nested_done, 1);
}

static void probe_calls(cb_probe *pr)
{
    uint64_t t0 = tu_now_ms();
    int v = 3, items[2] = {1, 2};
    void *res = NULL;
    const void *data = NULL;
    mproc_results *mr = NULL;
    mproc_iter *it = NULL;
    size_t index;

    switch (pr->call) {
    case CB_APPLY:
        pr->codes[0] = mproc_pool_apply(pr->pool, tu_square, &v, sizeof v, &res, NULL);
        break;
    case CB_MAP:
        pr->codes[0] = mproc_pool_map(pr->pool, tu_square, items, sizeof items[0], 2, 0, &mr);
        pr->codes[1] = mr == NULL ? 0 : 1;
        break;
    case CB_JOIN:
        pr->codes[0] = mproc_pool_close(pr->pool);
        pr->codes[1] = mproc_pool_join(pr->pool);
        break;
    case CB_WAIT_OTHER:
        pr->codes[0] = mproc_async_wait(pr->other, MPROC_FOREVER);
        pr->codes[1] = mproc_async_wait(pr->other, 1000);
        pr->codes[2] = mproc_async_wait(pr->other, 0);
        pr->codes[3] = mproc_async_get(pr->other, MPROC_FOREVER, &data, NULL);
        break;
    case CB_IMAP_NEXT: {
        long ms[1] = {MISUSE_SLOW_MS};
        pr->codes[0] = mproc_pool_imap(pr->pool, task_sleep, ms, sizeof ms[0], 1, 0, &it);
        pr->codes[1] = mproc_iter_next(it, MPROC_FOREVER, &index, NULL, NULL);
        pr->codes[2] = mproc_iter_next(it, 0, &index, NULL, NULL);
        mproc_iter_destroy(it);
        break;
    }
    case CB_TERMINATE:
        pr->codes[0] = mproc_pool_terminate(pr->pool);
        break;
    case CB_DESTROY:
        mproc_pool_destroy(pr->pool);
        break;
    case CB_APPLY_ASYNC:
        pr->codes[0] =
            mproc_pool_apply_async(pr->pool, tu_square, &v, sizeof v, nested_cb, NULL, pr, NULL);
        break;
    default:
        break;
    }
    mproc_free(res);
    mproc_results_destroy(mr);
    pr->ms = (long)(tu_now_ms() - t0);
}

static void probe_cb(void *user, const void *result, size_t len)
{
    cb_probe *pr = user;
    (void)result;
    (void)len;
    probe_calls(pr);
    tu_atomic_store(&pr->done, 1);
}

static void probe_ecb(void *user, const mproc_error *err)
{
    cb_probe *pr = user;
    (void)err;
    probe_calls(pr);
    tu_atomic_store(&pr->done, 1);
}

static int task_fail(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    return 1;
}

/* Waits (bounded) for a flag set on another thread. */
static void wait_flag(volatile long *flag, long timeout_ms)
{
    uint64_t end = tu_now_ms() + (uint64_t)timeout_ms;
    while (!tu_atomic_load(flag) && tu_now_ms() < end) {
        tu_sleep_ms(5);
    }
    assert_true(tu_atomic_load(flag));
}

/* A pool of two workers, one busy with a slow task (pr->other), and a quick task whose callback
 * (or error callback, when failing) makes pr->call. Returns once the callback has. */
static mproc_pool *run_probe(cb_probe *pr, int call, int failing)
{
    long slow = MISUSE_SLOW_MS;
    int v = 2;
    memset(pr, 0, sizeof *pr);
    pr->call = call;
    pr->pool = pool_of(2);
    assert_int_equal(mproc_pool_apply_async(pr->pool, task_sleep, &slow, sizeof slow, NULL, NULL,
                                            NULL, &pr->other),
                     MPROC_OK);
    assert_int_equal(mproc_pool_apply_async(pr->pool, failing ? task_fail : tu_square, &v, sizeof v,
                                            failing ? NULL : probe_cb, failing ? probe_ecb : NULL,
                                            pr, NULL),
                     MPROC_OK);
    wait_flag(&pr->done, 60000);
    print_message("the calls from the callback took %ld ms\n", pr->ms);
    assert_true(pr->ms < MISUSE_AT_ONCE_MS);
    return pr->pool;
}

static void end_probe(cb_probe *pr)
{
    mproc_async_release(pr->other);
    mproc_pool_destroy(pr->pool);
}

static void row_132_pool_apply_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_APPLY, 0);
    assert_int_equal(pr.codes[0], MPROC_EDEADLK);
    end_probe(&pr);
}

static void row_133_pool_apply_from_error_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_APPLY, 1);
    assert_int_equal(pr.codes[0], MPROC_EDEADLK);
    end_probe(&pr);
}

static void row_134_pool_map_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_MAP, 0);
    assert_int_equal(pr.codes[0], MPROC_EDEADLK);
    assert_int_equal(pr.codes[1], 0); /* *out stays NULL */
    end_probe(&pr);
}

static void row_135_pool_join_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_JOIN, 0);
    assert_int_equal(pr.codes[0], MPROC_OK);
    assert_int_equal(pr.codes[1], MPROC_EDEADLK);
    /* The close stands: from another thread the join works, once the slow task is done. */
    assert_int_equal(mproc_pool_join(pr.pool), MPROC_OK);
    assert_int_equal(mproc_async_get(pr.other, 0, NULL, NULL), MPROC_OK);
    end_probe(&pr);
}

static void row_136_async_wait_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_WAIT_OTHER, 0);
    assert_int_equal(pr.codes[0], MPROC_EDEADLK);
    assert_int_equal(pr.codes[1], MPROC_EDEADLK);
    assert_int_equal(pr.codes[2], MPROC_ETIMEDOUT);
    assert_int_equal(pr.codes[3], MPROC_EDEADLK);
    /* From the main thread the same handle waits as usual. */
    assert_int_equal(mproc_async_get(pr.other, 60000, NULL, NULL), MPROC_OK);
    end_probe(&pr);
}

static void row_137_iter_next_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_IMAP_NEXT, 0);
    assert_int_equal(pr.codes[0], MPROC_OK);
    assert_int_equal(pr.codes[1], MPROC_EDEADLK);
    assert_int_equal(pr.codes[2], MPROC_ETIMEDOUT);
    end_probe(&pr);
}

static void row_138_pool_terminate_from_callback(void **state)
{
    cb_probe pr;
    uint64_t t0;
    int v = 1;
    (void)state;
    run_probe(&pr, CB_TERMINATE, 0);
    assert_int_equal(pr.codes[0], MPROC_OK);
    /* It took effect once the callback returned: the slow task is canceled, not waited for. */
    t0 = tu_now_ms();
    assert_int_equal(mproc_async_get(pr.other, 60000, NULL, NULL), MPROC_ECANCELED);
    assert_true(tu_now_ms() - t0 < (uint64_t)MISUSE_SLOW_MS);
    assert_int_equal(
        mproc_pool_apply_async(pr.pool, tu_square, &v, sizeof v, NULL, NULL, NULL, NULL),
        MPROC_ESTATE);
    assert_int_equal(mproc_pool_join(pr.pool), MPROC_OK);
    end_probe(&pr);
}

static void row_139_pool_destroy_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_DESTROY, 0);
    /* Only terminated: the pool is still there, and the main thread's destroy frees it. */
    assert_int_equal(mproc_async_get(pr.other, 60000, NULL, NULL), MPROC_ECANCELED);
    end_probe(&pr);
}

static void row_140_pool_apply_async_from_callback(void **state)
{
    cb_probe pr;
    (void)state;
    run_probe(&pr, CB_APPLY_ASYNC, 0);
    assert_int_equal(pr.codes[0], MPROC_OK);
    wait_flag(&pr.nested_done, 60000);
    end_probe(&pr);
}

#ifndef _WIN32
/* Runs fn in a child of this process's own fork() and gives its exit code; a child that does not
 * end within 20 s is killed (-1). */
static int in_own_fork(int (*fn)(void *), void *ctx)
{
    pid_t pid;
    int status = 0;
    uint64_t end;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(30);
        _exit(fn(ctx));
    }
    end = tu_now_ms() + 20000;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (tu_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            print_message("the forked child did not end within 20 s\n");
            return -1;
        }
        tu_sleep_ms(5);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* In the fork's copy: every pool call gives MPROC_EFOREIGN at once, destroy returns. Exit 0 when
 * so, else the number of the first call that did not. */
static int copy_uses_pool(void *ctx)
{
    mproc_pool *p = ctx;
    int v = 4, items[2] = {1, 2};
    void *res = NULL;
    mproc_results *mr = NULL;
    mproc_iter *it = NULL;
    mproc_async *a = NULL;
    uint64_t t0 = tu_now_ms();

    if (mproc_pool_apply(p, tu_square, &v, sizeof v, &res, NULL) != MPROC_EFOREIGN)
        return 10;
    if (mproc_pool_apply_async(p, tu_square, &v, sizeof v, NULL, NULL, NULL, &a) !=
            MPROC_EFOREIGN ||
        a != NULL)
        return 11;
    if (mproc_pool_map(p, tu_square, items, sizeof items[0], 2, 0, &mr) != MPROC_EFOREIGN ||
        mr != NULL)
        return 12;
    if (mproc_pool_imap(p, tu_square, items, sizeof items[0], 2, 0, &it) != MPROC_EFOREIGN ||
        it != NULL)
        return 13;
    if (mproc_pool_close(p) != MPROC_EFOREIGN)
        return 14;
    if (mproc_pool_join(p) != MPROC_EFOREIGN)
        return 15;
    if (mproc_pool_terminate(p) != MPROC_EFOREIGN)
        return 16;
    mproc_pool_destroy(p);
    if (tu_now_ms() - t0 > MISUSE_AT_ONCE_MS)
        return 17;
    return 0;
}

typedef struct copy_handles {
    mproc_async *a;
    mproc_iter *it;
} copy_handles;

/* The handles of the fork's copy: the same, and their release returns. */
static int copy_uses_handles(void *ctx)
{
    copy_handles *h = ctx;
    size_t index;
    if (mproc_async_wait(h->a, MPROC_FOREVER) != MPROC_EFOREIGN)
        return 20;
    if (mproc_async_get(h->a, MPROC_FOREVER, NULL, NULL) != MPROC_EFOREIGN)
        return 21;
    if (mproc_async_ready(h->a) != 0 || mproc_async_error(h->a) != NULL)
        return 22;
    if (mproc_iter_next(h->it, MPROC_FOREVER, &index, NULL, NULL) != MPROC_EFOREIGN)
        return 23;
    mproc_async_release(h->a);
    mproc_iter_destroy(h->it);
    return 0;
}
#endif

static void row_141_pool_used_in_a_fork_copy(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* Windows has no fork(): no copy of a pool can exist there */
#else
    mproc_pool *p = pool_of(2);
    int v = 5, out = 0;
    void *res = NULL;
    size_t len = 0;
    (void)state;
    /* The copy gets its codes at once; the parent's pool is untouched and goes on working. */
    assert_int_equal(in_own_fork(copy_uses_pool, p), 0);
    assert_int_equal(mproc_pool_apply(p, tu_square, &v, sizeof v, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof out);
    memcpy(&out, res, sizeof out);
    assert_int_equal(out, 25);
    mproc_free(res);
    assert_int_equal(mproc_pool_workers(p), 2);
    mproc_pool_destroy(p);
#endif
}

static void row_142_pool_handles_used_in_a_fork_copy(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* Windows has no fork() */
#else
    mproc_pool *p = *state;
    copy_handles h;
    long ms[1] = {200};
    h.a = pending(p, 300);
    h.it = NULL;
    assert_int_equal(mproc_pool_imap(p, task_sleep, ms, sizeof ms[0], 1, 0, &h.it), MPROC_OK);
    assert_int_equal(in_own_fork(copy_uses_handles, &h), 0);
    /* The creator's handles are untouched by the copy's release. */
    assert_int_equal(mproc_async_get(h.a, 60000, NULL, NULL), MPROC_OK);
    assert_int_equal(mproc_iter_next(h.it, 60000, NULL, NULL, NULL), MPROC_OK);
    mproc_iter_destroy(h.it);
    mproc_async_release(h.a);
#endif
}

#ifndef _WIN32
static int copy_uses_process(void *ctx)
{
    mproc_process *p = ctx;
    int code = 0;
    if (mproc_process_start(p) != MPROC_EFOREIGN)
        return 30;
    if (mproc_process_join(p, MPROC_FOREVER) != MPROC_EFOREIGN)
        return 31;
    if (mproc_process_terminate(p) != MPROC_EFOREIGN || mproc_process_kill(p) != MPROC_EFOREIGN)
        return 32;
    if (mproc_process_exitcode(p, &code) != MPROC_EFOREIGN || mproc_process_is_alive(p) != 0)
        return 33;
    /* Frees the copy; the child is the creator's and keeps running. */
    mproc_process_destroy(p);
    return 0;
}
#endif

static void row_143_process_used_in_a_fork_copy(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* Windows has no fork() */
#else
    long ms = 1500;
    mproc_process *p = started(t_sleep, &ms, sizeof ms);
    int code = -1;
    (void)state;
    assert_int_equal(in_own_fork(copy_uses_process, p), 0);
    assert_int_equal(mproc_process_is_alive(p), 1);
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, 0); /* ended by itself, not killed by the copy's destroy */
    mproc_process_destroy(p);
#endif
}

/* The environment variable the breaker's row hands its child. */
#define GUARD_BYPASS_ENV "MPROC_TEST_GUARD_BYPASS"

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

/* main() of a spawned child whose guard is bypassed on purpose: mproc_init() returns as in a
 * parent, and starting anything must give the breaker's code. Exit code: 64 - that code. */
static int guard_bypassed_child(void)
{
    mproc_process *p = NULL;
    mproc_pool *pool = NULL;
    int r, rpool;
    mproc__guard_test_skip(1);
    if (mproc_init(0, NULL) != MPROC_OK)
        return 1;
    /* Should the breaker fail, a grandchild must not bypass in turn. */
    set_env(GUARD_BYPASS_ENV, NULL);
    if (mproc_process_create(&p, tu_return, NULL, 0) != MPROC_OK)
        return 2;
    r = mproc_process_start(p);
    mproc_process_destroy(p);
    rpool = mproc_pool_create(&pool, 1);
    mproc_pool_destroy(pool);
    if (pool != NULL || rpool != r)
        return 3;
    return ISOLATED_BASE - r;
}

static void row_144_start_in_a_child_whose_guard_was_bypassed(void **state)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    int code = 0;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.start_method = MPROC_START_SPAWN;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    set_env(GUARD_BYPASS_ENV, "1");
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    set_env(GUARD_BYPASS_ENV, NULL);
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    assert_int_equal(code, ISOLATED_BASE - MPROC_EGUARD);
    mproc_process_destroy(p);
    /* The message says what happened. */
    assert_non_null(strstr(mproc_strerror(MPROC_EGUARD), "mproc_init"));
}

static void row_145_start_method_env_not_a_method(void **state)
{
    static const char *const bad[] = {"forkserver", " spawn", "spawn ", "garbage", "forks"};
    const char *saved = getenv("MPROC_START_METHOD");
    char keep[32] = "";
    mproc_process *p = NULL;
    mproc_pool *pool = NULL;
    mproc_process_options o;
    size_t i;
    (void)state;
    if (saved != NULL) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_env("MPROC_START_METHOD", bad[i]);
        assert_int_equal(mproc_process_create(&p, tu_return, NULL, 0), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_EINVAL);
        assert_int_equal(mproc_process_pid(p), 0);
        mproc_process_destroy(p);
        assert_int_equal(mproc_pool_create(&pool, 1), MPROC_EINVAL);
        assert_null(pool);
    }
    /* An explicit method does not read the variable. */
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.start_method = MPROC_START_SPAWN;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    mproc_process_destroy(p);
    set_env("MPROC_START_METHOD", saved != NULL ? keep : NULL);
    assert_non_null(strstr(mproc_strerror(MPROC_EINVAL), "MPROC_START_METHOD"));
}

static void row_146_start_method_env_any_case(void **state)
{
    static const char *const names[] = {"Spawn", "SPAWN", "spawn", "Fork", "FORK", ""};
    const char *saved = getenv("MPROC_START_METHOD");
    char keep[32] = "";
    size_t i;
    (void)state;
    if (saved != NULL) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        mproc_process *p = NULL;
        int code = -1, want = MPROC_OK;
        set_env("MPROC_START_METHOD", names[i]);
#ifdef _WIN32
        if (names[i][0] == 'F' || names[i][0] == 'f') {
            want = MPROC_ENOTSUP; /* as MPROC_START_FORK */
        }
#endif
        assert_int_equal(mproc_process_create(&p, tu_return, NULL, 0), MPROC_OK);
        assert_int_equal(mproc_process_start(p), want);
        if (want == MPROC_OK) {
            assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
            assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
            assert_int_equal(code, 0);
        }
        mproc_process_destroy(p);
    }
    set_env("MPROC_START_METHOD", saved != NULL ? keep : NULL);
}

static void row_147_pool_create_os_error_reaches_caller(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* no descriptor limit to lower on Windows */
#else
    struct rlimit old, low;
    mproc_pool *p = NULL;
    long highest = 2;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int r, fd, fill[1024], nfill = 0;
    (void)state;
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            long v = strtol(e->d_name, NULL, 10);
            if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && v > highest) {
                highest = v;
            }
        }
        closedir(d);
    } else {
        highest = 64;
    }
    /* Holes below the highest descriptor would be free numbers too: fill them. */
    while ((fd = dup(0)) >= 0 && fd < highest && nfill < (int)(sizeof fill / sizeof fill[0])) {
        fill[nfill++] = fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    /* Room for the pool's own loop on this thread, not for eight workers on the pool's. */
    low.rlim_cur = (rlim_t)highest + 4;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    r = mproc_pool_create(&p, 8);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    while (nfill > 0) {
        close(fill[--nfill]);
    }
    assert_int_equal(r, MPROC_ESYS);
    assert_null(p);
    assert_int_equal(mproc_last_os_error(), EMFILE);
#endif
}

static void row_148_process_create_arg_exactly_1_gib(void **state)
{
    size_t gib = (size_t)1 << 30;
    /* calloc: untouched zero pages, so only the library's copy costs memory. */
    unsigned char *big = calloc(1, gib + 1);
    mproc_process *p = NULL;
    (void)state;
    assert_non_null(big);
    assert_int_equal(mproc_process_create(&p, tu_return, big, gib), MPROC_OK);
    mproc_process_destroy(p);
    p = NULL;
    assert_int_equal(mproc_process_create(&p, tu_return, big, gib + 1), MPROC_ETOOBIG);
    assert_null(p);
    free(big);
}

/* ---- Function pointers that are not code (issue 20): MPROC_ENOFUNC under every method ---- */

static int not_code_data[4]; /* a data object: its address is no function */

/* Two pointers that are not code: one in no module at all, one into this program's data. */
static void not_code_pointers(uintptr_t out[2])
{
    out[0] = (uintptr_t)0x1234;
    out[1] = (uintptr_t)(void *)not_code_data;
}

static int task_pid(const void *arg, size_t len, mproc_output *out)
{
    long pid = mproc_getpid();
    (void)arg;
    (void)len;
    return mproc_output_set(out, &pid, sizeof pid);
}

static long pool_worker_pid(mproc_pool *p)
{
    void *res = NULL;
    size_t len = 0;
    long pid = 0;
    assert_int_equal(mproc_pool_apply(p, task_pid, NULL, 0, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof pid);
    memcpy(&pid, res, sizeof pid);
    mproc_free(res);
    return pid;
}

static void row_149_process_start_target_not_code(void **state)
{
    uintptr_t bad[2];
    size_t i;
    (void)state;
    not_code_pointers(bad);
    for (i = 0; i < 2; i++) {
        mproc_process *p = NULL;
        assert_int_equal(mproc_process_create(&p, (mproc_target)bad[i], NULL, 0), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_ENOFUNC);
        assert_int_equal(mproc_process_pid(p), 0);
        assert_int_equal(mproc_process_join(p, 0), MPROC_ESTATE);
        mproc_process_destroy(p);
    }
}

static void row_150_pool_apply_task_not_code(void **state)
{
    mproc_pool *p = pool_of(1);
    uintptr_t bad[2];
    long pid = pool_worker_pid(p);
    size_t i;
    (void)state;
    not_code_pointers(bad);
    for (i = 0; i < 2; i++) {
        void *res = (void *)&res;
        mproc_async *a = NULL;
        const mproc_error *e;
        assert_int_equal(mproc_pool_apply(p, (mproc_task)bad[i], NULL, 0, &res, NULL),
                         MPROC_ENOFUNC);
        assert_null(res);
        assert_int_equal(
            mproc_pool_apply_async(p, (mproc_task)bad[i], NULL, 0, NULL, NULL, NULL, &a), MPROC_OK);
        assert_int_equal(mproc_async_get(a, MPROC_FOREVER, NULL, NULL), MPROC_ENOFUNC);
        e = mproc_async_error(a);
        assert_non_null(e);
        assert_int_equal(e->code, MPROC_ENOFUNC);
        assert_int_equal(e->exitcode, 0);
        assert_true(e->message[0] != '\0');
        mproc_async_release(a);
    }
    /* No worker was lost: the same one answers. */
    assert_int_equal(pool_worker_pid(p), pid);
    mproc_pool_destroy(p);
}

static void row_151_pool_map_task_not_code(void **state)
{
    mproc_pool *p = pool_of(1);
    uintptr_t bad[2];
    int items[3] = {1, 2, 3};
    long pid = pool_worker_pid(p);
    size_t i, k;
    (void)state;
    not_code_pointers(bad);
    for (i = 0; i < 2; i++) {
        mproc_results *r = NULL;
        assert_int_equal(mproc_pool_map(p, (mproc_task)bad[i], items, sizeof items[0], 3, 1, &r),
                         MPROC_OK);
        assert_int_equal(mproc_results_count(r), 3);
        for (k = 0; k < 3; k++) {
            assert_int_equal(mproc_results_get(r, k, NULL, NULL), MPROC_ENOFUNC);
        }
        mproc_results_destroy(r);
    }
    assert_int_equal(pool_worker_pid(p), pid);
    mproc_pool_destroy(p);
}

static void row_152_pool_create_ex_initializer_not_code(void **state)
{
    uintptr_t bad[2];
    size_t i;
    (void)state;
    not_code_pointers(bad);
    for (i = 0; i < 2; i++) {
        mproc_pool_options o;
        mproc_pool *p = (mproc_pool *)&p;
        memset(&o, 0, sizeof o);
        o.workers = 1;
        o.initializer = (mproc_initializer)bad[i];
        assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_ENOFUNC);
        assert_null(p);
    }
}

/* ---- Exit status taken by the application (issue 19 / 16): rows 153-154 ---- */

/* With SIGCHLD ignored and no pidfd to ask (MPROC_NO_PIDFD, as on kernels before 5.3), a child
 * ended by a signal leaves nothing: MPROC_ENOSTATUS, code untouched; a child that returned
 * still reports its value. Windows keeps every status: -15 and 42 there. */
static void ignored_sigchld_code(mproc_target t, int v, int terminate, int *rc, int *code)
{
    mproc_process *p = NULL;
#ifndef _WIN32
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    assert_int_equal(setenv("MPROC_NO_PIDFD", "1", 1), 0);
    assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
#endif
    assert_int_equal(mproc_process_create(&p, t, &v, sizeof v), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    if (terminate) {
        assert_int_equal(mproc_process_terminate(p), MPROC_OK);
    }
    assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
    *code = 12345;
    *rc = mproc_process_exitcode(p, code);
    mproc_process_destroy(p);
#ifndef _WIN32
    sigaction(SIGCHLD, &old, NULL);
    unsetenv("MPROC_NO_PIDFD");
#endif
}

static int t_sleep_10s(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    tu_sleep_ms(10000);
    return 0;
}

static void row_153_exitcode_status_taken_by_sigchld_ignored(void **state)
{
    int rc, code;
    (void)state;
    /* Terminated long before it would return. */
    ignored_sigchld_code(t_sleep_10s, 0, 1, &rc, &code);
#ifdef _WIN32
    assert_int_equal(rc, MPROC_OK);
    assert_int_equal(code, -15);
#else
    assert_int_equal(rc, MPROC_ENOSTATUS);
    assert_int_equal(code, 12345);
#endif
}

static void row_154_exitcode_return_value_survives_sigchld_ignored(void **state)
{
    int rc, code;
    (void)state;
    ignored_sigchld_code(tu_return, 42, 0, &rc, &code);
    assert_int_equal(rc, MPROC_OK);
    assert_int_equal(code, 42);
}

/* ---- objects processes share (issue 11): handing, shared memory, pipes ---- */

static void row_165_shm_create_null_out_or_zero_size(void **state)
{
    mproc_shm *s = (mproc_shm *)&s;
    (void)state;
    assert_int_equal(mproc_shm_create(NULL, 16), MPROC_EINVAL);
    assert_int_equal(mproc_shm_create(&s, 0), MPROC_EINVAL);
    assert_null(s);
}

static void row_166_shm_create_size_max(void **state)
{
    mproc_shm *s = (mproc_shm *)&s;
    int r;
    (void)state;
    r = mproc_shm_create(&s, (size_t)-1);
    assert_true(r == MPROC_ESYS || r == MPROC_ENOMEM);
    assert_null(s);
}

static void row_167_shm_getters_and_destroy_of_null(void **state)
{
    (void)state;
    assert_null(mproc_shm_ptr(NULL));
    assert_int_equal(mproc_shm_size(NULL), 0);
    assert_null(mproc_shm_shared(NULL));
    mproc_shm_destroy(NULL);
}

static void row_168_child_calls_in_the_main_program(void **state)
{
    mproc_shm *s = (mproc_shm *)&s;
    mproc_pipe *p = (mproc_pipe *)&p;
    (void)state;
    assert_int_equal(mproc_child_share_count(), 0);
    assert_int_equal(mproc_child_shm(0, &s), MPROC_EINVAL);
    assert_null(s);
    assert_int_equal(mproc_child_pipe(0, &p), MPROC_EINVAL);
    assert_null(p);
    assert_int_equal(mproc_child_shm(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_pipe(0, NULL), MPROC_EINVAL);
}

static void row_169_process_share_list_bad(void **state)
{
    mproc_process_options o;
    mproc_process *p = (mproc_process *)&p;
    mproc_shared *list[2];
    mproc_shm *s = NULL;
    (void)state;
    assert_int_equal(mproc_shm_create(&s, 64), MPROC_OK);
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.share_count = 1; /* share NULL */
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    list[0] = NULL;
    o.share = list;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    list[0] = list[1] = mproc_shm_shared(s);
    o.share_count = 2;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    o.share_count = 65;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    mproc_shm_destroy(s);
}

/* In the child: each wrong question about what it was handed (a pipe end at index 0). Exit 0
 * when each gave its code, else the number of the first that did not. */
static int t_child_asks_wrongly(const void *arg, size_t len)
{
    mproc_shm *s = (mproc_shm *)&s;
    mproc_pipe *p = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_share_count() != 1)
        return 1;
    if (mproc_child_shm(0, &s) != MPROC_EINVAL || s != NULL)
        return 2; /* another kind */
    if (mproc_child_pipe(1, &p) != MPROC_EINVAL || p != NULL)
        return 3; /* past the list */
    if (mproc_child_pipe((size_t)-1, &p) != MPROC_EINVAL)
        return 4;
    if (mproc_child_pipe(0, &p) != MPROC_OK || p == NULL)
        return 5;
    mproc_pipe_destroy(p);
    if (mproc_child_pipe(0, &p) != MPROC_ESTATE || p != NULL)
        return 6; /* destroyed already */
    return 0;
}

static void row_170_child_asks_for_wrong_index_or_kind(void **state)
{
    mproc_pipe *a = NULL, *b = NULL;
    mproc_shared *list[1];
    (void)state;
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    list[0] = mproc_pipe_shared(b);
    tu_join_ok(tu_start_sharing(t_child_asks_wrongly, NULL, 0, list, 1), 60000);
    mproc_pipe_destroy(a);
    mproc_pipe_destroy(b);
}

static void row_171_pipe_create_bad_outs(void **state)
{
    mproc_pipe *a = (mproc_pipe *)&a, *b = (mproc_pipe *)&b;
    (void)state;
    assert_int_equal(mproc_pipe_create(NULL, &b), MPROC_EINVAL);
    assert_null(b);
    assert_int_equal(mproc_pipe_create(&a, NULL), MPROC_EINVAL);
    assert_null(a);
    assert_int_equal(mproc_pipe_create(&a, &a), MPROC_EINVAL);
    assert_null(a);
}

static void row_172_pipe_send_bad(void **state)
{
    mproc_pipe *a = NULL, *b = NULL;
    (void)state;
    assert_int_equal(mproc_pipe_send(NULL, "x", 1), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    assert_int_equal(mproc_pipe_send(a, NULL, 1), MPROC_EINVAL);
#if SIZE_MAX > 0xFFFFFFFFu
    assert_int_equal(mproc_pipe_send(a, "x", ((size_t)1 << 40) + 1), MPROC_ETOOBIG);
#endif
    assert_int_equal(mproc_pipe_poll(b, 0), 0); /* nothing was sent */
    mproc_pipe_destroy(a);
    mproc_pipe_destroy(b);
}

static void row_173_pipe_recv_and_poll_bad(void **state)
{
    mproc_pipe *a = NULL, *b = NULL;
    void *d = (void *)&d;
    size_t n = 5;
    (void)state;
    assert_int_equal(mproc_pipe_recv(NULL, 0, &d, &n), MPROC_EINVAL);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_int_equal(mproc_pipe_poll(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    assert_int_equal(mproc_pipe_recv(a, 0, NULL, &n), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_recv(a, 0, &d, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_recv(a, -2, &d, &n), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_recv(a, LONG_MIN, &d, &n), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_poll(a, -2), MPROC_EINVAL);
    assert_int_equal(mproc_pipe_recv(a, 0, &d, &n), MPROC_ETIMEDOUT);
    mproc_pipe_destroy(a);
    mproc_pipe_destroy(b);
}

static void row_174_pipe_shared_and_destroy_of_null(void **state)
{
    (void)state;
    assert_null(mproc_pipe_shared(NULL));
    mproc_pipe_destroy(NULL);
}

static void row_175_pipe_other_end_gone(void **state)
{
    mproc_pipe *a = NULL, *b = NULL;
    void *d = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    mproc_pipe_destroy(b);
    assert_int_equal(mproc_pipe_send(a, "x", 1), MPROC_EEND); /* no SIGPIPE */
    assert_int_equal(mproc_pipe_poll(a, 0), 1);
    assert_int_equal(mproc_pipe_recv(a, MPROC_FOREVER, &d, &n), MPROC_EEND);
    assert_int_equal(mproc_pipe_recv(a, 0, &d, &n), MPROC_EEND);
    assert_null(d);
    mproc_pipe_destroy(a);
}

static void row_176_share_pipe_end_that_read_bytes(void **state)
{
    mproc_process_options o;
    mproc_process *p = (mproc_process *)&p;
    mproc_pipe *a = NULL, *b = NULL;
    mproc_shared *list[1];
    (void)state;
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    assert_int_equal(mproc_pipe_send(a, "ab", 2), MPROC_OK);
    assert_int_equal(mproc_pipe_poll(b, 10000), 1); /* b has read the message */
    list[0] = mproc_pipe_shared(b);
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.share = list;
    o.share_count = 1;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_ESTATE);
    assert_null(p);
    mproc_pipe_destroy(a);
    mproc_pipe_destroy(b);
}

#ifndef _WIN32
/* In an application fork's copy: an end it was not handed gives MPROC_EFOREIGN, and so does
 * listing a block it was not handed. Exit 0 when so. */
static int copy_uses_ipc(void *ctx)
{
    mproc_pipe *a = ((mproc_pipe **)ctx)[0];
    mproc_shm *s = ((mproc_shm **)ctx)[1];
    mproc_process_options o;
    mproc_process *p = (mproc_process *)&p;
    mproc_shared *list[1];
    void *d = NULL;
    size_t n = 0;
    if (mproc_pipe_send(a, "x", 1) != MPROC_EFOREIGN)
        return 1;
    if (mproc_pipe_recv(a, 0, &d, &n) != MPROC_EFOREIGN)
        return 2;
    if (mproc_pipe_poll(a, 0) != MPROC_EFOREIGN)
        return 3;
    list[0] = mproc_shm_shared(s);
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.share = list;
    o.share_count = 1;
    if (mproc_process_create_ex(&p, &o) != MPROC_EFOREIGN || p != NULL)
        return 4;
    mproc_pipe_destroy(a); /* the copy's memory only */
    mproc_shm_destroy(s);
    return 0;
}
#endif

static void row_177_ipc_objects_used_in_a_fork_copy(void **state)
{
#ifdef _WIN32
    (void)state;
    skip(); /* Windows has no fork() */
#else
    void *ctx[2];
    mproc_pipe *a = NULL, *b = NULL;
    mproc_shm *s = NULL;
    void *d = NULL;
    size_t n = 0;
    (void)state;
    assert_int_equal(mproc_pipe_create(&a, &b), MPROC_OK);
    assert_int_equal(mproc_shm_create(&s, 64), MPROC_OK);
    ctx[0] = a;
    ctx[1] = s;
    assert_int_equal(in_own_fork(copy_uses_ipc, ctx), 0);
    /* The creator's objects are untouched by the copy's destroy. */
    assert_int_equal(mproc_pipe_send(a, "ok", 2), MPROC_OK);
    assert_int_equal(mproc_pipe_recv(b, 10000, &d, &n), MPROC_OK);
    assert_int_equal(n, 2);
    mproc_free(d);
    mproc_pipe_destroy(a);
    mproc_pipe_destroy(b);
    mproc_shm_destroy(s);
#endif
}

static void row_178_pool_share_list_bad(void **state)
{
    mproc_pool_options o;
    mproc_pool *p = (mproc_pool *)&p;
    mproc_shared *list[1];
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.share_count = 1; /* share NULL */
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    list[0] = NULL;
    o.share = list;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
    o.share_count = 65;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
}

/* ---- Queue and JoinableQueue (issue 11, i11-queue) ---- */

static void row_179_queue_create_null_out(void **state)
{
    (void)state;
    assert_int_equal(mproc_queue_create(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_queue_create(NULL, 5), MPROC_EINVAL);
}

static void row_180_queue_create_huge_maxsize(void **state)
{
    mproc_queue *q = NULL;
    size_t n = 1;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, SIZE_MAX), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 1);
    mproc_queue_destroy(q);
}

static void row_181_queue_calls_null_queue(void **state)
{
    void *d = (void *)1;
    size_t n = 7;
    (void)state;
    assert_int_equal(mproc_queue_put(NULL, "x", 1, 0), MPROC_EINVAL);
    assert_int_equal(mproc_queue_get(NULL, 0, &d, &n), MPROC_EINVAL);
    assert_null(d);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(mproc_queue_size(NULL, &n), MPROC_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(mproc_queue_close(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_queue_task_done(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_queue_join(NULL, 0), MPROC_EINVAL);
    assert_null(mproc_queue_shared(NULL));
    mproc_queue_destroy(NULL);
}

static void row_182_queue_put_null_data(void **state)
{
    mproc_queue *q = NULL;
    void *d = NULL;
    size_t n = 7;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, NULL, 5, 0), MPROC_EINVAL);
    assert_int_equal(mproc_queue_put(q, NULL, SIZE_MAX, 0), MPROC_EINVAL);
    assert_int_equal(mproc_queue_put(q, NULL, 0, 0), MPROC_OK);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    assert_non_null(d);
    assert_int_equal(n, 0);
    mproc_free(d);
    mproc_queue_destroy(q);
}

static void row_183_queue_negative_timeouts(void **state)
{
    mproc_queue *q = NULL;
    void *d;
    size_t n;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "x", 1, -2), MPROC_EINVAL);
    assert_int_equal(mproc_queue_put(q, "x", 1, LONG_MIN), MPROC_EINVAL);
    assert_int_equal(mproc_queue_get(q, -2, &d, &n), MPROC_EINVAL);
    assert_int_equal(mproc_queue_get(q, LONG_MIN, &d, &n), MPROC_EINVAL);
    assert_int_equal(mproc_queue_join(q, -2), MPROC_EINVAL);
    assert_int_equal(mproc_queue_join(q, LONG_MIN), MPROC_EINVAL);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 0);
    mproc_queue_destroy(q);
}

static void row_184_queue_get_null_outputs(void **state)
{
    mproc_queue *q = NULL;
    void *d = (void *)1;
    size_t n = 7;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_get(q, 0, NULL, &n), MPROC_EINVAL);
    assert_int_equal(n, 0);
    assert_int_equal(mproc_queue_get(q, 0, &d, NULL), MPROC_EINVAL);
    assert_null(d);
    assert_int_equal(mproc_queue_size(q, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 1); /* nothing was taken */
    mproc_queue_destroy(q);
}

static void row_185_queue_put_huge_len(void **state)
{
    mproc_queue *q = NULL;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    if (sizeof(size_t) > 4)
        assert_int_equal(mproc_queue_put(q, "x", SIZE_MAX, 0), MPROC_ETOOBIG);
    mproc_queue_destroy(q);
}

static void row_186_queue_closed(void **state)
{
    mproc_queue *q = NULL;
    void *d = (void *)1;
    size_t n;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_close(q), MPROC_OK);
    assert_int_equal(mproc_queue_close(q), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "y", 1, 0), MPROC_ESTATE);
    assert_int_equal(mproc_queue_put(q, "y", 1, MPROC_FOREVER), MPROC_ESTATE);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    mproc_free(d);
    assert_int_equal(mproc_queue_get(q, MPROC_FOREVER, &d, &n), MPROC_EEND);
    assert_null(d);
    mproc_queue_destroy(q);
}

static void row_187_queue_task_done_too_many(void **state)
{
    mproc_queue *q = NULL;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_ESTATE);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_ESTATE);
    assert_int_equal(mproc_queue_join(q, 0), MPROC_OK);
    mproc_queue_destroy(q);
}

static void row_188_queue_zero_timeouts(void **state)
{
    mproc_queue *q = NULL;
    void *d = (void *)1;
    size_t n = 7;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 1), MPROC_OK);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_ETIMEDOUT);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "y", 1, 0), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
    mproc_queue_destroy(q);
}

static void row_189_queue_damaged_header(void **state)
{
    mproc_queue *q = NULL;
    void *addr, *d = (void *)1;
    size_t size, n = 7;
    uint64_t *words;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_OK);
    mproc__queue_region(q, &addr, &size);
    words = (uint64_t *)addr;
    /* The head offset past the tail (words 4 and 5: after magic/version, the two capacities
     * and maxsize): what another process might leave. */
    words[4] = words[5] + 4096;
    assert_int_equal(mproc_queue_put(q, "y", 1, 0), MPROC_EPROTO);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_EPROTO);
    assert_null(d);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_EPROTO);
    assert_int_equal(mproc_queue_close(q), MPROC_EPROTO);
    assert_int_equal(mproc_queue_task_done(q), MPROC_EPROTO);
    assert_int_equal(mproc_queue_join(q, 0), MPROC_EPROTO);
    /* A wrong magic number. */
    words[4] = words[5];
    ((uint32_t *)addr)[0] ^= 0x100u;
    assert_int_equal(mproc_queue_size(q, &n), MPROC_EPROTO);
    mproc_queue_destroy(q);
}

static void row_190_queue_damaged_record(void **state)
{
    mproc_queue *q = NULL;
    void *addr, *d = (void *)1;
    size_t size, n = 7;
    unsigned char *ring;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "abc", 3, 0), MPROC_OK);
    mproc__queue_region(q, &addr, &size);
    ring = (unsigned char *)addr + 4096; /* the ring follows the 4 KiB header */
    ring[8] ^= 0xFFu;                    /* the record's length: its check word no longer fits */
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_EPROTO);
    assert_null(d);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 1);
    ring[8] ^= 0xFFu;
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    assert_int_equal(n, 3);
    mproc_free(d);
    mproc_queue_destroy(q);
}

static int t_child_queue_of_shm(const void *arg, size_t len)
{
    mproc_queue *q = (mproc_queue *)1;
    mproc_shm *s = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_queue(0, &q) != MPROC_EINVAL || q != NULL)
        return 1;
    if (mproc_child_queue(1, &q) != MPROC_EINVAL || q != NULL)
        return 2;
    if (mproc_child_queue(0, NULL) != MPROC_EINVAL)
        return 3;
    if (mproc_child_shm(0, &s) != MPROC_OK)
        return 4;
    return 0;
}

static void row_191_child_queue_wrong_index_or_kind(void **state)
{
    mproc_queue *q = (mproc_queue *)1;
    mproc_shm *s = NULL;
    mproc_shared *list[1];
    (void)state;
    assert_int_equal(mproc_child_queue(0, &q), MPROC_EINVAL);
    assert_null(q);
    assert_int_equal(mproc_child_queue(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_shm_create(&s, 64), MPROC_OK);
    list[0] = mproc_shm_shared(s);
    tu_join_ok(tu_start_sharing(t_child_queue_of_shm, NULL, 0, list, 1), 60000);
    mproc_shm_destroy(s);
}

/* ---- sync objects and mproc_wait (issue 12; include/mproc/sync.h) ---- */

static void row_192_lock_null_and_bad_timeout(void **state)
{
    mproc_lock *l = (mproc_lock *)&l;
    (void)state;
    assert_int_equal(mproc_lock_create(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_lock_acquire(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_lock_acquire(NULL, MPROC_FOREVER), MPROC_EINVAL);
    assert_int_equal(mproc_lock_release(NULL), MPROC_EINVAL);
    mproc_lock_destroy(NULL);
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    assert_int_equal(mproc_lock_acquire(l, -2), MPROC_EINVAL);
    assert_int_equal(mproc_lock_acquire(l, -1000), MPROC_EINVAL);
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK); /* the refused calls took nothing */
    assert_int_equal(mproc_lock_release(l), MPROC_OK);
    mproc_lock_destroy(l);
}

static void row_193_lock_wrong_holder(void **state)
{
    mproc_lock *l = NULL;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    assert_int_equal(mproc_lock_release(l), MPROC_ESTATE);
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK);
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_ESTATE);
    assert_int_equal(mproc_lock_acquire(l, 50), MPROC_ESTATE);
    assert_int_equal(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_ESTATE);
    assert_int_equal(mproc_lock_release(l), MPROC_OK);
    assert_int_equal(mproc_lock_release(l), MPROC_ESTATE);
    mproc_lock_destroy(l);
}

static void row_194_rlock_null_bad_timeout_not_held(void **state)
{
    mproc_rlock *l = NULL;
    (void)state;
    assert_int_equal(mproc_rlock_create(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_rlock_acquire(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_rlock_release(NULL), MPROC_EINVAL);
    mproc_rlock_destroy(NULL);
    assert_int_equal(mproc_rlock_create(&l), MPROC_OK);
    assert_int_equal(mproc_rlock_acquire(l, -2), MPROC_EINVAL);
    assert_int_equal(mproc_rlock_release(l), MPROC_ESTATE);
    assert_int_equal(mproc_rlock_acquire(l, 0), MPROC_OK);
    assert_int_equal(mproc_rlock_release(l), MPROC_OK);
    assert_int_equal(mproc_rlock_release(l), MPROC_ESTATE);
    mproc_rlock_destroy(l);
}

static void row_195_sem_bad_input(void **state)
{
    mproc_sem *s = (mproc_sem *)&s;
    unsigned v = 7;
    (void)state;
    assert_int_equal(mproc_sem_create(NULL, 1), MPROC_EINVAL);
    assert_int_equal(mproc_sem_create(&s, MPROC_SEM_MAX + 1u), MPROC_EINVAL);
    assert_null(s);
    assert_int_equal(mproc_sem_create(&s, 0xffffffffu), MPROC_EINVAL);
    assert_null(s);
    assert_int_equal(mproc_sem_acquire(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_sem_release(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_sem_value(NULL, &v), MPROC_EINVAL);
    mproc_sem_destroy(NULL);
    assert_int_equal(mproc_sem_create(&s, MPROC_SEM_MAX), MPROC_OK);
    assert_int_equal(mproc_sem_value(s, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_sem_acquire(s, -2), MPROC_EINVAL);
    assert_int_equal(mproc_sem_release(s), MPROC_ESTATE); /* at MPROC_SEM_MAX already */
    assert_int_equal(mproc_sem_value(s, &v), MPROC_OK);
    assert_int_equal(v, MPROC_SEM_MAX);
    mproc_sem_destroy(s);
}

static void row_196_event_bad_input(void **state)
{
    mproc_event *e = NULL;
    (void)state;
    assert_int_equal(mproc_event_create(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_event_set(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_event_clear(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_event_wait(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_event_is_set(NULL), 0);
    mproc_event_destroy(NULL);
    assert_int_equal(mproc_event_create(&e), MPROC_OK);
    assert_int_equal(mproc_event_wait(e, -2), MPROC_EINVAL);
    assert_int_equal(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
    mproc_event_destroy(e);
}

static void row_197_barrier_bad_input(void **state)
{
    mproc_barrier *b = (mproc_barrier *)&b;
    (void)state;
    assert_int_equal(mproc_barrier_create(NULL, 2), MPROC_EINVAL);
    assert_int_equal(mproc_barrier_create(&b, 0), MPROC_EINVAL);
    assert_null(b);
    assert_int_equal(mproc_barrier_create(&b, MPROC_BARRIER_MAX + 1u), MPROC_EINVAL);
    assert_null(b);
    assert_int_equal(mproc_barrier_wait(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_barrier_reset(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_barrier_broken(NULL), 0);
    mproc_barrier_destroy(NULL);
    assert_int_equal(mproc_barrier_create(&b, 2), MPROC_OK);
    assert_int_equal(mproc_barrier_wait(b, -2), MPROC_EINVAL);
    assert_int_equal(mproc_barrier_broken(b), 0); /* a refused wait breaks nothing */
    mproc_barrier_destroy(b);
}

static void row_198_cond_bad_input_and_lock_not_held(void **state)
{
    mproc_cond *c = (mproc_cond *)&c;
    (void)state;
    assert_int_equal(mproc_cond_create(NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_cond_wait(NULL, 0), MPROC_EINVAL);
    assert_int_equal(mproc_cond_notify(NULL), MPROC_EINVAL);
    assert_int_equal(mproc_cond_notify_all(NULL), MPROC_EINVAL);
    assert_null(mproc_cond_lock(NULL));
    mproc_cond_destroy(NULL);
    assert_int_equal(mproc_cond_create(&c, NULL), MPROC_OK);
    assert_int_equal(mproc_cond_wait(c, -2), MPROC_EINVAL);
    assert_int_equal(mproc_cond_wait(c, 0), MPROC_ESTATE);
    assert_int_equal(mproc_cond_wait(c, MPROC_FOREVER), MPROC_ESTATE);
    assert_int_equal(mproc_cond_notify(c), MPROC_ESTATE);
    assert_int_equal(mproc_cond_notify_all(c), MPROC_ESTATE);
    mproc_cond_destroy(c);
}

static void row_199_sync_shared_and_child_calls(void **state)
{
    mproc_lock *l = (mproc_lock *)&l;
    mproc_rlock *rl = (mproc_rlock *)&rl;
    mproc_sem *s = (mproc_sem *)&s;
    mproc_event *e = (mproc_event *)&e;
    mproc_barrier *b = (mproc_barrier *)&b;
    mproc_cond *c = (mproc_cond *)&c;
    (void)state;
    assert_null(mproc_lock_shared(NULL));
    assert_null(mproc_rlock_shared(NULL));
    assert_null(mproc_sem_shared(NULL));
    assert_null(mproc_event_shared(NULL));
    assert_null(mproc_barrier_shared(NULL));
    assert_null(mproc_cond_shared(NULL));
    assert_int_equal(mproc_child_lock(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_rlock(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_sem(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_event(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_barrier(0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_child_cond(0, NULL), MPROC_EINVAL);
    /* The main program was handed nothing. */
    assert_int_equal(mproc_child_lock(0, &l), MPROC_EINVAL);
    assert_int_equal(mproc_child_rlock(0, &rl), MPROC_EINVAL);
    assert_int_equal(mproc_child_sem(0, &s), MPROC_EINVAL);
    assert_int_equal(mproc_child_event(0, &e), MPROC_EINVAL);
    assert_int_equal(mproc_child_barrier(0, &b), MPROC_EINVAL);
    assert_int_equal(mproc_child_cond((size_t)-1, &c), MPROC_EINVAL);
    assert_null(l);
    assert_null(rl);
    assert_null(s);
    assert_null(e);
    assert_null(b);
    assert_null(c);
}

static void row_200_waitables_of_null(void **state)
{
    (void)state;
    assert_null(mproc_process_waitable(NULL));
    assert_null(mproc_pipe_waitable(NULL));
    assert_null(mproc_queue_waitable(NULL));
    assert_null(mproc_async_waitable(NULL));
    assert_null(mproc_event_waitable(NULL));
    assert_null(mproc_sem_waitable(NULL));
}

static void row_201_wait_bad_input(void **state)
{
    mproc_event *e = NULL;
    mproc_waitable *w[2];
    unsigned char ready[2] = {9, 9};
    (void)state;
    assert_int_equal(mproc_event_create(&e), MPROC_OK);
    w[0] = mproc_event_waitable(e);
    w[1] = NULL;
    assert_int_equal(mproc_wait(NULL, 1, 0, ready), MPROC_EINVAL);
    assert_int_equal(mproc_wait(w, 1, 0, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_wait(w, 2, 0, ready), MPROC_EINVAL); /* a NULL item */
    assert_int_equal(mproc_wait(w, 1, -2, ready), MPROC_EINVAL);
    assert_int_equal(mproc_wait(NULL, 0, MPROC_FOREVER, NULL), MPROC_EINVAL); /* forever */
    assert_int_equal(mproc_wait(NULL, 0, 0, NULL), 0);
    assert_int_equal(mproc_wait(NULL, 0, 10, NULL), 0);
    assert_int_equal(mproc_wait(w, 1, 0, ready), 0);
    assert_int_equal(ready[0], 0);
    mproc_event_destroy(e);
}

/* ---- the suite ---- */

static int open_pool(void **state)
{
    mproc_pool *p = NULL;
    if (mproc_pool_create(&p, 2) != MPROC_OK) {
        return -1;
    }
    *state = p;
    return 0;
}

/* ---- the MPI start method (issue 14): rows 155-157 ---------------------------------------- */

static void row_155_pool_mpi_without_mproc_mpi_init(void **state)
{
    const char *saved = getenv("MPROC_START_METHOD");
    char keep[32] = "";
    mproc_pool_options o;
    mproc_pool *p = (mproc_pool *)&p;
    (void)state;
    if (saved != NULL) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    memset(&o, 0, sizeof o);
    o.start_method = MPROC_START_MPI;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_ENOTSUP);
    assert_null(p);
    p = (mproc_pool *)&p;
    set_env("MPROC_START_METHOD", "mpi");
    assert_int_equal(mproc_pool_create(&p, 2), MPROC_ENOTSUP);
    assert_null(p);
    set_env("MPROC_START_METHOD", saved != NULL ? keep : NULL);
}

static void row_156_process_create_ex_mpi_method(void **state)
{
    mproc_process_options o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.target = tu_return;
    o.start_method = MPROC_START_MPI;
    process_options_refused(&o, MPROC_EINVAL);
}

static void row_157_start_method_env_mpi_process(void **state)
{
    static const char *const names[] = {"mpi", "MPI"};
    const char *saved = getenv("MPROC_START_METHOD");
    char keep[32] = "";
    size_t i;
    (void)state;
    if (saved != NULL) {
        snprintf(keep, sizeof keep, "%s", saved);
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        mproc_process *p = NULL;
        int code = -1;
        set_env("MPROC_START_METHOD", names[i]);
        assert_int_equal(mproc_process_create(&p, tu_return, NULL, 0), MPROC_OK);
        assert_int_equal(mproc_process_start(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, 60000), MPROC_OK);
        assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
        assert_int_equal(code, 0);
        mproc_process_destroy(p);
    }
    set_env("MPROC_START_METHOD", saved != NULL ? keep : NULL);
}

static int close_pool(void **state)
{
    mproc_pool_destroy((mproc_pool *)*state);
    return 0;
}

/* ---- the pool's second floor (issue 13): backpressure, cancel, statistics ---- */

static void row_158_pool_create_ex_negative_max_pending(void **state)
{
    mproc_pool_options o;
    mproc_pool *p = (mproc_pool *)&o;
    (void)state;
    memset(&o, 0, sizeof o);
    o.workers = 1;
    o.max_pending = -1;
    assert_int_equal(mproc_pool_create_ex(&p, &o), MPROC_EINVAL);
    assert_null(p);
}

static void row_159_pool_apply_async_timed_bad_arguments(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = (mproc_async *)&a;
    int v = 3;
    assert_int_equal(
        mproc_pool_apply_async_timed(NULL, tu_square, &v, sizeof v, NULL, NULL, NULL, &a, 0),
        MPROC_EINVAL);
    assert_null(a);
    a = (mproc_async *)&a;
    assert_int_equal(mproc_pool_apply_async_timed(p, NULL, &v, sizeof v, NULL, NULL, NULL, &a, 0),
                     MPROC_EINVAL);
    assert_null(a);
    a = (mproc_async *)&a;
    assert_int_equal(
        mproc_pool_apply_async_timed(p, tu_square, &v, sizeof v, NULL, NULL, NULL, &a, -2),
        MPROC_EINVAL);
    assert_null(a);
    assert_int_equal(mproc_pool_apply_async_timed(p, tu_square, NULL, 4, NULL, NULL, NULL, &a, 0),
                     MPROC_EINVAL);
}

static void row_160_async_cancel_null(void **state)
{
    (void)state;
    assert_int_equal(mproc_async_cancel(NULL), MPROC_EINVAL);
}

static void row_161_async_cancel_finished_task(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_async *a = NULL;
    int v = 3;
    assert_int_equal(mproc_pool_apply_async(p, tu_square, &v, sizeof v, NULL, NULL, NULL, &a),
                     MPROC_OK);
    assert_int_equal(mproc_async_wait(a, 60000), MPROC_OK);
    assert_int_equal(mproc_async_cancel(a), MPROC_ESTATE);
    assert_int_equal(mproc_async_get(a, 0, NULL, NULL), MPROC_OK);
    mproc_async_release(a);
}

static void row_162_pool_stats_get_null(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_pool_stats s;
    memset(&s, 0xff, sizeof s);
    assert_int_equal(mproc_pool_stats_get(NULL, &s), MPROC_EINVAL);
    assert_true(s.submitted == 0 && s.queued == 0 && s.workers_started == 0);
    assert_int_equal(mproc_pool_stats_get(p, NULL), MPROC_EINVAL);
}

/* A producer that says it has an item, but gives NULL bytes of nonzero length. */
static int bi_bad_item(void *user, size_t index, const void **item, size_t *len)
{
    (void)user;
    (void)index;
    *item = NULL;
    *len = 8;
    return 0;
}

static int bi_producer(void *user, size_t index, const void **item, size_t *len)
{
    (void)user;
    (void)index;
    (void)item;
    (void)len;
    return 1;
}

static void row_163_pool_imap_lazy_bad_arguments(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_iter *it = (mproc_iter *)&it;
    int k;
    for (k = 0; k < 2; k++) {
        int (*start)(mproc_pool *, mproc_task, mproc_producer, void *, size_t, mproc_iter **) =
            k == 0 ? mproc_pool_imap_lazy : mproc_pool_imap_lazy_unordered;
        it = (mproc_iter *)&it;
        assert_int_equal(start(NULL, tu_square, bi_producer, NULL, 4, &it), MPROC_EINVAL);
        assert_null(it);
        it = (mproc_iter *)&it;
        assert_int_equal(start(p, NULL, bi_producer, NULL, 4, &it), MPROC_EINVAL);
        assert_null(it);
        it = (mproc_iter *)&it;
        assert_int_equal(start(p, tu_square, NULL, NULL, 4, &it), MPROC_EINVAL);
        assert_null(it);
        it = (mproc_iter *)&it;
        assert_int_equal(start(p, tu_square, bi_producer, NULL, 0, &it), MPROC_EINVAL);
        assert_null(it);
        assert_int_equal(start(p, tu_square, bi_producer, NULL, 4, NULL), MPROC_EINVAL);
    }
}

static void row_164_pool_imap_lazy_producer_bad_item(void **state)
{
    mproc_pool *p = (mproc_pool *)*state;
    mproc_iter *it = NULL;
    assert_int_equal(mproc_pool_imap_lazy(p, tu_square, bi_bad_item, NULL, 4, &it), MPROC_OK);
    assert_int_equal(mproc_iter_next(it, 60000, NULL, NULL, NULL), MPROC_EINVAL);
    assert_int_equal(mproc_iter_next(it, 60000, NULL, NULL, NULL), MPROC_EEND);
    mproc_iter_destroy(it);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_01_init_negative_argc),
        cmocka_unit_test(row_02_init_null_argv),
        cmocka_unit_test(row_03_init_zero_argc_null_argv),
        cmocka_unit_test(row_04_init_twice),
        cmocka_unit_test(row_05_strerror_unknown_code),
        cmocka_unit_test(row_06_error_name_unknown_code),
        cmocka_unit_test(row_07_every_code_has_a_name_and_sentence),
        cmocka_unit_test(row_08_free_null),
        cmocka_unit_test(row_09_last_os_error_without_esys),
        cmocka_unit_test(row_10_getters_without_input),
        cmocka_unit_test(row_11_process_create_null_out),
        cmocka_unit_test(row_12_process_create_null_target),
        cmocka_unit_test(row_13_process_create_null_arg_nonzero_len),
        cmocka_unit_test(row_14_process_create_null_arg_zero_len),
        cmocka_unit_test(row_15_process_create_huge_arg_len),
        cmocka_unit_test(row_16_process_create_ex_null_opts),
        cmocka_unit_test(row_17_process_create_ex_null_out),
        cmocka_unit_test(row_18_process_create_ex_zero_options),
        cmocka_unit_test(row_19_process_create_ex_bad_start_method),
        cmocka_unit_test(row_20_process_create_ex_huge_arg_len),
        cmocka_unit_test(row_21_process_create_ex_empty_name),
        cmocka_unit_test(row_22_process_create_ex_daemon_any_nonzero),
        cmocka_unit_test(row_23_process_start_null),
        cmocka_unit_test(row_24_process_start_twice),
        cmocka_unit_test(row_25_process_start_after_join),
        cmocka_unit_test(row_26_process_start_fork_where_there_is_none),
        cmocka_unit_test(row_27_process_join_null),
        cmocka_unit_test(row_28_process_join_before_start),
        cmocka_unit_test(row_29_process_join_negative_timeout),
        cmocka_unit_test(row_30_process_join_poll_running),
        cmocka_unit_test(row_31_process_join_huge_timeout),
        cmocka_unit_test(row_32_process_join_twice),
        cmocka_unit_test(row_33_process_is_alive_null_and_not_running),
        cmocka_unit_test(row_34_process_terminate_null),
        cmocka_unit_test(row_35_process_terminate_before_start),
        cmocka_unit_test(row_36_process_terminate_after_join),
        cmocka_unit_test(row_37_process_kill_null),
        cmocka_unit_test(row_38_process_kill_before_start),
        cmocka_unit_test(row_39_process_kill_after_join),
        cmocka_unit_test(row_40_process_kill_ended_not_joined),
        cmocka_unit_test(row_41_process_exitcode_null),
        cmocka_unit_test(row_42_process_exitcode_before_start),
        cmocka_unit_test(row_43_process_exitcode_before_join),
        cmocka_unit_test(row_44_process_exitcode_after_is_alive_said_no),
        cmocka_unit_test(row_45_process_pid_null_and_not_started),
        cmocka_unit_test(row_46_process_name_null),
        cmocka_unit_test(row_47_process_destroy_null),
        cmocka_unit_test(row_48_process_destroy_running),
        cmocka_unit_test(row_49_process_destroy_never_started),
        cmocka_unit_test(row_50_pool_create_null_out),
        cmocka_unit_test(row_51_pool_create_zero_workers),
        cmocka_unit_test(row_52_pool_create_negative_workers),
        cmocka_unit_test(row_53_pool_create_huge_workers),
        cmocka_unit_test(row_54_pool_create_ex_null_opts),
        cmocka_unit_test(row_55_pool_create_ex_null_out),
        cmocka_unit_test(row_56_pool_create_ex_null_initarg_nonzero_len),
        cmocka_unit_test(row_57_pool_create_ex_huge_initarg_len),
        cmocka_unit_test(row_58_pool_create_ex_negative_max_tasks),
        cmocka_unit_test(row_59_pool_create_ex_negative_task_timeout),
        cmocka_unit_test(row_60_pool_create_ex_bad_start_method),
        cmocka_unit_test(row_61_pool_create_ex_fork_where_there_is_none),
        cmocka_unit_test(row_62_pool_create_ex_huge_task_timeout),
        cmocka_unit_test(row_63_pool_apply_null_pool),
        cmocka_unit_test(row_64_pool_apply_null_fn),
        cmocka_unit_test(row_65_pool_apply_null_arg_nonzero_len),
        cmocka_unit_test(row_66_pool_apply_huge_arg_len),
        cmocka_unit_test(row_67_pool_apply_null_result_pointers),
        cmocka_unit_test(row_68_pool_apply_after_close),
        cmocka_unit_test(row_69_pool_apply_after_terminate),
        cmocka_unit_test(row_70_pool_apply_async_null_pool),
        cmocka_unit_test(row_71_pool_apply_async_null_fn),
        cmocka_unit_test(row_72_pool_apply_async_null_arg_nonzero_len),
        cmocka_unit_test(row_73_pool_apply_async_huge_arg_len),
        cmocka_unit_test(row_74_pool_apply_async_after_close),
        cmocka_unit_test(row_75_pool_apply_async_no_callbacks_no_handle),
        cmocka_unit_test(row_76_async_wait_null),
        cmocka_unit_test(row_77_async_wait_negative_timeout),
        cmocka_unit_test(row_78_async_wait_timeout_while_pending),
        cmocka_unit_test(row_79_async_ready_null_and_pending),
        cmocka_unit_test(row_80_async_get_null),
        cmocka_unit_test(row_81_async_get_timeout),
        cmocka_unit_test(row_82_async_get_null_outputs),
        cmocka_unit_test(row_83_async_error_null_pending_and_success),
        cmocka_unit_test(row_84_async_release_null),
        cmocka_unit_test(row_85_async_handle_after_pool_destroyed),
        cmocka_unit_test(row_86_async_pending_when_pool_terminated),
        cmocka_unit_test(row_87_pool_map_null_out),
        cmocka_unit_test(row_88_pool_map_null_pool_or_fn),
        cmocka_unit_test(row_89_pool_map_null_items_nonzero_count),
        cmocka_unit_test(row_90_pool_map_zero_count),
        cmocka_unit_test(row_91_pool_map_zero_item_size),
        cmocka_unit_test(row_92_pool_map_huge_item_size),
        cmocka_unit_test(row_93_pool_map_count_times_size_overflows),
        cmocka_unit_test(row_94_pool_map_huge_chunksize),
        cmocka_unit_test(row_95_pool_map_after_close),
        cmocka_unit_test(row_96_pool_map_after_terminate),
        cmocka_unit_test(row_97_results_null),
        cmocka_unit_test(row_98_results_index_out_of_range),
        cmocka_unit_test(row_99_pool_imap_null_out),
        cmocka_unit_test(row_100_pool_imap_null_pool_fn_or_items),
        cmocka_unit_test(row_101_pool_imap_huge_item_size),
        cmocka_unit_test(row_102_pool_imap_count_times_size_overflows),
        cmocka_unit_test(row_103_pool_imap_huge_chunksize),
        cmocka_unit_test(row_104_pool_imap_after_close),
        cmocka_unit_test(row_105_pool_imap_zero_count),
        cmocka_unit_test(row_106_iter_next_null),
        cmocka_unit_test(row_107_iter_next_negative_timeout),
        cmocka_unit_test(row_108_iter_next_after_end),
        cmocka_unit_test(row_109_iter_next_timeout),
        cmocka_unit_test(row_110_iter_next_after_pool_terminated),
        cmocka_unit_test(row_111_iter_error_and_destroy_null),
        cmocka_unit_test(row_112_iter_outlives_pool),
        cmocka_unit_test(row_113_pool_close_null),
        cmocka_unit_test(row_114_pool_close_twice),
        cmocka_unit_test(row_115_pool_join_null),
        cmocka_unit_test(row_116_pool_join_before_close),
        cmocka_unit_test(row_117_pool_join_twice),
        cmocka_unit_test(row_118_pool_terminate_null),
        cmocka_unit_test(row_119_pool_terminate_twice),
        cmocka_unit_test(row_120_pool_close_and_join_after_terminate),
        cmocka_unit_test(row_121_pool_terminate_after_join),
        cmocka_unit_test(row_122_pool_destroy_null),
        cmocka_unit_test(row_123_pool_workers_null),
        cmocka_unit_test(row_124_output_set_null_output),
        cmocka_unit_test(row_125_output_set_null_result_nonzero_len),
        cmocka_unit_test(row_126_output_set_huge_len),
        cmocka_unit_test(row_127_output_set_null_result_zero_len),
        cmocka_unit_test(row_128_output_fail_null_output_or_format),
        cmocka_unit_test(row_129_output_fail_message_past_4k),
        cmocka_unit_test(row_130_task_nonzero_return_without_message),
        cmocka_unit_test(row_131_task_exits_worker_with_120_or_121),
        /* misuse (issue 16) */
        cmocka_unit_test(row_132_pool_apply_from_callback),
        cmocka_unit_test(row_133_pool_apply_from_error_callback),
        cmocka_unit_test(row_134_pool_map_from_callback),
        cmocka_unit_test(row_135_pool_join_from_callback),
        cmocka_unit_test(row_136_async_wait_from_callback),
        cmocka_unit_test(row_137_iter_next_from_callback),
        cmocka_unit_test(row_138_pool_terminate_from_callback),
        cmocka_unit_test(row_139_pool_destroy_from_callback),
        cmocka_unit_test(row_140_pool_apply_async_from_callback),
        cmocka_unit_test(row_141_pool_used_in_a_fork_copy),
        cmocka_unit_test(row_142_pool_handles_used_in_a_fork_copy),
        cmocka_unit_test(row_143_process_used_in_a_fork_copy),
        cmocka_unit_test(row_144_start_in_a_child_whose_guard_was_bypassed),
        cmocka_unit_test(row_145_start_method_env_not_a_method),
        cmocka_unit_test(row_146_start_method_env_any_case),
        cmocka_unit_test(row_147_pool_create_os_error_reaches_caller),
        cmocka_unit_test(row_148_process_create_arg_exactly_1_gib),
        /* function pointers that are not code (issue 20) */
        cmocka_unit_test(row_149_process_start_target_not_code),
        cmocka_unit_test(row_150_pool_apply_task_not_code),
        cmocka_unit_test(row_151_pool_map_task_not_code),
        cmocka_unit_test(row_152_pool_create_ex_initializer_not_code),
        cmocka_unit_test(row_153_exitcode_status_taken_by_sigchld_ignored),
        cmocka_unit_test(row_154_exitcode_return_value_survives_sigchld_ignored),
        /* the MPI start method (issue 14) */
        cmocka_unit_test(row_155_pool_mpi_without_mproc_mpi_init),
        cmocka_unit_test(row_156_process_create_ex_mpi_method),
        cmocka_unit_test(row_157_start_method_env_mpi_process),
        /* the pool's second floor (issue 13) */
        cmocka_unit_test(row_158_pool_create_ex_negative_max_pending),
        cmocka_unit_test(row_159_pool_apply_async_timed_bad_arguments),
        cmocka_unit_test(row_160_async_cancel_null),
        cmocka_unit_test(row_161_async_cancel_finished_task),
        cmocka_unit_test(row_162_pool_stats_get_null),
        cmocka_unit_test(row_163_pool_imap_lazy_bad_arguments),
        cmocka_unit_test(row_164_pool_imap_lazy_producer_bad_item),
        /* objects processes share (issue 11) */
        cmocka_unit_test(row_165_shm_create_null_out_or_zero_size),
        cmocka_unit_test(row_166_shm_create_size_max),
        cmocka_unit_test(row_167_shm_getters_and_destroy_of_null),
        cmocka_unit_test(row_168_child_calls_in_the_main_program),
        cmocka_unit_test(row_169_process_share_list_bad),
        cmocka_unit_test(row_170_child_asks_for_wrong_index_or_kind),
        cmocka_unit_test(row_171_pipe_create_bad_outs),
        cmocka_unit_test(row_172_pipe_send_bad),
        cmocka_unit_test(row_173_pipe_recv_and_poll_bad),
        cmocka_unit_test(row_174_pipe_shared_and_destroy_of_null),
        cmocka_unit_test(row_175_pipe_other_end_gone),
        cmocka_unit_test(row_176_share_pipe_end_that_read_bytes),
        cmocka_unit_test(row_177_ipc_objects_used_in_a_fork_copy),
        cmocka_unit_test(row_178_pool_share_list_bad),
        /* Queue and JoinableQueue (issue 11) */
        cmocka_unit_test(row_179_queue_create_null_out),
        cmocka_unit_test(row_180_queue_create_huge_maxsize),
        cmocka_unit_test(row_181_queue_calls_null_queue),
        cmocka_unit_test(row_182_queue_put_null_data),
        cmocka_unit_test(row_183_queue_negative_timeouts),
        cmocka_unit_test(row_184_queue_get_null_outputs),
        cmocka_unit_test(row_185_queue_put_huge_len),
        cmocka_unit_test(row_186_queue_closed),
        cmocka_unit_test(row_187_queue_task_done_too_many),
        cmocka_unit_test(row_188_queue_zero_timeouts),
        cmocka_unit_test(row_189_queue_damaged_header),
        cmocka_unit_test(row_190_queue_damaged_record),
        cmocka_unit_test(row_191_child_queue_wrong_index_or_kind),
        cmocka_unit_test(row_192_lock_null_and_bad_timeout),
        cmocka_unit_test(row_193_lock_wrong_holder),
        cmocka_unit_test(row_194_rlock_null_bad_timeout_not_held),
        cmocka_unit_test(row_195_sem_bad_input),
        cmocka_unit_test(row_196_event_bad_input),
        cmocka_unit_test(row_197_barrier_bad_input),
        cmocka_unit_test(row_198_cond_bad_input_and_lock_not_held),
        cmocka_unit_test(row_199_sync_shared_and_child_calls),
        cmocka_unit_test(row_200_waitables_of_null),
        cmocka_unit_test(row_201_wait_bad_input),
    };
    /* Row 144's child: its guard is bypassed on purpose, and it reports what start gave. */
    if (getenv(GUARD_BYPASS_ENV) != NULL) {
        return guard_bypassed_child();
    }
    /* The guard: a spawned child runs here and never returns. */
    if (mproc_init(argc, argv) != MPROC_OK) {
        return 1;
    }
    saved_argc = argc;
    saved_argv = argv;
    tu_no_core_dumps();
    return cmocka_run_group_tests_name("badinput", tests, open_pool, close_pool);
}
