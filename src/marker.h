/* The child marker (src/marker.c): the guard's scan of the command line for it. */
#ifndef MPROC_MARKER_H
#define MPROC_MARKER_H

#include "backend.h"

/* 1 with m filled when s is "--mproc-child=" and three handle values (each "-1" or a decimal
 * without leading zero), whatever follows (m->tail); else 0. */
int mproc__marker_parse(const char *s, mproc__marker *m);
/* Is this run a child we spawned? 1 with the channel handles when argv[1], or else the command
 * line as the OS keeps it (or the POSIX environment), carries a marker the backend takes up;
 * else 0. argc may be 0. */
int mproc__marker_child_args(int argc, char **argv, mproc__handle *in, mproc__handle *out,
                             mproc__handle *extra);
/* 1 when one of those places starts with the marker at all (valid or not). */
int mproc__marker_present(int argc, char **argv);

#endif /* MPROC_MARKER_H */
