/* Large arguments and results, which cross in the worker's shared memory (src/ring.h): their
 * bytes arrive whole through apply, apply_async, map and imap, a slot or the area that is busy
 * sends the next one through the pipe, and a worker that dies in the middle of a transfer
 * costs its task only and leaves nothing behind (descriptors or handles, mappings). */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"
#include "testhooks.h"

#include <stdlib.h>

#define WORKERS 2
#define KIB 1024u
#define MIB (1024u * 1024u)
#define DIED_EXIT 23

/* Byte i of the pattern of `seed`. */
static unsigned char pat(uint32_t seed, size_t i)
{
    return (unsigned char)((i * 131u + seed * 7u + (i >> 12)) & 0xffu);
}

static void fill(unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        b[i] = pat(seed, i);
}

/* The index of the first byte that is not the pattern, or n. */
static size_t first_wrong(const unsigned char *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != pat(seed, i))
            return i;
    return n;
}

/* A request: make `size` bytes of pattern `seed`; die (how: 1 at once, 2 after setting the
 * result) instead of answering. */
typedef struct req {
    uint32_t size, seed, die;
} req;

static void die_now(void)
{
#ifdef _WIN32
    TerminateProcess(GetCurrentProcess(), DIED_EXIT);
#else
    _exit(DIED_EXIT);
#endif
}

static int make_task(const void *arg, size_t len, mproc_output *out)
{
    req q;
    unsigned char *b;
    int r;

    if (len != sizeof q)
        return 1;
    memcpy(&q, arg, sizeof q);
    if (q.die == 1)
        die_now();
    b = malloc(q.size > 0 ? q.size : 1);
    if (b == NULL)
        return 2;
    fill(b, q.size, q.seed);
    r = mproc_output_set(out, b, q.size);
    free(b);
    if (q.die == 2)
        die_now(); /* the bytes are in the shared area, the answer never sent */
    return r == MPROC_OK ? 0 : 3;
}

/* One make_task on p: size bytes of seed's pattern come back whole. */
static void apply_made(mproc_pool *p, uint32_t size, uint32_t seed)
{
    req q;
    void *res;
    size_t len;
    q.size = size;
    q.seed = seed;
    q.die = 0;
    assert_int_equal(mproc_pool_apply(p, make_task, &q, sizeof q, &res, &len), MPROC_OK);
    assert_int_equal(len, q.size);
    assert_int_equal(first_wrong(res, len, q.seed), len);
    mproc_free(res);
}

/* An argument: a 12-byte head (its seed, whether to die, and the result's size), then the
 * pattern. Answers with the pattern checked, then `result size` bytes of seed + 1. */
typedef struct head {
    uint32_t seed, die, result;
} head;

static int check_task(const void *arg, size_t len, mproc_output *out)
{
    const unsigned char *p = arg;
    head h;
    unsigned char *b;
    int r;

    if (len < sizeof h)
        return 1;
    memcpy(&h, p, sizeof h);
    if (h.die)
        die_now();
    if (first_wrong(p + sizeof h, len - sizeof h, h.seed) != len - sizeof h)
        return 2;
    if (((uintptr_t)arg & 7u) != 0)
        return 3; /* an argument is aligned */
    b = malloc(h.result > 0 ? h.result : 1);
    if (b == NULL)
        return 4;
    fill(b, h.result, h.seed + 1);
    r = mproc_output_set(out, b, h.result);
    free(b);
    return r == MPROC_OK ? 0 : 5;
}

static unsigned char *make_arg(size_t len, uint32_t seed, uint32_t die, uint32_t result)
{
    unsigned char *a = malloc(len);
    head h;

    assert_non_null(a);
    assert_true(len >= sizeof h);
    h.seed = seed;
    h.die = die;
    h.result = result;
    memcpy(a, &h, sizeof h);
    fill(a + sizeof h, len - sizeof h, seed);
    return a;
}

/* Sizes around the shared-memory thresholds (a result from 32 KiB, an argument from 256 KiB)
 * and well past them. */
static const size_t sizes[] = {32 * KIB - 1,  32 * KIB,  32 * KIB + 1,  100 * KIB,
                               256 * KIB - 1, 256 * KIB, 256 * KIB + 1, 3 * MIB};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_apply_arguments_and_results(void **state)
{
    mproc_pool *p;
    size_t i, len;
    void *res;
    int round;

    (void)state;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (round = 0; round < 3; round++) {
        for (i = 0; i < NSIZES; i++) {
            uint32_t seed = (uint32_t)(round * 10 + (int)i);
            unsigned char *a = make_arg(sizes[i], seed, 0, (uint32_t)sizes[NSIZES - 1 - i]);
            assert_int_equal(mproc_pool_apply(p, check_task, a, sizes[i], &res, &len), MPROC_OK);
            assert_int_equal(len, sizes[NSIZES - 1 - i]);
            assert_int_equal(first_wrong(res, len, seed + 1), len);
            mproc_free(res);
            free(a);
        }
    }
    mproc_pool_destroy(p);
}

/* Many in flight: both slots and the area busy at once, so some go through the pipe. */
static void test_apply_async_many(void **state)
{
    enum { N = 12 };
    mproc_pool *p;
    mproc_async *a[N];
    unsigned char *args[N];
    const void *data;
    size_t len, size;
    int i;

    (void)state;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (i = 0; i < N; i++) {
        size = (size_t)(300 + 100 * i) * KIB;
        args[i] = make_arg(size, (uint32_t)i, 0, (uint32_t)(size / 2));
        assert_int_equal(
            mproc_pool_apply_async(p, check_task, args[i], size, NULL, NULL, NULL, &a[i]),
            MPROC_OK);
        /* The argument was copied: the caller may change its bytes at once. */
        memset(args[i] + sizeof(head), 0, size - sizeof(head));
    }
    for (i = 0; i < N; i++) {
        size = (size_t)(300 + 100 * i) * KIB;
        assert_int_equal(mproc_async_get(a[i], 60000, &data, &len), MPROC_OK);
        assert_int_equal(len, size / 2);
        assert_int_equal(first_wrong(data, len, (uint32_t)i + 1), len);
        mproc_async_release(a[i]);
        free(args[i]);
    }
    mproc_pool_destroy(p);
}

/* The copies and results of apply_async go into blocks the pool kept from earlier ones (the
 * pool's spares, src/pool/spare.c): rounds of sizes that go up and down, each handle released
 * before the next round, so every block is used again for another size; no byte of an earlier
 * use shows. apply's results, which the caller keeps, come from the same blocks. */
static void test_blocks_used_again(void **state)
{
    enum { N = 10, ROUNDS = 4 };
    mproc_pool *p;
    mproc_async *a[N];
    const void *data;
    size_t len, size[N];
    int i, round;

    (void)state;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (round = 0; round < ROUNDS; round++) {
        for (i = 0; i < N; i++)
            size[i] = (size_t)(64 + ((i * 7 + round * 3) % N) * 90) * KIB + (size_t)round * 8;
        for (i = 0; i < N; i++) {
            uint32_t seed = (uint32_t)(round * N + i);
            unsigned char *arg;
            arg = make_arg(size[i], seed, 0, (uint32_t)(size[N - 1 - i] / 2 + 1));
            assert_int_equal(
                mproc_pool_apply_async(p, check_task, arg, size[i], NULL, NULL, NULL, &a[i]),
                MPROC_OK);
            free(arg); /* copied */
        }
        for (i = 0; i < N; i++) {
            uint32_t seed = (uint32_t)(round * N + i);
            assert_int_equal(mproc_async_get(a[i], 60000, &data, &len), MPROC_OK);
            assert_int_equal(first_wrong(data, len, seed + 1), len);
            mproc_async_release(a[i]);
        }
        apply_made(p, (uint32_t)(100 * KIB + (size_t)round), (uint32_t)round);
    }
    mproc_pool_destroy(p);
}

static void check_map(mproc_pool *p, size_t item, size_t count, size_t chunksize)
{
    unsigned char *items = malloc(item * count);
    mproc_results *r = NULL;
    mproc_iter *it = NULL;
    const void *data;
    size_t i, len, index;
    int rc;

    assert_non_null(items);
    for (i = 0; i < count; i++) {
        head h;
        h.seed = (uint32_t)i;
        h.die = 0;
        h.result = (uint32_t)(item + i);
        memcpy(items + i * item, &h, sizeof h);
        fill(items + i * item + sizeof h, item - sizeof h, (uint32_t)i);
    }
    assert_int_equal(mproc_pool_map(p, check_task, items, item, count, chunksize, &r), MPROC_OK);
    assert_int_equal(mproc_results_count(r), count);
    for (i = 0; i < count; i++) {
        assert_int_equal(mproc_results_get(r, i, &data, &len), MPROC_OK);
        assert_int_equal(len, item + i);
        assert_int_equal(first_wrong(data, len, (uint32_t)i + 1), len);
    }
    mproc_results_destroy(r);
    assert_int_equal(mproc_pool_imap(p, check_task, items, item, count, chunksize, &it), MPROC_OK);
    for (i = 0;; i++) {
        rc = mproc_iter_next(it, 60000, &index, &data, &len);
        if (rc == MPROC_EEND)
            break;
        assert_int_equal(rc, MPROC_OK);
        assert_int_equal(index, i);
        assert_int_equal(len, item + i);
        assert_int_equal(first_wrong(data, len, (uint32_t)i + 1), len);
    }
    assert_int_equal(i, count);
    mproc_iter_destroy(it);
    free(items);
}

static void test_map_and_imap(void **state)
{
    mproc_pool *p;

    (void)state;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    check_map(p, 512 * KIB, 16, 1); /* one item a task: slots and area */
    check_map(p, 300 * KIB, 10, 3); /* chunks: arguments in the frame, results mixed */
    mproc_pool_destroy(p);
}

/* imap borrows the caller's array until mproc_iter_destroy (mproc.h): once that returns, the
 * caller may change the bytes and free them. Every item says "die" after the poisoning, so a
 * chunk read from the array after the destroy costs a worker, which the statistics show. */
static void destroy_then_poison(mproc_pool *p, size_t item, size_t count)
{
    unsigned char *items = malloc(item * count);
    mproc_iter *it = NULL;
    const void *data;
    size_t i, len, index;

    assert_non_null(items);
    for (i = 0; i < count; i++) {
        head h;
        h.seed = (uint32_t)i;
        h.die = 0;
        h.result = 16;
        memcpy(items + i * item, &h, sizeof h);
        fill(items + i * item + sizeof h, item - sizeof h, (uint32_t)i);
    }
    assert_int_equal(mproc_pool_imap(p, check_task, items, item, count, 1, &it), MPROC_OK);
    for (i = 0; i < 2; i++) {
        assert_int_equal(mproc_iter_next(it, 60000, &index, &data, &len), MPROC_OK);
        assert_int_equal(index, i);
    }
    mproc_iter_destroy(it);
    memset(items, 0xEE, item * count);
    free(items);
}

static void test_imap_array_free_after_destroy(void **state)
{
    mproc_pool *p;
    mproc_pool_stats st;

    (void)state;
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    destroy_then_poison(p, 300 * KIB, 40); /* each argument through a slot */
    destroy_then_poison(p, 4 * KIB, 2000); /* through the pipe */
    check_map(p, 300 * KIB, 6, 1);         /* the pool goes on, with the same workers */
    assert_int_equal(mproc_pool_stats_get(p, &st), MPROC_OK);
    assert_int_equal(st.workers_replaced, 0);
    assert_int_equal(st.lost, 0);
    mproc_pool_destroy(p);
}

/* A result larger than what the area keeps afterwards, twice: its pages given back after the
 * first, faulted in again for the second. */
static void test_result_past_kept_size(void **state)
{
    mproc_pool *p;
    int i;

    (void)state;
    if (tu_under_valgrind())
        skip();
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    for (i = 0; i < 2; i++) {
        apply_made(p, 72 * MIB, (uint32_t)(40 + i));
    }
    mproc_pool_destroy(p);
}

#if defined(__linux__)
/* Mappings of mproc's shared memory in this process (a leaked segment stays mapped). */
static long count_segments(void)
{
    char line[512];
    long n = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, "memfd:mproc") != NULL;
    fclose(f);
    return n;
}
#else
static long count_segments(void)
{
    return 0; /* Windows: a segment is a handle, counted by tu_counts */
}
#endif

/* A worker that dies with its result in the shared area but unannounced (die 2), or with its
 * argument in a slot (die 1): only that task fails, as a lost worker; the pool goes on with a
 * new worker whose transfers work; once the pool is gone, so are all the segments. */
static void die_mid_transfer(int how)
{
    tu_counts base;
    long segments = count_segments();
    mproc_pool *p;
    mproc_async *a;
    const mproc_error *e;
    unsigned char *arg = NULL;
    void *res;
    size_t len;
    req q;
    int round;

    tu_no_core_dumps();
    base = tu_counts_now();
    assert_int_equal(mproc_pool_create(&p, WORKERS), MPROC_OK);
    for (round = 0; round < 3; round++) {
        if (how == 2) {
            q.size = 8 * MIB;
            q.seed = (uint32_t)round;
            q.die = 2;
            assert_int_equal(
                mproc_pool_apply_async(p, make_task, &q, sizeof q, NULL, NULL, NULL, &a), MPROC_OK);
        } else {
            arg = make_arg(6 * MIB, (uint32_t)round, 1, 0);
            assert_int_equal(
                mproc_pool_apply_async(p, check_task, arg, 6 * MIB, NULL, NULL, NULL, &a),
                MPROC_OK);
        }
        assert_int_equal(mproc_async_get(a, 60000, NULL, NULL), MPROC_EWORKER_LOST);
        e = mproc_async_error(a);
        assert_non_null(e);
        assert_int_equal(e->exitcode, DIED_EXIT);
        mproc_async_release(a);
        free(arg);
        arg = NULL;

        /* The next large transfers both ways work, on whichever worker takes them. */
        apply_made(p, 5 * MIB, (uint32_t)(100 + round));
        arg = make_arg(5 * MIB, (uint32_t)(200 + round), 0, 300 * KIB);
        assert_int_equal(mproc_pool_apply(p, check_task, arg, 5 * MIB, &res, &len), MPROC_OK);
        assert_int_equal(len, 300 * KIB);
        assert_int_equal(first_wrong(res, len, (uint32_t)(201 + round)), len);
        mproc_free(res);
        free(arg);
        arg = NULL;
    }
    assert_int_equal(mproc_pool_close(p), MPROC_OK);
    assert_int_equal(mproc_pool_join(p), MPROC_OK);
    mproc_pool_destroy(p);
    tu_assert_counts_back(&base, 10000);
    assert_int_equal(count_segments(), segments);
}

static void test_die_with_result_in_area(void **state)
{
    (void)state;
    die_mid_transfer(2);
}

static void test_die_with_argument_in_slot(void **state)
{
    (void)state;
    die_mid_transfer(1);
}

/* ---- a big result streamed to apply's caller while the worker writes it (src/pool/ring.h) ---- */

/* What stream_task does: sets a result of size/seed, then maybe a second one (size2 > 0), then
 * ends: 0 answers, 1 fails. */
typedef struct twice {
    uint32_t size, seed, size2, seed2, then;
} twice;

static int stream_task(const void *arg, size_t len, mproc_output *out)
{
    twice q;
    unsigned char *b;
    int r;

    if (len != sizeof q)
        return 1;
    memcpy(&q, arg, sizeof q);
    b = malloc(q.size > q.size2 ? q.size : q.size2 > 0 ? q.size2 : 1);
    if (b == NULL)
        return 2;
    fill(b, q.size, q.seed);
    r = mproc_output_set(out, b, q.size);
    if (r == MPROC_OK && q.size2 > 0) {
        fill(b, q.size2, q.seed2);
        r = mproc_output_set(out, b, q.size2);
    }
    free(b);
    return r != MPROC_OK ? 3 : q.then == 1 ? 7 : 0;
}

static int apply_twice(mproc_pool *p, const twice *q, void **res, size_t *len)
{
    return mproc_pool_apply(p, stream_task, q, sizeof *q, res, len);
}

/* On an idle pool apply's caller borrows the worker and copies a result of 8 MiB or more out
 * while the worker streams it in. The bytes that come back are always the task's last result:
 * around the threshold, set twice (the second stream starts over), a big one replaced by a
 * small one, a failure after a big one, and a death after one, which loses the task only. */
static void test_streamed_result(void **state)
{
    static const uint32_t stream_sizes[] = {8 * MIB - 1, 8 * MIB, 8 * MIB + 1, 2 * MIB + 3,
                                            21 * MIB + 5};
    tu_counts base;
    long segments = count_segments(), done0, back0, done1, back1;
    mproc_pool *p;
    twice q;
    req die;
    void *res;
    size_t i, len;
    int round;

    (void)state;
    tu_no_core_dumps();
    base = tu_counts_now();
    assert_int_equal(mproc_pool_create(&p, 1), MPROC_OK);
    apply_made(p, 16, 1); /* the worker is up and parked */
    mproc__pool_direct_stats(p, &done0, &back0);
    for (round = 0; round < 2; round++) {
        for (i = 0; i < sizeof stream_sizes / sizeof stream_sizes[0]; i++)
            apply_made(p, stream_sizes[i], (uint32_t)(round * 100 + (int)i));
        /* Set twice, same size: the second's bytes. */
        memset(&q, 0, sizeof q);
        q.size = q.size2 = 9 * MIB;
        q.seed = 7;
        q.seed2 = 8;
        assert_int_equal(apply_twice(p, &q, &res, &len), MPROC_OK);
        assert_int_equal(len, 9 * MIB);
        assert_int_equal(first_wrong(res, len, 8), len);
        mproc_free(res);
        /* A big one, then a small one. */
        q.size2 = 100;
        q.seed2 = 9;
        assert_int_equal(apply_twice(p, &q, &res, &len), MPROC_OK);
        assert_int_equal(len, 100);
        assert_int_equal(first_wrong(res, len, 9), len);
        mproc_free(res);
        /* A big one, then a failure: no result. */
        q.size2 = 0;
        q.then = 1;
        res = NULL;
        assert_int_equal(apply_twice(p, &q, &res, &len), MPROC_ETASK);
        assert_null(res);
        /* A big one, then death: the task is lost, the next one works. */
        die.size = 9 * MIB;
        die.seed = 3;
        die.die = 2;
        assert_int_equal(mproc_pool_apply(p, make_task, &die, sizeof die, &res, &len),
                         MPROC_EWORKER_LOST);
        assert_null(res);
        apply_made(p, 12 * MIB, (uint32_t)(50 + round));
    }
    mproc__pool_direct_stats(p, &done1, &back1);
    print_message("streamed results: %ld applies run by the caller, %ld handed back\n",
                  done1 - done0, back1 - back0);
    /* The borrower's path, where it exists (Linux and Windows): the worker that dies hands its
     * task back; the others finish with the caller. */
    if (getenv("MPROC_NO_PAYLOAD_AREAS") == NULL && sizeof(void *) >= 8)
        assert_true(done1 - done0 >= 10);
    mproc_pool_destroy(p);
    tu_assert_counts_back(&base, 10000);
    assert_int_equal(count_segments(), segments);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_arguments_and_results),
        cmocka_unit_test(test_apply_async_many),
        cmocka_unit_test(test_blocks_used_again),
        cmocka_unit_test(test_map_and_imap),
        cmocka_unit_test(test_imap_array_free_after_destroy),
        cmocka_unit_test(test_result_past_kept_size),
        cmocka_unit_test(test_die_with_result_in_area),
        cmocka_unit_test(test_die_with_argument_in_slot),
        cmocka_unit_test(test_streamed_result),
    };
    return TU_RUN_SUITE(argc, argv, "payload", tests);
}
