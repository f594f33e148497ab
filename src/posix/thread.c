/* Threads, mutexes and condition variables over pthreads. */
#define _GNU_SOURCE
#include "posix.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

struct mproc__thread {
    pthread_t tid;
    void (*fn)(void *);
    void *arg;
    /* The mask of the thread that started this one: what children started from here get. */
    sigset_t child_mask;
};

struct mproc__mutex {
    pthread_mutex_t m;
};

struct mproc__cond {
    pthread_cond_t c;
};

/* Condition waits measure their deadline on the monotonic clock where the system lets us pick
 * the clock, so a change of the wall clock neither ends nor stretches a wait. */
#if defined(_POSIX_CLOCK_SELECTION) && _POSIX_CLOCK_SELECTION >= 0 && !defined(__APPLE__)
    #define COND_CLOCK CLOCK_MONOTONIC
    #define COND_SETCLOCK 1
#else
    #define COND_CLOCK CLOCK_REALTIME
    #define COND_SETCLOCK 0
#endif

static pthread_key_t self_key;
static int self_key_ok;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_key_create(void)
{
    self_key_ok = pthread_key_create(&self_key, NULL) == 0;
}

void mproc__posix_child_sigmask(const sigset_t *current, sigset_t *mask)
{
    const mproc__thread *self = NULL;

    pthread_once(&self_once, self_key_create);
    if (self_key_ok)
        self = pthread_getspecific(self_key);
    if (self != NULL)
        *mask = self->child_mask;
    else if (current != NULL)
        *mask = *current;
    else
        pthread_sigmask(SIG_SETMASK, NULL, mask);
}

static void *trampoline(void *arg)
{
    mproc__thread *t = arg;

    pthread_setspecific(self_key, t);
    t->fn(t->arg);
    return NULL;
}

int mproc__os_thread_start(mproc__thread **out, void (*fn)(void *), void *arg)
{
    mproc__thread *t;
    sigset_t all, old;
    int r;
    assert(out != NULL && fn != NULL);

    *out = NULL;
    pthread_once(&self_once, self_key_create);
    /* Without the key a worker started from the new thread would inherit its all-blocked mask
     * and ignore SIGTERM: refuse rather than start such a thread. */
    if (!self_key_ok)
        return mproc__sys_error(EAGAIN);
    t = mproc__malloc(sizeof *t);
    if (t == NULL)
        return MPROC_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    mproc__posix_child_sigmask(NULL, &t->child_mask);
    /* The thread inherits the mask in force at pthread_create: it never runs a handler, so the
     * program's signals reach its own threads, and a SIGPIPE from the loop's writes stays a
     * harmless pending signal on this thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&t->tid, NULL, trampoline, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        mproc__free(t);
        return mproc__sys_error(r);
    }
    *out = t;
    return MPROC_OK;
}

int mproc__os_thread_is_self(const mproc__thread *t)
{
    pthread_once(&self_once, self_key_create);
    /* The key, not pthread_self(): t->tid is written by pthread_create, in the thread that
     * started t. */
    return t != NULL && self_key_ok && pthread_getspecific(self_key) == t;
}

void mproc__os_thread_join(mproc__thread *t)
{
    if (t == NULL)
        return;
    pthread_join(t->tid, NULL);
    mproc__free(t);
}

int mproc__os_mutex_create(mproc__mutex **out)
{
    mproc__mutex *m;
    int r;
    assert(out != NULL);

    *out = NULL;
    m = mproc__malloc(sizeof *m);
    if (m == NULL)
        return MPROC_ENOMEM;
    r = pthread_mutex_init(&m->m, NULL);
    if (r != 0) {
        mproc__free(m);
        return mproc__sys_error(r);
    }
    *out = m;
    return MPROC_OK;
}

void mproc__os_mutex_destroy(mproc__mutex *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->m);
    mproc__free(m);
}

void mproc__os_mutex_lock(mproc__mutex *m)
{
    pthread_mutex_lock(&m->m);
}

void mproc__os_mutex_unlock(mproc__mutex *m)
{
    pthread_mutex_unlock(&m->m);
}

int mproc__os_cond_create(mproc__cond **out)
{
    pthread_condattr_t attr;
    mproc__cond *c;
    int r;
    assert(out != NULL);

    *out = NULL;
    c = mproc__malloc(sizeof *c);
    if (c == NULL)
        return MPROC_ENOMEM;
    r = pthread_condattr_init(&attr);
    if (r != 0) {
        mproc__free(c);
        return mproc__sys_error(r);
    }
#if COND_SETCLOCK
    r = pthread_condattr_setclock(&attr, COND_CLOCK);
    if (r == 0)
#endif
        r = pthread_cond_init(&c->c, &attr);
    pthread_condattr_destroy(&attr);
    if (r != 0) {
        mproc__free(c);
        return mproc__sys_error(r);
    }
    *out = c;
    return MPROC_OK;
}

void mproc__os_cond_destroy(mproc__cond *c)
{
    if (c == NULL)
        return;
    pthread_cond_destroy(&c->c);
    mproc__free(c);
}

int mproc__os_cond_wait(mproc__cond *c, mproc__mutex *m, long timeout_ms)
{
    struct timespec ts;
    long secs;
    int r;

    if (timeout_ms < 0) {
        pthread_cond_wait(&c->c, &m->m);
        return MPROC_OK;
    }
    /* A wait past a year ends (as spuriously) at the year, so a 32-bit time_t cannot overflow;
     * callers loop on their condition anyway. */
    secs = timeout_ms / 1000;
    if (secs > 366L * 24 * 3600)
        secs = 366L * 24 * 3600;
    clock_gettime(COND_CLOCK, &ts);
    ts.tv_sec += (time_t)secs;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    r = pthread_cond_timedwait(&c->c, &m->m, &ts);
    return r == ETIMEDOUT && secs == timeout_ms / 1000 ? MPROC_ETIMEDOUT : MPROC_OK;
}

void mproc__os_cond_broadcast(mproc__cond *c)
{
    pthread_cond_broadcast(&c->c);
}

void mproc__os_prefetch(uintptr_t addr, size_t bytes)
{
    uintptr_t a = addr & ~(uintptr_t)63, end = addr + bytes;
    for (; a < end; a += 64)
        __builtin_prefetch((const void *)a);
}
