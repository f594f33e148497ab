/* The queue's big messages: offered by a marker, streamed through the second buffer. */
#include "queue_in.h"

#include <string.h>

/* The message in flight is lost (its producer died or gave up): nobody will get it. Main lock
 * held, gen the current generation. */
static void big_drop(mproc_queue *q)
{
    mproc__qhdr *h = q->h;
    uint64_t count = h->count - (h->big_state == MPROC__QBIG_OFFERED && h->count > 0 ? 1 : 0);
    uint64_t unfinished = h->unfinished > 0 ? h->unfinished - 1 : 0;
    mproc__q_commit(h, h->head, h->tail, count, unfinished, MPROC__QBIG_ABORTED);
    if (unfinished == 0)
        mproc__qos_wake(&q->os, h, MPROC__QWAIT_JOIN);
    mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGDATA);
}

/* Whether a lock's holder is alive: 1 alive (or busy), 0 free or its holder died (taken and
 * let go again here). */
static int holder_alive(mproc_queue *q, int lock)
{
    int r = mproc__qos_lock(&q->os, q->h, lock, 0);
    if (r == MPROC_ETIMEDOUT || (r < 0 && r != MPROC_EOWNERDEAD))
        return 1;
    if (r == MPROC_EOWNERDEAD)
        mproc__qos_consistent(&q->os, q->h, lock);
    mproc__qos_unlock(&q->os, q->h, lock);
    return 0;
}

/* A message too big for the ring: the producer offers it with a marker in the ring, then
 * streams it to the consumer that took the marker, and returns once that one has every byte.
 * A consumer that dies or gives up makes it offer the message again. */
int mproc__q_put_big(mproc_queue *q, const unsigned char *data, size_t len, uint64_t *start,
                     long timeout_ms)
{
    mproc__qhdr *h = q->h;
    int r, first = 1, owed = 0; /* owed: our offer's count of unfinished tasks is still ours */
    uint64_t pad, at, sent;

    r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_WRITER, mproc__q_remaining(start, timeout_ms));
    if (r == MPROC_EOWNERDEAD) {
        /* The previous big producer died: its message is lost. */
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_WRITER);
        r = mproc__q_lock(q);
        if (r < 0)
            goto out_writer;
        if (h->big_state == MPROC__QBIG_OFFERED || h->big_state == MPROC__QBIG_CLAIMED)
            big_drop(q);
        mproc__q_unlock(q);
    } else if (r < 0) {
        return r;
    }

offer:
    /* A consumer of an earlier offer may still be copying: wait until it has let go. */
    r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_READER, mproc__q_remaining(start, timeout_ms));
    if (r == MPROC_EOWNERDEAD) {
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_READER);
        r = MPROC_OK;
    }
    if (r < 0)
        goto out_writer;
    mproc__qos_unlock(&q->os, h, MPROC__QLOCK_READER);
    r = mproc__q_lock(q);
    if (r < 0)
        goto out_writer;
    r = mproc__q_wait_room(q, QBIG_REC, &pad, start, timeout_ms);
    if (r == MPROC_EPROTO || (r < 0 && r != MPROC_ETIMEDOUT && r != MPROC_ESTATE))
        goto out_writer;
    if (r < 0) {
        mproc__q_unlock(q);
        goto out_writer;
    }
    h->big_gen++;
    h->big_w = 0; /* first: the header check wants big_r <= big_w <= big_len */
    h->big_r = 0;
    h->big_len = len;
    at = mproc__q_place(q, pad);
    mproc__q_write_rec(q->ring + at % h->ring_cap, MPROC__QREC_BIG, len);
    memcpy(q->ring + at % h->ring_cap + QREC_HDR, &h->big_gen, sizeof h->big_gen);
    mproc__q_commit(h, h->head, at + QBIG_REC, h->count + 1, h->unfinished + (first ? 1 : 0),
                    MPROC__QBIG_OFFERED);
    first = 0;
    owed = 1;
    mproc__q_unlock(q);
    mproc__qos_wake_one(&q->os, h, MPROC__QWAIT_NOTEMPTY);

    sent = 0;
    for (;;) {
        uint32_t st;
        uint64_t room;
        long left;
        r = mproc__q_lock(q);
        if (r < 0)
            goto out_writer;
        st = h->big_state;
        if (st == MPROC__QBIG_DONE) {
            h->big_state = MPROC__QBIG_IDLE;
            mproc__q_unlock(q);
            owed = 0; /* the consumer's task_done settles it */
            r = MPROC_OK;
            goto out_writer;
        }
        if (st == MPROC__QBIG_ABORTED) {
            mproc__q_unlock(q);
            goto offer; /* the consumer died or gave up */
        }
        room = h->big_cap - (sent - h->big_r);
        if (sent < len && room > 0) {
            uint64_t pos = sent % h->big_cap, n = h->big_cap - pos;
            if (n > room)
                n = room;
            if (n > len - sent)
                n = len - sent;
            if (n > QBIG_CHUNK)
                n = QBIG_CHUNK;
            mproc__q_unlock(q);
            /* Only the bytes past big_w, which no consumer reads yet. */
            memcpy(q->big + pos, data + sent, (size_t)n);
            sent += n;
            r = mproc__q_lock(q);
            if (r < 0)
                goto out_writer;
            if (h->big_state == MPROC__QBIG_OFFERED || h->big_state == MPROC__QBIG_CLAIMED)
                h->big_w = sent;
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGDATA);
            continue;
        }
        left = mproc__q_remaining(start, timeout_ms);
        if (left == 0) {
            /* Given up: the message is dropped wherever it is. */
            big_drop(q);
            mproc__q_unlock(q);
            owed = 0; /* big_drop took it back */
            r = MPROC_ETIMEDOUT;
            goto out_writer;
        }
        r = mproc__q_sleep(q, MPROC__QWAIT_BIGSPACE, mproc__q_min_ms(left, QPROBE_MS));
        if (r < 0)
            goto out_writer;
        st = h->big_state;
        mproc__q_unlock(q);
        if (st == MPROC__QBIG_CLAIMED && !holder_alive(q, MPROC__QLOCK_READER)) {
            /* The reader let go without DONE: it died (or gave up, which set ABORTED). */
            r = mproc__q_lock(q);
            if (r < 0)
                goto out_writer;
            if (h->big_state == MPROC__QBIG_CLAIMED)
                h->big_state = MPROC__QBIG_ABORTED;
            mproc__q_unlock(q);
        }
    }

out_writer:
    if (owed && mproc__q_lock(q) == MPROC_OK) {
        /* Offered again after its consumer died or gave up, and then not put: the message is
         * lost, so is its count. */
        if (h->unfinished > 0 && --h->unfinished == 0)
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_JOIN);
        mproc__q_unlock(q);
    }
    mproc__qos_unlock(&q->os, h, MPROC__QLOCK_WRITER);
    return r;
}

/* The consumer's side of a big message (reader lock held, claimed): 1 when every byte is in
 * buf, 0 when the offer ended otherwise (the caller looks for the next message), or a negative
 * code (MPROC_ETIMEDOUT: given back, the producer offers it again). */
int mproc__q_get_big(mproc_queue *q, uint32_t gen, unsigned char *buf, uint64_t len,
                     uint64_t *start, long timeout_ms)
{
    mproc__qhdr *h = q->h;
    uint64_t got = 0;
    int r;
    for (;;) {
        uint64_t avail;
        long left;
        r = mproc__q_lock(q);
        if (r < 0)
            return r;
        if (h->big_gen != gen || h->big_state != MPROC__QBIG_CLAIMED) {
            mproc__q_unlock(q);
            return 0;
        }
        if (got == len) {
            h->big_state = MPROC__QBIG_DONE;
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            return 1;
        }
        /* Never more than the message's length: big_w is another process's word. */
        avail = h->big_w > got ? h->big_w - got : 0;
        if (avail > len - got)
            avail = len - got;
        if (avail > 0) {
            uint64_t pos = got % h->big_cap, n = h->big_cap - pos;
            if (n > avail)
                n = avail;
            if (n > QBIG_CHUNK)
                n = QBIG_CHUNK;
            mproc__q_unlock(q);
            memcpy(buf + got, q->big + pos, (size_t)n);
            got += n;
            r = mproc__q_lock(q);
            if (r < 0)
                return r;
            if (h->big_gen == gen && h->big_state == MPROC__QBIG_CLAIMED)
                h->big_r = got;
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            continue;
        }
        left = mproc__q_remaining(start, timeout_ms);
        if (left == 0) {
            h->big_state = MPROC__QBIG_ABORTED; /* given back: the producer offers it again */
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            return MPROC_ETIMEDOUT;
        }
        r = mproc__q_sleep(q, MPROC__QWAIT_BIGDATA, mproc__q_min_ms(left, QPROBE_MS));
        if (r < 0)
            return r;
        mproc__q_unlock(q);
        if (!holder_alive(q, MPROC__QLOCK_WRITER)) {
            /* The producer died (or let go: then the state says so already). */
            r = mproc__q_lock(q);
            if (r < 0)
                return r;
            if (h->big_gen == gen && h->big_state == MPROC__QBIG_CLAIMED)
                big_drop(q);
            mproc__q_unlock(q);
        }
    }
}
