/* The queue's put: room in the ring, a small message's record, and mproc_queue_put. */
#include "queue_in.h"

#include <string.h>

/* With the main lock held: MPROC_OK when a record of step bytes fits at the tail and the bound
 * allows one more message; *pad is then the bytes to skip to the ring's start first (0: none). */
static int room_for(const mproc__qhdr *h, uint64_t step, uint64_t *pad)
{
    uint64_t pos = h->tail % h->ring_cap, to_end = h->ring_cap - pos;
    uint64_t need = step <= to_end ? step : to_end + step;
    *pad = step <= to_end ? 0 : to_end;
    if (h->maxsize != 0 && h->count >= h->maxsize)
        return 0;
    return h->ring_cap - (h->tail - h->head) >= need;
}

/* Waits (lock held) until a record of step bytes fits: MPROC_OK, ETIMEDOUT, ESTATE (closed),
 * or an error (lock released). */
int mproc__q_wait_room(mproc_queue *q, uint64_t step, uint64_t *pad, uint64_t *start,
                       long timeout_ms)
{
    for (;;) {
        long left;
        int r;
        if (q->h->closed)
            return MPROC_ESTATE;
        if (room_for(q->h, step, pad))
            return MPROC_OK;
        left = mproc__q_remaining(start, timeout_ms);
        if (left == 0)
            return MPROC_ETIMEDOUT;
        r = mproc__q_sleep(q, MPROC__QWAIT_NOTFULL, left);
        if (r < 0)
            return r;
    }
}

/* Writes the pad record (if any) and returns where a record goes. */
uint64_t mproc__q_place(mproc_queue *q, uint64_t pad)
{
    uint64_t at = q->h->tail;
    if (pad != 0) {
        mproc__q_write_rec(q->ring + at % q->h->ring_cap, MPROC__QREC_PAD, pad);
        at += pad;
    }
    return at;
}

static int put_small(mproc_queue *q, const void *data, size_t len, uint64_t *start, long timeout_ms)
{
    mproc__qhdr *h = q->h;
    uint64_t step = QREC_HDR + mproc__q_round16(len), pad, at;
    int r = mproc__q_lock(q);
    if (r < 0)
        return r;
    r = mproc__q_wait_room(q, step, &pad, start, timeout_ms);
    if (r == MPROC_EPROTO || (r < 0 && r != MPROC_ETIMEDOUT && r != MPROC_ESTATE))
        return r; /* the lock is already released */
    if (r == MPROC_OK) {
        /* Everything is written past the tail first: invisible until the commit. */
        at = mproc__q_place(q, pad);
        mproc__q_write_rec(q->ring + at % h->ring_cap, MPROC__QREC_MSG, len);
        if (len != 0)
            memcpy(q->ring + at % h->ring_cap + QREC_HDR, data, len);
        mproc__q_commit(h, h->head, at + step, h->count + 1, h->unfinished + 1, h->big_state);
    }
    mproc__q_unlock(q);
    if (r == MPROC_OK)
        mproc__qos_wake_one(&q->os, h, MPROC__QWAIT_NOTEMPTY);
    return r;
}

MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len, long timeout_ms)
{
    uint64_t start = 0;
    if (q == NULL || (data == NULL && len != 0) || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if ((uint64_t)len > ((uint64_t)1 << 62))
        return MPROC_ETOOBIG;
    if (QREC_HDR + mproc__q_round16(len) <= QSMALL_MAX)
        return put_small(q, data, len, &start, timeout_ms);
    return mproc__q_put_big(q, (const unsigned char *)data, len, &start, timeout_ms);
}
