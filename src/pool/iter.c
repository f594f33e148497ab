/* The iterator's registration with its pool, and its side that the pool thread sees: the next
 * chunk to send (the window and byte bounds of imap), a chunk's results arriving, the last
 * reference going. */
#include "pool.h"

#include <string.h>

static void free_chunks(mproc__chunk *c)
{
    while (c != NULL) {
        mproc__chunk *next = c->next;
        mproc__chunk_free(c);
        c = next;
    }
}

void mproc__iter_free(mproc_iter *it)
{
    size_t i;
    if (it->ring != NULL)
        for (i = 0; i < it->window; i++)
            mproc__chunk_free(it->ring[i]);
    mproc__free(it->ring);
    free_chunks(it->fifo_head);
    mproc__chunk_free(it->cur);
    mproc__store_free(&it->store);
    mproc__free(it->all);
    mproc__free(it);
}

void mproc__iter_unref(mproc_iter *it)
{
    if (--it->refs == 0)
        mproc__iter_free(it);
}

mproc_iter *mproc__iter_new(mproc_pool *p, mproc_task fn)
{
    mproc_iter *it = mproc__calloc(1, sizeof *it);
    if (it == NULL)
        return NULL;
    it->pool = p;
    it->refs = 1;
    it->fn = fn;
    return it;
}

int mproc__iter_register(mproc_iter *it)
{
    mproc_pool *p = it->pool;
    int r;
    mproc__os_mutex_lock(p->lock);
    r = mproc__pool_check_open(p);
    if (r < 0) {
        mproc__os_mutex_unlock(p->lock);
        mproc__iter_free(it);
        return r;
    }
    p->refs++;
    it->tag = ++p->next_tag;
    if (it->tag == 0)
        it->tag = ++p->next_tag; /* 0 means "no iterator" */
    return MPROC_OK;
}

static const unsigned char no_items[1];

mproc__task *mproc__iter_next_task(mproc_iter *it)
{
    mproc__task *t;
    size_t first, count;

    if (!it->collect) {
        size_t inflight = it->submitted - it->delivered;
        /* Room in the window, results the caller has not read under the byte bound, and the
         * chunks in flight expected to stay under it (from what chunks brought so far), with
         * every worker busy at least. */
        int full = it->submitted - it->yielded >= it->window;
        if (!full && it->held > MPROC__STREAM_BYTES && it->submitted > it->yielded)
            full = 1;
        if (!full && it->delivered == 0 && inflight >= 2 * (size_t)it->pool->nworkers)
            full = 1;
        if (!full && it->delivered > 0 && inflight >= (size_t)it->pool->nworkers &&
            it->held + (inflight + 1) * (it->seen / it->delivered) > MPROC__STREAM_BYTES)
            full = 1;
        if (full) {
            it->gated = 1;
            return NULL;
        }
    }
    first = it->submitted * it->chunksize;
    count = it->count - first < it->chunksize ? it->count - first : it->chunksize;
    /* The chunk points into the caller's array, which the iterator borrows until it is
     * destroyed (mproc.h): a copy here cost the pool thread a pass over every byte, under the
     * lock, into fresh pages, before the copy into the worker's slot or pipe. The destroyer
     * waits for a dispatch under way to end (mproc__iter_release) and dispatch drops the tasks
     * of a destroyed iterator, so nothing reads the array after mproc_iter_destroy. */
    t = mproc__malloc(sizeof *t);
    if (t == NULL) {
        /* Tried again at a later turn of the pool thread. Unlike a full window, nothing (no
         * result, no reader) may come to wake the thread: it must not sleep for good. */
        it->pool->alloc_retry = 1;
        return NULL;
    }
    memset(t, 0, sizeof *t);
    /* Empty items may come without an array: they point at no byte of one. */
    t->items = it->items != NULL ? it->items + first * it->item_size : no_items;
    t->chunk = it->submitted++;
    t->count = count;
    t->item_size = it->item_size;
    t->fn = it->fn;
    t->iter = it;
    t->tag = it->tag;
    it->refs++;
    it->pool->st_submitted += count;
    return t;
}

void mproc__iter_deliver(mproc_iter *it, mproc__chunk *c)
{
    it->delivered++;
    if (c == NULL) {
        /* No memory even for the failure record: the iterator reports it as canceled. */
        it->canceled = 1;
    } else if (it->abandoned) {
        mproc__chunk_free(c);
    } else if (it->collect) {
        if (mproc__store_chunk(&it->store, c, it->all + c->index * it->chunksize) < 0) {
            /* Out of memory for the copy: this chunk's items say so. */
            mproc__chunk *f =
                mproc__chunk_failed(c->index, c->n, MPROC_ENOMEM, 0, mproc_strerror(MPROC_ENOMEM));
            if (f == NULL ||
                mproc__store_chunk(&it->store, f, it->all + c->index * it->chunksize) < 0)
                it->canceled = 1;
            mproc__chunk_free(f);
        }
        mproc__chunk_free(c);
    } else if (it->ordered) {
        it->held += c->bytes.len;
        it->seen += c->bytes.len;
        it->ring[c->index % it->window] = c;
    } else {
        it->held += c->bytes.len;
        it->seen += c->bytes.len;
        c->next = NULL;
        if (it->fifo_tail != NULL)
            it->fifo_tail->next = c;
        else
            it->fifo_head = c;
        it->fifo_tail = c;
    }
    mproc__os_cond_broadcast(it->pool->cv);
}
