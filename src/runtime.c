/* What process.c and the pool ask before they start children (runtime.h): the guard's state and
 * the cascade breaker, the start-method rules, and the identity getters. */
#include "runtime.h"

#include <stdlib.h>

/* mproc_init() has returned (or is running the child's work). */
static int initialized;
/* This process runs the work of a child the library spawned (a forked child inherits it). */
static int child_role;
/* The process's own command line says the library spawned it as a child. Without child_role,
 * its mproc_init() did not run its work: starting anything here would cascade. */
static int marked;

void mproc__runtime_set_initialized(void)
{
    initialized = 1;
}

void mproc__runtime_set_child_role(void)
{
    child_role = 1;
}

void mproc__runtime_set_marked(void)
{
    marked = 1;
}

int mproc__start_allowed(void)
{
    if (!initialized)
        return MPROC_ENOINIT;
    if (marked && !child_role)
        return MPROC_EGUARD;
    return MPROC_OK;
}

/* ASCII case-insensitive equality: "Spawn" and "SPAWN" name spawn, whatever the locale. */
static int same_name(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        if (x != *b)
            return 0;
    }
    return *a == *b;
}

int mproc__method_valid(mproc_start_method m)
{
    return m == MPROC_START_DEFAULT || m == MPROC_START_FORK || m == MPROC_START_SPAWN;
}

int mproc__resolve_method(mproc_start_method m, int *out)
{
    /* MPROC_START_MPI is a pool's only: processes refuse it at create (method_valid). */
    if (!mproc__method_valid(m) && m != MPROC_START_MPI)
        return MPROC_EINVAL;
    if (m == MPROC_START_DEFAULT) {
        /* Unset or empty: no override. Anything else must name a method, as Python's
         * set_start_method raises ValueError for an unknown name: a typo must not quietly run
         * the other start-up path. */
        const char *env = getenv("MPROC_START_METHOD");
        if (env != NULL && *env != '\0') {
            if (same_name(env, "fork"))
                m = MPROC_START_FORK;
            else if (same_name(env, "spawn"))
                m = MPROC_START_SPAWN;
            else if (same_name(env, "mpi"))
                m = MPROC_START_MPI; /* pools; a process takes the OS default (process.c) */
            else
                return MPROC_EINVAL;
        }
    }
    /* The backend refuses fork where there is none (MPROC_ENOTSUP), so the default can simply
     * ask for fork and let the Windows backend's spawn-only rule decide. */
    *out = m == MPROC_START_DEFAULT ? mproc__os_default_method() : (int)m;
    return MPROC_OK;
}

const char *mproc_version(void)
{
    return MPROC_VERSION_STRING;
}

long mproc_getpid(void)
{
    return mproc__os_getpid();
}

long mproc_getppid(void)
{
    return mproc__os_getppid();
}

int mproc_cpu_count(void)
{
    int n = mproc__os_cpu_count();
    return n > 0 ? n : 1;
}
