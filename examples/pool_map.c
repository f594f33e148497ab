/*
 * Beyond the seed: pool.map and pool.imap_unordered.
 *
 * map applies one task to every item of an array and returns the results in item order;
 * imap hands them out as they come, here in completion order (ordered = 0).
 */
#include "example_util.h"

#include <stdio.h>
#include <string.h>

#define NITEMS 100

/* def square(x): return x * x. The item is an aligned copy, so reading it as an int is fine. */
static int square(const void *arg, size_t arg_len, mproc_output *out)
{
    long x;
    if (arg_len != sizeof(int))
        return 1;
    x = *(const int *)arg;
    x *= x;
    return mproc_output_set(out, &x, sizeof x) == MPROC_OK ? 0 : 1;
}

/* Result bytes carry no alignment promise: copy them out rather than cast the pointer. */
static long as_long(const void *data)
{
    long v;
    memcpy(&v, data, sizeof v);
    return v;
}

int main(int argc, char **argv)
{
    int items[NITEMS];
    mproc_pool *pool;
    mproc_results *res;
    mproc_iter *it;
    const void *data;
    size_t i, len, index, seen = 0;
    long sum = 0;
    int rc;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its work and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    for (i = 0; i < NITEMS; i++)
        items[i] = (int)i;
    ex_check(mproc_pool_create(&pool, 4), "mproc_pool_create");

    /* map(square, range(100)): items travel in chunks (chunksize 0: chosen as Python does). */
    ex_check(mproc_pool_map(pool, square, items, sizeof items[0], NITEMS, 0, &res),
             "mproc_pool_map");
    for (i = 0; i < mproc_results_count(res); i++) {
        ex_check(mproc_results_get(res, i, &data, &len), "mproc_results_get");
        sum += as_long(data);
    }
    mproc_results_destroy(res);
    printf("map: sum of squares of 0..%d = %ld\n", NITEMS - 1, sum);
    fflush(stdout);

    /* imap_unordered over the first ten, one item per chunk: any order, each index once. */
    ex_check(mproc_pool_imap_unordered(pool, square, items, sizeof items[0], 10, 1, &it),
             "mproc_pool_imap_unordered");
    while ((rc = mproc_iter_next(it, MPROC_FOREVER, &index, &data, &len)) != MPROC_EEND) {
        ex_check(rc, "mproc_iter_next");
        printf("imap_unordered: %lu -> %ld\n", (unsigned long)index, as_long(data));
        fflush(stdout);
        seen++;
    }
    mproc_iter_destroy(it); /* items must live until here */
    printf("imap_unordered: %lu results\n", (unsigned long)seen);
    fflush(stdout);

    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    mproc_pool_destroy(pool);
    return 0;
}
