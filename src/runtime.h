/* What process.c and the pool ask before they start children: whether this process may start
 * them now (the guard's state, set by init.c), the start method a request resolves to, whether a
 * function can be found again in a child. Below both process.c and the pool, above the backend. */
#ifndef MPROC_RUNTIME_H
#define MPROC_RUNTIME_H

#include "backend.h"

/* The guard's findings (init.c sets them, runtime.c keeps them): mproc_init() has run; this
 * process runs the work of a child the library spawned; its command line carries the marker. */
void mproc__runtime_set_initialized(void);
void mproc__runtime_set_child_role(void);
void mproc__runtime_set_marked(void);
/* MPROC_OK when this process may start processes and pools now: MPROC_ENOINIT before
 * mproc_init(), MPROC_EGUARD in a spawned child whose mproc_init() did not run its work (the
 * cascade breaker). */
int mproc__start_allowed(void);
/* 1 for one of a process's mproc_start_method values (all but MPROC_START_MPI, a pool's). */
int mproc__method_valid(mproc_start_method m);
/* The start method a request resolves to (default and MPROC_START_METHOD applied):
 * MPROC_EINVAL for an unknown value of either. MPROC_START_MPI (asked for, or `mpi` in the
 * environment) comes back as such: the pool uses remote workers (pool/remote.h), a process the
 * OS default. */
int mproc__resolve_method(mproc_start_method m, int *out);
/* fn.c: MPROC_OK when fn is code of a loaded module that a child can find again (locate, then
 * resolve here, gives fn back), else MPROC_ENOFUNC (or ETOOBIG/ENOMEM from locate). Every start
 * method checks a function this way, so what passes under fork also passes under spawn. */
int mproc__fn_check(mproc__fn fn);

#endif /* MPROC_RUNTIME_H */
