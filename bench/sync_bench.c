/* sync_bench: the sync objects' figures of issue 12 against their OS floors (bench/README.md,
 * "Sync objects"). One line per figure, `name<TAB>value<TAB>unit`; notes start with '#'.
 *
 *   sync_bench [lock_uncontended | lock_contended | wait_latency | all]
 *
 * lock_uncontended  acquire + release of an mproc_lock with nobody else (ns); the floor: a bare
 *                   futex lock (Linux) / a Win32 mutex; for reference, a robust pthread mutex.
 * lock_contended    two processes each acquire + release one lock 10^6 times (10^5 on Windows),
 *                   so it passes between them all the time: ns per acquire + release, mproc and
 *                   the floor (bench/sync_baseline.py does the same with Python's mp.Lock).
 * wait_latency      mproc_wait on 1, 64 and 1000 processes of which one ends: from the child's
 *                   last act (its note of the clock in shared memory) to the wait's return (µs,
 *                   median of 50); the floor for 1 is mproc_process_join. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "mproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
    #define WIN32_LEAN_AND_MEAN
    #include <windows.h>
#else
    #include <linux/futex.h>
    #include <pthread.h>
    #include <stdint.h>
    #include <sys/mman.h>
    #include <sys/syscall.h>
    #include <time.h>
    #include <unistd.h>
#endif

static double now_s(void)
{
#ifdef _WIN32
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
#endif
}

static void sleep_ms(int ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    usleep((useconds_t)ms * 1000u);
#endif
}

static void emit(const char *name, double v, const char *unit)
{
    printf("%s\t%.3f\t%s\n", name, v, unit);
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "sync_bench: %s: %s\n", what, mproc_strerror(rc));
        exit(1);
    }
    return rc;
}

#ifdef _WIN32
    #define UNCONTENDED 2000000L
    #define CONTENDED 100000L
#else
    #define UNCONTENDED 20000000L
    #define CONTENDED 1000000L
#endif

#define ROUNDS 9
#define CROUNDS 5

/* ---- the floors: the OS lock alone, in shared memory / as a kernel object ---- */

#ifdef _WIN32
typedef struct floor_lock {
    HANDLE m;
} floor_lock;
static void floor_init(floor_lock *f, void *mem)
{
    (void)mem;
    f->m = CreateMutexW(NULL, FALSE, NULL);
}
static void floor_acquire(floor_lock *f)
{
    WaitForSingleObject(f->m, INFINITE);
}
static void floor_release(floor_lock *f)
{
    ReleaseMutex(f->m);
}
#else
/* The futex floor: the classic three-state futex mutex (0 free, 1 held, 2 held with sleepers),
 * a compare-and-swap to take it, an exchange to let go, a wake only when someone sleeps. No
 * owner, no robustness, no spin: the least a process-shared lock costs on Linux. */
typedef struct floor_lock {
    volatile uint32_t *w;
} floor_lock;
static void floor_init(floor_lock *f, void *mem)
{
    f->w = mem;
    *f->w = 0;
}
static void floor_acquire(floor_lock *f)
{
    uint32_t c = 0;
    if (__atomic_compare_exchange_n(f->w, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    if (c != 2)
        c = __atomic_exchange_n(f->w, 2, __ATOMIC_ACQUIRE);
    while (c != 0) {
        syscall(SYS_futex, f->w, FUTEX_WAIT, 2, NULL, NULL, 0);
        c = __atomic_exchange_n(f->w, 2, __ATOMIC_ACQUIRE);
    }
}
static void floor_release(floor_lock *f)
{
    if (__atomic_exchange_n(f->w, 0, __ATOMIC_RELEASE) == 2)
        syscall(SYS_futex, f->w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* For reference, what mproc's Lock was built on before: a robust process-shared error-checking
 * pthread mutex, which the kernel marks when its holder dies. */
static pthread_mutex_t *robust_init(void *mem)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(mem, &a);
    pthread_mutexattr_destroy(&a);
    return mem;
}
#endif

static void fig_lock_uncontended(void)
{
    mproc_lock *l;
    mproc_shm *shm;
    floor_lock f;
    double t, fl[ROUNDS], mp[ROUNDS];
#ifndef _WIN32
    double rb[ROUNDS];
    pthread_mutex_t *m;
#endif
    long i;
    int k;
    check(mproc_lock_create(&l), "lock_create");
    check(mproc_shm_create(&shm, 4096), "shm_create");
    floor_init(&f, mproc_shm_ptr(shm));
#ifndef _WIN32
    m = robust_init((char *)mproc_shm_ptr(shm) + 256);
#endif
    for (i = 0; i < UNCONTENDED / 10; i++) { /* warm-up */
        floor_acquire(&f);
        floor_release(&f);
        mproc_lock_acquire(l, MPROC_FOREVER);
        mproc_lock_release(l);
    }
    /* Rounds that alternate floor and mproc, each figure the median of its rounds: one loop
     * right after the other is not a fair pair (which one runs second, where its code lands,
     * a frequency step), and a single pair swung by a third from run to run. */
    for (k = 0; k < ROUNDS; k++) {
        t = now_s();
        for (i = 0; i < UNCONTENDED / ROUNDS; i++) {
            floor_acquire(&f);
            floor_release(&f);
        }
        fl[k] = (now_s() - t) / (UNCONTENDED / ROUNDS) * 1e9;
        t = now_s();
        for (i = 0; i < UNCONTENDED / ROUNDS; i++) {
            mproc_lock_acquire(l, MPROC_FOREVER);
            mproc_lock_release(l);
        }
        mp[k] = (now_s() - t) / (UNCONTENDED / ROUNDS) * 1e9;
#ifndef _WIN32
        t = now_s();
        for (i = 0; i < UNCONTENDED / ROUNDS; i++) {
            pthread_mutex_lock(m);
            pthread_mutex_unlock(m);
        }
        rb[k] = (now_s() - t) / (UNCONTENDED / ROUNDS) * 1e9;
#endif
    }
    qsort(fl, ROUNDS, sizeof fl[0], cmp_double);
    qsort(mp, ROUNDS, sizeof mp[0], cmp_double);
    emit("lock_uncontended_floor", fl[ROUNDS / 2], "ns");
    emit("lock_uncontended", mp[ROUNDS / 2], "ns");
    printf("# lock_uncontended: %d alternating rounds of %ld; floor %.1f-%.1f ns, mproc %.1f-%.1f "
           "ns\n",
           ROUNDS, UNCONTENDED / ROUNDS, fl[0], fl[ROUNDS - 1], mp[0], mp[ROUNDS - 1]);
#ifndef _WIN32
    qsort(rb, ROUNDS, sizeof rb[0], cmp_double);
    emit("lock_uncontended_robust_pthread", rb[ROUNDS / 2], "ns");
    printf("# lock_uncontended_robust_pthread: the same rounds, %.1f-%.1f ns\n", rb[0],
           rb[ROUNDS - 1]);
#endif
    mproc_lock_destroy(l);
    mproc_shm_destroy(shm);
}

/* ---- contended: two processes on one lock ---- */

typedef struct contended_block {
    volatile long ready;
    volatile long counter;
    char pad[64];
    unsigned char floor_mem[128];
} contended_block;

/* arg 0: the mproc lock; 1: the floor (POSIX only: a Win32 mutex would need handing down). */
static int contender(const void *arg, size_t len)
{
    mproc_shm *shm;
    mproc_lock *l;
    contended_block *b;
    int which = 0;
    long i;
    if (len == sizeof which)
        memcpy(&which, arg, sizeof which);
    check(mproc_child_shm(0, &shm), "child_shm");
    check(mproc_child_lock(1, &l), "child_lock");
    b = mproc_shm_ptr(shm);
#ifdef _WIN32
    (void)b;
    which = 0;
#endif
    for (i = 0; i < CONTENDED; i++) {
        if (which == 0) {
            mproc_lock_acquire(l, MPROC_FOREVER);
            b->counter++;
            mproc_lock_release(l);
        }
#ifndef _WIN32
        else {
            floor_lock f;
            f.w = (volatile uint32_t *)(void *)b->floor_mem;
            floor_acquire(&f);
            b->counter++;
            floor_release(&f);
        }
#endif
    }
    return 0;
}

static double contended_run(int which, mproc_lock *l, mproc_shm *shm)
{
    contended_block *b = mproc_shm_ptr(shm);
    mproc_process *p[2];
    mproc_shared *share[2];
    mproc_process_options o;
    double t;
    int i;
    memset(&o, 0, sizeof o);
    share[0] = mproc_shm_shared(shm);
    share[1] = mproc_lock_shared(l);
    o.target = contender;
    o.arg = &which;
    o.arg_len = sizeof which;
    o.share = share;
    o.share_count = 2;
    b->counter = 0;
    for (i = 0; i < 2; i++)
        check(mproc_process_create_ex(&p[i], &o), "create");
    t = now_s();
    for (i = 0; i < 2; i++)
        check(mproc_process_start(p[i]), "start");
    for (i = 0; i < 2; i++) {
        check(mproc_process_join(p[i], MPROC_FOREVER), "join");
        mproc_process_destroy(p[i]);
    }
    t = now_s() - t;
    if (b->counter != 2 * CONTENDED) {
        fprintf(stderr, "sync_bench: lost updates: %ld of %ld\n", b->counter, 2 * CONTENDED);
        exit(1);
    }
    return t / (2.0 * CONTENDED) * 1e9;
}

static void fig_lock_contended(void)
{
    mproc_lock *l;
    mproc_shm *shm;
    double mp[CROUNDS];
#ifndef _WIN32
    double fl[CROUNDS]; /* the floor's rounds: POSIX only */
#endif
    int k;
    check(mproc_lock_create(&l), "lock_create");
    check(mproc_shm_create(&shm, sizeof(contended_block)), "shm_create");
#ifndef _WIN32
    {
        floor_lock f;
        floor_init(&f, ((contended_block *)mproc_shm_ptr(shm))->floor_mem);
    }
#endif
    /* Alternating rounds, the median of each (as for the uncontended figure). */
    for (k = 0; k < CROUNDS; k++) {
#ifndef _WIN32
        fl[k] = contended_run(1, l, shm);
#endif
        mp[k] = contended_run(0, l, shm);
    }
    qsort(mp, CROUNDS, sizeof mp[0], cmp_double);
#ifndef _WIN32
    qsort(fl, CROUNDS, sizeof fl[0], cmp_double);
    emit("lock_contended_floor", fl[CROUNDS / 2], "ns");
    printf("# lock_contended_floor: %d rounds, %.1f-%.1f ns\n", CROUNDS, fl[0], fl[CROUNDS - 1]);
#endif
    emit("lock_contended", mp[CROUNDS / 2], "ns");
    printf("# lock_contended: 2 processes x %ld acquire+release of one lock (the counter checked), "
           "%d rounds alternating with the floor, %.1f-%.1f ns; the time includes the two "
           "starts\n",
           CONTENDED, CROUNDS, mp[0], mp[CROUNDS - 1]);
    mproc_lock_destroy(l);
    mproc_shm_destroy(shm);
}

/* ---- wait latency ---- */

static int sleeper(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    sleep_ms(600000);
    return 0;
}

static int noter(const void *arg, size_t len)
{
    mproc_shm *shm;
    (void)arg;
    (void)len;
    check(mproc_child_shm(0, &shm), "child_shm");
    /* Long enough for the parent to be asleep in the wait (its first look at 1000 items and the
     * set-up of the sleep take milliseconds, more on a loaded machine). */
    sleep_ms(150);
    *(volatile double *)mproc_shm_ptr(shm) = now_s();
    return 0;
}

#define SAMPLES 30

static void fig_wait_latency(void)
{
    static const int sizes[] = {1, 64, 1000};
    mproc_process **idle;
    mproc_waitable **items;
    unsigned char *ready;
    mproc_shm *shm;
    mproc_shared *share[1];
    mproc_process_options o;
    double lat[SAMPLES];
    int k, s, i, nidle = 999;
#ifdef _WIN32
    nidle = 63; /* 1000 processes under Wine take minutes to start: 64 is the figure there */
#endif
    idle = calloc((size_t)nidle, sizeof *idle);
    items = calloc((size_t)nidle + 1, sizeof *items);
    ready = calloc((size_t)nidle + 1, 1);
    check(mproc_shm_create(&shm, 64), "shm_create");
    for (i = 0; i < nidle; i++) {
        check(mproc_process_create(&idle[i], sleeper, NULL, 0), "create");
        check(mproc_process_start(idle[i]), "start");
        items[i] = mproc_process_waitable(idle[i]);
    }
    memset(&o, 0, sizeof o);
    share[0] = mproc_shm_shared(shm);
    o.target = noter;
    o.share = share;
    o.share_count = 1;
    for (k = 0; k < 3; k++) {
        int n = sizes[k];
        if (n - 1 > nidle)
            break;
        for (s = 0; s < SAMPLES; s++) {
            mproc_process *p;
            double t;
            check(mproc_process_create_ex(&p, &o), "create");
            check(mproc_process_start(p), "start");
            /* The idle ones first, the one that ends last. */
            items[n - 1] = mproc_process_waitable(p);
            if (check(mproc_wait(items, (size_t)n, 60000, ready), "wait") != 1 || !ready[n - 1]) {
                fprintf(stderr, "sync_bench: the wait reported something else\n");
                exit(1);
            }
            t = now_s();
            lat[s] = (t - *(volatile double *)mproc_shm_ptr(shm)) * 1e6;
            mproc_process_join(p, MPROC_FOREVER);
            mproc_process_destroy(p);
            if (n - 1 < nidle)
                items[n - 1] = mproc_process_waitable(idle[n - 1]);
        }
        qsort(lat, SAMPLES, sizeof lat[0], cmp_double);
        {
            char name[64];
            sprintf(name, "wait_latency_%d", n);
            emit(name, lat[SAMPLES / 2], "us");
            printf("# %s: p10 %.1f, p90 %.1f us (%d samples)\n", name, lat[SAMPLES / 10],
                   lat[SAMPLES * 9 / 10], SAMPLES);
        }
    }
    /* The floor for one: a join. */
    for (s = 0; s < SAMPLES; s++) {
        mproc_process *p;
        check(mproc_process_create_ex(&p, &o), "create");
        check(mproc_process_start(p), "start");
        check(mproc_process_join(p, MPROC_FOREVER), "join");
        lat[s] = (now_s() - *(volatile double *)mproc_shm_ptr(shm)) * 1e6;
        mproc_process_destroy(p);
    }
    qsort(lat, SAMPLES, sizeof lat[0], cmp_double);
    emit("wait_latency_floor_join", lat[SAMPLES / 2], "us");
    for (i = 0; i < nidle; i++) {
        mproc_process_kill(idle[i]);
        mproc_process_destroy(idle[i]);
    }
    mproc_shm_destroy(shm);
    free(idle);
    free(items);
    free(ready);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    check(mproc_init(argc, argv), "mproc_init");
    if (strcmp(what, "lock_uncontended") == 0 || strcmp(what, "all") == 0)
        fig_lock_uncontended();
    if (strcmp(what, "lock_contended") == 0 || strcmp(what, "all") == 0)
        fig_lock_contended();
    if (strcmp(what, "wait_latency") == 0 || strcmp(what, "all") == 0)
        fig_wait_latency();
    return 0;
}
