/* The pool's statistics (items submitted, finished by kind, running, queued; workers started
 * and replaced) and backpressure: submitters wait while max_pending items are unfinished. */
#include "pool.h"

#include <string.h>

/* Lock held. Items submitted and not yet finished (done, failed, lost or canceled). */
static size_t pending(const mproc_pool *p)
{
    return p->st_submitted - p->st_done - p->st_failed - p->st_lost - p->st_canceled;
}

int mproc__stats_room(const mproc_pool *p)
{
    return p->max_pending <= 0 || pending(p) < (size_t)p->max_pending;
}

void mproc__stats_outcome(mproc_pool *p, int code, size_t n)
{
    if (code == MPROC_OK)
        p->st_done += n;
    else if (code == MPROC_EWORKER_LOST)
        p->st_lost += n;
    else if (code == MPROC_ECANCELED)
        p->st_canceled += n;
    else
        p->st_failed += n;
}

void mproc__stats_task(mproc_pool *p, const mproc__task *t)
{
    size_t i;

    if (t->async != NULL) {
        mproc__stats_outcome(p, t->async->code, 1);
        return;
    }
    /* No memory even for the failure record: the iterator reports its items as canceled. */
    if (t->result == NULL) {
        mproc__stats_outcome(p, MPROC_ECANCELED, t->count);
        return;
    }
    for (i = 0; i < t->result->n; i++)
        mproc__stats_outcome(p, t->result->items[i].code, 1);
}

void mproc__stats_thread(mproc_pool *p)
{
    size_t running = 0;
    int i;

    for (i = 0; i < p->nworkers; i++) {
        const mproc__task *t;
        for (t = p->workers[i].head; t != NULL; t = t->next)
            running += t->end - t->from;
    }
    p->st_running = running;
    p->st_started = p->started;
}

int mproc__stats_wait_room(mproc_pool *p, long timeout_ms, int *last)
{
    uint64_t deadline = timeout_ms > 0 ? mproc__os_now_ms() + (uint64_t)timeout_ms : 0;
    int r = MPROC_OK;

    *last = 0;
    if (mproc__stats_room(p) || p->state != POOL_OPEN)
        return mproc__pool_check_open(p);
    if (timeout_ms == 0)
        return MPROC_ETIMEDOUT;
    /* Room comes only from results, which this very thread would have to read. */
    if (mproc__pool_own_thread(p))
        return MPROC_EDEADLK;
    /* A destroy from another thread must not free the pool under this waiter. */
    p->refs++;
    while (p->state == POOL_OPEN && !mproc__stats_room(p)) {
        long left = MPROC_FOREVER;
        if (timeout_ms > 0) {
            uint64_t now = mproc__os_now_ms();
            if (now >= deadline) {
                r = MPROC_ETIMEDOUT;
                break;
            }
            left = (long)(deadline - now);
        }
        mproc__os_cond_wait(p->cv, p->lock, left);
    }
    *last = mproc__pool_drop(p);
    return r < 0 ? r : mproc__pool_check_open(p);
}

int mproc_pool_stats_get(mproc_pool *p, mproc_pool_stats *s)
{
    size_t finished;

    if (s != NULL)
        memset(s, 0, sizeof *s);
    if (p == NULL || s == NULL)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    mproc__os_mutex_lock(p->lock);
    s->submitted = p->st_submitted;
    s->done = p->st_done;
    s->failed = p->st_failed;
    s->lost = p->st_lost;
    s->canceled = p->st_canceled;
    s->running = p->st_running + p->st_direct;
    finished = s->done + s->failed + s->lost + s->canceled;
    /* What is neither finished nor running waits: the counts add up by construction. */
    s->queued = s->submitted - finished - s->running;
    s->workers_started = p->st_started;
    s->workers_replaced =
        p->st_started > (size_t)p->nworkers ? p->st_started - (size_t)p->nworkers : 0;
    mproc__os_mutex_unlock(p->lock);
    return MPROC_OK;
}
