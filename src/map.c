/* map and imap: items cut into chunks, each chunk one task, results gathered (map) or streamed
 * through a window bounded in items and bytes (imap), so the parent's memory stays flat however
 * many items. */
#include "pool.h"
#include "wire.h"

#include <string.h>

/* What an imap keeps submitted but not yet consumed: at most this many items (its chunks are
 * cut to fit, four per worker at least), and no new chunk while the results waiting to be
 * read pass this many bytes (documented with mproc_pool_imap). */
#define STREAM_ITEMS 4096
#define STREAM_BYTES ((size_t)64 << 20)

mproc__chunk *mproc__chunk_new(size_t index, size_t n)
{
    mproc__chunk *c;
    if (n > (SIZE_MAX - sizeof *c) / (sizeof(mproc__item) + sizeof(size_t)))
        return NULL;
    c = mproc__calloc(1, sizeof *c + n * (sizeof(mproc__item) + sizeof(size_t)));
    if (c == NULL)
        return NULL;
    c->index = index;
    c->n = n;
    c->items = (mproc__item *)(c + 1);
    c->at = (size_t *)(c->items + n);
    return c;
}

void mproc__chunk_seal(mproc__chunk *c)
{
    size_t i;
    for (i = 0; i < c->n; i++)
        if (c->items[i].code == MPROC_OK && c->items[i].len > 0)
            c->items[i].data = c->bytes.data + (c->at[i] - 1);
}

void mproc__chunk_free(mproc__chunk *c)
{
    if (c == NULL)
        return;
    while (c->errs != NULL) {
        mproc__errnode *e = c->errs;
        c->errs = e->next;
        mproc__free(e);
    }
    mproc__buf_free(&c->bytes);
    mproc__free(c);
}

mproc_error *mproc__chunk_error(mproc__chunk *c, int code, int status, int exitcode,
                                const char *msg, size_t len)
{
    mproc__errnode *e = mproc__malloc(sizeof *e + len + 1);
    char *text;
    if (e == NULL)
        return NULL;
    text = (char *)(e + 1);
    memcpy(text, msg, len);
    text[len] = '\0';
    e->e.code = code;
    e->e.status = status;
    e->e.exitcode = exitcode;
    e->e.message = text;
    e->next = c->errs;
    c->errs = e;
    return &e->e;
}

mproc__chunk *mproc__chunk_failed(size_t index, size_t n, int code, int exitcode,
                                  const char *message)
{
    mproc__chunk *c = mproc__chunk_new(index, n);
    mproc_error *e;
    size_t i;
    if (c == NULL)
        return NULL;
    e = mproc__chunk_error(c, code, 0, exitcode, message, strlen(message));
    for (i = 0; i < n; i++) {
        c->items[i].code = code;
        c->items[i].err = e;
        c->at[i] = 1;
    }
    return c;
}

#define STORE_BLOCK ((size_t)1 << 20)

/* A copy of n bytes in the store, or NULL. */
static const unsigned char *store_copy(mproc__store *s, const unsigned char *data, size_t n)
{
    mproc__block *b = s->blocks;
    unsigned char *at;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > STORE_BLOCK ? n : STORE_BLOCK;
        b = mproc__malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A block too large to share goes behind the current one, which still has room. */
        if (s->blocks != NULL && cap > STORE_BLOCK) {
            b->next = s->blocks->next;
            s->blocks->next = b;
        } else {
            b->next = s->blocks;
            s->blocks = b;
        }
    }
    at = (unsigned char *)(b + 1) + b->used;
    if (n > 0)
        memcpy(at, data, n);
    b->used += n;
    return at;
}

static void store_free(mproc__store *s)
{
    while (s->blocks != NULL) {
        mproc__block *b = s->blocks;
        s->blocks = b->next;
        mproc__free(b);
    }
    while (s->errs != NULL) {
        mproc__errnode *e = s->errs;
        s->errs = e->next;
        mproc__free(e);
    }
}

/* Moves a chunk's results into the store; 0, or MPROC_ENOMEM (the chunk is kept intact). */
static int store_chunk(mproc__store *s, mproc__chunk *c, mproc__item *to)
{
    size_t i;
    if (c->bytes.len >= STORE_BLOCK / 4) {
        /* Large: its bytes become a block as they are (the pool thread left room in front for
         * the header), so a map of large results holds them once, not twice. */
        mproc__block *b = (mproc__block *)c->bytes.data;
        b->used = b->cap = c->bytes.len - sizeof *b;
        if (s->blocks != NULL) {
            b->next = s->blocks->next;
            s->blocks->next = b;
        } else {
            b->next = NULL;
            s->blocks = b;
        }
        c->bytes.data = NULL;
        c->bytes.len = c->bytes.cap = c->bytes.pos = 0;
        for (i = 0; i < c->n; i++)
            to[i] = c->items[i];
        while (c->errs != NULL) {
            mproc__errnode *e = c->errs;
            c->errs = e->next;
            e->next = s->errs;
            s->errs = e;
        }
        return MPROC_OK;
    }
    for (i = 0; i < c->n; i++) {
        to[i] = c->items[i];
        if (c->items[i].code == MPROC_OK) {
            to[i].data = store_copy(s, c->items[i].data, c->items[i].len);
            if (to[i].data == NULL && c->items[i].len > 0)
                return MPROC_ENOMEM;
        }
    }
    /* The errors change hands as they are: the items point at them. */
    while (c->errs != NULL) {
        mproc__errnode *e = c->errs;
        c->errs = e->next;
        e->next = s->errs;
        s->errs = e;
    }
    return MPROC_OK;
}

static void free_chunks(mproc__chunk *c)
{
    while (c != NULL) {
        mproc__chunk *next = c->next;
        mproc__chunk_free(c);
        c = next;
    }
}

static void iter_free(mproc_iter *it)
{
    size_t i;
    if (it->ring != NULL)
        for (i = 0; i < it->window; i++)
            mproc__chunk_free(it->ring[i]);
    mproc__free(it->ring);
    free_chunks(it->fifo_head);
    mproc__chunk_free(it->cur);
    store_free(&it->store);
    mproc__free(it->all);
    mproc__free(it);
}

void mproc__iter_unref(mproc_iter *it)
{
    if (--it->refs == 0)
        iter_free(it);
}

mproc__task *mproc__iter_next_task(mproc_iter *it)
{
    mproc__task *t;
    size_t first, count, bytes;

    if (!it->collect) {
        size_t inflight = it->submitted - it->delivered;
        /* Room in the window, results the caller has not read under the byte bound, and the
         * chunks in flight expected to stay under it (from what chunks brought so far), with
         * every worker busy at least. */
        int full = it->submitted - it->yielded >= it->window;
        if (!full && it->held > STREAM_BYTES && it->submitted > it->yielded)
            full = 1;
        if (!full && it->delivered == 0 && inflight >= 2 * (size_t)it->pool->nworkers)
            full = 1;
        if (!full && it->delivered > 0 && inflight >= (size_t)it->pool->nworkers &&
            it->held + (inflight + 1) * (it->seen / it->delivered) > STREAM_BYTES)
            full = 1;
        if (full) {
            it->gated = 1;
            return NULL;
        }
    }
    first = it->submitted * it->chunksize;
    count = it->count - first < it->chunksize ? it->count - first : it->chunksize;
    bytes = count * it->item_size;
    /* The chunk carries a copy of its items, so the caller's array is read only here, under
     * the lock: an iterator destroyed meanwhile can free it at once. */
    t = mproc__malloc(sizeof *t + bytes);
    if (t == NULL) {
        /* Tried again at a later turn of the pool thread. Unlike a full window, nothing (no
         * result, no reader) may come to wake the thread: it must not sleep for good. */
        it->pool->alloc_retry = 1;
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->owned = (unsigned char *)(t + 1);
    if (bytes > 0)
        memcpy(t->owned, it->items + first * it->item_size, bytes);
    t->items = t->owned;
    t->chunk = it->submitted++;
    t->count = count;
    t->item_size = it->item_size;
    t->fn = it->fn;
    t->iter = it;
    t->tag = it->tag;
    it->refs++;
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
        if (store_chunk(&it->store, c, it->all + c->index * it->chunksize) < 0) {
            /* Out of memory for the copy: this chunk's items say so. */
            mproc__chunk *f =
                mproc__chunk_failed(c->index, c->n, MPROC_ENOMEM, 0, mproc_strerror(MPROC_ENOMEM));
            if (f == NULL || store_chunk(&it->store, f, it->all + c->index * it->chunksize) < 0)
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
    mproc__cond_broadcast(it->pool->cv);
}

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
    if (!collect && chunksize > STREAM_ITEMS / (4 * (size_t)p->nworkers))
        chunksize = STREAM_ITEMS / (4 * (size_t)p->nworkers);
    if (chunksize == 0)
        chunksize = 1;
    if (chunksize > UINT32_MAX)
        return MPROC_ETOOBIG;

    it = mproc__calloc(1, sizeof *it);
    if (it == NULL)
        return MPROC_ENOMEM;
    it->pool = p;
    it->refs = 1;
    it->fn = fn;
    it->items = items;
    it->item_size = item_size;
    it->count = count;
    it->chunksize = chunksize;
    it->nchunks = count / chunksize + (count % chunksize != 0);
    it->ordered = ordered;
    it->collect = collect;
    it->window = STREAM_ITEMS / chunksize;
    if (it->window == 0)
        it->window = 1;
    if (it->window > it->nchunks)
        it->window = it->nchunks ? it->nchunks : 1;
    if (collect)
        it->all = mproc__calloc(count, sizeof *it->all);
    else if (ordered)
        it->ring = mproc__calloc(it->window, sizeof *it->ring);
    if ((collect && it->all == NULL) || (!collect && ordered && it->ring == NULL)) {
        iter_free(it);
        return MPROC_ENOMEM;
    }

    mproc__mutex_lock(p->lock);
    r = mproc__pool_check_open(p);
    if (r < 0) {
        mproc__mutex_unlock(p->lock);
        iter_free(it);
        return r;
    }
    p->refs++;
    it->tag = ++p->next_tag;
    if (it->tag == 0)
        it->tag = ++p->next_tag; /* 0 means "no iterator" */
    if (it->nchunks > 0) {
        it->next_source = p->sources;
        p->sources = it;
    }
    wake = mproc__pool_need_wake(p);
    mproc__mutex_unlock(p->lock);
    if (wake)
        mproc__loop_wake(p->loop);
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
    mproc__mutex_lock(p->lock);
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
            break;
        }
        if (it->canceled && it->delivered == it->submitted) {
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
            mproc__cond_wait(p->cv, p->lock, (long)(deadline - now));
        } else {
            mproc__cond_wait(p->cv, p->lock, MPROC_FOREVER);
        }
    }
    mproc__mutex_unlock(p->lock);
    if (wake)
        mproc__loop_wake(p->loop);
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
    mproc__mutex_lock(p->lock);
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
    mproc__mutex_unlock(p->lock);
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
    mproc__mutex_lock(p->lock);
    while (it->delivered < it->nchunks && !(it->canceled && it->delivered == it->submitted))
        mproc__cond_wait(p->cv, p->lock, MPROC_FOREVER);
    /* Cut short by terminate: the documented code, whatever arrived. */
    r = it->delivered < it->nchunks || it->canceled ? MPROC_ECANCELED : MPROC_OK;
    if (r == MPROC_OK) {
        res->count = count;
        res->items = it->all;
        res->store = it->store;
        it->all = NULL;
        memset(&it->store, 0, sizeof it->store);
    }
    mproc__mutex_unlock(p->lock);
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
    store_free(&r->store);
    mproc__free(r->items);
    mproc__free(r);
}
