/* Anonymous pipes: one-way, blocking, never inherited (only mproc__os_spawn hands one over). */
#include "win32.h"

#include <assert.h>

/* Bigger than the default (one page): a task or result of a few KiB goes in one write. */
#define PIPE_BUFFER_HINT 65536
/* One WriteFile at most this much, so a huge message never asks the kernel for one huge
 * non-paged buffer. */
#define WRITE_CHUNK (1u << 20)
#define READ_CHUNK (1u << 30)

int mproc__os_pipe(mproc__handle *rd, mproc__handle *wr)
{
    SECURITY_ATTRIBUTES sa;
    HANDLE r, w;
    assert(rd != NULL && wr != NULL);

    *rd = *wr = MPROC__INVALID_HANDLE;
    sa.nLength = sizeof sa;
    sa.lpSecurityDescriptor = NULL;
    sa.bInheritHandle = FALSE;
    if (!CreatePipe(&r, &w, &sa, PIPE_BUFFER_HINT))
        return mproc__sys_error((long)GetLastError());
    *rd = MPROC__HV(r);
    *wr = MPROC__HV(w);
    return MPROC_OK;
}

/* The errors that mean "the other end is gone": end of file for a reader. */
static int is_eof_error(DWORD err)
{
    return err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA || err == ERROR_HANDLE_EOF ||
           err == ERROR_PIPE_NOT_CONNECTED;
}

long mproc__os_read(mproc__handle h, void *buf, size_t cap)
{
    DWORD want = cap > READ_CHUNK ? READ_CHUNK : (DWORD)cap;
    if (cap == 0)
        return 0;
    for (;;) {
        DWORD got = 0;
        if (!ReadFile(MPROC__H(h), buf, want, &got, NULL)) {
            DWORD err = GetLastError();
            if (is_eof_error(err))
                return 0;
            return mproc__sys_error((long)err);
        }
        if (got > 0)
            return (long)got;
        /* A writer's zero-byte WriteFile completes a pipe read with 0 bytes: not the end. */
        if (GetFileType(MPROC__H(h)) != FILE_TYPE_PIPE)
            return 0;
    }
}

int mproc__os_write_all(mproc__handle h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        DWORD put = 0, n = len > WRITE_CHUNK ? WRITE_CHUNK : (DWORD)len;
        if (!WriteFile(MPROC__H(h), p, n, &put, NULL))
            return mproc__sys_error((long)GetLastError());
        if (put == 0)
            return mproc__sys_error(ERROR_WRITE_FAULT);
        p += put;
        len -= put;
    }
    return MPROC_OK;
}

void mproc__os_close(mproc__handle h)
{
    if (h != MPROC__INVALID_HANDLE && h != 0) {
        DWORD saved = GetLastError();
        CloseHandle(MPROC__H(h));
        SetLastError(saved);
    }
}
