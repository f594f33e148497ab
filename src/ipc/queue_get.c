/* The queue's get: the oldest record, a small message copied out or a big one claimed. */
#include "queue_in.h"

#include <string.h>

MPROC_API int mproc_queue_get(mproc_queue *q, long timeout_ms, void **data, size_t *len)
{
    mproc__qhdr *h;
    uint64_t start = 0;
    int r;
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (q == NULL || data == NULL || len == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    h = q->h;
    r = mproc__q_lock(q);
    if (r < 0)
        return r;
    for (;;) {
        uint32_t type;
        uint64_t n, step;
        if (h->head == h->tail) {
            long left;
            if (h->closed) {
                mproc__q_unlock(q);
                return MPROC_EEND;
            }
            left = mproc__q_remaining(&start, timeout_ms);
            if (left == 0) {
                mproc__q_unlock(q);
                return MPROC_ETIMEDOUT;
            }
            r = mproc__q_sleep(q, MPROC__QWAIT_NOTEMPTY, left);
            if (r < 0)
                return r;
            continue;
        }
        r = mproc__queue_check_record(h, q->ring, h->head, &type, &n, &step);
        if (r < 0) {
            mproc__q_unlock(q);
            return r;
        }
        if (type == MPROC__QREC_PAD) {
            h->head += step;
            continue;
        }
        if (type == MPROC__QREC_MSG) {
            unsigned char *buf = (unsigned char *)mproc__malloc(n != 0 ? (size_t)n : 1);
            if (buf == NULL) {
                mproc__q_unlock(q);
                return MPROC_ENOMEM;
            }
            memcpy(buf, q->ring + h->head % h->ring_cap + QREC_HDR, (size_t)n);
            mproc__q_commit(h, h->head + step, h->tail, h->count > 0 ? h->count - 1 : 0,
                            h->unfinished, h->big_state);
            mproc__q_rewind_empty(h);
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTFULL);
            *data = buf;
            *len = (size_t)n;
            return MPROC_OK;
        }
        {
            /* A big message's marker: stale unless it is the offer in flight. */
            uint32_t gen;
            unsigned char *buf;
            memcpy(&gen, q->ring + h->head % h->ring_cap + QREC_HDR, sizeof gen);
            if (gen != h->big_gen || h->big_state != MPROC__QBIG_OFFERED || n != h->big_len ||
                n > (uint64_t)(size_t)-1) {
                h->head += step;
                continue;
            }
            buf = (unsigned char *)mproc__malloc((size_t)n);
            if (buf == NULL) {
                mproc__q_unlock(q);
                return MPROC_ENOMEM;
            }
            mproc__os_big_buffer(buf, (size_t)n);
            r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_READER, 0);
            if (r == MPROC_EOWNERDEAD) {
                mproc__qos_consistent(&q->os, h, MPROC__QLOCK_READER);
                r = MPROC_OK;
            }
            if (r < 0) {
                /* Its producer is looking whether the last reader lives: a moment. */
                mproc__free(buf);
                mproc__q_unlock(q);
                mproc__os_sleep_ms(1);
                r = mproc__q_lock(q);
                if (r < 0)
                    return r;
                continue;
            }
            mproc__q_commit(h, h->head + step, h->tail, h->count > 0 ? h->count - 1 : 0,
                            h->unfinished, MPROC__QBIG_CLAIMED);
            mproc__q_unlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTFULL);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            r = mproc__q_get_big(q, gen, buf, n, &start, timeout_ms);
            mproc__qos_unlock(&q->os, h, MPROC__QLOCK_READER);
            if (r == 1) {
                *data = buf;
                *len = (size_t)n;
                return MPROC_OK;
            }
            mproc__free(buf);
            if (r < 0)
                return r;
            r = mproc__q_lock(q);
            if (r < 0)
                return r;
        }
    }
}
