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

int mproc__ring_put(mproc__ring *r, const void *frame, size_t n, int quiet, int *bell)
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
    /* A quiet answer leaves asleep set, so the next answer that matters still rings. */
    if (quiet && used + need + skip < MPROC__RING_BYTES / 2)
        return 1;
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
    /* After the store: a worker that asked for room after this load sees the new tail. */
    if (mproc__os_load(&r->room_wanted)) {
        mproc__os_store(&r->room_wanted, 0);
        mproc__os_word_wake(&r->tail);
    }
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

int mproc__ring_wait_room(mproc__ring *r, size_t n, int *bell)
{
    uint32_t tail;
    *bell = 0;
    /* Many small answers through the pipe cost a system call each; waiting for the parent to
     * drain costs one wake-up for many. A large answer goes through the pipe as before. */
    if (pad8(n) > MPROC__RING_BYTES / 4 || !mproc__os_load(&r->drained) ||
        !mproc__os_word_wait_works())
        return 0;
    tail = mproc__os_load(&r->tail);
    mproc__os_store(&r->room_wanted, 1);
    if (mproc__os_load(&r->asleep)) {
        mproc__os_store(&r->asleep, 0);
        *bell = 1;
        return 1;
    }
    if (mproc__os_load(&r->tail) == tail)
        mproc__os_word_wait(&r->tail, tail);
    return 1;
}

int mproc__ring_canceled(mproc__ring *r, uint32_t tag)
{
    int i;
    /* One load per item while nothing was ever canceled on this worker. */
    if (tag == 0 || mproc__os_load(&r->cancel_seq) == 0)
        return 0;
    for (i = 0; i < MPROC__RING_CANCELS; i++)
        if (mproc__os_load(&r->cancel[i]) == tag)
            return 1;
    return 0;
}

void mproc__ring_cancel(mproc__ring *r, uint32_t tag, uint32_t *pos)
{
    int i;
    for (i = 0; i < MPROC__RING_CANCELS; i++)
        if (mproc__os_load(&r->cancel[i]) == tag)
            return;
    /* The oldest tag makes room: its tasks are the likeliest to be over. */
    mproc__os_store(&r->cancel[*pos % MPROC__RING_CANCELS], tag);
    *pos += 1;
    mproc__os_add(&r->cancel_seq, 1);
}

static void put_u32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

#define BATCH_HEAD 16 /* id, first, count */
#define ITEM_HEAD 12  /* code, status, length */

/* wire_len: the length field (len, or a result-area answer's flagged length with len 0). */
static void put_item_at(unsigned char *p, int code, int status, const void *data, size_t len,
                        uint32_t wire_len)
{
    put_u32le(p, (uint32_t)code);
    put_u32le(p + 4, (uint32_t)status);
    put_u32le(p + 8, wire_len);
    if (len > 0)
        memcpy(p + ITEM_HEAD, data, len);
}

static int batch_add(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index, int code,
                     int status, const void *data, size_t len, uint32_t wire_len);

int mproc__ring_batch_add(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index,
                          int code, int status, const void *data, size_t len)
{
    if (len > MPROC__RING_BYTES)
        return 0;
    return batch_add(r, b, id, index, code, status, data, len, (uint32_t)len);
}

int mproc__ring_batch_add_area(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index,
                               size_t len)
{
    return batch_add(r, b, id, index, MPROC_OK, 0, NULL, 0,
                     (uint32_t)len | MPROC__WIRE_RESULT_IN_AREA);
}

static int batch_add(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index, int code,
                     int status, const void *data, size_t len, uint32_t wire_len)
{
    uint32_t tail = mproc__os_load(&r->tail);
    size_t rec = ITEM_HEAD + len, pos;

    if (len > MPROC__RING_BYTES)
        return 0;
    if (b->open && (b->id != id || b->first + b->count != index))
        return 0;
    if (!b->open) {
        uint32_t head = r->head, used = head - tail;
        size_t need = pad8(MPROC__WIRE_HEADER + BATCH_HEAD + rec), skip, to_end;
        unsigned char *h;
        pos = head % MPROC__RING_BYTES;
        to_end = MPROC__RING_BYTES - pos;
        skip = need > to_end ? to_end : 0;
        if (used > MPROC__RING_BYTES || need > MPROC__RING_BYTES / 4 ||
            need + skip > MPROC__RING_BYTES - used)
            return 0;
        if (skip > 0) {
            static const unsigned char mark[4] = {0xFF, 0xFF, 0xFF, 0xFF};
            memcpy(r->data + pos, mark, sizeof mark);
        }
        b->at = head + (uint32_t)skip;
        h = r->data + b->at % MPROC__RING_BYTES;
        h[4] = MPROC__MSG_RESULT;
        h[5] = MPROC__WIRE_VERSION;
        h[6] = h[7] = 0;
        mproc__put_u64(h + 8, id);
        put_u32le(h + 16, index);
        put_item_at(h + MPROC__WIRE_HEADER + BATCH_HEAD, code, status, data, len, wire_len);
        b->open = 1;
        b->id = id;
        b->first = index;
        b->count = 1;
        b->body = (uint32_t)(BATCH_HEAD + rec);
        put_u32le(h + 20, 1);
        put_u32le(h, b->body);
        mproc__os_store(&r->open_at, b->at);
        mproc__os_store(&r->open, 1);
        return 1;
    }
    pos = b->at % MPROC__RING_BYTES;
    if (pad8(MPROC__WIRE_HEADER + b->body + rec) > MPROC__RING_BYTES / 4 ||
        pos + MPROC__WIRE_HEADER + b->body + rec > MPROC__RING_BYTES ||
        (b->at - tail) + pad8(MPROC__WIRE_HEADER + b->body + rec) > MPROC__RING_BYTES)
        return 0;
    put_item_at(r->data + pos + MPROC__WIRE_HEADER + b->body, code, status, data, len, wire_len);
    b->body += (uint32_t)rec;
    b->count++;
    /* The count, then the length: a worker killed between the two leaves a frame that does
     * not decode, and the parent then takes none of its items (they run again). */
    put_u32le(r->data + pos + 20, b->count);
    put_u32le(r->data + pos, b->body);
    return 1;
}

void mproc__ring_batch_flush(mproc__ring *r, mproc__ring_batch *b, int *bell)
{
    *bell = 0;
    if (!b->open)
        return;
    b->open = 0;
    mproc__os_store(&r->open, 0);
    /* As in ring_put: the store publishes, the load after it pairs with the parent's arm. */
    mproc__os_store(&r->head, b->at + (uint32_t)pad8(MPROC__WIRE_HEADER + b->body));
    if (mproc__os_load(&r->asleep)) {
        mproc__os_store(&r->asleep, 0);
        *bell = 1;
    }
}

int mproc__ring_batch_pressure(const mproc__ring *r, const mproc__ring_batch *b)
{
    uint32_t tail = mproc__os_load(&r->tail);
    uint32_t end = b->open ? b->at + b->body + MPROC__WIRE_HEADER : r->head;
    return end - tail > MPROC__RING_BYTES / 2;
}

int mproc__ring_drain_open(mproc__ring *r, uint32_t tail, mproc__buf *out)
{
    uint32_t head = mproc__os_load(&r->head), at = mproc__os_load(&r->open_at);
    size_t pos, len, total;
    unsigned char hdr[4];

    if (!mproc__os_load(&r->open) || tail != head)
        return 0;
    /* It starts at head, or at offset 0 after a wrap mark at head. */
    pos = at % MPROC__RING_BYTES;
    if (at != head && !(pos == 0 && at - head == MPROC__RING_BYTES - head % MPROC__RING_BYTES))
        return MPROC_EPROTO;
    memcpy(hdr, r->data + pos, 4);
    len = get_u32(hdr);
    total = MPROC__WIRE_HEADER + len;
    if (len > MPROC__RING_BYTES || pos + total > MPROC__RING_BYTES ||
        (size_t)(at - tail) + total > MPROC__RING_BYTES)
        return MPROC_EPROTO;
    if (len < BATCH_HEAD || mproc__buf_append(out, r->data + pos, total) < 0)
        return len < BATCH_HEAD ? MPROC_EPROTO : MPROC_ENOMEM;
    {
        /* The worker died at any point, perhaps between writing an item's count and length:
         * keep the items that are whole in the copy, and make its count and length say so. */
        unsigned char *f = out->data + out->len - total;
        uint32_t count = get_u32(f + 20), n = 0;
        size_t at = MPROC__WIRE_HEADER + BATCH_HEAD;
        while (n < count && total - at >= ITEM_HEAD &&
               total - at - ITEM_HEAD >= get_u32(f + at + 8)) {
            at += ITEM_HEAD + get_u32(f + at + 8);
            n++;
        }
        if (n == 0) {
            out->len -= total;
            return 0;
        }
        put_u32le(f + 20, n);
        put_u32le(f, (uint32_t)(at - MPROC__WIRE_HEADER));
        out->len -= total - at;
    }
    return 1;
}

/* ---- payload areas ---- */

unsigned char *mproc__ring_area(mproc__ring *r, int slot)
{
    size_t at = MPROC__AREAS_AT;
    if (slot >= 0)
        at += MPROC__AREA_RESULT + (size_t)slot * MPROC__AREA_ARG;
    return (unsigned char *)r + at;
}

/* Gives back the pages of an area past what is kept for the next payload. */
static void trim(unsigned char *area, size_t len)
{
    if (len > MPROC__PAYLOAD_KEEP)
        mproc__os_shm_release(area + MPROC__PAYLOAD_KEEP, len - MPROC__PAYLOAD_KEEP);
}

const unsigned char *mproc__ring_result_bytes(mproc__ring *r, size_t len)
{
    unsigned char *area;

    if (!mproc__os_load(&r->areas) || len > MPROC__AREA_RESULT || !mproc__os_load(&r->result_busy))
        return NULL;
    area = mproc__ring_area(r, -1);
    return len == 0 || mproc__os_shm_commit(area, len) == MPROC_OK ? area : NULL;
}

void mproc__ring_result_done(mproc__ring *r, size_t len)
{
    trim(mproc__ring_area(r, -1), len);
    mproc__os_store(&r->result_busy, 0);
}

int mproc__ring_arg_slot(mproc__ring *r, size_t len)
{
    int i;

    /* Only once the worker is ready: it has said by then whether it has the areas. */
    if (!mproc__os_load(&r->ready) || !mproc__os_load(&r->areas) || len < MPROC__PAYLOAD_MIN ||
        len > MPROC__AREA_ARG)
        return -1;
    for (i = 0; i < 2; i++)
        if (!mproc__os_load(&r->arg_busy[i]) &&
            mproc__os_shm_commit(mproc__ring_area(r, i), len) == MPROC_OK) {
            mproc__os_store(&r->arg_busy[i], 1);
            return i;
        }
    return -1;
}

void mproc__ring_arg_unused(mproc__ring *r, int slot)
{
    mproc__os_store(&r->arg_busy[slot & 1], 0);
}

void mproc__ring_arg_done(mproc__ring *r, int slot, size_t len)
{
    trim(mproc__ring_area(r, slot & 1), len);
    mproc__os_store(&r->arg_busy[slot & 1], 0);
}

unsigned char *mproc__ring_result_area(mproc__ring *r, size_t len)
{
    unsigned char *area;

    if (r == NULL || !mproc__os_load(&r->areas) || len < MPROC__RESULT_AREA_MIN ||
        len > MPROC__AREA_RESULT || mproc__os_load(&r->result_busy))
        return NULL;
    area = mproc__ring_area(r, -1);
    return mproc__os_shm_commit(area, len) == MPROC_OK ? area : NULL;
}

void mproc__ring_result_fill(mproc__ring *r, unsigned char *area, const void *data, size_t len)
{
    const unsigned char *from = data;
    size_t at, n;

    if (len < MPROC__STREAM_MIN || len > MPROC__AREA_RESULT || !mproc__os_load(&r->waiter)) {
        memmove(area, data, len); /* one copy: the parent reads it there */
        return;
    }
    /* A new stream: its progress word is reset before its number changes, so a borrower that
     * sees the number sees no progress of an older one. */
    mproc__os_store(&r->stream_done, 0);
    mproc__os_store(&r->stream_len, (uint32_t)len);
    mproc__os_add(&r->stream_gen, 1);
    for (at = 0; at < len; at += n) {
        n = len - at < MPROC__STREAM_CHUNK ? len - at : MPROC__STREAM_CHUNK;
        memmove(area + at, from + at, n);
        mproc__os_store(&r->stream_done, (uint32_t)(at + n));
        mproc__os_add(&r->seq, 1);
        mproc__os_word_wake(&r->seq);
    }
}

int mproc__ring_item_resolve(mproc__ring *r, mproc__result_item *item)
{
    if (!item->in_area)
        return MPROC_OK;
    item->data = r != NULL ? mproc__ring_result_bytes(r, item->len) : NULL;
    return item->data != NULL || item->len == 0 ? MPROC_OK : MPROC_EPROTO;
}
