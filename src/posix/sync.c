/* The sync objects' OS part on POSIX besides the locks (lock.c): the bounded trylock spin of
 * the Queue's mutexes, a futex on the object's word for sleeping, and a look at whether a
 * process has ended. */
#define _GNU_SOURCE
#include "posix.h"
#include "../sync/sync.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
    #include <linux/futex.h>
    #include <sys/syscall.h>
#endif

/* A contended lock is mostly held for a few instructions, and going to sleep and being woken
 * costs two system calls and a context switch each time (glibc spins only for adaptive mutexes,
 * which cannot be robust): the Lock (lock.c) and the Queue's mutexes (queue_os.c) try a little
 * before they sleep. */
int mproc__posix_spin_useful(void)
{
    static volatile int useful = -1; /* a race only computes it twice */
    if (useful < 0)
        useful = mproc__os_cpu_count() > 1;
    return useful;
}

int mproc__posix_spin_trylock(pthread_mutex_t *m)
{
    int i, k, e = EBUSY;
    if (!mproc__posix_spin_useful())
        return EBUSY;
    for (i = 0; i < MPROC__SPIN_TRIES && e == EBUSY; i++) {
        for (k = 0; k < MPROC__SPIN_PAUSES; k++)
            mproc__os_relax();
        e = pthread_mutex_trylock(m);
    }
    return e;
}

/* ---- sleeping on a word: a futex of the shared kind (the region is a MAP_SHARED file
 * mapping, so the kernel keys it by file and offset, the same in every process) ---- */

int mproc__os_waitq_init(mproc__waitq *q)
{
    q->h = MPROC__INVALID_HANDLE;
    return MPROC_OK;
}

int mproc__os_waitq_wait(mproc__waitq *q, volatile uint32_t *word, uint32_t expected,
                         long timeout_ms)
{
#if defined(__linux__) && defined(SYS_futex)
    struct timespec ts, *tp = NULL;
    long r;
    if (timeout_ms == 0)
        return mproc__os_load(word) == expected ? MPROC_ETIMEDOUT : MPROC_OK;
    if (timeout_ms > 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
        tp = &ts;
    }
    mproc__os_add(q->nwait, 1);
    r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tp, NULL, 0);
    mproc__os_add(q->nwait, (uint32_t)-1);
    if (r < 0 && errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    return MPROC_OK; /* woken, EAGAIN (the word differs) or EINTR: the caller looks again */
#else
    /* No shared futex on this system: a nap; callers look again. */
    (void)q;
    if (mproc__os_load(word) != expected)
        return MPROC_OK;
    mproc__os_sleep_ms(timeout_ms < 0 || timeout_ms > 2 ? 2 : timeout_ms);
    return MPROC_OK;
#endif
}

void mproc__os_waitq_wake(mproc__waitq *q, volatile uint32_t *word, unsigned n)
{
#if defined(__linux__) && defined(SYS_futex)
    /* The word was changed (sequentially consistent) before this load: a sleeper either counted
     * itself in before it, and is woken, or sees the new word in FUTEX_WAIT. */
    if (mproc__os_load(q->nwait) == 0)
        return;
    (void)syscall(SYS_futex, word, FUTEX_WAKE, n == 0 ? INT_MAX : (int)n, NULL, NULL, 0);
#else
    (void)q;
    (void)word;
    (void)n;
#endif
}

void mproc__os_waitq_close(mproc__waitq *q)
{
    q->h = MPROC__INVALID_HANDLE;
}

/* ---- has a process ended? ---- */

int mproc__os_pid_ended(long pid)
{
    if (pid <= 0)
        return 0;
#if defined(__linux__) && defined(SYS_pidfd_open)
    {
        /* A pidfd polls readable once the process has ended, zombie or not. Opened and closed
         * under the registry's lock, so no fork of another thread inherits it meanwhile. */
        int fd, e, r = -1;
        mproc__posix_reg_lock();
        fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        e = errno;
        if (fd >= 0) {
            struct pollfd p;
            p.fd = fd;
            p.events = POLLIN;
            p.revents = 0;
            r = poll(&p, 1, 0) > 0;
            close(fd);
        }
        mproc__posix_reg_unlock();
        if (r >= 0)
            return r;
        if (e == ESRCH)
            return 1;
    }
#endif
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}
