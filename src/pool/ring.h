/* A one-way ring of RESULT frames in memory a pool worker shares with the parent.
 *
 * A worker answers each task before it starts the next, so that a crash loses nothing but the
 * running task. Through a pipe that costs a system call per task; through the ring it costs a
 * copy, and the answer survives the worker's death just the same. The pipe stays for answers
 * too large for the ring and as the doorbell: a worker rings it only when the parent says it
 * is about to sleep. */
#ifndef MPROC_RING_H
#define MPROC_RING_H

#include "backend.h"
#include "wire.h"

#define MPROC__RING_BYTES (128u * 1024u) /* a power of two */
#define MPROC__RING_CANCELS 8

typedef struct mproc__ring {
    volatile uint32_t head; /* bytes written, by the worker */
    unsigned char pad0[60];
    volatile uint32_t tail; /* bytes consumed, by the parent */
    unsigned char pad1[60];
    volatile uint32_t asleep; /* the parent waits for the doorbell */
    unsigned char pad2[60];
    volatile uint32_t ready; /* the worker has booted and run its initializer */
    unsigned char pad3[60];
    /* A caller of apply that borrowed this worker (lend.c) sleeps on seq while waiter is set;
     * the worker bumps seq after each answer then, and the pool thread when it wants the worker
     * back. */
    volatile uint32_t waiter;
    unsigned char pad4[60];
    volatile uint32_t seq;
    unsigned char pad5[60];
    /* The worker's progress through a chunk, which the parent cannot see otherwise: when the
     * running item started (the low 32 bits of mproc__os_now_ms, a clock every process shares),
     * so a task timeout applies to each item. */
    volatile uint32_t item_ms;
    volatile uint32_t stamps; /* set by the parent before the worker starts: the pool has a
                                 task timeout, so item_ms is worth a clock read per item */
    /* The worker waits for room (mproc__ring_wait_room): the parent wakes it on tail. */
    volatile uint32_t room_wanted;
    volatile uint32_t drained; /* set by the parent before the worker starts: it drains this
                                  ring while the worker lives, so waiting for room is safe */
    /* The answer frame the worker is filling beyond head (mproc__ring_batch): read by the
     * parent only once the worker is dead, to keep the answers of the items it finished. */
    volatile uint32_t open;
    volatile uint32_t open_at;
    unsigned char pad6[40];
    /* Iterators that are gone (mproc_iter_destroy): the parent writes a tag into cancel[],
     * then bumps cancel_seq; a worker skips the rest of a task with one of these tags. */
    volatile uint32_t cancel_seq;
    volatile uint32_t cancel[MPROC__RING_CANCELS];
    unsigned char pad7[60 - 4 * MPROC__RING_CANCELS];
    /* Tasks are numbered 1, 2, ... in the order they are written to the worker. claim is the
     * last one the worker has started or the parent has taken back (mproc__ring_claim and
     * mproc__ring_take_back): whoever moves it past a task first has it. */
    volatile uint32_t claim;
    /* max_memory_per_child, in KiB (0: none), set by the parent before the worker starts; the
     * worker sets retired when it ends on its own for having passed it, after answering its
     * last item: what it was sent after that never started. */
    volatile uint32_t max_kib;
    volatile uint32_t retired;
    unsigned char pad8[52];
    /* The payload areas (below). areas: set by the parent before the worker starts, when the
     * segment has them. result_busy: the worker answered with bytes in the result area; the
     * parent clears it once it has copied them out. arg_busy[i]: the parent put a task's
     * argument in slot i; the worker clears it once the task has run (or was skipped), the
     * parent when it took the task back unstarted. */
    volatile uint32_t areas;
    volatile uint32_t result_busy;
    volatile uint32_t arg_busy[2];
    unsigned char pad9[48];
    /* A big result the worker streams into its area while a borrower waits (lend.c): for each,
     * the worker stores stream_done 0, stream_len, then bumps stream_gen; then it copies in
     * chunks, storing stream_done after each and bumping seq. The borrower copies behind it. */
    volatile uint32_t stream_gen;
    volatile uint32_t stream_len;
    volatile uint32_t stream_done;
    unsigned char pad10[52];
    unsigned char data[MPROC__RING_BYTES];
} mproc__ring;

/* Large payloads. After the ring, a worker's shared memory holds a result area and two
 * argument slots. An argument of MPROC__PAYLOAD_MIN bytes or more, or a result of
 * MPROC__RESULT_AREA_MIN or more, that fits one crosses there instead of through the pipe: one copy
 * on each side (a task uses its argument in place), where the pipe costs a copy on each side, the
 * kernel's two, and a wake-up of the other side every 64 KiB. Two slots, so a worker has the next
 * argument ready while it runs one. The memory is the worker's segment: when the worker dies, in
 * the middle of a transfer or not, it goes with it. Pages are allocated as they are first touched
 * and kept for the next payload (a payload faulting in fresh pages moves at half the speed), up to
 * MPROC__PAYLOAD_KEEP bytes of each area; beyond that they are given back after each use. On a
 * 32-bit system there are no areas (the address space is too small to spare). */
#define MPROC__PAYLOAD_MIN ((size_t)256 * 1024)
/* A result too large for the ring (an answer there takes at most a quarter of it) goes to the
 * area: through the pipe a 150 KB result took three wake-ups of each side and four copies,
 * with the pool thread's share of a 2-CPU machine taken from the workers. An argument stays
 * in the pipe below MPROC__PAYLOAD_MIN: the slots hold two tasks a worker, and short tasks need
 * a deeper queue than that. */
#define MPROC__RESULT_AREA_MIN ((size_t)MPROC__RING_BYTES / 4)
#define MPROC__PAYLOAD_KEEP ((size_t)64 << 20)
#define MPROC__AREA_RESULT ((size_t)256 << 20)
#define MPROC__AREA_ARG ((size_t)128 << 20)
#define MPROC__AREAS_AT ((sizeof(mproc__ring) + 65535u) / 65536u * 65536u)
#define MPROC__AREAS_ON (sizeof(void *) >= 8)
/* The size of a worker's segment: with the areas where there are any, else the ring alone. */
#define MPROC__RING_SHM_SIZE                                                                       \
    (MPROC__AREAS_ON ? MPROC__AREAS_AT + MPROC__AREA_RESULT + 2 * MPROC__AREA_ARG                  \
                     : sizeof(mproc__ring))

/* A result this big, answering a borrower (lend.c), is streamed into the area in chunks of
 * MPROC__STREAM_CHUNK, and the borrower copies each out while the worker writes the next: the
 * two copies overlap on two CPUs instead of following each other. */
#define MPROC__STREAM_MIN ((size_t)8 << 20)
#define MPROC__STREAM_CHUNK ((size_t)2 << 20)

/* The result area (slot -1) or argument slot 0 or 1 of a segment that has the areas. */
unsigned char *mproc__ring_area(mproc__ring *r, int slot);
/* Parent: the bytes of an answer the worker put in its result area, once checked (len within
 * the area, the area busy, Windows: usable here); NULL otherwise (garbage: the worker's). */
const unsigned char *mproc__ring_result_bytes(mproc__ring *r, size_t len);
/* Parent: points a decoded answer that is in the result area (item->in_area) at its bytes:
 * MPROC_OK (also for any other answer), or MPROC_EPROTO when the worker's claim does not hold
 * (r NULL: no ring). Call mproc__ring_result_done once the bytes are copied. */
int mproc__ring_item_resolve(mproc__ring *r, mproc__result_item *item);
/* Parent, once it has copied those bytes out: the area is the worker's again (pages past
 * MPROC__PAYLOAD_KEEP given back). */
void mproc__ring_result_done(mproc__ring *r, size_t len);
/* Parent: a free argument slot for len bytes, made usable and marked busy, or -1 (use the
 * pipe). */
int mproc__ring_arg_slot(mproc__ring *r, size_t len);
/* Parent: the slot's task was taken back before it started: the slot is free again. */
void mproc__ring_arg_unused(mproc__ring *r, int slot);
/* Worker: the task in slot has run (or was skipped): the slot is the parent's again. */
void mproc__ring_arg_done(mproc__ring *r, int slot, size_t len);
/* Worker: the result area, made usable for len bytes, when a result of that size should go
 * there (the segment has areas, len is large and fits, the parent has copied the last one
 * out); else NULL. */
unsigned char *mproc__ring_result_area(mproc__ring *r, size_t len);
/* Worker: copies len bytes of a result into the area ring_result_area gave; streamed (above)
 * when a borrower waits and len is MPROC__STREAM_MIN or more, else in one go. */
void mproc__ring_result_fill(mproc__ring *r, unsigned char *area, const void *data, size_t len);

/* Worker: copies one frame in. 1 when it went in (*bell: ring the doorbell now), 0 when there
 * is no room (send it through the pipe). quiet: an answer the parent does not need at once (an
 * item inside a chunk); it rings only when the ring is half full. */
int mproc__ring_put(mproc__ring *r, const void *frame, size_t n, int quiet, int *bell);

/* Worker, after ring_put found no room for a frame of n bytes: waits until the parent has
 * made room, when the OS can wait on shared memory and the frame could fit at all. *bell:
 * ring the doorbell, then call again. 1 when it is worth trying ring_put again, 0 when the
 * frame must go through the pipe. */
int mproc__ring_wait_room(mproc__ring *r, size_t n, int *bell);

/* Worker: the answers of consecutive items of one task, gathered in one RESULT frame written
 * in the ring beyond head, so the parent decodes one frame per chunk rather than one per item.
 * Each item is in the ring (not yet published) as soon as it is added: when the worker dies,
 * the parent still reads it (mproc__ring_drain_open), so a crash loses no finished item. */
typedef struct mproc__ring_batch {
    int open;
    uint32_t at;    /* the frame's position (a head value) */
    uint32_t body;  /* its body length so far */
    uint32_t count; /* items in it */
    uint64_t id;
    uint32_t first;
} mproc__ring_batch;

/* Adds item `index` of task id (code, status, len bytes of data) to the open frame, or opens
 * one. 1 when it went in; 0 when it does not fit (flush, then try again; still 0 with no frame
 * open: wait for room or use the pipe). */
int mproc__ring_batch_add(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index,
                          int code, int status, const void *data, size_t len);
/* As mproc__ring_batch_add, for a success whose len bytes the worker put in its result area. */
int mproc__ring_batch_add_area(mproc__ring *r, mproc__ring_batch *b, uint64_t id, uint32_t index,
                               size_t len);
/* Publishes the open frame, if any. *bell: ring the doorbell now. */
void mproc__ring_batch_flush(mproc__ring *r, mproc__ring_batch *b, int *bell);
/* The bytes written beyond the parent's tail, open frame included, exceed half the ring. */
int mproc__ring_batch_pressure(const mproc__ring *r, const mproc__ring_batch *b);

/* Parent, after the worker died and mproc__ring_drain took what it published: appends the
 * frame it was filling, if any, to out. 1 when one was there, 0 when none, MPROC_EPROTO for
 * garbage (then nothing is appended). */
int mproc__ring_drain_open(mproc__ring *r, uint32_t tail, mproc__buf *out);

/* Worker: whether the tasks tagged `tag` are canceled (0 is never). */
int mproc__ring_canceled(mproc__ring *r, uint32_t tag);
/* Parent: cancels the tasks tagged `tag` on this worker; *pos is the parent's slot cursor. */
void mproc__ring_cancel(mproc__ring *r, uint32_t tag, uint32_t *pos);

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
