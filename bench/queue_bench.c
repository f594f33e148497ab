/* The Queue's figures (issue 11): put->get throughput of 64 B messages with 1 producer and 1
 * consumer process and with 4 x 4, one message's ping-pong latency, and a 64 MiB message against
 * memcpy of the same bytes. bench/queue_baseline.py measures the same with Python's mp.Queue.
 *
 *   queue_bench [1x1|pipe|4x4|pingpong|big|all] [count]   (pipe: POSIX only)
 *
 * Prints `name<TAB>value<TAB>unit` lines, notes start with '#'. Children reach the queues by
 * .share, so the figures hold for fork (the Linux default) and spawn alike. */
#ifndef _WIN32
    #define _POSIX_C_SOURCE 200809L
#endif
#include "mproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
    #define WIN32_LEAN_AND_MEAN
    #include <windows.h>
#else
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>
#endif

#define MSG 64

static double now_s(void)
{
#ifdef _WIN32
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

static void check(int r, const char *what)
{
    if (r != MPROC_OK) {
        fprintf(stderr, "queue_bench: %s: %s\n", what, mproc_strerror(r));
        exit(1);
    }
}

static mproc_queue *child_q(size_t i)
{
    mproc_queue *q = NULL;
    check(mproc_child_queue(i, &q), "mproc_child_queue");
    return q;
}

static mproc_process *start(mproc_target t, long arg, mproc_queue *a, mproc_queue *b)
{
    mproc_process_options o;
    mproc_process *p;
    mproc_shared *list[2];
    memset(&o, 0, sizeof o);
    list[0] = mproc_queue_shared(a);
    list[1] = mproc_queue_shared(b);
    o.target = t;
    o.arg = &arg;
    o.arg_len = sizeof arg;
    o.share = list;
    o.share_count = 2;
    check(mproc_process_create_ex(&p, &o), "create");
    check(mproc_process_start(p), "start");
    return p;
}

static void finish(mproc_process *p)
{
    int code = -1;
    check(mproc_process_join(p, MPROC_FOREVER), "join");
    check(mproc_process_exitcode(p, &code), "exitcode");
    if (code != 0) {
        fprintf(stderr, "queue_bench: a child failed (%d)\n", code);
        exit(1);
    }
    mproc_process_destroy(p);
}

static long arg_long(const void *arg, size_t len)
{
    long v = 0;
    if (len == sizeof v)
        memcpy(&v, arg, sizeof v);
    return v;
}

static void get_one(mproc_queue *q, size_t want)
{
    void *d;
    size_t n;
    check(mproc_queue_get(q, MPROC_FOREVER, &d, &n), "get");
    if (n != want) {
        fprintf(stderr, "queue_bench: got %lu bytes, not %lu\n", (unsigned long)n,
                (unsigned long)want);
        exit(1);
    }
    mproc_free(d);
}

/* Waits for the go (one message of queue 1), then puts n messages of 64 B into queue 0. */
static int t_producer(const void *arg, size_t len)
{
    long i, n = arg_long(arg, len);
    unsigned char m[MSG];
    mproc_queue *q = child_q(0), *go = child_q(1);
    memset(m, 7, sizeof m);
    get_one(go, 0);
    for (i = 0; i < n; i++) {
        memcpy(m, &i, sizeof i);
        check(mproc_queue_put(q, m, sizeof m, MPROC_FOREVER), "put");
    }
    return 0;
}

/* Takes messages from queue 0 until it is closed; puts its count into queue 1. */
static int t_consumer(const void *arg, size_t len)
{
    long got = 0;
    mproc_queue *q = child_q(0), *res = child_q(1);
    (void)arg;
    (void)len;
    for (;;) {
        void *d;
        size_t n;
        int r = mproc_queue_get(q, MPROC_FOREVER, &d, &n);
        if (r == MPROC_EEND)
            break;
        check(r, "get");
        mproc_free(d);
        got++;
    }
    check(mproc_queue_put(res, &got, sizeof got, MPROC_FOREVER), "put");
    return 0;
}

static void fig_1x1(long n)
{
    mproc_queue *q, *go;
    mproc_process *p;
    long i;
    double t0, t;
    check(mproc_queue_create(&q, 0), "create");
    check(mproc_queue_create(&go, 0), "create");
    p = start(t_producer, n, q, go);
    t0 = now_s();
    check(mproc_queue_put(go, NULL, 0, MPROC_FOREVER), "go");
    for (i = 0; i < n; i++)
        get_one(q, MSG);
    t = now_s() - t0;
    finish(p);
    printf("queue_1x1\t%.0f\tmsgs/s\n# queue_1x1: %ld messages of %d B in %.3f s\n", n / t, n, MSG,
           t);
    mproc_queue_destroy(q);
    mproc_queue_destroy(go);
}

static void fig_4x4(long n)
{
    mproc_queue *q, *go, *res;
    mproc_process *prod[4], *cons[4];
    long total = 0;
    int i;
    double t0, t;
    check(mproc_queue_create(&q, 0), "create");
    check(mproc_queue_create(&go, 0), "create");
    check(mproc_queue_create(&res, 0), "create");
    for (i = 0; i < 4; i++)
        cons[i] = start(t_consumer, 0, q, res);
    for (i = 0; i < 4; i++)
        prod[i] = start(t_producer, n / 4, q, go);
    t0 = now_s();
    for (i = 0; i < 4; i++)
        check(mproc_queue_put(go, NULL, 0, MPROC_FOREVER), "go");
    for (i = 0; i < 4; i++)
        finish(prod[i]);
    check(mproc_queue_close(q), "close");
    for (i = 0; i < 4; i++) {
        void *d;
        size_t len;
        long got;
        check(mproc_queue_get(res, MPROC_FOREVER, &d, &len), "get");
        memcpy(&got, d, sizeof got);
        mproc_free(d);
        total += got;
    }
    t = now_s() - t0;
    for (i = 0; i < 4; i++)
        finish(cons[i]);
    if (total != n / 4 * 4) {
        fprintf(stderr, "queue_bench: 4x4 got %ld of %ld\n", total, n / 4 * 4);
        exit(1);
    }
    printf("queue_4x4\t%.0f\tmsgs/s\n# queue_4x4: %ld messages of %d B in %.3f s\n", total / t,
           total, MSG, t);
    mproc_queue_destroy(q);
    mproc_queue_destroy(go);
    mproc_queue_destroy(res);
}

/* Puts back into queue 1 every message of queue 0, until it is closed. */
static int t_echo(const void *arg, size_t len)
{
    mproc_queue *in = child_q(0), *out = child_q(1);
    (void)arg;
    (void)len;
    for (;;) {
        void *d;
        size_t n;
        int r = mproc_queue_get(in, MPROC_FOREVER, &d, &n);
        if (r == MPROC_EEND)
            return 0;
        check(r, "get");
        check(mproc_queue_put(out, d, n, MPROC_FOREVER), "put");
        mproc_free(d);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fig_pingpong(long n)
{
    mproc_queue *a, *b;
    mproc_process *p;
    unsigned char m[MSG];
    double *lat = (double *)malloc((size_t)n * sizeof *lat);
    long i;
    memset(m, 1, sizeof m);
    check(mproc_queue_create(&a, 0), "create");
    check(mproc_queue_create(&b, 0), "create");
    p = start(t_echo, 0, a, b);
    for (i = -1000; i < n; i++) {
        double t0 = now_s();
        check(mproc_queue_put(a, m, sizeof m, MPROC_FOREVER), "put");
        get_one(b, MSG);
        if (i >= 0)
            lat[i] = now_s() - t0;
    }
    check(mproc_queue_close(a), "close");
    finish(p);
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    printf("queue_pingpong\t%.1f\tus\n# queue_pingpong: median of %ld round trips of %d B; p10 "
           "%.1f us, p90 %.1f us\n",
           lat[n / 2] * 1e6, n, MSG, lat[n / 10] * 1e6, lat[n * 9 / 10] * 1e6);
    free(lat);
    mproc_queue_destroy(a);
    mproc_queue_destroy(b);
}

/* Takes big messages from queue 0, acknowledging each with an empty one in queue 1. */
static int t_big_sink(const void *arg, size_t len)
{
    mproc_queue *in = child_q(0), *out = child_q(1);
    (void)arg;
    (void)len;
    for (;;) {
        void *d;
        size_t n;
        int r = mproc_queue_get(in, MPROC_FOREVER, &d, &n);
        if (r == MPROC_EEND)
            return 0;
        check(r, "get");
        mproc_free(d);
        check(mproc_queue_put(out, NULL, 0, MPROC_FOREVER), "ack");
    }
}

static void fig_big(long reps)
{
    size_t len = (size_t)64 << 20;
    unsigned char *m = (unsigned char *)malloc(len), *copy = (unsigned char *)malloc(len);
    double best_q = 1e30, best_c = 1e30, *tq = (double *)malloc((size_t)reps * sizeof *tq);
    mproc_queue *a, *b;
    mproc_process *p;
    long i;
    if (m == NULL || copy == NULL || tq == NULL)
        exit(1);
    memset(m, 3, len);
    memset(copy, 0, len);
    for (i = 0; i < reps; i++) {
        double t0 = now_s();
        memcpy(copy, m, len);
        t0 = now_s() - t0;
        if (t0 < best_c)
            best_c = t0;
    }
    check(mproc_queue_create(&a, 0), "create");
    check(mproc_queue_create(&b, 0), "create");
    p = start(t_big_sink, 0, a, b);
    for (i = -1; i < reps; i++) {
        double t0 = now_s();
        /* put returns once the consumer has all of it (a big message is streamed to one). */
        check(mproc_queue_put(a, m, len, MPROC_FOREVER), "put");
        get_one(b, 0);
        if (i >= 0) {
            tq[i] = now_s() - t0;
            if (tq[i] < best_q)
                best_q = tq[i];
        }
    }
    check(mproc_queue_close(a), "close");
    finish(p);
    qsort(tq, (size_t)reps, sizeof *tq, cmp_double);
    printf("queue_64mib\t%.2f\tGB/s\n# queue_64mib: median of %ld (best %.2f GB/s), each put to "
           "the consumer's ack\n",
           (double)len / tq[reps / 2] / 1e9, reps, (double)len / best_q / 1e9);
    printf("memcpy_64mib\t%.2f\tGB/s\n# memcpy_64mib: best of %ld in one process\n",
           (double)len / best_c / 1e9, reps);
    free(m);
    free(copy);
    free(tq);
    mproc_queue_destroy(a);
    mproc_queue_destroy(b);
}

#ifndef _WIN32
/* The floor the queue's data path is measured against: n messages of 64 B through a raw pipe
 * from a forked child (one write, one read each; no framing, no locking, one consumer). */
static void fig_pipe(long n)
{
    int fd[2];
    long i;
    pid_t pid;
    unsigned char m[MSG];
    double t0, t;
    if (pipe(fd) != 0)
        exit(1);
    memset(m, 7, sizeof m);
    pid = fork();
    if (pid == 0) {
        close(fd[0]);
        for (i = 0; i < n; i++)
            if (write(fd[1], m, sizeof m) != (ssize_t)sizeof m)
                _exit(1);
        _exit(0);
    }
    close(fd[1]);
    t0 = now_s();
    for (i = 0; i < n; i++) {
        size_t got = 0;
        while (got < sizeof m) {
            ssize_t k = read(fd[0], m + got, sizeof m - got);
            if (k <= 0)
                exit(1);
            got += (size_t)k;
        }
    }
    t = now_s() - t0;
    close(fd[0]);
    waitpid(pid, NULL, 0);
    printf("pipe_1x1\t%.0f\tmsgs/s\n# pipe_1x1: %ld raw 64 B writes and reads through a pipe in "
           "%.3f s\n",
           n / t, n, t);
}
#endif

int main(int argc, char **argv)
{
    const char *fig = argc > 1 ? argv[1] : "all";
    long n = argc > 2 ? atol(argv[2]) : 0;
    int all = strcmp(fig, "all") == 0;
    check(mproc_init(argc, argv), "mproc_init");
    if (all || strcmp(fig, "1x1") == 0)
        fig_1x1(n > 0 ? n : 2000000);
#ifndef _WIN32
    if (all || strcmp(fig, "pipe") == 0)
        fig_pipe(n > 0 ? n : 2000000);
#endif
    if (all || strcmp(fig, "4x4") == 0)
        fig_4x4(n > 0 ? n : 2000000);
    if (all || strcmp(fig, "pingpong") == 0)
        fig_pingpong(n > 0 ? n : 20000);
    if (all || strcmp(fig, "big") == 0)
        fig_big(n > 0 ? n : 9);
    return 0;
}
