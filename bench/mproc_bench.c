/*
 * mproc_bench: the figures of issue 4, one machine-readable line each.
 *
 *   mproc_bench list                 the figures, their default counts and what they measure
 *   mproc_bench all                  every figure of this platform, each in a fresh process
 *   mproc_bench FIGURE [N [CHUNK]]   one figure in this process (N: its count, CHUNK: imap's)
 *
 * A figure prints `name<TAB>value<TAB>unit`; lines starting with '#' are notes for people. The
 * exit status is 0 when every figure ran and checked its results, 1 otherwise.
 *
 * The OS floors (floor_*) run the same work the library does with nothing but system calls, in
 * the same binary: `--exit-now` as the first argument makes main return before mproc_init, so a
 * raw posix_spawn or CreateProcessW of this executable is the floor of mproc's spawn start.
 */
#if defined(__linux__)
    #define _GNU_SOURCE /* sched_setaffinity, for the figures pinned to CPUs */
#elif !defined(_WIN32)
    #define _POSIX_C_SOURCE 200809L
#endif

#include "mproc.h"
#include "work.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
    #include <windows.h>
#else
    #include <errno.h>
    #include <fcntl.h>
    #include <poll.h>
    #include <pthread.h>
    #include <signal.h>
    #include <spawn.h>
    #include <sys/resource.h>
    #include <sys/types.h>
    #include <sys/wait.h>
    #include <time.h>
    #include <unistd.h>
    #ifdef __linux__
        #include <sched.h>
        #include <sys/syscall.h>
    #endif
extern char **environ;
#endif

#define WORKERS 2
#define EXIT_NOW "--exit-now"

/* Where figures that start this executable again find it, and the argv[0] they give it. */
static const char *self_argv0 = "mproc_bench";

/* ---- time, statistics, output --------------------------------------------------------------- */

static double now_s(void)
{
#ifdef _WIN32
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;
    if (freq.QuadPart == 0)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (double)t.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place; the median, the mean of the two middle ones for an even count. */
static double median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* After median(): the q-quantile (0..1) of the sorted samples, nearest rank. */
static double quantile(const double *sorted, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return n == 0 ? 0.0 : sorted[i < n ? i : n - 1];
}

static void emit(const char *name, double value, const char *unit)
{
    printf("%s\t%.3f\t%s\n", name, value, unit);
    fflush(stdout);
}

/* ---- pinning to CPUs ------------------------------------------------------------------------ */

/* A wake-up of the other side costs what the CPUs make it cost: on this VM a pipe round trip
 * takes 2 us when both processes share one CPU and 65 us when each has its own (a halted
 * virtual CPU wakes slowly), and which of the two a run gets changes from run to run. So the
 * round-trip figures come pinned too: _1cpu runs both sides on CPU 0, _2cpu the caller (and the
 * pool thread) on CPU 0 and the other side (the echo process, the workers) on CPU 1. */
enum { PIN_NONE, PIN_ONE_CPU, PIN_TWO_CPUS };
static int pin_mode = PIN_NONE;

/* The figure's name with the pinning's suffix. */
static const char *pinned_name(const char *base)
{
    static char name[64];
    snprintf(name, sizeof name, "%s%s", base,
             pin_mode == PIN_ONE_CPU    ? "_1cpu"
             : pin_mode == PIN_TWO_CPUS ? "_2cpu"
                                        : "");
    return name;
}

/* Pins the calling thread to one CPU: 0 on success. */
static int pin_to(int cpu)
{
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -1;
#else
    (void)cpu;
    return -1;
#endif
}

/* The calling side (before it starts the other): CPU 0 under either pinning. */
static int pin_caller(void)
{
    if (pin_mode != PIN_NONE && pin_to(0) != 0) {
        fprintf(stderr, "mproc_bench: cannot pin to CPU 0\n");
        return -1;
    }
    return 0;
}

/* The other side: CPU 0 with the caller, or CPU 1. */
static int pin_other(int mode)
{
    return mode == PIN_NONE ? 0 : pin_to(mode == PIN_TWO_CPUS ? 1 : 0);
}

/* A pool initializer: each worker pins itself (the mode comes as the argument, for a spawned
 * worker does not have this process's globals). */
static int pin_init(const void *arg, size_t len)
{
    int mode;
    if (len != sizeof mode)
        return 1;
    memcpy(&mode, arg, sizeof mode);
    return pin_other(mode) == 0 ? 0 : 1;
}

static void note(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Nonzero (after saying why on stderr) when rc is an mproc error. */
static int failed(int rc, const char *what)
{
    if (rc >= 0)
        return 0;
    fprintf(stderr, "mproc_bench: %s: %s (%s)\n", what, mproc_error_name(rc), mproc_strerror(rc));
    return 1;
}

static int wrong(const char *fmt, ...)
{
    va_list ap;
    fputs("mproc_bench: wrong result: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static double *samples_new(long n)
{
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (v == NULL)
        fprintf(stderr, "mproc_bench: out of memory\n");
    return v;
}

/* ---- the tasks ------------------------------------------------------------------------------- */

/* def f(x): return x */
static int echo_task(const void *arg, size_t len, mproc_output *out)
{
    return mproc_output_set(out, arg, len) == MPROC_OK ? 0 : 1;
}

/* The big result, made once per worker by big_init (the pool's initializer), so the timed
 * applies measure its way back and not the worker's first touch of 64 MiB of fresh pages. */
static char *big_buf;
static size_t big_len;

static int big_init(const void *arg, size_t len)
{
    size_t n;

    if (len != sizeof n)
        return 1;
    memcpy(&n, arg, sizeof n);
    big_buf = malloc(n);
    if (big_buf == NULL)
        return 1;
    memset(big_buf, 'x', n);
    big_len = n;
    return 0;
}

/* def big(n): return _BIG (the bytes big_init made). */
static int big_task(const void *arg, size_t len, mproc_output *out)
{
    size_t n;

    if (len != sizeof n)
        return 1;
    memcpy(&n, arg, sizeof n);
    if (big_buf == NULL || big_len != n)
        return 2;
    return mproc_output_set(out, big_buf, n) == MPROC_OK ? 0 : 3;
}

/* Process(target=noop) */
static int noop_target(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

static int int_of(const void *data, size_t len, int *v)
{
    if (len != sizeof *v)
        return -1;
    memcpy(v, data, sizeof *v);
    return 0;
}

/* Python's warm-up too: the workers have started and run the code once before the clock. */
static int warm_pool(mproc_pool *pool, int n)
{
    int i, v;
    void *res;
    size_t len;

    for (i = 0; i < n; i++) {
        if (failed(mproc_pool_apply(pool, echo_task, &i, sizeof i, &res, &len), "warm-up apply"))
            return -1;
        v = -1;
        (void)int_of(res, len, &v);
        mproc_free(res);
        if (v != i)
            return -wrong("warm-up apply(%d) gave %d", i, v);
    }
    return 0;
}

/* ---- pool figures --------------------------------------------------------------------------- */

typedef struct counter {
    long ok;
    long failed;
    long long sum;
} counter;

static void count_cb(void *user, const void *result, size_t len)
{
    counter *c = user;
    int v;
    if (int_of(result, len, &v) == 0)
        c->sum += v;
    c->ok++;
}

static void count_ecb(void *user, const mproc_error *err)
{
    counter *c = user;
    (void)err;
    c->failed++;
}

static int fig_apply_async(long n, long arg2)
{
    mproc_pool *pool = NULL;
    counter c = {0, 0, 0};
    double t0, t1;
    long long want;
    long i;
    int v, r = 1;

    (void)arg2;
    if (failed(mproc_pool_create(&pool, WORKERS), "mproc_pool_create") || warm_pool(pool, 200))
        goto finish;
    t0 = now_s();
    for (i = 0; i < n; i++) {
        v = (int)i;
        if (failed(mproc_pool_apply_async(pool, echo_task, &v, sizeof v, count_cb, count_ecb, &c,
                                          NULL),
                   "mproc_pool_apply_async"))
            goto finish;
    }
    if (failed(mproc_pool_close(pool), "mproc_pool_close") ||
        failed(mproc_pool_join(pool), "mproc_pool_join"))
        goto finish;
    t1 = now_s();
    want = (long long)n * (n - 1) / 2;
    if (c.ok != n || c.failed != 0 || c.sum != want) {
        wrong("apply_async: %ld callbacks, %ld error callbacks, sum %lld (want %ld, 0, %lld)", c.ok,
              c.failed, c.sum, n, want);
        goto finish;
    }
    note("apply_async: %ld tasks in %.3f s (submit all, close, join; callbacks counted)", n,
         t1 - t0);
    emit("apply_async", (double)n / (t1 - t0), "tasks/s");
    r = 0;
finish:
    mproc_pool_destroy(pool);
    return r;
}

static int fig_apply(long n, long arg2)
{
    mproc_pool_options o;
    mproc_pool *pool = NULL;
    double *t = samples_new(n), t0, med;
    void *res;
    size_t len;
    long i;
    int v, got, r = 1;

    (void)arg2;
    memset(&o, 0, sizeof o);
    o.workers = WORKERS;
    if (pin_mode != PIN_NONE) {
        o.initializer = pin_init;
        o.initarg = &pin_mode;
        o.initarg_len = sizeof pin_mode;
    }
    if (t == NULL || pin_caller() != 0 ||
        failed(mproc_pool_create_ex(&pool, &o), "mproc_pool_create_ex") || warm_pool(pool, 500))
        goto finish;
    for (i = 0; i < n; i++) {
        v = (int)i;
        t0 = now_s();
        if (failed(mproc_pool_apply(pool, echo_task, &v, sizeof v, &res, &len), "mproc_pool_apply"))
            goto finish;
        t[i] = now_s() - t0;
        got = -1;
        (void)int_of(res, len, &got);
        mproc_free(res);
        if (got != v) {
            wrong("apply(%d) gave %d", v, got);
            goto finish;
        }
    }
    med = median(t, (size_t)n);
    note("%s: %ld calls after 500 warm-up; p10 %.1f us, p90 %.1f us, p99 %.1f us",
         pinned_name("apply"), n, quantile(t, (size_t)n, 0.10) * 1e6,
         quantile(t, (size_t)n, 0.90) * 1e6, quantile(t, (size_t)n, 0.99) * 1e6);
    emit(pinned_name("apply"), med * 1e6, "us");
    r = 0;
finish:
    mproc_pool_destroy(pool);
    free(t);
    return r;
}

static int map_figure(const char *name, long n, size_t chunksize)
{
    mproc_pool *pool = NULL;
    mproc_results *res = NULL;
    int *items = malloc((size_t)n * sizeof *items);
    const void *data;
    size_t len;
    double t0, t1;
    long i;
    int v, r = 1;

    if (items == NULL)
        goto finish;
    for (i = 0; i < n; i++)
        items[i] = (int)i;
    if (failed(mproc_pool_create(&pool, WORKERS), "mproc_pool_create") || warm_pool(pool, 200))
        goto finish;
    /* A small map first: its code paths paged in, like the pool's. */
    if (failed(mproc_pool_map(pool, echo_task, items, sizeof *items, n < 1000 ? (size_t)n : 1000,
                              chunksize, &res),
               "warm-up mproc_pool_map"))
        goto finish;
    mproc_results_destroy(res);
    res = NULL;
    t0 = now_s();
    if (failed(mproc_pool_map(pool, echo_task, items, sizeof *items, (size_t)n, chunksize, &res),
               "mproc_pool_map"))
        goto finish;
    t1 = now_s();
    if (mproc_results_count(res) != (size_t)n) {
        wrong("%s: %lu results for %ld items", name, (unsigned long)mproc_results_count(res), n);
        goto finish;
    }
    for (i = 0; i < n; i++) {
        v = -1;
        if (failed(mproc_results_get(res, (size_t)i, &data, &len), "mproc_results_get"))
            goto finish;
        if (int_of(data, len, &v) < 0 || v != items[i]) {
            wrong("%s: item %ld gave %d", name, i, v);
            goto finish;
        }
    }
    note("%s: %ld items in %.3f s (chunksize %s)", name, n, t1 - t0,
         chunksize ? "1" : "0 = automatic, count/(4*workers) rounded up");
    emit(name, (double)n / (t1 - t0), "items/s");
    r = 0;
finish:
    mproc_results_destroy(res);
    mproc_pool_destroy(pool);
    free(items);
    return r;
}

static int fig_map_chunk1(long n, long arg2)
{
    (void)arg2;
    return map_figure("map_chunk1", n, 1);
}

static int fig_map_auto(long n, long arg2)
{
    (void)arg2;
    return map_figure("map_auto", n, 0);
}

static int fig_pool_lifecycle(long n, long arg2)
{
    double *t = samples_new(n), t0, t1, med;
    mproc_pool *pool;
    void *res;
    size_t len;
    long i;
    int v = 7, got, r = 1;
    const long warm = 3;

    (void)arg2;
    if (t == NULL)
        return 1;
    for (i = -warm; i < n; i++) {
        pool = NULL;
        t0 = now_s();
        if (failed(mproc_pool_create(&pool, WORKERS), "mproc_pool_create") ||
            failed(mproc_pool_apply(pool, echo_task, &v, sizeof v, &res, &len),
                   "mproc_pool_apply")) {
            mproc_pool_destroy(pool);
            goto finish;
        }
        got = -1;
        (void)int_of(res, len, &got);
        mproc_free(res);
        if (failed(mproc_pool_close(pool), "mproc_pool_close") ||
            failed(mproc_pool_join(pool), "mproc_pool_join")) {
            mproc_pool_destroy(pool);
            goto finish;
        }
        t1 = now_s();
        mproc_pool_destroy(pool);
        if (got != v) {
            wrong("pool_lifecycle: apply gave %d", got);
            goto finish;
        }
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("pool_lifecycle: create(%d) -> apply -> close -> join, %ld runs; p10 %.3f ms, p90 %.3f ms "
         "(destroy not timed)",
         WORKERS, n, quantile(t, (size_t)n, 0.10) * 1e3, quantile(t, (size_t)n, 0.90) * 1e3);
    emit("pool_lifecycle", med * 1e3, "ms");
    r = 0;
finish:
    free(t);
    return r;
}

/* n: the result's size in MiB; 5 timed applies after two warm-ups. */
static int fig_result_big(long n, long arg2)
{
    enum { RUNS = 5 };
    mproc_pool_options o;
    mproc_pool *pool = NULL;
    double t[RUNS], t0, med;
    size_t size = (size_t)n << 20, len;
    void *res;
    int i, r = 1;

    (void)arg2;
    memset(&o, 0, sizeof o);
    o.workers = WORKERS;
    o.initializer = big_init;
    o.initarg = &size;
    o.initarg_len = sizeof size;
    if (failed(mproc_pool_create_ex(&pool, &o), "mproc_pool_create_ex") || warm_pool(pool, 20))
        goto finish;
    for (i = -2; i < RUNS; i++) {
        t0 = now_s();
        if (failed(mproc_pool_apply(pool, big_task, &size, sizeof size, &res, &len),
                   "mproc_pool_apply"))
            goto finish;
        if (i >= 0)
            t[i] = now_s() - t0;
        if (len != size || ((const char *)res)[0] != 'x' || ((const char *)res)[len - 1] != 'x') {
            mproc_free(res);
            wrong("result_64mib: %lu bytes back, want %lu of 'x'", (unsigned long)len,
                  (unsigned long)size);
            goto finish;
        }
        mproc_free(res);
    }
    med = median(t, RUNS);
    note("result_64mib: apply of a task returning %ld MiB (made once per worker by the pool "
         "initializer); median %.1f ms of %d after 2 warm-up",
         n, med * 1e3, RUNS);
    emit("result_64mib", (double)n / med, "MiB/s");
    r = 0;
finish:
    mproc_pool_destroy(pool);
    return r;
}

/* def count(b): return len(b), checking the ends: what a 64 MiB argument costs one way. */
static int arg_task(const void *arg, size_t len, mproc_output *out)
{
    uint64_t n = len;
    const unsigned char *b = arg;

    if (len == 0 || b[0] != 'y' || b[len - 1] != 'y')
        return 1;
    return mproc_output_set(out, &n, sizeof n) == MPROC_OK ? 0 : 2;
}

/* n: the argument's size in MiB; 5 timed applies after two warm-ups. The caller's buffer is
 * made (and touched) once, as a caller's data is. */
static int fig_arg_big(long n, long arg2)
{
    enum { RUNS = 5 };
    mproc_pool *pool = NULL;
    double t[RUNS], t0, med;
    size_t size = (size_t)n << 20, len;
    char *big = malloc(size);
    uint64_t got;
    void *res;
    int i, r = 1;

    (void)arg2;
    if (big == NULL)
        return 1;
    memset(big, 'y', size);
    if (failed(mproc_pool_create(&pool, WORKERS), "mproc_pool_create") || warm_pool(pool, 20))
        goto finish;
    for (i = -2; i < RUNS; i++) {
        t0 = now_s();
        if (failed(mproc_pool_apply(pool, arg_task, big, size, &res, &len), "mproc_pool_apply"))
            goto finish;
        if (i >= 0)
            t[i] = now_s() - t0;
        got = 0;
        if (len == sizeof got)
            memcpy(&got, res, sizeof got);
        mproc_free(res);
        if (got != size) {
            wrong("arg_64mib: the worker saw %lu bytes, want %lu", (unsigned long)got,
                  (unsigned long)size);
            goto finish;
        }
    }
    med = median(t, RUNS);
    note("arg_64mib: apply of a %ld MiB argument (the task checks its ends, returns its length); "
         "median %.1f ms of %d after 2 warm-up",
         n, med * 1e3, RUNS);
    emit("arg_64mib", (double)n / med, "MiB/s");
    r = 0;
finish:
    mproc_pool_destroy(pool);
    free(big);
    return r;
}

/* The payload floor: a memcpy of n MiB into fresh pages (malloc'd per run, so every page is
 * faulted in), which is what any design that copies the bytes once on the receiving side pays.
 * MiB/s, median of 5. */
static int fig_floor_memcpy(long n, long arg2)
{
    enum { RUNS = 5 };
    size_t size = (size_t)n << 20;
    char *src = malloc(size), *dst;
    double t[RUNS], t0;
    int i;

    (void)arg2;
    if (src == NULL)
        return 1;
    memset(src, 'z', size);
    for (i = -1; i < RUNS; i++) {
        t0 = now_s();
        dst = malloc(size);
        if (dst == NULL) {
            free(src);
            return 1;
        }
        memcpy(dst, src, size);
        if (i >= 0)
            t[i] = now_s() - t0;
        if (dst[size / 2] != 'z') {
            free(dst);
            free(src);
            return wrong("floor_memcpy_64mib: bytes differ");
        }
        free(dst);
    }
    free(src);
    note("floor_memcpy_64mib: malloc + memcpy of %ld MiB into fresh pages, median of %d", n, RUNS);
    emit("floor_memcpy_64mib", (double)n / median(t, RUNS), "MiB/s");
    return 0;
}

/* The parent's peak resident set so far, in MiB; negative where not measured. */
static double peak_rss_mib(void)
{
#ifdef _WIN32
    return -1.0;
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1.0;
    #if defined(__APPLE__)
    return (double)ru.ru_maxrss / (1024.0 * 1024.0); /* bytes there */
    #else
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux and the BSDs */
    #endif
#endif
}

/* n items (ints the caller owns: n * 4 bytes), chunksize arg2 (<= 0: 1), ordered. */
static int fig_imap(long n, long arg2)
{
    size_t chunksize = arg2 > 0 ? (size_t)arg2 : 1, index, len;
    mproc_pool *pool = NULL;
    mproc_iter *it = NULL;
    int *items = malloc((size_t)n * sizeof *items);
    const void *data;
    double t0, t1, base, peak, before;
    long i;
    int v, rc, r = 1;

    before = peak_rss_mib();
    if (items == NULL)
        goto finish;
    for (i = 0; i < n; i++)
        items[i] = (int)(i ^ 0x5a5a);
    base = peak_rss_mib();
    if (failed(mproc_pool_create(&pool, WORKERS), "mproc_pool_create"))
        goto finish;
    t0 = now_s();
    if (failed(mproc_pool_imap(pool, echo_task, items, sizeof *items, (size_t)n, chunksize, &it),
               "mproc_pool_imap"))
        goto finish;
    for (i = 0;; i++) {
        rc = mproc_iter_next(it, MPROC_FOREVER, &index, &data, &len);
        if (rc == MPROC_EEND)
            break;
        if (failed(rc, "mproc_iter_next"))
            goto finish;
        v = -1;
        if ((long)index != i || int_of(data, len, &v) < 0 || v != items[i]) {
            wrong("imap: result %ld: index %lu value %d (want %d)", i, (unsigned long)index, v,
                  items[i]);
            goto finish;
        }
    }
    t1 = now_s();
    if (i != n) {
        wrong("imap: %ld results for %ld items", i, n);
        goto finish;
    }
    peak = peak_rss_mib();
    note("imap: %ld items, chunksize %lu, ordered, in %.3f s", n, (unsigned long)chunksize,
         t1 - t0);
    emit("imap", (double)n / (t1 - t0), "items/s");
    if (peak >= 0) {
        note("imap RSS: %.1f MiB at start, %.1f MiB after the %.1f MiB items array, peak %.1f "
             "MiB",
             before, base, (double)n * sizeof *items / 1048576.0, peak);
        emit("imap_peak_rss", peak, "MiB");
        emit("imap_rss_growth", peak - base, "MiB");
    } else {
        note("imap RSS: not measured on this platform");
    }
    r = 0;
finish:
    mproc_iter_destroy(it);
    mproc_pool_destroy(pool);
    free(items);
    return r;
}

/* ---- process figures --------------------------------------------------------------------------
 */

static int process_figure(const char *name, mproc_start_method method, long n)
{
    mproc_process_options o;
    mproc_process *p;
    double *t = samples_new(n), t0, t1, med;
    const long warm = 10;
    long i;
    int code, r = 1;

    if (t == NULL)
        return 1;
    memset(&o, 0, sizeof o);
    o.target = noop_target;
    o.start_method = method;
    for (i = -warm; i < n; i++) {
        p = NULL;
        t0 = now_s();
        if (failed(mproc_process_create_ex(&p, &o), "mproc_process_create_ex") ||
            failed(mproc_process_start(p), "mproc_process_start") ||
            failed(mproc_process_join(p, MPROC_FOREVER), "mproc_process_join")) {
            mproc_process_destroy(p);
            goto finish;
        }
        t1 = now_s();
        code = -1000;
        mproc_process_exitcode(p, &code);
        mproc_process_destroy(p);
        if (code != 0) {
            wrong("%s: exit code %d", name, code);
            goto finish;
        }
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("%s: create+start+join, %ld runs after %ld warm-up; p10 %.1f us, p90 %.1f us", name, n,
         warm, quantile(t, (size_t)n, 0.10) * 1e6, quantile(t, (size_t)n, 0.90) * 1e6);
    emit(name, med * 1e6, "us");
    r = 0;
finish:
    free(t);
    return r;
}

static int fig_process_fork(long n, long arg2)
{
    (void)arg2;
    if (pin_caller() != 0)
        return 1;
    return process_figure(pinned_name("process_fork"), MPROC_START_FORK, n);
}

static int fig_process_spawn(long n, long arg2)
{
    (void)arg2;
    return process_figure("process_spawn", MPROC_START_SPAWN, n);
}

/* ---- starting this executable again ---------------------------------------------------------- */

#ifdef _WIN32

/* Runs this executable with one argument and waits for it; its exit code, or -1. */
static int run_self(const char *arg)
{
    static wchar_t path[32768];
    wchar_t *cmd;
    size_t plen, alen;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = (DWORD)-1;

    if (path[0] == 0 && GetModuleFileNameW(NULL, path, 32768) == 0)
        return -1;
    plen = wcslen(path);
    alen = strlen(arg);
    cmd = malloc((plen + alen + 8) * sizeof *cmd);
    if (cmd == NULL)
        return -1;
    /* The argument is one of ours: ASCII, no spaces or quotes. */
    cmd[0] = L'"';
    memcpy(cmd + 1, path, plen * sizeof *cmd);
    cmd[plen + 1] = L'"';
    cmd[plen + 2] = L' ';
    for (size_t i = 0; i <= alen; i++)
        cmd[plen + 3 + i] = (wchar_t)(unsigned char)arg[i];
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(path, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        free(cmd);
        return -1;
    }
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    free(cmd);
    return (int)code;
}

#else

static const char *self_path(void)
{
    #if defined(__linux__)
    /* What mproc's spawn runs, too. */
    if (access("/proc/self/exe", X_OK) == 0)
        return "/proc/self/exe";
    #endif
    return self_argv0;
}

/* Runs this executable with one argument and waits for it; its exit code, or -1. */
static int run_self(const char *arg)
{
    char *argv[3];
    pid_t pid;
    int st;

    argv[0] = (char *)self_argv0;
    argv[1] = (char *)arg;
    argv[2] = NULL;
    if (posix_spawn(&pid, self_path(), NULL, NULL, argv, environ) != 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif

/* ---- OS floors --------------------------------------------------------------------------------
 */

#ifdef _WIN32

enum { WMSG = 16 };

static int w_read_full(HANDLE h, char *p, DWORD n)
{
    DWORD got;
    while (n > 0) {
        if (!ReadFile(h, p, n, &got, NULL) || got == 0)
            return -1;
        p += got;
        n -= got;
    }
    return 0;
}

static int w_write_full(HANDLE h, const char *p, DWORD n)
{
    DWORD put;
    while (n > 0) {
        if (!WriteFile(h, p, n, &put, NULL) || put == 0)
            return -1;
        p += put;
        n -= put;
    }
    return 0;
}

/* The echo child of floor_pipe_rtt: `--echo IN OUT` (inherited handle values), before
 * mproc_init. */
static int echo_main(const char *in, const char *out)
{
    HANDLE rd = (HANDLE)(uintptr_t)strtoull(in, NULL, 10);
    HANDLE wr = (HANDLE)(uintptr_t)strtoull(out, NULL, 10);
    char m[WMSG];
    while (w_read_full(rd, m, WMSG) == 0)
        if (w_write_full(wr, m, WMSG) != 0)
            break;
    return 0;
}

/* The Windows pipe round trip: 16 bytes through an anonymous pipe to an echo process (this exe,
 * `--echo`, before mproc_init) and back through another: what apply's shortcut costs at least. */
static int fig_floor_pipe_rtt(long n, long arg2)
{
    double *t = samples_new(n), t0, med;
    const long warm = 200;
    SECURITY_ATTRIBUTES sa;
    HANDLE a_rd = NULL, a_wr = NULL, b_rd = NULL, b_wr = NULL;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    static wchar_t path[32768];
    wchar_t cmd[33000];
    char m[WMSG], back[WMSG];
    long i;
    int r = 1;

    (void)arg2;
    if (t == NULL)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.nLength = sizeof sa;
    sa.bInheritHandle = TRUE;
    pi.hProcess = pi.hThread = NULL;
    if (!CreatePipe(&a_rd, &a_wr, &sa, 0) || !CreatePipe(&b_rd, &b_wr, &sa, 0) ||
        !SetHandleInformation(a_wr, HANDLE_FLAG_INHERIT, 0) ||
        !SetHandleInformation(b_rd, HANDLE_FLAG_INHERIT, 0) ||
        GetModuleFileNameW(NULL, path, 32768) == 0)
        goto finish;
    _snwprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" --echo %llu %llu", path,
               (unsigned long long)(uintptr_t)a_rd, (unsigned long long)(uintptr_t)b_wr);
    cmd[sizeof cmd / sizeof cmd[0] - 1] = 0;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(path, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
        goto finish;
    CloseHandle(a_rd);
    CloseHandle(b_wr);
    a_rd = b_wr = NULL;
    memset(m, 0, sizeof m);
    for (i = -warm; i < n; i++) {
        memcpy(m, &i, sizeof i);
        t0 = now_s();
        if (w_write_full(a_wr, m, WMSG) != 0 || w_read_full(b_rd, back, WMSG) != 0)
            goto finish;
        if (i >= 0)
            t[i] = now_s() - t0;
        if (memcmp(m, back, WMSG) != 0) {
            wrong("floor_pipe_rtt: echo differs");
            goto finish;
        }
    }
    med = median(t, (size_t)n);
    note("floor_pipe_rtt: 16 bytes -> echo process -> back through anonymous pipes, %ld round "
         "trips after %ld; p10 %.1f us, p90 %.1f us",
         n, warm, quantile(t, (size_t)n, 0.10) * 1e6, quantile(t, (size_t)n, 0.90) * 1e6);
    emit("floor_pipe_rtt", med * 1e6, "us");
    r = 0;
finish:
    if (a_wr != NULL)
        CloseHandle(a_wr);
    if (b_rd != NULL)
        CloseHandle(b_rd);
    if (a_rd != NULL)
        CloseHandle(a_rd);
    if (b_wr != NULL)
        CloseHandle(b_wr);
    if (pi.hProcess != NULL) {
        WaitForSingleObject(pi.hProcess, 10000);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
    }
    free(t);
    return r;
}

static int fig_floor_createprocess(long n, long arg2)
{
    double *t = samples_new(n), t0, t1, med;
    const long warm = 3;
    long i;
    int r = 1;

    (void)arg2;
    if (t == NULL)
        return 1;
    for (i = -warm; i < n; i++) {
        t0 = now_s();
        if (run_self(EXIT_NOW) != 0) {
            fprintf(stderr, "mproc_bench: CreateProcessW of itself failed (%lu)\n",
                    (unsigned long)GetLastError());
            goto finish;
        }
        t1 = now_s();
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("floor_createprocess: CreateProcessW(this exe, %s) + WaitForSingleObject, %ld runs",
         EXIT_NOW, n);
    emit("floor_createprocess", med * 1e6, "us");
    r = 0;
finish:
    free(t);
    return r;
}

#else

static int fig_floor_fork(long n, long arg2)
{
    double *t = samples_new(n), t0, t1, med;
    const long warm = 10;
    long i;
    pid_t pid;
    int st, r = 1;

    (void)arg2;
    if (t == NULL || pin_caller() != 0) {
        free(t);
        return 1;
    }
    for (i = -warm; i < n; i++) {
        t0 = now_s();
        pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            perror("mproc_bench: fork");
            goto finish;
        }
        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR)
                goto finish;
        t1 = now_s();
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("%s: fork() of this process, child _exit(0), waitpid; %ld runs", pinned_name("floor_fork"),
         n);
    emit(pinned_name("floor_fork"), med * 1e6, "us");
    r = 0;
finish:
    free(t);
    return r;
}

    #if defined(__linux__) && defined(SYS_pidfd_open)
/* Not a floor of the OS but of the design: the system calls mproc's fork start and join make
 * beyond fork + waitpid, each for a reason (src/posix/process.c), made bare. The report pipe
 * carries the target's return value when another part of the program reaps the child first;
 * the signal mask keeps handlers out of the child until it is set up; the pidfd names the
 * child when its pid may name another; poll waits with a timeout, waitid reaps without
 * blocking. What mproc's row costs beyond this one is the library's own code. */
static int fig_floor_fork_calls(long n, long arg2)
{
    double *t = samples_new(n), t0, t1, med;
    const long warm = 10;
    long i;
    int r = 1;

    (void)arg2;
    if (t == NULL || pin_caller() != 0) {
        free(t);
        return 1;
    }
    for (i = -warm; i < n; i++) {
        int fds[2], pfd;
        sigset_t all, old;
        siginfo_t si;
        struct pollfd pl;
        pid_t pid;
        t0 = now_s();
        if (pipe2(fds, O_CLOEXEC) != 0) {
            perror("mproc_bench: pipe2");
            goto finish;
        }
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = fork();
        if (pid == 0) {
            unsigned char b[4] = {0, 0, 0, 0};
            sigset_t pipe_set;
            ssize_t w;
            close(fds[0]);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            sigemptyset(&pipe_set);
            sigaddset(&pipe_set, SIGPIPE);
            pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
            w = write(fds[1], b, sizeof b);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            _exit(w == (ssize_t)sizeof b ? 0 : 1);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        close(fds[1]);
        if (pid < 0) {
            perror("mproc_bench: fork");
            close(fds[0]);
            goto finish;
        }
        pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0) {
            perror("mproc_bench: pidfd_open");
            close(fds[0]);
            waitpid(pid, NULL, 0);
            goto finish;
        }
        pl.fd = pfd;
        pl.events = POLLIN;
        while (poll(&pl, 1, -1) < 0 && errno == EINTR)
            ;
        memset(&si, 0, sizeof si);
        if (waitid((idtype_t)3 /* P_PIDFD */, (id_t)pfd, &si, WEXITED | WNOHANG) != 0 ||
            si.si_pid != pid) {
            perror("mproc_bench: waitid");
            close(fds[0]);
            close(pfd);
            goto finish;
        }
        close(fds[0]);
        close(pfd);
        t1 = now_s();
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("%s: fork with the system calls of mproc's start and join, bare; %ld runs",
         pinned_name("floor_fork_calls"), n);
    emit(pinned_name("floor_fork_calls"), med * 1e6, "us");
    r = 0;
finish:
    free(t);
    return r;
}
        #define FORK_CALLS_FIG fig_floor_fork_calls
    #endif

static int fig_floor_posix_spawn(long n, long arg2)
{
    double *t = samples_new(n), t0, t1, med;
    const long warm = 10;
    long i;
    int r = 1;

    (void)arg2;
    if (t == NULL)
        return 1;
    for (i = -warm; i < n; i++) {
        t0 = now_s();
        if (run_self(EXIT_NOW) != 0) {
            fprintf(stderr, "mproc_bench: posix_spawn of itself failed\n");
            goto finish;
        }
        t1 = now_s();
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, (size_t)n);
    note("floor_posix_spawn: posix_spawn(%s %s) (main returns before mproc_init) + waitpid; %ld "
         "runs",
         self_path(), EXIT_NOW, n);
    emit("floor_posix_spawn", med * 1e6, "us");
    r = 0;
finish:
    free(t);
    return r;
}

enum { MSG = 16 };

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* An echo child: every 16-byte message read from `to_child` is written back on `from_child`, one
 * read and one write per message, until end of file. */
typedef struct echo {
    pid_t pid;
    int to_child;   /* the parent's write end */
    int from_child; /* the parent's read end */
} echo;

static int echo_start(echo *e)
{
    int a[2], b[2];
    char m[MSG];

    if (pipe(a) != 0)
        return -1;
    if (pipe(b) != 0) {
        close(a[0]);
        close(a[1]);
        return -1;
    }
    e->pid = fork();
    if (e->pid == 0) {
        close(a[1]);
        close(b[0]);
        if (pin_other(pin_mode) != 0)
            _exit(1);
        while (read_full(a[0], m, MSG) == 0)
            if (write_full(b[1], m, MSG) != 0)
                break;
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    if (e->pid < 0) {
        close(a[1]);
        close(b[0]);
        return -1;
    }
    e->to_child = a[1];
    e->from_child = b[0];
    return 0;
}

static void echo_stop(echo *e)
{
    int st;
    close(e->to_child);
    close(e->from_child);
    while (waitpid(e->pid, &st, 0) < 0 && errno == EINTR)
        ;
}

static int fig_floor_pipe_rtt(long n, long arg2)
{
    double *t = samples_new(n), t0, med;
    const long warm = 1000;
    char m[MSG], back[MSG];
    echo e;
    long i;
    int r = 1;

    (void)arg2;
    if (t == NULL)
        return 1;
    if (pin_caller() != 0 || echo_start(&e) != 0) {
        perror("mproc_bench: pipe/fork");
        free(t);
        return 1;
    }
    memset(m, 0, sizeof m);
    for (i = -warm; i < n; i++) {
        memcpy(m, &i, sizeof i);
        t0 = now_s();
        if (write_full(e.to_child, m, MSG) != 0 || read_full(e.from_child, back, MSG) != 0) {
            perror("mproc_bench: pipe round trip");
            goto finish;
        }
        if (i >= 0)
            t[i] = now_s() - t0;
        if (memcmp(m, back, MSG) != 0) {
            wrong("floor_pipe_rtt: echo differs");
            goto finish;
        }
    }
    med = median(t, (size_t)n);
    note("%s: 16-byte write -> echo process -> 16-byte read, %ld round trips after %ld; p10 "
         "%.1f us, p90 %.1f us",
         pinned_name("floor_pipe_rtt"), n, warm, quantile(t, (size_t)n, 0.10) * 1e6,
         quantile(t, (size_t)n, 0.90) * 1e6);
    emit(pinned_name("floor_pipe_rtt"), med * 1e6, "us");
    r = 0;
finish:
    echo_stop(&e);
    free(t);
    return r;
}

typedef struct reader_ctx {
    int fd;
    long n;
    long bad;
    int err;
} reader_ctx;

/* The parent's reading side, as the pool's own thread: n messages, each checked in order. */
static void *reader_main(void *arg)
{
    reader_ctx *c = arg;
    char m[MSG];
    long i, v;

    for (i = 0; i < c->n; i++) {
        if (read_full(c->fd, m, MSG) != 0) {
            c->err = 1;
            break;
        }
        memcpy(&v, m, sizeof v);
        if (v != i)
            c->bad++;
    }
    return NULL;
}

/* One run: n messages written one write() each by this thread while another thread reads the
 * echoes, one read() each. Messages per second, or a negative value on failure. */
static double pipelined_once(long n)
{
    reader_ctx c;
    pthread_t th;
    char m[MSG];
    double t0, t1;
    echo e;
    long i;
    int bad = 0;

    if (echo_start(&e) != 0)
        return -1.0;
    memset(&c, 0, sizeof c);
    c.fd = e.from_child;
    c.n = n;
    memset(m, 0, sizeof m);
    t0 = now_s();
    if (pthread_create(&th, NULL, reader_main, &c) != 0) {
        echo_stop(&e);
        return -1.0;
    }
    for (i = 0; i < n; i++) {
        memcpy(m, &i, sizeof i);
        if (write_full(e.to_child, m, MSG) != 0) {
            bad = 1;
            break;
        }
    }
    pthread_join(th, NULL);
    t1 = now_s();
    echo_stop(&e);
    if (bad || c.err || c.bad) {
        wrong("floor_pipe_pipelined: write failed %d, read failed %d, %ld out of order", bad, c.err,
              c.bad);
        return -1.0;
    }
    return (double)n / (t1 - t0);
}

static int fig_floor_pipe_pipelined(long n, long arg2)
{
    enum { RUNS = 3 };
    double rate[RUNS];
    int i;

    (void)arg2;
    if (pipelined_once(n / 10 > 0 ? n / 10 : 1) < 0)
        return 1;
    for (i = 0; i < RUNS; i++)
        if ((rate[i] = pipelined_once(n)) < 0)
            return 1;
    note("floor_pipe_pipelined: %ld 16-byte messages, one write() each, echoed one read()+write() "
         "each by a second process, read back one read() each by a second thread; median of %d",
         n, RUNS);
    emit("floor_pipe_pipelined", median(rate, RUNS), "msgs/s");
    return 0;
}

/* n MiB from a child (its buffer made before the fork, so shared, not faulted again) through one
 * pipe of the default size into a buffer of the parent's that was touched once before: the cost
 * of moving the bytes alone, without first-touch page faults on either side. MiB/s, median of 5
 * after one warm-up. */
static int fig_floor_pipe_64mib(long n, long arg2)
{
    enum { RUNS = 5 };
    size_t size = (size_t)n << 20, got;
    char *src = malloc(size), *dst = malloc(size), go = 'g';
    double t[RUNS], t0, t1, med;
    int a[2] = {-1, -1}, b[2] = {-1, -1}, i, st, r = 1;
    pid_t pid = -1;
    ssize_t k;

    (void)arg2;
    if (src == NULL || dst == NULL || pipe(a) != 0 || pipe(b) != 0) {
        perror("mproc_bench: malloc/pipe");
        goto finish;
    }
    memset(src, 'x', size);
    memset(dst, 0, size);
    pid = fork();
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        while (read_full(a[0], &go, 1) == 0)
            if (write_full(b[1], src, size) != 0)
                break;
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    a[0] = b[1] = -1;
    if (pid < 0)
        goto finish;
    for (i = -1; i < RUNS; i++) {
        dst[0] = dst[size - 1] = 0;
        t0 = now_s();
        if (write_full(a[1], &go, 1) != 0)
            goto finish;
        for (got = 0; got < size; got += (size_t)k) {
            k = read(b[0], dst + got, size - got);
            if (k < 0 && errno == EINTR) {
                k = 0;
                continue;
            }
            if (k <= 0)
                goto finish;
        }
        t1 = now_s();
        if (dst[0] != 'x' || dst[size - 1] != 'x') {
            wrong("floor_pipe_64mib: bytes differ");
            goto finish;
        }
        if (i >= 0)
            t[i] = t1 - t0;
    }
    med = median(t, RUNS);
    note("floor_pipe_64mib: %ld MiB written by a child in one write() loop through a default-size "
         "pipe, read into a warm buffer; median %.1f ms of %d",
         n, med * 1e3, RUNS);
    emit("floor_pipe_64mib", (double)n / med, "MiB/s");
    r = 0;
finish:
    free(dst);
    if (a[1] >= 0)
        close(a[1]);
    if (b[0] >= 0)
        close(b[0]);
    if (a[0] >= 0)
        close(a[0]);
    if (b[1] >= 0)
        close(b[1]);
    if (pid > 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    free(src);
    return r;
}
#endif

/* kib: the item size in KiB; arg2: the number of items (0: 32 MiB worth). */
static int fig_work(long kib, long arg2)
{
    return mproc_bench_fig_work(kib, arg2, WORKERS, now_s);
}

/* ---- the figure table -------------------------------------------------------------------------
 */

#ifndef FORK_CALLS_FIG
    #define FORK_CALLS_FIG NULL
#endif

enum { ANY, POSIX_ONLY, WINDOWS_ONLY };

typedef struct figure {
    const char *name;
    int (*run)(long n, long arg2);
    long n;    /* the default count */
    long arg2; /* the default second argument (imap's chunksize) */
    int where;
    const char *what;
} figure;

#ifdef _WIN32
    #define POSIX_FIG(f) NULL
    #define WIN_FIG(f) f
#else
    #define POSIX_FIG(f) f
    #define WIN_FIG(f) NULL
#endif

static const figure figures[] = {
    {"floor_fork", POSIX_FIG(fig_floor_fork), 200, 0, POSIX_ONLY,
     "us, median: fork + child _exit(0) + waitpid"},
    {"floor_posix_spawn", POSIX_FIG(fig_floor_posix_spawn), 200, 0, POSIX_ONLY,
     "us, median: posix_spawn of this executable with " EXIT_NOW " + waitpid"},
    {"floor_createprocess", WIN_FIG(fig_floor_createprocess), 50, 0, WINDOWS_ONLY,
     "us, median: CreateProcessW of this executable with " EXIT_NOW " + WaitForSingleObject"},
    {"floor_pipe_rtt", fig_floor_pipe_rtt, 20000, 0, ANY,
     "us, median: 16-byte message to an echo process and back through two pipes"},
    {"floor_pipe_pipelined", POSIX_FIG(fig_floor_pipe_pipelined), 200000, 0, POSIX_ONLY,
     "msgs/s: 16-byte messages through an echo process, many in flight"},
    {"floor_pipe_64mib", POSIX_FIG(fig_floor_pipe_64mib), 64, 0, POSIX_ONLY,
     "MiB/s: N MiB from a child through a pipe into a warm buffer (N = the count)"},
    {"process_fork", fig_process_fork, 200, 0, POSIX_ONLY,
     "us, median: mproc process create+start+join, fork"},
    {"process_fork_1cpu", fig_process_fork, 200, 0, POSIX_ONLY,
     "us, median: process_fork, the parent (and so the child) pinned to CPU 0 (Linux)"},
    {"floor_fork_1cpu", POSIX_FIG(fig_floor_fork), 200, 0, POSIX_ONLY,
     "us, median: floor_fork, the parent (and so the child) pinned to CPU 0 (Linux)"},
    {"floor_fork_calls_1cpu", FORK_CALLS_FIG, 200, 0, POSIX_ONLY,
     "us, median: floor_fork_1cpu plus the system calls of mproc's fork start and join (Linux)"},
    {"process_spawn", fig_process_spawn, 200, 0, ANY,
     "us, median: mproc process create+start+join, spawn"},
    {"apply_async", fig_apply_async, 200000, 0, ANY,
     "tasks/s: pool(2) apply_async of a trivial task, all submitted, then close+join"},
    {"apply", fig_apply, 5000, 0, ANY, "us, median: pool(2) apply round trip"},
    {"apply_1cpu", fig_apply, 5000, 0, POSIX_ONLY,
     "us, median: apply, the caller and the workers pinned to CPU 0 (Linux)"},
    {"apply_2cpu", fig_apply, 5000, 0, POSIX_ONLY,
     "us, median: apply, the caller on CPU 0, the workers on CPU 1 (Linux)"},
    {"floor_pipe_rtt_1cpu", fig_floor_pipe_rtt, 20000, 0, POSIX_ONLY,
     "us, median: floor_pipe_rtt, both processes pinned to CPU 0 (Linux)"},
    {"floor_pipe_rtt_2cpu", fig_floor_pipe_rtt, 20000, 0, POSIX_ONLY,
     "us, median: floor_pipe_rtt, the caller on CPU 0, the echo process on CPU 1 (Linux)"},
    {"map_chunk1", fig_map_chunk1, 1000000, 0, ANY, "items/s: pool(2) map, chunksize 1"},
    {"map_auto", fig_map_auto, 1000000, 0, ANY, "items/s: pool(2) map, automatic chunksize"},
    {"pool_lifecycle", fig_pool_lifecycle, 50, 0, ANY,
     "ms, median: pool(2) create -> first apply result -> close+join"},
    {"result_64mib", fig_result_big, 64, 0, ANY,
     "MiB/s: apply of a task returning N MiB (N = the count)"},
    {"arg_64mib", fig_arg_big, 64, 0, ANY,
     "MiB/s: apply of a task given an N-MiB argument (N = the count)"},
    {"floor_memcpy_64mib", fig_floor_memcpy, 64, 0, ANY,
     "MiB/s: malloc + memcpy of N MiB into fresh pages (N = the count)"},
    {"work", fig_work, 1024, 0, ANY,
     "speedup: zlib over N-KiB items, serial vs map, imap, apply_async (second argument: count)"},
    {"imap", fig_imap, 10000000, 1, ANY,
     "items/s + peak RSS: ordered imap over N ints (second argument: chunksize)"},
};

#define NFIGURES (sizeof figures / sizeof figures[0])

static int here(const figure *f)
{
#ifdef _WIN32
    return f->where != POSIX_ONLY;
#else
    return f->where != WINDOWS_ONLY;
#endif
}

static int usage(void)
{
    fprintf(stderr, "usage: mproc_bench list | all | FIGURE [N [CHUNKSIZE]]\n");
    return 2;
}

static int run_all(void)
{
    size_t i;
    int rc, bad = 0;

    note("mproc %s, %d workers per pool, %d CPUs usable", mproc_version(), WORKERS,
         mproc_cpu_count());
    for (i = 0; i < NFIGURES; i++) {
        if (!here(&figures[i])) {
            note("%s: skipped (%s only)", figures[i].name,
                 figures[i].where == POSIX_ONLY ? "POSIX" : "Windows");
            continue;
        }
        /* Each figure in a fresh process: a clean peak RSS, and no earlier figure's heap in the
         * forks. */
        fflush(stdout);
        rc = run_self(figures[i].name);
        if (rc != 0) {
            fprintf(stderr, "mproc_bench: figure %s failed (exit %d)\n", figures[i].name, rc);
            bad = 1;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    const figure *f = NULL;
    long n, arg2;
    size_t i, len;
    char *end;

    /* The floor child: out before anything else, mproc_init included. */
    if (argc > 1 && strcmp(argv[1], EXIT_NOW) == 0)
        return 0;
#ifdef _WIN32
    if (argc > 3 && strcmp(argv[1], "--echo") == 0)
        return echo_main(argv[2], argv[3]);
#endif
    /* The guard: a child mproc spawned does its work in here and never comes back. */
    if (failed(mproc_init(argc, argv), "mproc_init"))
        return 1;
    if (argc > 0 && argv[0] != NULL)
        self_argv0 = argv[0];
    if (argc < 2)
        return usage();

    if (strcmp(argv[1], "list") == 0) {
        for (i = 0; i < NFIGURES; i++)
            printf("%-22s %9ld  %s%s\n", figures[i].name, figures[i].n, figures[i].what,
                   here(&figures[i]) ? "" : " [not on this platform]");
        return 0;
    }
    if (strcmp(argv[1], "all") == 0)
        return run_all();

    for (i = 0; i < NFIGURES; i++)
        if (strcmp(argv[1], figures[i].name) == 0)
            f = &figures[i];
    if (f == NULL)
        return usage();
    n = f->n;
    arg2 = f->arg2;
    if (argc > 2) {
        n = strtol(argv[2], &end, 10);
        if (*end != '\0' || n <= 0)
            return usage();
    }
    if (argc > 3) {
        arg2 = strtol(argv[3], &end, 10);
        if (*end != '\0' || arg2 <= 0)
            return usage();
    }
    if (!here(f)) {
        note("%s: skipped: a %s-only figure", f->name,
             f->where == POSIX_ONLY ? "POSIX" : "Windows");
        return 0;
    }
    /* A pinned figure says so in its name's suffix (pinned_name() gives it back). */
    len = strlen(f->name);
    if (len > 5 && strcmp(f->name + len - 5, "_1cpu") == 0)
        pin_mode = PIN_ONE_CPU;
    else if (len > 5 && strcmp(f->name + len - 5, "_2cpu") == 0)
        pin_mode = PIN_TWO_CPUS;
    return f->run(n, arg2) == 0 ? 0 : 1;
}
