/* The shared result ring (see ring.h). Frames sit whole and 8-aligned; one that would cross
 * the end is preceded by a wrap mark and starts again at offset 0. */
#include "ring.h"
#include "wire.h"

#include <string.h>

#define WRAP_MARK 0xFFFFFFFFu

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int mproc__ring_put(mproc__ring *r, const void *frame, size_t n, int *bell)
{
    uint32_t head = r->head; /* only this side writes it */
    uint32_t tail = mproc__os_load(&r->tail);
    uint32_t used = head - tail;
    size_t need = pad8(n), pos = head % MPROC__RING_BYTES;
    size_t to_end = MPROC__RING_BYTES - pos, skip = need > to_end ? to_end : 0;

    *bell = 0;
    if (used > MPROC__RING_BYTES || need > MPROC__RING_BYTES / 4 ||
        need + skip > MPROC__RING_BYTES - used)
        return 0;
    if (skip > 0) {
        static const unsigned char mark[4] = {0xFF, 0xFF, 0xFF, 0xFF};
        memcpy(r->data + pos, mark, sizeof mark);
        head += (uint32_t)skip;
        pos = 0;
    }
    memcpy(r->data + pos, frame, n);
    /* The store publishes the bytes; the load after it pairs with the parent's store of
     * asleep and load of head: one of the two sides sees the other. */
    mproc__os_store(&r->head, head + (uint32_t)need);
    if (mproc__os_load(&r->asleep)) {
        mproc__os_store(&r->asleep, 0);
        *bell = 1;
    }
    return 1;
}

int mproc__ring_drain(mproc__ring *r, uint32_t *tail, mproc__buf *out)
{
    uint32_t head = mproc__os_load(&r->head), t = *tail;
    int frames = 0;

    if (head - t > MPROC__RING_BYTES)
        return MPROC_EPROTO;
    while (t != head) {
        size_t pos = t % MPROC__RING_BYTES, avail = head - t, total;
        unsigned char hdr[MPROC__WIRE_HEADER];
        uint32_t len;

        if (avail < 4)
            return MPROC_EPROTO;
        memcpy(hdr, r->data + pos, 4);
        len = get_u32(hdr);
        if (len == WRAP_MARK) {
            size_t skip = MPROC__RING_BYTES - pos;
            if (skip > avail)
                return MPROC_EPROTO;
            t += (uint32_t)skip;
            continue;
        }
        total = MPROC__WIRE_HEADER + (size_t)len;
        if (len > MPROC__RING_BYTES || pad8(total) > avail || pos + total > MPROC__RING_BYTES)
            return MPROC_EPROTO;
        /* Copied before it is parsed: the worker could change the bytes under our feet. */
        if (mproc__buf_append(out, r->data + pos, total) < 0)
            return MPROC_ENOMEM;
        t += (uint32_t)pad8(total);
        frames++;
    }
    *tail = t;
    mproc__os_store(&r->tail, t);
    return frames;
}

/* Sequence numbers compare modulo 2^32, so a long-lived worker wraps around safely. */
static int at_or_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

int mproc__ring_claim(mproc__ring *r, uint32_t seq)
{
    uint32_t c = mproc__os_load(&r->claim);
    for (;;) {
        uint32_t old;
        if (at_or_after(c, seq))
            return 0;
        old = mproc__os_cas(&r->claim, c, seq);
        if (old == c)
            return 1;
        c = old;
    }
}

uint32_t mproc__ring_take_back(mproc__ring *r, uint32_t upto)
{
    uint32_t c = mproc__os_load(&r->claim);
    for (;;) {
        uint32_t old;
        if (at_or_after(c, upto))
            return c;
        old = mproc__os_cas(&r->claim, c, upto);
        if (old == c)
            return c;
        c = old;
    }
}

void mproc__ring_notify(mproc__ring *r)
{
    /* The head was stored before this load: a caller that set waiter after we looked sees
     * the answer when it drains; one that set it before is woken. */
    if (mproc__os_load(&r->waiter)) {
        mproc__os_add(&r->seq, 1);
        mproc__os_word_wake(&r->seq);
    }
}

int mproc__ring_arm(mproc__ring *r, uint32_t tail)
{
    mproc__os_store(&r->asleep, 1);
    return mproc__os_load(&r->head) != tail;
}

void mproc__ring_disarm(mproc__ring *r)
{
    mproc__os_store(&r->asleep, 0);
}
