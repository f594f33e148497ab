/* The pool's structures, and the calls of its two lowest layers: the core (core.c) and the
 * handles and chunks (handle.c, chunk.c, iter.c). The engine's calls are in engine.h. The
 * files of src/pool/ and their layers: README.md. Everything below marked "lock" is guarded by
 * pool->lock. */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "backend.h"
#include "ipc/share.h"
#include "sync/waitable.h"
#include "tasklist.h"
#include "wire.h"
#include "worker.h"

/* What an imap keeps submitted but not yet consumed: at most this many items (its chunks are
 * cut to fit, four per worker at least), and no new chunk while the results waiting to be
 * read pass this many bytes (documented with mproc_pool_imap). */
#define MPROC__STREAM_ITEMS 4096
#define MPROC__STREAM_BYTES ((size_t)64 << 20)

/* One item's outcome, pointing into a block of result bytes. */
typedef struct mproc__item {
    const unsigned char *data;
    size_t len;
    int code;
    mproc_error *err; /* NULL on success */
} mproc__item;

/* An error with its message in the same allocation, owned by a chunk. */
typedef struct mproc__errnode {
    struct mproc__errnode *next;
    mproc_error e;
} mproc__errnode;

/* A chunk's results, as the pool thread gathers them item by item and hands them to an
 * iterator once every item has its outcome. */
typedef struct mproc__chunk {
    struct mproc__chunk *next;
    mproc__errnode *errs; /* the errors its items point to */
    size_t index;         /* which chunk */
    size_t n;
    mproc__item *items; /* n entries, allocated with the chunk */
    size_t *at;         /* n entries: 0 while item i has no outcome, else 1 + its offset in bytes */
    mproc__buf bytes;   /* the result bytes; the items point into them once the chunk is whole */
} mproc__chunk;

/* Where map keeps its results: bytes packed in large blocks, errors in a list, so a million
 * small results cost a million copies, not a million allocations. */
typedef struct mproc__block {
    struct mproc__block *next;
    size_t used, cap;
} mproc__block;

typedef struct mproc__store {
    mproc__block *blocks;
    mproc__errnode *errs;
} mproc__store;

/* A unit of work: one apply, or one chunk of a map. A chunk may take several flights: when its
 * worker dies (or is used up) part way, the items after the one it was running go out again,
 * to another worker, and the outcomes gathered so far stay. */
typedef struct mproc__task {
    struct mproc__task *next;
    uint64_t id;
    mproc_task fn;
    const unsigned char *items; /* count items of item_size bytes */
    size_t item_size, count;
    unsigned char *owned; /* apply: the argument's copy, in the task's own allocation */
    mproc_async *async;   /* apply / apply_async */
    mproc_iter *iter;     /* map / imap */
    size_t chunk;
    uint32_t tag;         /* its iterator's (0: an apply), for the worker to skip it */
    size_t from;          /* the first item of the current (or next) flight */
    size_t end;           /* the end of the current flight */
    size_t got;           /* items with an outcome; those before `from` all have one */
    mproc__chunk *result; /* a chunk's results, until delivered under the lock */
    int suspect;          /* the oldest unanswered task once when a worker sent garbage */
    uint32_t seq;         /* its number among the tasks written to its worker (ring.h claim) */
    int slot;             /* its flight's argument is in slot slot-1 of its worker (ring.h); 0:
                             in the frame */
} mproc__task;

/* A result up to this size is kept inside its handle (no allocation of its own). */
#define MPROC__ASYNC_INLINE 32

struct mproc_async {
    mproc_pool *pool;
    /* lock: the pool's while pending, the caller's until release. The handle's task sits in
     * the same allocation (new_task in async.c), so the memory goes with the last of them. */
    int refs;
    int done; /* lock */
    int code;
    void *data; /* the result: small[] when it fits, else its own allocation */
    size_t len;
    size_t data_cap; /* data's size when it goes back to the pool's spares (spare.c), else 0 */
    size_t block;    /* the same for the handle's own block (task and argument copy in it) */
    mproc_error err;
    char *message; /* owned text behind err.message */
    mproc_callback cb;
    mproc_error_callback ecb;
    void *user;
    /* MPROC__CLAIM_*: mproc_async_cancel and the pool thread's dispatch race for it (a CAS);
     * whoever moves it off QUEUED decides whether the task runs. */
    volatile uint32_t claim;
    mproc_waitable w; /* what mproc_async_waitable() hands out (sync/waitable.h) */
    union {           /* aligned as malloc's memory is, for a callback that casts the bytes */
        long double ld;
        long long ll;
        void *ptr;
        unsigned char b[MPROC__ASYNC_INLINE];
    } small;
};

enum { MPROC__CLAIM_QUEUED = 0, MPROC__CLAIM_SENT = 1, MPROC__CLAIM_CANCELED = 2 };
#define MPROC__CANCELED_MSG "the task was canceled before it started"

struct mproc_iter {
    mproc_pool *pool;
    struct mproc_iter *next_source; /* lock: in the pool's list while chunks remain to send */
    int refs;                       /* lock: the caller's + one per task in the pool */
    mproc_task fn;
    const unsigned char *items;
    size_t item_size, count, chunksize, nchunks;
    size_t submitted; /* lock: chunks made into tasks */
    size_t delivered; /* lock: chunks whose results arrived */
    size_t yielded;   /* lock: chunks the caller has moved past (stream) */
    size_t window;    /* stream: chunks that may be submitted but not yet yielded */
    size_t held;      /* lock, stream: result bytes delivered and not yet moved past */
    size_t seen;      /* lock, stream: result bytes of every chunk delivered */
    int gated;        /* lock, stream: a chunk waits for the caller to read (wake the thread) */
    uint32_t tag;     /* tells the workers which tasks are its (see mproc__task) */
    int ordered;
    int collect;   /* map: results go to all[], no window */
    int abandoned; /* lock: the caller destroyed it */
    int canceled;  /* lock: the pool was terminated */
    /* lazy (lazy.c): items come from producer(user, index, ...), called on the consumer's
     * thread; nchunks is SIZE_MAX until the stream ends */
    int lazy;
    mproc_producer producer;
    void *user;
    int producing; /* lock: a thread runs the producer now */
    int ended;     /* lock: no more items (the producer ended or failed, or the pool stopped) */
    int end_code;  /* lock: told once after the last result: a failure, ESTATE, ECANCELED */
    int end_told;
    /* collect */
    mproc__item *all;
    mproc__store store; /* the bytes and errors all[] points into */
    /* stream */
    mproc__chunk **ring; /* ordered: chunk i at ring[i % window] */
    mproc__chunk *fifo_head, *fifo_tail;
    mproc__chunk *cur;
    size_t cur_pos;
    const mproc_error *last_err;
};

struct mproc_results {
    size_t count;
    mproc__item *items;
    mproc__store store;
};

typedef struct mproc__defined {
    mproc_task fn;
    mproc__buf body; /* the DEFINE frame for fn, ready to send */
    int status;      /* MPROC_ENOFUNC when fn cannot be located */
} mproc__defined;

typedef struct mproc__worker {
    int alive;       /* has a process and a channel */
    int shutdown;    /* its input has been closed */
    int kill_reason; /* the code its running task fails with when we killed it */
    mproc__proc proc;
    mproc__chan chan;
    mproc__shm shm;           /* its result ring (ring.h) */
    uint32_t ring_tail;       /* how far the ring has been read */
    mproc__buf ring_in;       /* frames copied out of the ring, not yet decoded */
    mproc__task *head, *tail; /* sent, unanswered, oldest first: head is the one running */
    int inflight;
    uint64_t head_since; /* when head started running, as far as the parent can tell */
    uint32_t cancel_pos; /* the next slot of the ring's cancel list (ring.h) */
    long sent;           /* tasks sent over its life (max_tasks_per_child) */
    mproc_task *defined; /* functions already defined to it */
    size_t ndefined, capdefined;
    mproc__fn_gen fn_gen;  /* fork: the loader's state just before it was forked */
    int answered;          /* sent at least one result: a worker that dies before is suspect */
    mproc__worker_cfg cfg; /* fork: what the child runs */
    uint32_t seq;          /* tasks written to it so far (the pool thread's and a borrower's) */
    int booted;            /* the pool thread has seen it ready (its initializer returned 0) */
    unsigned boot_round;   /* the pool's boot_round when it was started */

    /* Lending (lend.c). The pool thread parks an idle worker when nothing waits for it and
     * leaves it alone from then on; a caller of apply may borrow a parked worker, and owns its
     * fields above while it holds it. */
    int parked;               /* set and cleared by the pool thread, in its locked phase */
    int lent;                 /* lock: a caller holds it */
    int attention;            /* the pool thread's: input or end of file came while parked */
    volatile uint32_t recall; /* the pool thread wants it back now (the borrower polls it) */
    mproc__buf direct_out;    /* the borrower's frame */
} mproc__worker;

enum { POOL_OPEN, POOL_CLOSED, POOL_TERMINATING, POOL_DONE };

struct mproc_pool {
    mproc__mutex *lock;
    mproc__cond *cv; /* waiters of any kind: apply, async, iter, join */
    mproc__loop *loop;
    mproc__thread *thread;
    int refs; /* lock: the caller's + one per live async handle or iterator */

    int nworkers;
    mproc__worker *workers;
    int method;
    mproc_initializer init;
    unsigned char *initarg;
    size_t initarg_len;
    long max_tasks;
    long task_timeout_ms;
    /* The objects every worker is handed (mproc_pool_options::share), with the pool's own
     * handles, for its whole life: replacements get them too. */
    mproc__share_list shares;

    long creator_pid; /* the process that created it: a fork's copy is refused (EFOREIGN) */

    /* Shared with callers, under lock. */
    int state;
    int start_result;    /* the thread's first turn: 1 once every worker started, or an error */
    long start_os_error; /* with MPROC_ESYS there: the OS error, for the creator's thread */
    int thread_done;
    int joining;  /* a caller is joining the thread */
    int joined;   /* the thread has been joined */
    int sleeping; /* the pool thread is due to wait in the loop: a submitter must wake it */
    int purge;    /* an iterator was abandoned: drop its queued chunks */
    struct mproc__spare *spares; /* freed big blocks kept for the next copies (spare.c) */
    size_t spare_bytes;
    /* Chunks point into their caller's array, which dispatch reads without the lock: the pool
     * thread sets dispatching (under the lock) for the span of a dispatch, and an iterator's
     * destroyer waits for it to clear before it lets the array go (map.c, iter_release). */
    volatile uint32_t dispatching;
    volatile uint32_t dispatch_waiters;
    uint64_t next_id;
    uint32_t next_tag;          /* lock: the last iterator's tag */
    mproc__task *qhead, *qtail; /* submitted, not yet taken by the pool thread */
    size_t qlen;                /* how many: the pool thread takes them without a walk */
    mproc_iter *sources;        /* iterators with chunks still to send */

    /* The pool thread's own (creation and termination aside, which run alone). */
    mproc__task *pq_head, *pq_tail; /* taken from callers or put back after a death */
    size_t pq_len;
    mproc__task *done_head, *done_tail; /* finished asyncs: callbacks, then ready */
    mproc__task *dlv_head, *dlv_tail;   /* finished chunks: delivered in the locked phase */
    mproc__defined *defs;               /* DEFINE frames by function */
    size_t ndefs, capdefs;
    int broken;          /* workers keep failing to start: tasks fail at once */
    int early_deaths;    /* consecutive rounds of workers that died while booting */
    unsigned boot_round; /* bumped by each counted boot failure (boot.c) */
    int broken_exit;     /* the exit code of the last boot failure */
    char broken_msg[160];
    uint64_t respawn_at; /* when to try again after a failed start (0: now) */
    int alloc_retry;     /* a chunk could not be allocated: the loop must not sleep for good */
    int dispatch_more;   /* dispatch stopped after a payload to send its frame: no sleep */
    int purge_queue;     /* dispatch met a chunk of a destroyed iterator: drop those queued */

    /* Statistics and backpressure (stats.c), items counted: an apply is one, a map's chunk as
     * many as it has. Lock, except where said. */
    long max_pending;    /* > 0: submitters wait while this many items are unfinished */
    size_t max_memory;   /* max_memory_per_child (0: none) */
    size_t st_submitted; /* items made into tasks */
    size_t st_done, st_failed, st_lost, st_canceled; /* outcomes published, by kind */
    size_t st_running; /* in flight on workers, as the pool thread saw at its locked phase */
    size_t st_direct;  /* applies running on a borrowed worker (lend.c) */
    size_t st_started; /* workers started, as of the thread's last locked phase */
    size_t started;    /* the pool thread's own count of workers started */
    int cancels;       /* a queued task was canceled: the next locked phase fails it */

    /* Lending (lend.c). */
    int can_lend;     /* callers of apply may borrow parked workers */
    int want_back;    /* lock: the pool thread waits for a lent worker to come back */
    long direct_done; /* lock: applies a caller completed itself (tests read it) */
    long direct_back; /* lock: ...and those it handed back to the pool thread */
};

/* ---- core.c ---- */
int mproc__pool_check_open(mproc_pool *p); /* lock held: MPROC_ESTATE unless open */
/* 1 when called in a process other than p's creator (a copy inherited through fork): such a
 * caller must not lock, wait or touch the workers, which are the creator's. */
int mproc__pool_foreign(const mproc_pool *p);
/* 1 when called on p's own thread (from a callback), where waiting for p would deadlock. */
int mproc__pool_own_thread(const mproc_pool *p);
/* Lock held: marks the pool thread as due a wake; returns 1 when the caller must call
 * mproc__os_loop_wake(p->loop) after unlocking (the thread sleeps in the loop). */
int mproc__pool_need_wake(mproc_pool *p);
/* Lock held: drops one reference; 1 when it was the last (free with mproc__pool_free after
 * unlocking). */
int mproc__pool_drop(mproc_pool *p);
/* Frees p and what it holds. own: p belongs to this process; 0: it is a fork's copy, whose
 * lock and condition variable are left alone (mproc__pool_free passes 1). */
void mproc__pool_free_parts(mproc_pool *p, int own);
void mproc__pool_free(mproc_pool *p);
/* Waits on p->cv until *flag is nonzero or the deadline passes (lock held). */
int mproc__pool_wait(mproc_pool *p, const int *flag, long timeout_ms);

/* ---- stats.c: statistics and backpressure ---- */
/* Lock held. 1 when a new task may be made now (no max_pending, or fewer items unfinished). */
int mproc__stats_room(const mproc_pool *p);
/* Lock held. Counts n items that finished with code (MPROC_OK: done; MPROC_EWORKER_LOST: lost;
 * MPROC_ECANCELED: canceled; any other: failed). */
void mproc__stats_outcome(mproc_pool *p, int code, size_t n);
/* Lock held. Counts the outcomes of a finished task, before it is handed to its caller: an
 * apply's code, a chunk's items (a chunk without results counts as canceled). */
void mproc__stats_task(mproc_pool *p, const mproc__task *t);
/* Lock held, the pool thread. Takes note of what it runs now and how many workers it started. */
void mproc__stats_thread(mproc_pool *p);
/* Lock held. Waits until a task may be made (mproc__stats_room), the pool stops being open
 * (MPROC_ESTATE) or timeout_ms passes (MPROC_ETIMEDOUT; 0 polls); from the pool's own thread a
 * full pool gives MPROC_EDEADLK at once. The waiter holds a pool reference meanwhile: *last is
 * set when it was the last one (free the pool after unlocking). */
int mproc__stats_wait_room(mproc_pool *p, long timeout_ms, int *last);

/* ---- handle.c: the async handle ---- */
/* The pool thread delivers a single task's outcome (lock held); for a failure, data is the
 * message. */
void mproc__async_complete(mproc_async *a, int code, int status, int exitcode, const void *data,
                           size_t len);
/* The same for a result of len bytes already in buf (cap: what mproc__spare_alloc gave), which
 * the handle takes over: a borrower's copy of a streamed result (lend.c). */
void mproc__async_adopt(mproc_async *a, void *buf, size_t cap, size_t len);
/* Python's order: the callback runs first (lock not held), then the result becomes ready to
 * waiters (mproc__async_done, lock held; the caller broadcasts). */
void mproc__async_callback(mproc_async *a);
void mproc__async_done(mproc_async *a);
void mproc__async_unref(mproc_async *a); /* lock held; frees it with the last reference */

/* Big blocks kept once freed (spare.c). Lock not held: a block of n bytes, a kept one when
 * there is one of the size, else the allocator's; *cap: what to give mproc__spare_put for it
 * (0: free it as usual). NULL without memory. */
void *mproc__spare_alloc(mproc_pool *p, size_t n, size_t *cap);
/* Lock held: keeps the block of cap bytes, or frees it when the pool keeps enough. */
void mproc__spare_put(mproc_pool *p, void *b, size_t cap);
/* The pool is being freed. */
void mproc__spare_free_all(mproc_pool *p);

/* ---- chunk.c: chunks and the store ---- */
/* Builds a chunk of n items that all fail with the same error (lost worker, cancel). */
mproc__chunk *mproc__chunk_failed(size_t index, size_t n, int code, int exitcode,
                                  const char *message);
void mproc__chunk_free(mproc__chunk *c);
/* A new error owned by c (freed with it); NULL when memory runs out. */
mproc_error *mproc__chunk_error(mproc__chunk *c, int code, int status, int exitcode,
                                const char *msg, size_t len);
/* A chunk of n items with no results yet (items zeroed). */
mproc__chunk *mproc__chunk_new(size_t index, size_t n);
/* Points the items into the bytes once every item has its outcome. */
void mproc__chunk_seal(mproc__chunk *c);
/* Moves a chunk's results into the store, the items to to[0..n-1]; MPROC_OK, or MPROC_ENOMEM
 * (the chunk is kept intact). */
int mproc__store_chunk(mproc__store *s, mproc__chunk *c, mproc__item *to);
void mproc__store_free(mproc__store *s);

/* ---- iter.c: the iterator as the pool thread sees it ---- */
/* The next chunk task of an iterator, or NULL (lock held). */
mproc__task *mproc__iter_next_task(mproc_iter *it);
/* A chunk's results arrived (lock held); takes ownership of c. */
void mproc__iter_deliver(mproc_iter *it, mproc__chunk *c);
void mproc__iter_unref(mproc_iter *it); /* lock held */
void mproc__iter_free(mproc_iter *it);  /* what it holds, whatever its references */
/* A new iterator of fn's results on p, its caller's reference the only one; NULL: no memory. */
mproc_iter *mproc__iter_new(mproc_pool *p, mproc_task fn);
/* Takes p->lock and registers it with its open pool (a hold on the pool, a tag). MPROC_OK with the
 * lock still held, for the caller to set it going; else the pool's code, unlocked, it freed. */
int mproc__iter_register(mproc_iter *it);

/* ---- lazy.c ---- */
/* Lock held (released while the producer runs). Submits items of a lazy iterator until it is
 * buffersize tasks ahead of its consumer, the pool is full (max_pending) or the stream ends. */
void mproc__lazy_refill(mproc_iter *it);
/* Lock held. Ends a lazy stream: what was submitted is still handed out, then code once (when
 * negative), then MPROC_EEND. */
void mproc__lazy_end(mproc_iter *it, int code);

#endif /* MPROC_POOL_H */
