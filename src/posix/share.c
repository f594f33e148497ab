/* The POSIX side of handing objects to a child: duplicating a handle of the library's kind. */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/share.h"

#include <limits.h>

int mproc__os_handle_dup(mproc__handle h, mproc__handle *out)
{
    int fd = -1, r;

    *out = MPROC__INVALID_HANDLE;
    if (h < 0 || h > INT_MAX)
        return MPROC_EINVAL;
    r = mproc__posix_dup((int)h, &fd);
    if (r == MPROC_OK)
        *out = fd;
    return r;
}

/* The pid os.c keeps (forgotten in a fork's child): a second cache here cost every fork child
 * one more page written (a copy-on-write fault) in its own fork handler. */
long mproc__os_self_pid(void)
{
    return mproc__os_getpid();
}
