/* imap over items a caller's producer gives one at a time, at most buffersize tasks ahead of
 * the consumer. The producer runs on the consumer's thread (in mproc_iter_next, and once in the
 * call that starts the stream), never on the pool's thread, so it may take its time or use
 * the pool; the parent holds buffersize tasks however many items there are. */
#include "engine.h"
#include "wire.h"

#include <string.h>

void mproc__lazy_end(mproc_iter *it, int code)
{
    if (it->ended)
        return;
    it->ended = 1;
    it->end_code = code;
    it->nchunks = it->submitted;
}

/* The producer's item as a task of its own (one item, copied), or NULL with *r set. */
static mproc__task *item_task(mproc_iter *it, int *r, const void *item, size_t len)
{
    mproc__task *t;

    if (*r != 0)
        return NULL;
    if (item == NULL && len > 0) {
        *r = MPROC_EINVAL;
        return NULL;
    }
    if (len > MPROC__WIRE_MAX_ITEM) {
        *r = MPROC_ETOOBIG;
        return NULL;
    }
    t = len <= SIZE_MAX - sizeof *t ? mproc__malloc(sizeof *t + len) : NULL;
    if (t == NULL) {
        *r = MPROC_ENOMEM;
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->owned = (unsigned char *)(t + 1);
    if (len > 0)
        memcpy(t->owned, item, len);
    t->items = t->owned;
    t->item_size = len;
    t->count = 1;
    t->fn = it->fn;
    t->iter = it;
    t->tag = it->tag;
    return t;
}

void mproc__lazy_refill(mproc_iter *it)
{
    mproc_pool *p = it->pool;
    int wake = 0;

    while (!it->ended && !it->abandoned && !it->producing &&
           it->submitted - it->yielded < it->window) {
        const void *item = NULL;
        size_t len = 0, index = it->submitted;
        mproc__task *t;
        int r;

        if (p->state != POOL_OPEN) {
            /* Closed: the items submitted still come; terminated: they fail. */
            mproc__lazy_end(it, p->state == POOL_CLOSED ? MPROC_ESTATE : MPROC_ECANCELED);
            break;
        }
        if (!mproc__stats_room(p))
            break; /* results make room; the consumer's wait brings it back here */
        it->producing = 1;
        mproc__os_mutex_unlock(p->lock);
        r = it->producer(it->user, index, &item, &len);
        if (r > 1)
            r = MPROC_EINVAL; /* 0 an item, 1 the end, negative a failure */
        t = item_task(it, &r, item, len);
        mproc__os_mutex_lock(p->lock);
        it->producing = 0;
        if (t != NULL && (p->state != POOL_OPEN || it->abandoned)) {
            mproc__free(t);
            continue; /* ends the stream above, or the loop */
        }
        if (t == NULL) {
            mproc__lazy_end(it, r == 1 ? 0 : r);
            break;
        }
        t->chunk = it->submitted++;
        t->id = ++p->next_id;
        it->refs++;
        mproc__tasks_append(&p->qhead, &p->qtail, t);
        p->qlen++;
        p->st_submitted++;
        wake |= mproc__pool_need_wake(p);
    }
    if (wake)
        mproc__os_loop_wake(p->loop);
}

static int lazy_start(mproc_pool *p, mproc_task fn, mproc_producer next, void *user,
                      size_t buffersize, int ordered, mproc_iter **out)
{
    mproc_iter *it;
    int r;

    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    if (p == NULL || fn == NULL || next == NULL || buffersize == 0)
        return MPROC_EINVAL;
    if (mproc__pool_foreign(p))
        return MPROC_EFOREIGN;
    it = mproc__iter_new(p, fn);
    if (it == NULL)
        return MPROC_ENOMEM;
    it->chunksize = 1;
    it->nchunks = SIZE_MAX;
    it->window = buffersize;
    it->ordered = ordered;
    it->lazy = 1;
    it->producer = next;
    it->user = user;
    if (ordered && (buffersize > SIZE_MAX / sizeof *it->ring ||
                    (it->ring = mproc__calloc(buffersize, sizeof *it->ring)) == NULL)) {
        mproc__iter_free(it);
        return MPROC_ENOMEM;
    }
    r = mproc__iter_register(it);
    if (r < 0)
        return r;
    /* The first buffersize items go out now, on the caller's thread. */
    mproc__lazy_refill(it);
    mproc__os_mutex_unlock(p->lock);
    *out = it;
    return MPROC_OK;
}

int mproc_pool_imap_lazy(mproc_pool *p, mproc_task fn, mproc_producer next, void *user,
                         size_t buffersize, mproc_iter **out)
{
    return lazy_start(p, fn, next, user, buffersize, 1, out);
}

int mproc_pool_imap_lazy_unordered(mproc_pool *p, mproc_task fn, mproc_producer next, void *user,
                                   size_t buffersize, mproc_iter **out)
{
    return lazy_start(p, fn, next, user, buffersize, 0, out);
}
