/* A shared library (.so / .dll) that no test links: test_claims loads it at run time (dlopen /
 * LoadLibrary), after its pool's workers exist, to check that a function from a library the
 * parent loaded late is found in every child (a fork worker too). Uses mproc.h for types only. */
#include "mproc.h"

#include <string.h>

#ifdef _WIN32
    #define TESTDYN_API __declspec(dllexport)
#else
    #define TESTDYN_API __attribute__((visibility("default")))
#endif

#define TESTDYN_MAGIC "testdyn-arg"

/* A task that fails on purpose with status 77 when it got TESTDYN_MAGIC (else 1): the status
 * that reaches the parent proves this code ran with its argument. */
TESTDYN_API int testdyn_task(const void *arg, size_t len, mproc_output *out);

/* A process target: exit code 43 with TESTDYN_MAGIC, else 1. */
TESTDYN_API int testdyn_target(const void *arg, size_t len);

int testdyn_task(const void *arg, size_t len, mproc_output *out)
{
    (void)out;
    if (arg == NULL || len != sizeof TESTDYN_MAGIC) {
        return 1;
    }
    return memcmp(arg, TESTDYN_MAGIC, sizeof TESTDYN_MAGIC) == 0 ? 77 : 1;
}

int testdyn_target(const void *arg, size_t len)
{
    if (arg == NULL || len != sizeof TESTDYN_MAGIC) {
        return 1;
    }
    return memcmp(arg, TESTDYN_MAGIC, sizeof TESTDYN_MAGIC) == 0 ? 43 : 1;
}
