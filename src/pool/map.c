/* map and imap: items cut into chunks, each chunk one task, results gathered (map) or streamed
 * through a window bounded in items and bytes (imap), so the parent's memory stays flat however
 * many items. */
#include "engine.h"
#include "wire.h"

#include <string.h>

static int iter_start(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                      size_t count, size_t chunksize, int ordered, int collect, mproc_iter **out)
{
    mproc_iter *it;
    int r, wake;

    *out = NULL;
    if (p == NULL || fn == NULL || (items == NULL && count > 0 && item_size > 0))
        return MPROC_EINVAL;
    if (item_size > MPROC__WIRE_MAX_ITEM)
        return MPROC_ETOOBIG;
    /* count items of item_size bytes must be an array that can exist. */
    if (item_size > 0 && count > SIZE_MAX / item_size)
        return MPROC_EINVAL;
    /* A chunk larger than the whole is the whole, as in Python. */
    if (chunksize > count)
        chunksize = count;
    if (chunksize == 0) {
        /* Python's rule: about four chunks per worker. */
        size_t per = (size_t)p->nworkers * 4;
        chunksize = count / per + (count % per != 0);
        if (chunksize == 0)
            chunksize = 1;
        if (item_size > 0 && chunksize > (MPROC__WIRE_MAX_ITEM / 2) / item_size)
            chunksize = (MPROC__WIRE_MAX_ITEM / 2) / item_size;
    }
    /* A stream's chunks fit its window four times per worker, whatever was asked. A chunk's
     * items and answers travel in as many frames as they need, so only an item is bounded. */
    if (!collect && chunksize > MPROC__STREAM_ITEMS / (4 * (size_t)p->nworkers))
        chunksize = MPROC__STREAM_ITEMS / (4 * (size_t)p->nworkers);
    if (chunksize == 0)
        chunksize = 1;
    if (chunksize > UINT32_MAX)
        return MPROC_ETOOBIG;

    it = mproc__iter_new(p, fn);
    if (it == NULL)
        return MPROC_ENOMEM;
    it->items = items;
    it->item_size = item_size;
    it->count = count;
    it->chunksize = chunksize;
    it->nchunks = count / chunksize + (count % chunksize != 0);
    it->ordered = ordered;
    it->collect = collect;
    it->window = MPROC__STREAM_ITEMS / chunksize;
    if (it->window == 0)
        it->window = 1;
    if (it->window > it->nchunks)
        it->window = it->nchunks ? it->nchunks : 1;
    if (collect)
        it->all = mproc__calloc(count, sizeof *it->all);
    else if (ordered)
        it->ring = mproc__calloc(it->window, sizeof *it->ring);
    if ((collect && it->all == NULL) || (!collect && ordered && it->ring == NULL)) {
        mproc__iter_free(it);
        return MPROC_ENOMEM;
    }

    r = mproc__iter_register(it);
    if (r < 0)
        return r;
    if (it->nchunks > 0) {
        it->next_source = p->sources;
        p->sources = it;
    }
    wake = mproc__pool_need_wake(p);
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    *out = it;
    return MPROC_OK;
}

/* mproc_pool_imap and mproc_pool_imap_unordered: one iterator, told which order to keep. */
static int imap_start(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                      size_t count, size_t chunksize, int ordered, mproc_iter **out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    if (p != NULL && mproc__pool_foreign(p)) {
        *out = NULL;
        return MPROC_EFOREIGN;
    }
    return iter_start(p, fn, items, item_size, count, chunksize, ordered, 0, out);
}

int mproc_pool_imap(mproc_pool *p, mproc_task fn, const void *items, size_t item_size, size_t count,
                    size_t chunksize, mproc_iter **out)
{
    return imap_start(p, fn, items, item_size, count, chunksize, 1, out);
}

int mproc_pool_imap_unordered(mproc_pool *p, mproc_task fn, const void *items, size_t item_size,
                              size_t count, size_t chunksize, mproc_iter **out)
{
    return imap_start(p, fn, items, item_size, count, chunksize, 0, out);
}

/* Lock held. Moves to the next ready chunk, if any. */
static mproc__chunk *take_chunk(mproc_iter *it)
{
    mproc__chunk *c = NULL;
    if (it->ordered) {
        size_t slot = it->yielded % it->window;
        if (it->ring[slot] != NULL && it->ring[slot]->index == it->yielded) {
            c = it->ring[slot];
            it->ring[slot] = NULL;
        }
    } else if (it->fifo_head != NULL) {
        c = it->fifo_head;
        it->fifo_head = c->next;
        if (it->fifo_head == NULL)
            it->fifo_tail = NULL;
    }
    return c;
}

int mproc_iter_next(mproc_iter *it, long timeout_ms, size_t *index, const void **data, size_t *len)
{
    mproc_pool *p;
    uint64_t deadline;
    int wake = 0, r, own;

    if (index != NULL)
        *index = 0;
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (it == NULL || it->collect || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    p = it->pool;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    /* From a callback of its pool, results ready are handed out, but no wait: the chunks to come
     * can only arrive on this thread. */
    own = mproc__pool_own_thread(p);
    deadline = timeout_ms > 0 ? mproc__os_now_ms() + (uint64_t)timeout_ms : 0;
    mproc__os_mutex_lock(p->lock);
    it->last_err = NULL;
    if (it->cur != NULL && it->cur_pos >= it->cur->n) {
        /* The previous chunk is used up: its slot in the window opens for the next one. */
        wake = it->gated;
        it->gated = 0;
        it->held -= it->cur->bytes.len;
        mproc__chunk_free(it->cur);
        it->cur = NULL;
        it->yielded++;
        if (wake)
            wake = mproc__pool_need_wake(p);
    }
    for (;;) {
        if (it->lazy) {
            if (it->canceled && !it->ended)
                mproc__lazy_end(it, MPROC_ECANCELED);
            mproc__lazy_refill(it);
        }
        if (it->cur == NULL) {
            it->cur = take_chunk(it);
            it->cur_pos = 0;
        }
        if (it->cur != NULL && it->cur->n == 0) {
            mproc__chunk_free(it->cur);
            it->cur = NULL;
            it->yielded++;
            continue;
        }
        if (it->cur != NULL) {
            const mproc__item *item = &it->cur->items[it->cur_pos];
            if (index != NULL)
                *index = it->cur->index * it->chunksize + it->cur_pos;
            if (data != NULL)
                *data = item->data;
            if (len != NULL)
                *len = item->len;
            it->last_err = item->err;
            it->cur_pos++;
            r = item->code;
            break;
        }
        if (it->yielded >= it->nchunks) {
            r = MPROC_EEND;
            /* A lazy stream that did not end by its producer's word says why, once. */
            if (it->end_code < 0 && !it->end_told) {
                it->end_told = 1;
                r = it->end_code;
            }
            break;
        }
        if (!it->lazy && it->canceled && it->delivered == it->submitted) {
            /* Everything sent has been read: each chunk never sent says so once, in order. */
            if (it->submitted < it->nchunks) {
                if (index != NULL)
                    *index = it->submitted * it->chunksize;
                it->submitted++;
                it->delivered++;
                it->yielded++;
            }
            r = MPROC_ECANCELED;
            break;
        }
        if (timeout_ms == 0) {
            r = MPROC_ETIMEDOUT;
            break;
        }
        if (own) {
            r = MPROC_EDEADLK;
            break;
        }
        if (timeout_ms > 0) {
            uint64_t now = mproc__os_now_ms();
            if (now >= deadline) {
                r = MPROC_ETIMEDOUT;
                break;
            }
            mproc__os_cond_wait(p->cv, p->lock, (long)(deadline - now));
        } else {
            mproc__os_cond_wait(p->cv, p->lock, MPROC_FOREVER);
        }
    }
    mproc__os_mutex_unlock(p->lock);
    if (wake)
        mproc__os_loop_wake(p->loop);
    return r;
}

const mproc_error *mproc_iter_error(mproc_iter *it)
{
    return it != NULL ? it->last_err : NULL;
}

static void iter_release(mproc_iter *it)
{
    mproc_pool *p = it->pool;
    int last;
    mproc_iter **link;
    mproc__os_mutex_lock(p->lock);
    /* The chunks point into the caller's array, which it may free once this returns: a
     * dispatch under way may be copying from it, and the next one sees abandoned and drops
     * them (dispatch.c). The pool's own thread is never inside a dispatch here. */
    if (!mproc__pool_own_thread(p)) {
        (void)mproc__os_add(&p->dispatch_waiters, 1);
        while (mproc__os_load(&p->dispatching))
            mproc__os_cond_wait(p->cv, p->lock, MPROC_FOREVER);
        (void)mproc__os_add(&p->dispatch_waiters, UINT32_MAX); /* minus one */
    }
    it->abandoned = 1;
    p->purge = 1;
    for (link = &p->sources; *link != NULL; link = &(*link)->next_source) {
        if (*link == it) {
            *link = it->next_source;
            break;
        }
    }
    mproc__iter_unref(it);
    last = mproc__pool_drop(p);
    mproc__os_mutex_unlock(p->lock);
    if (last)
        mproc__pool_free(p);
}

void mproc_iter_destroy(mproc_iter *it)
{
    /* A fork's copy is left to the process's exit, as for async handles (async.c). */
    if (it != NULL && !mproc__pool_foreign(it->pool))
        iter_release(it);
}

int mproc_pool_map(mproc_pool *p, mproc_task fn, const void *items, size_t item_size, size_t count,
                   size_t chunksize, mproc_results **out)
{
    mproc_iter *it;
    mproc_results *res;
    int r;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (p != NULL && mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    /* From a callback: the chunks could only arrive on the thread that would be waiting. */
    if (p != NULL && mproc__pool_own_thread(p))
        return MPROC_EDEADLK;
    res = mproc__calloc(1, sizeof *res);
    if (res == NULL)
        return MPROC_ENOMEM;
    r = iter_start(p, fn, items, item_size, count, chunksize, 1, 1, &it);
    if (r < 0) {
        mproc__free(res);
        return r;
    }
    mproc__os_mutex_lock(p->lock);
    while (it->delivered < it->nchunks && !(it->canceled && it->delivered == it->submitted))
        mproc__os_cond_wait(p->cv, p->lock, MPROC_FOREVER);
    /* Cut short by terminate: the documented code, whatever arrived. */
    r = it->delivered < it->nchunks || it->canceled ? MPROC_ECANCELED : MPROC_OK;
    if (r == MPROC_OK) {
        res->count = count;
        res->items = it->all;
        res->store = it->store;
        it->all = NULL;
        memset(&it->store, 0, sizeof it->store);
    }
    mproc__os_mutex_unlock(p->lock);
    iter_release(it);
    if (r < 0) {
        mproc__free(res);
        return r;
    }
    *out = res;
    return MPROC_OK;
}

size_t mproc_results_count(const mproc_results *r)
{
    return r != NULL ? r->count : 0;
}

int mproc_results_get(const mproc_results *r, size_t i, const void **data, size_t *len)
{
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (r == NULL || i >= r->count)
        return MPROC_EINVAL;
    if (data != NULL)
        *data = r->items[i].data;
    if (len != NULL)
        *len = r->items[i].len;
    return r->items[i].code;
}

const mproc_error *mproc_results_error(const mproc_results *r, size_t i)
{
    if (r == NULL || i >= r->count)
        return NULL;
    return r->items[i].err;
}

void mproc_results_destroy(mproc_results *r)
{
    if (r == NULL)
        return;
    mproc__store_free(&r->store);
    mproc__free(r->items);
    mproc__free(r);
}
