/* The contract between mproc_wait() (src/sync/wait.c) and the kinds of objects it waits on.
 *
 * 1. An object embeds a `struct mproc_waitable` (its kind and itself) and its public
 *    `mproc_<x>_waitable()` returns the address of it, set up with mproc__waitable_init().
 * 2. `ready(obj)` says whether the object is ready now: 1, 0, or a negative code; it never
 *    blocks, may reap or read state but consumes nothing a later call would miss.
 * 3. `begin(obj)`, when the kind has one, gives the OS handle that turns readable (a POSIX
 *    descriptor for poll) or signalled (a Windows handle) whenever `ready` may have become 1
 *    (after a sleep only items whose handle fired are looked at again); MPROC__INVALID_HANDLE
 *    when it has none now. Optional `end` closes what `begin` armed, after each sleep.
 * 4. A kind whose changes come from this process's own threads (a pool's task handles) sets
 *    `notify` and calls mproc__wait_notify() after each change: sleepers wake and look again.
 * 5. A kind with neither (state in shared memory, changed by other processes) sets `poll_ms`:
 *    the longest sleep between two looks (the wait backs off from 1 ms up to it). An optional
 *    `check(obj, timeout_ms)` may refuse a wait that could never end (MPROC_EDEADLK). */
#ifndef MPROC_WAITABLE_H
#define MPROC_WAITABLE_H

#include "../backend.h"
#include "mproc/sync.h"

typedef struct mproc__waitable_kind {
    const char *name;
    int (*ready)(void *obj);
    /* May be NULL (no handle). Called before each sleep; the handle stays open until `end`. */
    mproc__handle (*begin)(void *obj);
    void (*end)(void *obj); /* may be NULL */
    int notify;             /* 1: the kind calls mproc__wait_notify() on every change */
    long poll_ms;           /* > 0: look again at least this often */
    /* May be NULL. Called once before the first look: a negative code ends the wait with it (a
     * task handle waited on from its pool's own thread, which would never complete it). */
    int (*check)(void *obj, long timeout_ms);
} mproc__waitable_kind;

struct mproc_waitable {
    const mproc__waitable_kind *kind;
    void *obj;
};

/* Fills w in (idempotent, so a _waitable call may do it every time) and returns it. */
mproc_waitable *mproc__waitable_init(mproc_waitable *w, const mproc__waitable_kind *kind,
                                     void *obj);

/* Wakes every mproc_wait() of this process that waits on a `notify` kind; cheap (one atomic
 * load) while none does. Callable from any thread, with any lock held. */
void mproc__wait_notify(void);

/* ---- backend (src/posix/wait.c, src/win32/wait.c) ---- */
/* A notifier one sleeping mproc_wait owns: its handle joins the handles slept on. */
typedef struct mproc__notifier mproc__notifier;
int mproc__os_notifier_create(mproc__notifier **out);
mproc__handle mproc__os_notifier_handle(mproc__notifier *n);
void mproc__os_notifier_signal(mproc__notifier *n); /* from any thread */
void mproc__os_notifier_clear(mproc__notifier *n);  /* drains it */
void mproc__os_notifier_destroy(mproc__notifier *n);
/* Sleeps until one of the n handles is readable / signalled, or timeout_ms passed
 * (MPROC_FOREVER: no limit). No cap on n. fired[j] (n bytes, zeroed by the caller) is set for
 * each handle found fired (on Windows at least the first). The number found, 0 on timeout, or a
 * negative code. */
int mproc__os_wait_handles(const mproc__handle *h, size_t n, long timeout_ms, unsigned char *fired);

#endif /* MPROC_WAITABLE_H */
