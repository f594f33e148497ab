/* apply and apply_async, and the calls on the handle a caller waits on. */
#include "engine.h"
#include "ring.h"
#include "wire.h"

#include <string.h>

/* A task of its own async handle, with its own copy of the argument (borrow: the caller's
 * bytes, which stay valid until the task is done: apply waits for that); not queued yet. refs:
 * the pool's, and the caller's when it keeps the handle. The handle, the task and the copy are
 * one allocation, freed with the handle's last reference: the task is done by then (the pool's
 * reference goes when it is), so nothing frees the task on its own. */
static int new_task(mproc_pool *p, mproc_task fn, const void *arg, size_t len, mproc_callback cb,
                    mproc_error_callback ecb, void *user, int keep, int borrow, mproc__task **out)
{
    size_t own = borrow ? 0 : len, block = 0;
    const size_t head = sizeof(mproc_async) + sizeof(mproc__task);
    mproc_async *a;
    mproc__task *t;

    if (len > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    /* A big copy goes into a block the pool kept (spare.c), whose pages are in already. */
    a = own <= SIZE_MAX - head ? mproc__spare_alloc(p, head + own, &block) : NULL;
    if (a == NULL)
        return MPROC_ENOMEM;
    memset(a, 0, head);
    a->block = block;
    t = (mproc__task *)(a + 1);
    t->owned = (unsigned char *)(t + 1);
    if (own > 0)
        memcpy(t->owned, arg, own);
    a->refs = keep ? 2 : 1;
    a->cb = cb;
    a->ecb = ecb;
    a->user = user;
    t->fn = fn;
    /* A large argument of apply is not copied here: it is copied once, into the worker's slot
     * or pipe, while the caller waits. */
    t->items = borrow ? (const unsigned char *)arg : t->owned;
    t->item_size = len;
    t->count = 1;
    t->async = a;
    *out = t;
    return MPROC_OK;
}

/* Queues t for the pool thread once there is room (max_pending); frees it when the pool is not
 * open, or is full for timeout_ms. */
static int submit(mproc_pool *p, mproc__task *t, long timeout_ms)
{
    mproc_async *a = t->async;
    int r, wake, last;

    a->pool = p;
    mproc__os_mutex_lock(p->lock);
    r = mproc__stats_wait_room(p, timeout_ms, &last);
    if (r < 0) {
        mproc__os_mutex_unlock(p->lock);
        mproc__free(a); /* and t, which it holds */
        if (last)
            mproc__pool_free(p);
        return r;
    }
    t->id = ++p->next_id;
    mproc__tasks_append(&p->qhead, &p->qtail, t);
    p->qlen++;
    p->st_submitted++;
    if (a->refs > 1)
        p->refs++;
    wake = mproc__pool_need_wake(p);
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    return MPROC_OK;
}

static int apply_async(mproc_pool *p, mproc_task fn, const void *arg, size_t len, mproc_callback cb,
                       mproc_error_callback ecb, void *user, mproc_async **out, long timeout_ms)
{
    mproc__task *t;
    mproc_async *a;
    int r;

    if (out != NULL)
        *out = NULL;
    if (p == NULL || fn == NULL || (arg == NULL && len > 0) || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    r = new_task(p, fn, arg, len, cb, ecb, user, out != NULL, 0, &t);
    if (r < 0)
        return r;
    a = t->async;
    r = submit(p, t, timeout_ms);
    if (r < 0)
        return r;
    if (out != NULL)
        *out = a;
    return MPROC_OK;
}

int mproc_pool_apply_async(mproc_pool *p, mproc_task fn, const void *arg, size_t len,
                           mproc_callback cb, mproc_error_callback ecb, void *user,
                           mproc_async **out)
{
    return apply_async(p, fn, arg, len, cb, ecb, user, out, MPROC_FOREVER);
}

int mproc_pool_apply_async_timed(mproc_pool *p, mproc_task fn, const void *arg, size_t len,
                                 mproc_callback cb, mproc_error_callback ecb, void *user,
                                 mproc_async **out, long timeout_ms)
{
    return apply_async(p, fn, arg, len, cb, ecb, user, out, timeout_ms);
}

int mproc_pool_apply(mproc_pool *p, mproc_task fn, const void *arg, size_t len, void **result,
                     size_t *result_len)
{
    mproc__task *t;
    mproc_async *a;
    int r;

    if (result != NULL)
        *result = NULL;
    if (result_len != NULL)
        *result_len = 0;
    if (p == NULL || fn == NULL || (arg == NULL && len > 0))
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    /* From a callback: the result could only arrive on the thread that would be waiting. */
    if (mproc__pool_own_thread(p))
        return MPROC_EDEADLK;
    r = new_task(p, fn, arg, len, NULL, NULL, NULL, 1, len >= MPROC__PAYLOAD_MIN, &t);
    if (r < 0)
        return r;
    a = t->async;
    a->pool = p;
    /* When the pool is idle the calling thread runs the round trip itself (lend.c). */
    if (mproc__lend_apply(p, t) == MPROC__LEND_NOT_TAKEN) {
        r = submit(p, t, MPROC_FOREVER);
        if (r < 0)
            return r;
    }
    mproc__os_mutex_lock(p->lock);
    mproc__pool_wait(p, &a->done, MPROC_FOREVER);
    mproc__os_mutex_unlock(p->lock);
    /* Once done, the result no longer changes: read without the lock. */
    r = a->code;
    if (r == MPROC_OK && result != NULL) {
        if (a->data != a->small.b) {
            *result = a->data;
            a->data = NULL;
        } else if ((*result = mproc__malloc(a->len)) != NULL) {
            /* The caller frees what it gets: a result kept in the handle goes out as a copy. */
            memcpy(*result, a->data, a->len);
        } else {
            r = MPROC_ENOMEM;
        }
    }
    if (r == MPROC_OK && result_len != NULL)
        *result_len = a->len;
    mproc_async_release(a);
    return r;
}

int mproc_async_wait(mproc_async *a, long timeout_ms)
{
    int r;
    if (a == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(a->pool))
        return MPROC_EFOREIGN;
    mproc__os_mutex_lock(a->pool->lock);
    /* From a callback of its pool, a task not done yet can only finish on this thread: a poll
     * answers as usual, a wait would never end. */
    if (!a->done && timeout_ms != 0 && mproc__pool_own_thread(a->pool))
        r = MPROC_EDEADLK;
    else
        r = mproc__pool_wait(a->pool, &a->done, timeout_ms);
    mproc__os_mutex_unlock(a->pool->lock);
    return r;
}

int mproc_async_ready(mproc_async *a)
{
    int done;
    if (a == NULL || mproc__pool_foreign(a->pool))
        return 0;
    mproc__os_mutex_lock(a->pool->lock);
    done = a->done;
    mproc__os_mutex_unlock(a->pool->lock);
    return done;
}

int mproc_async_get(mproc_async *a, long timeout_ms, const void **data, size_t *len)
{
    int r;
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    r = mproc_async_wait(a, timeout_ms);
    if (r < 0)
        return r;
    /* Once done, the result no longer changes: no lock needed to read it. */
    if (a->code == MPROC_OK) {
        if (data != NULL)
            *data = a->data;
        if (len != NULL)
            *len = a->len;
    }
    return a->code;
}

const mproc_error *mproc_async_error(mproc_async *a)
{
    if (a == NULL || !mproc_async_ready(a) || a->code == MPROC_OK)
        return NULL;
    return &a->err;
}

void mproc_async_release(mproc_async *a)
{
    mproc_pool *p;
    int last;
    if (a == NULL)
        return;
    p = a->pool;
    /* A fork's copy of the handle: the lock may have been held at the fork, and the pool's
     * memory may be shared with other copies; the copy is left to the process's exit. */
    if (mproc__pool_foreign(p))
        return;
    mproc__os_mutex_lock(p->lock);
    mproc__async_unref(a);
    last = mproc__pool_drop(p);
    mproc__os_mutex_unlock(p->lock);
    if (last)
        mproc__pool_free(p);
}

int mproc_async_cancel(mproc_async *a)
{
    mproc_pool *p;
    uint32_t was;
    int r, wake = 0;

    if (a == NULL)
        return MPROC_EINVAL;
    p = a->pool;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    mproc__os_mutex_lock(p->lock);
    /* An ended task stays as it ended: withdrawn already (OK again), or not (too late). */
    if (a->done)
        was = mproc__os_load(&a->claim) == MPROC__CLAIM_CANCELED ? MPROC__CLAIM_CANCELED
                                                                 : MPROC__CLAIM_SENT;
    else
        was = mproc__os_cas(&a->claim, MPROC__CLAIM_QUEUED, MPROC__CLAIM_CANCELED);
    if (was == MPROC__CLAIM_QUEUED) {
        /* Withdrawn: the pool thread fails it in its next locked phase (or at dispatch, if it
         * took the task meanwhile), which runs the error callback once. */
        p->cancels = 1;
        wake = mproc__pool_need_wake(p);
    }
    /* Asked twice: the first request stands. Sent to a worker, running or ended: too late. */
    r = was == MPROC__CLAIM_SENT ? MPROC_ESTATE : MPROC_OK;
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    return r;
}

/* ---- mproc_wait(): ready once the task has ended (sync/waitable.h) ---- */

static int async_waitable_ready(void *obj)
{
    return mproc_async_ready(obj);
}

/* A copy's handle never ends here; a wait from the pool's own thread would keep that thread
 * from ending the task: refused as mproc_async_wait() refuses. */
static int async_waitable_check(void *obj, long timeout_ms)
{
    mproc_async *a = obj;
    if (mproc__pool_foreign(a->pool))
        return MPROC_EFOREIGN;
    if (timeout_ms != 0 && mproc__pool_own_thread(a->pool) && !mproc_async_ready(a))
        return MPROC_EDEADLK;
    return MPROC_OK;
}

static const mproc__waitable_kind async_kind = {"task", async_waitable_ready, NULL, NULL, 1,
                                                0,      async_waitable_check};

mproc_waitable *mproc_async_waitable(mproc_async *a)
{
    return a == NULL ? NULL : mproc__waitable_init(&a->w, &async_kind, a);
}
