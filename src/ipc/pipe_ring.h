/* The Pipe's shared rings for big bodies (src/ipc/pipe_ring.c), shared with the fuzzer.
 *
 * A pair of ends shares one anonymous region made with it: a ring each way. A big message's
 * frame still goes down the pipe (so order, poll, the end of file and mproc_wait stay the
 * pipe's), and says that its body follows in the ring: the sender copies the body in, the
 * receiver copies it out, both at once. Each ring's words are two positions (bytes in and bytes
 * out since the region was made, mod 2^32), each written by one side only, and flags saying
 * who sleeps. Only the other side's position is read from the region, and it is checked: a
 * position more than the ring's size away from ours is a lie (MPROC_EPROTO). */
#ifndef MPROC_IPC_PIPE_RING_H
#define MPROC_IPC_PIPE_RING_H

#include "../backend.h"
#include "conn.h"

/* Each ring's size: a power of two (positions wrap at 2^32). */
#define MPROC__PRING_CAP ((uint32_t)4 << 20)
/* The words of the two rings, then the rings. */
#define MPROC__PRING_HEAD 4096u
#define MPROC__PRING_SIZE ((size_t)MPROC__PRING_HEAD + 2 * (size_t)MPROC__PRING_CAP)

/* One ring's words, the writer's and the reader's on cache lines of their own. */
typedef struct mproc__pring_dir {
    volatile uint32_t w;     /* bytes in (the writer's) */
    volatile uint32_t wwait; /* the writer sleeps on r */
    uint32_t pad0[14];
    volatile uint32_t r;      /* bytes out (the reader's) */
    volatile uint32_t rwait;  /* the reader sleeps on w */
    volatile uint32_t parked; /* the reader left with the ring empty: the writer nudges the pipe */
    uint32_t pad1[13];
} mproc__pring_dir;

/* This process's hold on a region: the two ends of a pair made here share one. */
typedef struct mproc__pring {
    mproc__shm shm;
    volatile uint32_t refs;
} mproc__pring;

/* A fresh region: MPROC_OK, MPROC_ENOTSUP where the OS cannot sleep on its words with a time
 * limit (mproc__os_conn_ring_works), or a code. */
int mproc__pring_create(mproc__pring **out);
/* Maps the region handed down as h (taken over on MPROC_OK only). */
int mproc__pring_adopt(mproc__pring **out, mproc__handle h);
void mproc__pring_hold(mproc__pring *g);
/* Drops a hold; with own 0 (a fork's copy) the descriptor's number is not closed. */
void mproc__pring_drop(mproc__pring *g, int own);

/* Ring dir's words and bytes (for the fuzzer, which writes what a hostile peer would). */
mproc__pring_dir *mproc__pring_words(mproc__pring *g, int dir);
unsigned char *mproc__pring_data(mproc__pring *g, int dir);

/* The bytes a ring holds, from its two positions: 0 .. MPROC__PRING_CAP, or MPROC_EPROTO. */
long mproc__pring_held(uint32_t w, uint32_t r);

/* Copies len bytes into ring dir and the frame that announces them (hdr, hlen bytes) down c
 * once the first of them are in, waiting for room as long as it takes: MPROC_OK once all are
 * in, MPROC_EEND when the other end is gone, MPROC_EPROTO when its position lies, or a code. */
int mproc__pring_send(mproc__pring *g, int dir, mproc__conn *c, const unsigned char *hdr,
                      size_t hlen, const unsigned char *data, size_t len);
/* The reader leaves in the middle of a body with bytes maybe still in the ring (its time is up):
 * the writer nudges the pipe once it is awake again, so mproc_wait() (on the pipe) wakes. */
void mproc__pring_leave(mproc__pring *g, int dir);
/* The reader's position when a body starts (its own word, checked against the writer's):
 * MPROC_OK or MPROC_EPROTO. */
int mproc__pring_begin(mproc__pring *g, int dir, uint32_t *pos);
/* Copies up to cap bytes out of ring dir at *pos, waiting up to timeout_ms (MPROC_FOREVER, 0
 * looks only) for the first: > 0 bytes, 0 when the other end is gone with nothing more in the
 * ring, MPROC_ETIMEDOUT, or MPROC_EPROTO. */
long mproc__pring_take(mproc__pring *g, int dir, mproc__conn *c, uint32_t *pos, unsigned char *dst,
                       size_t cap, long timeout_ms);

#endif /* MPROC_IPC_PIPE_RING_H */
