/*
 * The consumer test's program: the smallest real use of an installed mproc. It passes the guard,
 * runs one task in a pool of two workers and prints one line that run_consumer.cmake checks:
 *
 *   mproc-consumer: library 0.1.0, header 0.1.0, square(7) = 49 in a worker
 *
 * It is built twice: by tests/consumer/CMakeLists.txt (find_package) and as one file with the
 * flags of `pkg-config --cflags --libs mproc`.
 */
#include <mproc.h>

#include <stdio.h>
#include <string.h>

/* Runs in a worker: the argument and the result are bytes, copied across. */
static int square(const void *arg, size_t len, mproc_output *out)
{
    long v;
    if (len != sizeof v) {
        mproc_output_fail(out, "expected a long, got %lu bytes", (unsigned long)len);
        return 1;
    }
    memcpy(&v, arg, sizeof v);
    v *= v;
    return mproc_output_set(out, &v, sizeof v) == MPROC_OK ? 0 : 1;
}

static int failed(const char *what, int rc)
{
    fprintf(stderr, "mproc-consumer: %s: %s (%s)\n", what, mproc_strerror(rc),
            mproc_error_name(rc));
    return 1;
}

int main(int argc, char **argv)
{
    mproc_pool *pool = NULL;
    void *result = NULL;
    size_t result_len = 0;
    long x = 7, y;
    int rc;

    /* The guard: a spawned worker does its work in here and never returns. */
    rc = mproc_init(argc, argv);
    if (rc != MPROC_OK)
        return failed("mproc_init", rc);

    rc = mproc_pool_create(&pool, 2);
    if (rc != MPROC_OK)
        return failed("mproc_pool_create", rc);
    rc = mproc_pool_apply(pool, square, &x, sizeof x, &result, &result_len);
    if (rc != MPROC_OK) {
        mproc_pool_destroy(pool);
        return failed("mproc_pool_apply", rc);
    }
    if (result_len != sizeof y) {
        fprintf(stderr, "mproc-consumer: a result of %lu bytes\n", (unsigned long)result_len);
        mproc_free(result);
        mproc_pool_destroy(pool);
        return 1;
    }
    memcpy(&y, result, sizeof y);
    mproc_free(result);

    rc = mproc_pool_close(pool);
    if (rc == MPROC_OK)
        rc = mproc_pool_join(pool);
    mproc_pool_destroy(pool);
    if (rc != MPROC_OK)
        return failed("close and join", rc);

    printf("mproc-consumer: library %s, header %s, square(%ld) = %ld in a worker\n",
           mproc_version(), MPROC_VERSION_STRING, x, y);
    fflush(stdout);
    return 0;
}
