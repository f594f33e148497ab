/* mproc_bench's real-work figure (work.c): zlib over large items, serial, map, imap, apply_async.
 */
#ifndef MPROC_BENCH_WORK_H
#define MPROC_BENCH_WORK_H

#include "mproc.h"

/* Items of kib KiB (count of them; 0: 24 MiB worth, at least 12) through a pool of `workers`:
 * prints the serial task time and each call's speedup over the serial loop. 0 when it ran and
 * every result matched the serial loop's (or zlib is missing: a note says so), else 1. */
int mproc_bench_fig_work(long kib, long count, int workers, double (*now)(void));

#endif
