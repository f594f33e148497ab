/*
 * The pool example (pool_map.c) over the ranks of an MPI job: map and imap_unordered, each item
 * squared on whichever rank its worker lives on.
 *
 *   mpiexec -n 3 ./mpi_map                 (as root: --allow-run-as-root; more ranks than
 *                                            cores: --oversubscribe)
 *
 * Rank 0 runs main; ranks 1 and 2 serve tasks inside mproc_mpi_init and never return from it.
 */
#include "example_util.h"

#include <mproc_mpi.h>

#include <stdio.h>
#include <string.h>

#define NITEMS 100

/* The answer carries the square and the rank that computed it. */
static int square(const void *arg, size_t len, mproc_output *out)
{
    long r[2];
    if (len != sizeof(int))
        return 1;
    r[0] = (long)*(const int *)arg * *(const int *)arg;
    r[1] = mproc_mpi_rank(); /* a worker is a fork of its rank: it knows the rank's number */
    return mproc_output_set(out, r, sizeof r) == MPROC_OK ? 0 : 1;
}

static long field(const void *data, int i)
{
    long v[2];
    memcpy(v, data, sizeof v);
    return v[i];
}

int main(int argc, char **argv)
{
    int items[NITEMS];
    mproc_pool_options o;
    mproc_pool *pool;
    mproc_results *res;
    mproc_iter *it;
    const void *data;
    size_t i, len, index, seen = 0;
    long sum = 0, ranks_seen = 0;
    int rc;

    /* Instead of mproc_init: MPI, the build check, and the serving ranks' work. */
    rc = mproc_mpi_init(&argc, &argv);
    if (rc < 0) {
        fprintf(stderr, "mproc_mpi_init: %s (%s)\n", mproc_strerror(rc), mproc_mpi_last_error());
        return 1;
    }

    for (i = 0; i < NITEMS; i++)
        items[i] = (int)i;
    memset(&o, 0, sizeof o);
    o.start_method = MPROC_START_MPI; /* workers 0: one on every other rank */
    ex_check(mproc_pool_create_ex(&pool, &o), "mproc_pool_create_ex");

    ex_check(mproc_pool_map(pool, square, items, sizeof items[0], NITEMS, 0, &res),
             "mproc_pool_map");
    for (i = 0; i < mproc_results_count(res); i++) {
        ex_check(mproc_results_get(res, i, &data, &len), "mproc_results_get");
        sum += field(data, 0);
        if (field(data, 1) >= 1 && field(data, 1) < 64)
            ranks_seen |= 1L << field(data, 1);
    }
    mproc_results_destroy(res);
    printf("map: sum of squares of 0..%d = %ld\n", NITEMS - 1, sum);
    fflush(stdout);

    ex_check(mproc_pool_imap_unordered(pool, square, items, sizeof items[0], 10, 1, &it),
             "mproc_pool_imap_unordered");
    while ((rc = mproc_iter_next(it, MPROC_FOREVER, &index, &data, &len)) != MPROC_EEND) {
        ex_check(rc, "mproc_iter_next");
        printf("imap_unordered: %lu -> %ld\n", (unsigned long)index, field(data, 0));
        fflush(stdout);
        seen++;
    }
    mproc_iter_destroy(it);
    printf("imap_unordered: %lu results\n", (unsigned long)seen);
    for (i = 1; i < 64; i++)
        if (ranks_seen & (1L << i))
            printf("map: rank %lu served\n", (unsigned long)i);
    fflush(stdout);

    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    mproc_pool_destroy(pool);
    return 0; /* at exit, rank 0 ends the other ranks and finalizes MPI */
}
