/* apply on the calling thread.
 *
 * Through the pool thread, one apply wakes four threads in turn: the pool thread (a task came),
 * the worker, the pool thread (an answer came), the caller. When the pool is idle the caller
 * can do the pool thread's part itself: it borrows a worker the pool thread has parked, writes
 * the task into its pipe and sleeps on the worker's result ring until the answer is there. Two
 * wake-ups, as a bare pipe round trip has.
 *
 * Only the plain case is done here: a small argument, an answer that comes through the ring.
 * Anything else (an answer too large for the ring comes through the pipe, the worker dies or
 * sends garbage, the pool is terminated) hands the task back to the pool thread as an ordinary
 * task in flight on that worker, and the caller waits for it the ordinary way. The pool thread
 * so stays the only one to read pipes, reap workers and judge garbage. */
#include "pool.h"
#include "ring.h"
#include "wire.h"

#include <string.h>

/* Room in the frame for the TASK header; the rest is the argument. */
#define TASK_OVERHEAD 64u

/* Lock held: a parked worker that nobody holds and that can run fn, or NULL. */
static mproc__worker *borrowable(mproc_pool *p, mproc_task fn)
{
    int i;
    size_t k;

    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (!w->parked || w->lent || mproc__os_load(&w->recall) || mproc__worker_used_up(p, w))
            continue;
        /* The worker must have been told of fn already (DEFINE is the pool thread's). */
        for (k = 0; k < w->ndefined; k++)
            if (w->defined[k] == fn)
                return w;
    }
    return NULL;
}

/* The answer to t, if the ring holds it: 1 decoded (consumed), 0 not there yet, -1 anything
 * else (left where it is for the pool thread to judge). */
static int take_answer(mproc__worker *w, mproc__task *t)
{
    const unsigned char *body;
    size_t body_len, total, need;
    int type, r;

    r = mproc__ring_drain(w->shm.addr, &w->ring_tail, &w->ring_in);
    if (r < 0)
        return -1;
    if (mproc__buf_avail(&w->ring_in) == 0)
        return 0;
    r = mproc__wire_frame(mproc__buf_head(&w->ring_in), mproc__buf_avail(&w->ring_in), &type, &body,
                          &body_len, &total, &need);
    if (r <= 0 || type != MPROC__MSG_RESULT || total != mproc__buf_avail(&w->ring_in))
        return -1;
    {
        mproc__single_ctx sx;
        sx.t = t;
        sx.w = w;
        sx.err = 0;
        if (mproc__result_decode(body, body_len, t->id, 1, mproc__task_single_item, &sx) < 0 ||
            sx.err < 0)
            return -1;
    }
    mproc__buf_consume(&w->ring_in, total);
    return 1;
}

/* Lock held: gives w back. */
static int give_back(mproc_pool *p, mproc__worker *w)
{
    w->lent = 0;
    if (!p->want_back && !mproc__os_load(&w->recall))
        return 0;
    /* The pool thread (or terminate) waits for this worker. */
    mproc__cond_broadcast(p->cv);
    return mproc__pool_need_wake(p);
}

int mproc__direct_apply(mproc_pool *p, mproc__task *t)
{
    mproc__worker *w;
    mproc__ring *ring;
    int r, wake;

    /* A large argument can go too, through a slot of the worker's shared memory (ring.h). */
    if (!p->can_lend || (t->item_size > MPROC__SEND_NOW_MAX - TASK_OVERHEAD &&
                         (t->item_size < MPROC__PAYLOAD_MIN || !MPROC__AREAS_ON)))
        return MPROC__DIRECT_NOT_TAKEN;
    mproc__mutex_lock(p->lock);
    /* Queued tasks go first: a borrower does not overtake them. */
    w = p->state == POOL_OPEN && p->qhead == NULL ? borrowable(p, t->fn) : NULL;
    if (w == NULL) {
        mproc__mutex_unlock(p->lock);
        return MPROC__DIRECT_NOT_TAKEN;
    }
    w->lent = 1;
    t->id = ++p->next_id;
    mproc__mutex_unlock(p->lock);

    /* The worker and its fields are ours until given back. */
    ring = w->shm.addr;
    w->direct_out.len = w->direct_out.pos = 0;
    mproc__task_place(w, t, 0, 1);
    r = t->item_size > MPROC__SEND_NOW_MAX - TASK_OVERHEAD && t->slot == 0
            ? MPROC_ESTATE /* no slot free: the pipe it is, the ordinary way */
            : mproc__task_encode(&w->direct_out, t, 0, 1);
    t->seq = w->seq + 1; /* its number for the worker's claim (ring.h), once it is sent */
    if (r == MPROC_OK) {
        mproc__os_store(&ring->waiter, 1);
        r = mproc__loop_send_now(p->loop, &w->chan, w->direct_out.data, w->direct_out.len);
    }
    if (r < 0) {
        /* Nothing was sent: the task takes the ordinary way. */
        if (t->slot != 0)
            mproc__ring_arg_unused(ring, t->slot - 1);
        t->slot = 0;
        mproc__os_store(&ring->waiter, 0);
        mproc__mutex_lock(p->lock);
        wake = give_back(p, w);
        mproc__mutex_unlock(p->lock);
        if (wake)
            mproc__loop_wake(p->loop);
        return MPROC__DIRECT_NOT_TAKEN;
    }
    w->sent++;
    w->seq++;

    for (;;) {
        /* Read before looking: a bump after it makes the wait return at once. */
        uint32_t seq = mproc__os_load(&ring->seq);
        r = take_answer(w, t);
        if (r != 0 || mproc__os_load(&w->recall))
            break;
        mproc__os_word_wait(&ring->seq, seq);
    }
    mproc__os_store(&ring->waiter, 0);

    mproc__mutex_lock(p->lock);
    p->refs++; /* the caller's hold on the handle, as a submission takes */
    if (r == 1) {
        p->direct_done++;
        w->answered = 1;
        mproc__async_done(t->async);
    } else {
        p->direct_back++;
        /* Handed back: in flight on w, which the pool thread takes back and reads. */
        t->next = NULL;
        w->head = w->tail = t;
        w->inflight = 1;
        w->head_since = mproc__os_now_ms();
        p->want_back = 1;
    }
    wake = give_back(p, w);
    mproc__mutex_unlock(p->lock);
    if (wake)
        mproc__loop_wake(p->loop);
    if (r != 1)
        return MPROC__DIRECT_HANDED_BACK;
    mproc__free(t);
    return MPROC__DIRECT_DONE;
}

void mproc__pool_direct_stats(mproc_pool *p, long *done, long *back)
{
    mproc__mutex_lock(p->lock);
    *done = p->direct_done;
    *back = p->direct_back;
    mproc__mutex_unlock(p->lock);
}
