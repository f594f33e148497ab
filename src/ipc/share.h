/* The share contract: how an object is handed to a child process (mproc_process_options::share,
 * mproc_pool_options::share) and rebuilt there (mproc_child_<kind>()).
 *
 * For the authors of a shareable kind (queue, lock, sem, ...), the whole contract:
 *
 * 1. Your object struct embeds a `mproc_shared` (any member; `mproc_<kind>_shared(obj)` returns
 *    its address) and calls mproc__share_init(&obj->shared, &your_ops, obj) when it is made,
 *    whether by create or by your adopt.
 * 2. You define `const mproc__share_ops mproc__<kind>_share_ops = { KIND, "name", describe,
 *    adopt, destroy }` and register it with ONE line in MPROC__SHARE_REGISTRY below. KIND is
 *    your reserved MPROC__SHARE_* number (never renumber: it travels in the bootstrap record).
 * 3. describe(obj, rec), in the parent while a process or pool is created: put the OS handles the
 *    child needs in rec->h[0 .. rec->nh - 1] (at most MPROC__SHARE_MAX_HANDLES, the object's own:
 *    the machinery duplicates them, you keep yours) and up to MPROC__SHARE_MAX_BLOB bytes of
 *    your own in rec->blob / rec->blob_len (sizes, flags; little-endian if multi-byte).
 * 4. adopt(rec, &shared), in the child before its target, task or initializer runs: rebuild an
 *    object from rec and give back its embedded header (the handles are the child's own now, with
 * the same values under fork, spawn and Windows). Take over each handle you keep by setting
 * rec->h[i] to MPROC__INVALID_HANDLE; whatever you leave is closed after you return. The blob is
 * untrusted bytes from another process: check every field (MPROC_EPROTO). Failing fails the child's
 *    start (the parent's mproc_process_start() gets your code under spawn).
 * 5. Your public destroy calls mproc__share_forget(&obj->shared) first: in a child it drops the
 *    object from the table mproc_child_<kind>() reads (destroy in a child drops only the child's
 *    hold). `destroy` in the ops is the same call, for the machinery's own cleanup.
 * 6. Your mproc_child_<kind>(index, &obj) is one line: mproc__share_child_get(index, KIND, &v).
 *
 * Fork, spawn and Windows are the machinery's business: under fork the duplicated handles are the
 * only descriptors of the library the child keeps; under POSIX spawn they keep their numbers
 * (the bootstrap record names them); on Windows they go in the PROC_THREAD_ATTRIBUTE_HANDLE_LIST.
 * Nothing else crosses. */
#ifndef MPROC_IPC_SHARE_H
#define MPROC_IPC_SHARE_H

#include "../backend.h"
#include "../wire.h"

/* The kinds, as they travel. Reserved numbers stay reserved whether built or not. */
enum {
    MPROC__SHARE_SHM = 1,
    MPROC__SHARE_PIPE = 2,
    MPROC__SHARE_QUEUE = 3, /* also JoinableQueue */
    MPROC__SHARE_LOCK = 4,
    MPROC__SHARE_RLOCK = 5,
    MPROC__SHARE_SEM = 6,
    MPROC__SHARE_EVENT = 7,
    MPROC__SHARE_BARRIER = 8,
    MPROC__SHARE_COND = 9,
    MPROC__SHARE_KIND_MAX = 31
};

/* A queue on Windows hands 9: its mapping, 3 mutexes and 5 semaphores. */
#define MPROC__SHARE_MAX_HANDLES 10
#define MPROC__SHARE_MAX_BLOB 256
/* Objects handed to one child (or to every worker of one pool). */
#define MPROC__SHARE_MAX_OBJECTS 64
/* The exit code of a fork child whose objects could not be rebuilt (a spawned one tells its
 * parent's start instead): that of a child that failed to boot. */
#define MPROC__EXIT_SHARE 120

/* One object as it crosses: what describe fills and adopt reads. */
typedef struct mproc__share_rec {
    int kind;
    size_t nh;
    mproc__handle h[MPROC__SHARE_MAX_HANDLES];
    size_t blob_len;
    unsigned char blob[MPROC__SHARE_MAX_BLOB];
} mproc__share_rec;

typedef struct mproc__share_ops {
    int kind;
    const char *name;
    int (*describe)(void *obj, mproc__share_rec *rec);
    int (*adopt)(mproc__share_rec *rec, mproc_shared **out);
    void (*destroy)(void *obj);
} mproc__share_ops;

/* The header every shareable object embeds. */
struct mproc_shared {
    const mproc__share_ops *ops;
    void *obj;
    long pid;  /* the process that made or adopted it: a fork's copy cannot be handed on */
    long slot; /* its index in this child's table, or -1 */
};

void mproc__share_init(mproc_shared *s, const mproc__share_ops *ops, void *obj);
void mproc__share_forget(mproc_shared *s);

/* ---- the registry: one line per kind that is built ---- */
/* The sync objects' kinds: src/sync/share.c. */
#define MPROC__SHARE_REGISTRY(X)                                                                   \
    X(mproc__shm_share_ops)                                                                        \
    X(mproc__pipe_share_ops)                                                                       \
    X(mproc__queue_share_ops)                                                                      \
    X(mproc__lock_share_ops)                                                                       \
    X(mproc__rlock_share_ops)                                                                      \
    X(mproc__sem_share_ops)                                                                        \
    X(mproc__event_share_ops)                                                                      \
    X(mproc__barrier_share_ops)                                                                    \
    X(mproc__cond_share_ops)

#define MPROC__SHARE_DECLARE(ops) extern const mproc__share_ops ops;
MPROC__SHARE_REGISTRY(MPROC__SHARE_DECLARE)
#undef MPROC__SHARE_DECLARE

/* ---- the parent's side: the objects a process or pool hands on, with handles of its own ---- */
typedef struct mproc__share_list {
    size_t n;
    mproc__share_rec *recs; /* n records; their handles belong to the list */
} mproc__share_list;

/* Describes each object and duplicates its handles: MPROC_OK, MPROC_EINVAL (objs NULL with
 * n > 0, a NULL entry, n past MPROC__SHARE_MAX_OBJECTS, the same object twice), MPROC_EFOREIGN
 * (a fork's copy of an object), MPROC_ENOMEM, MPROC_ESYS, or describe's code. */
int mproc__share_list_make(mproc__share_list *l, mproc_shared *const *objs, size_t n);
/* Closes the list's handles and frees it; a zeroed list is fine. */
void mproc__share_list_free(mproc__share_list *l);
/* Every handle of the list, in order, into out (room for n * MPROC__SHARE_MAX_HANDLES); the
 * count. */
size_t mproc__share_list_handles(const mproc__share_list *l, mproc__handle *out);
/* The list's part of a bootstrap record (after the initializer's bytes). */
void mproc__share_list_write(mproc__wr *w, const mproc__share_list *l);
/* Decodes that part from untrusted bytes (all of them): MPROC_OK or MPROC_EPROTO; the handles
 * are then this process's (they were handed down), l owns them. */
int mproc__share_list_decode(const unsigned char *p, size_t len, mproc__share_list *l);

/* ---- the child's side ---- */
/* Rebuilds every object of l into this process's table (replacing what a fork inherited), taking
 * l's handles: MPROC_OK, or the first failure (everything adopted so far is dropped again). */
int mproc__share_child_begin(mproc__share_list *l);
/* The object at index when it is of kind: MPROC_OK, or MPROC_EINVAL (no such index, another
 * kind, out NULL); MPROC_ESTATE when this child destroyed it already. */
int mproc__share_child_get(size_t index, int kind, void **out);

/* ---- backend (src/posix/share.c, src/win32/share.c) ---- */
/* This process's id without a system call each time (the foreign-copy checks of every send and
 * receive): cached, and refreshed in a child of any fork. */
long mproc__os_self_pid(void);
/* A duplicate of h of the library's own kind (close-on-exec and registered, or not inheritable). */
int mproc__os_handle_dup(mproc__handle h, mproc__handle *out);
/* mproc__os_spawn, with share[0 .. nshare-1] handed to the child under the same values (kept
 * across fork; under spawn, inheritable for this start only and listed). */
int mproc__os_spawn_shared(const mproc__spawn_spec *spec, const mproc__handle *share, size_t nshare,
                           mproc__proc *p);
/* In a spawned child once its bootstrap record is read (src/<backend>/child.c): closes what it
 * inherited but the channel and keep[0 .. n-1], and takes those over (close-on-exec and
 * registered, or not inheritable). MPROC_EPROTO when one of keep is no open handle. */
int mproc__os_child_clean(const mproc__handle *keep, size_t n);

#endif /* MPROC_IPC_SHARE_H */
