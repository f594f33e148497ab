/* The POSIX side of handing objects to a child: duplicating a handle of the library's kind. */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/share.h"

#include <limits.h>
#include <pthread.h>
#include <unistd.h>

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

/* 0 until asked, and again in a fork's child (any fork: the application's own too). */
static volatile long self_pid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void forget_pid(void)
{
    self_pid = 0;
}

static void register_forget(void)
{
    (void)pthread_atfork(NULL, NULL, forget_pid);
}

long mproc__os_self_pid(void)
{
    long pid = self_pid;
    if (pid != 0)
        return pid;
    pthread_once(&self_once, register_forget);
    pid = (long)getpid();
    self_pid = pid;
    return pid;
}
