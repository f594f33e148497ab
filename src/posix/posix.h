/* What the POSIX backend's files share. Private to src/posix/. Every .c file defines
 * _GNU_SOURCE before including it. */
#ifndef MPROC_POSIX_H
#define MPROC_POSIX_H

#include "../backend.h"

#include <pthread.h>
#include <signal.h>

/* ---- the registry of the library's own descriptors (pipe.c) ----
 * A forked child closes every registered descriptor except its own channel, so a worker never
 * holds another worker's pipe ends (end-of-file detection depends on it). A descriptor is
 * created and registered, or unregistered and closed, under the lock, and fork() runs under
 * it too: a child never sees a descriptor that exists but is not registered yet. */
void mproc__posix_reg_lock(void);
void mproc__posix_reg_unlock(void);
/* MPROC_OK or MPROC_ENOMEM. Lock held. */
int mproc__posix_reg_add_locked(int fd);
void mproc__posix_reg_remove_locked(int fd);
/* In a forked child, lock held: closes and forgets every registered descriptor but keep[]
 * (negative entries ignored). */
void mproc__posix_reg_close_others_locked(const int *keep, int nkeep);
/* A registered, close-on-exec duplicate of fd numbered 3 or above, in *out. */
int mproc__posix_dup(int fd, int *out);

/* Waits until fd reports one of events, up to timeout_ms (negative: forever; EINTR restarts
 * with what is left). 1 ready, 0 timed out, or MPROC_ESYS. */
int mproc__posix_poll_one(int fd, short events, long timeout_ms);

/* ---- locks (sync.c) ---- */
/* A lock found held is tried again MPROC__SPIN_TRIES times, MPROC__SPIN_PAUSES pauses apart
 * (about a microsecond), before its taker sleeps; only where more than one CPU is usable
 * (mproc__posix_spin_useful()), since elsewhere the holder cannot run while we spin. */
#define MPROC__SPIN_TRIES 32
#define MPROC__SPIN_PAUSES 8
int mproc__posix_spin_useful(void);
/* That spin over pthread_mutex_trylock: 0 once taken, EBUSY when still held, or trylock's
 * other codes. */
int mproc__posix_spin_trylock(pthread_mutex_t *m);

/* ---- threads (thread.c) ---- */
/* The signal mask a child started from the calling thread gets: the thread's own mask (current,
 * when the caller has just read it, else asked), except on a thread of the library (which
 * blocks everything), where it is the mask of the thread that started it, so a worker started
 * from the pool's thread still dies of SIGTERM. */
void mproc__posix_child_sigmask(const sigset_t *current, sigset_t *mask);

/* ---- daemon children (child.c) ---- */
/* A daemon child started by a thread that may end first learns of its parent's death through
 * this signal, which it handles (PR_SET_PDEATHSIG is tied to the starting thread). The others
 * get SIGKILL. Reserved in such children: an application that changes this signal's handling
 * there loses the parent-death notice. */
#define MPROC__POSIX_PDEATH_SIGNAL (SIGRTMAX - 1)
/* A spawned child's marker ends with this when the thread that started it lasts as long as the
 * process (the main thread): then a MPROC__DAEMON_PROCESS child takes SIGKILL, which no mask
 * can hold back, as a MPROC__DAEMON_WORKER does. */
#define MPROC__POSIX_MARKER_LASTING ",L"

/* ---- the marker's second channel (child.c) ---- */
/* The environment a spawned child gets: this process's, with MPROC__POSIX_CHILD_ENV set to
 * "<our pid>:<marker>", so the child finds its marker even where the system does not show it its
 * command line. malloc'd (one block); NULL when memory runs out. */
#define MPROC__POSIX_CHILD_ENV "MPROC__CHILD"
char **mproc__posix_spawn_env(const char *marker);

/* ---- the running executable (exe.c) ---- */
/* A path posix_spawn can run this executable by, or NULL (errno set) when none is known. */
const char *mproc__posix_exe_path(void);
/* What a spawned child gets as argv[0]: this run's argv[0] where the C library keeps it. */
const char *mproc__posix_argv0(void);

#endif /* MPROC_POSIX_H */
