/* The MPI runs that are not a cmocka suite (tests/mpi/run.sh checks what they print and how
 * they end):
 *   mpi_probe init          every rank prints its mproc_mpi_init() outcome (the build check:
 *                           mpi_probe_b is this file built with another variant, so another
 *                           build id)
 *   mpi_probe kill HOW [MARK]  a task kills its rank mid-task; rank 0 waits for the outcome.
 *                           HOW "return": MPI_ERRORS_RETURN on MPI_COMM_WORLD first, else
 *                           the default handler; MARK names the run's processes (run.sh)
 *   mpi_probe dynamic       a singleton: the pool spawns its 2 ranks (MPI_Comm_spawn)
 *   mpi_probe hosts N       map N items; print which network namespace each answer came from
 */
#define _GNU_SOURCE
#include "mproc_mpi.h"

#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef PROBE_VARIANT
    #define PROBE_VARIANT 1
#endif

/* Code that differs between the two variants, so their build ids do. */
static volatile int variant = PROBE_VARIANT * 1000 + 7;

static void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Kills the rank whose fork this worker is, then waits to be killed with it. */
static int kill_rank(const void *arg, size_t len, mproc_output *out)
{
    (void)arg;
    (void)len;
    (void)out;
    kill(getppid(), SIGKILL);
    sleep_ms(30000);
    return 0;
}

/* The rank and the network namespace (its inode) the worker runs in. */
static int where(const void *arg, size_t len, mproc_output *out)
{
    char buf[128], link[96];
    ssize_t n = readlink("/proc/self/ns/net", link, sizeof link - 1);
    (void)arg;
    (void)len;
    link[n > 0 ? n : 0] = '\0';
    snprintf(buf, sizeof buf, "rank %d %s", mproc_mpi_rank(), link);
    return mproc_output_set(out, buf, strlen(buf) + 1) == MPROC_OK ? 0 : 1;
}

static mproc_pool *pool(int workers)
{
    mproc_pool_options o;
    mproc_pool *p = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    o.workers = workers;
    o.start_method = MPROC_START_MPI;
    rc = mproc_pool_create_ex(&p, &o);
    if (rc < 0) {
        printf("pool: %s (%s)\n", mproc_error_name(rc), mproc_mpi_last_error());
        exit(3);
    }
    return p;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "init";
    int rc;

    if (strcmp(mode, "kill") == 0 && argc > 2 && strcmp(argv[2], "return") == 0) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    rc = mproc_mpi_init(&argc, &argv);
    if (strcmp(mode, "init") == 0) {
        printf("variant %d: mproc_mpi_init: %s%s%s\n", variant / 1000, mproc_error_name(rc),
               rc < 0 ? ": " : "", rc < 0 ? mproc_mpi_last_error() : "");
        fflush(stdout);
        /* 0 either way: a rank that exits nonzero has mpiexec kill the others before they print
         * (a real program would return 1: every rank has finalized MPI by then). */
        return 0;
    }
    if (rc < 0) {
        printf("mproc_mpi_init: %s (%s)\n", mproc_error_name(rc), mproc_mpi_last_error());
        return 1;
    }
    if (strcmp(mode, "kill") == 0) {
        mproc_pool *p = pool(0);
        mproc_async *a = NULL;
        const mproc_error *e;
        mproc_pool_apply_async(p, kill_rank, NULL, 0, NULL, NULL, NULL, &a);
        rc = mproc_async_wait(a, 60000);
        e = mproc_async_error(a);
        printf("rank 0 lived on: wait %s, task %s\n", mproc_error_name(rc),
               e ? mproc_error_name(e->code) : "ok");
        fflush(stdout);
        mproc_pool_terminate(p);
        mproc_async_release(a);
        mproc_pool_destroy(p);
        return 2;
    }
    if (strcmp(mode, "dynamic") == 0 || strcmp(mode, "hosts") == 0) {
        size_t n = argc > 2 ? (size_t)atol(argv[2]) : 20, i;
        int *xs = calloc(n, sizeof *xs);
        mproc_pool *p = pool(strcmp(mode, "dynamic") == 0 ? 2 : 0);
        mproc_results *r = NULL;
        if (xs == NULL || (rc = mproc_pool_map(p, where, xs, sizeof *xs, n, 1, &r)) < 0) {
            printf("map: %s\n", mproc_error_name(rc));
            return 5;
        }
        printf("ranks: %d\n", mproc_mpi_ranks());
        for (i = 0; i < mproc_results_count(r); i++) {
            const void *d;
            size_t len;
            if (mproc_results_get(r, i, &d, &len) == MPROC_OK)
                printf("answer: %s\n", (const char *)d);
            else
                printf("answer: failed\n");
        }
        mproc_results_destroy(r);
        mproc_pool_close(p);
        mproc_pool_join(p);
        mproc_pool_destroy(p);
        free(xs);
        return 0;
    }
    return 6;
}
