/* What the Win32 backend does when the caller leaves a choice to it. */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include "../backend.h"

int mproc__os_default_method(void)
{
    /* Windows has no fork: every child is a fresh run of the executable. */
    return MPROC_START_SPAWN;
}

void mproc__os_worker_signals(void)
{
    /* Windows has no SIGPIPE: a write to a closed pipe fails with ERROR_NO_DATA. */
}
