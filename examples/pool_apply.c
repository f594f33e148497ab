/*
 * The seed's section 4, serial: Pool(5) and ten pool.apply() calls of a 1 s task.
 *
 * apply blocks until its task is done, so only one worker is ever busy and the ten tasks take
 * about 10 s, however big the pool.
 */
#include "example_util.h"

#include <stdio.h>

#define NTASKS 10

/* def func1(i): the item i arrives as bytes; this task does not use it. */
static int func1(const void *arg, size_t arg_len, mproc_output *out)
{
    (void)arg;
    (void)arg_len;
    (void)out; /* no result: the caller gets zero bytes */
    ex_sleep_ms(1000);
    printf("run in process: %ld\n", mproc_getpid());
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    mproc_pool *pool;
    double start;
    int i;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its work and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    ex_check(mproc_pool_create(&pool, 5), "mproc_pool_create");
    start = ex_now();
    for (i = 0; i < NTASKS; i++) {
        /* Serial: returns when the task has run. NULL, NULL: we want no result back. */
        ex_check(mproc_pool_apply(pool, func1, &i, sizeof i, NULL, NULL), "mproc_pool_apply");
    }
    ex_check(mproc_pool_close(pool), "mproc_pool_close"); /* close first, then join */
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    printf("main run done,spend_time: %.3f\n", ex_now() - start);
    fflush(stdout);
    mproc_pool_destroy(pool);
    return 0;
}
