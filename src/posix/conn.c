/* A Pipe's two byte streams on POSIX: two pipes, one each way. */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int mproc__os_conn_pair(mproc__conn *a, mproc__conn *b)
{
    mproc__handle r1, w1, r2, w2;
    int r;

    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->rd = a->wr = b->rd = b->wr = MPROC__INVALID_HANDLE;
    r = mproc__os_pipe(&r1, &w1);
    if (r < 0)
        return r;
    r = mproc__os_pipe(&r2, &w2);
    if (r < 0) {
        mproc__os_close(r1);
        mproc__os_close(w1);
        return r;
    }
    a->rd = r1; /* b writes w1 */
    b->wr = w1;
    b->rd = r2; /* a writes w2 */
    a->wr = w2;
    return MPROC_OK;
}

/* writev until every byte of both pieces is out; *err holds errno on failure. */
static int writev_all(int fd, const void *hdr, size_t hlen, const void *data, size_t len, int *err)
{
    struct iovec iov[2];
    int n = 0;

    if (hlen > 0) {
        iov[n].iov_base = (void *)hdr;
        iov[n++].iov_len = hlen;
    }
    if (len > 0) {
        iov[n].iov_base = (void *)data;
        iov[n++].iov_len = len;
    }
    while (n > 0) {
        ssize_t k = writev(fd, iov, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (mproc__posix_poll_one(fd, POLLOUT, -1) < 0) {
                    *err = errno;
                    return -1;
                }
                continue;
            }
            *err = errno;
            return -1;
        }
        /* Skip what went out; a single writev moves at most SSIZE_MAX bytes. */
        while (k > 0 && n > 0) {
            if ((size_t)k >= iov[0].iov_len) {
                k -= (ssize_t)iov[0].iov_len;
                iov[0] = iov[1];
                n--;
            } else {
                iov[0].iov_base = (char *)iov[0].iov_base + k;
                iov[0].iov_len -= (size_t)k;
                k = 0;
            }
        }
    }
    return 0;
}

int mproc__os_conn_write(mproc__conn *c, const void *hdr, size_t hlen, const void *data, size_t len)
{
    sigset_t pipe_set, old, pending;
    int was_pending = 0, err = 0, r;

    if (c->wr < 0 || c->wr > INT_MAX)
        return MPROC_EINVAL;
    /* SIGPIPE blocked for the write, and the one it raised taken back (see pipe.c). */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    if (sigismember(&old, SIGPIPE) && sigpending(&pending) == 0)
        was_pending = sigismember(&pending, SIGPIPE);
    r = writev_all((int)c->wr, hdr, hlen, data, len, &err);
    if (r != 0 && err == EPIPE && !was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        int sig;
        sigwait(&pipe_set, &sig);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r == 0)
        return MPROC_OK;
    if (err == EPIPE)
        return MPROC_EEND;
    return mproc__sys_error(err);
}

long mproc__os_conn_read(mproc__conn *c, void *buf, size_t cap, long timeout_ms)
{
    if (c->rd < 0 || c->rd > INT_MAX)
        return MPROC_EINVAL;
    if (timeout_ms >= 0) {
        int r = mproc__posix_poll_one((int)c->rd, POLLIN, timeout_ms);
        if (r < 0)
            return r;
        if (r == 0)
            return MPROC_ETIMEDOUT;
    }
    return mproc__os_read(c->rd, buf, cap);
}

int mproc__os_conn_poll(mproc__conn *c, long timeout_ms)
{
    if (c->rd < 0 || c->rd > INT_MAX)
        return MPROC_EINVAL;
    /* POLLHUP (the writer gone) counts: a read would not wait, it gives the end. */
    return mproc__posix_poll_one((int)c->rd, POLLIN, timeout_ms);
}

size_t mproc__os_conn_handles(const mproc__conn *c, mproc__handle *h)
{
    h[0] = c->rd;
    h[1] = c->wr;
    return 2;
}

int mproc__os_conn_adopt(mproc__conn *c, const mproc__handle *h, size_t n)
{
    memset(c, 0, sizeof *c);
    c->rd = c->wr = MPROC__INVALID_HANDLE;
    if (n != 2 || h[0] < 0 || h[0] > INT_MAX || h[1] < 0 || h[1] > INT_MAX || h[0] == h[1])
        return MPROC_EPROTO;
    /* The read side must read and the write side write: a record that swapped them (or named
     * something else) is refused here, not found out at the first call. */
    if ((fcntl((int)h[0], F_GETFL) & O_ACCMODE) == O_WRONLY ||
        (fcntl((int)h[1], F_GETFL) & O_ACCMODE) == O_RDONLY)
        return MPROC_EPROTO;
    c->rd = h[0];
    c->wr = h[1];
    return MPROC_OK;
}

void mproc__os_conn_close(mproc__conn *c, int own)
{
    if (own) {
        mproc__os_close(c->rd);
        mproc__os_close(c->wr);
    }
    c->rd = c->wr = MPROC__INVALID_HANDLE;
}
