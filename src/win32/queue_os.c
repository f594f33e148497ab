/* The queue's locks and waits on Windows: unnamed kernel mutexes (a dead holder's mutex comes to
 * the next taker as WAIT_ABANDONED) and one semaphore per kind of wait, released for as many
 * sleepers as the header counts. WaitOnAddress does not cross processes. */
#include "win32.h"

#include "../ipc/queue.h"

/* A sleeper that died stays counted, so a wake may release a count nobody takes; the next
 * sleeper then wakes early and looks again. Sleeps are cut to this, so a capped release can
 * never leave one asleep for long. */
#define QWAIT_SLICE_MS 250u
#define QWAKE_MAX 64u

int mproc__qos_create(mproc__qos *o, mproc__qhdr *hdr)
{
    int i;
    (void)hdr;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++)
        o->lock[i] = MPROC__INVALID_HANDLE;
    for (i = 0; i < MPROC__QWAIT_COUNT; i++)
        o->wake[i] = MPROC__INVALID_HANDLE;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++) {
        HANDLE h = CreateMutexW(NULL, FALSE, NULL);
        if (h == NULL)
            goto fail;
        o->lock[i] = MPROC__HV(h);
    }
    for (i = 0; i < MPROC__QWAIT_COUNT; i++) {
        HANDLE h = CreateSemaphoreW(NULL, 0, 0x7FFFFFFF, NULL);
        if (h == NULL)
            goto fail;
        o->wake[i] = MPROC__HV(h);
    }
    return MPROC_OK;
fail : {
    int r = mproc__sys_error((long)GetLastError());
    mproc__qos_close(o);
    return r;
}
}

int mproc__qos_adopt(mproc__qos *o, const mproc__handle *h, size_t n)
{
    int i;
    if (n != MPROC__QLOCK_COUNT + MPROC__QWAIT_COUNT)
        return MPROC_EPROTO;
    for (i = 0; i < (int)n; i++)
        if (h[i] == MPROC__INVALID_HANDLE || h[i] == 0)
            return MPROC_EPROTO;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++)
        o->lock[i] = h[i];
    for (i = 0; i < MPROC__QWAIT_COUNT; i++)
        o->wake[i] = h[MPROC__QLOCK_COUNT + i];
    return MPROC_OK;
}

size_t mproc__qos_handles(const mproc__qos *o, mproc__handle *out)
{
    int i;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++)
        out[i] = o->lock[i];
    for (i = 0; i < MPROC__QWAIT_COUNT; i++)
        out[MPROC__QLOCK_COUNT + i] = o->wake[i];
    return MPROC__QLOCK_COUNT + MPROC__QWAIT_COUNT;
}

void mproc__qos_close(mproc__qos *o)
{
    int i;
    for (i = 0; i < MPROC__QLOCK_COUNT; i++) {
        if (o->lock[i] != MPROC__INVALID_HANDLE && o->lock[i] != 0)
            CloseHandle(MPROC__H(o->lock[i]));
        o->lock[i] = MPROC__INVALID_HANDLE;
    }
    for (i = 0; i < MPROC__QWAIT_COUNT; i++) {
        if (o->wake[i] != MPROC__INVALID_HANDLE && o->wake[i] != 0)
            CloseHandle(MPROC__H(o->wake[i]));
        o->wake[i] = MPROC__INVALID_HANDLE;
    }
}

int mproc__qos_lock(mproc__qos *o, mproc__qhdr *hdr, int i, long timeout_ms)
{
    DWORD w =
        WaitForSingleObject(MPROC__H(o->lock[i]), timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    (void)hdr;
    switch (w) {
    case WAIT_OBJECT_0:
        return MPROC_OK;
    case WAIT_ABANDONED:
        mproc__w32_dead_settle(); /* under Wine the dead holder may still be storing */
        return MPROC_EOWNERDEAD;
    case WAIT_TIMEOUT:
        return MPROC_ETIMEDOUT;
    default:
        return mproc__sys_error((long)GetLastError());
    }
}

void mproc__qos_consistent(mproc__qos *o, mproc__qhdr *hdr, int i)
{
    /* Taking an abandoned mutex makes it an ordinary held one again. */
    (void)o;
    (void)hdr;
    (void)i;
}

void mproc__qos_unlock(mproc__qos *o, mproc__qhdr *hdr, int i)
{
    (void)hdr;
    ReleaseMutex(MPROC__H(o->lock[i]));
}

void mproc__qos_wait(mproc__qos *o, mproc__qhdr *hdr, int w, uint32_t seen, long timeout_ms)
{
    DWORD ms = timeout_ms < 0 || (unsigned long)timeout_ms > QWAIT_SLICE_MS ? QWAIT_SLICE_MS
                                                                            : (DWORD)timeout_ms;
    if (mproc__os_load(&hdr->seq[w]) != seen)
        return;
    (void)WaitForSingleObject(MPROC__H(o->wake[w]), ms);
}

void mproc__qos_wake(mproc__qos *o, mproc__qhdr *hdr, int w)
{
    uint32_t n;
    (void)mproc__os_add(&hdr->seq[w], 1);
    n = mproc__os_load(&hdr->waiters[w]);
    if (n != 0)
        ReleaseSemaphore(MPROC__H(o->wake[w]), (LONG)(n < QWAKE_MAX ? n : QWAKE_MAX), NULL);
}

void mproc__qos_wake_one(mproc__qos *o, mproc__qhdr *hdr, int w)
{
    (void)mproc__os_add(&hdr->seq[w], 1);
    if (mproc__os_load(&hdr->waiters[w]) != 0)
        ReleaseSemaphore(MPROC__H(o->wake[w]), 1, NULL);
}

void mproc__qos_yield(void)
{
    (void)SwitchToThread();
}

void mproc__qos_mark(volatile uint32_t *p, uint32_t v)
{
    mproc__os_store(p, v);
}

void mproc__os_relax(void)
{
    YieldProcessor();
}

void mproc__os_big_buffer(void *p, size_t len)
{
    (void)p;
    (void)len;
}
