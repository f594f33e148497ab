/* The queue's main lock and redo record: changes a death cannot tear, repaired on retaking. */
#include "queue_in.h"

/* Applies a multi-field change so that a death at any point leaves either the old state or a
 * redo record that completes it: the flag's stores are ordered against the others. */
void mproc__q_commit(mproc__qhdr *h, uint64_t head, uint64_t tail, uint64_t count,
                     uint64_t unfinished, uint32_t big_state)
{
    h->j_head = head;
    h->j_tail = tail;
    h->j_count = count;
    h->j_unfinished = unfinished;
    h->big_state_j = big_state;
    mproc__qos_mark(&h->j_valid, 1);
    h->head = head;
    h->tail = tail;
    h->count = count;
    h->unfinished = unfinished;
    h->big_state = big_state;
    mproc__qos_mark(&h->j_valid, 0);
}

/* An empty ring starts again at its first byte (offsets stay increasing), which keeps a queue
 * that keeps up on the same warm pages. Main lock held. */
void mproc__q_rewind_empty(mproc__qhdr *h)
{
    if (h->head == h->tail && h->head % h->ring_cap != 0) {
        uint64_t at = h->head - h->head % h->ring_cap + h->ring_cap;
        mproc__q_commit(h, at, at, h->count, h->unfinished, h->big_state);
    }
}

/* Takes the main lock; repairs after a holder that died. MPROC_EPROTO (lock released) when the
 * header is not one this library could have left. */
int mproc__q_lock(mproc_queue *q)
{
    mproc__qhdr *h = q->h;
    int r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_MAIN, MPROC_FOREVER);
    if (r == MPROC_EOWNERDEAD) {
        if (mproc__os_load(&h->j_valid) == 1u) {
            h->head = h->j_head;
            h->tail = h->j_tail;
            h->count = h->j_count;
            h->unfinished = h->j_unfinished;
            h->big_state = mproc__os_load(&h->big_state_j);
            mproc__os_store(&h->j_valid, 0);
        }
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_MAIN);
        r = MPROC_OK;
    }
    if (r < 0)
        return r;
    if (mproc__queue_check_header(h, q->shm.size) < 0) {
        mproc__qos_unlock(&q->os, h, MPROC__QLOCK_MAIN);
        return MPROC_EPROTO;
    }
    return MPROC_OK;
}

void mproc__q_unlock(mproc_queue *q)
{
    mproc__qos_unlock(&q->os, q->h, MPROC__QLOCK_MAIN);
}
