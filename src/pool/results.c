/* Reading a worker's answers: RESULT frames from its ring and its pipe, decoded into the async
 * handle of an apply or the chunk of a map, item by item. Whatever a child sends is untrusted. */
#include "engine.h"
#include "ring.h"
#include "wire.h"

#include <string.h>

/* An answer up to this size takes no time worth a clock read to decode. */
#define SMALL_ANSWER ((size_t)64 << 10)

/* The in-flight task an answer names, and the one before it in w's list. Answers come in order
 * through each channel, but a worker may send one through the pipe (too large for the ring)
 * and the next through the ring, so the parent can see them out of order: the id decides. */
static mproc__task *find_answered(mproc__worker *w, const unsigned char *body, size_t len,
                                  mproc__task **prev)
{
    mproc__task *t;
    uint64_t id = mproc__result_task(body, len);

    *prev = NULL;
    for (t = w->head; t != NULL && t->id != id; t = t->next)
        *prev = t;
    return t;
}

int mproc__answer_resolve(mproc__worker *w, mproc__result_item *item)
{
    return mproc__ring_item_resolve(w->shm.addr, item);
}

void mproc__task_single_item(void *ctx, size_t i, const mproc__result_item *item)
{
    mproc__single_ctx *x = ctx;
    mproc__result_item it = *item;
    (void)i;
    if (mproc__answer_resolve(x->w, &it) < 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    if (it.in_area && it.code == MPROC_OK && x->copy != NULL &&
        mproc__stream_copy_whole(x->copy, x->w, it.len))
        mproc__stream_copy_give(x->copy, x->t->async); /* copied while it was streamed */
    else
        mproc__async_complete(x->t->async, it.code, it.status, 0, it.data, it.len);
    if (it.in_area)
        mproc__ring_result_done(x->w->shm.addr, it.len);
}

typedef struct chunk_ctx {
    mproc__task *t;
    mproc__worker *w;
    int err; /* an answer for an item not in flight, or no memory */
} chunk_ctx;

static void chunk_item_at(chunk_ctx *x, size_t i, const mproc__result_item *item);

/* An answer whose bytes are in the worker's result area is copied from there, and the area is
 * the worker's again. */
static void chunk_item(void *ctx, size_t i, const mproc__result_item *item)
{
    chunk_ctx *x = ctx;
    mproc__result_item it = *item;

    if (x->err != 0)
        return;
    if (mproc__answer_resolve(x->w, &it) < 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    chunk_item_at(x, i, &it);
    if (it.in_area)
        mproc__ring_result_done(x->w->shm.addr, it.len);
}

static void chunk_item_at(chunk_ctx *x, size_t i, const mproc__result_item *item)
{
    mproc__chunk *c = x->t->result;

    if (i < x->t->from || i >= x->t->end || c->at[i] != 0) {
        x->err = MPROC_EPROTO;
        return;
    }
    c->items[i].code = item->code;
    if (item->code == MPROC_OK) {
        c->items[i].len = item->len;
        /* Room for a store block's header in front: map can then keep the bytes as they are
         * (chunk.c, mproc__store_chunk). */
        if (c->bytes.len == 0 && item->len > 0) {
            static const mproc__block none = {NULL, 0, 0};
            if (mproc__buf_append(&c->bytes, &none, sizeof none) < 0) {
                x->err = MPROC_ENOMEM;
                return;
            }
        }
        c->at[i] = 1 + c->bytes.len;
        /* take_result reserved room for the whole frame: a small item is a plain copy, the
         * hot path of a map of a million small results. */
        if (c->bytes.cap - c->bytes.len >= item->len) {
            memcpy(c->bytes.data + c->bytes.len, item->data, item->len);
            c->bytes.len += item->len;
        } else if (mproc__buf_append(&c->bytes, item->data, item->len) < 0) {
            c->at[i] = 0;
            x->err = MPROC_ENOMEM;
            return;
        }
    } else {
        static const char skipped[] = "the iterator was destroyed before the item ran";
        const char *msg = (const char *)item->data;
        size_t len = item->len;
        if (len == 0 && item->code == MPROC_ECANCELED) {
            msg = skipped;
            len = sizeof skipped - 1;
        }
        c->items[i].err = mproc__chunk_error(c, item->code, item->status, 0, msg, len);
        if (c->items[i].err == NULL) {
            x->err = MPROC_ENOMEM;
            return;
        }
        c->at[i] = 1;
    }
    x->t->got++;
}

/* The common frame, one item answered, decoded in one pass (this runs once per item): 1 when
 * it was one and is taken (x->err says how), 0 when it is another kind (the general decoder's
 * business), MPROC_EPROTO when it is garbage. The id was matched by the caller. */
static int one_item(const unsigned char *body, size_t len, chunk_ctx *x)
{
    mproc__rd r;
    mproc__result_item item;
    size_t first;

    mproc__rd_init(&r, body, len);
    (void)mproc__rd_u64(&r);
    first = mproc__rd_u32(&r);
    if (mproc__rd_u32(&r) != 1)
        return 0;
    item.code = (int32_t)mproc__rd_u32(&r);
    item.status = (int32_t)mproc__rd_u32(&r);
    item.len = mproc__rd_u32(&r);
    item.in_area = (item.len & MPROC__WIRE_RESULT_IN_AREA) != 0;
    if (item.in_area) {
        item.len &= ~(size_t)MPROC__WIRE_RESULT_IN_AREA;
        item.data = NULL;
        if (item.code != MPROC_OK)
            return MPROC_EPROTO;
    } else {
        item.data = mproc__rd_bytes(&r, item.len);
    }
    if (r.err || r.left != 0 || item.code > 0 || item.code < MPROC__ERRNO_LAST ||
        first >= x->t->count)
        return MPROC_EPROTO;
    chunk_item(x, first, &item);
    return 1;
}

/* Decodes one RESULT frame (one item, or a run of skipped ones) for one of w's tasks. */
static int take_result(mproc_pool *p, mproc__worker *w, const unsigned char *body, size_t len)
{
    mproc__task *prev, *t = find_answered(w, body, len, &prev);
    chunk_ctx x;
    int r;

    if (t == NULL)
        return MPROC_EPROTO;
    if (t->async != NULL) {
        mproc__single_ctx sx;
        sx.t = t;
        sx.w = w;
        sx.err = 0;
        sx.copy = NULL;
        r = mproc__result_decode(body, len, t->id, 1, mproc__task_single_item, &sx);
        if (r == MPROC_OK)
            r = sx.err;
        if (r < 0)
            return r;
        t->slot = 0;
        mproc__inflight_unlink(w, t, prev);
        mproc__task_done(p, t);
        return MPROC_OK;
    }
    x.t = t;
    x.w = w;
    x.err = 0;
    /* One reservation for the frame (its body bounds the bytes it carries, and a store block's
     * header may go first): chunk_item then copies each item without a call. A failure here
     * only leaves chunk_item to grow the buffer itself. */
    if (t->result != NULL && len <= SIZE_MAX - sizeof(mproc__block))
        (void)mproc__buf_reserve(&t->result->bytes, len + sizeof(mproc__block));
    r = one_item(body, len, &x);
    if (r == 0)
        r = mproc__result_decode(body, len, t->id, t->count, chunk_item, &x);
    else if (r > 0)
        r = MPROC_OK;
    if (r < 0 || x.err < 0)
        return r < 0 ? r : x.err;
    if (t->got < t->end)
        return MPROC_OK;
    /* The flight is over: the chunk is whole, or its rest goes out again (used-up worker). */
    mproc__inflight_unlink(w, t, prev);
    if (t->got == t->count) {
        mproc__chunk_seal(t->result);
        mproc__task_deliver(p, t);
    } else {
        t->from = t->end;
        mproc__task_requeue(p, t, t, 1);
    }
    return MPROC_OK;
}

/* Decodes the whole frames in `in` (the pipe's bytes or the ring's copies). */
void mproc__results_decode(mproc_pool *p, mproc__worker *w, mproc__buf *in)
{
    /* The clock is read once for a run of small answers (a read per answer was 4 % of the pool
     * thread's time with trivial tasks): they were all in by the first read, so each next task
     * started before it anyway. A large answer takes long to copy: the clock is read again. */
    uint64_t now = 0;
    while (w->kill_reason == 0) {
        const unsigned char *body;
        size_t body_len, total, need;
        mproc__task *head = w->head;
        int type;
        int r = mproc__wire_frame(mproc__buf_head(in), mproc__buf_avail(in), &type, &body,
                                  &body_len, &total, &need);
        if (r == 0) {
            /* Make room for the whole frame now, so a large result is read in big pieces. */
            if (need > mproc__buf_avail(in))
                (void)mproc__buf_reserve(in, need - mproc__buf_avail(in));
            return;
        }
        if (r > 0 && type == MPROC__MSG_RESULT)
            r = take_result(p, w, body, body_len);
        else if (r > 0 && type != MPROC__MSG_BELL)
            r = MPROC_EPROTO;
        if (r < 0) {
            /* Whatever a child sends is untrusted: garbage costs that worker, nothing else. */
            mproc__worker_kill(w, r == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EPROTO);
            return;
        }
        mproc__buf_consume(in, total);
        if (type == MPROC__MSG_BELL)
            continue;
        w->answered = 1;
        p->early_deaths = 0;
        if (w->head != NULL && w->head != head) {
            if (now == 0 || total > SMALL_ANSWER)
                now = mproc__os_now_ms();
            w->head_since = now;
        }
    }
}

/* Everything w has answered so far: the ring first, then the pipe. */
void mproc__results_read(mproc_pool *p, mproc__worker *w)
{
    if (w->kill_reason == 0 && w->shm.addr != NULL) {
        int r = mproc__ring_drain(w->shm.addr, &w->ring_tail, &w->ring_in);
        if (r < 0)
            mproc__worker_kill(w, r == MPROC_ENOMEM ? MPROC_ENOMEM : MPROC_EPROTO);
        else if (r > 0 || mproc__buf_avail(&w->ring_in) > 0) /* or what a borrower left */
            mproc__results_decode(p, w, &w->ring_in);
    }
    mproc__results_decode(p, w, &w->chan.in);
}
