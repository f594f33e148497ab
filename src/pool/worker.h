/* The pool worker: the child side of a pool, the same code under fork and spawn. */
#ifndef MPROC_WORKER_H
#define MPROC_WORKER_H

#include "backend.h"

/* A spawned child that cannot boot (garbled record, unresolvable function) exits with this. */
#define MPROC__EXIT_BOOT 120
/* A worker whose initializer failed exits with this. */
#define MPROC__EXIT_INIT 121

typedef struct mproc__worker_cfg {
    mproc__handle in;   /* tasks arrive here */
    mproc__handle out;  /* results leave here */
    mproc__buf *in_buf; /* bytes already read from in (spawn: what followed the boot record) */
    int fork;           /* a fork child: a DEFINE may say "at the parent's address" */
    mproc_initializer init;
    const void *initarg;
    size_t initarg_len;
    uint32_t max_tasks;
    struct mproc__ring *ring;         /* where answers go when they fit; NULL: the pipe only */
    struct mproc__share_list *shares; /* fork: the pool's objects, taken up before init runs */
} mproc__worker_cfg;

/* Appends to b the BOOT frame a worker starts from (start.c): its task limit, its initializer
 * and the initializer's argument, then the pool's objects when shares is not NULL (a remote
 * worker's record has none). */
int mproc__worker_boot_encode(mproc__buf *b, uint32_t max_tasks, mproc_initializer init,
                              const void *initarg, size_t initarg_len,
                              const struct mproc__share_list *shares);

/* Serves tasks until end of input or max_tasks; returns the exit code. */
int mproc__worker_main(const mproc__worker_cfg *cfg);

#endif /* MPROC_WORKER_H */
