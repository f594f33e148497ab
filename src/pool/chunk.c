/* A chunk's results (items, errors and bytes in few allocations) and the store that map keeps
 * them in once they have arrived. */
#include "pool.h"

#include <string.h>

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
/* A chunk with this many bytes or more keeps its own buffer in the store instead of being
 * copied into a shared block. A copy is what lets a million small results share a few blocks;
 * for large ones it only costs the pool thread time (fresh pages, 14 MB for 96 results of
 * 150 KB, while the workers waited on it for their next tasks), and the buffer it would free is
 * already the right size (results.c reserves it per frame). */
#define STORE_ADOPT ((size_t)16 << 10)

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

void mproc__store_free(mproc__store *s)
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
int mproc__store_chunk(mproc__store *s, mproc__chunk *c, mproc__item *to)
{
    size_t i;
    if (c->bytes.len >= STORE_ADOPT) {
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
