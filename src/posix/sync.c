/* The sync objects' OS part on POSIX: a process-shared robust pthread mutex for the locks (the
 * kernel marks it when its holder dies), a futex on the object's word for sleeping, and a look
 * at whether a process has ended. */
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

/* A timed acquire sleeps in pthread_mutex_clocklock, on the monotonic clock (glibc 2.30), immune
 * to changes of the wall clock. ThreadSanitizer's interceptors know neither clocklock nor an
 * EOWNERDEAD from timedlock: a lock they never saw taken looks free to them and its release an
 * error. Its builds (only) take the form they know, trylock, a millisecond at a time. */
#if defined(__SANITIZE_THREAD__)
    #define MPROC__TSAN 1
#elif defined(__has_feature)
    #if __has_feature(thread_sanitizer)
        #define MPROC__TSAN 1
    #endif
#endif

typedef char mproc__oslock_fits[sizeof(pthread_mutex_t) <= MPROC__OSLOCK_BYTES ? 1 : -1];

/* ---- locks ---- */

int mproc__os_lock_init(mproc__oslock *l, int recursive)
{
    pthread_mutexattr_t a;
    int e;
    l->h = MPROC__INVALID_HANDLE;
    e = pthread_mutexattr_init(&a);
    if (e != 0)
        return mproc__sys_error(e);
    e = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (e == 0)
        e = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    /* Error-checking: an unlock by a thread that does not hold it fails (EPERM) instead of
     * freeing someone else's lock, and a relock by the holder fails (EDEADLK). */
    if (e == 0)
        e = pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE
                                                    : PTHREAD_MUTEX_ERRORCHECK);
    if (e == 0)
        e = pthread_mutex_init((pthread_mutex_t *)l->area, &a);
    pthread_mutexattr_destroy(&a);
    return e == 0 ? MPROC_OK : mproc__sys_error(e);
}

static int lock_result(pthread_mutex_t *m, int e)
{
    switch (e) {
    case 0:
        return MPROC_OK;
    case EOWNERDEAD:
        /* We hold it; marking it consistent lets it work normally from here on. */
        pthread_mutex_consistent(m);
        return MPROC_EOWNERDEAD;
    case ETIMEDOUT:
    case EBUSY:
        return MPROC_ETIMEDOUT;
    case EDEADLK:
        return MPROC_ESTATE;
    default:
        return mproc__sys_error(e);
    }
}

/* A contended acquire tries again a few times, pausing between tries, before it sleeps in the
 * kernel: a lock passed back and forth is mostly held for a few instructions, and going to sleep
 * and being woken costs two system calls and a context switch each time (glibc spins only for
 * adaptive mutexes, which cannot be robust). The spin is bounded (about a microsecond), and
 * skipped where only one CPU is usable, where the holder cannot run while we spin. The Queue's
 * main lock (queue_os.c) takes the same way. */
#define SPIN_TRIES 32
#define SPIN_PAUSES 8

static int spin_useful(void)
{
    static volatile int useful = -1; /* a race only computes it twice */
    if (useful < 0)
        useful = mproc__os_cpu_count() > 1;
    return useful;
}

int mproc__posix_spin_trylock(pthread_mutex_t *m)
{
    int i, k, e = EBUSY;
    if (!spin_useful())
        return EBUSY;
    for (i = 0; i < SPIN_TRIES && e == EBUSY; i++) {
        for (k = 0; k < SPIN_PAUSES; k++)
            mproc__os_relax();
        e = pthread_mutex_trylock(m);
    }
    return e;
}

int mproc__os_lock_acquire(mproc__oslock *l, int recursive, long timeout_ms)
{
    pthread_mutex_t *m = l->area;
    struct timespec ts;
    int e;

    (void)recursive;
    e = pthread_mutex_trylock(m);
    if (e == EBUSY && timeout_ms != 0)
        e = mproc__posix_spin_trylock(m);
    if (e != EBUSY || timeout_ms == 0)
        return lock_result(m, e);
    if (timeout_ms < 0)
        return lock_result(m, pthread_mutex_lock(m));
    /* trylock gives EBUSY, not EDEADLK, when the caller holds an error-checking one. */
    if (!recursive && mproc__os_lock_held(l))
        return MPROC_ESTATE;
#if defined(MPROC__TSAN)
    {
        uint64_t end = mproc__os_now_ms() + (uint64_t)timeout_ms;
        (void)ts;
        while ((e = pthread_mutex_trylock(m)) == EBUSY && mproc__os_now_ms() < end)
            mproc__os_sleep_ms(1);
    }
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    do
        e = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
    while (e == EINTR);
#endif
    return lock_result(m, e);
}

int mproc__os_lock_release(mproc__oslock *l, int recursive)
{
    int e;
    (void)recursive;
#if defined(MPROC__TSAN)
    /* An unlock that fails (EPERM below) is still a misuse of the mutex to ThreadSanitizer:
     * asked first there. Elsewhere the error-checking mutex answers, without a look at this
     * thread's id on the fast path. */
    if (!mproc__os_lock_held(l))
        return MPROC_ESTATE;
#endif
    e = pthread_mutex_unlock((pthread_mutex_t *)l->area);
    if (e == 0)
        return MPROC_OK;
    return e == EPERM ? MPROC_ESTATE : mproc__sys_error(e);
}

/* This thread's kernel id, which a robust mutex keeps as its owner. Cached per thread; the
 * fork handler clears the forking thread's copy, the one thread a child has. */
static __thread pid_t my_tid;

static void tid_forget(void)
{
    my_tid = 0;
}

static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void tid_setup(void)
{
    pthread_atfork(NULL, NULL, tid_forget);
}

static pid_t self_tid(void)
{
    if (my_tid == 0) {
        pthread_once(&tid_once, tid_setup);
#if defined(__linux__) && defined(SYS_gettid)
        my_tid = (pid_t)syscall(SYS_gettid);
#else
        my_tid = getpid();
#endif
    }
    return my_tid;
}

int mproc__os_lock_held(const mproc__oslock *l)
{
#if defined(__GLIBC__)
    const pthread_mutex_t *m = l->area;
    /* glibc keeps the holder's tid in __owner (the robust-futex protocol's word holds it too,
     * with the kernel's flag bits). */
    return __atomic_load_n(&m->__data.__owner, __ATOMIC_ACQUIRE) == (int)self_tid();
#else
    (void)l;
    (void)self_tid;
    return 1;
#endif
}

void mproc__os_lock_close(mproc__oslock *l)
{
    /* The mutex lives in the region: nothing of ours to close. */
    l->h = MPROC__INVALID_HANDLE;
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
