/* A Pipe's two byte streams on POSIX: two pipes, one each way.
 *
 * No send may raise SIGPIPE, and blocking it around each write would cost two system calls a
 * send. Instead each end also holds a read end of the pipe it writes into (its guard): that
 * pipe always has a reader, so a write into it never fails with EPIPE, and the kernel never
 * raises SIGPIPE. Whether the other end is gone is asked of the pipe it reads from, which hangs
 * up once no process holds the other end's write side (an end's two sides travel and close
 * together): checked before each write, and while a write waits for room (the writes are
 * non-blocking, so a write into a dead end's full pipe never waits forever). */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
    #include <linux/futex.h>
    #include <sys/syscall.h>
#endif

/* A body at least this long widens the pipe it goes into (once, for good), and on Linux most
 * of it is spliced (below). On Linux the Pipe sends such bodies through its shared ring
 * (src/ipc/pipe_ring.h) instead, so this path serves a pair made without one. */
#define BIG_WRITE ((size_t)256 * 1024)
/* Widened to this (Linux's default most, /proc/sys/fs/pipe-max-size). */
#define WIDE_PIPE (1 << 20)
/* The most one read takes: a quarter of a widened pipe, so that the sender refills the pipe
 * while the rest of it is read (a read of all of it would empty the pipe before the sender
 * wakes, and the two would take turns instead of working at once). */
#define READ_MAX ((size_t)256 * 1024)

/* A non-blocking write side (its open file, which every holder shares). */
static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return mproc__sys_error(errno);
    return MPROC_OK;
}

int mproc__os_conn_pair(mproc__conn *a, mproc__conn *b)
{
    mproc__handle r1 = MPROC__INVALID_HANDLE, w1 = MPROC__INVALID_HANDLE;
    mproc__handle r2 = MPROC__INVALID_HANDLE, w2 = MPROC__INVALID_HANDLE;
    int g1 = -1, g2 = -1;
    int r;

    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->rd = a->wr = a->guard = b->rd = b->wr = b->guard = MPROC__INVALID_HANDLE;
    r = mproc__os_pipe(&r1, &w1);
    if (r == MPROC_OK)
        r = mproc__os_pipe(&r2, &w2);
    if (r == MPROC_OK)
        r = mproc__posix_dup((int)r1, &g1);
    if (r == MPROC_OK)
        r = mproc__posix_dup((int)r2, &g2);
    if (r == MPROC_OK)
        r = set_nonblock((int)w1);
    if (r == MPROC_OK)
        r = set_nonblock((int)w2);
    if (r < 0) {
        mproc__os_close(r1);
        mproc__os_close(w1);
        mproc__os_close(r2);
        mproc__os_close(w2);
        mproc__os_close(g1);
        mproc__os_close(g2);
        return r;
    }
    a->rd = r1; /* b writes w1 */
    b->wr = w1;
    b->guard = g1;
    b->rd = r2; /* a writes w2 */
    a->wr = w2;
    a->guard = g2;
    return MPROC_OK;
}

/* 1 when the other end is gone: the pipe this end reads from has hung up (no writer left).
 * Bytes still in it do not count: nobody is left to read what we would send. */
static int peer_gone(int rd, long timeout_ms, int wr)
{
    struct pollfd pfd[2];
    int n, k;
    uint64_t deadline = timeout_ms > 0 ? mproc__os_now_ms() + (uint64_t)timeout_ms : 0;

    for (;;) {
        long t = timeout_ms;
        pfd[0].fd = rd;
        pfd[0].events = 0; /* a hang-up is always reported */
        pfd[0].revents = 0;
        pfd[1].fd = wr;
        pfd[1].events = POLLOUT;
        pfd[1].revents = 0;
        n = wr >= 0 ? 2 : 1;
        if (timeout_ms > 0) {
            uint64_t now = mproc__os_now_ms();
            t = now >= deadline ? 0 : (long)(deadline - now);
        }
        k = poll(pfd, (nfds_t)n, t > INT_MAX ? INT_MAX : (int)t);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return mproc__sys_error(errno);
        return (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
    }
}

/* After a write to fd failed: 0 to try again (interrupted, or room came), or a code:
 * MPROC_EEND once the other end (rd's peer) is gone. */
static int after_failed_write(int fd, int rd)
{
    int r;
    if (errno == EINTR)
        return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return mproc__sys_error(errno);
    /* Full: wait for room, or for the other end to go. */
    r = peer_gone(rd, -1, fd);
    if (r < 0)
        return r;
    return r > 0 ? MPROC_EEND : 0;
}

/* writev until every byte of both pieces is out: MPROC_OK, MPROC_EEND once the other end is
 * gone, or a code. */
static int writev_all(int fd, int rd, const void *hdr, size_t hlen, const void *data, size_t len)
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
        ssize_t k = n == 1 ? write(fd, iov[0].iov_base, iov[0].iov_len) : writev(fd, iov, n);
        if (k < 0) {
            int r = after_failed_write(fd, rd);
            if (r < 0)
                return r;
            continue;
        }
        /* Skip what went out. */
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
    return MPROC_OK;
}

#if defined(__linux__) && defined(SPLICE_F_NONBLOCK) && defined(F_GETPIPE_SZ)
    #define HAVE_VMSPLICE 1

/* Hands len bytes at data to the pipe by reference (vmsplice: the reader copies them straight
 * out of the sender's pages, one copy instead of two): MPROC_OK, MPROC_EEND once the other end
 * is gone, MPROC_ENOTSUP where the kernel refuses it before any byte went, or a code. */
static int splice_all(int fd, int rd, const unsigned char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        struct iovec iov;
        ssize_t k;
        iov.iov_base = (void *)(data + done);
        iov.iov_len = len - done;
        k = vmsplice(fd, &iov, 1, SPLICE_F_NONBLOCK);
        if (k < 0) {
            int r;
            if ((errno == ENOSYS || errno == EINVAL || errno == EPERM) && done == 0)
                return MPROC_ENOTSUP;
            r = after_failed_write(fd, rd);
            if (r < 0)
                return r;
            continue;
        }
        done += (size_t)k;
    }
    return MPROC_OK;
}
#endif

/* A big body: the pipe widened, then (Linux) all of it but its tail spliced and the tail
 * written. The spliced pages are the caller's, whose buffer is its own again once send returns,
 * so none of them may still be in the pipe then: the tail is at least as long as the pipe
 * holds, so by the time its last byte is in, the reader has taken every spliced page. (A peer
 * that widens the pipe itself in the middle of a send could still see the caller's later
 * writes to the buffer: only the receiving peer, so only its own message.) */
static int write_big(mproc__conn *c, const void *hdr, size_t hlen, const unsigned char *data,
                     size_t len)
{
    int fd = (int)c->wr, rd = (int)c->rd;

    if (!c->wide) {
        c->wide = 1;
#ifdef F_SETPIPE_SZ
        (void)fcntl(fd, F_SETPIPE_SZ, WIDE_PIPE); /* a limit in the way: the default size */
#endif
    }
#ifdef HAVE_VMSPLICE
    {
        long cap = c->wide > 0 ? fcntl(fd, F_GETPIPE_SZ) : -1;
        if (cap > 0 && len > 2 * (size_t)cap) {
            size_t tail = (size_t)cap;
            int r = writev_all(fd, rd, hdr, hlen, NULL, 0); /* a copy: hdr is on the stack */
            if (r < 0)
                return r;
            r = splice_all(fd, rd, data, len - tail);
            if (r == MPROC_ENOTSUP) {
                c->wide = -1; /* not here: plain writes from now on */
                return writev_all(fd, rd, NULL, 0, data, len);
            }
            if (r < 0)
                return r;
            return writev_all(fd, rd, NULL, 0, data + len - tail, tail);
        }
    }
#endif
    return writev_all(fd, rd, hdr, hlen, data, len);
}

int mproc__os_conn_write(mproc__conn *c, const void *hdr, size_t hlen, const void *data, size_t len)
{
    int r;
    if (c->wr < 0 || c->wr > INT_MAX || c->rd < 0 || c->rd > INT_MAX)
        return MPROC_EINVAL;
    r = peer_gone((int)c->rd, 0, -1);
    if (r != 0)
        return r < 0 ? r : MPROC_EEND;
    if (len >= BIG_WRITE)
        return write_big(c, hdr, hlen, data, len);
    /* A small message is copied into one piece: write is a little cheaper than writev. */
    if (hlen + len <= 512) {
        unsigned char one[512];
        memcpy(one, hdr, hlen);
        if (len > 0)
            memcpy(one + hlen, data, len);
        return writev_all((int)c->wr, (int)c->rd, one, hlen + len, NULL, 0);
    }
    return writev_all((int)c->wr, (int)c->rd, hdr, hlen, data, len);
}

int mproc__os_conn_ring_works(void)
{
#if defined(__linux__) && defined(SYS_futex)
    return 1;
#else
    return 0;
#endif
}

void mproc__os_conn_ring_wait(volatile uint32_t *p, uint32_t seen, long ms)
{
#if defined(__linux__) && defined(SYS_futex)
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    /* Shared futex (no FUTEX_PRIVATE_FLAG): the word is in a MAP_SHARED file mapping, keyed by
     * file and offset, the same in every process. EAGAIN, EINTR, ETIMEDOUT: the caller looks. */
    (void)syscall(SYS_futex, p, FUTEX_WAIT, seen, &ts, NULL, 0);
#else
    (void)p;
    (void)seen;
    mproc__os_sleep_ms(ms > 1 ? 1 : ms);
#endif
}

int mproc__os_conn_peer_gone(mproc__conn *c)
{
    if (c->rd < 0 || c->rd > INT_MAX)
        return MPROC_EINVAL;
    return peer_gone((int)c->rd, 0, -1);
}

int mproc__os_conn_try_write(mproc__conn *c, const void *buf, size_t len)
{
    if (c->wr < 0 || c->wr > INT_MAX || len > 512)
        return MPROC_EINVAL;
    for (;;) {
        /* At most PIPE_BUF bytes go in whole or not at all; the side is non-blocking. */
        ssize_t k = write((int)c->wr, buf, len);
        if (k >= 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            return MPROC_OK;
        if (errno != EINTR)
            return mproc__sys_error(errno);
    }
}

void mproc__os_conn_big_buffer(void *p, size_t len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* The whole pages the buffer touches, not only its 2 MiB-aligned middle: advice on part of
     * a mapping splits it in three, and a mapping in pieces cannot grow in place (mremap), so
     * realloc would copy it. malloc's big blocks are mappings of their own. */
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(page - 1), b = ((uintptr_t)p + len + page - 1) & ~(page - 1);
    if (len >= ((size_t)2 << 20) && page > 0 && (page & (page - 1)) == 0)
        (void)madvise((void *)a, (size_t)(b - a), MADV_HUGEPAGE); /* a hint: failure is fine */
#else
    (void)p;
    (void)len;
#endif
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
    return mproc__os_read(c->rd, buf, cap > READ_MAX ? READ_MAX : cap);
}

mproc__handle mproc__os_conn_wait_handle(const mproc__conn *c)
{
    return c->rd;
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
    h[2] = c->guard;
    return 3;
}

int mproc__os_conn_adopt(mproc__conn *c, const mproc__handle *h, size_t n)
{
    size_t i;
    memset(c, 0, sizeof *c);
    c->rd = c->wr = c->guard = MPROC__INVALID_HANDLE;
    if (n != 3)
        return MPROC_EPROTO;
    for (i = 0; i < 3; i++)
        if (h[i] < 0 || h[i] > INT_MAX)
            return MPROC_EPROTO;
    /* The sides must read and write as their names say, and the write side must not block: a
     * record that swapped them (or named something else) is refused here, not found out at
     * the first call. */
    if ((fcntl((int)h[0], F_GETFL) & O_ACCMODE) != O_RDONLY ||
        (fcntl((int)h[1], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_WRONLY | O_NONBLOCK) ||
        (fcntl((int)h[2], F_GETFL) & O_ACCMODE) != O_RDONLY)
        return MPROC_EPROTO;
    c->rd = h[0];
    c->wr = h[1];
    c->guard = h[2];
    return MPROC_OK;
}

void mproc__os_conn_close(mproc__conn *c, int own)
{
    if (own) {
        mproc__os_close(c->rd);
        mproc__os_close(c->wr);
        mproc__os_close(c->guard);
    }
    c->rd = c->wr = c->guard = MPROC__INVALID_HANDLE;
}
