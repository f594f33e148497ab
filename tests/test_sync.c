/* The sync objects (Lock, RLock, Semaphore, Event, Barrier, Condition) between processes, and
 * mproc_wait() over many objects; include/mproc/sync.h is the contract. The same source runs
 * under fork, spawn and Windows: every object reaches its children through the share list. */
#ifndef _WIN32
    #define _GNU_SOURCE
#endif
#include "testutil.h"

#ifdef _WIN32
    #define OWNER_DEATH_LOOPS 200
    #define WAIT_MANY 200
#else
    #define OWNER_DEATH_LOOPS 200
    #define WAIT_MANY 200
#endif
#define COUNTER_PROCS 8
#define COUNTER_INCREMENTS 10000
/* Generous: a loaded 2-core machine under Wine takes seconds for what takes milliseconds. */
#define LONG_WAIT_MS 60000L

/* What the children share besides the sync objects: a block of shared memory laid out so. */
typedef struct shared_block {
    volatile long counter;
    volatile long holding; /* set by a child once it holds the lock */
    volatile long items;
    volatile long taken;
    volatile long inside; /* the semaphore test: processes inside the bounded section now */
    volatile long woken;
} shared_block;

static shared_block *child_block(void)
{
    mproc_shm *s = NULL;
    assert_true(mproc_child_shm(0, &s) == MPROC_OK);
    return mproc_shm_ptr(s);
}

/* Starts a process running fn(arg) with shm (index 0) and obj (index 1) handed to it. */
static mproc_process *start_with(mproc_target fn, int arg, mproc_shm *shm, mproc_shared *obj)
{
    mproc_shared *share[2];
    share[0] = mproc_shm_shared(shm);
    share[1] = obj;
    return tu_start_sharing(fn, &arg, sizeof arg, share, obj != NULL ? 2 : 1);
}

/* Starts n processes alike: p[i] runs fn(arg) with shm and obj. */
static void start_all(mproc_process **p, int n, mproc_target fn, int arg, mproc_shm *shm,
                      mproc_shared *obj)
{
    int i;
    for (i = 0; i < n; i++)
        p[i] = start_with(fn, arg, shm, obj);
}

static void join_ok(mproc_process *p)
{
    tu_join_ok(p, LONG_WAIT_MS);
}

/* Joins p[0] .. p[n - 1]: each must exit with 0. */
static void join_all(mproc_process **p, int n)
{
    int i;
    for (i = 0; i < n; i++)
        join_ok(p[i]);
}

static mproc_shm *new_block(void)
{
    mproc_shm *s = NULL;
    assert_int_equal(mproc_shm_create(&s, sizeof(shared_block)), MPROC_OK);
    return s;
}

static shared_block *block_of(mproc_shm *s)
{
    return mproc_shm_ptr(s);
}

/* ---- Lock ---------------------------------------------------------------------------------- */

static int t_increment(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_lock *l = NULL;
    int i, n = tu_read_int(arg, len);
    if (mproc_child_lock(1, &l) != MPROC_OK)
        return 2;
    for (i = 0; i < n; i++) {
        if (mproc_lock_acquire(l, MPROC_FOREVER) != MPROC_OK)
            return 3;
        b->counter = b->counter + 1; /* not atomic: only the lock keeps it exact */
        if (mproc_lock_release(l) != MPROC_OK)
            return 4;
    }
    return 0;
}

static void test_lock_counter_exact(void **state)
{
    mproc_process *p[COUNTER_PROCS];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    mproc_lock *l = NULL;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    start_all(p, COUNTER_PROCS, t_increment, COUNTER_INCREMENTS, shm, mproc_lock_shared(l));
    join_all(p, COUNTER_PROCS);
    assert_int_equal(block_of(shm)->counter, COUNTER_PROCS * COUNTER_INCREMENTS);
    mproc_lock_destroy(l);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

/* Takes the lock, says so, and waits to be killed. */
static int t_hold_forever(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_lock *l = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_lock(1, &l) != MPROC_OK || mproc_lock_acquire(l, MPROC_FOREVER) != MPROC_OK)
        return 2;
    tu_atomic_store(&b->holding, 1);
    tu_sleep_ms(LONG_WAIT_MS);
    return 3;
}

static void test_lock_owner_death(void **state)
{
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    shared_block *b = block_of(shm);
    mproc_lock *l = NULL;
    double worst = 0, sum = 0;
    int i, dead = 0;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    for (i = 0; i < OWNER_DEATH_LOOPS; i++) {
        mproc_process *p;
        uint64_t until = tu_now_ms() + LONG_WAIT_MS;
        double t0, dt;
        int r;
        tu_atomic_store(&b->holding, 0);
        p = start_with(t_hold_forever, 0, shm, mproc_lock_shared(l));
        while (tu_atomic_load(&b->holding) == 0 && tu_now_ms() < until)
            tu_sleep_ms(1);
        assert_int_equal(tu_atomic_load(&b->holding), 1);
        assert_int_equal(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
        t0 = tu_now_s();
        assert_int_equal(mproc_process_kill(p), MPROC_OK);
        r = mproc_lock_acquire(l, 10000);
        dt = tu_now_s() - t0;
        assert_int_equal(r, MPROC_EOWNERDEAD);
        dead++;
        sum += dt;
        if (dt > worst)
            worst = dt;
        /* Works normally from here on. */
        assert_int_equal(mproc_lock_release(l), MPROC_OK);
        assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK);
        assert_int_equal(mproc_lock_release(l), MPROC_OK);
        assert_int_equal(mproc_process_join(p, LONG_WAIT_MS), MPROC_OK);
        mproc_process_destroy(p);
    }
    printf("# owner death (%s): %d/%d MPROC_EOWNERDEAD after the kill, mean %.2f ms, worst %.2f "
           "ms (the issue asks for <= 1000 ms)\n",
           tu_method_name(), dead, OWNER_DEATH_LOOPS, sum / OWNER_DEATH_LOOPS * 1e3, worst * 1e3);
    /* The figure the issue asks for, with a margin for a loaded machine. */
    assert_true(worst < 5.0);
    mproc_lock_destroy(l);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

typedef struct lock_thread_arg {
    mproc_lock *l;
    int rc;
    double waited;
} lock_thread_arg;

static void th_acquire_200(void *arg)
{
    lock_thread_arg *a = arg;
    double t0 = tu_now_s();
    a->rc = mproc_lock_acquire(a->l, 200);
    a->waited = tu_now_s() - t0;
}

static void th_release(void *arg)
{
    lock_thread_arg *a = arg;
    a->rc = mproc_lock_release(a->l);
}

static void test_lock_timeouts_and_owner(void **state)
{
    mproc_lock *l = NULL;
    lock_thread_arg a;
    tu_thread t;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    assert_int_equal(mproc_lock_release(l), MPROC_ESTATE); /* not held */
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK);
    /* The holder itself: refused at once, with any timeout. */
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_ESTATE);
    assert_int_equal(mproc_lock_acquire(l, 100), MPROC_ESTATE);
    assert_int_equal(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_ESTATE);
    /* Another thread times out, after about its timeout, and may not release it. */
    a.l = l;
    tu_thread_start(&t, th_acquire_200, &a);
    tu_thread_join(&t);
    assert_int_equal(a.rc, MPROC_ETIMEDOUT);
    assert_true(a.waited >= 0.15 && a.waited < 10.0);
    tu_thread_start(&t, th_release, &a);
    tu_thread_join(&t);
    assert_int_equal(a.rc, MPROC_ESTATE);
    assert_int_equal(mproc_lock_release(l), MPROC_OK);
    assert_int_equal(mproc_lock_release(l), MPROC_ESTATE);
    mproc_lock_destroy(l);
}

/* A thread that ends holding the lock: the next acquirer gets it, told so. */
static void th_take_and_end(void *arg)
{
    lock_thread_arg *a = arg;
    a->rc = mproc_lock_acquire(a->l, MPROC_FOREVER);
}

static void test_lock_holder_thread_ends(void **state)
{
    mproc_lock *l = NULL;
    lock_thread_arg a;
    tu_thread t;
    int i;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    a.l = l;
    for (i = 0; i < 20; i++) {
        tu_thread_start(&t, th_take_and_end, &a);
        tu_thread_join(&t);
        assert_int_equal(a.rc, MPROC_OK);
        assert_int_equal(mproc_lock_acquire(l, LONG_WAIT_MS), MPROC_EOWNERDEAD);
        assert_int_equal(mproc_lock_release(l), MPROC_OK);
        assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK);
        assert_int_equal(mproc_lock_release(l), MPROC_OK);
    }
    mproc_lock_destroy(l);
}

/* Holds the lock `arg` ms, then lets go and exits 0. */
static int t_hold_a_while(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_lock *l = NULL;
    if (mproc_child_lock(1, &l) != MPROC_OK || mproc_lock_acquire(l, MPROC_FOREVER) != MPROC_OK)
        return 2;
    tu_atomic_store(&b->holding, 1);
    tu_sleep_ms(tu_read_int(arg, len));
    return mproc_lock_release(l) == MPROC_OK ? 0 : 3;
}

/* A holder in another process that lives through many of a waiter's looks at it is never taken
 * for dead: the waiter times out, then gets the lock plainly once it is let go. */
static void test_lock_live_holder_kept(void **state)
{
    mproc_shm *shm = new_block();
    shared_block *b = block_of(shm);
    mproc_lock *l = NULL;
    mproc_process *p;
    uint64_t until = tu_now_ms() + LONG_WAIT_MS;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    p = start_with(t_hold_a_while, 2500, shm, mproc_lock_shared(l));
    while (tu_atomic_load(&b->holding) == 0 && tu_now_ms() < until)
        tu_sleep_ms(1);
    assert_int_equal(tu_atomic_load(&b->holding), 1);
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_lock_acquire(l, 400), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_lock_acquire(l, LONG_WAIT_MS), MPROC_OK);
    assert_int_equal(mproc_lock_release(l), MPROC_OK);
    join_ok(p);
    mproc_lock_destroy(l);
    mproc_shm_destroy(shm);
}

static void test_rlock_depth(void **state)
{
    mproc_rlock *l = NULL;
    int i;
    (void)state;
    assert_int_equal(mproc_rlock_create(&l), MPROC_OK);
    assert_int_equal(mproc_rlock_release(l), MPROC_ESTATE);
    for (i = 0; i < 100; i++)
        assert_int_equal(mproc_rlock_acquire(l, i % 2 ? 0 : MPROC_FOREVER), MPROC_OK);
    for (i = 0; i < 100; i++)
        assert_int_equal(mproc_rlock_release(l), MPROC_OK);
    assert_int_equal(mproc_rlock_release(l), MPROC_ESTATE);
    mproc_rlock_destroy(l);
}

static int t_rlock_try(const void *arg, size_t len)
{
    mproc_rlock *l = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_rlock(1, &l) != MPROC_OK)
        return 2;
    /* Held twice by the parent: out of reach here until both are released. */
    if (mproc_rlock_acquire(l, 100) != MPROC_ETIMEDOUT)
        return 3;
    if (mproc_rlock_release(l) != MPROC_ESTATE)
        return 4;
    return 0;
}

static void test_rlock_across_processes(void **state)
{
    mproc_shm *shm = new_block();
    mproc_rlock *l = NULL;
    (void)state;
    assert_int_equal(mproc_rlock_create(&l), MPROC_OK);
    assert_int_equal(mproc_rlock_acquire(l, 0), MPROC_OK);
    assert_int_equal(mproc_rlock_acquire(l, 0), MPROC_OK);
    join_ok(start_with(t_rlock_try, 0, shm, mproc_rlock_shared(l)));
    assert_int_equal(mproc_rlock_release(l), MPROC_OK);
    assert_int_equal(mproc_rlock_release(l), MPROC_OK);
    mproc_rlock_destroy(l);
    mproc_shm_destroy(shm);
}

/* ---- Semaphore ----------------------------------------------------------------------------- */

#define SEM_PROCS 16
#define SEM_SLOTS 3

static int t_bounded(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_sem *s = NULL;
    int i;
    (void)arg;
    (void)len;
    if (mproc_child_sem(1, &s) != MPROC_OK)
        return 2;
    for (i = 0; i < 20; i++) {
        long now;
        if (mproc_sem_acquire(s, LONG_WAIT_MS) != MPROC_OK)
            return 3;
        now = tu_atomic_add(&b->inside, 1);
        if (now > SEM_SLOTS)
            return 4;
        tu_sleep_ms(1);
        tu_atomic_add(&b->inside, -1);
        if (mproc_sem_release(s) != MPROC_OK)
            return 5;
    }
    return 0;
}

static void test_sem_bounded_resource(void **state)
{
    mproc_process *p[SEM_PROCS];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    mproc_sem *s = NULL;
    unsigned v = 99;
    (void)state;
    assert_int_equal(mproc_sem_create(&s, SEM_SLOTS), MPROC_OK);
    start_all(p, SEM_PROCS, t_bounded, 0, shm, mproc_sem_shared(s));
    join_all(p, SEM_PROCS);
    assert_int_equal(mproc_sem_value(s, &v), MPROC_OK);
    assert_int_equal(v, SEM_SLOTS);
    mproc_sem_destroy(s);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

static void test_sem_timeout_and_limit(void **state)
{
    mproc_sem *s = NULL;
    unsigned v = 99;
    double t0;
    (void)state;
    assert_int_equal(mproc_sem_create(&s, 0), MPROC_OK);
    assert_int_equal(mproc_sem_acquire(s, 0), MPROC_ETIMEDOUT);
    t0 = tu_now_s();
    assert_int_equal(mproc_sem_acquire(s, 200), MPROC_ETIMEDOUT);
    assert_true(tu_now_s() - t0 >= 0.15);
    assert_int_equal(mproc_sem_release(s), MPROC_OK);
    assert_int_equal(mproc_sem_release(s), MPROC_OK);
    assert_int_equal(mproc_sem_value(s, &v), MPROC_OK);
    assert_int_equal(v, 2);
    assert_int_equal(mproc_sem_acquire(s, 0), MPROC_OK);
    assert_int_equal(mproc_sem_acquire(s, MPROC_FOREVER), MPROC_OK);
    assert_int_equal(mproc_sem_acquire(s, 0), MPROC_ETIMEDOUT);
    mproc_sem_destroy(s);
    assert_int_equal(mproc_sem_create(&s, MPROC_SEM_MAX), MPROC_OK);
    assert_int_equal(mproc_sem_release(s), MPROC_ESTATE);
    mproc_sem_destroy(s);
}

/* ---- Event --------------------------------------------------------------------------------- */

#define EVENT_WAITERS 8

static int t_event_wait(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_event *e = NULL;
    (void)arg;
    (void)len;
    if (mproc_child_event(1, &e) != MPROC_OK)
        return 2;
    tu_atomic_add(&b->holding, 1); /* here: about to wait */
    if (mproc_event_wait(e, LONG_WAIT_MS) != MPROC_OK)
        return 3;
    tu_atomic_add(&b->woken, 1);
    return mproc_event_is_set(e) ? 0 : 4;
}

static void test_event_wakes_all(void **state)
{
    mproc_process *p[EVENT_WAITERS];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    shared_block *b = block_of(shm);
    mproc_event *e = NULL;
    uint64_t until;
    (void)state;
    assert_int_equal(mproc_event_create(&e), MPROC_OK);
    assert_int_equal(mproc_event_is_set(e), 0);
    assert_int_equal(mproc_event_wait(e, 50), MPROC_ETIMEDOUT);
    start_all(p, EVENT_WAITERS, t_event_wait, 0, shm, mproc_event_shared(e));
    until = tu_now_ms() + LONG_WAIT_MS;
    while (tu_atomic_load(&b->holding) < EVENT_WAITERS && tu_now_ms() < until)
        tu_sleep_ms(5);
    tu_sleep_ms(50);
    assert_int_equal(tu_atomic_load(&b->woken), 0);
    assert_int_equal(mproc_event_set(e), MPROC_OK);
    join_all(p, EVENT_WAITERS);
    assert_int_equal(b->woken, EVENT_WAITERS);
    assert_int_equal(mproc_event_wait(e, 0), MPROC_OK);
    assert_int_equal(mproc_event_clear(e), MPROC_OK);
    assert_int_equal(mproc_event_is_set(e), 0);
    mproc_event_destroy(e);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

/* ---- Barrier ------------------------------------------------------------------------------- */

#define BARRIER_PARTIES 8

/* arg 0: the victim (waits first, is killed while waiting); others wait for it to be waiting. */
static int t_barrier_party(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_barrier *br = NULL;
    int who = tu_read_int(arg, len), r;
    if (mproc_child_barrier(1, &br) != MPROC_OK)
        return 2;
    if (who == 0) {
        tu_atomic_store(&b->holding, 1);
        mproc_barrier_wait(br, LONG_WAIT_MS);
        return 3; /* never: it is killed first */
    }
    r = mproc_barrier_wait(br, LONG_WAIT_MS);
    if (r == MPROC_EBROKEN)
        return 0;
    return r >= 0 ? 4 : 5;
}

static int t_barrier_round(const void *arg, size_t len)
{
    mproc_barrier *br = NULL;
    int r;
    (void)arg;
    (void)len;
    if (mproc_child_barrier(1, &br) != MPROC_OK)
        return 2;
    r = mproc_barrier_wait(br, LONG_WAIT_MS);
    return r >= 0 && r < BARRIER_PARTIES ? 0 : 3;
}

static void test_barrier_party_killed(void **state)
{
    mproc_process *p[BARRIER_PARTIES];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    shared_block *b = block_of(shm);
    mproc_barrier *br = NULL;
    uint64_t until;
    double t0;
    int i, r, seen = 0;
    (void)state;
    assert_int_equal(mproc_barrier_create(&br, BARRIER_PARTIES), MPROC_OK);
    p[0] = start_with(t_barrier_party, 0, shm, mproc_barrier_shared(br));
    until = tu_now_ms() + LONG_WAIT_MS;
    while (tu_atomic_load(&b->holding) == 0 && tu_now_ms() < until)
        tu_sleep_ms(2);
    tu_sleep_ms(100); /* inside the wait by now, in all likelihood; the test holds either way */
    /* Killed while it waits: the others, arriving after, never complete the round. */
    t0 = tu_now_s();
    assert_int_equal(mproc_process_kill(p[0]), MPROC_OK);
    assert_int_equal(mproc_process_join(p[0], LONG_WAIT_MS), MPROC_OK);
    mproc_process_destroy(p[0]);
    for (i = 1; i < BARRIER_PARTIES; i++)
        p[i] = start_with(t_barrier_party, i, shm, mproc_barrier_shared(br));
    for (i = 1; i < BARRIER_PARTIES; i++) {
        join_ok(p[i]); /* exit code 0: that party got MPROC_EBROKEN */
        seen++;
    }
    printf("# barrier (%s): %d of %d parties got MPROC_EBROKEN, %.0f ms after the kill\n",
           tu_method_name(), seen, BARRIER_PARTIES - 1, (tu_now_s() - t0) * 1e3);
    assert_int_equal(mproc_barrier_broken(br), 1);
    assert_int_equal(mproc_barrier_wait(br, 0), MPROC_EBROKEN);
    /* Reset: a full round works again. */
    assert_int_equal(mproc_barrier_reset(br), MPROC_OK);
    assert_int_equal(mproc_barrier_broken(br), 0);
    for (i = 1; i < BARRIER_PARTIES; i++)
        p[i] = start_with(t_barrier_round, i, shm, mproc_barrier_shared(br));
    r = mproc_barrier_wait(br, LONG_WAIT_MS);
    assert_true(r >= 0 && r < BARRIER_PARTIES);
    join_all(p + 1, BARRIER_PARTIES - 1);
    mproc_barrier_destroy(br);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

static void test_barrier_timeout_breaks(void **state)
{
    mproc_barrier *br = NULL;
    double t0;
    (void)state;
    assert_int_equal(mproc_barrier_create(&br, 2), MPROC_OK);
    t0 = tu_now_s();
    assert_int_equal(mproc_barrier_wait(br, 150), MPROC_EBROKEN);
    assert_true(tu_now_s() - t0 >= 0.1);
    assert_int_equal(mproc_barrier_broken(br), 1);
    assert_int_equal(mproc_barrier_reset(br), MPROC_OK);
    assert_int_equal(mproc_barrier_broken(br), 0);
    mproc_barrier_destroy(br);
    assert_int_equal(mproc_barrier_create(&br, 1), MPROC_OK);
    assert_int_equal(mproc_barrier_wait(br, 0), 0);
    assert_int_equal(mproc_barrier_wait(br, MPROC_FOREVER), 0);
    mproc_barrier_destroy(br);
}

/* ---- Condition ----------------------------------------------------------------------------- */

#define CONSUMERS 4
#define PER_CONSUMER 250

static int t_consumer(const void *arg, size_t len)
{
    shared_block *b = child_block();
    mproc_cond *c = NULL;
    mproc_lock *l;
    int i;
    (void)arg;
    (void)len;
    if (mproc_child_cond(1, &c) != MPROC_OK)
        return 2;
    l = mproc_cond_lock(c);
    for (i = 0; i < PER_CONSUMER; i++) {
        if (mproc_lock_acquire(l, MPROC_FOREVER) != MPROC_OK)
            return 3;
        while (b->items == 0)
            if (mproc_cond_wait(c, LONG_WAIT_MS) == MPROC_ETIMEDOUT) {
                mproc_lock_release(l);
                return 4;
            }
        b->items--;
        b->taken++;
        mproc_lock_release(l);
    }
    return 0;
}

static void test_cond_producer_consumer(void **state)
{
    mproc_process *p[CONSUMERS];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = new_block();
    shared_block *b = block_of(shm);
    mproc_cond *c = NULL;
    mproc_lock *l = NULL;
    int i;
    (void)state;
    assert_int_equal(mproc_lock_create(&l), MPROC_OK);
    assert_int_equal(mproc_cond_create(&c, l), MPROC_OK);
    assert_ptr_equal(mproc_cond_lock(c), l);
    start_all(p, CONSUMERS, t_consumer, 0, shm, mproc_cond_shared(c));
    for (i = 0; i < CONSUMERS * PER_CONSUMER; i++) {
        assert_int_equal(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_OK);
        b->items++;
        assert_int_equal(mproc_cond_notify(c), MPROC_OK);
        assert_int_equal(mproc_lock_release(l), MPROC_OK);
        if (i % 100 == 0) {
            assert_int_equal(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_OK);
            assert_int_equal(mproc_cond_notify_all(c), MPROC_OK);
            assert_int_equal(mproc_lock_release(l), MPROC_OK);
        }
    }
    join_all(p, CONSUMERS);
    assert_int_equal(b->taken, CONSUMERS * PER_CONSUMER);
    assert_int_equal(b->items, 0);
    /* Not holding the lock: refused. */
    assert_int_equal(mproc_cond_notify(c), MPROC_ESTATE);
    assert_int_equal(mproc_cond_notify_all(c), MPROC_ESTATE);
    assert_int_equal(mproc_cond_wait(c, 0), MPROC_ESTATE);
    /* A wait that times out holds the lock again. */
    assert_int_equal(mproc_lock_acquire(l, 0), MPROC_OK);
    assert_int_equal(mproc_cond_wait(c, 50), MPROC_ETIMEDOUT);
    assert_int_equal(mproc_lock_release(l), MPROC_OK);
    mproc_cond_destroy(c);
    mproc_lock_destroy(l);
    /* Its own lock. */
    assert_int_equal(mproc_cond_create(&c, NULL), MPROC_OK);
    assert_non_null(mproc_cond_lock(c));
    mproc_cond_destroy(c);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

/* ---- mproc_wait ---------------------------------------------------------------------------- */

static int t_sleep(const void *arg, size_t len)
{
    tu_sleep_ms(tu_read_int(arg, len));
    return 0;
}

static mproc_process *start_sleeper(int ms)
{
    mproc_process *p = NULL;
    assert_int_equal(mproc_process_create(&p, t_sleep, &ms, sizeof ms), MPROC_OK);
    assert_int_equal(mproc_process_start(p), MPROC_OK);
    return p;
}

/* arg: index * 100000 + milliseconds to sleep once the event (the starting gun: starting 200
 * processes takes seconds under Wine) is set; the child notes when it ends (the monotonic clock
 * is the machine's, on both OSes) in slot index of the shared block. */
static int t_sleep_note(const void *arg, size_t len)
{
    mproc_shm *s = NULL;
    mproc_event *go = NULL;
    int v = tu_read_int(arg, len);
    if (mproc_child_shm(0, &s) != MPROC_OK || mproc_child_event(1, &go) != MPROC_OK)
        return 2;
    if (mproc_event_wait(go, LONG_WAIT_MS) != MPROC_OK)
        return 3;
    tu_sleep_ms(v % 100000);
    ((volatile uint64_t *)mproc_shm_ptr(s))[v / 100000] = tu_now_ms();
    return 0;
}

static void test_wait_many_processes(void **state)
{
    mproc_process *p[WAIT_MANY];
    mproc_waitable *live[WAIT_MANY];
    int at[WAIT_MANY], seen[WAIT_MANY], round_of[WAIT_MANY];
    uint64_t reported_at[WAIT_MANY];
    unsigned char ready[WAIT_MANY];
    tu_counts base = tu_counts_now();
    mproc_shm *shm = NULL;
    mproc_event *go = NULL;
    volatile uint64_t *ended;
    uint32_t rng = 12345;
    size_t left = WAIT_MANY, i, j;
    int rounds = 0, inversions = 0;
    double t0, start_s, sum = 0, worst = 0;
    (void)state;
    assert_int_equal(mproc_shm_create(&shm, WAIT_MANY * sizeof(uint64_t)), MPROC_OK);
    ended = mproc_shm_ptr(shm);
    assert_int_equal(mproc_event_create(&go), MPROC_OK);
    t0 = tu_now_s();
    for (i = 0; i < WAIT_MANY; i++) {
        /* Ends spread over two seconds, at 10 ms steps. */
        int ms = 300 + (int)(tu_rand(&rng) % 200) * 10;
        p[i] = start_with(t_sleep_note, (int)i * 100000 + ms, shm, mproc_event_shared(go));
        live[i] = mproc_process_waitable(p[i]);
        at[i] = (int)i;
        seen[i] = 0;
    }
    start_s = tu_now_s() - t0;
    assert_int_equal(mproc_event_set(go), MPROC_OK);
    while (left > 0) {
        size_t k = 0;
        int r;
        r = mproc_wait(live, left, LONG_WAIT_MS, ready);
        assert_true(r > 0);
        for (i = 0; i < left; i++) {
            if (ready[i]) {
                seen[at[i]]++;
                round_of[at[i]] = rounds;
                reported_at[at[i]] = tu_now_ms();
            } else {
                live[k] = live[i];
                at[k++] = at[i];
            }
        }
        assert_true((size_t)r == left - k);
        left = k;
        rounds++;
    }
    for (i = 0; i < WAIT_MANY; i++) {
        double lat;
        assert_int_equal(seen[i], 1);
        assert_int_equal(mproc_process_join(p[i], LONG_WAIT_MS), MPROC_OK);
        assert_true(ended[i] != 0);
        lat = (double)(reported_at[i] - (ended[i] < reported_at[i] ? ended[i] : reported_at[i]));
        sum += lat;
        if (lat > worst)
            worst = lat;
        mproc_process_destroy(p[i]);
    }
    /* Order: a process reported in a later round than another ended after it, give or take the
     * timer and the time from its note to its exit (20 ms); counted, not asserted. */
    for (i = 0; i < WAIT_MANY; i++)
        for (j = 0; j < WAIT_MANY; j++)
            if (round_of[i] < round_of[j] && ended[i] > ended[j] + 20)
                inversions++;
    printf("# wait on %d processes (%s): each reported once in %d rounds (starting them took "
           "%.0f ms); from a child's last note to its report: mean %.1f ms, worst %.0f ms; %d "
           "pairs out of exit order by more than 20 ms\n",
           WAIT_MANY, tu_method_name(), rounds, start_s * 1e3, sum / WAIT_MANY, worst, inversions);
    mproc_event_destroy(go);
    mproc_shm_destroy(shm);
    tu_assert_counts_back(&base, 5000);
}

/* A child with a pipe end (0) and the starting gun (1): sleeps arg ms once the event is set, then
 * sends its number and ends. */
#define MIXED 100

static int t_pipe_sender(const void *arg, size_t len)
{
    mproc_pipe *end = NULL;
    mproc_event *go = NULL;
    int v = tu_read_int(arg, len);
    if (mproc_child_pipe(0, &end) != MPROC_OK || mproc_child_event(1, &go) != MPROC_OK)
        return 2;
    if (mproc_event_wait(go, LONG_WAIT_MS) != MPROC_OK)
        return 3;
    tu_sleep_ms(v % 100000);
    v /= 100000;
    return mproc_pipe_send(end, &v, sizeof v) == MPROC_OK ? 0 : 4;
}

static void test_wait_pipes_and_processes(void **state)
{
    mproc_process *p[MIXED];
    mproc_pipe *mine[MIXED];
    mproc_waitable *live[2 * MIXED];
    int what[2 * MIXED]; /* i: process i, MIXED + i: pipe i */
    int proc_seen[MIXED], pipe_seen[MIXED];
    unsigned char ready[2 * MIXED];
    tu_counts base = tu_counts_now();
    mproc_event *go = NULL;
    uint32_t rng = 777;
    size_t left = 2 * MIXED, i;
    int rounds = 0;
    (void)state;
    assert_int_equal(mproc_event_create(&go), MPROC_OK);
    for (i = 0; i < MIXED; i++) {
        mproc_pipe *theirs = NULL;
        mproc_shared *share[2];
        mproc_process_options o;
        int arg = (int)i * 100000 + 50 + (int)(tu_rand(&rng) % 100) * 10;
        assert_int_equal(mproc_pipe_create(&mine[i], &theirs), MPROC_OK);
        memset(&o, 0, sizeof o);
        share[0] = mproc_pipe_shared(theirs);
        share[1] = mproc_event_shared(go);
        o.target = t_pipe_sender;
        o.arg = &arg;
        o.arg_len = sizeof arg;
        o.share = share;
        o.share_count = 2;
        assert_int_equal(mproc_process_create_ex(&p[i], &o), MPROC_OK);
        mproc_pipe_destroy(theirs); /* the process holds its own */
        assert_int_equal(mproc_process_start(p[i]), MPROC_OK);
        proc_seen[i] = pipe_seen[i] = 0;
    }
    /* Interleaved: process 0, pipe 0, process 1, ... */
    for (i = 0; i < MIXED; i++) {
        live[2 * i] = mproc_process_waitable(p[i]);
        what[2 * i] = (int)i;
        live[2 * i + 1] = mproc_pipe_waitable(mine[i]);
        what[2 * i + 1] = MIXED + (int)i;
    }
    assert_int_equal(mproc_wait(live, left, 0, ready), 0);
    assert_int_equal(mproc_event_set(go), MPROC_OK);
    while (left > 0) {
        size_t k = 0;
        int r = mproc_wait(live, left, LONG_WAIT_MS, ready);
        assert_true(r > 0);
        rounds++;
        for (i = 0; i < left; i++) {
            if (!ready[i]) {
                live[k] = live[i];
                what[k++] = what[i];
            } else if (what[i] < MIXED) {
                proc_seen[what[i]]++;
            } else {
                int j = what[i] - MIXED, got = -1;
                void *data = NULL;
                size_t n = 0;
                pipe_seen[j]++;
                /* Ready: the message is there (recv does not wait). */
                assert_int_equal(mproc_pipe_recv(mine[j], 0, &data, &n), MPROC_OK);
                assert_int_equal(n, sizeof got);
                memcpy(&got, data, sizeof got);
                mproc_free(data);
                assert_int_equal(got, j);
            }
        }
        left = k;
    }
    for (i = 0; i < MIXED; i++) {
        assert_int_equal(proc_seen[i], 1);
        assert_int_equal(pipe_seen[i], 1);
        join_ok(p[i]);
        mproc_pipe_destroy(mine[i]);
    }
    printf("# wait on %d pipes and %d processes (%s): each reported once, %d rounds\n", MIXED,
           MIXED, tu_method_name(), rounds);
    mproc_event_destroy(go);
    tu_assert_counts_back(&base, 5000);
}

/* ---- task handles in mproc_wait (issue 13 item 6: as_completed) ---------------------------- */

#define TASKS 40

static int task_sleep(const void *arg, size_t len, mproc_output *out)
{
    int ms = tu_read_int(arg, len);
    tu_sleep_ms(ms);
    return mproc_output_set(out, &ms, sizeof ms);
}

typedef struct cb_wait {
    mproc_async *a;
    int rc;
} cb_wait;

/* On the pool's own thread: waiting there for a task of the pool would never end. */
static void cb_waits_on_task(void *user, const void *result, size_t len)
{
    cb_wait *c = user;
    mproc_waitable *w = mproc_async_waitable(c->a);
    unsigned char ready = 0;
    (void)result;
    (void)len;
    c->rc = mproc_wait(&w, 1, 1000, &ready);
}

static void test_wait_task_handles(void **state)
{
    mproc_async *a[TASKS];
    mproc_waitable *live[TASKS + 1];
    int at[TASKS + 1], seen[TASKS];
    unsigned char ready[TASKS + 1];
    mproc_process *proc;
    mproc_pool *pool = NULL;
    uint32_t rng = 99;
    size_t left = TASKS + 1, i;
    int proc_seen = 0, rounds = 0;
    cb_wait c;
    (void)state;
    assert_int_equal(mproc_pool_create(&pool, 4), MPROC_OK);
    for (i = 0; i < TASKS; i++) {
        int ms = 20 + (int)(tu_rand(&rng) % 30) * 10;
        assert_int_equal(
            mproc_pool_apply_async(pool, task_sleep, &ms, sizeof ms, NULL, NULL, NULL, &a[i]),
            MPROC_OK);
        live[i] = mproc_async_waitable(a[i]);
        at[i] = (int)i;
        seen[i] = 0;
    }
    /* A process among them. */
    proc = start_sleeper(300);
    live[TASKS] = mproc_process_waitable(proc);
    at[TASKS] = TASKS;
    while (left > 0) {
        size_t k = 0;
        int r = mproc_wait(live, left, LONG_WAIT_MS, ready);
        assert_true(r > 0);
        rounds++;
        for (i = 0; i < left; i++) {
            if (!ready[i]) {
                live[k] = live[i];
                at[k++] = at[i];
            } else if (at[i] == TASKS) {
                proc_seen++;
            } else {
                const void *data = NULL;
                size_t n = 0;
                seen[at[i]]++;
                /* Ready: the result is there. */
                assert_int_equal(mproc_async_get(a[at[i]], 0, &data, &n), MPROC_OK);
                assert_int_equal(n, sizeof(int));
            }
        }
        left = k;
    }
    for (i = 0; i < TASKS; i++) {
        assert_int_equal(seen[i], 1);
        mproc_async_release(a[i]);
    }
    assert_int_equal(proc_seen, 1);
    mproc_process_destroy(proc);
    printf("# wait on %d task handles and a process (%s): each reported once, %d rounds\n", TASKS,
           tu_method_name(), rounds);
    /* From a callback, on a task not done: MPROC_EDEADLK at once. */
    {
        int ms = 2000;
        mproc_async *slow = NULL, *first = NULL;
        assert_int_equal(
            mproc_pool_apply_async(pool, task_sleep, &ms, sizeof ms, NULL, NULL, NULL, &slow),
            MPROC_OK);
        c.a = slow;
        c.rc = 12345;
        ms = 1;
        assert_int_equal(mproc_pool_apply_async(pool, task_sleep, &ms, sizeof ms, cb_waits_on_task,
                                                NULL, &c, &first),
                         MPROC_OK);
        assert_int_equal(mproc_async_wait(first, LONG_WAIT_MS), MPROC_OK);
        assert_int_equal(mproc_pool_close(pool), MPROC_OK);
        assert_int_equal(mproc_pool_join(pool), MPROC_OK);
        assert_int_equal(c.rc, MPROC_EDEADLK);
        mproc_async_release(slow);
        mproc_async_release(first);
    }
    mproc_pool_destroy(pool);
}

static void test_wait_nothing_ready(void **state)
{
    mproc_process *p[3];
    mproc_waitable *w[4];
    unsigned char ready[4];
    mproc_event *e = NULL;
    double t0, dt;
    int i;
    (void)state;
    for (i = 0; i < 3; i++) {
        p[i] = start_sleeper(20000);
        w[i] = mproc_process_waitable(p[i]);
    }
    assert_int_equal(mproc_event_create(&e), MPROC_OK);
    w[3] = mproc_event_waitable(e);
    assert_int_equal(mproc_wait(w, 4, 0, ready), 0);
    t0 = tu_now_s();
    assert_int_equal(mproc_wait(w, 4, 300, ready), 0);
    dt = tu_now_s() - t0;
    printf("# nothing ready (%s): a 300 ms wait took %.1f ms (issue: +-50 ms)\n", tu_method_name(),
           dt * 1e3);
    /* Never early; late only by what a loaded machine adds (the figure is in the note). */
    assert_true(dt >= 0.29 && dt < 5.0);
    for (i = 0; i < 4; i++)
        assert_int_equal(ready[i], 0);
    /* The event set: ready at once, alone. */
    assert_int_equal(mproc_event_set(e), MPROC_OK);
    assert_int_equal(mproc_wait(w, 4, LONG_WAIT_MS, ready), 1);
    assert_int_equal(ready[3], 1);
    assert_int_equal(ready[0], 0);
    /* A killed process wakes it (the event cleared). */
    assert_int_equal(mproc_event_clear(e), MPROC_OK);
    assert_int_equal(mproc_process_kill(p[1]), MPROC_OK);
    assert_int_equal(mproc_wait(w, 4, LONG_WAIT_MS, ready), 1);
    assert_int_equal(ready[1], 1);
    /* The same item twice: both marked. */
    w[0] = w[1];
    assert_int_equal(mproc_wait(w, 2, LONG_WAIT_MS, ready), 2);
    for (i = 0; i < 3; i++) {
        mproc_process_kill(p[i]);
        mproc_process_destroy(p[i]);
    }
    mproc_event_destroy(e);
}

static void test_wait_semaphore_and_unstarted(void **state)
{
    mproc_process *idle = NULL;
    mproc_waitable *w[2];
    unsigned char ready[2];
    mproc_sem *s = NULL;
    int zero = 0;
    (void)state;
    assert_int_equal(mproc_process_create(&idle, t_sleep, &zero, sizeof zero), MPROC_OK);
    assert_int_equal(mproc_sem_create(&s, 0), MPROC_OK);
    w[0] = mproc_process_waitable(idle); /* never started: never ready */
    w[1] = mproc_sem_waitable(s);
    assert_int_equal(mproc_wait(w, 2, 30, ready), 0);
    assert_int_equal(mproc_sem_release(s), MPROC_OK);
    assert_int_equal(mproc_wait(w, 2, LONG_WAIT_MS, ready), 1);
    assert_int_equal(ready[1], 1);
    assert_int_equal(mproc_sem_acquire(s, 0), MPROC_OK); /* the wait took nothing */
    mproc_sem_destroy(s);
    mproc_process_destroy(idle);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_counter_exact),
        cmocka_unit_test(test_lock_owner_death),
        cmocka_unit_test(test_lock_timeouts_and_owner),
        cmocka_unit_test(test_lock_holder_thread_ends),
        cmocka_unit_test(test_lock_live_holder_kept),
        cmocka_unit_test(test_rlock_depth),
        cmocka_unit_test(test_rlock_across_processes),
        cmocka_unit_test(test_sem_bounded_resource),
        cmocka_unit_test(test_sem_timeout_and_limit),
        cmocka_unit_test(test_event_wakes_all),
        cmocka_unit_test(test_barrier_party_killed),
        cmocka_unit_test(test_barrier_timeout_breaks),
        cmocka_unit_test(test_cond_producer_consumer),
        cmocka_unit_test(test_wait_many_processes),
        cmocka_unit_test(test_wait_pipes_and_processes),
        cmocka_unit_test(test_wait_task_handles),
        cmocka_unit_test(test_wait_nothing_ready),
        cmocka_unit_test(test_wait_semaphore_and_unstarted),
    };
    return TU_RUN_SUITE(argc, argv, "sync", tests);
}
