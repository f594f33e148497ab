/* Pipe (mproc_pipe_*): messages over a connected pair of byte streams (src/ipc/conn.h), their
 * framing and its defensive decoding, and the Pipe's part of the share contract.
 *
 * A frame is a 16-byte header: u32 magic "MPP1" (little-endian 0x3150504D), u8 kind
 * (MPROC__PIPE_PLAIN, _RING, _NUDGE), three zero bytes, u64 length (at most MPROC__PIPE_MAX).
 * A message's body follows its header on the pipe, or, from RING_BODY bytes on where the pair
 * has shared rings (Linux), in the ring of its direction (pipe_ring.h): one copy in, one copy
 * out, at once, instead of the kernel pipe's serialised copies. The other end is another
 * process, so a header is checked before anything is allocated, and a message's memory grows
 * with the bytes that arrive, never with the length a header claims. */
#include "pipe.h"

#include "conn.h"
#include "pipe_ring.h"
#include "share.h"
#include "../sync/waitable.h"

#include <string.h>

/* Bodies at least this long are read straight into the buffer handed to the caller. */
#define BIG_BODY (64u * 1024u)
/* A big message's buffer starts at most this large and doubles as its bytes arrive. */
#define BIG_FIRST ((size_t)16 << 20)
/* How much a read asks for at a time when no big body is under way. */
#define READ_CHUNK 65536u
/* Bodies at least this long go through the shared ring where there is one (measured: below it
 * the pipe's vmsplice is as fast). */
#define RING_BODY ((size_t)256 * 1024)

struct mproc_pipe {
    mproc_shared shared;
    mproc__conn c;
    mproc__buf in; /* bytes read that no message handed out yet */
    /* A big body on its way: its buffer (handed to the caller once full), its length, the bytes
     * in it so far. */
    unsigned char *big;
    size_t big_cap;
    uint64_t big_len, big_got;
    int big_ring; /* that body comes through the ring, read at ring_pos */
    uint32_t ring_pos;
    size_t ring_taken;  /* bytes this recv or poll took from the ring */
    mproc__pring *ring; /* the pair's shared rings, or NULL: the pipe carries every byte */
    int out;            /* the ring this end writes into; it reads the other */
    int eof;            /* the other end is gone: nothing more comes */
    mproc_waitable w;   /* what mproc_pipe_waitable() hands out (sync/waitable.h) */
};

void mproc__pipe_frame(unsigned char *h, int kind, uint64_t len)
{
    h[0] = 'M';
    h[1] = 'P';
    h[2] = 'P';
    h[3] = '1';
    memset(h + 4, 0, 4);
    h[4] = (unsigned char)kind;
    mproc__put_u64(h + 8, len);
}

int mproc__pipe_frame_decode(const unsigned char *h, int *kind, uint64_t *len)
{
    mproc__rd r;
    uint64_t n;
    int k = h[4];
    mproc__rd_init(&r, h + 8, 8);
    n = mproc__rd_u64(&r);
    if (h[0] != 'M' || h[1] != 'P' || h[2] != 'P' || h[3] != '1' || k > MPROC__PIPE_NUDGE ||
        h[5] != 0 || h[6] != 0 || h[7] != 0 || n > MPROC__PIPE_MAX || n > (uint64_t)SIZE_MAX ||
        (k == MPROC__PIPE_RING && n == 0) || (k == MPROC__PIPE_NUDGE && n != 0))
        return MPROC_EPROTO;
    *kind = k;
    *len = n;
    return MPROC_OK;
}

static int foreign(const mproc_pipe *p)
{
    return p->shared.pid != mproc__os_self_pid();
}

static mproc_pipe *pipe_new(void)
{
    mproc_pipe *p = mproc__calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    mproc__share_init(&p->shared, &mproc__pipe_share_ops, p);
    p->c.rd = p->c.wr = p->c.guard = MPROC__INVALID_HANDLE;
    return p;
}

static void pipe_free(mproc_pipe *p)
{
    long saved = mproc__os_errno();
    mproc__share_forget(&p->shared);
    mproc__os_conn_close(&p->c, !foreign(p));
    mproc__pring_drop(p->ring, !foreign(p));
    mproc__buf_free(&p->in);
    mproc__free(p->big);
    mproc__free(p);
    mproc__os_restore_errno(saved);
}

int mproc_pipe_create(mproc_pipe **a, mproc_pipe **b)
{
    mproc_pipe *x = NULL, *y = NULL;
    int r;

    if (a != NULL)
        *a = NULL;
    if (b != NULL)
        *b = NULL;
    if (a == NULL || b == NULL || a == b)
        return MPROC_EINVAL;
    x = pipe_new();
    y = pipe_new();
    if (x == NULL || y == NULL) {
        mproc__free(x);
        mproc__free(y);
        return MPROC_ENOMEM;
    }
    r = mproc__os_conn_pair(&x->c, &y->c);
    if (r < 0) {
        mproc__free(x);
        mproc__free(y);
        return r;
    }
    r = mproc__pring_create(&x->ring);
    if (r < 0 && r != MPROC_ENOTSUP) {
        pipe_free(x);
        pipe_free(y);
        return r;
    }
    if (x->ring != NULL) {
        mproc__pring_hold(x->ring);
        y->ring = x->ring;
        y->out = 1;
    }
    *a = x;
    *b = y;
    return MPROC_OK;
}

int mproc_pipe_send(mproc_pipe *p, const void *data, size_t len)
{
    unsigned char h[MPROC__PIPE_HEADER];

    if (p == NULL || (data == NULL && len > 0))
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    if ((uint64_t)len > MPROC__PIPE_MAX)
        return MPROC_ETOOBIG;
    if (p->ring != NULL && len >= RING_BODY) {
        /* The frame down the pipe, the body through the ring. */
        int r = mproc__os_conn_peer_gone(&p->c);
        if (r != 0)
            return r < 0 ? r : MPROC_EEND;
        mproc__pipe_frame(h, MPROC__PIPE_RING, (uint64_t)len);
        return mproc__pring_send(p->ring, p->out, &p->c, h, sizeof h, data, len);
    }
    mproc__pipe_frame(h, MPROC__PIPE_PLAIN, (uint64_t)len);
    return mproc__os_conn_write(&p->c, h, sizeof h, data, len);
}

/* A big body's buffer, first (at most BIG_FIRST) bytes of its n, with `have` of them there. */
static int big_begin(mproc_pipe *p, uint64_t n, size_t have)
{
    size_t first = n < BIG_FIRST ? (size_t)n : BIG_FIRST;
    if (first < have)
        first = have;
    p->big = mproc__malloc(first);
    if (p->big == NULL)
        return MPROC_ENOMEM;
    mproc__os_conn_big_buffer(p->big, first);
    p->big_cap = first;
    p->big_len = n;
    p->big_got = have;
    return MPROC_OK;
}

/* Skips the NUDGE frames at the head of p->in, and starts a body that comes through the ring:
 * MPROC_OK, or a code (the frame stays, so recv gives the same code again). */
static int prepare(mproc_pipe *p)
{
    while (p->big == NULL && mproc__buf_avail(&p->in) >= MPROC__PIPE_HEADER) {
        uint64_t n;
        int kind, r = mproc__pipe_frame_decode(mproc__buf_head(&p->in), &kind, &n);
        if (r < 0)
            return r;
        if (kind == MPROC__PIPE_NUDGE) {
            mproc__buf_consume(&p->in, MPROC__PIPE_HEADER);
            continue;
        }
        if (kind != MPROC__PIPE_RING)
            break;
        /* A ring frame where this end has no ring: no pipe of ours writes that. */
        if (p->ring == NULL)
            return MPROC_EPROTO;
        r = mproc__pring_begin(p->ring, !p->out, &p->ring_pos);
        if (r == MPROC_OK)
            r = big_begin(p, n, 0);
        if (r < 0)
            return r;
        p->big_ring = 1;
        mproc__buf_consume(&p->in, MPROC__PIPE_HEADER);
    }
    return MPROC_OK;
}

/* A whole message at the head of p->in, or a big body complete: 1 with it in *data (the
 * caller's) and *len, 0 when more bytes are needed, or a code. */
static int take_message(mproc_pipe *p, void **data, size_t *len)
{
    uint64_t n;
    size_t avail;
    const unsigned char *head;
    int kind, r = prepare(p);

    if (r < 0)
        return r;
    avail = mproc__buf_avail(&p->in);
    head = mproc__buf_head(&p->in);

    if (p->big != NULL || p->big_len > 0) {
        if (p->big_got < p->big_len)
            return 0;
        *data = p->big;
        *len = (size_t)p->big_len;
        p->big = NULL;
        p->big_cap = 0;
        p->big_len = p->big_got = 0;
        p->big_ring = 0;
        return 1;
    }
    if (avail < MPROC__PIPE_HEADER)
        return 0;
    r = mproc__pipe_frame_decode(head, &kind, &n); /* PLAIN: prepare took the others */
    if (r < 0)
        return r;
    if (n >= BIG_BODY) {
        /* Straight into a buffer of its own: what already came of it moves there, the rest is
         * read into it. Its size follows what arrives (a header may lie). */
        size_t have = avail - MPROC__PIPE_HEADER;
        if (have > n)
            have = (size_t)n;
        r = big_begin(p, n, have);
        if (r < 0)
            return r;
        memcpy(p->big, head + MPROC__PIPE_HEADER, have);
        mproc__buf_consume(&p->in, MPROC__PIPE_HEADER + have);
        return take_message(p, data, len);
    }
    if (avail - MPROC__PIPE_HEADER < n)
        return 0;
    *data = mproc__malloc((size_t)n);
    if (*data == NULL)
        return MPROC_ENOMEM;
    memcpy(*data, head + MPROC__PIPE_HEADER, (size_t)n);
    *len = (size_t)n;
    mproc__buf_consume(&p->in, MPROC__PIPE_HEADER + (size_t)n);
    return 1;
}

/* Leaving with a ring body unfinished: what the pipe holds now (NUDGE frames: the body's
 * sender writes nothing else before its last byte is in the ring) is taken into p->in, so that
 * the pipe turns readable again only when something new comes (mproc_wait sleeps on it). The
 * bytes taken (0: none). */
static size_t drain_nudges(mproc_pipe *p)
{
    size_t got = 0;
    int i;
    for (i = 0; i < 4 && mproc__os_conn_poll(&p->c, 0) == 1; i++) {
        long n;
        if (mproc__buf_reserve(&p->in, READ_CHUNK) < 0)
            break;
        n = mproc__os_conn_read(&p->c, p->in.data + p->in.len, p->in.cap - p->in.len, 0);
        if (n <= 0)
            break; /* the end: the ring's reader finds it out */
        p->in.len += (size_t)n;
        got += (size_t)n;
    }
    return got;
}

/* Reads once (waiting up to timeout_ms): into the big body under way, else into p->in. */
static int read_some(mproc_pipe *p, long timeout_ms)
{
    long n;
    if (p->big != NULL) {
        size_t want;
        if (p->big_got == p->big_cap) {
            size_t cap = p->big_cap * 2;
            unsigned char *q;
            if (cap > p->big_len || cap < p->big_cap)
                cap = (size_t)p->big_len;
            q = mproc__realloc(p->big, cap);
            if (q == NULL)
                return MPROC_ENOMEM;
            mproc__os_conn_big_buffer(q, cap);
            p->big = q;
            p->big_cap = cap;
        }
        want = p->big_cap - (size_t)p->big_got;
        if (p->big_ring) {
            n = mproc__pring_take(p->ring, !p->out, &p->c, &p->ring_pos, p->big + p->big_got, want,
                                  timeout_ms);
            /* The ring was empty and this end parked (pipe_ring.h). A NUDGE drained here may be
             * the one the writer sent for this very park, bytes it put in since: look again
             * (which parks anew), until the pipe had nothing. */
            while (n == MPROC_ETIMEDOUT && drain_nudges(p) > 0)
                n = mproc__pring_take(p->ring, !p->out, &p->c, &p->ring_pos, p->big + p->big_got,
                                      want, 0);
        } else {
            n = mproc__os_conn_read(&p->c, p->big + p->big_got, want, timeout_ms);
        }
        if (n > 0) {
            p->big_got += (uint64_t)n;
            if (p->big_ring)
                p->ring_taken += (size_t)n;
        }
    } else {
        int r = mproc__buf_reserve(&p->in, READ_CHUNK);
        if (r < 0)
            return r;
        n = mproc__os_conn_read(&p->c, p->in.data + p->in.len, p->in.cap - p->in.len, timeout_ms);
        if (n > 0)
            p->in.len += (size_t)n;
    }
    if (n == 0)
        p->eof = 1;
    return n < 0 ? (int)n : MPROC_OK;
}

static long left_ms(long timeout_ms, uint64_t deadline)
{
    uint64_t now;
    if (timeout_ms < 0)
        return MPROC_FOREVER;
    now = mproc__os_now_ms();
    return now >= deadline ? 0 : (long)(deadline - now);
}

/* A ring body keeps coming as fast as it is taken, so a recv or poll with a time limit would
 * follow it to its end: once the time is up, one call takes a ring's worth at most (all of a
 * body the ring holds whole) and leaves the rest to the next call. 1 when this call stops. */
static int ring_time_up(const mproc_pipe *p, long timeout_ms, uint64_t deadline)
{
    if (!p->big_ring || timeout_ms < 0 || p->ring_taken <= MPROC__PRING_CAP ||
        left_ms(timeout_ms, deadline) > 0)
        return 0;
    mproc__pring_leave(p->ring, !p->out);
    return 1;
}

int mproc_pipe_recv(mproc_pipe *p, long timeout_ms, void **data, size_t *len)
{
    uint64_t deadline = 0;
    void *d = NULL;
    size_t n = 0;
    int r;

    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (p == NULL || data == NULL || len == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    if (timeout_ms > 0)
        deadline = mproc__os_now_ms() + (uint64_t)timeout_ms;
    p->ring_taken = 0;
    for (;;) {
        r = take_message(p, &d, &n);
        if (r < 0)
            return r;
        if (r == 1) {
            *data = d;
            *len = n;
            return MPROC_OK;
        }
        /* The other end is gone: a message it did not finish is dropped, never handed out
         * torn. */
        if (p->eof)
            return MPROC_EEND;
        if (ring_time_up(p, timeout_ms, deadline))
            return MPROC_ETIMEDOUT;
        r = read_some(p, left_ms(timeout_ms, deadline));
        if (r < 0)
            return r;
    }
}

/* 1 when recv would not wait: a whole message is here, or the end, or a header recv refuses. */
static int message_ready(mproc_pipe *p)
{
    size_t avail;
    uint64_t n;
    int kind;
    if (p->eof)
        return 1;
    if (prepare(p) < 0)
        return 1;
    if (p->big != NULL)
        return p->big_got >= p->big_len;
    avail = mproc__buf_avail(&p->in);
    if (avail < MPROC__PIPE_HEADER)
        return 0;
    if (mproc__pipe_frame_decode(mproc__buf_head(&p->in), &kind, &n) < 0)
        return 1;
    /* A big body read into p->in by polls (recv would have moved it to a buffer of its own)
     * is as ready as a small one once all of it is there. */
    return avail - MPROC__PIPE_HEADER >= n;
}

int mproc_pipe_poll(mproc_pipe *p, long timeout_ms)
{
    uint64_t deadline = 0;
    int r;

    if (p == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (foreign(p))
        return MPROC_EFOREIGN;
    if (timeout_ms > 0)
        deadline = mproc__os_now_ms() + (uint64_t)timeout_ms;
    p->ring_taken = 0;
    /* Bytes that come are taken at once (without waiting): a message only partly there keeps
     * the wait going, until the deadline. */
    while (!message_ready(p)) {
        if (p->big_ring) {
            /* The body comes through the ring: that is where to wait. */
            if (ring_time_up(p, timeout_ms, deadline))
                return 0;
            r = read_some(p, left_ms(timeout_ms, deadline));
            if (r == MPROC_ETIMEDOUT)
                return 0;
            if (r < 0)
                return r;
            continue;
        }
        r = mproc__os_conn_poll(&p->c, left_ms(timeout_ms, deadline));
        if (r <= 0)
            return r;
        r = read_some(p, 0);
        if (r < 0 && r != MPROC_ETIMEDOUT)
            return r;
    }
    return 1;
}

struct mproc__conn *mproc__pipe_conn(mproc_pipe *p)
{
    return &p->c;
}

struct mproc__pring *mproc__pipe_ring(mproc_pipe *p, int *out)
{
    *out = p->out;
    return p->ring;
}

mproc_shared *mproc_pipe_shared(mproc_pipe *p)
{
    return p != NULL ? &p->shared : NULL;
}

void mproc_pipe_destroy(mproc_pipe *p)
{
    if (p != NULL)
        pipe_free(p);
}

int mproc_child_pipe(size_t index, mproc_pipe **out)
{
    void *v = NULL;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    r = mproc__share_child_get(index, MPROC__SHARE_PIPE, &v);
    *out = v;
    return r;
}

/* ---- the share contract: the end's handles, then its ring's region if it has one; a blob of
 * 2 bytes with a ring (1, the ring the end writes into), else none ---- */

static int describe(void *obj, mproc__share_rec *rec)
{
    mproc_pipe *p = obj;
    /* Bytes this end already read would be lost to the child: hand over a fresh end only. */
    if (prepare(p) < 0 || mproc__buf_avail(&p->in) > 0 || p->big != NULL)
        return MPROC_ESTATE;
    rec->nh = mproc__os_conn_handles(&p->c, rec->h);
    rec->blob_len = 0;
    if (p->ring != NULL) {
        rec->h[rec->nh++] = p->ring->shm.h;
        rec->blob[0] = 1;
        rec->blob[1] = (unsigned char)p->out;
        rec->blob_len = 2;
    }
    return MPROC_OK;
}

static int adopt(mproc__share_rec *rec, mproc_shared **out)
{
    mproc_pipe *p;
    size_t i, nh = rec->nh;
    int r;

    if (rec->blob_len != 0 &&
        (rec->blob_len != 2 || rec->blob[0] != 1 || rec->blob[1] > 1 || nh < 1))
        return MPROC_EPROTO;
    p = pipe_new();
    if (p == NULL)
        return MPROC_ENOMEM;
    if (rec->blob_len == 2) {
        r = mproc__pring_adopt(&p->ring, rec->h[nh - 1]);
        if (r < 0) {
            mproc__free(p);
            return r;
        }
        rec->h[--nh] = MPROC__INVALID_HANDLE; /* the ring's now */
        p->out = rec->blob[1];
    }
    r = mproc__os_conn_adopt(&p->c, rec->h, nh);
    if (r < 0) {
        mproc__pring_drop(p->ring, 1);
        mproc__free(p);
        return r;
    }
    for (i = 0; i < nh; i++)
        rec->h[i] = MPROC__INVALID_HANDLE;
    *out = &p->shared;
    return MPROC_OK;
}

static void destroy(void *obj)
{
    mproc_pipe_destroy(obj);
}

const mproc__share_ops mproc__pipe_share_ops = {MPROC__SHARE_PIPE, "pipe", describe, adopt,
                                                destroy};

/* ---- mproc_wait(): ready once recv would not wait (sync/waitable.h) ---- */

static int pipe_waitable_ready(void *obj)
{
    return mproc_pipe_poll(obj, 0);
}

static mproc__handle pipe_waitable_begin(void *obj)
{
    return mproc__os_conn_wait_handle(&((mproc_pipe *)obj)->c);
}

static const mproc__waitable_kind pipe_kind = {
    "pipe", pipe_waitable_ready, pipe_waitable_begin, NULL, 0, 0, NULL};
/* Without a handle to sleep on (Windows): looked at again, backing off to 10 ms. */
static const mproc__waitable_kind pipe_kind_polled = {
    "pipe", pipe_waitable_ready, pipe_waitable_begin, NULL, 0, 10, NULL};

mproc_waitable *mproc_pipe_waitable(mproc_pipe *p)
{
    if (p == NULL)
        return NULL;
    return mproc__waitable_init(
        &p->w,
        mproc__os_conn_wait_handle(&p->c) != MPROC__INVALID_HANDLE ? &pipe_kind : &pipe_kind_polled,
        p);
}
