/* The queue's private parts, shared by its files (queue*.c): sizes, the object, helpers. */
#ifndef MPROC_IPC_QUEUE_IN_H
#define MPROC_IPC_QUEUE_IN_H

#include "queue.h"
#include "../sync/waitable.h"

#include <stddef.h>
#include <stdint.h>

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
/* How many times a waiter looks at the word it waits on before it sleeps: QSPIN times with a
 * pause (a few us), then QYIELDS times after giving the CPU away, which lets a producer that
 * shares this CPU put the message (a wake through the kernel costs the waker more than the
 * whole put). Bounded: with nothing else to run a yield returns at once. */
#define QSPIN 300
#define QYIELDS 8
/* How often a side waiting on the big stream looks whether the other side died. */
#define QPROBE_MS 100L
/* The longest sleep of a getter on an empty queue: a put wakes only one getter, and one killed
 * right after its wake would otherwise leave a message waiting for the next put. */
#define QWAKE_ONE_SLICE_MS 100L

struct mproc_queue {
    mproc_shared shared; /* its part of the share contract (share.h) */
    mproc_waitable w;    /* what mproc_queue_waitable() hands out (sync/waitable.h) */
    mproc__shm shm;
    mproc__qhdr *h;
    unsigned char *ring;
    unsigned char *big;
    mproc__qos os;
};

/* ---- the ring's records (queue_ring.c) ---- */
uint64_t mproc__q_round16(uint64_t n);
void mproc__q_write_rec(unsigned char *at, uint32_t type, uint64_t len);

/* ---- the main lock and the redo record (queue_redo.c) ---- */
/* Applies a multi-field change so that a death at any point leaves either the old state or a
 * redo record that completes it. Main lock held. */
void mproc__q_commit(mproc__qhdr *h, uint64_t head, uint64_t tail, uint64_t count,
                     uint64_t unfinished, uint32_t big_state);
/* An empty ring starts again at its first byte. Main lock held. */
void mproc__q_rewind_empty(mproc__qhdr *h);
/* Takes the main lock; repairs after a holder that died. MPROC_EPROTO (lock released) when the
 * header is not one this library could have left. */
int mproc__q_lock(mproc_queue *q);
void mproc__q_unlock(mproc_queue *q);

/* ---- waiting (queue_wait.c) ---- */
/* What is left of timeout_ms, the clock started at the first call (*start 0: not yet). */
long mproc__q_remaining(uint64_t *start, long timeout_ms);
/* The smaller of two timeouts, a negative a (forever) giving b. */
long mproc__q_min_ms(long a, long b);
/* Main lock held, the wait's condition false: releases it, waits on w for up to ms (spins,
 * yields, then sleeps), takes it again. */
int mproc__q_sleep(mproc_queue *q, int w, long ms);

/* ---- put (queue_put.c) ---- */
/* Waits (lock held) until a record of step bytes fits: MPROC_OK, ETIMEDOUT, ESTATE (closed),
 * or an error (lock released). *pad: bytes to skip to the ring's start first. */
int mproc__q_wait_room(mproc_queue *q, uint64_t step, uint64_t *pad, uint64_t *start,
                       long timeout_ms);
/* Writes the pad record (if any) and returns where a record goes. Main lock held. */
uint64_t mproc__q_place(mproc_queue *q, uint64_t pad);

/* ---- big messages (queue_big.c) ---- */
/* The producer's side: offers, streams, returns once a consumer has every byte. */
int mproc__q_put_big(mproc_queue *q, const unsigned char *data, size_t len, uint64_t *start,
                     long timeout_ms);
/* The consumer's side (reader lock held, claimed): 1 when every byte is in buf, 0 when the
 * offer ended otherwise, or a negative code. */
int mproc__q_get_big(mproc_queue *q, uint32_t gen, unsigned char *buf, uint64_t len,
                     uint64_t *start, long timeout_ms);

#endif /* MPROC_IPC_QUEUE_IN_H */
