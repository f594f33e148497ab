/* The backend's side of a Pipe (src/ipc/pipe.c): a connected pair of byte streams, one each
 * way, defined in src/posix/conn.c and src/win32/conn.c. The message framing is the front
 * end's; these move bytes. */
#ifndef MPROC_IPC_CONN_H
#define MPROC_IPC_CONN_H

#include "../backend.h"

/* One end. POSIX: two pipes' ends (rd the peer writes into, wr the peer reads from) and guard
 * (see posix/conn.c). Windows: one duplex named pipe handle in rd and wr, overlapped; os holds
 * its events. */
typedef struct mproc__conn {
    mproc__handle rd, wr, guard;
    void *os;
    int wide; /* POSIX: 1 once the pipe written into was widened for big bodies, -1 when it
               * cannot splice them either */
} mproc__conn;

/* Two ends connected to each other, close-on-exec / not inheritable. */
int mproc__os_conn_pair(mproc__conn *a, mproc__conn *b);
/* Writes hdr then data, all of it, blocking as long as it takes: MPROC_OK, MPROC_EEND when
 * the other end is gone (never SIGPIPE), or MPROC_ESYS. */
int mproc__os_conn_write(mproc__conn *c, const void *hdr, size_t hlen, const void *data,
                         size_t len);
/* A hint for a big message's fresh receive buffer (len bytes at p): back it with huge pages
 * where the OS has them, so that filling it faults once per 2 MiB, not once per 4 KiB. Never
 * fails; does nothing where there is no such thing. Unlike mproc__os_big_buffer (backend.h),
 * which advises the buffer's 2 MiB-aligned middle, it advises every page the buffer touches:
 * this buffer grows by realloc, and a mapping split by advice on part of it is copied there
 * instead of remapped. */
void mproc__os_conn_big_buffer(void *p, size_t len);
/* Reads what is there, up to cap bytes, waiting up to timeout_ms (MPROC_FOREVER, 0 polls) for
 * the first: > 0 bytes, 0 at end of file (the other end is gone), MPROC_ETIMEDOUT, or a
 * negative code. */
long mproc__os_conn_read(mproc__conn *c, void *buf, size_t cap, long timeout_ms);
/* 1 when a read would not wait (bytes, or end of file), 0 after timeout_ms, or a code. */
int mproc__os_conn_poll(mproc__conn *c, long timeout_ms);
/* What mproc_wait() sleeps on for this end (sync/waitable.h): a descriptor that polls readable
 * when bytes or the end come (POSIX), or MPROC__INVALID_HANDLE where none does (a Windows pipe:
 * the wait looks again every few milliseconds). */
mproc__handle mproc__os_conn_wait_handle(const mproc__conn *c);
/* The handles that carry this end to another process (at most 3), and the inverse there:
 * takes the handles over (MPROC_OK) or touches nothing (a code). */
size_t mproc__os_conn_handles(const mproc__conn *c, mproc__handle *h);
int mproc__os_conn_adopt(mproc__conn *c, const mproc__handle *h, size_t n);
/* ---- for the shared rings of big bodies (src/ipc/pipe_ring.c) ---- */
/* 1 where a Pipe may move big bodies through shared memory: the OS can sleep on a word of it
 * across processes, with a time limit (a Linux futex); 0 elsewhere (Windows, where the pipe
 * carries every byte), and then the three calls below are never made. */
int mproc__os_conn_ring_works(void);
/* Sleeps while *p == seen, up to ms (>= 0) milliseconds, until mproc__os_word_wake(p) from any
 * process, or a signal. Callers look again after it returns. */
void mproc__os_conn_ring_wait(volatile uint32_t *p, uint32_t seen, long ms);
/* 1 when the other end is gone (no process holds it any more), 0 while it is there, or a code;
 * bytes still on their way do not count. */
int mproc__os_conn_peer_gone(mproc__conn *c);
/* Writes the len bytes at buf (at most 512) if the pipe has room for them now, else nothing:
 * MPROC_OK either way, or a code. Never SIGPIPE. */
int mproc__os_conn_try_write(mproc__conn *c, const void *buf, size_t len);

/* Closes the end (a zeroed or half-made one too); with own 0 (a fork's copy) frees only memory:
 * the handles' numbers may be another's by now. */
void mproc__os_conn_close(mproc__conn *c, int own);

#endif /* MPROC_IPC_CONN_H */
