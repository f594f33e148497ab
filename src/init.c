/* The guard (mproc_init), the start-method rules and the identity getters. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static int initialized;

int mproc_init(int argc, char **argv)
{
    mproc__handle in, out, extra;

    if (argc < 0 || (argc > 0 && argv == NULL))
        return MPROC_EINVAL;
    if (initialized)
        return MPROC_OK;
    /* Set first: a spawned child's work may start processes of its own. */
    initialized = 1;
    if (argc > 0 && mproc__os_child_args(argc, argv, &in, &out, &extra))
        mproc__child_main(in, out, extra); /* never returns */
    return MPROC_OK;
}

int mproc__initialized(void)
{
    return initialized;
}

int mproc__resolve_method(mproc_start_method m, int *out)
{
    if (m == MPROC_START_DEFAULT) {
        const char *env = getenv("MPROC_START_METHOD");
        if (env != NULL && strcmp(env, "fork") == 0)
            m = MPROC_START_FORK;
        else if (env != NULL && strcmp(env, "spawn") == 0)
            m = MPROC_START_SPAWN;
    }
    if (m != MPROC_START_DEFAULT && m != MPROC_START_FORK && m != MPROC_START_SPAWN)
        return MPROC_EINVAL;
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
