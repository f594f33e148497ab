/* Trivial tasks per second through a pool of MPI ranks, and through mproc's fork pool in the same
 * run (scripts/mpi-bench.sh runs it under `mpiexec -n 3` and compares with mpi4py.futures).
 * The method of bench/mproc_bench.c: the task returns its argument, every result is checked, the
 * pool is warmed up before the clock starts, one line per figure: name<TAB>value<TAB>unit.
 *
 *   mpi_bench [N]      N tasks per figure (default 200000)
 */
#define _GNU_SOURCE
#include "mproc_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int echo_task(const void *arg, size_t len, mproc_output *out)
{
    return mproc_output_set(out, arg, len) == MPROC_OK ? 0 : 1;
}

static int value_of(const void *data, size_t len)
{
    int v = -1;
    if (len == sizeof v)
        memcpy(&v, data, sizeof v);
    return v;
}

typedef struct counter {
    long ok, failed;
    long long sum;
} counter;

static void count_cb(void *user, const void *result, size_t len)
{
    counter *c = user;
    c->sum += value_of(result, len);
    c->ok++;
}

static void count_ecb(void *user, const mproc_error *err)
{
    (void)err;
    ((counter *)user)->failed++;
}

static mproc_pool *make_pool(mproc_start_method m, int workers)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    int i, rc;
    memset(&o, 0, sizeof o);
    o.workers = workers;
    o.start_method = m;
    if ((rc = mproc_pool_create_ex(&p, &o)) < 0) {
        fprintf(stderr, "pool: %s\n", mproc_strerror(rc));
        exit(1);
    }
    for (i = 0; i < 200; i++) { /* warm-up */
        void *res;
        size_t len;
        if (mproc_pool_apply(p, echo_task, &i, sizeof i, &res, &len) < 0 || value_of(res, len) != i)
            exit(2);
        mproc_free(res);
    }
    return p;
}

static void fig_apply_async(const char *tag, mproc_start_method m, int workers, long n)
{
    mproc_pool *p = make_pool(m, workers);
    counter c = {0, 0, 0};
    double t0, t1;
    long i;
    t0 = now_s();
    for (i = 0; i < n; i++) {
        int v = (int)i;
        if (mproc_pool_apply_async(p, echo_task, &v, sizeof v, count_cb, count_ecb, &c, NULL) < 0)
            exit(3);
    }
    mproc_pool_close(p);
    mproc_pool_join(p);
    t1 = now_s();
    if (c.ok != n || c.failed != 0 || c.sum != (long long)n * (n - 1) / 2) {
        fprintf(stderr, "apply_async: wrong results\n");
        exit(4);
    }
    printf("%s_apply_async\t%.0f\ttasks/s\n", tag, (double)n / (t1 - t0));
    printf("# %s apply_async: %ld tasks in %.3f s (submit all, close, join)\n", tag, n, t1 - t0);
    fflush(stdout);
    mproc_pool_destroy(p);
}

static void fig_map(const char *tag, mproc_start_method m, int workers, long n, size_t chunksize)
{
    mproc_pool *p = make_pool(m, workers);
    mproc_results *r = NULL;
    int *items = malloc((size_t)n * sizeof *items);
    double t0, t1;
    long i;
    if (items == NULL)
        exit(5);
    for (i = 0; i < n; i++)
        items[i] = (int)i;
    t0 = now_s();
    if (mproc_pool_map(p, echo_task, items, sizeof *items, (size_t)n, chunksize, &r) < 0)
        exit(6);
    t1 = now_s();
    for (i = 0; i < n; i++) {
        const void *d;
        size_t len;
        if (mproc_results_get(r, (size_t)i, &d, &len) != MPROC_OK || value_of(d, len) != i) {
            fprintf(stderr, "map: wrong result %ld\n", i);
            exit(7);
        }
    }
    printf("%s_map_%s\t%.0f\titems/s\n", tag, chunksize ? "chunk1" : "auto", (double)n / (t1 - t0));
    printf("# %s map chunksize %s: %ld items in %.3f s\n", tag, chunksize ? "1" : "auto", n,
           t1 - t0);
    fflush(stdout);
    mproc_results_destroy(r);
    mproc_pool_destroy(p);
    free(items);
}

int main(int argc, char **argv)
{
    long n = 200000;
    int ranks, rc = mproc_mpi_init(&argc, &argv);
    if (rc < 0) {
        fprintf(stderr, "mproc_mpi_init: %s (%s)\n", mproc_strerror(rc), mproc_mpi_last_error());
        return 1;
    }
    if (argc > 1)
        n = atol(argv[1]);
    ranks = mproc_mpi_ranks();
    printf("# %d serving ranks; %ld trivial tasks per figure\n", ranks, n);
    fig_apply_async("mpi", MPROC_START_MPI, 0, n);
    fig_map("mpi", MPROC_START_MPI, 0, n, 1);
    fig_map("mpi", MPROC_START_MPI, 0, n, 0);
    /* The same figures with a fork pool of as many workers, on rank 0 alone. */
    fig_apply_async("fork", MPROC_START_FORK, ranks, n);
    fig_map("fork", MPROC_START_FORK, ranks, n, 1);
    fig_map("fork", MPROC_START_FORK, ranks, n, 0);
    return 0;
}
