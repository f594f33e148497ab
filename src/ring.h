/* A one-way ring of RESULT frames in memory a pool worker shares with the parent.
 *
 * A worker answers each task before it starts the next, so that a crash loses nothing but the
 * running task. Through a pipe that costs a system call per task; through the ring it costs a
 * copy, and the answer survives the worker's death just the same. The pipe stays for answers
 * too large for the ring and as the doorbell: a worker rings it only when the parent says it
 * is about to sleep. */
#ifndef MPROC_RING_H
#define MPROC_RING_H

#include "internal.h"

#define MPROC__RING_BYTES (128u * 1024u) /* a power of two */

typedef struct mproc__ring {
    volatile uint32_t head; /* bytes written, by the worker */
    unsigned char pad0[60];
    volatile uint32_t tail; /* bytes consumed, by the parent */
    unsigned char pad1[60];
    volatile uint32_t asleep; /* the parent waits for the doorbell */
    unsigned char pad2[60];
    volatile uint32_t ready; /* the worker has booted and run its initializer */
    unsigned char pad3[60];
    /* A caller of apply that borrowed this worker (direct.c) sleeps on seq while waiter is set;
     * the worker bumps seq after each answer then, and the pool thread when it wants the worker
     * back. */
    volatile uint32_t waiter;
    unsigned char pad4[60];
    volatile uint32_t seq;
    unsigned char pad5[60];
    /* Tasks are numbered 1, 2, ... in the order they are written to the worker. claim is the
     * last one the worker has started or the parent has taken back (mproc__ring_claim and
     * mproc__ring_take_back): whoever moves it past a task first has it. */
    volatile uint32_t claim;
    unsigned char pad6[60];
    unsigned char data[MPROC__RING_BYTES];
} mproc__ring;

/* Worker: copies one frame in. 1 when it went in (*bell: ring the doorbell now), 0 when there
 * is no room (send it through the pipe). */
int mproc__ring_put(mproc__ring *r, const void *frame, size_t n, int *bell);

/* Parent: appends every frame written since *tail to out and advances *tail (and the shared
 * tail). The ring is the worker's to scribble on, so everything is checked and copied before
 * use: MPROC_EPROTO on garbage, else the number of frames. */
int mproc__ring_drain(mproc__ring *r, uint32_t *tail, mproc__buf *out);

/* Worker, about to start task number seq: 1 when it is the worker's to run, 0 when the parent
 * took it back (skip it: it runs elsewhere). */
int mproc__ring_claim(mproc__ring *r, uint32_t seq);

/* Parent: takes back every task up to number upto that the worker has not started. Returns the
 * number of the last one it started: those after it are the parent's again. */
uint32_t mproc__ring_take_back(mproc__ring *r, uint32_t upto);

/* Worker, after an answer went in: wakes a caller waiting for it (see waiter). */
void mproc__ring_notify(mproc__ring *r);

/* Parent: announces a sleep; 1 when frames are waiting already (then do not sleep). */
int mproc__ring_arm(mproc__ring *r, uint32_t tail);
void mproc__ring_disarm(mproc__ring *r);

#endif /* MPROC_RING_H */
