/* mproc_ipc_bench: the Pipe's figures (issue 11) against the OS floor, one line per figure in
 * mproc_bench's format (name<TAB>value<TAB>unit; '#' lines are notes). bench/python_ipc.py takes
 * the same figures with Python's multiprocessing.Pipe.
 *
 *   mproc_ipc_bench floor_pipe_rtt [n]   raw pipes: 16 B to an echo process and back; median us
 *   mproc_ipc_bench pipe_rtt [n]         mproc_pipe: the same through an echo child; median us
 *   mproc_ipc_bench floor_memcpy [mib]   memcpy of N MiB into fresh and into warm memory; MB/s
 *   mproc_ipc_bench pipe_big [mib]       N MiB to a child through mproc_pipe, 1-byte answer; MB/s
 *   mproc_ipc_bench all                  each of them */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include <mproc.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
    #define WIN32_LEAN_AND_MEAN
    #include <windows.h>
#else
    #include <errno.h>
    #include <sys/wait.h>
    #include <unistd.h>
#endif

#define MSG 16

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
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void emit(const char *name, double value, const char *unit)
{
    printf("%s\t%.1f\t%s\n", name, value, unit);
    fflush(stdout);
}

static void note(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* The median of n samples (sorted in place), with p10 and p90 in a note. */
static double summarize(const char *name, double *t, long n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    note("%s: %ld samples, p10 %.1f us, p90 %.1f us", name, n, t[n / 10] * 1e6,
         t[n * 9 / 10] * 1e6);
    return t[n / 2];
}

/* ---- the child: echoes every message of the end it was handed; answers a big one with 1 B ---- */

static int echo_target(const void *arg, size_t len)
{
    mproc_pipe *e = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_pipe(0, &e) != MPROC_OK)
        return 10;
    for (;;) {
        void *d = NULL;
        size_t n = 0;
        int r = mproc_pipe_recv(e, MPROC_FOREVER, &d, &n);
        if (r == MPROC_EEND)
            break;
        if (r != MPROC_OK)
            return 11;
        r = n > 4096 ? mproc_pipe_send(e, d, 1) : mproc_pipe_send(e, d, n);
        mproc_free(d);
        if (r != MPROC_OK)
            return 12;
    }
    mproc_pipe_destroy(e);
    return 0;
}

static int start_echo(mproc_pipe **mine, mproc_process **proc)
{
    mproc_process_options o;
    mproc_shared *list[1];
    mproc_pipe *theirs = NULL;
    int r = mproc_pipe_create(mine, &theirs);
    if (r < 0)
        return r;
    list[0] = mproc_pipe_shared(theirs);
    memset(&o, 0, sizeof o);
    o.target = echo_target;
    o.share = list;
    o.share_count = 1;
    r = mproc_process_create_ex(proc, &o);
    mproc_pipe_destroy(theirs);
    if (r == MPROC_OK)
        r = mproc_process_start(*proc);
    return r;
}

static int stop_echo(mproc_pipe *mine, mproc_process *proc)
{
    int code = -1;
    mproc_pipe_destroy(mine);
    if (mproc_process_join(proc, 60000) != MPROC_OK || mproc_process_exitcode(proc, &code) != 0)
        code = -1;
    mproc_process_destroy(proc);
    return code == 0 ? 0 : 1;
}

static int fig_pipe_rtt(long n)
{
    double *t = malloc((size_t)n * sizeof *t);
    mproc_pipe *a = NULL;
    mproc_process *p = NULL;
    char m[MSG];
    long i;
    int r;

    if (t == NULL || (r = start_echo(&a, &p)) < 0) {
        fprintf(stderr, "pipe_rtt: could not start the echo child\n");
        free(t);
        return 1;
    }
    memset(m, 0, sizeof m);
    for (i = -1000; i < n; i++) {
        void *d = NULL;
        size_t len = 0;
        double t0;
        memcpy(m, &i, sizeof i);
        t0 = now_s();
        if (mproc_pipe_send(a, m, MSG) != MPROC_OK ||
            mproc_pipe_recv(a, MPROC_FOREVER, &d, &len) != MPROC_OK) {
            fprintf(stderr, "pipe_rtt: round trip failed\n");
            free(t);
            return 1;
        }
        if (i >= 0)
            t[i] = now_s() - t0;
        if (len != MSG || memcmp(d, m, MSG) != 0) {
            fprintf(stderr, "pipe_rtt: the echo differs\n");
            free(t);
            return 1;
        }
        mproc_free(d);
    }
    emit("pipe_rtt", summarize("pipe_rtt", t, n) * 1e6, "us");
    free(t);
    return stop_echo(a, p);
}

static int fig_pipe_big(long mib)
{
    size_t n = (size_t)mib << 20;
    unsigned char *b = malloc(n);
    double t[5];
    mproc_pipe *a = NULL;
    mproc_process *p = NULL;
    int k;

    if (b == NULL || start_echo(&a, &p) < 0) {
        fprintf(stderr, "pipe_big: could not start\n");
        return 1;
    }
    memset(b, 0x5C, n);
    /* One warm-up message, then five timed: send, and the child's 1-byte answer once it has
     * the whole message. */
    for (k = -1; k < 5; k++) {
        void *d = NULL;
        size_t len = 0;
        double t0 = now_s();
        if (mproc_pipe_send(a, b, n) != MPROC_OK ||
            mproc_pipe_recv(a, MPROC_FOREVER, &d, &len) != MPROC_OK || len != 1) {
            fprintf(stderr, "pipe_big: failed\n");
            return 1;
        }
        mproc_free(d);
        if (k >= 0)
            t[k] = now_s() - t0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    note("pipe_big: %ld MiB to an echo child through mproc_pipe, its 1-byte answer; 5 runs, "
         "best %.1f ms, median %.1f ms",
         mib, t[0] * 1e3, t[2] * 1e3);
    emit("pipe_64mib", (double)n / t[2] / 1e6, "MB/s");
    free(b);
    return stop_echo(a, p);
}

static int fig_floor_memcpy(long mib)
{
    size_t n = (size_t)mib << 20;
    unsigned char *src = malloc(n), *dst;
    volatile unsigned char sink;
    double fresh[5], warm[5];
    int k;

    if (src == NULL)
        return 1;
    memset(src, 0x5C, n);
    for (k = 0; k < 5; k++) {
        double t0;
        dst = malloc(n);
        if (dst == NULL)
            return 1;
        t0 = now_s();
        memcpy(dst, src, n);
        fresh[k] = now_s() - t0;
        t0 = now_s();
        memcpy(dst, src, n);
        warm[k] = now_s() - t0;
        sink = dst[n / 2];
        (void)sink;
        free(dst);
    }
    qsort(fresh, 5, sizeof fresh[0], cmp_double);
    qsort(warm, 5, sizeof warm[0], cmp_double);
    note("floor_memcpy: %ld MiB, median of 5: into fresh pages (malloc, first touch) %.0f MB/s, "
         "into warm pages %.0f MB/s",
         mib, (double)n / fresh[2] / 1e6, (double)n / warm[2] / 1e6);
    emit("floor_memcpy_64mib_fresh", (double)n / fresh[2] / 1e6, "MB/s");
    emit("floor_memcpy_64mib_warm", (double)n / warm[2] / 1e6, "MB/s");
    free(src);
    return 0;
}

#ifndef _WIN32
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

/* The floor: the same 16 bytes there and back through two raw pipes and a forked echo, one read
 * and one write a side. */
static int fig_floor_pipe_rtt(long n)
{
    double *t = malloc((size_t)n * sizeof *t);
    int a[2], b[2], st;
    char m[MSG], back[MSG];
    pid_t pid;
    long i;

    if (t == NULL || pipe(a) != 0 || pipe(b) != 0)
        return 1;
    pid = fork();
    if (pid == 0) {
        close(a[1]);
        close(b[0]);
        while (read_full(a[0], m, MSG) == 0)
            if (write_full(b[1], m, MSG) != 0)
                break;
        _exit(0);
    }
    close(a[0]);
    close(b[1]);
    memset(m, 0, sizeof m);
    for (i = -1000; i < n; i++) {
        double t0;
        memcpy(m, &i, sizeof i);
        t0 = now_s();
        if (write_full(a[1], m, MSG) != 0 || read_full(b[0], back, MSG) != 0)
            return 1;
        if (i >= 0)
            t[i] = now_s() - t0;
    }
    close(a[1]);
    close(b[0]);
    waitpid(pid, &st, 0);
    emit("floor_pipe_rtt", summarize("floor_pipe_rtt", t, n) * 1e6, "us");
    free(t);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    long n = argc > 2 ? atol(argv[2]) : 0;
    int all = strcmp(what, "all") == 0, r = 0;

    if (mproc_init(argc, argv) != MPROC_OK)
        return 1;
#ifndef _WIN32
    if (all || strcmp(what, "floor_pipe_rtt") == 0)
        r |= fig_floor_pipe_rtt(n > 0 && !all ? n : 20000);
#endif
    if (all || strcmp(what, "pipe_rtt") == 0)
        r |= fig_pipe_rtt(n > 0 && !all ? n : 20000);
    if (all || strcmp(what, "floor_memcpy") == 0)
        r |= fig_floor_memcpy(n > 0 && !all ? n : 64);
    if (all || strcmp(what, "pipe_big") == 0)
        r |= fig_pipe_big(n > 0 && !all ? n : 64);
    return r;
}
