/**
 * @file mproc/ipc.h
 * @brief Objects that processes share: handing them to a child, shared memory, pipes.
 *
 * Included by mproc.h (include that one). A child gets an object only when its parent lists it
 * in mproc_process_options::share (or mproc_pool_options::share: every worker gets them), and
 * takes it back by position with the mproc_child_<kind>() call of its kind, the same way under
 * fork, spawn and Windows. Nothing that is not listed crosses.
 *
 * In the child the object is the child's own: its `*_destroy` drops the child's hold only, and
 * the child may hand it on to children of its own. What the child does not destroy is released
 * when it exits.
 */
#ifndef MPROC_IPC_H
#define MPROC_IPC_H

#include "../mproc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/** @name Handing objects to a child */
/**@{*/

/**
 * How many objects the parent handed to this process (mproc_process_options::share or
 * mproc_pool_options::share); 0 in a process that was handed none, and in the main program.
 *
 * @return the count; index i < count is valid for the mproc_child_<kind>() call of the i-th
 *         object's kind.
 */
MPROC_API size_t mproc_child_share_count(void);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Shared memory */
/**@{*/

/** A block of shared memory (opaque). */
typedef struct mproc_shm mproc_shm;

/**
 * Creates a zeroed block of `size` bytes, mapped in this process, to be handed to children
 * (mproc_shm_shared()). It is anonymous: no name in /dev/shm or in the Windows namespace, so
 * nothing is left behind when every process holding it has ended, however it ended (SIGKILL
 * included). Each process maps it at an address of its own: store offsets in it, never pointers.
 *
 * Thread-safe (the new object is the caller's).
 *
 * @param out receives the block, freed with mproc_shm_destroy(); NULL on failure.
 * @param size its size in bytes, at least 1.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, size 0), MPROC_ENOMEM, MPROC_ESYS (the system
 *         refuses: a size past what it can map, or too many open files).
 */
MPROC_API int mproc_shm_create(mproc_shm **out, size_t size);

/**
 * The block's first byte in this process (aligned for any type, page-aligned in practice).
 *
 * @param s the block, or NULL (NULL).
 * @return its address here, valid until mproc_shm_destroy(); another process sees the same
 *         bytes at an address of its own.
 */
MPROC_API void *mproc_shm_ptr(mproc_shm *s);

/**
 * The block's size.
 *
 * @param s the block, or NULL (0).
 * @return the size given to mproc_shm_create().
 */
MPROC_API size_t mproc_shm_size(const mproc_shm *s);

/**
 * The block as an entry of mproc_process_options::share or mproc_pool_options::share.
 *
 * @param s the block, or NULL (NULL, which the options refuse with MPROC_EINVAL).
 * @return a pointer owned by s, valid as long as s.
 */
MPROC_API mproc_shared *mproc_shm_shared(mproc_shm *s);

/**
 * In a child: the block its parent handed it at position `index` of the share list. The block
 * belongs to the child; every call for the same index gives the same block, until the child
 * destroys it.
 *
 * @param index the position in the parent's share list.
 * @param out receives the block; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, no object at index, or one of another kind),
 *         MPROC_ESTATE (this process destroyed it already).
 */
MPROC_API int mproc_child_shm(size_t index, mproc_shm **out);

/**
 * Unmaps the block here and drops this process's hold; the memory is freed once no process
 * holds it. In a child it drops the child's hold only. NULL is fine.
 *
 * @param s the block, or NULL; invalid after the call, as is every pointer into it here.
 */
MPROC_API void mproc_shm_destroy(mproc_shm *s);
/**@}*/

/* ---------------------------------------------------------------------------------------- */
/** @name Pipe */
/**@{*/

/** One end of a pipe (opaque): Python's multiprocessing.connection.Connection. */
typedef struct mproc_pipe mproc_pipe;

/**
 * Creates two connected ends: what one sends, the other receives, in both directions. Messages
 * keep their bounds (a pipe carries messages, not a byte stream). Hand one end to a child
 * (mproc_pipe_shared()) and destroy it here once the child has been created: an end stays open
 * as long as any process holds it, and the other end sees MPROC_EEND only once none does.
 *
 * An end may be used by one thread at a time for sending and one for receiving (mproc_pipe_recv()
 * and mproc_pipe_poll() count as receiving), the two at once.
 *
 * On Linux the pair also shares an anonymous region of 8 MiB + 4 KiB for its big messages (see
 * mproc_pipe_send()): one more descriptor (a memfd) while an end is open, and memory only once
 * a big message has used it.
 *
 * @param a receives one end, freed with mproc_pipe_destroy(); NULL on failure.
 * @param b receives the other end, likewise.
 * @return MPROC_OK, MPROC_EINVAL (a or b NULL, or the same pointer), MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_pipe_create(mproc_pipe **a, mproc_pipe **b);

/**
 * Sends one message of len bytes (0 is a message too), whole: it returns once all of it is in
 * the pipe or in the other end, blocking while the other end does not read (a message larger
 * than the pipe's buffer waits for the reader). Never raises SIGPIPE: sending into a pipe whose
 * other end is gone (its process ended, killed included) gives MPROC_EEND.
 *
 * On Linux a message of 256 KiB or more goes through shared memory: its frame goes down the
 * pipe, its body through a 4 MiB ring of its direction in an anonymous region the pair shares
 * (made with the pair, handed on with an end; no name in /dev/shm). The sender copies the body
 * in while the receiver copies it out, and each sleeps in the kernel (a futex) while the ring
 * is full or empty, looking every 50 ms whether the other end is still there: a peer killed in
 * the middle gives MPROC_EEND here (and to its reader), never a hang. The buffer is only read
 * during the call and is the caller's again once it returns. Elsewhere (Windows, POSIX without
 * futexes) every byte goes down the pipe, and on such a POSIX system a message of 256 KiB or
 * more widens the pipe of its direction to 1 MiB where the limits allow.
 *
 * @param p the end.
 * @param data the bytes, read during the call only; NULL when len is 0.
 * @param len their number, up to 1 TiB (2^40).
 * @return MPROC_OK, MPROC_EINVAL (p NULL, data NULL with len > 0), MPROC_ETOOBIG, MPROC_EEND,
 *         MPROC_EFOREIGN (a fork's copy of an end not handed to this process), MPROC_EPROTO
 *         (the other end's position in the shared ring is one no mproc pipe writes),
 *         MPROC_ESYS.
 */
MPROC_API int mproc_pipe_send(mproc_pipe *p, const void *data, size_t len);

/**
 * Receives the next message, waiting up to timeout_ms for it. On MPROC_OK `*data` holds its
 * bytes (freed with mproc_free(); a message of 0 bytes may give NULL) and `*len` their number.
 * A message is handed out whole or not at all: when the other end goes away in the middle of
 * one, the part that came is dropped and MPROC_EEND follows. What the other side sends is
 * checked: bytes no mproc pipe writes give MPROC_EPROTO, and so does a position in the shared
 * ring of big bodies (Linux, see mproc_pipe_send()) more than the ring's size away from this
 * end's own.
 *
 * @param p the end.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0 (no wait). A message that is still
 *                   arriving when the time is up stays: the next call goes on with it. A big
 *                   body that keeps streaming in is followed past the time by at most the
 *                   ring's 4 MiB (a few milliseconds), so one call never runs on for long.
 * @param data receives the message, which belongs to the caller (mproc_free()); NULL on failure.
 * @param len receives its length; 0 on failure.
 * @return MPROC_OK, MPROC_ETIMEDOUT, MPROC_EEND (every message read, and the other end is gone:
 *         again at every later call), MPROC_EPROTO, MPROC_ENOMEM, MPROC_EINVAL (p, data or len
 *         NULL, timeout_ms below MPROC_FOREVER), MPROC_EFOREIGN, MPROC_ESYS.
 */
MPROC_API int mproc_pipe_recv(mproc_pipe *p, long timeout_ms, void **data, size_t *len);

/**
 * Waits up to timeout_ms until mproc_pipe_recv() would not wait: a whole message is there, or
 * the other end is gone (recv then gives MPROC_EEND), or bytes came that recv refuses.
 *
 * @param p the end.
 * @param timeout_ms milliseconds, MPROC_FOREVER or 0.
 * @return 1 ready, 0 not (after timeout_ms), or MPROC_EINVAL (p NULL, timeout_ms below
 *         MPROC_FOREVER), MPROC_EFOREIGN, MPROC_ENOMEM, MPROC_ESYS.
 */
MPROC_API int mproc_pipe_poll(mproc_pipe *p, long timeout_ms);

/**
 * The end as an entry of mproc_process_options::share or mproc_pool_options::share. Hand over
 * an end before it has received anything (an end that holds bytes it read fails the create with
 * MPROC_ESTATE). Every process holding an end reads from and writes to the same stream: give
 * each end to one process (or take turns).
 *
 * @param p the end, or NULL (NULL, which the options refuse with MPROC_EINVAL).
 * @return a pointer owned by p, valid as long as p.
 */
MPROC_API mproc_shared *mproc_pipe_shared(mproc_pipe *p);

/**
 * In a child: the pipe end its parent handed it at position `index` of the share list. It
 * belongs to the child; every call for the same index gives the same end, until the child
 * destroys it.
 *
 * @param index the position in the parent's share list.
 * @param out receives the end; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, no object at index, or one of another kind),
 *         MPROC_ESTATE (this process destroyed it already).
 */
MPROC_API int mproc_child_pipe(size_t index, mproc_pipe **out);

/**
 * Closes this process's hold on the end; once no process holds it, the other end sees
 * MPROC_EEND. Messages not received are dropped. NULL is fine.
 *
 * @param p the end, or NULL; invalid after the call.
 */
MPROC_API void mproc_pipe_destroy(mproc_pipe *p);
/**@}*/

/* ==== Queue and JoinableQueue (i11-queue) ================================================== */

/** @name Queue
 * A FIFO of byte messages between any number of producer and consumer processes (Python's
 * multiprocessing.Queue and JoinableQueue in one object). Its data lives in anonymous shared
 * memory: no name in /dev/shm or in the Windows namespace, gone when the last process holding
 * it ends.
 *
 * - put returns once the message is in the queue: there is no feeder thread, so a process may
 *   exit right after put and nothing is lost.
 * - FIFO per producer: two messages put by one thread come out in the order they went in.
 * - A process killed at any moment, even inside put or get, leaves the queue whole for the
 *   others: each message is delivered whole exactly once, or not at all when its put never
 *   returned MPROC_OK; a message a consumer was taking when it died stays in the queue for the
 *   others. Nobody waits forever on a lock the dead one held.
 * - A message of more than 256 KiB is streamed to one consumer through a buffer of its own;
 *   its put returns when that consumer has all of it (so it waits for a get), and the small
 *   messages flow past it meanwhile. Big messages go one at a time.
 * - Whatever another process left in the shared memory is checked before use: a damaged queue
 *   gives MPROC_EPROTO, never a crash.
 *
 * Every call is thread-safe. The queue's state (closed, the unfinished count) is shared by all
 * processes that hold it.
 */
/**@{*/

/** A queue (opaque). */
typedef struct mproc_queue mproc_queue;

/**
 * Creates an empty queue.
 *
 * @param q receives the queue (NULL on failure); mproc_queue_destroy() releases it.
 * @param maxsize the most messages it holds at once (put waits for room past that); 0: no
 *        bound but the shared buffer's size (16 MiB of small messages).
 * @return MPROC_OK; MPROC_EINVAL (q NULL), MPROC_ENOMEM, MPROC_ENOTSUP (no process-shared
 *         robust mutexes), MPROC_ESYS.
 */
MPROC_API int mproc_queue_create(mproc_queue **q, size_t maxsize);

/**
 * Puts a copy of len bytes at data into the queue.
 *
 * @param q the queue.
 * @param data the message (not kept); may be NULL when len is 0.
 * @param len its size in bytes (0 is a valid message).
 * @param timeout_ms how long to wait for room (maxsize reached, buffer full) or, for a message
 *        over 256 KiB, for a consumer to take all of it: milliseconds, 0 (do not wait) or
 *        MPROC_FOREVER.
 * @return MPROC_OK once the message is in the queue; MPROC_ETIMEDOUT (not put); MPROC_ESTATE
 *         (the queue is closed); MPROC_EINVAL (q NULL, data NULL with len > 0, timeout below
 *         MPROC_FOREVER); MPROC_ETOOBIG (len over 2^62); MPROC_EPROTO (the shared state is
 *         damaged).
 */
MPROC_API int mproc_queue_put(mproc_queue *q, const void *data, size_t len, long timeout_ms);

/**
 * Takes the oldest message.
 *
 * @param q the queue.
 * @param timeout_ms how long to wait for one: milliseconds, 0 or MPROC_FOREVER.
 * @param data receives the message, malloc'd by the library: release it with mproc_free()
 *        (NULL on failure).
 * @param len receives its size (0 on failure).
 * @return MPROC_OK; MPROC_ETIMEDOUT (nothing came); MPROC_EEND (the queue is closed and
 *         empty); MPROC_ENOMEM (the message stays in the queue); MPROC_EINVAL (q, data or len
 *         NULL, timeout below MPROC_FOREVER); MPROC_EPROTO (the shared state is damaged).
 */
MPROC_API int mproc_queue_get(mproc_queue *q, long timeout_ms, void **data, size_t *len);

/**
 * The number of messages in the queue now, exact (on every OS; Python's qsize is approximate
 * and fails on macOS).
 *
 * @param q the queue.
 * @param n receives the count (0 on failure).
 * @return MPROC_OK; MPROC_EINVAL (q or n NULL); MPROC_EPROTO.
 */
MPROC_API int mproc_queue_size(mproc_queue *q, size_t *n);

/**
 * Closes the queue for every process: put fails with MPROC_ESTATE from now on, getters take
 * what is left, then get MPROC_EEND. Wakes every waiter. Closing twice is fine.
 *
 * @param q the queue.
 * @return MPROC_OK; MPROC_EINVAL (q NULL); MPROC_EPROTO.
 */
MPROC_API int mproc_queue_close(mproc_queue *q);

/**
 * JoinableQueue: marks one message taken by get as processed.
 *
 * @param q the queue.
 * @return MPROC_OK; MPROC_ESTATE when called more times than messages were put (Python's
 *         ValueError); MPROC_EINVAL (q NULL); MPROC_EPROTO.
 */
MPROC_API int mproc_queue_task_done(mproc_queue *q);

/**
 * JoinableQueue: waits until every message put has been marked with mproc_queue_task_done().
 *
 * @param q the queue.
 * @param timeout_ms milliseconds, 0 or MPROC_FOREVER.
 * @return MPROC_OK; MPROC_ETIMEDOUT; MPROC_EINVAL (q NULL, timeout below MPROC_FOREVER);
 *         MPROC_EPROTO.
 */
MPROC_API int mproc_queue_join(mproc_queue *q, long timeout_ms);

/**
 * Releases this process's hold on the queue (its mapping and handles). The queue lives on in
 * the other processes that hold it; the memory is freed when the last one lets go or ends.
 *
 * @param q the queue, or NULL; invalid after the call.
 */
MPROC_API void mproc_queue_destroy(mproc_queue *q);

/**
 * The queue as an entry of mproc_process_options::share or mproc_pool_options::share: the
 * child or worker takes it back with mproc_child_queue().
 *
 * @param q the queue, or NULL (NULL, which the options refuse with MPROC_EINVAL).
 * @return a pointer owned by q, valid as long as q.
 */
MPROC_API mproc_shared *mproc_queue_shared(mproc_queue *q);

/**
 * In a child: the queue its parent handed it at position `index` of the share list; the
 * child's own (its mproc_queue_destroy() drops only the child's hold). Every call for the same
 * index gives the same queue until the child destroys it.
 *
 * @param index the position in the parent's share list.
 * @param out receives the queue; NULL on failure.
 * @return MPROC_OK, MPROC_EINVAL (out NULL, no object at index, or one of another kind),
 *         MPROC_ESTATE (this process destroyed it already).
 */
MPROC_API int mproc_child_queue(size_t index, mproc_queue **out);
/**@}*/

/* ==== end of Queue ========================================================================= */

#ifdef __cplusplus
}
#endif

#endif /* MPROC_IPC_H */
