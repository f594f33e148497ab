/**
 * @file sync.h
 * @brief mproc's synchronisation between processes (Python's Lock, RLock, Semaphore, Event,
 * Barrier, Condition) and the wait on many objects at once (`multiprocessing.connection.wait`).
 *
 * Included by mproc.h: include that one. Every object lives in shared memory of its own and works
 * in the process that made it, in its forked children (which inherit it) and in any child it is
 * handed to (see the share list of the process and pool options). Waiting sleeps in the kernel
 * (a futex on Linux, a kernel object on Windows); on Linux a contended lock first tries again
 * for about a microsecond (never where one CPU is usable), since a lock passed between
 * processes is mostly held for a few instructions. Every wait takes a timeout in milliseconds
 * (MPROC_FOREVER: no limit, 0: poll). Each object is freed with its `_destroy` (NULL is fine) in
 * every process that holds it; the shared memory goes when the last process lets go of it.
 *
 * Owners: a lock is held by a thread. When the process (or thread) holding a Lock or RLock dies
 * without releasing it, the next acquirer gets it with MPROC_EOWNERDEAD instead of waiting
 * forever (Python's Lock stays locked: gh-88304), and the lock then works normally.
 */
#ifndef MPROC_SYNC_PUBLIC_H
#define MPROC_SYNC_PUBLIC_H

#ifndef MPROC_H
    #include "../mproc.h"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/** @name Locks */
/**@{*/

/** A lock between processes (opaque): Python's multiprocessing.Lock, but robust. */
typedef struct mproc_lock mproc_lock;
/** A re-entrant lock (opaque): Python's RLock, robust as mproc_lock. */
typedef struct mproc_rlock mproc_rlock;

/**
 * Creates an unlocked lock.
 *
 * @param out receives the lock; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL), MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_lock_create(mproc_lock **out);

/**
 * Acquires the lock, waiting up to timeout_ms. A thread that already holds it gets MPROC_ESTATE
 * at once (it would wait for itself forever; use an RLock to nest).
 *
 * A holder that dies holding it (its process killed or crashed, or the thread ended) does not
 * keep it: the next acquirer gets it with MPROC_EOWNERDEAD. On Windows the mutex says so at once
 * (`WAIT_ABANDONED`). On Linux the lock is a futex word naming the holder's thread, two atomic
 * operations a round with nobody else (a robust pthread mutex costs twice that); a waiter looks
 * at the holder in /proc after 5 ms of sleep and then every 100 ms at most, and a try
 * (timeout_ms 0) that finds it held looks at once, so a dead holder is found within about
 * 0.1 s of its death. The holder's start time, noted in the lock, tells it from a thread given
 * the same id later. Processes that share a lock must see one another's thread ids: one PID
 * namespace (as for any process-shared robust lock).
 *
 * @param l the lock.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0 (try once).
 * @return MPROC_OK; MPROC_EOWNERDEAD (acquired: the caller holds it, but the previous holder
 *         died holding it, so what it guarded may be half-written); MPROC_ETIMEDOUT;
 *         MPROC_ESTATE (the caller holds it already); MPROC_EINVAL (l NULL, timeout_ms below
 *         MPROC_FOREVER); MPROC_ESYS.
 */
MPROC_API int mproc_lock_acquire(mproc_lock *l, long timeout_ms);

/**
 * Releases the lock.
 *
 * @param l the lock.
 * @return MPROC_OK, MPROC_ESTATE (the calling thread does not hold it), MPROC_EINVAL (l NULL).
 */
MPROC_API int mproc_lock_release(mproc_lock *l);

/**
 * Frees this process's hold on the lock (the lock itself lives on in the other processes that
 * hold it). Not while a thread of this process waits on it or holds it. NULL is fine.
 *
 * @param l the lock, or NULL; invalid after the call.
 */
MPROC_API void mproc_lock_destroy(mproc_lock *l);

/**
 * Creates an unlocked re-entrant lock: the holder may acquire it again, and it is free once
 * released as many times as acquired.
 *
 * @param out receives the lock; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL), MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_rlock_create(mproc_rlock **out);

/**
 * Acquires the lock (again, when the caller holds it), waiting up to timeout_ms.
 *
 * @param l the lock.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK; MPROC_EOWNERDEAD (acquired, once, after its holder died holding it, as for
 *         mproc_lock_acquire()); MPROC_ETIMEDOUT; MPROC_EINVAL; MPROC_ENOMEM (POSIX: nested
 *         2^32 - 1 deep); MPROC_ESYS.
 */
MPROC_API int mproc_rlock_acquire(mproc_rlock *l, long timeout_ms);

/**
 * Releases one level of the lock.
 *
 * @param l the lock.
 * @return MPROC_OK, MPROC_ESTATE (the calling thread does not hold it), MPROC_EINVAL.
 */
MPROC_API int mproc_rlock_release(mproc_rlock *l);

/**
 * Frees this process's hold on the lock, as mproc_lock_destroy(). NULL is fine.
 *
 * @param l the lock, or NULL; invalid after the call.
 */
MPROC_API void mproc_rlock_destroy(mproc_rlock *l);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Semaphore, Event */
/**@{*/

/** A counting semaphore between processes (opaque): Python's Semaphore. */
typedef struct mproc_sem mproc_sem;
/** An event flag between processes (opaque): Python's Event. */
typedef struct mproc_event mproc_event;

/** The largest value a semaphore holds (a release past it fails). */
#define MPROC_SEM_MAX 0x7fffffffu

/**
 * Creates a semaphore holding `initial`.
 *
 * @param out receives the semaphore; NULL on failure.
 * @param initial its first value, at most MPROC_SEM_MAX.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, initial past MPROC_SEM_MAX), MPROC_ENOMEM,
 *         MPROC_ESYS.
 */
MPROC_API int mproc_sem_create(mproc_sem **out, unsigned initial);

/**
 * Takes one from the value, waiting up to timeout_ms while it is 0.
 *
 * @param s the semaphore.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK, MPROC_ETIMEDOUT, MPROC_EINVAL (s NULL, timeout_ms below MPROC_FOREVER).
 */
MPROC_API int mproc_sem_acquire(mproc_sem *s, long timeout_ms);

/**
 * Adds one to the value, waking one waiter. Any thread of any process may release.
 *
 * @param s the semaphore.
 * @return MPROC_OK, MPROC_ESTATE (the value is MPROC_SEM_MAX already), MPROC_EINVAL.
 */
MPROC_API int mproc_sem_release(mproc_sem *s);

/**
 * The value now (it may change at once).
 *
 * @param s the semaphore.
 * @param value receives it.
 * @return MPROC_OK, MPROC_EINVAL (s or value NULL).
 */
MPROC_API int mproc_sem_value(mproc_sem *s, unsigned *value);

/**
 * Frees this process's hold on the semaphore. NULL is fine.
 *
 * @param s the semaphore, or NULL; invalid after the call.
 */
MPROC_API void mproc_sem_destroy(mproc_sem *s);

/**
 * Creates an event, not set.
 *
 * @param out receives the event; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL), MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_event_create(mproc_event **out);

/**
 * Sets the flag and wakes every waiter.
 *
 * @param e the event.
 * @return MPROC_OK, MPROC_EINVAL (e NULL).
 */
MPROC_API int mproc_event_set(mproc_event *e);

/**
 * Clears the flag.
 *
 * @param e the event.
 * @return MPROC_OK, MPROC_EINVAL (e NULL).
 */
MPROC_API int mproc_event_clear(mproc_event *e);

/**
 * Whether the flag is set.
 *
 * @param e the event, or NULL (0).
 * @return 1 set, 0 not.
 */
MPROC_API int mproc_event_is_set(mproc_event *e);

/**
 * Waits up to timeout_ms for the flag to be set.
 *
 * @param e the event.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK (it is set), MPROC_ETIMEDOUT, MPROC_EINVAL (e NULL, timeout_ms below
 *         MPROC_FOREVER).
 */
MPROC_API int mproc_event_wait(mproc_event *e, long timeout_ms);

/**
 * Frees this process's hold on the event. NULL is fine.
 *
 * @param e the event, or NULL; invalid after the call.
 */
MPROC_API void mproc_event_destroy(mproc_event *e);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Barrier, Condition */
/**@{*/

/** A barrier of n parties between processes (opaque): Python's Barrier. */
typedef struct mproc_barrier mproc_barrier;
/** A condition variable over an mproc_lock (opaque): Python's Condition. */
typedef struct mproc_cond mproc_cond;

/** The most parties a barrier takes. */
#define MPROC_BARRIER_MAX 65536u

/**
 * Creates a barrier for `parties` parties.
 *
 * @param out receives the barrier; NULL on failure.
 * @param parties how many waits release each other, 1 to MPROC_BARRIER_MAX.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, parties 0 or past MPROC_BARRIER_MAX), MPROC_ENOMEM,
 *         MPROC_ESYS.
 */
MPROC_API int mproc_barrier_create(mproc_barrier **out, unsigned parties);

/**
 * Waits until `parties` waits are under way, then all of them return. When a waiter times out,
 * or a process dies while one of its threads waits here, the barrier breaks: every waiter (and
 * every later wait, until mproc_barrier_reset()) gets MPROC_EBROKEN instead of waiting on. A
 * party's death is noticed within about 100 ms.
 *
 * @param b the barrier.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return the caller's place in arrival order, 0 to parties - 1 (each once per round);
 *         MPROC_EBROKEN; MPROC_EINVAL (b NULL, timeout_ms below MPROC_FOREVER).
 */
MPROC_API int mproc_barrier_wait(mproc_barrier *b, long timeout_ms);

/**
 * Makes a barrier usable again: waiters of the round under way get MPROC_EBROKEN, and a new
 * round starts empty.
 *
 * @param b the barrier.
 * @return MPROC_OK, MPROC_EINVAL (b NULL).
 */
MPROC_API int mproc_barrier_reset(mproc_barrier *b);

/**
 * 1 when the barrier is broken (until reset), else 0 (also for NULL).
 *
 * @param b the barrier, or NULL.
 * @return 1 or 0.
 */
MPROC_API int mproc_barrier_broken(mproc_barrier *b);

/**
 * Frees this process's hold on the barrier. NULL is fine.
 *
 * @param b the barrier, or NULL; invalid after the call.
 */
MPROC_API void mproc_barrier_destroy(mproc_barrier *b);

/**
 * Creates a condition over lock `l`, or over a new lock of its own when l is NULL (then see
 * mproc_cond_lock()). The lock must outlive the condition.
 *
 * @param out receives the condition; NULL on failure.
 * @param l the lock waiters hold, or NULL.
 * @return MPROC_OK, MPROC_EINVAL (out NULL), MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_cond_create(mproc_cond **out, mproc_lock *l);

/**
 * The condition's lock: the one given at creation, its own, or in a child it was handed to, the
 * child's copy of it (owned by the condition).
 *
 * @param c the condition, or NULL.
 * @return the lock, or NULL for NULL.
 */
MPROC_API mproc_lock *mproc_cond_lock(mproc_cond *c);

/**
 * Releases the lock (which the caller must hold), waits up to timeout_ms for a notify, and
 * acquires the lock again (without limit) before returning. Wake-ups may be spurious, as with
 * every condition variable: test the predicate in a loop.
 *
 * @param c the condition.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return MPROC_OK (notified, or spuriously); MPROC_ETIMEDOUT; MPROC_EOWNERDEAD (as
 *         MPROC_OK, and the lock's previous holder died holding it); MPROC_ESTATE (the caller
 *         does not hold the lock); MPROC_EINVAL (c NULL, timeout_ms below MPROC_FOREVER).
 *         The caller holds the lock again after every code but MPROC_ESTATE and MPROC_EINVAL.
 */
MPROC_API int mproc_cond_wait(mproc_cond *c, long timeout_ms);

/**
 * Wakes one waiter (if any). The caller must hold the lock.
 *
 * @param c the condition.
 * @return MPROC_OK, MPROC_ESTATE (the caller does not hold the lock), MPROC_EINVAL.
 */
MPROC_API int mproc_cond_notify(mproc_cond *c);

/**
 * Wakes every waiter. The caller must hold the lock.
 *
 * @param c the condition.
 * @return MPROC_OK, MPROC_ESTATE (the caller does not hold the lock), MPROC_EINVAL.
 */
MPROC_API int mproc_cond_notify_all(mproc_cond *c);

/**
 * Frees this process's hold on the condition (and on its own lock, if it has one). NULL is
 * fine.
 *
 * @param c the condition, or NULL; invalid after the call.
 */
MPROC_API void mproc_cond_destroy(mproc_cond *c);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Handing sync objects to a child */
/**@{*/

/**
 * The lock as an entry of mproc_process_options::share or mproc_pool_options::share.
 *
 * @param l the lock, or NULL (NULL, which the options refuse with MPROC_EINVAL).
 * @return a pointer owned by l, valid as long as l.
 */
MPROC_API mproc_shared *mproc_lock_shared(mproc_lock *l);
/**
 * The re-entrant lock as a share-list entry.
 *
 * @param l the lock, or NULL (NULL).
 * @return a pointer owned by l.
 */
MPROC_API mproc_shared *mproc_rlock_shared(mproc_rlock *l);
/**
 * The semaphore as a share-list entry.
 *
 * @param s the semaphore, or NULL (NULL).
 * @return a pointer owned by s.
 */
MPROC_API mproc_shared *mproc_sem_shared(mproc_sem *s);
/**
 * The event as a share-list entry.
 *
 * @param e the event, or NULL (NULL).
 * @return a pointer owned by e.
 */
MPROC_API mproc_shared *mproc_event_shared(mproc_event *e);
/**
 * The barrier as a share-list entry.
 *
 * @param b the barrier, or NULL (NULL).
 * @return a pointer owned by b.
 */
MPROC_API mproc_shared *mproc_barrier_shared(mproc_barrier *b);
/**
 * The condition as a share-list entry; its lock travels with it (the child gets its own copy of
 * the lock through mproc_cond_lock()).
 *
 * @param c the condition, or NULL (NULL).
 * @return a pointer owned by c.
 */
MPROC_API mproc_shared *mproc_cond_shared(mproc_cond *c);

/**
 * In a child: the lock its parent handed it at position `index` of the share list. It is the
 * child's own object (its destroy drops the child's hold only); the same index gives the same
 * object until then.
 *
 * @param index the position in the parent's share list.
 * @param out receives the lock; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, no object at index, or one of another kind),
 *         MPROC_ESTATE (this process destroyed it already).
 */
MPROC_API int mproc_child_lock(size_t index, mproc_lock **out);
/**
 * In a child: the re-entrant lock at position `index`, as mproc_child_lock().
 *
 * @param index the position in the parent's share list.
 * @param out receives the lock; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ESTATE.
 */
MPROC_API int mproc_child_rlock(size_t index, mproc_rlock **out);
/**
 * In a child: the semaphore at position `index`, as mproc_child_lock().
 *
 * @param index the position in the parent's share list.
 * @param out receives the semaphore; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ESTATE.
 */
MPROC_API int mproc_child_sem(size_t index, mproc_sem **out);
/**
 * In a child: the event at position `index`, as mproc_child_lock().
 *
 * @param index the position in the parent's share list.
 * @param out receives the event; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ESTATE.
 */
MPROC_API int mproc_child_event(size_t index, mproc_event **out);
/**
 * In a child: the barrier at position `index`, as mproc_child_lock().
 *
 * @param index the position in the parent's share list.
 * @param out receives the barrier; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ESTATE.
 */
MPROC_API int mproc_child_barrier(size_t index, mproc_barrier **out);
/**
 * In a child: the condition at position `index`, as mproc_child_lock().
 *
 * @param index the position in the parent's share list.
 * @param out receives the condition; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL, MPROC_ESTATE.
 */
MPROC_API int mproc_child_cond(size_t index, mproc_cond **out);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Waiting on many objects */
/**@{*/

/**
 * Something mproc_wait() can wait on (opaque). Each object gives its own with its
 * `_waitable` call; it stays valid as long as the object and needs no freeing.
 */
typedef struct mproc_waitable mproc_waitable;

/**
 * The process as a waitable: ready once it has ended (a process never started is never ready).
 * mproc_wait() reaps it as mproc_process_is_alive() does; it never touches a child the library
 * did not start.
 *
 * @param p the process, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_process_waitable(mproc_process *p);

/* Declared here as well, so that this header and mproc/ipc.h need no order. */
struct mproc_pipe;
struct mproc_queue;

/**
 * The pipe end as a waitable: ready once mproc_pipe_recv() would not wait (a whole message, or
 * the other end gone). A wait on it counts as receiving on that end (one receiving thread at a
 * time). POSIX sleeps on the pipe itself; on Windows the end is looked at again every few
 * milliseconds (a pipe handle signals no readiness). (`struct mproc_pipe` is ::mproc_pipe of
 * mproc/ipc.h, named so that this header needs no order among the two.)
 *
 * @param p the end, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_pipe_waitable(struct mproc_pipe *p);

/**
 * The queue as a waitable: ready once mproc_queue_get() would not wait (a message is there, or
 * the queue is closed and get gives MPROC_EEND). Other processes change a queue, so the wait
 * looks at it again every few milliseconds; being ready takes nothing out (another consumer
 * may still get the message first). (`struct mproc_queue` is ::mproc_queue of mproc/ipc.h.)
 *
 * @param q the queue, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_queue_waitable(struct mproc_queue *q);

/**
 * The task handle as a waitable: ready once the task has ended (mproc_async_ready()); its end
 * wakes the wait at once (Python's `as_completed`). A wait on a handle not yet ended from a
 * callback of its own pool gives MPROC_EDEADLK at once (timeout 0 polls), as mproc_async_wait().
 *
 * @param a the handle, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_async_waitable(mproc_async *a);

/**
 * The event as a waitable: ready while it is set.
 *
 * @param e the event, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_event_waitable(mproc_event *e);

/**
 * The semaphore as a waitable: ready while its value is above 0 (an acquire would not wait; the
 * wait itself takes nothing).
 *
 * @param s the semaphore, or NULL (then NULL).
 * @return the waitable, or NULL.
 */
MPROC_API mproc_waitable *mproc_sem_waitable(mproc_sem *s);

/**
 * Waits until at least one of the n items is ready, up to timeout_ms, and marks every item ready
 * then: ready[i] = 1 for each, 0 for the others. There is no cap on n on any OS (on Windows the
 * library goes past the 64 handles of one kernel wait itself). An item may appear more than
 * once. n 0 just sleeps timeout_ms.
 *
 * Processes, task handles and (on POSIX) pipes wake it at once; events and semaphores (whose
 * changes come from other processes without a kernel object to wait on together), and pipes on
 * Windows, are looked at again every few milliseconds, backing off to 10 ms.
 *
 * @param items n waitables (none NULL); read only.
 * @param n their number.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0 (poll once).
 * @param ready n bytes the call fills in (may be NULL only when n is 0).
 * @return how many items are ready (at least 1), 0 when the timeout passed first; MPROC_EINVAL
 *         (items or ready NULL with n > 0, a NULL item, timeout_ms below MPROC_FOREVER, n 0 with
 *         MPROC_FOREVER); MPROC_ENOMEM; MPROC_ESYS; an item's own error (MPROC_EFOREIGN for a
 *         process or task handle of another process, MPROC_EDEADLK for a task handle waited on
 *         from its pool's own thread).
 */
MPROC_API int mproc_wait(mproc_waitable *const *items, size_t n, long timeout_ms,
                         unsigned char *ready);
/**@}*/

#ifdef __cplusplus
}
#endif

#endif /* MPROC_SYNC_PUBLIC_H */
