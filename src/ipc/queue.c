/* Queue and JoinableQueue: a FIFO of byte messages in anonymous shared memory, usable from any
 * process that holds it. Small messages are copied into a ring under one lock; a big one is
 * streamed through a second buffer to the one consumer that took its marker. Every change to
 * the shared state is made so that a process killed at any point leaves it whole (see
 * mproc__qhdr's redo record), and every field another process wrote is checked before use. */
#include "queue.h"
#include "../sync/waitable.h"
#include "../wire.h"

#include <string.h>

/* Sizes of a queue's region: a 16 MiB ring for messages up to 256 KiB, a 4 MiB stream buffer
 * for bigger ones. Pages are only touched when used, and an emptied ring starts again at its
 * first byte, so a queue that keeps up uses the same few pages, warm in the cache. */
#define QRING_CAP ((uint64_t)16 << 20)
#define QBIG_CAP ((uint64_t)4 << 20)
#define QHDR_BYTES 4096u
#define QREC_HDR 16u
#define QBIG_REC 32u                     /* header + the offer's generation, padded */
#define QSMALL_MAX ((uint64_t)256 << 10) /* a record this size or smaller goes in the ring */
#define QBIG_CHUNK ((uint64_t)2 << 20)
/* How many times a waiter looks at the word it waits on before it sleeps (a few us). */
#define QSPIN 300
/* How often a side waiting on the big stream looks whether the other side died. */
#define QPROBE_MS 100L

struct mproc_queue {
    mproc_shared shared; /* its part of the share contract (share.h) */
    mproc_waitable w;    /* what mproc_queue_waitable() hands out (sync/waitable.h) */
    mproc__shm shm;
    mproc__qhdr *h;
    unsigned char *ring;
    unsigned char *big;
    mproc__qos os;
};

typedef char qhdr_fits[sizeof(mproc__qhdr) <= QHDR_BYTES ? 1 : -1];

static uint64_t round16(uint64_t n)
{
    return (n + 15u) & ~(uint64_t)15u;
}

/* What is left of timeout_ms. The clock starts at the first call (*start 0: not yet), when a
 * call first has to wait: a call that never waits never reads the clock. */
static long remaining(uint64_t *start, long timeout_ms)
{
    uint64_t el;
    if (timeout_ms <= 0)
        return timeout_ms < 0 ? MPROC_FOREVER : 0;
    if (*start == 0) {
        *start = mproc__os_now_ms() + 1; /* + 1: never 0 again */
        return timeout_ms;
    }
    el = mproc__os_now_ms() + 1 - *start;
    return el >= (uint64_t)timeout_ms ? 0 : timeout_ms - (long)el;
}

static long min_ms(long a, long b)
{
    return a < 0 ? b : (a < b ? a : b);
}

/* ---- checking what other processes wrote -------------------------------------------------- */

int mproc__queue_check_header(const mproc__qhdr *h, size_t size)
{
    uint64_t used;
    if (h->magic != MPROC__QUEUE_MAGIC || h->version != MPROC__QUEUE_VERSION)
        return MPROC_EPROTO;
    /* The capacities are the library's constants: this process's pointers into the region were
     * placed by them, so another value would send a copy outside. */
    if (h->ring_cap != QRING_CAP || h->big_cap != QBIG_CAP ||
        (uint64_t)size < QHDR_BYTES + QRING_CAP + QBIG_CAP)
        return MPROC_EPROTO;
    if (h->head > h->tail || h->head % 16u != 0 || h->tail % 16u != 0)
        return MPROC_EPROTO;
    used = h->tail - h->head;
    if (used > h->ring_cap || h->count > used / 16u || h->closed > 1u || h->j_valid > 1u ||
        h->big_state > MPROC__QBIG_ABORTED)
        return MPROC_EPROTO;
    if (h->big_r > h->big_w || h->big_w > h->big_len || h->big_w - h->big_r > h->big_cap)
        return MPROC_EPROTO;
    return MPROC_OK;
}

int mproc__queue_check_record(const mproc__qhdr *h, const unsigned char *ring, uint64_t off,
                              uint32_t *type, uint64_t *len, uint64_t *step)
{
    mproc__qrec rec;
    uint64_t pos = off % h->ring_cap, room = h->tail - off, to_end = h->ring_cap - pos;
    if (off < h->head || off >= h->tail || room < QREC_HDR || to_end < QREC_HDR)
        return MPROC_EPROTO;
    memcpy(&rec, ring + pos, sizeof rec);
    if (rec.check != (rec.type ^ (uint32_t)rec.len ^ MPROC__QREC_SALT))
        return MPROC_EPROTO;
    switch (rec.type) {
    case MPROC__QREC_MSG:
        if (rec.len > to_end - QREC_HDR || QREC_HDR + round16(rec.len) > room)
            return MPROC_EPROTO;
        *step = QREC_HDR + round16(rec.len);
        break;
    case MPROC__QREC_PAD:
        if (rec.len != to_end || rec.len > room)
            return MPROC_EPROTO;
        *step = rec.len;
        break;
    case MPROC__QREC_BIG:
        if (QBIG_REC > room || QBIG_REC > to_end || rec.len <= QSMALL_MAX - QREC_HDR)
            return MPROC_EPROTO;
        *step = QBIG_REC;
        break;
    default:
        return MPROC_EPROTO;
    }
    *type = rec.type;
    *len = rec.len;
    return MPROC_OK;
}

static void write_rec(unsigned char *at, uint32_t type, uint64_t len)
{
    mproc__qrec rec;
    rec.type = type;
    rec.len = len;
    rec.check = type ^ (uint32_t)len ^ MPROC__QREC_SALT;
    memcpy(at, &rec, sizeof rec);
}

/* ---- the main lock and the redo record ----------------------------------------------------- */

/* Applies a multi-field change so that a death at any point leaves either the old state or a
 * redo record that completes it. The stores before the atomic one reach memory first. */
static void commit(mproc__qhdr *h, uint64_t head, uint64_t tail, uint64_t count,
                   uint64_t unfinished, uint32_t big_state)
{
    h->j_head = head;
    h->j_tail = tail;
    h->j_count = count;
    h->j_unfinished = unfinished;
    mproc__os_store(&h->big_state_j, big_state);
    mproc__os_store(&h->j_valid, 1);
    h->head = head;
    h->tail = tail;
    h->count = count;
    h->unfinished = unfinished;
    h->big_state = big_state;
    mproc__os_store(&h->j_valid, 0);
}

/* An empty ring starts again at its first byte (offsets stay increasing), which keeps a queue
 * that keeps up on the same warm pages. Main lock held. */
static void rewind_empty(mproc__qhdr *h)
{
    if (h->head == h->tail && h->head % h->ring_cap != 0) {
        uint64_t at = h->head - h->head % h->ring_cap + h->ring_cap;
        commit(h, at, at, h->count, h->unfinished, h->big_state);
    }
}

/* Takes the main lock; repairs after a holder that died. MPROC_EPROTO (lock released) when the
 * header is not one this library could have left. */
static int qlock(mproc_queue *q)
{
    mproc__qhdr *h = q->h;
    int r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_MAIN, MPROC_FOREVER);
    if (r == MPROC_EOWNERDEAD) {
        if (mproc__os_load(&h->j_valid) == 1u) {
            h->head = h->j_head;
            h->tail = h->j_tail;
            h->count = h->j_count;
            h->unfinished = h->j_unfinished;
            h->big_state = mproc__os_load(&h->big_state_j);
            mproc__os_store(&h->j_valid, 0);
        }
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_MAIN);
        r = MPROC_OK;
    }
    if (r < 0)
        return r;
    if (mproc__queue_check_header(h, q->shm.size) < 0) {
        mproc__qos_unlock(&q->os, h, MPROC__QLOCK_MAIN);
        return MPROC_EPROTO;
    }
    return MPROC_OK;
}

static void qunlock(mproc_queue *q)
{
    mproc__qos_unlock(&q->os, q->h, MPROC__QLOCK_MAIN);
}

/* Called with the main lock held and the wait's condition false: releases the lock, sleeps on
 * w for up to ms, takes the lock again. */
static int qsleep(mproc_queue *q, int w, long ms)
{
    mproc__qhdr *h = q->h;
    uint32_t seen = mproc__os_load(&h->seq[w]);
    int i;
    qunlock(q);
    /* A short look first (some microseconds): a queue that keeps up changes within that, and
     * neither side then pays for a sleep and a wake in the kernel. Not counted as a waiter, so
     * the other side makes no system call either. */
    for (i = 0; i < QSPIN && mproc__os_load(&h->seq[w]) == seen; i++)
        mproc__os_relax();
    if (i == QSPIN) {
        (void)mproc__os_add(&h->waiters[w], 1);
        mproc__qos_wait(&q->os, h, w, seen, ms);
        (void)mproc__os_add(&h->waiters[w], (uint32_t)-1);
    }
    return qlock(q);
}

/* ---- create, destroy ----------------------------------------------------------------------- */

MPROC_API int mproc_queue_create(mproc_queue **out, size_t maxsize)
{
    mproc_queue *q;
    mproc__qhdr *h;
    int r;
    (void)sizeof(qhdr_fits);
    if (out == NULL)
        return MPROC_EINVAL;
    *out = NULL;
    q = (mproc_queue *)mproc__calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    r = mproc__os_shm_create(&q->shm, (size_t)(QHDR_BYTES + QRING_CAP + QBIG_CAP));
    if (r < 0) {
        mproc__free(q);
        return r;
    }
    h = (mproc__qhdr *)q->shm.addr;
    h->magic = MPROC__QUEUE_MAGIC;
    h->version = MPROC__QUEUE_VERSION;
    h->ring_cap = QRING_CAP;
    h->big_cap = QBIG_CAP;
    h->maxsize = (uint64_t)maxsize;
    r = mproc__qos_create(&q->os, h);
    if (r < 0) {
        mproc__os_shm_destroy(&q->shm);
        mproc__free(q);
        return r;
    }
    mproc__share_init(&q->shared, &mproc__queue_share_ops, q);
    q->h = h;
    q->ring = (unsigned char *)q->shm.addr + QHDR_BYTES;
    q->big = q->ring + QRING_CAP;
    *out = q;
    return MPROC_OK;
}

MPROC_API void mproc_queue_destroy(mproc_queue *q)
{
    long err;
    if (q == NULL)
        return;
    err = mproc__os_errno();
    mproc__share_forget(&q->shared);
    /* A fork's copy of a queue this process was not handed maps the parent's pages, but its
     * descriptor was closed at the fork and the number may be another's now. */
    if (q->shared.pid != mproc__os_getpid())
        q->shm.h = MPROC__INVALID_HANDLE;
    mproc__qos_close(&q->os);
    mproc__os_shm_destroy(&q->shm);
    mproc__free(q);
    mproc__os_restore_errno(err);
}

/* ---- put ----------------------------------------------------------------------------------- */

/* With the main lock held: MPROC_OK when a record of step bytes fits at the tail and the bound
 * allows one more message; *pad is then the bytes to skip to the ring's start first (0: none). */
static int room_for(const mproc__qhdr *h, uint64_t step, uint64_t *pad)
{
    uint64_t pos = h->tail % h->ring_cap, to_end = h->ring_cap - pos;
    uint64_t need = step <= to_end ? step : to_end + step;
    *pad = step <= to_end ? 0 : to_end;
    if (h->maxsize != 0 && h->count >= h->maxsize)
        return 0;
    return h->ring_cap - (h->tail - h->head) >= need;
}

/* Waits (lock held) until a record of step bytes fits: MPROC_OK, ETIMEDOUT, ESTATE (closed),
 * or an error (lock released). */
static int wait_room(mproc_queue *q, uint64_t step, uint64_t *pad, uint64_t *start, long timeout_ms)
{
    for (;;) {
        long left;
        int r;
        if (q->h->closed)
            return MPROC_ESTATE;
        if (room_for(q->h, step, pad))
            return MPROC_OK;
        left = remaining(start, timeout_ms);
        if (left == 0)
            return MPROC_ETIMEDOUT;
        r = qsleep(q, MPROC__QWAIT_NOTFULL, left);
        if (r < 0)
            return r;
    }
}

/* Writes the pad record (if any) and returns where a record goes. */
static uint64_t place(mproc_queue *q, uint64_t pad)
{
    uint64_t at = q->h->tail;
    if (pad != 0) {
        write_rec(q->ring + at % q->h->ring_cap, MPROC__QREC_PAD, pad);
        at += pad;
    }
    return at;
}

static int put_small(mproc_queue *q, const void *data, size_t len, uint64_t *start, long timeout_ms)
{
    mproc__qhdr *h = q->h;
    uint64_t step = QREC_HDR + round16(len), pad, at;
    int r = qlock(q);
    if (r < 0)
        return r;
    r = wait_room(q, step, &pad, start, timeout_ms);
    if (r == MPROC_EPROTO || (r < 0 && r != MPROC_ETIMEDOUT && r != MPROC_ESTATE))
        return r; /* the lock is already released */
    if (r == MPROC_OK) {
        /* Everything is written past the tail first: invisible until the commit. */
        at = place(q, pad);
        write_rec(q->ring + at % h->ring_cap, MPROC__QREC_MSG, len);
        if (len != 0)
            memcpy(q->ring + at % h->ring_cap + QREC_HDR, data, len);
        commit(h, h->head, at + step, h->count + 1, h->unfinished + 1, h->big_state);
    }
    qunlock(q);
    if (r == MPROC_OK)
        mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTEMPTY);
    return r;
}

/* The message in flight is lost (its producer died or gave up): nobody will get it. Main lock
 * held, gen the current generation. */
static void big_drop(mproc_queue *q)
{
    mproc__qhdr *h = q->h;
    uint64_t count = h->count - (h->big_state == MPROC__QBIG_OFFERED && h->count > 0 ? 1 : 0);
    uint64_t unfinished = h->unfinished > 0 ? h->unfinished - 1 : 0;
    commit(h, h->head, h->tail, count, unfinished, MPROC__QBIG_ABORTED);
    if (unfinished == 0)
        mproc__qos_wake(&q->os, h, MPROC__QWAIT_JOIN);
    mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGDATA);
}

/* Whether a lock's holder is alive: 1 alive (or busy), 0 free or its holder died (taken and
 * let go again here). */
static int holder_alive(mproc_queue *q, int lock)
{
    int r = mproc__qos_lock(&q->os, q->h, lock, 0);
    if (r == MPROC_ETIMEDOUT || (r < 0 && r != MPROC_EOWNERDEAD))
        return 1;
    if (r == MPROC_EOWNERDEAD)
        mproc__qos_consistent(&q->os, q->h, lock);
    mproc__qos_unlock(&q->os, q->h, lock);
    return 0;
}

/* A message too big for the ring: the producer offers it with a marker in the ring, then
 * streams it to the consumer that took the marker, and returns once that one has every byte.
 * A consumer that dies or gives up makes it offer the message again. */
static int put_big(mproc_queue *q, const unsigned char *data, size_t len, uint64_t *start,
                   long timeout_ms)
{
    mproc__qhdr *h = q->h;
    int r, first = 1, owed = 0; /* owed: our offer's count of unfinished tasks is still ours */
    uint64_t pad, at, sent;

    r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_WRITER, remaining(start, timeout_ms));
    if (r == MPROC_EOWNERDEAD) {
        /* The previous big producer died: its message is lost. */
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_WRITER);
        r = qlock(q);
        if (r < 0)
            goto out_writer;
        if (h->big_state == MPROC__QBIG_OFFERED || h->big_state == MPROC__QBIG_CLAIMED)
            big_drop(q);
        qunlock(q);
    } else if (r < 0) {
        return r;
    }

offer:
    /* A consumer of an earlier offer may still be copying: wait until it has let go. */
    r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_READER, remaining(start, timeout_ms));
    if (r == MPROC_EOWNERDEAD) {
        mproc__qos_consistent(&q->os, h, MPROC__QLOCK_READER);
        r = MPROC_OK;
    }
    if (r < 0)
        goto out_writer;
    mproc__qos_unlock(&q->os, h, MPROC__QLOCK_READER);
    r = qlock(q);
    if (r < 0)
        goto out_writer;
    r = wait_room(q, QBIG_REC, &pad, start, timeout_ms);
    if (r == MPROC_EPROTO || (r < 0 && r != MPROC_ETIMEDOUT && r != MPROC_ESTATE))
        goto out_writer;
    if (r < 0) {
        qunlock(q);
        goto out_writer;
    }
    h->big_gen++;
    h->big_w = 0; /* first: the header check wants big_r <= big_w <= big_len */
    h->big_r = 0;
    h->big_len = len;
    at = place(q, pad);
    write_rec(q->ring + at % h->ring_cap, MPROC__QREC_BIG, len);
    memcpy(q->ring + at % h->ring_cap + QREC_HDR, &h->big_gen, sizeof h->big_gen);
    commit(h, h->head, at + QBIG_REC, h->count + 1, h->unfinished + (first ? 1 : 0),
           MPROC__QBIG_OFFERED);
    first = 0;
    owed = 1;
    qunlock(q);
    mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTEMPTY);

    sent = 0;
    for (;;) {
        uint32_t st;
        uint64_t room;
        long left;
        r = qlock(q);
        if (r < 0)
            goto out_writer;
        st = h->big_state;
        if (st == MPROC__QBIG_DONE) {
            h->big_state = MPROC__QBIG_IDLE;
            qunlock(q);
            owed = 0; /* the consumer's task_done settles it */
            r = MPROC_OK;
            goto out_writer;
        }
        if (st == MPROC__QBIG_ABORTED) {
            qunlock(q);
            goto offer; /* the consumer died or gave up */
        }
        room = h->big_cap - (sent - h->big_r);
        if (sent < len && room > 0) {
            uint64_t pos = sent % h->big_cap, n = h->big_cap - pos;
            if (n > room)
                n = room;
            if (n > len - sent)
                n = len - sent;
            if (n > QBIG_CHUNK)
                n = QBIG_CHUNK;
            qunlock(q);
            /* Only the bytes past big_w, which no consumer reads yet. */
            memcpy(q->big + pos, data + sent, (size_t)n);
            sent += n;
            r = qlock(q);
            if (r < 0)
                goto out_writer;
            if (h->big_state == MPROC__QBIG_OFFERED || h->big_state == MPROC__QBIG_CLAIMED)
                h->big_w = sent;
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGDATA);
            continue;
        }
        left = remaining(start, timeout_ms);
        if (left == 0) {
            /* Given up: the message is dropped wherever it is. */
            big_drop(q);
            qunlock(q);
            owed = 0; /* big_drop took it back */
            r = MPROC_ETIMEDOUT;
            goto out_writer;
        }
        r = qsleep(q, MPROC__QWAIT_BIGSPACE, min_ms(left, QPROBE_MS));
        if (r < 0)
            goto out_writer;
        st = h->big_state;
        qunlock(q);
        if (st == MPROC__QBIG_CLAIMED && !holder_alive(q, MPROC__QLOCK_READER)) {
            /* The reader let go without DONE: it died (or gave up, which set ABORTED). */
            r = qlock(q);
            if (r < 0)
                goto out_writer;
            if (h->big_state == MPROC__QBIG_CLAIMED)
                h->big_state = MPROC__QBIG_ABORTED;
            qunlock(q);
        }
    }

out_writer:
    if (owed && qlock(q) == MPROC_OK) {
        /* Offered again after its consumer died or gave up, and then not put: the message is
         * lost, so is its count. */
        if (h->unfinished > 0 && --h->unfinished == 0)
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_JOIN);
        qunlock(q);
    }
    mproc__qos_unlock(&q->os, h, MPROC__QLOCK_WRITER);
    return r;
}

MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len, long timeout_ms)
{
    uint64_t start = 0;
    if (q == NULL || (data == NULL && len != 0) || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if ((uint64_t)len > ((uint64_t)1 << 62))
        return MPROC_ETOOBIG;
    if (QREC_HDR + round16(len) <= QSMALL_MAX)
        return put_small(q, data, len, &start, timeout_ms);
    return put_big(q, (const unsigned char *)data, len, &start, timeout_ms);
}

/* ---- get ----------------------------------------------------------------------------------- */

/* The consumer's side of a big message (reader lock held, claimed): 1 when every byte is in
 * buf, 0 when the offer ended otherwise (the caller looks for the next message), or a negative
 * code (MPROC_ETIMEDOUT: given back, the producer offers it again). */
static int get_big(mproc_queue *q, uint32_t gen, unsigned char *buf, uint64_t len, uint64_t *start,
                   long timeout_ms)
{
    mproc__qhdr *h = q->h;
    uint64_t got = 0;
    int r;
    for (;;) {
        uint64_t avail;
        long left;
        r = qlock(q);
        if (r < 0)
            return r;
        if (h->big_gen != gen || h->big_state != MPROC__QBIG_CLAIMED) {
            qunlock(q);
            return 0;
        }
        if (got == len) {
            h->big_state = MPROC__QBIG_DONE;
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            return 1;
        }
        /* Never more than the message's length: big_w is another process's word. */
        avail = h->big_w > got ? h->big_w - got : 0;
        if (avail > len - got)
            avail = len - got;
        if (avail > 0) {
            uint64_t pos = got % h->big_cap, n = h->big_cap - pos;
            if (n > avail)
                n = avail;
            if (n > QBIG_CHUNK)
                n = QBIG_CHUNK;
            qunlock(q);
            memcpy(buf + got, q->big + pos, (size_t)n);
            got += n;
            r = qlock(q);
            if (r < 0)
                return r;
            if (h->big_gen == gen && h->big_state == MPROC__QBIG_CLAIMED)
                h->big_r = got;
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            continue;
        }
        left = remaining(start, timeout_ms);
        if (left == 0) {
            h->big_state = MPROC__QBIG_ABORTED; /* given back: the producer offers it again */
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            return MPROC_ETIMEDOUT;
        }
        r = qsleep(q, MPROC__QWAIT_BIGDATA, min_ms(left, QPROBE_MS));
        if (r < 0)
            return r;
        qunlock(q);
        if (!holder_alive(q, MPROC__QLOCK_WRITER)) {
            /* The producer died (or let go: then the state says so already). */
            r = qlock(q);
            if (r < 0)
                return r;
            if (h->big_gen == gen && h->big_state == MPROC__QBIG_CLAIMED)
                big_drop(q);
            qunlock(q);
        }
    }
}

MPROC_API int mproc_queue_get(mproc_queue *q, long timeout_ms, void **data, size_t *len)
{
    mproc__qhdr *h;
    uint64_t start = 0;
    int r;
    if (data != NULL)
        *data = NULL;
    if (len != NULL)
        *len = 0;
    if (q == NULL || data == NULL || len == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    h = q->h;
    r = qlock(q);
    if (r < 0)
        return r;
    for (;;) {
        uint32_t type;
        uint64_t n, step;
        if (h->head == h->tail) {
            long left;
            if (h->closed) {
                qunlock(q);
                return MPROC_EEND;
            }
            left = remaining(&start, timeout_ms);
            if (left == 0) {
                qunlock(q);
                return MPROC_ETIMEDOUT;
            }
            r = qsleep(q, MPROC__QWAIT_NOTEMPTY, left);
            if (r < 0)
                return r;
            continue;
        }
        r = mproc__queue_check_record(h, q->ring, h->head, &type, &n, &step);
        if (r < 0) {
            qunlock(q);
            return r;
        }
        if (type == MPROC__QREC_PAD) {
            h->head += step;
            continue;
        }
        if (type == MPROC__QREC_MSG) {
            unsigned char *buf = (unsigned char *)mproc__malloc(n != 0 ? (size_t)n : 1);
            if (buf == NULL) {
                qunlock(q);
                return MPROC_ENOMEM;
            }
            memcpy(buf, q->ring + h->head % h->ring_cap + QREC_HDR, (size_t)n);
            commit(h, h->head + step, h->tail, h->count > 0 ? h->count - 1 : 0, h->unfinished,
                   h->big_state);
            rewind_empty(h);
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTFULL);
            *data = buf;
            *len = (size_t)n;
            return MPROC_OK;
        }
        {
            /* A big message's marker: stale unless it is the offer in flight. */
            uint32_t gen;
            unsigned char *buf;
            memcpy(&gen, q->ring + h->head % h->ring_cap + QREC_HDR, sizeof gen);
            if (gen != h->big_gen || h->big_state != MPROC__QBIG_OFFERED || n != h->big_len ||
                n > (uint64_t)(size_t)-1) {
                h->head += step;
                continue;
            }
            buf = (unsigned char *)mproc__malloc((size_t)n);
            if (buf == NULL) {
                qunlock(q);
                return MPROC_ENOMEM;
            }
            mproc__os_big_buffer(buf, (size_t)n);
            r = mproc__qos_lock(&q->os, h, MPROC__QLOCK_READER, 0);
            if (r == MPROC_EOWNERDEAD) {
                mproc__qos_consistent(&q->os, h, MPROC__QLOCK_READER);
                r = MPROC_OK;
            }
            if (r < 0) {
                /* Its producer is looking whether the last reader lives: a moment. */
                mproc__free(buf);
                qunlock(q);
                mproc__os_sleep_ms(1);
                r = qlock(q);
                if (r < 0)
                    return r;
                continue;
            }
            commit(h, h->head + step, h->tail, h->count > 0 ? h->count - 1 : 0, h->unfinished,
                   MPROC__QBIG_CLAIMED);
            qunlock(q);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_NOTFULL);
            mproc__qos_wake(&q->os, h, MPROC__QWAIT_BIGSPACE);
            r = get_big(q, gen, buf, n, &start, timeout_ms);
            mproc__qos_unlock(&q->os, h, MPROC__QLOCK_READER);
            if (r == 1) {
                *data = buf;
                *len = (size_t)n;
                return MPROC_OK;
            }
            mproc__free(buf);
            if (r < 0)
                return r;
            r = qlock(q);
            if (r < 0)
                return r;
        }
    }
}

/* ---- the rest ------------------------------------------------------------------------------ */

MPROC_API int mproc_queue_size(mproc_queue *q, size_t *n)
{
    int r;
    if (n != NULL)
        *n = 0;
    if (q == NULL || n == NULL)
        return MPROC_EINVAL;
    r = qlock(q);
    if (r < 0)
        return r;
    *n = (size_t)q->h->count;
    qunlock(q);
    return MPROC_OK;
}

/* ---- mproc_wait(): ready once get would not wait (sync/waitable.h) ---- */

/* A message is there, or the queue is closed (get gives MPROC_EEND at once). The state lives in
 * shared memory that other processes change, so the wait looks again every few milliseconds. */
static int queue_waitable_ready(void *obj)
{
    mproc_queue *q = obj;
    int r = qlock(q), ready;
    if (r < 0)
        return r;
    ready = q->h->count > 0 || q->h->closed;
    qunlock(q);
    return ready;
}

static const mproc__waitable_kind queue_kind = {"queue", queue_waitable_ready, NULL, NULL, 0, 10,
                                                NULL};

MPROC_API mproc_waitable *mproc_queue_waitable(mproc_queue *q)
{
    return q == NULL ? NULL : mproc__waitable_init(&q->w, &queue_kind, q);
}

MPROC_API int mproc_queue_close(mproc_queue *q)
{
    int r, w;
    if (q == NULL)
        return MPROC_EINVAL;
    r = qlock(q);
    if (r < 0)
        return r;
    q->h->closed = 1;
    qunlock(q);
    for (w = 0; w < MPROC__QWAIT_COUNT; w++)
        mproc__qos_wake(&q->os, q->h, w);
    return MPROC_OK;
}

MPROC_API int mproc_queue_task_done(mproc_queue *q)
{
    int r;
    uint64_t left;
    if (q == NULL)
        return MPROC_EINVAL;
    r = qlock(q);
    if (r < 0)
        return r;
    if (q->h->unfinished == 0) {
        qunlock(q);
        return MPROC_ESTATE;
    }
    left = --q->h->unfinished;
    qunlock(q);
    if (left == 0)
        mproc__qos_wake(&q->os, q->h, MPROC__QWAIT_JOIN);
    return MPROC_OK;
}

MPROC_API int mproc_queue_join(mproc_queue *q, long timeout_ms)
{
    uint64_t start = 0;
    int r;
    if (q == NULL || timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    r = qlock(q);
    if (r < 0)
        return r;
    while (q->h->unfinished != 0) {
        long left = remaining(&start, timeout_ms);
        if (left == 0) {
            qunlock(q);
            return MPROC_ETIMEDOUT;
        }
        r = qsleep(q, MPROC__QWAIT_JOIN, left);
        if (r < 0)
            return r;
    }
    qunlock(q);
    return MPROC_OK;
}

void mproc__queue_region(mproc_queue *q, void **addr, size_t *size)
{
    *addr = q->shm.addr;
    *size = q->shm.size;
}

/* ---- handing a queue to a child (share.h): the mapping's handle and the backend's, the
 * region's size in the blob ---- */

MPROC_API mproc_shared *mproc_queue_shared(mproc_queue *q)
{
    return q != NULL ? &q->shared : NULL;
}

MPROC_API int mproc_child_queue(size_t index, mproc_queue **out)
{
    void *v = NULL;
    int r;
    if (out == NULL)
        return MPROC_EINVAL;
    r = mproc__share_child_get(index, MPROC__SHARE_QUEUE, &v);
    *out = (mproc_queue *)v;
    return r;
}

static int describe(void *obj, mproc__share_rec *rec)
{
    mproc_queue *q = (mproc_queue *)obj;
    mproc__handle os[MPROC__QLOCK_COUNT + MPROC__QWAIT_COUNT];
    size_t n = mproc__qos_handles(&q->os, os), i;
    if (1 + n > MPROC__SHARE_MAX_HANDLES)
        return MPROC_ENOTSUP;
    rec->nh = 1 + n;
    rec->h[0] = q->shm.h;
    for (i = 0; i < n; i++)
        rec->h[1 + i] = os[i];
    rec->blob_len = 8;
    mproc__put_u64(rec->blob, (uint64_t)q->shm.size);
    return MPROC_OK;
}

static int adopt(mproc__share_rec *rec, mproc_shared **out)
{
    mproc__rd rd;
    uint64_t size;
    mproc_queue *q;
    size_t i;
    int r;

    mproc__rd_init(&rd, rec->blob, rec->blob_len);
    size = mproc__rd_u64(&rd);
    if (rd.err || rd.left != 0 || rec->nh < 1 || size != QHDR_BYTES + QRING_CAP + QBIG_CAP)
        return MPROC_EPROTO;
    q = (mproc_queue *)mproc__calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    r = mproc__qos_adopt(&q->os, rec->h + 1, rec->nh - 1);
    if (r < 0) {
        mproc__free(q);
        return r;
    }
    /* Until it succeeds every handle stays rec's (the machinery closes what is left). */
    r = mproc__os_shm_attach(&q->shm, rec->h[0], (size_t)size);
    if (r == MPROC_OK) {
        q->h = (mproc__qhdr *)q->shm.addr;
        if (q->h->magic != MPROC__QUEUE_MAGIC || q->h->version != MPROC__QUEUE_VERSION ||
            q->h->ring_cap != QRING_CAP || q->h->big_cap != QBIG_CAP)
            r = MPROC_EPROTO;
    }
    if (r < 0) {
        q->shm.h = MPROC__INVALID_HANDLE;
        mproc__os_shm_destroy(&q->shm);
        mproc__free(q);
        return r;
    }
    for (i = 0; i < rec->nh; i++)
        rec->h[i] = MPROC__INVALID_HANDLE;
    q->ring = (unsigned char *)q->shm.addr + QHDR_BYTES;
    q->big = q->ring + QRING_CAP;
    mproc__share_init(&q->shared, &mproc__queue_share_ops, q);
    *out = &q->shared;
    return MPROC_OK;
}

static void share_destroy(void *obj)
{
    mproc_queue_destroy((mproc_queue *)obj);
}

const mproc__share_ops mproc__queue_share_ops = {MPROC__SHARE_QUEUE, "queue", describe, adopt,
                                                 share_destroy};
