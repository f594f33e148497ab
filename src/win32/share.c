/* The Win32 side of handing objects to a child: duplicating a handle of the library's kind. */
#include "win32.h"

#include "../ipc/share.h"

int mproc__os_handle_dup(mproc__handle h, mproc__handle *out)
{
    HANDLE d = NULL, self = GetCurrentProcess();

    *out = MPROC__INVALID_HANDLE;
    if (h == MPROC__INVALID_HANDLE || h == 0)
        return MPROC_EINVAL;
    /* Not inheritable: only a start that lists it makes it so, for that one call. */
    if (!DuplicateHandle(self, MPROC__H(h), self, &d, 0, FALSE, DUPLICATE_SAME_ACCESS))
        return mproc__sys_error((long)GetLastError());
    *out = MPROC__HV(d);
    return MPROC_OK;
}

long mproc__os_self_pid(void)
{
    return (long)GetCurrentProcessId(); /* read from the thread's block, no system call */
}
