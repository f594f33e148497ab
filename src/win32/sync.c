/* The sync objects' OS part on Windows besides the locks (lock.c): a semaphore for sleeping on
 * a word (waiters count themselves in the region; a wake releases one token per sleeper it may
 * wake, a token left over only wakes a later sleeper early), and a look at whether a process
 * has ended. */
#include "win32.h"
#include "../sync/sync.h"

/* ---- sleeping on a word ---- */

int mproc__os_waitq_init(mproc__waitq *q)
{
    HANDLE s = CreateSemaphoreW(NULL, 0, 0x7fffffff, NULL);
    q->h = MPROC__INVALID_HANDLE;
    if (s == NULL)
        return mproc__sys_error((long)GetLastError());
    q->h = MPROC__HV(s);
    return MPROC_OK;
}

int mproc__os_waitq_wait(mproc__waitq *q, volatile uint32_t *word, uint32_t expected,
                         long timeout_ms)
{
    DWORD w;
    if (timeout_ms == 0)
        return mproc__os_load(word) == expected ? MPROC_ETIMEDOUT : MPROC_OK;
    /* Counted in before the look: a waker that changed the word after it sees us. */
    mproc__os_add(q->nwait, 1);
    if (mproc__os_load(word) != expected) {
        mproc__os_add(q->nwait, (uint32_t)-1);
        return MPROC_OK;
    }
    w = WaitForSingleObject(MPROC__H(q->h), timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    mproc__os_add(q->nwait, (uint32_t)-1);
    return w == WAIT_TIMEOUT ? MPROC_ETIMEDOUT : MPROC_OK;
}

void mproc__os_waitq_wake(mproc__waitq *q, volatile uint32_t *word, unsigned n)
{
    uint32_t k = mproc__os_load(q->nwait);
    (void)word;
    if (k == 0 || k > 0x7fffffffu)
        return;
    if (n != 0 && n < k)
        k = n;
    (void)ReleaseSemaphore(MPROC__H(q->h), (LONG)k, NULL);
}

void mproc__os_waitq_close(mproc__waitq *q)
{
    mproc__os_close(q->h);
    q->h = MPROC__INVALID_HANDLE;
}

/* ---- has a process ended? ---- */

int mproc__os_pid_ended(long pid)
{
    HANDLE h;
    DWORD w;
    if (pid <= 0)
        return 0;
    h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    if (h == NULL)
        return GetLastError() == ERROR_INVALID_PARAMETER; /* no such process */
    w = WaitForSingleObject(h, 0);
    CloseHandle(h);
    return w == WAIT_OBJECT_0;
}
