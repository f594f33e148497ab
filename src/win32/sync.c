/* The sync objects' OS part on Windows: a mutex for the locks (a wait on it reports
 * WAIT_ABANDONED once when its holder died), a semaphore for sleeping on a word (waiters count
 * themselves in the region; a wake releases one token per sleeper it may wake, a token left
 * over only wakes a later sleeper early), and a look at whether a process has ended. */
#include "win32.h"
#include "../sync/sync.h"

/* What a lock keeps in the region: who holds it (a Win32 mutex is re-entrant by nature, so a
 * non-recursive lock refuses its holder itself) and how deep. */
typedef struct w32_lock_area {
    volatile LONG owner_pid;
    volatile LONG owner_tid;
    LONG depth; /* the holder's only */
} w32_lock_area;

typedef char mproc__w32_lock_fits[sizeof(w32_lock_area) <= MPROC__OSLOCK_BYTES ? 1 : -1];

int mproc__os_lock_init(mproc__oslock *l, int recursive)
{
    HANDLE m = CreateMutexW(NULL, FALSE, NULL);
    (void)recursive;
    l->h = MPROC__INVALID_HANDLE;
    if (m == NULL)
        return mproc__sys_error((long)GetLastError());
    l->h = MPROC__HV(m);
    return MPROC_OK;
}

static int held_by_me(const w32_lock_area *a)
{
    return InterlockedCompareExchange((volatile LONG *)&a->owner_tid, 0, 0) ==
               (LONG)GetCurrentThreadId() &&
           InterlockedCompareExchange((volatile LONG *)&a->owner_pid, 0, 0) ==
               (LONG)GetCurrentProcessId();
}

int mproc__os_lock_acquire(mproc__oslock *l, int recursive, long timeout_ms)
{
    w32_lock_area *a = l->area;
    DWORD w;
    int r, mine = held_by_me(a);

    if (mine && !recursive)
        return MPROC_ESTATE;
    w = WaitForSingleObject(MPROC__H(l->h), timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
    switch (w) {
    case WAIT_OBJECT_0:
        r = MPROC_OK;
        break;
    case WAIT_ABANDONED:
        r = MPROC_EOWNERDEAD;
        mine = 0; /* the depth left is the dead holder's */
        break;
    case WAIT_TIMEOUT:
        return MPROC_ETIMEDOUT;
    default:
        return mproc__sys_error((long)GetLastError());
    }
    if (mine) {
        a->depth++;
    } else {
        a->depth = 1;
        InterlockedExchange(&a->owner_pid, (LONG)GetCurrentProcessId());
        InterlockedExchange(&a->owner_tid, (LONG)GetCurrentThreadId());
    }
    return r;
}

int mproc__os_lock_release(mproc__oslock *l, int recursive)
{
    w32_lock_area *a = l->area;
    (void)recursive;
    if (!held_by_me(a))
        return MPROC_ESTATE;
    if (--a->depth <= 0) {
        a->depth = 0;
        InterlockedExchange(&a->owner_tid, 0);
        InterlockedExchange(&a->owner_pid, 0);
    }
    if (!ReleaseMutex(MPROC__H(l->h)))
        return GetLastError() == ERROR_NOT_OWNER ? MPROC_ESTATE
                                                 : mproc__sys_error((long)GetLastError());
    return MPROC_OK;
}

int mproc__os_lock_held(const mproc__oslock *l)
{
    return held_by_me(l->area);
}

void mproc__os_lock_close(mproc__oslock *l)
{
    mproc__os_close(l->h);
    l->h = MPROC__INVALID_HANDLE;
}

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
