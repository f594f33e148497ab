/* What the sync objects (src/sync/) share, and the backend calls they need (defined once in
 * src/posix/sync.c and once in src/win32/sync.c).
 *
 * Every object keeps its state in a region of shared memory of its own (mproc__shm), so a forked
 * child, a spawned child that attached the region, and the creator all see one object. The
 * region starts with a mproc__sync_hdr. Sleeping is the backend's: a Linux futex on a word of
 * the region, or a Win32 semaphore (one per object, its handle kept beside the region). A lock
 * is the backend's own: a futex word naming its holder in the region (src/posix/lock.c), or a
 * Win32 mutex. */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include "../backend.h"
#include "../ipc/share.h"
#include "mproc/sync.h"

/* The kinds, as the share blob and the region header name them. */
enum {
    MPROC__SYNC_LOCK = 1,
    MPROC__SYNC_RLOCK = 2,
    MPROC__SYNC_SEM = 3,
    MPROC__SYNC_EVENT = 4,
    MPROC__SYNC_BARRIER = 5,
    MPROC__SYNC_COND = 6
};

/* The bytes a backend lock takes in a region (the POSIX lock's word and notes take 24; the
 * Win32 backend keeps its owner there). Checked by a static assertion in each backend. */
#define MPROC__OSLOCK_BYTES 64

/* A backend lock: `area` in shared memory, `h` the OS object where the backend needs one. */
typedef struct mproc__oslock {
    void *area;
    mproc__handle h;
} mproc__oslock;

/* A sleeping place for the words of one object: waiters count themselves in `nwait` (a word of
 * the region) so a waker makes no system call when nobody sleeps; `h` is the OS object (none on
 * Linux: the futex is the word itself). */
typedef struct mproc__waitq {
    volatile uint32_t *nwait;
    mproc__handle h;
} mproc__waitq;

/* ---- backend: locks ---- */
/* Sets up a robust lock in l->area (zeroed memory of MPROC__OSLOCK_BYTES) and l->h. */
int mproc__os_lock_init(mproc__oslock *l, int recursive);
/* MPROC_OK, MPROC_EOWNERDEAD (acquired; the holder died holding it, the lock is consistent
 * again), MPROC_ETIMEDOUT, MPROC_ESTATE (a non-recursive lock the calling thread holds). */
int mproc__os_lock_acquire(mproc__oslock *l, int recursive, long timeout_ms);
/* MPROC_OK, or MPROC_ESTATE when the calling thread does not hold it. */
int mproc__os_lock_release(mproc__oslock *l, int recursive);
/* 1 when the calling thread holds it. */
int mproc__os_lock_held(const mproc__oslock *l);
/* Closes l->h (the area goes with its region). */
void mproc__os_lock_close(mproc__oslock *l);

/* ---- backend: sleeping on a word ---- */
int mproc__os_waitq_init(mproc__waitq *q);
/* Sleeps while *word == expected, up to timeout_ms (MPROC_FOREVER, 0 returns at once), until a
 * wake on q. MPROC_OK (woken, the word differs, or spuriously: callers look again) or
 * MPROC_ETIMEDOUT. */
int mproc__os_waitq_wait(mproc__waitq *q, volatile uint32_t *word, uint32_t expected,
                         long timeout_ms);
/* Wakes up to n sleepers of q (n 0: all) after the caller changed the word. */
void mproc__os_waitq_wake(mproc__waitq *q, volatile uint32_t *word, unsigned n);
void mproc__os_waitq_close(mproc__waitq *q);

/* ---- backend: is a process gone? (the barrier's check on its sleeping parties) ---- */
/* 1 when process pid has ended (a zombie counts as ended), 0 while it runs. */
int mproc__os_pid_ended(long pid);

/* ---- front end: every object's region and handles ---- */
#define MPROC__SYNC_MAGIC 0x6d707379u /* "mpsy" */

typedef struct mproc__sync_hdr {
    uint32_t magic;
    uint32_t kind;
    uint32_t size; /* bytes of the region */
    uint32_t pad;
} mproc__sync_hdr;

/* The part every object has: its region, its creator (a fork copy must not close what the
 * registry of the child already closed) and its OS handles. */
typedef struct mproc__sync_base {
    mproc_shared shared; /* the share contract's header (share.c); obj is the object itself */
    int kind;
    long creator_pid;
    mproc__shm shm;
} mproc__sync_base;

/* The share contract's part (share.c): every object's header set up for its kind, made by
 * create or by adopt (b is the first member of the object), and dropped by its destroy. */
void mproc__sync_share_init(mproc__sync_base *b, void *obj);
void mproc__sync_share_forget(mproc__sync_base *b);

/* Creates a zeroed region of `size` bytes with its header filled in. */
int mproc__sync_region(mproc__sync_base *b, int kind, size_t size);
/* Unmaps the region; closes its handle unless this is a fork copy. */
void mproc__sync_region_close(mproc__sync_base *b);
/* 1 in a fork copy of the object (a forked child inherited the parent's struct). */
int mproc__sync_copy(const mproc__sync_base *b);
/* The deadline arithmetic of every timed wait: what is left of timeout_ms since start
 * (MPROC_FOREVER stays). */
long mproc__sync_left(uint64_t start, long timeout_ms);

/* ---- front end: handing an object to a child (the share machinery calls these) ---- */
/* At most this many OS handles per object (a condition: its region, its lock's, two waitqs). */
#define MPROC__SYNC_MAX_HANDLES 4
typedef struct mproc__sync_export {
    int kind;
    int nhandles;
    mproc__handle handles[MPROC__SYNC_MAX_HANDLES];
    size_t sizes[MPROC__SYNC_MAX_HANDLES]; /* region sizes (0: not a region) */
} mproc__sync_export;
/* What a child needs to adopt obj (one of the mproc_lock/... pointers, of that kind). */
int mproc__sync_export_of(int kind, void *obj, mproc__sync_export *e);
/* In the child: a new object of that kind over the handles it was handed (they become the
 * object's: closed with it). *out is a mproc_lock *, mproc_sem *, ... */
int mproc__sync_adopt(const mproc__sync_export *e, void **out);

/* Helpers of the kinds: region i of e (mapped and its header checked; on failure b's handle is
 * not closed: the caller's e still owns it), and placing a region or a plain handle in e. */
int mproc__sync_attach(const mproc__sync_export *e, int i, int kind, mproc__sync_base *b);
void mproc__sync_put(mproc__sync_export *e, int i, const mproc__sync_base *b);
void mproc__sync_put_handle(mproc__sync_export *e, int i, mproc__handle h);

/* Kind-specific halves of the above (one per file). */
int mproc__lock_export(void *obj, int kind, mproc__sync_export *e);
int mproc__lock_adopt(const mproc__sync_export *e, void **out);
int mproc__sem_export(void *obj, mproc__sync_export *e);
int mproc__sem_adopt(const mproc__sync_export *e, void **out);
int mproc__event_export(void *obj, mproc__sync_export *e);
int mproc__event_adopt(const mproc__sync_export *e, void **out);
int mproc__barrier_export(void *obj, mproc__sync_export *e);
int mproc__barrier_adopt(const mproc__sync_export *e, void **out);
int mproc__cond_export(void *obj, mproc__sync_export *e);
int mproc__cond_adopt(const mproc__sync_export *e, void **out);

/* The lock under a condition (lock.c): its backend lock, and a lock built over an adopted
 * region (the condition's own copy in a child). */
mproc__oslock *mproc__lock_os(mproc_lock *l);
/* Puts l's two handles at positions first and first + 1 of e. */
int mproc__lock_export_at(mproc_lock *l, mproc__sync_export *e, int first);
int mproc__lock_from(const mproc__sync_export *e, int first, mproc_lock **out);

#endif /* MPROC_SYNC_H */
