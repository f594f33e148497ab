/* Queue and JoinableQueue's public calls: create, destroy, size, close, task_done, join, wait.
 * A FIFO of byte messages in anonymous shared memory, usable from any process that holds it:
 * small messages are copied into a ring under one lock (queue_put.c, queue_get.c), a big one is
 * streamed through a second buffer (queue_big.c). Every change to the shared state is made so
 * that a process killed at any point leaves it whole (queue_redo.c), and every field another
 * process wrote is checked before use (queue_ring.c). */
#include "queue_in.h"

typedef char qhdr_fits[sizeof(mproc__qhdr) <= QHDR_BYTES ? 1 : -1];

/* ---- create, destroy ----------------------------------------------------------------------- */

MPROC_API int mproc_queue_create(mproc_queue **out, size_t maxsize)
{
    mproc_queue *q;
    mproc__qhdr *h;
    int r;
    (void)sizeof(qhdr_fits);
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    q = (mproc_queue *)mproc__calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_shm_create(&q->shm, (size_t)(QHDR_BYTES + QRING_CAP + QBIG_CAP));
    if (r < 0) {
        mproc__free(q);
        return r;
    }
    h = (mproc__qhdr *)q->shm.addr;
    h->magic = MPROC__QUEUE_MAGIC;
    h->version = MPROC__QUEUE_VERSION;
    h->ring_cap = QRING_CAP;
    h->big_cap = QBIG_CAP;
    h->maxsize = (uint64_t)maxsize;
    r = mproc__qos_create(&q->os, h);
    if (r < 0) {
        mproc__os_shm_destroy(&q->shm);
        mproc__free(q);
        return r;
    }
    mproc__share_init(&q->shared, &mproc__queue_share_ops, q);
    q->h = h;
    q->ring = (unsigned char *)q->shm.addr + QHDR_BYTES;
    q->big = q->ring + QRING_CAP;
    *out = q;
    return MPROC_OK;
}

MPROC_API void mproc_queue_destroy(mproc_queue *q)
{
    long err;
    if (q == NULL)
        return;
    err = mproc__os_errno();
    mproc__share_forget(&q->shared);
    /* A fork's copy of a queue this process was not handed maps the parent's pages, but its
     * descriptor was closed at the fork and the number may be another's now. */
    if (q->shared.pid != mproc__os_getpid())
        q->shm.h = MPROC__INVALID_HANDLE;
    mproc__qos_close(&q->os);
    mproc__os_shm_destroy(&q->shm);
    mproc__free(q);
    mproc__os_restore_errno(err);
}

/* ---- the rest ------------------------------------------------------------------------------ */

MPROC_API int mproc_queue_size(mproc_queue *q, size_t *n)
{
    int r;
    if (n != NULL)
        *n = 0;
    if (q == NULL || n == NULL)
        return MPROC_EINVAL;
    r = mproc__q_lock(q);
    if (r < 0)
        return r;
    *n = (size_t)q->h->count;
    mproc__q_unlock(q);
    return MPROC_OK;
}

/* ---- mproc_wait(): ready once get would not wait (sync/waitable.h) ---- */

/* A message is there, or the queue is closed (get gives MPROC_EEND at once). The state lives in
 * shared memory that other processes change, so the wait looks again every few milliseconds. */
static int queue_waitable_ready(void *obj)
{
    mproc_queue *q = obj;
    int r = mproc__q_lock(q), ready;
    if (r < 0)
        return r;
    ready = q->h->count > 0 || q->h->closed;
    mproc__q_unlock(q);
    return ready;
}

static const mproc__waitable_kind queue_kind = {"queue", queue_waitable_ready, NULL, NULL, 0, 10,
                                                NULL};

MPROC_API mproc_waitable *mproc_queue_waitable(mproc_queue *q)
{
    return q == NULL ? NULL : mproc__waitable_init(&q->w, &queue_kind, q);
}

MPROC_API int mproc_queue_close(mproc_queue *q)
{
    int r, w;
    if (q == NULL)
        return MPROC_EINVAL;
    r = mproc__q_lock(q);
    if (r < 0)
        return r;
    q->h->closed = 1;
    mproc__q_unlock(q);
    for (w = 0; w < MPROC__QWAIT_COUNT; w++)
        mproc__qos_wake(&q->os, q->h, w);
    return MPROC_OK;
}

MPROC_API int mproc_queue_task_done(mproc_queue *q)
{
    int r;
    uint64_t left;
    if (q == NULL)
        return MPROC_EINVAL;
    r = mproc__q_lock(q);
    if (r < 0)
        return r;
    if (q->h->unfinished == 0) {
        mproc__q_unlock(q);
        return MPROC_ESTATE;
    }
    left = --q->h->unfinished;
    mproc__q_unlock(q);
    if (left == 0)
        mproc__qos_wake(&q->os, q->h, MPROC__QWAIT_JOIN);
    return MPROC_OK;
}

MPROC_API int mproc_queue_join(mproc_queue *q, long timeout_ms)
{
    uint64_t start = 0;
    int r;
    if (q == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    r = mproc__q_lock(q);
    if (r < 0)
        return r;
    while (q->h->unfinished != 0) {
        long left = mproc__q_remaining(&start, timeout_ms);
        if (left == 0) {
            mproc__q_unlock(q);
            return MPROC_ETIMEDOUT;
        }
        r = mproc__q_sleep(q, MPROC__QWAIT_JOIN, left);
        if (r < 0)
            return r;
    }
    mproc__q_unlock(q);
    return MPROC_OK;
}

void mproc__queue_region(mproc_queue *q, void **addr, size_t *size)
{
    *addr = q->shm.addr;
    *size = q->shm.size;
}
