/* The garbage suite: a task writes bytes of its own into its worker's result channel, as a
 * broken or hostile worker would. Whatever a child sends is untrusted: the task that sent it
 * fails with a clear error, the parent and every other task are unharmed, and the pool works
 * after. The channel comes from mproc__worker_channel(), a test hook (src/testhooks.h). */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#include "testhooks.h"

/* src/worker.h: in a worker, the handle its results leave by (a descriptor on POSIX, a HANDLE
 * on Windows, both as intptr_t); (intptr_t)-1 elsewhere. */

#define BEFORE 50
#define AFTER 50
#define WORKERS 2
/* The exit code of a worker that leaves in the middle of a frame (case d). */
#define TRUNCATED_EXIT 3

/* ---- the frames a worker might send (the format is in src/wire.h) ---- */

enum kind {
    K_NONE,         /* a trivial task: sends nothing of its own */
    K_BAD_TYPE,     /* (a) a header with a type no peer sends */
    K_BAD_VERSION,  /* (a) a header of another wire version */
    K_BAD_RESERVED, /* (a) a header whose reserved bytes are not zero */
    K_TEXT,         /* (a) plain text, as a stray printf to the wrong descriptor */
    K_WRONG_TYPE,   /* (a) a well-formed frame of a type the parent never receives (TASK) */
    K_HUGE,         /* (b) a RESULT header announcing 2 GiB */
    K_WRONG_ID,     /* (c) a well-formed RESULT frame for a task id nobody asked for */
    K_TRUNCATED     /* (d) half a RESULT frame, then the worker exits */
};

static size_t put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
    return 4;
}

static size_t put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
    return 8;
}

/* The wire format's version (src/wire.h). */
#define WIRE_VERSION 2

static size_t put_header(unsigned char *p, uint32_t body, int type, int version)
{
    put_u32(p, body);
    p[4] = (unsigned char)type;
    p[5] = (unsigned char)version;
    p[6] = p[7] = 0;
    return 8;
}

/* A RESULT frame answering `id` with one successful item, "forged". */
static size_t put_result(unsigned char *p, uint64_t id)
{
    size_t n = 8;
    n += put_u64(p + n, id);
    n += put_u32(p + n, 0); /* first item */
    n += put_u32(p + n, 1); /* count */
    n += put_u32(p + n, 0); /* code: MPROC_OK */
    n += put_u32(p + n, 0); /* status */
    n += put_u32(p + n, 6); /* blob length */
    memcpy(p + n, "forged", 6);
    n += 6;
    put_header(p, (uint32_t)(n - 8), 4 /* RESULT */, WIRE_VERSION);
    return n;
}

static size_t make_garbage(enum kind k, unsigned char *p)
{
    switch (k) {
    case K_NONE:
        return 0;
    case K_BAD_TYPE:
        return put_header(p, 4, 0x7f, WIRE_VERSION);
    case K_BAD_VERSION:
        return put_header(p, 4, 4, 9);
    case K_BAD_RESERVED: {
        size_t n = put_header(p, 0, 4, WIRE_VERSION);
        p[7] = 1;
        return n;
    }
    case K_TEXT:
        memcpy(p, "hello from a confused worker\n", 29);
        return 29;
    case K_WRONG_TYPE: {
        /* A TASK frame: id, fn id, tag, first, count 0, item size 0. */
        size_t n = 8;
        n += put_u64(p + n, 1);
        n += put_u64(p + n, 1);
        n += put_u32(p + n, 0);
        n += put_u32(p + n, 0);
        n += put_u32(p + n, 0);
        n += put_u64(p + n, 0);
        put_header(p, (uint32_t)(n - 8), 3 /* TASK */, WIRE_VERSION);
        return n;
    }
    case K_HUGE:
        return put_header(p, UINT32_C(0x80000000), 4 /* RESULT */, WIRE_VERSION);
    case K_WRONG_ID:
        /* Task ids count up from 1; this one is never handed out in a test. */
        return put_result(p, UINT64_C(0xdeadbeefcafe));
    case K_TRUNCATED: {
        /* A RESULT header announcing 100 bytes, and only 12 of them. */
        size_t n = put_header(p, 100, 4 /* RESULT */, WIRE_VERSION);
        n += put_u64(p + n, 1);
        n += put_u32(p + n, 1);
        return n;
    }
    }
    return 0;
}

static int write_channel(intptr_t h, const void *data, size_t len)
{
#ifdef _WIN32
    DWORD done = 0;
    return WriteFile((HANDLE)h, data, (DWORD)len, &done, NULL) && done == len ? 0 : -1;
#else
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t n = write((int)h, p, len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
#endif
}

/* ---- the task ---- */

struct job {
    int kind;
    int value;
};

static int task(const void *arg, size_t len, mproc_output *out)
{
    struct job j;
    unsigned char frame[256];
    size_t n;
    intptr_t ch;

    if (len != sizeof j)
        return mproc_output_fail(out, "bad argument size %u", (unsigned)len), 1;
    memcpy(&j, arg, sizeof j);
    if (j.kind != K_NONE) {
        ch = mproc__worker_channel();
        if (ch == (intptr_t)-1)
            return mproc_output_fail(out, "no worker channel"), 1;
        n = make_garbage((enum kind)j.kind, frame);
        if (write_channel(ch, frame, n) != 0)
            return mproc_output_fail(out, "writing the garbage failed"), 1;
        /* The garbage is read while this task still runs: its worker's answers also travel
         * through shared memory, so garbage from a task that has already answered could only be
         * pinned on the task after it (which the pool then runs again elsewhere). */
        tu_sleep_ms(300);
        if (j.kind == K_TRUNCATED) {
            /* Leave in the middle of the frame: no stdio flush, no atexit, as a crash would. */
#ifdef _WIN32
            ExitProcess(TRUNCATED_EXIT);
#else
            _exit(TRUNCATED_EXIT);
#endif
        }
    }
    /* Then answer as usual: the parent must not take this answer for the task's. */
    {
        long long sq = (long long)j.value * j.value;
        return mproc_output_set(out, &sq, sizeof sq);
    }
}

/* ---- callbacks ---- */

struct tally {
    int ok, failed;
    int wrong; /* results that are not the square of the submitted value */
    int seen[BEFORE + AFTER + 1];
};

static struct tally tally;

static void on_result(void *user, const void *result, size_t len)
{
    int index = (int)(intptr_t)user;
    long long v;
    tally.ok++;
    if (index >= 0 && index < BEFORE + AFTER + 1) {
        tally.seen[index]++;
        if (len != sizeof v)
            tally.wrong++;
        else if (memcpy(&v, result, sizeof v), v != (long long)index * index)
            tally.wrong++;
    }
}

static void on_error(void *user, const mproc_error *e)
{
    int index = (int)(intptr_t)user;
    (void)e;
    tally.failed++;
    if (index >= 0 && index < BEFORE + AFTER + 1)
        tally.seen[index]++;
}

static int reset(void **state)
{
    (void)state;
    memset(&tally, 0, sizeof tally);
    return 0;
}

static void submit(mproc_pool *p, int kind, int value, mproc_async **out)
{
    struct job j;
    memset(&j, 0, sizeof j);
    j.kind = kind;
    j.value = value;
    assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, on_result, on_error,
                                            (void *)(intptr_t)value, out),
                     MPROC_OK);
}

/* The pool still works: apply and map on every worker. */
static void check_pool_works(mproc_pool *p)
{
    struct job j;
    void *res = NULL;
    size_t len = 0, i;
    long long v;
    int items[40];
    mproc_results *r;

    memset(&j, 0, sizeof j);
    j.kind = K_NONE;
    j.value = 12;
    assert_int_equal(mproc_pool_apply(p, task, &j, sizeof j, &res, &len), MPROC_OK);
    assert_int_equal(len, sizeof v);
    memcpy(&v, res, sizeof v);
    assert_true(v == 144);
    mproc_free(res);

    for (i = 0; i < 40; i++)
        items[i] = (int)i;
    assert_int_equal(mproc_pool_map(p, tu_square_ll, items, sizeof items[0], 40, 3, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), 40);
    for (i = 0; i < 40; i++) {
        const void *data;
        assert_int_equal(mproc_results_get(r, i, &data, &len), MPROC_OK);
        assert_int_equal(len, sizeof v);
        memcpy(&v, data, sizeof v);
        assert_true(v == (long long)(i * i));
    }
    mproc_results_destroy(r);
}

/* 50 trivial tasks, the garbage task, 50 more, on a pool of 2: only the garbage task fails,
 * with `code`, a message containing `what` and, for a lost worker, `exitcode`. */
static void run_case(enum kind kind, int code, const char *what, int exitcode)
{
    mproc_pool *p;
    mproc_async *a;
    const mproc_error *e;
    const void *data;
    size_t len;
    int i;

    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (i = 0; i < BEFORE; i++)
        submit(p, K_NONE, i, NULL);
    submit(p, kind, BEFORE, &a);
    for (i = BEFORE + 1; i <= BEFORE + AFTER; i++)
        submit(p, K_NONE, i, NULL);

    assert_int_equal(mproc_async_get(a, MPROC_FOREVER, &data, &len), code);
    e = mproc_async_error(a);
    assert_non_null(e);
    assert_int_equal(e->code, code);
    assert_non_null(e->message);
    if (strstr(e->message, what) == NULL)
        fail_msg("message \"%s\" does not say \"%s\"", e->message, what);
    if (code == MPROC_EWORKER_LOST)
        assert_int_equal(e->exitcode, exitcode);
    mproc_async_release(a);

    check_pool_works(p);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);

    /* Every task resolved exactly once; only the garbage task failed, every other answer is
     * its own (none was taken from the forged frame). */
    for (i = 0; i <= BEFORE + AFTER; i++)
        assert_int_equal(tally.seen[i], 1);
    assert_int_equal(tally.failed, 1);
    assert_int_equal(tally.ok, BEFORE + AFTER);
    assert_int_equal(tally.wrong, 0);
}

#define MALFORMED "malformed message"

static void test_bad_type(void **state)
{
    (void)state;
    run_case(K_BAD_TYPE, MPROC_EPROTO, MALFORMED, 0);
}

static void test_bad_version(void **state)
{
    (void)state;
    run_case(K_BAD_VERSION, MPROC_EPROTO, MALFORMED, 0);
}

static void test_bad_reserved(void **state)
{
    (void)state;
    run_case(K_BAD_RESERVED, MPROC_EPROTO, MALFORMED, 0);
}

static void test_text(void **state)
{
    (void)state;
    run_case(K_TEXT, MPROC_EPROTO, MALFORMED, 0);
}

static void test_wrong_frame_type(void **state)
{
    (void)state;
    run_case(K_WRONG_TYPE, MPROC_EPROTO, MALFORMED, 0);
}

static void test_huge_header(void **state)
{
    (void)state;
    run_case(K_HUGE, MPROC_EPROTO, MALFORMED, 0);
}

static void test_result_for_wrong_id(void **state)
{
    (void)state;
    run_case(K_WRONG_ID, MPROC_EPROTO, MALFORMED, 0);
}

static void test_truncated_then_exit(void **state)
{
    char exit_text[32];
    (void)state;
    snprintf(exit_text, sizeof exit_text, "exit code %d", TRUNCATED_EXIT);
    run_case(K_TRUNCATED, MPROC_EWORKER_LOST, exit_text, TRUNCATED_EXIT);
}

/* In a map, garbage fails the chunk that sent it (its worker is killed), nothing else. */
static void test_garbage_in_map(void **state)
{
    mproc_pool *p;
    mproc_results *r;
    struct job items[30];
    size_t i;
    (void)state;

    memset(items, 0, sizeof items);
    for (i = 0; i < 30; i++) {
        items[i].kind = K_NONE;
        items[i].value = (int)i;
    }
    items[17].kind = K_WRONG_ID;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    assert_int_equal(mproc_pool_map(p, task, items, sizeof items[0], 30, 1, &r), MPROC_OK);
    for (i = 0; i < 30; i++) {
        const void *data;
        size_t len;
        int code = mproc_results_get(r, i, &data, &len);
        if (i == 17) {
            const mproc_error *e = mproc_results_error(r, i);
            assert_int_equal(code, MPROC_EPROTO);
            assert_non_null(e);
            assert_int_equal(e->code, MPROC_EPROTO);
            assert_non_null(strstr(e->message, MALFORMED));
        } else {
            long long v;
            assert_int_equal(code, MPROC_OK);
            assert_int_equal(len, sizeof v);
            memcpy(&v, data, sizeof v);
            assert_true(v == (long long)(i * i));
        }
    }
    mproc_results_destroy(r);
    check_pool_works(p);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
}

/* Garbage from every worker at once, several times over: the pool replaces them all. */
static void test_garbage_storm(void **state)
{
    mproc_pool *p;
    mproc_async *a[8];
    int i;
    (void)state;

    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (i = 0; i < BEFORE; i++)
        submit(p, K_NONE, i, NULL);
    for (i = 0; i < 8; i++) {
        struct job j;
        memset(&j, 0, sizeof j);
        j.kind = i % 2 ? K_HUGE : K_BAD_TYPE;
        j.value = -1;
        assert_int_equal(mproc_pool_apply_async(p, task, &j, sizeof j, NULL, NULL, NULL, &a[i]),
                         MPROC_OK);
    }
    for (i = BEFORE; i < BEFORE + AFTER; i++)
        submit(p, K_NONE, i, NULL);
    for (i = 0; i < 8; i++) {
        assert_int_equal(mproc_async_get(a[i], MPROC_FOREVER, NULL, NULL), MPROC_EPROTO);
        mproc_async_release(a[i]);
    }
    check_pool_works(p);
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
    for (i = 0; i < BEFORE + AFTER; i++)
        assert_int_equal(tally.seen[i], 1);
    assert_int_equal(tally.ok, BEFORE + AFTER);
    assert_int_equal(tally.wrong, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_bad_type, reset),
        cmocka_unit_test_setup(test_bad_version, reset),
        cmocka_unit_test_setup(test_bad_reserved, reset),
        cmocka_unit_test_setup(test_text, reset),
        cmocka_unit_test_setup(test_wrong_frame_type, reset),
        cmocka_unit_test_setup(test_huge_header, reset),
        cmocka_unit_test_setup(test_result_for_wrong_id, reset),
        cmocka_unit_test_setup(test_truncated_then_exit, reset),
        cmocka_unit_test_setup(test_garbage_in_map, reset),
        cmocka_unit_test_setup(test_garbage_storm, reset),
    };
    return TU_RUN_SUITE(argc, argv, "garbage", tests);
}
