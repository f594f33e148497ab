/* The Pipe's message framing (src/ipc/pipe.c), shared with the fuzzer. */
#ifndef MPROC_IPC_PIPE_H
#define MPROC_IPC_PIPE_H

#include "../backend.h"
#include "../wire.h"

#define MPROC__PIPE_HEADER 16
/* The longest message: 1 TiB, far past what a test sends, so any message a program can hold
 * crosses; a header claiming more is refused before anything is allocated. */
#define MPROC__PIPE_MAX ((uint64_t)1 << 40)

/* A frame's kind, its header's fifth byte: a message whose body follows on the pipe, one whose
 * body (at least 1 byte) follows in the pair's shared ring (src/ipc/pipe_ring.h), and a NUDGE
 * (length 0) that only makes the pipe readable for a reader that left with a body unfinished. */
enum { MPROC__PIPE_PLAIN = 0, MPROC__PIPE_RING = 1, MPROC__PIPE_NUDGE = 2 };

/* Writes the header of a frame of kind with len bytes into h (MPROC__PIPE_HEADER bytes). */
void mproc__pipe_frame(unsigned char *h, int kind, uint64_t len);
/* Checks a header from the other end: MPROC_OK with its kind and length, or MPROC_EPROTO. */
int mproc__pipe_frame_decode(const unsigned char *h, int *kind, uint64_t *len);

/* The byte streams under an end (for the fuzzer, which writes raw bytes into one). */
struct mproc__conn *mproc__pipe_conn(mproc_pipe *p);
/* The pair's shared rings (NULL where the pipe carries every byte) and the ring an end writes
 * into (it reads the other). */
struct mproc__pring *mproc__pipe_ring(mproc_pipe *p, int *out);

#endif /* MPROC_IPC_PIPE_H */
