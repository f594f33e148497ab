/* Threads, locks and condition variables: _beginthreadex, SRW locks, condition variables. */
#include "win32.h"

#include <assert.h>
#include <process.h>
#if defined(_M_X64) || defined(_M_IX86) || defined(__x86_64__) || defined(__i386__)
    #include <xmmintrin.h>
    #define MPROC__PREFETCH(a) _mm_prefetch((const char *)(a), _MM_HINT_T0)
#else
    #define MPROC__PREFETCH(a) ((void)(a))
#endif

struct mproc__thread {
    HANDLE h;
    DWORD id;
    void (*fn)(void *);
    void *arg;
};

struct mproc__mutex {
    SRWLOCK lock;
};

struct mproc__cond {
    CONDITION_VARIABLE cv;
};

/* The backend's own threads only copy bytes; 64 KiB of stack is plenty. */
#define SMALL_STACK 65536

static unsigned __stdcall trampoline(void *arg)
{
    mproc__thread *t = arg;
    t->fn(t->arg);
    return 0;
}

HANDLE mproc__w32_thread_start(unsigned(__stdcall *fn)(void *), void *arg)
{
    /* _beginthreadex, not CreateThread: the C runtime sets up its per-thread state. */
    uintptr_t h = _beginthreadex(NULL, SMALL_STACK, fn, arg,
                                 CREATE_SUSPENDED | STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (h == 0) {
        if (GetLastError() == ERROR_SUCCESS)
            SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return NULL;
    }
    return (HANDLE)h;
}

int mproc__os_thread_start(mproc__thread **out, void (*fn)(void *), void *arg)
{
    mproc__thread *t;
    uintptr_t h;
    unsigned id = 0;
    assert(out != NULL && fn != NULL);

    *out = NULL;
    t = mproc__malloc(sizeof *t);
    if (t == NULL)
        return MPROC_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    /* Default stack: the pool's thread runs the user's callbacks. */
    h = _beginthreadex(NULL, 0, trampoline, t, 0, &id);
    if (h == 0) {
        DWORD err = GetLastError();
        mproc__free(t);
        return mproc__sys_error(err != ERROR_SUCCESS ? (long)err : ERROR_NOT_ENOUGH_MEMORY);
    }
    t->h = (HANDLE)h;
    t->id = (DWORD)id;
    *out = t;
    return MPROC_OK;
}

int mproc__os_thread_is_self(const mproc__thread *t)
{
    return t != NULL && t->id == GetCurrentThreadId();
}

void mproc__os_thread_join(mproc__thread *t)
{
    if (t == NULL)
        return;
    WaitForSingleObject(t->h, INFINITE);
    CloseHandle(t->h);
    mproc__free(t);
}

int mproc__os_mutex_create(mproc__mutex **out)
{
    mproc__mutex *m = mproc__malloc(sizeof *m);
    assert(out != NULL);
    *out = m;
    if (m == NULL)
        return MPROC_ENOMEM;
    InitializeSRWLock(&m->lock);
    return MPROC_OK;
}

void mproc__os_mutex_destroy(mproc__mutex *m)
{
    /* An SRW lock holds no kernel object. */
    mproc__free(m);
}

void mproc__os_mutex_lock(mproc__mutex *m)
{
    AcquireSRWLockExclusive(&m->lock);
}

void mproc__os_mutex_unlock(mproc__mutex *m)
{
    ReleaseSRWLockExclusive(&m->lock);
}

int mproc__os_cond_create(mproc__cond **out)
{
    mproc__cond *c = mproc__malloc(sizeof *c);
    assert(out != NULL);
    *out = c;
    if (c == NULL)
        return MPROC_ENOMEM;
    InitializeConditionVariable(&c->cv);
    return MPROC_OK;
}

void mproc__os_cond_destroy(mproc__cond *c)
{
    mproc__free(c);
}

int mproc__os_cond_wait(mproc__cond *c, mproc__mutex *m, long timeout_ms)
{
    uint64_t start = timeout_ms > 0 ? mproc__w32_now_ms() : 0;
    DWORD ms = timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms;
    DWORD err;

    if (SleepConditionVariableSRW(&c->cv, &m->lock, ms, 0))
        return MPROC_OK;
    err = GetLastError();
    if (err != ERROR_TIMEOUT)
        return mproc__sys_error((long)err);
    /* The kernel may end a wait up to a tick early; that counts as a spurious wake-up, so a
     * caller that sees MPROC_ETIMEDOUT knows the whole timeout has passed. */
    if (timeout_ms > 0 && mproc__w32_remaining(start, timeout_ms) > 0)
        return MPROC_OK;
    return MPROC_ETIMEDOUT;
}

void mproc__os_cond_broadcast(mproc__cond *c)
{
    WakeAllConditionVariable(&c->cv);
}

void mproc__os_prefetch(uintptr_t addr, size_t bytes)
{
    uintptr_t a = addr & ~(uintptr_t)63, end = addr + bytes;
    for (; a < end; a += 64)
        MPROC__PREFETCH(a);
}
