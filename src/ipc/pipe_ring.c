/* The Pipe's shared rings for big bodies: the region, and the copy in and out (pipe_ring.h).
 *
 * Sleeping: each side sleeps in the kernel on the other's position word (a futex on Linux),
 * after raising its flag so that the other side wakes it when it moves the word (both store,
 * then load the other's word: one of them sees the other). The sleeps are cut into slices: after
 * each, whether the other end is still there is asked of the pipe (it hangs up when the other
 * end's process died or closed it), so a dead peer costs a slice, never a hang.
 *
 * mproc_wait() sleeps on the pipe, not on the ring: a reader that leaves with a body unfinished
 * and the ring empty says so (parked), and the writer then puts a NUDGE frame down the pipe the
 * next time it puts bytes in the ring, so the pipe turns readable. */
#include "pipe_ring.h"

#include "pipe.h"

#include <string.h>

/* How much one copy moves before the other side is told: a quarter of the ring, so that the
 * writer fills one part while the reader empties another. */
#define CHUNK ((uint32_t)1 << 20)
/* How long a sleep lasts before the other end is looked for. */
#define SLICE_MS 50L

static mproc__pring_dir *dir_of(mproc__pring *g, int dir)
{
    return (mproc__pring_dir *)(void *)((unsigned char *)g->shm.addr +
                                        (size_t)(dir != 0) * sizeof(mproc__pring_dir));
}

static unsigned char *data_of(mproc__pring *g, int dir)
{
    return (unsigned char *)g->shm.addr + MPROC__PRING_HEAD +
           (size_t)(dir != 0) * (size_t)MPROC__PRING_CAP;
}

mproc__pring_dir *mproc__pring_words(mproc__pring *g, int dir)
{
    return dir_of(g, dir);
}

unsigned char *mproc__pring_data(mproc__pring *g, int dir)
{
    return data_of(g, dir);
}

typedef char pring_head_fits[2 * sizeof(mproc__pring_dir) <= MPROC__PRING_HEAD ? 1 : -1];

int mproc__pring_create(mproc__pring **out)
{
    mproc__pring *g;
    int r;
    (void)sizeof(pring_head_fits);
    *out = NULL;
    if (!mproc__os_conn_ring_works())
        return MPROC_ENOTSUP;
    g = mproc__calloc(1, sizeof *g);
    if (g == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_shm_create(&g->shm, MPROC__PRING_SIZE);
    if (r < 0) {
        mproc__free(g);
        return r;
    }
    g->refs = 1;
    *out = g;
    return MPROC_OK;
}

int mproc__pring_adopt(mproc__pring **out, mproc__handle h)
{
    mproc__pring *g;
    int r;
    *out = NULL;
    if (!mproc__os_conn_ring_works())
        return MPROC_EPROTO; /* a ring this OS cannot wait on was never made here */
    g = mproc__calloc(1, sizeof *g);
    if (g == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_shm_attach(&g->shm, h, MPROC__PRING_SIZE);
    if (r < 0) {
        mproc__free(g);
        return r;
    }
    g->refs = 1;
    *out = g;
    return MPROC_OK;
}

void mproc__pring_hold(mproc__pring *g)
{
    (void)mproc__os_add(&g->refs, 1);
}

void mproc__pring_drop(mproc__pring *g, int own)
{
    if (g == NULL || mproc__os_add(&g->refs, (uint32_t)-1) != 1)
        return;
    /* A fork's copy maps the parent's pages, but its descriptor was closed at the fork and the
     * number may be another's now. */
    if (!own)
        g->shm.h = MPROC__INVALID_HANDLE;
    mproc__os_shm_destroy(&g->shm);
    mproc__free(g);
}

long mproc__pring_held(uint32_t w, uint32_t r)
{
    uint32_t n = w - r;
    return n > MPROC__PRING_CAP ? MPROC_EPROTO : (long)n;
}

/* The pipe turns readable for a reader that left with the ring empty (see the top). The frame
 * is dropped when the pipe is full: then it is readable anyway. */
static void nudge(mproc__pring_dir *d, mproc__conn *c)
{
    unsigned char h[MPROC__PIPE_HEADER];
    if (mproc__os_load(&d->parked) == 0 || mproc__os_cas(&d->parked, 1, 0) != 1)
        return;
    mproc__pipe_frame(h, MPROC__PIPE_NUDGE, 0);
    (void)mproc__os_conn_try_write(c, h, sizeof h);
}

/* The frame down the pipe, once the body's first bytes are in the ring (the reader then finds
 * them at once instead of going to sleep for them). Were the frame not to go, the bytes are
 * taken back: without their frame no reader looks at them. */
static int send_frame(mproc__pring_dir *d, mproc__conn *c, const unsigned char *hdr, size_t hlen,
                      uint32_t w0)
{
    int r = mproc__os_conn_write(c, hdr, hlen, NULL, 0);
    if (r < 0)
        mproc__os_store(&d->w, w0);
    return r;
}

int mproc__pring_send(mproc__pring *g, int dir, mproc__conn *c, const unsigned char *hdr,
                      size_t hlen, const unsigned char *data, size_t len)
{
    mproc__pring_dir *d = dir_of(g, dir);
    unsigned char *ring = data_of(g, dir);
    uint32_t w0 = mproc__os_load(&d->w), w = w0;
    size_t sent = 0;
    int framed = 0, e;

    while (sent < len) {
        uint32_t r = mproc__os_load(&d->r), room, at, n;
        long held = mproc__pring_held(w, r);
        if (held < 0)
            return (int)held;
        room = MPROC__PRING_CAP - (uint32_t)held;
        if (room == 0) {
            int gone;
            if (!framed) {
                gone = send_frame(d, c, hdr, hlen, w0);
                if (gone < 0)
                    return gone;
                framed = 1;
            }
            /* A reader that left with bytes in the ring (mproc__pring_leave) is nudged before
             * and after the sleep: it cannot take them while it sleeps on the pipe. */
            mproc__os_store(&d->wwait, 1);
            nudge(d, c);
            if (mproc__os_load(&d->r) == r)
                mproc__os_conn_ring_wait(&d->r, r, SLICE_MS);
            mproc__os_store(&d->wwait, 0);
            nudge(d, c);
            if (mproc__os_load(&d->r) != r)
                continue;
            gone = mproc__os_conn_peer_gone(c);
            if (gone != 0)
                return gone < 0 ? gone : MPROC_EEND;
            continue;
        }
        at = w & (MPROC__PRING_CAP - 1);
        n = MPROC__PRING_CAP - at; /* up to the ring's end */
        if (n > room)
            n = room;
        if (n > CHUNK)
            n = CHUNK;
        if ((size_t)n > len - sent)
            n = (uint32_t)(len - sent);
        memcpy(ring + at, data + sent, n);
        sent += n;
        w += n;
        mproc__os_store(&d->w, w);
        if (mproc__os_load(&d->rwait) != 0)
            mproc__os_word_wake(&d->w);
        nudge(d, c);
        if (!framed) {
            e = send_frame(d, c, hdr, hlen, w0);
            if (e < 0)
                return e;
            framed = 1;
        }
    }
    return framed ? MPROC_OK : send_frame(d, c, hdr, hlen, w0);
}

void mproc__pring_leave(mproc__pring *g, int dir)
{
    mproc__pring_dir *d = dir_of(g, dir);
    mproc__os_store(&d->parked, 1);
    /* A writer asleep for room would put nothing in, so nudge nothing: it wakes and nudges. */
    if (mproc__os_load(&d->wwait) != 0)
        mproc__os_word_wake(&d->r);
}

int mproc__pring_begin(mproc__pring *g, int dir, uint32_t *pos)
{
    mproc__pring_dir *d = dir_of(g, dir);
    uint32_t r = mproc__os_load(&d->r);
    if (mproc__pring_held(mproc__os_load(&d->w), r) < 0)
        return MPROC_EPROTO;
    *pos = r;
    return MPROC_OK;
}

long mproc__pring_take(mproc__pring *g, int dir, mproc__conn *c, uint32_t *pos, unsigned char *dst,
                       size_t cap, long timeout_ms)
{
    mproc__pring_dir *d = dir_of(g, dir);
    const unsigned char *ring = data_of(g, dir);
    uint64_t deadline = timeout_ms > 0 ? mproc__os_now_ms() + (uint64_t)timeout_ms : 0;
    uint32_t r = *pos;

    if (mproc__os_load(&d->parked) != 0)
        mproc__os_store(&d->parked, 0);
    for (;;) {
        uint32_t w = mproc__os_load(&d->w), at, n;
        long held = mproc__pring_held(w, r);
        if (held < 0)
            return held;
        if (held > 0) {
            at = r & (MPROC__PRING_CAP - 1);
            n = MPROC__PRING_CAP - at;
            if (n > (uint32_t)held)
                n = (uint32_t)held;
            if (n > CHUNK)
                n = CHUNK;
            if ((size_t)n > cap)
                n = (uint32_t)cap;
            memcpy(dst, ring + at, n);
            r += n;
            *pos = r;
            mproc__os_store(&d->r, r);
            /* A writer asleep for room is woken once half the ring is free, not at every
             * chunk: half the sleeps and wake-ups (it looks again after its slice anyway). */
            if (mproc__os_load(&d->wwait) != 0 && (uint32_t)held - n <= MPROC__PRING_CAP / 2)
                mproc__os_word_wake(&d->r);
            return (long)n;
        }
        {
            long slice = SLICE_MS;
            int gone;
            if (timeout_ms >= 0) {
                uint64_t now = mproc__os_now_ms();
                long left = timeout_ms == 0 || now >= deadline ? 0 : (long)(deadline - now);
                if (left == 0) {
                    /* Leaving with the ring empty: the writer's next bytes nudge the pipe.
                     * Looked at once more after saying so, in case they came just before. */
                    mproc__os_store(&d->parked, 1);
                    if (mproc__os_load(&d->w) != w)
                        continue;
                    gone = mproc__os_conn_peer_gone(c);
                    if (gone < 0)
                        return gone;
                    if (gone && mproc__os_load(&d->w) == w)
                        return 0;
                    if (gone)
                        continue;
                    return MPROC_ETIMEDOUT;
                }
                if (left < slice)
                    slice = left;
            }
            mproc__os_store(&d->rwait, 1);
            if (mproc__os_load(&d->w) == w)
                mproc__os_conn_ring_wait(&d->w, w, slice);
            mproc__os_store(&d->rwait, 0);
            if (mproc__os_load(&d->w) != w)
                continue;
            /* Nothing came: the writer may be gone (what it put in before is taken first). */
            gone = mproc__os_conn_peer_gone(c);
            if (gone < 0)
                return gone;
            if (gone && mproc__os_load(&d->w) == w)
                return 0;
        }
    }
}
