/* The pool thread: one thread in the parent moves tasks out to the workers and results back
 * in, notices workers that die and runs the callbacks.
 *
 * Each turn has a short locked phase (take what callers queued, hand finished work back) and an
 * unlocked phase (dispatch, I/O, results, callbacks) on state only this thread touches. Callers
 * and the thread so meet once a turn, not once a task. */
#include "engine.h"
#include "ring.h"

/* While a worker started after boot failures boots, the thread looks this often whether it
 * has (it says so in shared memory only). */
#define BOOT_POLL_MS 20
/* How soon the loop tries again a chunk it had no memory for (mproc__iter_next_task). */
#define ALLOC_RETRY_MS 10

/* Lock held. */
static int work_remains(const mproc_pool *p)
{
    int i;
    if (p->qhead != NULL || p->sources != NULL || p->pq_head != NULL)
        return 1;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].inflight > 0 || p->workers[i].lent)
            return 1;
    return 0;
}

/* Lock not held. The callbacks of finished tasks, in completion order; the tasks then wait
 * for the locked phase to become ready to waiters (Python's order: callback first). */
static void run_callbacks(mproc_pool *p)
{
    mproc__task *t;
    for (t = p->done_head; t != NULL; t = t->next)
        mproc__async_callback(t->async);
}

/* Lock held. Hands finished work to callers: one broadcast a turn. */
static void publish(mproc_pool *p)
{
    mproc__task *t;
    int any = p->done_head != NULL || p->dlv_head != NULL;

    while ((t = mproc__tasks_pop(&p->done_head, &p->done_tail)) != NULL) {
        mproc__stats_task(p, t);
        mproc__async_done(t->async); /* t lives in its handle's allocation */
    }
    while ((t = mproc__tasks_pop(&p->dlv_head, &p->dlv_tail)) != NULL) {
        mproc__stats_task(p, t);
        mproc__iter_deliver(t->iter, t->result);
        mproc__iter_unref(t->iter);
        mproc__free(t);
    }
    if (any)
        mproc__os_cond_broadcast(p->cv);
}

void terminate_workers(mproc_pool *p)
{
    int i;
    mproc_iter *it;
    static const char msg[] = "the pool was terminated";

    /* A borrowed worker's task comes back first, to be failed with the rest. */
    mproc__lend_reclaim(p);
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].alive)
            mproc__os_signal(&p->workers[i].proc, 1);
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (!w->alive)
            continue;
        mproc__os_wait(&w->proc, MPROC_FOREVER);
        mproc__task_fail_list(p, w->head, MPROC_ECANCELED, msg);
        w->head = w->tail = NULL;
        w->inflight = 0;
        mproc__worker_release(p, w);
    }
    mproc__task_fail_list(p, p->pq_head, MPROC_ECANCELED, msg);
    p->pq_head = p->pq_tail = NULL;
    p->pq_len = 0;
    mproc__task_fail_list(p, p->qhead, MPROC_ECANCELED, msg);
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
    for (it = p->sources; it != NULL; it = it->next_source)
        it->canceled = 1;
    p->sources = NULL;
}

/* When the item w runs started. The parent sees a task start (head_since) but not the items of
 * a chunk after its first: the worker notes each start in the ring. What the ring says is
 * believed only between head_since and now, so a worker cannot stretch its own deadline. */
static uint64_t item_since(const mproc__worker *w, uint64_t now)
{
    uint32_t stamp = mproc__os_load(&((const mproc__ring *)w->shm.addr)->item_ms);
    uint64_t ago = (uint32_t)((uint32_t)now - stamp);
    if (now < w->head_since || ago > now - w->head_since)
        return w->head_since;
    return now - ago;
}

/* How long the loop may sleep: until the next item deadline or respawn attempt. */
static long next_timeout(mproc_pool *p, uint64_t now)
{
    long t = MPROC_FOREVER;
    int i;
    for (i = 0; i < p->nworkers; i++) {
        const mproc__worker *w = &p->workers[i];
        if (!w->alive && p->respawn_at > now && !p->broken &&
            (t < 0 || (long)(p->respawn_at - now) < t))
            t = (long)(p->respawn_at - now);
        /* It says it has booted in shared memory only; others may wait for that to start
         * (mproc__boot_start_missing) or to take back tasks (mproc__dispatch_rebalance): look again
         * soon. */
        if (w->alive && !w->booted && (t < 0 || t > BOOT_POLL_MS))
            t = BOOT_POLL_MS;
        if (w->alive && !w->parked && w->head != NULL && p->task_timeout_ms > 0 &&
            !w->kill_reason) {
            uint64_t due = item_since(w, now) + (uint64_t)p->task_timeout_ms;
            long left = due > now ? (long)(due - now) : 0;
            if (t < 0 || left < t)
                t = left;
        }
    }
    return t;
}

static void check_timeouts(mproc_pool *p, uint64_t now)
{
    int i;
    if (p->task_timeout_ms <= 0)
        return;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->parked && w->head != NULL && !w->kill_reason &&
            now - item_since(w, now) >= (uint64_t)p->task_timeout_ms)
            mproc__worker_kill(w, MPROC_ETIMEDOUT);
    }
}

/* Tells every worker the thread is about to sleep, so the next answer rings the doorbell. 1
 * when answers wait already (then it must not sleep). */
static int arm_rings(mproc_pool *p)
{
    int i, waiting = 0;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->alive && !w->parked && w->kill_reason == 0)
            waiting |= mproc__ring_arm(w->shm.addr, w->ring_tail);
    }
    return waiting;
}

static int any_alive(const mproc_pool *p)
{
    int i;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].alive)
            return 1;
    return 0;
}

void mproc__pool_thread(void *arg)
{
    mproc_pool *p = arg;
    int i, r = MPROC_OK;

    for (i = 0; i < p->nworkers && r == MPROC_OK; i++)
        r = mproc__worker_start(p, &p->workers[i]);
    mproc__os_mutex_lock(p->lock);
    p->start_result = r < 0 ? r : 1;
    /* The OS error belongs to this thread; the creator's thread reports it (pool.c). */
    p->start_os_error = r == MPROC_ESYS ? mproc__os_get_last_error() : 0;
    if (r < 0) {
        terminate_workers(p);
        p->thread_done = 1;
        p->state = POOL_DONE;
        mproc__os_cond_broadcast(p->cv);
        mproc__os_mutex_unlock(p->lock);
        return;
    }
    mproc__os_cond_broadcast(p->cv);
    for (;;) {
        uint64_t now;
        long timeout;
        int needed, unparked_news;
        size_t sent;

        /* ---- locked phase ---- */
        publish(p);
        if (p->state == POOL_TERMINATING) {
            terminate_workers(p);
            mproc__os_mutex_unlock(p->lock);
            run_callbacks(p);
            mproc__os_mutex_lock(p->lock);
            publish(p);
            mproc__stats_thread(p);
            break;
        }
        mproc__dispatch_take(p);
        mproc__dispatch_rebalance(p);
        unparked_news = mproc__lend_park(p);
        needed = p->state == POOL_OPEN || work_remains(p);
        if (!needed) {
            /* Closed and drained: end of input tells every worker to exit. */
            for (i = 0; i < p->nworkers; i++) {
                mproc__worker *w = &p->workers[i];
                if (w->alive && !w->shutdown) {
                    w->shutdown = 1;
                    mproc__os_loop_shutdown(p->loop, &w->chan);
                }
            }
            if (!any_alive(p))
                break;
        }
        /* From here on a submitter wakes the loop; a wake that comes early only makes the next
         * wait return at once. */
        mproc__stats_thread(p);
        p->sleeping = 1;
        mproc__os_store(&p->dispatching, 1);
        mproc__os_mutex_unlock(p->lock);

        /* ---- unlocked phase: this thread's own state ---- */
        now = mproc__os_now_ms();
        mproc__boot_start_missing(p, now, needed);
        sent = mproc__dispatch(p);
        /* Cleared before the waiters are counted, as the destroyer counts itself before it
         * looks at dispatching: one of the two sees the other (both sequentially consistent). */
        mproc__os_store(&p->dispatching, 0);
        if (sent > 0 || mproc__os_load(&p->dispatch_waiters) != 0) {
            /* What went out shows as running at once, not after the next wait. */
            mproc__os_mutex_lock(p->lock);
            mproc__stats_thread(p);
            mproc__os_cond_broadcast(p->cv);
            mproc__os_mutex_unlock(p->lock);
        }
        timeout =
            p->done_head != NULL || p->dlv_head != NULL || unparked_news ? 0 : next_timeout(p, now);
        /* Set by this thread's locked phase (take_submissions), read and cleared here. */
        if (p->alloc_retry && (timeout < 0 || timeout > ALLOC_RETRY_MS))
            timeout = ALLOC_RETRY_MS;
        p->alloc_retry = 0;
        if (p->dispatch_more)
            timeout = 0;
        p->dispatch_more = 0;
        if (timeout != 0 && arm_rings(p))
            timeout = 0;
        (void)mproc__os_loop_run(p->loop, timeout);
        for (i = 0; i < p->nworkers; i++) {
            mproc__worker *w = &p->workers[i];
            if (!w->alive)
                continue;
            if (mproc__lend_note(w))
                continue; /* parked: its borrower, or the next locked phase, deals with it */
            if (timeout != 0)
                mproc__ring_disarm(w->shm.addr);
            /* The ring says nothing when it fills, so every turn looks at it. */
            w->chan.news = 0;
            mproc__results_read(p, w);
            if (w->chan.eof || w->chan.exited) {
                mproc__results_read(p, w); /* what it put in the ring before it went */
                mproc__worker_died(p, w);
            }
        }
        check_timeouts(p, mproc__os_now_ms());
        run_callbacks(p);

        mproc__os_mutex_lock(p->lock);
        p->sleeping = 0;
    }
    mproc__stats_thread(p);
    p->thread_done = 1;
    p->state = POOL_DONE;
    mproc__os_cond_broadcast(p->cv);
    mproc__os_mutex_unlock(p->lock);
}
