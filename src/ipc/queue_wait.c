/* The queue's waits: what is left of a timeout, and spinning, yielding, then sleeping. */
#include "queue_in.h"

/* What is left of timeout_ms. The clock starts at the first call (*start 0: not yet), when a
 * call first has to wait: a call that never waits never reads the clock. */
long mproc__q_remaining(uint64_t *start, long timeout_ms)
{
    uint64_t el;
    if (timeout_ms <= 0)
        return timeout_ms < 0 ? MPROC_FOREVER : 0;
    if (*start == 0) {
        *start = mproc__os_now_ms() + 1; /* + 1: never 0 again */
        return timeout_ms;
    }
    el = mproc__os_now_ms() + 1 - *start;
    return el >= (uint64_t)timeout_ms ? 0 : timeout_ms - (long)el;
}

long mproc__q_min_ms(long a, long b)
{
    return a < 0 ? b : (a < b ? a : b);
}

/* Called with the main lock held and the wait's condition false: releases the lock, sleeps on
 * w for up to ms, takes the lock again. */
int mproc__q_sleep(mproc_queue *q, int w, long ms)
{
    mproc__qhdr *h = q->h;
    uint32_t seen = mproc__os_load(&h->seq[w]);
    int i;
    mproc__q_unlock(q);
    /* A short look first (some microseconds): a queue that keeps up changes within that, and
     * neither side then pays for a sleep and a wake in the kernel. Not counted as a waiter, so
     * the other side makes no system call either. */
    for (i = 0; i < QSPIN && mproc__os_load(&h->seq[w]) == seen; i++)
        mproc__os_relax();
    for (; i < QSPIN + QYIELDS && mproc__os_load(&h->seq[w]) == seen; i++)
        mproc__qos_yield();
    if (i == QSPIN + QYIELDS) {
        (void)mproc__os_add(&h->waiters[w], 1);
        mproc__qos_wait(&q->os, h, w, seen,
                        w == MPROC__QWAIT_NOTEMPTY ? mproc__q_min_ms(ms, QWAKE_ONE_SLICE_MS) : ms);
        (void)mproc__os_add(&h->waiters[w], (uint32_t)-1);
    }
    return mproc__q_lock(q);
}
