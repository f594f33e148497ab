/* A shared library (.so / .dll) holding a process target, for the test that a function defined
 * outside the executable runs in a child: under spawn it crosses as (module, offset) and the child
 * loads the library to find it again. Uses mproc.h for the target type only. */
#include "mproc.h"

#include <string.h>

#ifdef _WIN32
    #define TESTLIB_API __declspec(dllexport)
#else
    #define TESTLIB_API __attribute__((visibility("default")))
#endif

#define TESTLIB_MAGIC "testlib-arg"

/* Exits with 42 when it received TESTLIB_MAGIC, else 1: proof that this code ran, with its
 * argument. */
TESTLIB_API int testlib_target(const void *arg, size_t arg_len);

/* The target's address as the library itself sees it. On Windows a caller that takes
 * &testlib_target without dllimport may get an import thunk inside its own executable; this one is
 * certainly inside the DLL. */
TESTLIB_API mproc_target testlib_target_address(void);

int testlib_target(const void *arg, size_t arg_len)
{
    if (arg == NULL || arg_len != sizeof TESTLIB_MAGIC) {
        return 1;
    }
    return memcmp(arg, TESTLIB_MAGIC, sizeof TESTLIB_MAGIC) == 0 ? 42 : 1;
}

mproc_target testlib_target_address(void)
{
    return testlib_target;
}
