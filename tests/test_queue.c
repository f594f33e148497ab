/* Queue and JoinableQueue across processes: round trips of every size, 4 producers x 4
 * consumers, bounds and timeouts, close, exact size, producers and consumers killed at any
 * moment (the kill loop prints its figures), a child that exits right after put, and the
 * process's descriptors or handles back at their baseline afterwards.
 *
 * Children reach the queues the parent made through the library's handing (the queues are
 * listed in the process options and taken back with mproc_child_queue), so every test runs the
 * same under fork, spawn and Windows. Under Wine, where a process start costs ~60 ms and every
 * lock is a round trip to wineserver, the counts are scaled down (said where). */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#define MSG 64u /* the size of the load tests' messages */
#define WAIT_MS 60000L

static int scaled(int linux_n, int wine_n)
{
    return tu_on_wine() ? wine_n : linux_n;
}

/* ---- handing the queues to a child ---------------------------------------------------------- */

/* The queue the parent listed at index i. */
static mproc_queue *child_q(int i)
{
    mproc_queue *q = NULL;
    if (mproc_child_queue((size_t)i, &q) != MPROC_OK)
        return NULL;
    return q;
}

/* Starts t with a (and b when not NULL) handed down, by this run's start method. */
static mproc_process *start_child(mproc_target t, const void *arg, size_t len, mproc_queue *a,
                                  mproc_queue *b)
{
    mproc_process_options o;
    mproc_process *p = NULL;
    mproc_shared *list[2];
    memset(&o, 0, sizeof o);
    o.target = t;
    o.arg = arg;
    o.arg_len = len;
    list[0] = mproc_queue_shared(a);
    list[1] = mproc_queue_shared(b);
    o.share = list;
    o.share_count = b != NULL ? 2 : 1;
    assert_int_equal(mproc_process_create_ex(&p, &o), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    return p;
}

static int join_code(mproc_process *p)
{
    int code = -1000;
    assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_process_exitcode(p, &code), MPROC_OK);
    mproc_process_destroy(p);
    return code;
}

/* ---- messages that show when they are torn ------------------------------------------------ */

static unsigned char pat(uint32_t who, uint32_t seq, size_t i)
{
    return (unsigned char)(who * 31u + seq * 7u + (uint32_t)i * 13u + (uint32_t)(i >> 8));
}

static void fill(unsigned char *m, size_t len, uint32_t who, uint32_t seq)
{
    size_t i;
    memcpy(m, &who, 4);
    memcpy(m + 4, &seq, 4);
    for (i = 8; i < len; i++)
        m[i] = pat(who, seq, i);
}

/* 1 when m (len >= 8) is whole: its pattern matches the producer and number it carries. */
static int whole(const unsigned char *m, size_t len, uint32_t *who, uint32_t *seq)
{
    size_t i;
    if (len < 8)
        return 0;
    memcpy(who, m, 4);
    memcpy(seq, m + 4, 4);
    for (i = 8; i < len; i++)
        if (m[i] != pat(*who, *seq, i))
            return 0;
    return 1;
}

static int put_msg(mproc_queue *q, uint32_t who, uint32_t seq, size_t len)
{
    unsigned char buf[MSG];
    fill(buf, len, who, seq);
    return mproc_queue_put(q, buf, len, WAIT_MS);
}

/* ---- round trips ---------------------------------------------------------------------------- */

/* Gets from queue 0 and puts each message back into queue 1 until queue 0 is closed. */
static int t_echo(const void *arg, size_t len)
{
    mproc_queue *in = child_q(0), *out = child_q(1);
    (void)arg;
    (void)len;
    for (;;) {
        void *d;
        size_t n;
        int r = mproc_queue_get(in, WAIT_MS, &d, &n);
        if (r == MPROC_EEND)
            return 0;
        if (r != MPROC_OK)
            return 10 - r;
        r = mproc_queue_put(out, d, n, WAIT_MS);
        mproc_free(d);
        if (r != MPROC_OK)
            return 40 - r;
    }
}

static void round_trip(mproc_queue *to, mproc_queue *from, size_t len)
{
    unsigned char *m = (unsigned char *)malloc(len + 8);
    void *d = NULL;
    size_t n = 0, i;
    double t0 = tu_now_s();
    assert_non_null(m);
    for (i = 0; i < len; i++)
        m[i] = (unsigned char)(i * 131u + (i >> 12));
    assert_int_equal(mproc_queue_put(to, m, len, WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_queue_get(from, WAIT_MS, &d, &n), MPROC_OK);
    assert_int_equal(n, len);
    if (len != 0)
        assert_memory_equal(d, m, len);
    if (len >= ((size_t)1 << 20))
        print_message("round trip %lu B: %.3f s\n", (unsigned long)len, tu_now_s() - t0);
    mproc_free(d);
    free(m);
}

static void test_round_trips(void **state)
{
    static const size_t sizes[] = {0, 1, 4096, (size_t)1 << 20, (size_t)256 << 20};
    mproc_queue *a, *b;
    mproc_process *p;
    size_t i;
    (void)state;
    assert_int_equal(mproc_queue_create(&a, 0), MPROC_OK);
    assert_int_equal(mproc_queue_create(&b, 0), MPROC_OK);
    p = start_child(t_echo, NULL, 0, a, b);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        round_trip(a, b, sizes[i]);
    assert_int_equal(mproc_queue_close(a), MPROC_OK);
    assert_int_equal(join_code(p), 0);
    mproc_queue_destroy(a);
    mproc_queue_destroy(b);
}

/* Small messages in one process: put returns with the message in the queue. */
static void test_local_fifo(void **state)
{
    mproc_queue *q;
    unsigned char buf[300];
    uint32_t i, who, seq, next = 0;
    size_t n;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    for (i = 0; i < 3000; i++) {
        fill(buf, 8 + i % 290, 1, i);
        assert_int_equal(mproc_queue_put(q, buf, 8 + i % 290, 0), MPROC_OK);
        if (i % 3 == 2) {
            int k;
            for (k = 0; k < 2; k++) {
                void *d;
                assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
                assert_true(whole((unsigned char *)d, n, &who, &seq));
                assert_int_equal(seq, next);
                assert_int_equal(n, 8 + next % 290);
                next++;
                mproc_free(d);
            }
        }
    }
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 1000);
    mproc_queue_destroy(q);
}

/* ---- 4 producers x 4 consumers ------------------------------------------------------------ */

#define NP 4
#define NC 4

typedef struct tally {
    uint64_t count[NP], sum[NP], sumsq[NP];
    uint32_t bad; /* torn messages or order broken */
} tally;

typedef struct pargs {
    uint32_t who, n;
} pargs;

static int t_producer(const void *arg, size_t len)
{
    pargs a;
    uint32_t i;
    mproc_queue *q = child_q(0);
    if (len != sizeof a)
        return 2;
    memcpy(&a, arg, sizeof a);
    for (i = 0; i < a.n; i++)
        if (put_msg(q, a.who, i, MSG) != MPROC_OK)
            return 3;
    return 0;
}

/* Takes messages until the queue is closed; checks each is whole and each producer's come in
 * order; puts its tally into queue 1. */
static int t_consumer(const void *arg, size_t len)
{
    mproc_queue *q = child_q(0), *res = child_q(1);
    tally t;
    int64_t last[NP];
    int i;
    (void)arg;
    (void)len;
    memset(&t, 0, sizeof t);
    for (i = 0; i < NP; i++)
        last[i] = -1;
    for (;;) {
        void *d;
        size_t n;
        uint32_t who, seq;
        int r = mproc_queue_get(q, WAIT_MS, &d, &n);
        if (r == MPROC_EEND)
            break;
        if (r != MPROC_OK)
            return 10 - r;
        if (n != MSG || !whole((unsigned char *)d, n, &who, &seq) || who >= NP ||
            (int64_t)seq <= last[who])
            t.bad++;
        else {
            last[who] = seq;
            t.count[who]++;
            t.sum[who] += seq;
            t.sumsq[who] += (uint64_t)seq * seq;
        }
        mproc_free(d);
    }
    return mproc_queue_put(res, &t, sizeof t, WAIT_MS) == MPROC_OK ? 0 : 4;
}

static void test_many_to_many(void **state)
{
    mproc_queue *q, *res;
    mproc_process *prod[NP], *cons[NC];
    uint32_t per = (uint32_t)scaled(100000, 10000), i;
    uint64_t count[NP] = {0}, sum[NP] = {0}, sumsq[NP] = {0}, want_sum = 0, want_sq = 0;
    double t0 = tu_now_s();
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_create(&res, 0), MPROC_OK);
    for (i = 0; i < NC; i++)
        cons[i] = start_child(t_consumer, NULL, 0, q, res);
    for (i = 0; i < NP; i++) {
        pargs a;
        a.who = i;
        a.n = per;
        prod[i] = start_child(t_producer, &a, sizeof a, q, res);
    }
    for (i = 0; i < NP; i++)
        assert_int_equal(join_code(prod[i]), 0);
    /* The sentinel: close, so each consumer drains what is left and ends. */
    assert_int_equal(mproc_queue_close(q), MPROC_OK);
    for (i = 0; i < NC; i++) {
        void *d;
        size_t n;
        tally t;
        int k;
        assert_int_equal(mproc_queue_get(res, WAIT_MS, &d, &n), MPROC_OK);
        assert_int_equal(n, sizeof t);
        memcpy(&t, d, sizeof t);
        mproc_free(d);
        assert_int_equal(t.bad, 0);
        for (k = 0; k < NP; k++) {
            count[k] += t.count[k];
            sum[k] += t.sum[k];
            sumsq[k] += t.sumsq[k];
        }
    }
    for (i = 0; i < NC; i++)
        assert_int_equal(join_code(cons[i]), 0);
    for (i = 0; i < per; i++) {
        want_sum += i;
        want_sq += (uint64_t)i * i;
    }
    for (i = 0; i < NP; i++) {
        assert_int_equal(count[i], per);
        assert_int_equal(sum[i], want_sum);
        assert_int_equal(sumsq[i], want_sq);
    }
    print_message("%d producers x %d consumers x %u messages: %.2f s\n", NP, NC, per,
                  tu_now_s() - t0);
    mproc_queue_destroy(q);
    mproc_queue_destroy(res);
}

/* ---- bounds, timeouts, close ---------------------------------------------------------------- */

static void test_bounded_timeouts(void **state)
{
    mproc_queue *q;
    void *d;
    size_t n;
    double t0;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 2), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "a", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "b", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_put(q, "c", 1, 0), MPROC_ETIMEDOUT);
    t0 = tu_now_s();
    assert_int_equal(mproc_queue_put(q, "c", 1, 200), MPROC_ETIMEDOUT);
    assert_true(tu_now_s() - t0 >= 0.15);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(d, "a", 1);
    mproc_free(d);
    assert_int_equal(mproc_queue_put(q, "c", 1, 0), MPROC_OK);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    assert_memory_equal(d, "b", 1);
    assert_int_equal(mproc_queue_task_done(q), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_OK);
    mproc_free(d);
    assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
    assert_memory_equal(d, "c", 1);
    mproc_free(d);
    t0 = tu_now_s();
    assert_int_equal(mproc_queue_get(q, 200, &d, &n), MPROC_ETIMEDOUT);
    assert_true(tu_now_s() - t0 >= 0.15);
    assert_null(d);
    /* A big message nobody takes: the put gives up whole, leaving nothing behind. */
    {
        size_t big = (size_t)2 << 20;
        unsigned char *m = (unsigned char *)calloc(1, big);
        assert_non_null(m);
        assert_int_equal(mproc_queue_put(q, m, big, 300), MPROC_ETIMEDOUT);
        free(m);
        assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
        assert_int_equal(n, 0);
        assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_ETIMEDOUT);
        assert_int_equal(mproc_queue_join(q, 0), MPROC_OK);
    }
    mproc_queue_destroy(q);
}

/* Blocks in get until the parent closes the queue: exits 0 on MPROC_EEND. */
static int t_wait_end(const void *arg, size_t len)
{
    void *d;
    size_t n;
    (void)arg;
    (void)len;
    return mproc_queue_get(child_q(0), WAIT_MS, &d, &n) == MPROC_EEND ? 0 : 1;
}

/* Blocks in put on a full queue until the parent closes it: exits 0 on MPROC_ESTATE. */
static int t_wait_full(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return mproc_queue_put(child_q(0), "x", 1, WAIT_MS) == MPROC_ESTATE ? 0 : 1;
}

static void test_close_end(void **state)
{
    mproc_queue *q, *full;
    mproc_process *getter, *putter;
    void *d;
    size_t n;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_create(&full, 1), MPROC_OK);
    assert_int_equal(mproc_queue_put(full, "f", 1, 0), MPROC_OK);
    getter = start_child(t_wait_end, NULL, 0, q, NULL);
    putter = start_child(t_wait_full, NULL, 0, full, NULL);
    tu_sleep_ms(300); /* both asleep in the queue by now (the test holds either way) */
    assert_int_equal(mproc_queue_close(q), MPROC_OK);
    assert_int_equal(mproc_queue_close(full), MPROC_OK);
    assert_int_equal(join_code(getter), 0);
    assert_int_equal(join_code(putter), 0);
    /* Getters drain what is there, then the end. */
    assert_int_equal(mproc_queue_get(full, 0, &d, &n), MPROC_OK);
    mproc_free(d);
    assert_int_equal(mproc_queue_get(full, WAIT_MS, &d, &n), MPROC_EEND);
    assert_int_equal(mproc_queue_put(q, "x", 1, 0), MPROC_ESTATE);
    assert_int_equal(mproc_queue_close(q), MPROC_OK);
    mproc_queue_destroy(q);
    mproc_queue_destroy(full);
}

/* ---- size under load, JoinableQueue ------------------------------------------------------- */

typedef struct sargs {
    uint32_t puts, gets;
} sargs;

/* Puts puts messages and takes gets of them (a task_done each), interleaved. */
static int t_churn(const void *arg, size_t len)
{
    sargs a;
    uint32_t i, g = 0;
    mproc_queue *q = child_q(0);
    if (len != sizeof a)
        return 2;
    memcpy(&a, arg, sizeof a);
    for (i = 0; i < a.puts; i++) {
        int r = put_msg(q, 7, i, 16);
        if (r != MPROC_OK) {
            fprintf(stderr, "put %u: %s\n", i, mproc_error_name(r));
            return 3;
        }
        if (g < a.gets && i % 2 == 1) {
            void *d;
            size_t n;
            if (mproc_queue_get(q, WAIT_MS, &d, &n) != MPROC_OK)
                return 4;
            mproc_free(d);
            if (mproc_queue_task_done(q) != MPROC_OK)
                return 5;
            g++;
        }
    }
    return g == a.gets ? 0 : 6;
}

static void test_size_exact(void **state)
{
    mproc_queue *q;
    mproc_process *p[4];
    sargs a;
    size_t n, max = 0;
    int i, joined = 0;
    (void)state;
    a.puts = (uint32_t)scaled(20000, 2000);
    a.gets = a.puts / 4;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    for (i = 0; i < 4; i++)
        p[i] = start_child(t_churn, &a, sizeof a, q, NULL);
    /* While they run, the size is never past what could be there. */
    for (i = 0; i < 200; i++) {
        assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
        assert_true(n <= (size_t)4 * a.puts);
        if (n > max)
            max = n;
        tu_sleep_ms(1);
    }
    for (i = 0; i < 4; i++) {
        int c = join_code(p[i]);
        if (c != 0)
            print_message("churn child %d: %d\n", i, c);
        joined += c == 0;
    }
    assert_int_equal(joined, 4);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, (size_t)4 * (a.puts - a.gets));
    assert_int_equal(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
    while (n-- > 0) {
        void *d;
        size_t len;
        assert_int_equal(mproc_queue_get(q, 0, &d, &len), MPROC_OK);
        mproc_free(d);
        assert_int_equal(mproc_queue_task_done(q), MPROC_OK);
    }
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mproc_queue_join(q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_ESTATE);
    print_message("size under load: up to %lu seen\n", (unsigned long)max);
    mproc_queue_destroy(q);
}

/* Takes n messages, marking each done after a moment, then exits. */
static int t_worker_done(const void *arg, size_t len)
{
    int i, n = tu_read_int(arg, len);
    for (i = 0; i < n; i++) {
        void *d;
        size_t l;
        if (mproc_queue_get(child_q(0), WAIT_MS, &d, &l) != MPROC_OK)
            return 1;
        mproc_free(d);
        tu_sleep_ms(2);
        if (mproc_queue_task_done(child_q(0)) != MPROC_OK)
            return 2;
    }
    return 0;
}

static void test_joinable(void **state)
{
    mproc_queue *q;
    mproc_process *p;
    int i, n = 50;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_join(q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_task_done(q), MPROC_ESTATE);
    for (i = 0; i < n; i++)
        assert_int_equal(put_msg(q, 1, (uint32_t)i, 32), MPROC_OK);
    assert_int_equal(mproc_queue_join(q, 50), MPROC_ETIMEDOUT);
    p = start_child(t_worker_done, &n, sizeof n, q, NULL);
    assert_int_equal(mproc_queue_join(q, WAIT_MS), MPROC_OK);
    assert_int_equal(join_code(p), 0);
    assert_int_equal(mproc_queue_task_done(q), MPROC_ESTATE);
    mproc_queue_destroy(q);
}

/* ---- a child that puts and exits at once ---------------------------------------------------- */

static int t_put_exit(const void *arg, size_t len)
{
    int i, n = tu_read_int(arg, len);
    for (i = 0; i < n; i++)
        if (put_msg(child_q(0), 3, (uint32_t)i, 40) != MPROC_OK)
            return 1;
    return 0; /* and gone: nothing is left to flush */
}

static void test_put_then_exit(void **state)
{
    mproc_queue *q;
    int i, round, n = 2000;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    for (round = 0; round < scaled(10, 3); round++) {
        assert_int_equal(join_code(start_child(t_put_exit, &n, sizeof n, q, NULL)), 0);
        for (i = 0; i < n; i++) {
            void *d;
            size_t len;
            uint32_t who, seq;
            assert_int_equal(mproc_queue_get(q, 0, &d, &len), MPROC_OK);
            assert_true(whole((unsigned char *)d, len, &who, &seq));
            assert_int_equal(seq, (uint32_t)i);
            mproc_free(d);
        }
        assert_int_equal(mproc_queue_get(q, 0, &(void *){NULL}, &(size_t){0}), MPROC_ETIMEDOUT);
    }
    mproc_queue_destroy(q);
}

/* ---- mproc_wait on queues ---------------------------------------------------------------------
 */

/* Waits for queue 1 to hold a go message, then puts one message on queue 0. */
static int t_put_on_go(const void *arg, size_t len)
{
    void *d = NULL;
    size_t n;
    (void)arg;
    (void)len;
    if (mproc_queue_get(child_q(1), WAIT_MS, &d, &n) != MPROC_OK)
        return 1;
    mproc_free(d);
    return put_msg(child_q(0), 4, 0, 40) == MPROC_OK ? 0 : 2;
}

/* A queue in mproc_wait: not ready while empty (a poll, and a timed wait that ends), ready once
 * another process put a message (and that message is still there to get), and ready once
 * closed; beside a process, each is reported for itself. */
static void test_queue_waitable(void **state)
{
    mproc_queue *data, *go;
    mproc_process *p;
    mproc_waitable *w[2];
    unsigned char ready[2] = {9, 9};
    void *d;
    size_t len;
    uint32_t who, seq;
    (void)state;
    assert_int_equal(mproc_queue_create(&data, 0), MPROC_OK);
    assert_int_equal(mproc_queue_create(&go, 0), MPROC_OK);
    w[0] = mproc_queue_waitable(data);
    assert_non_null(w[0]);
    assert_ptr_equal(mproc_queue_waitable(data), w[0]);
    assert_int_equal(mproc_wait(w, 1, 0, ready), 0);
    assert_int_equal(ready[0], 0);
    assert_int_equal(mproc_wait(w, 1, 50, ready), 0);

    p = start_child(t_put_on_go, NULL, 0, data, go);
    w[1] = mproc_process_waitable(p);
    assert_int_equal(mproc_wait(w, 2, 0, ready), 0); /* the child waits for its go */
    assert_int_equal(mproc_queue_put(go, "go", 2, 0), MPROC_OK);
    assert_true(mproc_wait(w, 1, WAIT_MS, ready) == 1);
    assert_int_equal(ready[0], 1);
    assert_int_equal(mproc_wait(w, 1, 0, ready), 1); /* ready took nothing */
    assert_int_equal(mproc_queue_get(data, 0, &d, &len), MPROC_OK);
    assert_true(whole((unsigned char *)d, len, &who, &seq));
    assert_int_equal(who, 4);
    mproc_free(d);
    assert_int_equal(join_code(p), 0);

    assert_int_equal(mproc_wait(w, 1, 0, ready), 0); /* empty again */
    assert_int_equal(mproc_queue_close(data), MPROC_OK);
    assert_int_equal(mproc_wait(w, 1, WAIT_MS, ready), 1); /* closed: get ends at once */
    assert_int_equal(ready[0], 1);
    assert_int_equal(mproc_queue_get(data, 0, &d, &len), MPROC_EEND);
    mproc_queue_destroy(data);
    mproc_queue_destroy(go);
}

/* ---- producers killed in a loop ---------------------------------------------------------------
 */

#define STEADY 3
#define KILLED_BASE 100u
/* Every column, Wine included: 500 kills take about 50 s more there than 100 did (a process
 * start costs ~60 ms under Wine), well inside the suite's limit. */
#define MAX_KILLS 500

/* Puts numbered messages of 9 B to 60 KB until killed (or told to stop by queue 1 holding a
 * message); a steady one (who < STEADY) then puts a last message of 8 bytes: its count. */
static int t_flood(const void *arg, size_t len)
{
    mproc_queue *q = child_q(0), *stop = child_q(1);
    uint32_t who = (uint32_t)tu_read_int(arg, len), seq;
    static unsigned char buf[70000];
    for (seq = 0; seq < 50000000u; seq++) {
        size_t n = 9 + (seq * 2654435761u >> 7) % (seq % 16 == 0 ? 60000u : 200u);
        if (who < STEADY && seq % 64 == 0) {
            size_t k = 0;
            if (mproc_queue_size(stop, &k) != MPROC_OK)
                return 2;
            if (k != 0)
                break;
        }
        fill(buf, n, who, seq);
        if (mproc_queue_put(q, buf, n, WAIT_MS) != MPROC_OK)
            return 3;
    }
    /* The end mark: 8 bytes, who and the count. */
    memcpy(buf, &who, 4);
    memcpy(buf + 4, &seq, 4);
    return mproc_queue_put(q, buf, 8, WAIT_MS) == MPROC_OK ? 0 : 4;
}

typedef struct drain {
    mproc_queue *q;
    volatile long stop;
    int64_t next[KILLED_BASE + MAX_KILLS]; /* next number expected from each producer */
    long torn, dup, gaps, msgs, ended;
    volatile long failed; /* the drain stopped on an error */
} drain;

static void drain_main(void *arg)
{
    drain *dr = (drain *)arg;
    for (;;) {
        void *d;
        size_t n;
        uint32_t who, seq;
        int r = mproc_queue_get(dr->q, 50, &d, &n);
        if (r == MPROC_ETIMEDOUT) {
            if (tu_atomic_load(&dr->stop))
                return;
            continue;
        }
        if (r != MPROC_OK) {
            fprintf(stderr, "kill loop: get gave %s\n", mproc_error_name(r));
            dr->torn++;
            tu_atomic_store(&dr->failed, 1);
            return;
        }
        if (n == 8) {
            memcpy(&who, d, 4);
            memcpy(&seq, (unsigned char *)d + 4, 4);
            if (who >= STEADY || (int64_t)seq != dr->next[who])
                dr->gaps++;
            /* Read by the main thread while this one drains. */
            tu_atomic_add((volatile long *)&dr->ended, 1);
        } else if (!whole((unsigned char *)d, n, &who, &seq) || who >= KILLED_BASE + MAX_KILLS) {
            dr->torn++;
        } else if ((int64_t)seq < dr->next[who]) {
            dr->dup++;
        } else {
            if ((int64_t)seq > dr->next[who]) {
                dr->gaps++;
                if (dr->gaps < 10)
                    fprintf(stderr, "gap who %u seq %u want %ld len %lu\n", who, seq,
                            (long)dr->next[who], (unsigned long)n);
            }
            dr->next[who] = (int64_t)seq + 1;
            dr->msgs++;
        }
        mproc_free(d);
    }
}

static void test_producer_kill_loop(void **state)
{
    static drain dr;
    mproc_queue *q, *stop;
    mproc_process *steady[STEADY];
    tu_thread th;
    uint32_t rnd = 12345u;
    int kills = MAX_KILLS, i, k, with_msgs = 0;
    if (getenv("QKILLS"))
        kills = atoi(getenv("QKILLS"));
    (void)state;
    memset(&dr, 0, sizeof dr);
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    assert_int_equal(mproc_queue_create(&stop, 0), MPROC_OK);
    dr.q = q;
    tu_thread_start(&th, drain_main, &dr);
    for (i = 0; i < STEADY; i++)
        steady[i] = start_child(t_flood, &i, sizeof i, q, stop);
    for (k = 0; k < kills; k++) {
        int who = (int)KILLED_BASE + k;
        mproc_process *p = start_child(t_flood, &who, sizeof who, q, stop);
        tu_sleep_ms((long)(tu_rand(&rnd) % (tu_is_fork() ? 4u : 40u)));
        assert_int_equal(mproc_process_kill(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
        mproc_process_destroy(p);
    }
    assert_int_equal(mproc_queue_put(stop, "s", 1, 0), MPROC_OK);
    for (i = 0; i < STEADY; i++)
        assert_int_equal(join_code(steady[i]), 0);
    /* Whatever is still queued comes out; then the drain ends. */
    while (tu_atomic_load((volatile long *)&dr.ended) < STEADY && !tu_atomic_load(&dr.failed))
        tu_sleep_ms(10);
    tu_atomic_store(&dr.stop, 1);
    tu_thread_join(&th);
    for (k = 0; k < kills; k++)
        with_msgs += dr.next[KILLED_BASE + (unsigned)k] > 0;
    print_message("kill loop: kills %d (%d after their first message), messages %ld, lost %ld, "
                  "duplicated %ld, torn %ld\n",
                  kills, with_msgs, dr.msgs, dr.gaps, dr.dup, dr.torn);
    assert_int_equal(dr.torn, 0);
    assert_int_equal(dr.dup, 0);
    assert_int_equal(dr.gaps, 0);
    assert_int_equal(dr.ended, STEADY);
    for (i = 0; i < STEADY; i++)
        assert_true(dr.next[i] > 0);
    /* The queue still works. */
    assert_int_equal(put_msg(q, 1, 1, 32), MPROC_OK);
    {
        void *d;
        size_t n;
        assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
        mproc_free(d);
    }
    mproc_queue_destroy(q);
    mproc_queue_destroy(stop);
}

/* ---- a consumer killed mid-get ----------------------------------------------------------------
 */

#define KC_MSGS 60u
#define KC_BIG ((size_t)3 << 20)

/* Every third message is big (streamed); the rest small. */
static size_t kc_len(uint32_t i)
{
    return i % 3 == 0 ? KC_BIG : 64 + (size_t)i * 100;
}

/* Takes messages and acknowledges each (its number) into queue 1, until killed. */
static int t_slow_consumer(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    for (;;) {
        void *d;
        size_t n;
        uint32_t who, seq;
        if (mproc_queue_get(child_q(0), WAIT_MS, &d, &n) != MPROC_OK)
            return 1;
        if (!whole((unsigned char *)d, n, &who, &seq))
            return 2;
        mproc_free(d);
        if (mproc_queue_put(child_q(1), &seq, sizeof seq, WAIT_MS) != MPROC_OK)
            return 3;
    }
}

typedef struct feeder {
    mproc_queue *q;
    int failed;
} feeder;

static void feeder_main(void *arg)
{
    feeder *f = (feeder *)arg;
    uint32_t i;
    unsigned char *m = (unsigned char *)malloc(KC_BIG);
    if (m == NULL) {
        f->failed = 1;
        return;
    }
    for (i = 0; i < KC_MSGS; i++) {
        fill(m, kc_len(i), 5, i);
        if (mproc_queue_put(f->q, m, kc_len(i), WAIT_MS) != MPROC_OK)
            f->failed++;
    }
    free(m);
}

static void test_consumer_killed(void **state)
{
    mproc_queue *q, *acks;
    mproc_process *p;
    feeder f;
    tu_thread th;
    unsigned char seen[KC_MSGS];
    uint32_t i, got = 0, acked = 0, missing = 0;
    int round;
    (void)state;
    for (round = 0; round < scaled(3, 1); round++) {
        void *d;
        size_t n;
        memset(seen, 0, sizeof seen);
        got = acked = missing = 0;
        assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
        assert_int_equal(mproc_queue_create(&acks, 0), MPROC_OK);
        f.q = q;
        f.failed = 0;
        p = start_child(t_slow_consumer, NULL, 0, q, acks);
        tu_thread_start(&th, feeder_main, &f);
        /* Let it take a few, then kill it wherever it is. */
        while (acked < 4u + (uint32_t)round * 5u) {
            uint32_t s;
            assert_int_equal(mproc_queue_get(acks, WAIT_MS, &d, &n), MPROC_OK);
            memcpy(&s, d, sizeof s);
            mproc_free(d);
            assert_true(s < KC_MSGS && !seen[s]);
            seen[s] = 1;
            acked++;
        }
        tu_sleep_ms(round);
        assert_int_equal(mproc_process_kill(p), MPROC_OK);
        assert_int_equal(mproc_process_join(p, WAIT_MS), MPROC_OK);
        mproc_process_destroy(p);
        while (mproc_queue_get(acks, 0, &d, &n) == MPROC_OK) {
            uint32_t s;
            memcpy(&s, d, sizeof s);
            mproc_free(d);
            assert_true(s < KC_MSGS && !seen[s]);
            seen[s] = 1;
            acked++;
        }
        /* The parent takes the rest: nobody hangs, nothing comes twice. */
        for (;;) {
            uint32_t who, seq;
            int r = mproc_queue_get(q, 3000, &d, &n);
            if (r == MPROC_ETIMEDOUT)
                break;
            assert_int_equal(r, MPROC_OK);
            assert_true(whole((unsigned char *)d, n, &who, &seq));
            assert_true(seq < KC_MSGS);
            assert_int_equal(n, kc_len(seq));
            assert_false(seen[seq]);
            seen[seq] = 1;
            got++;
            mproc_free(d);
        }
        tu_thread_join(&th);
        assert_int_equal(f.failed, 0);
        for (i = 0; i < KC_MSGS; i++)
            missing += !seen[i];
        /* At most the one the consumer had taken whole when it died, before its ack. */
        assert_true(missing <= 1);
        assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
        assert_int_equal(n, 0);
        print_message("consumer killed after %u acks: parent got %u, lost with it %u\n", acked, got,
                      missing);
        mproc_queue_destroy(q);
        mproc_queue_destroy(acks);
    }
}

/* ---- a big message does not hold back small ones ----------------------------------------- */

typedef struct bigput {
    mproc_queue *q;
    size_t len;
    int r;
} bigput;

static void bigput_main(void *arg)
{
    bigput *b = (bigput *)arg;
    unsigned char *m = (unsigned char *)malloc(b->len);
    if (m == NULL) {
        b->r = MPROC_ENOMEM;
        return;
    }
    fill(m, b->len, 9, 0);
    b->r = mproc_queue_put(b->q, m, b->len, WAIT_MS);
    free(m);
}

static void test_big_beside_small(void **state)
{
    mproc_queue *q;
    bigput b;
    tu_thread th;
    uint32_t i, who, seq;
    void *d;
    size_t n;
    (void)state;
    assert_int_equal(mproc_queue_create(&q, 0), MPROC_OK);
    b.q = q;
    b.len = (size_t)64 << 20;
    b.r = 1;
    tu_thread_start(&th, bigput_main, &b);
    do {
        tu_sleep_ms(5);
        assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    } while (n == 0);
    /* The big one waits for a consumer; small puts go by meanwhile, at once. */
    for (i = 1; i <= 100; i++)
        assert_int_equal(put_msg(q, 9, i, 64), MPROC_OK);
    assert_int_equal(mproc_queue_size(q, &n), MPROC_OK);
    assert_int_equal(n, 101);
    assert_int_equal(mproc_queue_get(q, WAIT_MS, &d, &n), MPROC_OK);
    assert_int_equal(n, b.len);
    assert_true(whole((unsigned char *)d, n, &who, &seq));
    assert_int_equal(seq, 0);
    mproc_free(d);
    tu_thread_join(&th);
    assert_int_equal(b.r, MPROC_OK);
    for (i = 1; i <= 100; i++) {
        assert_int_equal(mproc_queue_get(q, 0, &d, &n), MPROC_OK);
        assert_true(whole((unsigned char *)d, n, &who, &seq));
        assert_int_equal(seq, i);
        mproc_free(d);
    }
    mproc_queue_destroy(q);
}

/* ---- the process's resources after all of the above -------------------------------------- */

static tu_counts g_base;
static long g_shm_base;

/* Entries of this process in /dev/shm (-1 where there is none): the library names its POSIX
 * shared memory "mproc-<pid>-<n>" where it cannot make it anonymous (memfd), and unlinks it at
 * once; a queue adds none. Other programs' entries come and go: only ours count. */
static long dev_shm_entries(void)
{
#ifdef _WIN32
    return -1;
#else
    long n = 0;
    char prefix[64];
    struct dirent *e;
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return -1;
    snprintf(prefix, sizeof prefix, "mproc-%ld-", (long)getpid());
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
#endif
}

static void test_baseline_first(void **state)
{
    (void)state;
    g_base = tu_counts_now();
    g_shm_base = dev_shm_entries();
}

static void test_baseline_after(void **state)
{
    mproc_queue *q[20];
    int i;
    (void)state;
    for (i = 0; i < 20; i++)
        assert_int_equal(mproc_queue_create(&q[i], (size_t)i), MPROC_OK);
    for (i = 0; i < 20; i++)
        mproc_queue_destroy(q[i]);
    tu_assert_counts_back(&g_base, 10000);
    assert_int_equal(dev_shm_entries(), g_shm_base);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_first),     cmocka_unit_test(test_local_fifo),
        cmocka_unit_test(test_round_trips),        cmocka_unit_test(test_many_to_many),
        cmocka_unit_test(test_bounded_timeouts),   cmocka_unit_test(test_close_end),
        cmocka_unit_test(test_size_exact),         cmocka_unit_test(test_joinable),
        cmocka_unit_test(test_put_then_exit),      cmocka_unit_test(test_queue_waitable),
        cmocka_unit_test(test_big_beside_small),   cmocka_unit_test(test_consumer_killed),
        cmocka_unit_test(test_producer_kill_loop), cmocka_unit_test(test_baseline_after),
    };
    return TU_RUN_SUITE(argc, argv, "queue", tests);
}
