/*
 * Beyond the seed: what a task's failure looks like, and a worker that crashes.
 *
 * A task fails on purpose with mproc_output_fail: the error callback gets MPROC_ETASK and the
 * message. A task that calls abort() takes its worker down: that task alone fails, with
 * MPROC_EWORKER_LOST and the worker's exit code (-6, -SIGABRT, on Windows too); a new worker
 * takes its place and the pool keeps working. (Python's Pool would hang here forever.)
 */
#include "example_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_config(const void *arg, size_t arg_len, mproc_output *out)
{
    mproc_output_fail(out, "cannot open %.*s", (int)arg_len, (const char *)arg);
    return 2; /* nonzero: failed; the caller sees 2 as the status */
}

static int crash(const void *arg, size_t arg_len, mproc_output *out)
{
    (void)arg;
    (void)arg_len;
    (void)out;
    abort();
}

static int answer(const void *arg, size_t arg_len, mproc_output *out)
{
    int v = 42;
    (void)arg;
    (void)arg_len;
    return mproc_output_set(out, &v, sizeof v) == MPROC_OK ? 0 : 1;
}

/* error_callback: runs in the parent on the pool's thread; err is valid during the call only. */
static void on_error(void *user, const mproc_error *err)
{
    const char *task = user;
    if (err->code == MPROC_EWORKER_LOST)
        printf("%s failed: %s, exit code %d\n", task, mproc_error_name(err->code), err->exitcode);
    else
        printf("%s failed: %s, status %d: %s\n", task, mproc_error_name(err->code), err->status,
               err->message);
    fflush(stdout);
}

static void on_result(void *user, const void *result, size_t result_len)
{
    (void)result;
    printf("%s succeeded with %lu bytes\n", (const char *)user, (unsigned long)result_len);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const char path[] = "settings.ini";
    mproc_pool *pool;
    mproc_async *tasks[2];
    void *result;
    size_t len;
    int i, v;

    /* The guard, the C form of Python's `if __name__ == "__main__":`. A spawned child (always
     * on Windows, which has no fork) runs this same executable again from the top; mproc_init
     * sends it to its work and ends it there, so only the parent gets past this line. */
    ex_check(mproc_init(argc, argv), "mproc_init");

    ex_check(mproc_pool_create(&pool, 2), "mproc_pool_create");
    /* The user pointer stays in the parent (it is never sent), so any pointer is fine there. */
    ex_check(mproc_pool_apply_async(pool, open_config, path, sizeof path - 1, on_result, on_error,
                                    "open_config", &tasks[0]),
             "mproc_pool_apply_async");
    ex_check(mproc_pool_apply_async(pool, crash, NULL, 0, on_result, on_error, "crash", &tasks[1]),
             "mproc_pool_apply_async");

    /* The handles let us wait for both; a failed task's code also comes back from get. */
    for (i = 0; i < 2; i++) {
        printf("task %d: %s\n", i,
               mproc_error_name(mproc_async_get(tasks[i], MPROC_FOREVER, NULL, NULL)));
        fflush(stdout);
        mproc_async_release(tasks[i]);
    }

    /* One worker is gone and has been replaced: the pool still takes work. */
    ex_check(mproc_pool_apply(pool, answer, NULL, 0, &result, &len), "mproc_pool_apply");
    if (len == sizeof v) {
        memcpy(&v, result, sizeof v); /* copy: result bytes carry no alignment promise */
        printf("the pool still works: answer %d\n", v);
        fflush(stdout);
    }
    mproc_free(result); /* apply's result is ours, freed with mproc_free */

    ex_check(mproc_pool_close(pool), "mproc_pool_close");
    ex_check(mproc_pool_join(pool), "mproc_pool_join");
    mproc_pool_destroy(pool);
    return 0;
}
