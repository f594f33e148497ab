/* The Lock and RLock on POSIX: a futex word holding the holder's thread id, and a look at that
 * thread in /proc to find that it died holding it. */
#define _GNU_SOURCE
#include "posix.h"
#include "../sync/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
    #include <linux/futex.h>
    #include <sys/syscall.h>
#endif

/* Why not a robust pthread mutex, which the kernel marks when its holder dies: glibc's robust
 * path links the mutex into the thread's robust list and out again, about 23 ns a round here
 * against 6 ns for the two atomic operations a lock needs. This lock is those two operations
 * plus three plain stores. Its holder's death is found instead by a waiter that has slept a
 * while (or a try that failed): it reads the holder's /proc/<tid>/stat. The thread is dead when
 * the entry is gone or a zombie, or when its start time is not the one the holder noted in the
 * lock, which is what tells a reused thread id from the holder. */
typedef struct plock {
    volatile uint32_t word; /* 0 free, else the holder's thread id | WAITERS */
    volatile uint32_t note; /* the holder's id once `birth` is its own, else 0 */
    volatile uint64_t
        birth;      /* the holder thread's start time (clock ticks after boot); 0 unknown */
    uint32_t depth; /* RLock: acquisitions past the first (the holder's own field) */
} plock;

typedef char mproc__plock_fits[sizeof(plock) <= MPROC__OSLOCK_BYTES ? 1 : -1];

#define WAITERS 0x80000000u
#define ID_MASK 0x3fffffffu /* thread ids stay below 2^22 (PID_MAX_LIMIT) */

/* The first look at a sleeping holder comes after this much sleep, the next ones twice as far
 * apart up to the last: a hand-off between live processes never waits that long, and a dead
 * holder is found in a tenth of a second at most. */
#define FIRST_LOOK_MS 5
#define LAST_LOOK_MS 100

/* ---- the calling thread: its id and its start time, cached; a fork's child drops both ---- */

static __thread uint32_t my_tid;
static __thread uint64_t my_birth;
static __thread int my_birth_read;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_forget(void)
{
    my_tid = 0;
    my_birth = 0;
    my_birth_read = 0;
}

static void self_setup(void)
{
    pthread_atfork(NULL, NULL, self_forget);
}

static uint32_t self_tid(void)
{
    if (my_tid == 0) {
        pthread_once(&self_once, self_setup);
#if defined(__linux__) && defined(SYS_gettid)
        my_tid = (uint32_t)syscall(SYS_gettid) & ID_MASK;
#else
        my_tid = (uint32_t)getpid() & ID_MASK;
#endif
    }
    return my_tid;
}

/* What /proc says of thread `tid`: 1 it ended (no entry, a zombie or dead), 0 it runs (and
 * *start its start time), -1 no answer (no /proc, out of descriptors, ...). */
static int proc_look(uint32_t tid, uint64_t *start)
{
#if defined(__linux__)
    char path[40], text[1024], *p;
    unsigned long long st = 0;
    char state = 0;
    int fd, i;
    ssize_t n;
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* No entry: gone, or hidden from us (hidepid); kill() tells the two apart. */
        if (errno != ENOENT && errno != ESRCH)
            return -1;
        return kill((pid_t)tid, 0) != 0 && errno == ESRCH ? 1 : -1;
    }
    n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return n == 0 || errno == ESRCH ? 1 : -1;
    text[n] = '\0';
    /* "tid (comm) S ...": the name may hold spaces and parentheses, so fields count from the
     * last ')'. The state is field 3, the start time field 22. */
    p = strrchr(text, ')');
    if (p == NULL || p[1] != ' ')
        return -1;
    p += 2;
    state = *p;
    for (i = 3; i < 22 && p != NULL; i++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    if (p == NULL || sscanf(p, "%llu", &st) != 1)
        return -1;
    if (state == 'Z' || state == 'X' || state == 'x')
        return 1;
    *start = (uint64_t)st;
    return 0;
#else
    (void)tid;
    (void)start;
    return -1;
#endif
}

static uint64_t self_birth(void)
{
    if (!my_birth_read) {
        uint64_t st = 0;
        my_birth = proc_look(self_tid(), &st) == 0 ? st : 0;
        my_birth_read = 1;
    }
    return my_birth;
}

/* 1 when the thread that `word` names has ended. Only a sure answer says so: a /proc that does
 * not answer leaves kill()'s view, which sees neither zombies nor reused ids. */
static int holder_dead(plock *k, uint32_t word)
{
    uint32_t tid = word & ID_MASK;
    uint64_t start = 0, noted;
    int r = proc_look(tid, &start);
    if (r == 1)
        return 1;
    if (r == 0) {
        /* The noted start time counts only when the note names this holder. */
        if (__atomic_load_n(&k->note, __ATOMIC_ACQUIRE) != tid)
            return 0;
        noted = __atomic_load_n(&k->birth, __ATOMIC_RELAXED);
        return noted != 0 && noted != start;
    }
    return kill((pid_t)tid, 0) != 0 && errno == ESRCH;
}

/* The holder's notes, written once the word is ours. */
static void took(plock *k, uint32_t me)
{
    k->depth = 0;
    __atomic_store_n(&k->birth, self_birth(), __ATOMIC_RELAXED);
    __atomic_store_n(&k->note, me, __ATOMIC_RELEASE);
}

/* Takes over the lock of a dead holder (word `seen`): MPROC_EOWNERDEAD, or 0 when somebody else
 * changed the word first. */
static int take_over(plock *k, uint32_t seen, uint32_t me)
{
    uint32_t want = me | WAITERS; /* others may sleep on it */
    if (!__atomic_compare_exchange_n(&k->word, &seen, want, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 0;
    took(k, me);
    return MPROC_EOWNERDEAD;
}

/* The word names us: ours for real, or a dead thread's whose id we were given. */
static int mine(plock *k, uint32_t me)
{
    uint64_t b = self_birth();
    return __atomic_load_n(&k->note, __ATOMIC_ACQUIRE) == me &&
           __atomic_load_n(&k->birth, __ATOMIC_RELAXED) == b;
}

static int futex_sleep(volatile uint32_t *word, uint32_t expected, long ms)
{
#if defined(__linux__) && defined(SYS_futex)
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    return (int)syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
#else
    (void)word;
    (void)expected;
    mproc__os_sleep_ms(ms > 2 ? 2 : ms);
    return 0;
#endif
}

static void futex_wake_one(volatile uint32_t *word)
{
#if defined(__linux__) && defined(SYS_futex)
    (void)syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
#else
    (void)word;
#endif
}

int mproc__os_lock_init(mproc__oslock *l, int recursive)
{
    (void)recursive;
    l->h = MPROC__INVALID_HANDLE;
    memset(l->area, 0, sizeof(plock));
    return MPROC_OK;
}

/* The word names another thread (or a dead one of ours): spin a little, then sleep, looking at
 * the holder now and then. */
static int acquire_slow(plock *k, int recursive, long timeout_ms, uint32_t me)
{
    uint64_t start = 0, next_look = 0;
    long look_every = FIRST_LOOK_MS;
    uint32_t v = __atomic_load_n(&k->word, __ATOMIC_RELAXED);
    int i, j, r;

    if ((v & ID_MASK) == me) {
        if (mine(k, me)) {
            if (!recursive)
                return MPROC_ESTATE;
            if (k->depth == UINT32_MAX)
                return MPROC_ENOMEM;
            k->depth++;
            return MPROC_OK;
        }
        /* A dead thread of the same id left it held. */
        r = take_over(k, v, me);
        if (r != 0)
            return r;
    }
    if (timeout_ms != 0 && mproc__posix_spin_useful()) {
        for (i = 0; i < MPROC__SPIN_TRIES; i++) {
            for (j = 0; j < MPROC__SPIN_PAUSES; j++)
                mproc__os_relax();
            v = 0;
            if (__atomic_load_n(&k->word, __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(&k->word, &v, me, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                took(k, me);
                return MPROC_OK;
            }
        }
    }
    if (timeout_ms == 0) {
        /* A try: the word again, and a look at its holder when it has one. */
        v = 0;
        if (__atomic_compare_exchange_n(&k->word, &v, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
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
        uint64_t now;
        long nap;
        v = __atomic_load_n(&k->word, __ATOMIC_RELAXED);
        if (v == 0) {
            /* Taken with the flag: whoever else sleeps on it is woken at our release. */
            if (__atomic_compare_exchange_n(&k->word, &v, me | WAITERS, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                took(k, me);
                return MPROC_OK;
            }
            continue;
        }
        if (!(v & WAITERS)) {
            if (!__atomic_compare_exchange_n(&k->word, &v, v | WAITERS, 0, __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
                continue;
            v |= WAITERS;
        }
        now = mproc__os_now_ms();
        if (now >= next_look) {
            if (holder_dead(k, v) && (r = take_over(k, v, me)) != 0)
                return r;
            look_every = look_every * 2 > LAST_LOOK_MS ? LAST_LOOK_MS : look_every * 2;
            next_look = now + (uint64_t)look_every;
            continue;
        }
        nap = (long)(next_look - now);
        if (timeout_ms > 0) {
            uint64_t end = start + (uint64_t)timeout_ms;
            if (now >= end)
                return MPROC_ETIMEDOUT;
            if ((uint64_t)nap > end - now)
                nap = (long)(end - now);
        }
        (void)futex_sleep(&k->word, v, nap); /* woken, timed out, EAGAIN, EINTR: look again */
    }
}

int mproc__os_lock_acquire(mproc__oslock *l, int recursive, long timeout_ms)
{
    plock *k = l->area;
    uint32_t me = self_tid(), free_word = 0;
    if (__atomic_compare_exchange_n(&k->word, &free_word, me, 0, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
        took(k, me);
        return MPROC_OK;
    }
    return acquire_slow(k, recursive, timeout_ms, me);
}

int mproc__os_lock_release(mproc__oslock *l, int recursive)
{
    plock *k = l->area;
    uint32_t me = self_tid(), old;
    if ((__atomic_load_n(&k->word, __ATOMIC_RELAXED) & ID_MASK) != me || !mine(k, me))
        return MPROC_ESTATE;
    if (recursive && k->depth > 0) {
        k->depth--;
        return MPROC_OK;
    }
    __atomic_store_n(&k->note, 0, __ATOMIC_RELAXED);
    old = __atomic_exchange_n(&k->word, 0, __ATOMIC_RELEASE);
    if (old & WAITERS)
        futex_wake_one(&k->word);
    return MPROC_OK;
}

int mproc__os_lock_held(const mproc__oslock *l)
{
    plock *k = l->area;
    uint32_t me = self_tid();
    return (__atomic_load_n(&k->word, __ATOMIC_ACQUIRE) & ID_MASK) == me && mine(k, me);
}

void mproc__os_lock_close(mproc__oslock *l)
{
    /* The lock lives in the region: nothing of ours to close. */
    l->h = MPROC__INVALID_HANDLE;
}
