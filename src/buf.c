/* A growable byte buffer with a read cursor: the unit every channel and message is built in. */
#include "util.h"

#include <string.h>

int mproc__buf_reserve(mproc__buf *b, size_t extra)
{
    size_t need;
    unsigned char *data;

    if (extra > SIZE_MAX - b->len)
        return MPROC_ENOMEM;
    need = b->len + extra;
    if (need <= b->cap)
        return MPROC_OK;
    /* Reclaim consumed space before growing: a channel that is read as fast as it is filled
     * never grows past its largest burst. */
    if (b->pos > 0 && b->len - b->pos + extra <= b->cap) {
        memmove(b->data, b->data + b->pos, b->len - b->pos);
        b->len -= b->pos;
        b->pos = 0;
        return MPROC_OK;
    }
    data = mproc__grow(b->data, &b->cap, need, 1, 256);
    if (data == NULL)
        return MPROC_ENOMEM;
    b->data = data;
    return MPROC_OK;
}

int mproc__buf_append(mproc__buf *b, const void *data, size_t n)
{
    int r;
    if (n == 0)
        return MPROC_OK;
    r = mproc__buf_reserve(b, n);
    if (r < 0)
        return r;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return MPROC_OK;
}

void mproc__buf_consume(mproc__buf *b, size_t n)
{
    b->pos += n;
    if (b->pos >= b->len)
        b->pos = b->len = 0;
}

const unsigned char *mproc__buf_head(const mproc__buf *b)
{
    /* An empty buffer has no data pointer; NULL + 0 is undefined in C. */
    return b->data != NULL ? b->data + b->pos : b->data;
}

size_t mproc__buf_avail(const mproc__buf *b)
{
    return b->len - b->pos;
}

void mproc__buf_free(mproc__buf *b)
{
    mproc__free(b->data);
    b->data = NULL;
    b->len = b->pos = b->cap = 0;
}
