/* The queue's shared-memory layout and the OS calls it needs (locks that survive their holder's
 * death, and sleeping until another process signals): queue.c over posix/queue_os.c and
 * win32/queue_os.c. */
#ifndef MPROC_IPC_QUEUE_H
#define MPROC_IPC_QUEUE_H

#include "../backend.h"
#include "share.h"

#include <stddef.h>
#include <stdint.h>

/* The locks, each guarding part of the shared state. A holder that dies leaves it to the next
 * taker, who is told (MPROC_EOWNERDEAD) and repairs what it guards. */
enum {
    MPROC__QLOCK_MAIN = 0, /* the header and the ring */
    MPROC__QLOCK_WRITER,   /* held by the one producer streaming a big message */
    MPROC__QLOCK_READER,   /* held by the one consumer receiving it */
    MPROC__QLOCK_COUNT
};

/* What a waiter waits for. Each has a sequence word and a waiter count in the header. */
enum {
    MPROC__QWAIT_NOTEMPTY = 0, /* a message arrived, or close */
    MPROC__QWAIT_NOTFULL,      /* room in the ring or under maxsize, or close */
    MPROC__QWAIT_JOIN,         /* the count of unfinished tasks reached 0 */
    MPROC__QWAIT_BIGDATA,      /* bytes of the big message streamed in, or its state changed */
    MPROC__QWAIT_BIGSPACE,     /* bytes of the big message taken out, or its state changed */
    MPROC__QWAIT_COUNT
};

/* Room each OS lock may take in the header (a pthread_mutex_t on POSIX; unused on Windows,
 * where the locks are kernel mutexes). */
#define MPROC__QLOCK_BYTES 64u

#define MPROC__QUEUE_MAGIC 0x5155514Du /* "MQUQ" */
#define MPROC__QUEUE_VERSION 1u

/* The big message's states (mproc__qhdr.big_state). */
enum {
    MPROC__QBIG_IDLE = 0,
    MPROC__QBIG_OFFERED, /* its marker is in the ring, no consumer has it yet */
    MPROC__QBIG_CLAIMED, /* a consumer took the marker and reads the stream */
    MPROC__QBIG_DONE,    /* the consumer has every byte */
    MPROC__QBIG_ABORTED  /* given up by either side: the consumer drops it */
};

/* The start of the shared region. Every field after the constants is read and written under
 * MPROC__QLOCK_MAIN, except the wait words (atomic) and big_w / big_r (atomic, one writer each).
 * The ring's offsets grow without wrapping (64-bit); a record starts at offset % ring_cap. */
typedef struct mproc__qhdr {
    uint32_t magic;
    uint32_t version;
    uint64_t ring_cap; /* bytes of ring, a multiple of 16 */
    uint64_t big_cap;  /* bytes of the big message's stream buffer */
    uint64_t maxsize;  /* messages; 0: no bound */
    /* state, under the main lock */
    uint64_t head;       /* offset of the oldest record */
    uint64_t tail;       /* offset after the newest record */
    uint64_t count;      /* messages in the queue (a live big message's marker counts) */
    uint64_t unfinished; /* puts not yet matched by task_done */
    uint32_t closed;
    /* A redo record: the new values of a multi-field change are written here first and
     * j_valid set, then applied, then j_valid cleared. Whoever finds j_valid set after its
     * writer died applies it again (the values are absolute, so twice is once). */
    uint32_t j_valid;
    uint32_t big_state_j;
    uint64_t j_head, j_tail, j_count, j_unfinished;
    /* the big message in flight (at most one: MPROC__QLOCK_WRITER serializes them) */
    uint32_t big_state;
    uint32_t big_gen; /* bumped for every offer; a marker of an older one is stale */
    uint64_t big_len;
    volatile uint64_t big_w; /* bytes streamed in (the producer's) */
    volatile uint64_t big_r; /* bytes taken out (the consumer's) */
    /* waiting: sequence words bumped on every signal, and how many sleep on each */
    volatile uint32_t seq[MPROC__QWAIT_COUNT];
    volatile uint32_t waiters[MPROC__QWAIT_COUNT];
    /* the POSIX locks live here, aligned */
    uint64_t lock_area[MPROC__QLOCK_COUNT][MPROC__QLOCK_BYTES / 8];
} mproc__qhdr;

/* A record in the ring: a 16-byte header, then len bytes, padded to 16. */
typedef struct mproc__qrec {
    uint32_t type;  /* MPROC__QREC_* */
    uint32_t check; /* type ^ low 32 bits of len ^ MPROC__QREC_SALT: a torn or stray header fails */
    uint64_t len;   /* MSG: payload bytes; PAD: bytes to skip (header included); BIG: message
                       bytes, with the offer's generation in the 8 bytes after the header */
} mproc__qrec;
enum {
    MPROC__QREC_MSG = 0x4D534731u,
    MPROC__QREC_PAD = 0x50414431u,
    MPROC__QREC_BIG = 0x42494731u
};
#define MPROC__QREC_SALT 0xA5C3F00Du

/* This process's view of the OS objects behind the locks and waits (Windows: handles). */
typedef struct mproc__qos {
    mproc__handle lock[MPROC__QLOCK_COUNT];
    mproc__handle wake[MPROC__QWAIT_COUNT];
} mproc__qos;

/* Creates the OS objects for a fresh header (POSIX: initializes the robust process-shared
 * mutexes in hdr->lock_area; Windows: unnamed mutexes and semaphores). */
int mproc__qos_create(mproc__qos *o, mproc__qhdr *hdr);
/* In a child: takes over the n handles a parent's mproc__qos_handles gave (the backend's own
 * count: MPROC_EPROTO for another). */
int mproc__qos_adopt(mproc__qos *o, const mproc__handle *h, size_t n);
/* The handles a child needs, into out (room for MPROC__QLOCK_COUNT + MPROC__QWAIT_COUNT):
 * their count (0 on POSIX, where everything is in the shared region). */
size_t mproc__qos_handles(const mproc__qos *o, mproc__handle *out);
/* Releases this process's hold (the header's locks stay usable by the others). */
void mproc__qos_close(mproc__qos *o);
/* Takes lock i, waiting up to timeout_ms (0: try; MPROC_FOREVER). MPROC_OK; MPROC_EOWNERDEAD:
 * taken, but its holder died holding it (repair, then mproc__qos_consistent); MPROC_ETIMEDOUT;
 * MPROC_ESYS. */
int mproc__qos_lock(mproc__qos *o, mproc__qhdr *hdr, int i, long timeout_ms);
void mproc__qos_consistent(mproc__qos *o, mproc__qhdr *hdr, int i);
void mproc__qos_unlock(mproc__qos *o, mproc__qhdr *hdr, int i);
/* Sleeps until hdr->seq[w] differs from seen, a wake, or timeout_ms (which may be cut short:
 * callers look again). The caller counted itself in hdr->waiters[w] before reading seen. */
void mproc__qos_wait(mproc__qos *o, mproc__qhdr *hdr, int w, uint32_t seen, long timeout_ms);
/* Stores v at p, after every store before it and before every store after it as far as the
 * main lock's next taker can tell, even when this process is killed between two of them: the
 * redo record's flag (POSIX: compiler fences around a plain store, since a killed process's
 * stores all land and the lock orders live ones; Windows: an interlocked store). */
void mproc__qos_mark(volatile uint32_t *p, uint32_t v);
/* Gives the CPU to another runnable thread, if any (sched_yield, SwitchToThread). */
void mproc__qos_yield(void);
/* Bumps hdr->seq[w] and wakes its sleepers. */
void mproc__qos_wake(mproc__qos *o, mproc__qhdr *hdr, int w);
/* Bumps hdr->seq[w] and wakes one sleeper, if the header counts any: for a wait that one new
 * message ends (the others would only find it taken and sleep again). A woken sleeper killed
 * before it looks takes the wake with it, so such waits are cut into slices. */
void mproc__qos_wake_one(mproc__qos *o, mproc__qhdr *hdr, int w);

/* Checks a header another process wrote (queue.c): MPROC_OK, or MPROC_EPROTO when its
 * constants or offsets cannot be right for a region of size bytes. The fuzzer calls it. */
int mproc__queue_check_header(const mproc__qhdr *h, size_t size);
/* Checks the record at offset off of h's ring (ring: ring_cap bytes): MPROC_OK with *type,
 * *len and the record's whole size in *step, or MPROC_EPROTO. */
int mproc__queue_check_record(const mproc__qhdr *h, const unsigned char *ring, uint64_t off,
                              uint32_t *type, uint64_t *len, uint64_t *step);

#endif /* MPROC_IPC_QUEUE_H */
