#!/usr/bin/env python3
"""sync_bench's lock figures with Python 3's multiprocessing.Lock (bench/README.md, "Sync objects").

    python3 sync_baseline.py [lock_uncontended | lock_contended | all]

Prints the same lines as sync_bench: `name<TAB>value<TAB>unit`; notes start with '#'. The work is
the same: acquire + release with nobody else, then two processes each taking one lock N times and
adding to a shared counter under it (checked). Fewer iterations than the C program (Python's loop
costs more than the lock); the figures are per acquire + release, comparable as they stand.
"""
import multiprocessing as mp
import sys
import time

UNCONTENDED = 2_000_000
CONTENDED = 200_000


def lock_uncontended():
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    for _ in range(UNCONTENDED // 10):
        acquire()
        release()
    t = time.perf_counter()
    for _ in range(UNCONTENDED):
        acquire()
        release()
    dt = time.perf_counter() - t
    # The loop alone, to say how much of it is the interpreter.
    t = time.perf_counter()
    for _ in range(UNCONTENDED):
        pass
    loop = time.perf_counter() - t
    print(f"python_lock_uncontended\t{dt / UNCONTENDED * 1e9:.3f}\tns")
    print(f"# python_lock_uncontended: {UNCONTENDED} iterations; the empty loop takes "
          f"{loop / UNCONTENDED * 1e9:.1f} ns of it")


def _contender(lock, counter, n):
    for _ in range(n):
        with lock:
            counter.value += 1


def lock_contended():
    lock = mp.Lock()
    counter = mp.Value("l", 0, lock=False)
    procs = [mp.Process(target=_contender, args=(lock, counter, CONTENDED)) for _ in range(2)]
    t = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    dt = time.perf_counter() - t
    if counter.value != 2 * CONTENDED:
        sys.exit(f"lost updates: {counter.value} of {2 * CONTENDED}")
    print(f"python_lock_contended\t{dt / (2 * CONTENDED) * 1e9:.3f}\tns")
    print(f"# python_lock_contended: 2 processes x {CONTENDED} acquire+release (the counter "
          f"checked); the time includes the two starts")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("lock_uncontended", "all"):
        lock_uncontended()
    if what in ("lock_contended", "all"):
        lock_contended()
