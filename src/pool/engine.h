/* The engine's calls: the pool thread (thread.c) and what it is made of (dispatch.c, results.c,
 * death.c, boot.c, task.c, start.c), and the lending of idle workers (lend.c). The public calls
 * (pool.c, async.c, map.c) use the few at the top; the layers: README.md. */
#ifndef MPROC_ENGINE_H
#define MPROC_ENGINE_H

#include "pool.h"

/* ---- used by the public calls ---- */
/* thread.c: the pool thread's body (mproc__os_thread_start's function; arg is the pool). */
void mproc__pool_thread(void *arg);
/* lend.c: apply on the calling thread. t is a new apply task of its async handle, not queued. */
enum { MPROC__LEND_NOT_TAKEN, MPROC__LEND_DONE, MPROC__LEND_HANDED_BACK };
/* NOT_TAKEN: queue t as usual. DONE: the handle holds the outcome and is done; t was freed.
 * HANDED_BACK: t is the pool's, in flight on a worker; wait for the handle as usual. The two
 * last took a pool reference for the caller's hold on the handle, as a submission does. */
int mproc__lend_apply(mproc_pool *p, mproc__task *t);

/* ---- lend.c: the pool thread's side of lending ---- */
/* Lock held. Idle workers are parked while nothing waits for them; a parked one comes back when
 * work, news from it (input, end of file) or a task its borrower handed back is there. 1 when
 * one came back with news, which this turn must read without waiting. */
int mproc__lend_park(mproc_pool *p);
/* Lock held (terminate): every lent worker comes back and none stays parked. */
void mproc__lend_reclaim(mproc_pool *p);
/* Unlocked phase: 1 when w is parked (its news only noted), else 0 and w is the thread's. */
int mproc__lend_note(mproc__worker *w);

/* ---- dispatch.c ---- */
/* Lock held. Moves what callers queued to the private queue, and enough chunks of the
 * iterators to keep every worker's pipeline full; drops the chunks of abandoned iterators. */
void mproc__dispatch_take(mproc_pool *p);
/* Lock held. Idle workers take back unstarted tasks queued behind busy ones. */
void mproc__dispatch_rebalance(mproc_pool *p);
/* Unlocked phase: writes queued tasks to the least loaded workers; returns how many it wrote. */
size_t mproc__dispatch(mproc_pool *p);

/* ---- death.c ---- */
/* w's process ended (or its channel did): reaps it, fails or re-queues its tasks, frees it. */
void mproc__worker_died(mproc_pool *p, mproc__worker *w);

/* ---- results.c ---- */
/* Decodes the whole frames in `in` (the pipe's bytes or the ring's copies) for w's tasks. */
void mproc__results_decode(mproc_pool *p, mproc__worker *w, mproc__buf *in);
/* Everything w has answered so far: the ring first, then the pipe. */
void mproc__results_read(mproc_pool *p, mproc__worker *w);
/* Decodes a single task's one result item into its async handle (mproc__result_decode's
 * callback; ctx is a mproc__single_ctx: the task, its worker, and MPROC_EPROTO when the answer
 * claims bytes in the worker's result area that are not there). */
typedef struct mproc__single_ctx {
    mproc__task *t;
    mproc__worker *w;
    int err;
    struct mproc__stream_copy *copy; /* a borrower's copy of a streamed result, or NULL */
} mproc__single_ctx;
/* A borrower's copy of the result its worker streams (lend.c): 1 when buf holds the whole of
 * the answer of len bytes now in the area, which the handle may then take over. */
int mproc__stream_copy_whole(struct mproc__stream_copy *c, mproc__worker *w, size_t len);
/* Gives the copy's buffer to the handle (after mproc__stream_copy_whole said yes). */
void mproc__stream_copy_give(struct mproc__stream_copy *c, mproc_async *a);
void mproc__task_single_item(void *ctx, size_t i, const mproc__result_item *item);
/* A decoded answer of w's: its bytes found when they are in w's result area (ring.h).
 * MPROC_EPROTO when the claim is garbage. Then, once they are copied: mproc__ring_result_done. */
int mproc__answer_resolve(mproc__worker *w, mproc__result_item *item);

/* ---- boot.c ---- */
/* Workers that have become ready since last looked end a run of boot failures. */
void mproc__boot_note(mproc_pool *p);
/* w died while booting: one more failure in a row, then a back-off or the pool gives up. */
void mproc__boot_failed(mproc_pool *p, const mproc__worker *w, int exitcode);
/* Starts the workers that are not alive (needed: the pool is open, or work remains). */
void mproc__boot_start_missing(mproc_pool *p, uint64_t now, int needed);

/* ---- task.c ---- */
/* Appends the TASK frames of t's items first .. first+n-1 to b (DEFINE frames are the caller's
 * business). */
int mproc__task_encode(mproc__buf *b, const mproc__task *t, size_t first, size_t n);
/* Puts a one-item flight's argument in a free slot of w's shared memory when it is large
 * (ring.h): t->slot set, for mproc__task_encode; nothing (t->slot 0) otherwise. */
void mproc__task_place(mproc__worker *w, mproc__task *t, size_t first, size_t n);
void mproc__task_done(mproc_pool *p, mproc__task *t);    /* a finished apply: callbacks next */
void mproc__task_deliver(mproc_pool *p, mproc__task *t); /* a finished chunk: delivered next */
/* Fails every item of t that has no outcome yet with one error; those that have keep it. */
void mproc__task_fail(mproc_pool *p, mproc__task *t, int code, int exitcode, const char *msg);
/* The same for a list of tasks (terminate: MPROC_ECANCELED marks their iterators canceled). */
void mproc__task_fail_list(mproc_pool *p, mproc__task *t, int code, const char *msg);
/* Puts a list of n unstarted tasks back at the front of the private queue, in order. */
void mproc__task_requeue(mproc_pool *p, mproc__task *first, mproc__task *last, size_t n);
/* Makes a task that goes out again start at its first item without an outcome. */
void mproc__task_rewind(mproc__task *t);
/* w's in-flight list: takes the head (the running task), or unlinks t (after prev). */
mproc__task *mproc__inflight_pop(mproc__worker *w);
void mproc__inflight_unlink(mproc__worker *w, mproc__task *t, mproc__task *prev);

/* ---- start.c ---- */
int mproc__worker_start(mproc_pool *p, mproc__worker *w);
/* Lets go of what a dead (and reaped) worker held. */
void mproc__worker_release(mproc_pool *p, mproc__worker *w);
/* Kills w's process; its running task fails with reason (the first one given). */
void mproc__worker_kill(mproc__worker *w, int reason);
/* w has been sent its max_tasks_per_child tasks: it is on its way out, nothing more goes to it. */
int mproc__worker_used_up(const mproc_pool *p, const mproc__worker *w);

#endif /* MPROC_ENGINE_H */
