/* The queue's locks and waits on POSIX: robust process-shared mutexes in the shared header (the
 * kernel hands a dead holder's mutex to the next taker with EOWNERDEAD) and futexes on the
 * header's sequence words (short sleeps where there is no futex). */
#define _GNU_SOURCE
#include "posix.h"

#include "../ipc/queue.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__linux__)
    #include <sys/syscall.h>
#endif
#if defined(__linux__) && defined(SYS_futex)
    #include <linux/futex.h>
    #define HAVE_FUTEX 1
#endif

#define QLOCK_SLICE_MS 100L

typedef char qlock_fits[sizeof(pthread_mutex_t) <= MPROC__QLOCK_BYTES ? 1 : -1];

static pthread_mutex_t *mutex_of(mproc__qhdr *hdr, int i)
{
    return (pthread_mutex_t *)(void *)hdr->lock_area[i];
}

int mproc__qos_create(mproc__qos *o, mproc__qhdr *hdr)
{
    pthread_mutexattr_t a;
    int i, e = 0;
    (void)sizeof(qlock_fits);
    for (i = 0; i < MPROC__QLOCK_COUNT; i++)
        o->lock[i] = MPROC__INVALID_HANDLE;
    for (i = 0; i < MPROC__QWAIT_COUNT; i++)
        o->wake[i] = MPROC__INVALID_HANDLE;
    if (pthread_mutexattr_init(&a) != 0)
        return MPROC_ENOMEM;
    if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0)
        e = ENOTSUP;
    /* Not priority inheritance: its lock hand-over through the kernel makes 4 producers and 4
     * consumers 50 times slower. A plain robust futex has one weakness, a waiter killed just
     * after its wake-up takes the wake-up with it and leaves the others asleep on a free lock;
     * the waits below are cut into slices for it, so that costs one slice, never forever. */
    for (i = 0; e == 0 && i < MPROC__QLOCK_COUNT; i++)
        e = pthread_mutex_init(mutex_of(hdr, i), &a);
    pthread_mutexattr_destroy(&a);
    if (e != 0)
        return e == ENOTSUP ? MPROC_ENOTSUP : mproc__sys_error(e);
    return MPROC_OK;
}

int mproc__qos_adopt(mproc__qos *o, const mproc__handle *h, size_t n)
{
    int i;
    (void)h;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++)
        o->lock[i] = MPROC__INVALID_HANDLE;
    for (i = 0; i < MPROC__QWAIT_COUNT; i++)
        o->wake[i] = MPROC__INVALID_HANDLE;
    return n == 0 ? MPROC_OK : MPROC_EPROTO;
}

size_t mproc__qos_handles(const mproc__qos *o, mproc__handle *out)
{
    (void)o;
    (void)out;
    return 0;
}

void mproc__qos_close(mproc__qos *o)
{
    /* The mutexes belong to the region: nothing of this process's own to release. */
    (void)o;
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* A taker that finds the lock held tries again a few times before it reads the clock and sleeps
 * in the kernel (mproc__posix_spin_trylock, as the Lock's acquire): the main lock is held for a
 * copy of at most a small message. */
int mproc__qos_lock(mproc__qos *o, mproc__qhdr *hdr, int i, long timeout_ms)
{
    pthread_mutex_t *m = mutex_of(hdr, i);
    int e;
    (void)o;
    e = pthread_mutex_trylock(m);
    if (e == EBUSY && timeout_ms != 0)
        e = mproc__posix_spin_trylock(m);
    if (e != EBUSY || timeout_ms == 0) {
        /* taken (or the holder died), or a try */
    } else if (timeout_ms < 0) {
        /* In slices: a lost wake-up (see mproc__qos_create) costs one slice, never forever. */
        do {
            struct timespec ts;
            deadline_in(&ts, QLOCK_SLICE_MS);
            e = pthread_mutex_timedlock(m, &ts);
        } while (e == ETIMEDOUT || e == EINTR);
    } else {
        struct timespec ts;
        deadline_in(&ts, timeout_ms);
        do
            e = pthread_mutex_timedlock(m, &ts);
        while (e == EINTR);
    }
    switch (e) {
    case 0:
        return MPROC_OK;
    case EOWNERDEAD:
        return MPROC_EOWNERDEAD;
    case EBUSY:
    case ETIMEDOUT:
        return MPROC_ETIMEDOUT;
    default:
        return mproc__sys_error(e);
    }
}

void mproc__qos_consistent(mproc__qos *o, mproc__qhdr *hdr, int i)
{
    (void)o;
    (void)pthread_mutex_consistent(mutex_of(hdr, i));
}

void mproc__qos_unlock(mproc__qos *o, mproc__qhdr *hdr, int i)
{
    (void)o;
    (void)pthread_mutex_unlock(mutex_of(hdr, i));
}

void mproc__qos_wait(mproc__qos *o, mproc__qhdr *hdr, int w, uint32_t seen, long timeout_ms)
{
    (void)o;
#if defined(HAVE_FUTEX)
    {
        struct timespec ts, *tp = NULL;
        if (timeout_ms >= 0) {
            ts.tv_sec = timeout_ms / 1000;
            ts.tv_nsec = (timeout_ms % 1000) * 1000000L;
            tp = &ts;
        }
        /* Shared futex (no FUTEX_PRIVATE_FLAG): the word is in a MAP_SHARED mapping, keyed by
         * file and offset, the same in every process. EAGAIN, EINTR, ETIMEDOUT: look again. */
        (void)syscall(SYS_futex, &hdr->seq[w], FUTEX_WAIT, seen, tp, NULL, 0);
    }
#else
    (void)seen;
    mproc__os_sleep_ms(timeout_ms < 0 || timeout_ms > 2 ? 2 : timeout_ms);
    (void)hdr;
    (void)w;
#endif
}

void mproc__qos_wake(mproc__qos *o, mproc__qhdr *hdr, int w)
{
    (void)o;
    (void)mproc__os_add(&hdr->seq[w], 1);
#if defined(HAVE_FUTEX)
    if (mproc__os_load(&hdr->waiters[w]) != 0)
        (void)syscall(SYS_futex, &hdr->seq[w], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
#endif
}

void mproc__qos_wake_one(mproc__qos *o, mproc__qhdr *hdr, int w)
{
    (void)o;
    (void)mproc__os_add(&hdr->seq[w], 1);
#if defined(HAVE_FUTEX)
    if (mproc__os_load(&hdr->waiters[w]) != 0)
        (void)syscall(SYS_futex, &hdr->seq[w], FUTEX_WAKE, 1, NULL, NULL, 0);
#endif
}

void mproc__qos_yield(void)
{
    (void)sched_yield();
}

void mproc__qos_mark(volatile uint32_t *p, uint32_t v)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    *p = v;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void mproc__os_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void mproc__os_big_buffer(void *p, size_t len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), b = ((uintptr_t)p + len) & ~(huge - 1);
    if (b > a)
        (void)madvise((void *)a, (size_t)(b - a), MADV_HUGEPAGE); /* a hint: failure is fine */
#else
    (void)p;
    (void)len;
#endif
}
