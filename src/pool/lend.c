/* Lending an idle worker to a caller of apply: the whole protocol.
 *
 * Through the pool thread, one apply wakes four threads in turn: the pool thread (a task came),
 * the worker, the pool thread (an answer came), the caller. When the pool is idle the caller
 * can do the pool thread's part itself: it borrows a worker the pool thread has parked, writes
 * the task into its pipe and sleeps on the worker's result ring until the answer is there. Two
 * wake-ups, as a bare pipe round trip has.
 *
 * The states of a worker (its fields parked, lent, attention, recall, direct_out; the pool's
 * can_lend, want_back, direct_done, direct_back; the ring's waiter and seq words):
 *   - the pool thread parks an idle worker in its locked phase while nothing waits for it
 *     (mproc__lend_park), and leaves it alone from then on: no doorbell, no reads, no timeouts;
 *   - a caller of apply borrows a parked worker under the lock (lent), owns the worker's fields
 *     until it gives it back, writes its task and sleeps on ring->seq with ring->waiter set; the
 *     worker bumps seq after each answer while waiter is set;
 *   - input or end of file from a parked worker is noted by the pool thread (attention,
 *     mproc__lend_note) and makes it want the worker back: a lent one is recalled (recall is
 *     set and seq bumped, which the borrower polls), a free one is unparked;
 *   - work for the pool thread unparks every free parked worker and waits (want_back) for the
 *     lent ones; terminate recalls every lent worker and waits for it (mproc__lend_reclaim).
 *
 * The wait on ring->seq is a futex on Linux, a named event per word on Windows (win32/shm.c).
 *
 * Only the plain case is done by the borrower: a small argument (or a large one that fits a
 * free slot of the worker's shared memory), an answer that comes through the ring. Anything else
 * (an answer too large for the ring comes through the pipe, the worker dies or sends garbage, the
 * pool is terminated) hands the task back to the pool thread as an ordinary task in flight on that
 * worker, and the caller waits for it the ordinary way. The pool thread so stays the only one to
 * read pipes, reap workers and judge garbage. */
#include "engine.h"
#include "ring.h"
#include "wire.h"

#include <string.h>

/* Room in the frame for the TASK header; the rest is the argument. */
#define TASK_OVERHEAD 64u

static void recall(mproc__worker *w)
{
    mproc__ring *ring = w->shm.addr;
    if (mproc__os_load(&w->recall))
        return;
    mproc__os_store(&w->recall, 1);
    mproc__os_add(&ring->seq, 1);
    mproc__os_word_wake(&ring->seq);
}

static void unpark(mproc__worker *w)
{
    w->parked = 0;
    w->attention = 0;
    mproc__os_store(&w->recall, 0);
}

/* Lock held, the pool thread not running (terminate): every lent worker comes back, its task
 * in flight on it, and no worker stays parked. */
void mproc__lend_reclaim(mproc_pool *p)
{
    int i;
    p->want_back = 1;
    for (i = 0; i < p->nworkers; i++)
        if (p->workers[i].lent)
            recall(&p->workers[i]);
    for (i = 0; i < p->nworkers; i++)
        while (p->workers[i].lent)
            mproc__os_cond_wait(p->cv, p->lock, MPROC_FOREVER);
    for (i = 0; i < p->nworkers; i++)
        unpark(&p->workers[i]);
}

/* The pool thread's unlocked phase, after the loop ran: 1 when w is parked, whose news (input,
 * end of file, exit) is only noted for its borrower or the next locked phase. */
int mproc__lend_note(mproc__worker *w)
{
    if (!w->parked)
        return 0;
    if (w->chan.news || w->chan.eof || w->chan.exited)
        w->attention = 1;
    w->chan.news = 0;
    return 1;
}

static int parkable(const mproc_pool *p, const mproc__worker *w)
{
    return w->alive && !w->shutdown && !w->kill_reason && w->inflight == 0 && !w->attention &&
           mproc__buf_avail(&w->chan.out) == 0 && mproc__buf_avail(&w->chan.in) == 0 &&
           mproc__buf_avail(&w->ring_in) == 0 && !mproc__worker_used_up(p, w) &&
           mproc__os_load(&((mproc__ring *)w->shm.addr)->ready);
}

/* Lock held. Idle workers are parked while nothing waits for them; a parked one comes back
 * when work, news from it (input, end of file) or a task its borrower handed back is there.
 * One that is lent then is recalled (news) or awaited (work). 1 when one came back with news,
 * which this turn must read without waiting (an end of file is not polled again). */
int mproc__lend_park(mproc_pool *p)
{
    int busy = p->pq_head != NULL || p->sources != NULL || p->state != POOL_OPEN;
    int i, news = 0;

    p->want_back = 0;
    for (i = 0; i < p->nworkers; i++) {
        mproc__worker *w = &p->workers[i];
        if (w->parked) {
            if (!busy && !w->attention && w->inflight == 0)
                continue;
            if (!w->lent) {
                news |= w->attention || w->inflight > 0;
                unpark(w);
                continue;
            }
            p->want_back = 1;
            if (w->attention)
                recall(w);
        } else if (!busy && p->can_lend && parkable(p, w)) {
            /* No doorbell from it any more: its borrower is woken through the ring. */
            mproc__ring_disarm(w->shm.addr);
            w->parked = 1;
        }
    }
    return news;
}

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

/* ---- a big result, copied out while the worker streams it in (ring.h) ---- */

struct mproc__stream_copy {
    uint32_t gen; /* the stream followed, or the one before the task was sent */
    int valid;    /* buf holds stream gen's first `copied` bytes */
    unsigned char *buf;
    size_t cap, size, len, copied; /* size: buf's bytes; cap: mproc__spare_alloc's */
};

static void copy_begin(struct mproc__stream_copy *c, mproc__ring *ring)
{
    memset(c, 0, sizeof *c);
    c->gen = mproc__os_load(&ring->stream_gen);
}

static void copy_end(struct mproc__stream_copy *c)
{
    mproc__free(c->buf); /* a kept block is memory of the allocator's too */
    c->buf = NULL;
}

/* Copies the stream's bytes from where the copy is up to done. */
static void copy_upto(struct mproc__stream_copy *c, mproc__ring *ring, size_t done)
{
    if (done > c->copied) {
        memcpy(c->buf + c->copied, mproc__ring_area(ring, -1) + c->copied, done - c->copied);
        c->copied = done;
    }
}

/* Copies what the worker has streamed since the last look. Every word is the worker's, so each
 * is checked; anything odd only stops the copy (the answer is then copied the ordinary way). */
static void copy_follow(struct mproc__stream_copy *c, mproc_pool *p, mproc__worker *w)
{
    mproc__ring *ring = w->shm.addr;
    uint32_t gen = mproc__os_load(&ring->stream_gen);
    size_t done;

    if (gen != c->gen) {
        size_t len = mproc__os_load(&ring->stream_len);
        c->gen = gen;
        c->valid = 0;
        if (len < MPROC__STREAM_MIN || len > MPROC__AREA_RESULT ||
            mproc__os_shm_commit(mproc__ring_area(ring, -1), len) != MPROC_OK)
            return;
        if (c->size < len) {
            copy_end(c);
            c->buf = mproc__spare_alloc(p, len, &c->cap);
            c->size = c->buf != NULL ? len : 0;
            if (c->buf == NULL)
                return;
            mproc__os_big_buffer(c->buf, len);
        }
        c->len = len;
        c->copied = 0;
        c->valid = 1;
    }
    if (!c->valid)
        return;
    done = mproc__os_load(&ring->stream_done);
    if (done > c->len) {
        c->valid = 0;
        return;
    }
    copy_upto(c, ring, done);
    /* A stream that began while we copied may have written over what we read. */
    if (mproc__os_load(&ring->stream_gen) != c->gen)
        c->valid = 0;
}

int mproc__stream_copy_whole(struct mproc__stream_copy *c, mproc__worker *w, size_t len)
{
    mproc__ring *ring = w->shm.addr;
    /* The answer is in the ring, so the task has ended: the last stream is this one, if the
     * number did not move, and its bytes are the answer's if it is of the answer's length. */
    if (!c->valid || c->len != len || mproc__os_load(&ring->stream_gen) != c->gen ||
        mproc__os_load(&ring->stream_done) != len)
        return 0;
    copy_upto(c, ring, len); /* the last chunk may have landed after the last look */
    return 1;
}

void mproc__stream_copy_give(struct mproc__stream_copy *c, mproc_async *a)
{
    mproc__async_adopt(a, c->buf, c->cap, c->len);
    c->buf = NULL;
    c->size = 0;
}

/* The answer to t, if the ring holds it: 1 decoded (consumed), 0 not there yet, -1 anything
 * else (left where it is for the pool thread to judge). */
static int take_answer(mproc__worker *w, mproc__task *t, struct mproc__stream_copy *copy)
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
        sx.copy = copy;
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
    mproc__os_cond_broadcast(p->cv);
    return mproc__pool_need_wake(p);
}

int mproc__lend_apply(mproc_pool *p, mproc__task *t)
{
    mproc__worker *w;
    mproc__ring *ring;
    struct mproc__stream_copy copy;
    int r, wake;

    /* A large argument can go too, through a slot of the worker's shared memory (ring.h). */
    if (!p->can_lend || (t->item_size > MPROC__SEND_NOW_MAX - TASK_OVERHEAD &&
                         (t->item_size < MPROC__PAYLOAD_MIN || !MPROC__AREAS_ON)))
        return MPROC__LEND_NOT_TAKEN;
    mproc__os_mutex_lock(p->lock);
    /* Queued tasks go first: a borrower does not overtake them. */
    w = p->state == POOL_OPEN && p->qhead == NULL && mproc__stats_room(p) ? borrowable(p, t->fn)
                                                                          : NULL;
    if (w == NULL) {
        mproc__os_mutex_unlock(p->lock);
        return MPROC__LEND_NOT_TAKEN;
    }
    w->lent = 1;
    t->id = ++p->next_id;
    p->st_submitted++;
    p->st_direct++;
    mproc__os_mutex_unlock(p->lock);

    /* The worker and its fields are ours until given back. */
    ring = w->shm.addr;
    w->direct_out.len = w->direct_out.pos = 0;
    mproc__task_place(w, t, 0, 1);
    r = t->item_size > MPROC__SEND_NOW_MAX - TASK_OVERHEAD && t->slot == 0
            ? MPROC_ESTATE /* no slot free: the pipe it is, the ordinary way */
            : mproc__task_encode(&w->direct_out, t, 0, 1);
    t->seq = w->seq + 1; /* its number for the worker's claim (ring.h), once it is sent */
    copy_begin(&copy, ring);
    if (r == MPROC_OK) {
        mproc__os_store(&ring->waiter, 1);
        r = mproc__os_loop_send_now(p->loop, &w->chan, w->direct_out.data, w->direct_out.len);
    }
    if (r < 0) {
        /* Nothing was sent: the task takes the ordinary way. */
        if (t->slot != 0)
            mproc__ring_arg_unused(ring, t->slot - 1);
        t->slot = 0;
        mproc__os_store(&ring->waiter, 0);
        mproc__os_mutex_lock(p->lock);
        p->st_submitted--; /* counted again where it is queued */
        p->st_direct--;
        wake = give_back(p, w);
        mproc__os_mutex_unlock(p->lock);
        if (wake)
            mproc__os_loop_wake(p->loop);
        return MPROC__LEND_NOT_TAKEN;
    }
    w->sent++;
    w->seq++;

    for (;;) {
        /* Read before looking: a bump after it makes the wait return at once. */
        uint32_t seq = mproc__os_load(&ring->seq);
        copy_follow(&copy, p, w);
        r = take_answer(w, t, &copy);
        if (r != 0 || mproc__os_load(&w->recall))
            break;
        mproc__os_word_wait(&ring->seq, seq);
    }
    mproc__os_store(&ring->waiter, 0);
    copy_end(&copy); /* unless the handle took it */

    mproc__os_mutex_lock(p->lock);
    p->refs++; /* the caller's hold on the handle, as a submission takes */
    p->st_direct--;
    if (r == 1) {
        p->direct_done++;
        mproc__stats_outcome(p, t->async->code, 1);
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
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    /* t lives in its handle's allocation, which the caller still holds. */
    return r != 1 ? MPROC__LEND_HANDED_BACK : MPROC__LEND_DONE;
}

void mproc__pool_direct_stats(mproc_pool *p, long *done, long *back)
{
    mproc__os_mutex_lock(p->lock);
    *done = p->direct_done;
    *back = p->direct_back;
    mproc__os_mutex_unlock(p->lock);
}
