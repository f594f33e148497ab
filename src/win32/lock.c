/* The Lock and RLock on Windows: a word in the region naming the holder's thread, a semaphore
 * to sleep on, and a look at the holder's thread object to find that it died holding it. */
#include "win32.h"
#include "../sync/sync.h"

#include <string.h>

/* Why not a Win32 mutex, which reports WAIT_ABANDONED once its holder died: every acquire and
 * every release of one is a system call (1 µs on Windows, 50 µs under Wine), where a word in
 * shared memory takes two interlocked operations. The design is the POSIX one (posix/lock.c):
 * a waiter that has slept a while, or a try that failed, opens the holder's thread by its id.
 * It is dead when no thread has that id, when the thread object is signaled (it ended), or when
 * its creation time is not the one the holder noted, which tells a reused id from the holder. */
typedef struct w32_lock {
    volatile LONG word;    /* 0 free, else the holder's thread id */
    volatile LONG nwait;   /* threads asleep on the semaphore, or about to be */
    volatile LONG note;    /* the holder's id once `birth` is its own, else 0 */
    LONG depth;            /* RLock: acquisitions past the first (the holder's own field) */
    volatile LONG64 birth; /* the holder's creation time (FILETIME units); 0 unknown */
} w32_lock;

typedef char mproc__w32_lock_fits[sizeof(w32_lock) <= MPROC__OSLOCK_BYTES ? 1 : -1];

/* The first look at a sleeping holder comes after this much sleep, the next ones twice as far
 * apart up to the last (as on POSIX). */
#define FIRST_LOOK_MS 5
#define LAST_LOOK_MS 100
#define SPIN_TRIES 32
#define SPIN_PAUSES 8

/* Plain loads and stores of the fields, ordered: on x86 and x64 the processor keeps a volatile
 * load an acquire and a volatile store a release, and the compiler keeps the order of volatile
 * accesses, every field being volatile. A 64-bit field is read and written whole only on a
 * 64-bit processor; elsewhere, and on other processors, interlocked calls do it. */
#if defined(_M_X64) || defined(__x86_64__)
    #define LOAD(p) (*(p))
    #define STORE(p, v) (*(p) = (v))
    #define LOAD64(p) (*(p))
    #define STORE64(p, v) (*(p) = (v))
#else
    #define LOAD(p) InterlockedCompareExchange((p), 0, 0)
    #define STORE(p, v) InterlockedExchange((p), (v))
    #define LOAD64(p) InterlockedCompareExchange64((p), 0, 0)
    #define STORE64(p, v) InterlockedExchange64((p), (v))
#endif

static LONG64 thread_birth(HANDLE t)
{
    FILETIME c, e, k, u;
    if (!GetThreadTimes(t, &c, &e, &k, &u))
        return 0;
    return (LONG64)(((ULONGLONG)c.dwHighDateTime << 32) | c.dwLowDateTime);
}

/* The calling thread's creation time, kept in a TLS slot (0 until read; a slot holds a
 * pointer, so on 32-bit Windows only its low half is kept, still a fine guard). */
static volatile LONG birth_slot = -1; /* TLS_OUT_OF_INDEXES while not allocated */

static LONG64 self_birth(void)
{
    LONG slot = birth_slot;
    LONG64 b;
    if (slot == -1) {
        DWORD s = TlsAlloc();
        if (s == TLS_OUT_OF_INDEXES)
            return 0;
        if (InterlockedCompareExchange(&birth_slot, (LONG)s, -1) != -1)
            TlsFree(s); /* another thread's slot won */
        slot = birth_slot;
    }
    b = (LONG64)(INT_PTR)TlsGetValue((DWORD)slot);
    if (b == 0) {
        b = thread_birth(GetCurrentThread());
        if (b == 0)
            return 0;
        b = (LONG64)(INT_PTR)b; /* what the slot can hold */
        TlsSetValue((DWORD)slot, (void *)(INT_PTR)b);
    }
    return b;
}

/* 1 when the thread `tid` has ended (for sure), else 0. */
static int holder_dead(w32_lock *k, LONG tid)
{
    HANDLE t = OpenThread(SYNCHRONIZE | THREAD_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)tid);
    LONG64 noted, now;
    int dead;
    if (t == NULL)
        return GetLastError() == ERROR_INVALID_PARAMETER; /* no thread has that id */
    dead = WaitForSingleObject(t, 0) == WAIT_OBJECT_0;
    if (!dead && LOAD(&k->note) == tid) {
        noted = LOAD64(&k->birth);
        now = (LONG64)(INT_PTR)thread_birth(t);
        dead = noted != 0 && now != 0 && noted != now;
    }
    CloseHandle(t);
    return dead;
}

static void took(w32_lock *k, LONG me)
{
    k->depth = 0;
    STORE64(&k->birth, self_birth());
    STORE(&k->note, me);
}

static int take_over(w32_lock *k, LONG seen, LONG me)
{
    if (InterlockedCompareExchange(&k->word, me, seen) != seen)
        return 0;
    took(k, me);
    mproc__w32_dead_settle(); /* under Wine the dead holder may still be storing */
    return MPROC_EOWNERDEAD;
}

static int mine(w32_lock *k, LONG me)
{
    return LOAD(&k->note) == me && LOAD64(&k->birth) == self_birth();
}

int mproc__os_lock_init(mproc__oslock *l, int recursive)
{
    HANDLE s = CreateSemaphoreW(NULL, 0, 0x7fffffff, NULL);
    (void)recursive;
    l->h = MPROC__INVALID_HANDLE;
    if (s == NULL)
        return mproc__sys_error((long)GetLastError());
    memset(l->area, 0, sizeof(w32_lock));
    l->h = MPROC__HV(s);
    return MPROC_OK;
}

static int acquire_slow(mproc__oslock *l, int recursive, long timeout_ms, LONG me)
{
    w32_lock *k = l->area;
    ULONGLONG start, next_look;
    long look_every = FIRST_LOOK_MS;
    LONG v = LOAD(&k->word);
    int i, j, r;

    if (v == me) {
        if (mine(k, me)) {
            if (!recursive)
                return MPROC_ESTATE;
            if (k->depth == 0x7fffffff)
                return MPROC_ENOMEM;
            k->depth++;
            return MPROC_OK;
        }
        r = take_over(k, v, me); /* a dead thread of the same id left it held */
        if (r != 0)
            return r;
    }
    if (timeout_ms != 0 && mproc__os_cpu_count() > 1) {
        for (i = 0; i < SPIN_TRIES; i++) {
            for (j = 0; j < SPIN_PAUSES; j++)
                mproc__os_relax();
            if (LOAD(&k->word) == 0 && InterlockedCompareExchange(&k->word, me, 0) == 0) {
                took(k, me);
                return MPROC_OK;
            }
        }
    }
    if (timeout_ms == 0) {
        v = InterlockedCompareExchange(&k->word, me, 0);
        if (v == 0) {
            took(k, me);
            return MPROC_OK;
        }
        if (holder_dead(k, v) && (r = take_over(k, v, me)) != 0)
            return r;
        return MPROC_ETIMEDOUT;
    }
    start = mproc__os_now_ms();
    next_look = start + FIRST_LOOK_MS;
    for (;;) {
        ULONGLONG now;
        DWORD nap;
        /* Counted in before the look at the word: a release after it sees us and posts. */
        InterlockedIncrement(&k->nwait);
        v = InterlockedCompareExchange(&k->word, me, 0);
        if (v == 0) {
            InterlockedDecrement(&k->nwait);
            took(k, me);
            return MPROC_OK;
        }
        now = mproc__os_now_ms();
        if (now >= next_look) {
            InterlockedDecrement(&k->nwait);
            if (holder_dead(k, v) && (r = take_over(k, v, me)) != 0)
                return r;
            look_every = look_every * 2 > LAST_LOOK_MS ? LAST_LOOK_MS : look_every * 2;
            next_look = now + (ULONGLONG)look_every;
            continue;
        }
        nap = (DWORD)(next_look - now);
        if (timeout_ms > 0) {
            ULONGLONG end = start + (ULONGLONG)timeout_ms;
            if (now >= end) {
                InterlockedDecrement(&k->nwait);
                return MPROC_ETIMEDOUT;
            }
            if (nap > end - now)
                nap = (DWORD)(end - now);
        }
        /* Posted, timed out or a token a timed-out sleeper left: look again. */
        (void)WaitForSingleObject(MPROC__H(l->h), nap);
        InterlockedDecrement(&k->nwait);
    }
}

int mproc__os_lock_acquire(mproc__oslock *l, int recursive, long timeout_ms)
{
    w32_lock *k = l->area;
    LONG me = (LONG)GetCurrentThreadId();
    if (InterlockedCompareExchange(&k->word, me, 0) == 0) {
        took(k, me);
        return MPROC_OK;
    }
    return acquire_slow(l, recursive, timeout_ms, me);
}

int mproc__os_lock_release(mproc__oslock *l, int recursive)
{
    w32_lock *k = l->area;
    LONG me = (LONG)GetCurrentThreadId();
    if (LOAD(&k->word) != me || !mine(k, me))
        return MPROC_ESTATE;
    if (recursive && k->depth > 0) {
        k->depth--;
        return MPROC_OK;
    }
    STORE(&k->note, 0);
    InterlockedExchange(&k->word, 0); /* a full barrier: the look at nwait comes after it */
    if (LOAD(&k->nwait) > 0)
        (void)ReleaseSemaphore(MPROC__H(l->h), 1, NULL);
    return MPROC_OK;
}

int mproc__os_lock_held(const mproc__oslock *l)
{
    w32_lock *k = l->area;
    LONG me = (LONG)GetCurrentThreadId();
    return LOAD(&k->word) == me && mine(k, me);
}

void mproc__os_lock_close(mproc__oslock *l)
{
    mproc__os_close(l->h);
    l->h = MPROC__INVALID_HANDLE;
}
