/*
 * The seed's section 4, parallel: Pool(5) and ten pool.apply_async() calls of a 1 s task.
 *
 * apply_async returns at once, so five workers take the ten tasks two rounds at a time: about
 * 2 s ("2.6, which proves it is parallel", says the seed).
 */
#include "example_util.h"

#include <stdio.h>

#define NTASKS 10

/* def func1(i): the item i arrives as bytes; this task does not use it. */
static int func1(const void *arg, size_t arg_len, mproc_output *out)
{
    (void)arg;
    (void)arg_len;
    (void)out;
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
        /* Parallel: i is copied now, so the loop may change it at once. No callbacks, and no
         * handle (out = NULL): pool_join below is how we wait. */
        ex_check(mproc_pool_apply_async(pool, func1, &i, sizeof i, NULL, NULL, NULL, NULL),
                 "mproc_pool_apply_async");
    }
    /* close stops new tasks from entering; join waits for those already inside. */
    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    printf("main run done,spend_time: %.3f\n", ex_now() - start);
    fflush(stdout);
    mproc_pool_destroy(pool);
    return 0;
}
