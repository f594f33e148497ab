/* Pipes and the registry of the library's descriptors. */
#define _GNU_SOURCE
#include "posix.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* A bitmap indexed by descriptor number. The first 1024 bits are static, so the usual process
 * never allocates for it and an injected allocation failure rarely lands here. */
#define REG_WORD_BITS (sizeof(unsigned long) * CHAR_BIT)
#define REG_STATIC_WORDS (1024 / REG_WORD_BITS)

static pthread_mutex_t reg_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned long reg_static[REG_STATIC_WORDS];
static unsigned long *reg_bits = reg_static;
static size_t reg_words = REG_STATIC_WORDS;

void mproc__posix_reg_lock(void)
{
    pthread_mutex_lock(&reg_mutex);
}

void mproc__posix_reg_unlock(void)
{
    pthread_mutex_unlock(&reg_mutex);
}

int mproc__posix_reg_add_locked(int fd)
{
    size_t w;

    if (fd < 0)
        return MPROC_EINVAL;
    w = (size_t)fd / REG_WORD_BITS;
    if (w >= reg_words) {
        size_t n = reg_words * 2;
        unsigned long *bits;
        while (n <= w)
            n *= 2;
        bits = mproc__malloc(n * sizeof *bits);
        if (bits == NULL)
            return MPROC_ENOMEM;
        memcpy(bits, reg_bits, reg_words * sizeof *bits);
        memset(bits + reg_words, 0, (n - reg_words) * sizeof *bits);
        if (reg_bits != reg_static)
            mproc__free(reg_bits);
        reg_bits = bits;
        reg_words = n;
    }
    reg_bits[w] |= 1UL << ((size_t)fd % REG_WORD_BITS);
    return MPROC_OK;
}

void mproc__posix_reg_remove_locked(int fd)
{
    size_t w;

    if (fd < 0)
        return;
    w = (size_t)fd / REG_WORD_BITS;
    if (w < reg_words)
        reg_bits[w] &= ~(1UL << ((size_t)fd % REG_WORD_BITS));
}

void mproc__posix_reg_close_others_locked(const int *keep, int nkeep)
{
    size_t w, b;
    int i, k;

    for (w = 0; w < reg_words; w++) {
        if (reg_bits[w] == 0)
            continue;
        for (b = 0; b < REG_WORD_BITS; b++) {
            int fd = (int)(w * REG_WORD_BITS + b);
            if (!(reg_bits[w] & (1UL << b)))
                continue;
            for (k = 0, i = 0; i < nkeep; i++)
                k |= keep[i] == fd;
            if (k)
                continue;
            close(fd);
            reg_bits[w] &= ~(1UL << b);
        }
    }
}

static int make_pipe(int fds[2])
{
#if defined(__APPLE__)
    /* No pipe2 here. The registry lock keeps a concurrent fork of ours out of the window, not
     * a concurrent exec elsewhere in the program. */
    if (pipe(fds) != 0)
        return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        errno = e;
        return -1;
    }
    return 0;
#else
    return pipe2(fds, O_CLOEXEC);
#endif
}

int mproc__os_pipe(mproc__handle *rd, mproc__handle *wr)
{
    int fds[2], r;
    assert(rd != NULL && wr != NULL);

    *rd = *wr = MPROC__INVALID_HANDLE;
    mproc__posix_reg_lock();
    if (make_pipe(fds) != 0) {
        int e = errno;
        mproc__posix_reg_unlock();
        return mproc__sys_error(e);
    }
    r = mproc__posix_reg_add_locked(fds[0]);
    if (r == MPROC_OK)
        r = mproc__posix_reg_add_locked(fds[1]);
    if (r != MPROC_OK) {
        mproc__posix_reg_remove_locked(fds[0]);
        close(fds[0]);
        close(fds[1]);
        mproc__posix_reg_unlock();
        return r;
    }
    mproc__posix_reg_unlock();
    *rd = fds[0];
    *wr = fds[1];
    return MPROC_OK;
}

int mproc__posix_dup(int fd, int *out)
{
    int d, r;

    *out = -1;
    mproc__posix_reg_lock();
    /* Above the standard streams: in a child with stdin closed, the copy must not become it. */
    d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0) {
        int e = errno;
        mproc__posix_reg_unlock();
        return mproc__sys_error(e);
    }
    r = mproc__posix_reg_add_locked(d);
    if (r != MPROC_OK)
        close(d);
    mproc__posix_reg_unlock();
    if (r == MPROC_OK)
        *out = d;
    return r;
}

void mproc__os_close(mproc__handle h)
{
    int saved = errno;

    if (h < 0 || h > INT_MAX)
        return;
    /* Unregister and close as one step: another thread may reuse the number at once, and a fork
     * in between must neither keep our descriptor nor close theirs. */
    mproc__posix_reg_lock();
    mproc__posix_reg_remove_locked((int)h);
    close((int)h); /* on EINTR the descriptor is gone anyway (Linux, and POSIX 2024) */
    mproc__posix_reg_unlock();
    errno = saved;
}

int mproc__posix_poll_one(int fd, short events, long timeout_ms)
{
    uint64_t deadline = 0;
    struct pollfd pfd;
    int r, t;

    if (timeout_ms > 0)
        deadline = mproc__os_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (timeout_ms < 0) {
            t = -1;
        } else if (timeout_ms == 0) {
            t = 0;
        } else {
            uint64_t now = mproc__os_now_ms();
            uint64_t left = now >= deadline ? 0 : deadline - now;
            t = left > INT_MAX ? INT_MAX : (int)left;
        }
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        r = poll(&pfd, 1, t);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return mproc__sys_error(errno);
        if (r == 0 && t >= 0 && (timeout_ms == 0 || mproc__os_now_ms() >= deadline))
            return 0;
    }
}

long mproc__os_read(mproc__handle h, void *buf, size_t cap)
{
    ssize_t n;

    if (h < 0 || h > INT_MAX || (buf == NULL && cap > 0))
        return MPROC_EINVAL;
    if (cap > SSIZE_MAX)
        cap = SSIZE_MAX;
    for (;;) {
        n = read((int)h, buf, cap);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int r = mproc__posix_poll_one((int)h, POLLIN, -1);
            if (r < 0)
                return r;
            continue;
        }
        return mproc__sys_error(errno);
    }
}

static int write_loop(int fd, const unsigned char *p, size_t len, int *err)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len > SSIZE_MAX ? SSIZE_MAX : len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = mproc__posix_poll_one(fd, POLLOUT, -1);
            if (r < 0) {
                *err = errno;
                return -1;
            }
            continue;
        }
        *err = n < 0 ? errno : EIO;
        return -1;
    }
    return 0;
}

/* Set once in a pool worker, which ignores SIGPIPE for good: its writes skip the mask dance,
 * two system calls per result. */
static int sigpipe_ignored;

void mproc__os_worker_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigpipe_ignored = 1;
}

int mproc__os_write_all(mproc__handle h, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    int was_pending = 0, err = 0, r;

    if (h < 0 || h > INT_MAX || (buf == NULL && len > 0))
        return MPROC_EINVAL;
    if (sigpipe_ignored) {
        r = write_loop((int)h, buf, len, &err);
        return r != 0 ? mproc__sys_error(err) : MPROC_OK;
    }
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* With SIGPIPE unblocked before, none could be pending for this thread: it would have been
     * delivered. Blocked by the caller, one may wait there already and must stay. */
    if (sigismember(&old, SIGPIPE) && sigpending(&pending) == 0)
        was_pending = sigismember(&pending, SIGPIPE);
    r = write_loop((int)h, buf, len, &err);
    /* The SIGPIPE our write made is pending now; sigwait takes it without blocking (and, unlike
     * sigtimedwait, exists everywhere). */
    if (r != 0 && err == EPIPE && !was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        int sig;
        sigwait(&pipe_set, &sig);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return mproc__sys_error(err);
    return MPROC_OK;
}
