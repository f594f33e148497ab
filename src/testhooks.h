/* The library's test hooks: internal calls that only the suites make, declared once here for
 * both the sources that define them and the suites that call them. They are not part of the
 * public API and a shared library does not export them, so a suite that calls one links
 * mproc_test_internal (tests/CMakeLists.txt): the library itself in a static build, a static
 * copy of it in a shared one. Only public and standard types appear, so a suite needs nothing
 * else of src/. */
#ifndef MPROC_TESTHOOKS_H
#define MPROC_TESTHOOKS_H

#include "mproc.h"

#include <stddef.h>
#include <stdint.h>

/* alloc.c: the n-th allocation from now fails, once (0 disables). Returns the countdown it
 * replaces: > 0 means the failure set before was never reached. Every allocation of the
 * process counts, whatever the thread; a forked child inherits the countdown. */
long mproc__alloc_fail_after(long n);

/* init.c: the guard ignores the child marker once, as a program that bypassed it would, so the
 * cascade breaker can be seen (1 on, 0 off). */
void mproc__guard_test_skip(int on);
/* posix/child.c, win32/child.c: while on, the OS's command line is not read (as on a system that
 * does not show it): a POSIX child finds its marker in the environment the parent set. */
void mproc__guard_test_no_cmdline(int on);

/* wire.c: lowers the largest item (argument or result) from 1 GiB, so the splitting of a chunk
 * into many frames can be tested at a small scale. Called before mproc_init in the test's main,
 * so that the parent and every child (which runs main again under spawn and Windows) agree.
 * Values under 4 KiB are raised to it. */
void mproc__wire_set_max_item(size_t n);

/* worker.c: in a pool worker, the handle its results leave by (a descriptor or HANDLE), for the
 * suites that write garbage into it; else invalid (-1). */
intptr_t mproc__worker_channel(void);

/* pool/lend.c: how many applies callers completed themselves and handed back to the pool thread. */
void mproc__pool_direct_stats(mproc_pool *p, long *done, long *back);

/* win32/process.c (Windows only): the next n attempts to start a process fail as Wine's
 * address-space collision does (ERROR_INTERNAL_ERROR), so the retry can be seen. */
void mproc__spawn_test_fail(int n);

/* ipc/queue.c: a queue's shared region (header, ring, stream buffer), for the suites and the
 * fuzzer that write into it as a damaged or hostile process would. */
void mproc__queue_region(mproc_queue *q, void **addr, size_t *size);

#endif /* MPROC_TESTHOOKS_H */
