/* The library's one allocator pair, so a test can make the n-th allocation fail. */
#include "backend.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* Only tests set it. It counts every allocation of the process, the pool thread's included.
 * Atomic, so a test that sets it while the pool thread allocates is no data race (ThreadSanitizer
 * reported one); which allocation of two racing threads fails is still a matter of timing, and
 * either is an allocation failure the library must survive (tests/test_alloc.c). */
static volatile uint32_t fail_countdown;

static int should_fail(void)
{
    for (;;) {
        uint32_t c = mproc__os_load(&fail_countdown);
        if (c == 0)
            return 0;
        if (mproc__os_cas(&fail_countdown, c, c - 1) == c)
            return c == 1;
    }
}

long mproc__alloc_fail_after(long n)
{
    uint32_t want = n <= 0 ? 0 : (unsigned long)n >= UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    for (;;) {
        uint32_t c = mproc__os_load(&fail_countdown);
        if (mproc__os_cas(&fail_countdown, c, want) == c)
            return (long)c;
    }
}

void *mproc__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *mproc__calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *mproc__realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *mproc__grow(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
    size_t n = *cap ? *cap : first;
    void *q;

    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > SIZE_MAX / size)
        return NULL;
    q = mproc__realloc(p, n * size);
    if (q != NULL)
        *cap = n;
    return q;
}

void mproc__free(void *p)
{
    free(p);
}

char *mproc__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = mproc__malloc(n);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

void mproc_free(void *ptr)
{
    mproc__free(ptr);
}
