#!/usr/bin/env python3
"""The Pipe figures of bench/ipc_bench.c, with Python's multiprocessing.Pipe.

    python3 bench/python_ipc.py [pipe_rtt [n] | pipe_big [mib] | all]

Same work as mproc_ipc_bench: 16 bytes to an echo child and back (send_bytes / recv_bytes, median
of n after 1000), and N MiB to the child, which answers 1 byte once it has them (median of 5 after
one). Prints name<TAB>value<TAB>unit, '#' lines are notes, as mproc_bench does."""
import multiprocessing as mp
import statistics
import sys
import time


def echo(conn, other):
    # Under fork the child inherits the parent's end too: closed, so the parent's close is seen.
    if other is not None:
        other.close()
    while True:
        try:
            m = conn.recv_bytes()
        except EOFError:
            break
        conn.send_bytes(m if len(m) <= 4096 else m[:1])
    conn.close()


def start():
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, a if mp.get_start_method() == "fork" else None))
    p.start()
    b.close()
    return a, p


def pipe_rtt(n):
    a, p = start()
    m = bytes(16)
    t = []
    for i in range(-1000, n):
        t0 = time.perf_counter()
        a.send_bytes(m)
        back = a.recv_bytes()
        if i >= 0:
            t.append(time.perf_counter() - t0)
        assert back == m
    a.close()
    p.join()
    t.sort()
    print("# pipe_rtt (Python): %d samples, p10 %.1f us, p90 %.1f us"
          % (n, t[n // 10] * 1e6, t[n * 9 // 10] * 1e6))
    print("pipe_rtt\t%.1f\tus" % (t[n // 2] * 1e6))


def pipe_big(mib):
    a, p = start()
    buf = b"\x5c" * (mib << 20)
    t = []
    for k in range(-1, 5):
        t0 = time.perf_counter()
        a.send_bytes(buf)
        assert len(a.recv_bytes()) == 1
        if k >= 0:
            t.append(time.perf_counter() - t0)
    a.close()
    p.join()
    med = statistics.median(t)
    print("# pipe_big (Python): %d MiB to an echo child, its 1-byte answer; 5 runs, best %.1f ms, "
          "median %.1f ms" % (mib, min(t) * 1e3, med * 1e3))
    print("pipe_64mib\t%.1f\tMB/s" % ((mib << 20) / med / 1e6))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if what in ("all", "pipe_rtt"):
        pipe_rtt(n if n > 0 and what != "all" else 20000)
    if what in ("all", "pipe_big"):
        pipe_big(n if n > 0 and what != "all" else 64)
