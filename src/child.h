/* The entry of a spawned child (src/child.c), which the guard (init.c) enters. */
#ifndef MPROC_CHILD_H
#define MPROC_CHILD_H

#include "backend.h"

/* Reads the bootstrap record from `in` and does the child's work; never returns. */
void mproc__child_main(mproc__handle in, mproc__handle out, mproc__handle extra);

#endif /* MPROC_CHILD_H */
