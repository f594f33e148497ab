/*
 * The seed's section 4, callback: Pool(5), ten apply_async() calls, and a callback `log` that
 * the parent runs with each task's result ("filename") as each task ends. About 2 s.
 */
#include "example_util.h"

#include <stdio.h>

#define NTASKS 10

/* def func1(i): ... return "filename". A task's result is bytes it hands to mproc_output_set. */
static int func1(const void *arg, size_t arg_len, mproc_output *out)
{
    static const char result[] = "filename";
    (void)arg;
    (void)arg_len;
    ex_sleep_ms(1000);
    printf("run in process: %ld\n", mproc_getpid());
    fflush(stdout);
    return mproc_output_set(out, result, sizeof result - 1) == MPROC_OK ? 0 : 1;
}

/* def log(arg): runs in the parent, on the pool's own thread, one call at a time. The bytes are
 * valid during the call only: copy them to keep them. */
static void log_done(void *user, const void *result, size_t result_len)
{
    (void)user;
    printf("log done : %.*s\n", (int)result_len, (const char *)result);
    fflush(stdout);
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
        /* callback=log; no error callback, no user pointer, no handle. */
        ex_check(mproc_pool_apply_async(pool, func1, &i, sizeof i, log_done, NULL, NULL, NULL),
                 "mproc_pool_apply_async");
    }
    /* close first, then join: join returns once every task and its callback have run. */
    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    printf("main run done,spend_time: %.3f\n", ex_now() - start);
    fflush(stdout);
    mproc_pool_destroy(pool);
    return 0;
}
