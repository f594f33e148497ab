#!/usr/bin/env python3
"""The figures of queue_bench, measured with Python 3's multiprocessing.Queue.

    python3 queue_baseline.py [1x1|4x4|pingpong|big|all] [count]

Prints the same lines as queue_bench (`name<TAB>value<TAB>unit`, notes start with '#'), for the
same work: 64-byte bytes objects, producers that wait for a go, consumers that stop at a
sentinel (None; the C side closes its queue), a 64 MiB bytes object acknowledged by the consumer.
Python's defaults throughout (fork on Linux before 3.14).
"""
import multiprocessing as mp
import statistics
import sys
import time

MSG = 64


def producer(q, go, n):
    go.get()
    m = bytes(MSG)
    for _ in range(n):
        q.put(m)


def consumer(q, res):
    got = 0
    while True:
        m = q.get()
        if m is None:
            break
        got += 1
    res.put(got)


def fig_1x1(n):
    q, go = mp.Queue(), mp.Queue()
    p = mp.Process(target=producer, args=(q, go, n))
    p.start()
    t0 = time.perf_counter()
    go.put(b"")
    for _ in range(n):
        assert len(q.get()) == MSG
    t = time.perf_counter() - t0
    p.join()
    print(f"queue_1x1\t{n / t:.0f}\tmsgs/s\n# queue_1x1: {n} messages of {MSG} B in {t:.3f} s")


def fig_4x4(n):
    q, go, res = mp.Queue(), mp.Queue(), mp.Queue()
    cons = [mp.Process(target=consumer, args=(q, res)) for _ in range(4)]
    prod = [mp.Process(target=producer, args=(q, go, n // 4)) for _ in range(4)]
    for p in cons + prod:
        p.start()
    t0 = time.perf_counter()
    for _ in range(4):
        go.put(b"")
    for p in prod:
        p.join()
    for _ in range(4):
        q.put(None)
    total = sum(res.get() for _ in range(4))
    t = time.perf_counter() - t0
    for p in cons:
        p.join()
    assert total == n // 4 * 4
    print(f"queue_4x4\t{total / t:.0f}\tmsgs/s\n# queue_4x4: {total} messages of {MSG} B in {t:.3f} s")


def echo(a, b):
    while True:
        m = a.get()
        if m is None:
            return
        b.put(m)


def fig_pingpong(n):
    a, b = mp.Queue(), mp.Queue()
    p = mp.Process(target=echo, args=(a, b))
    p.start()
    m = bytes(MSG)
    lat = []
    for i in range(-1000, n):
        t0 = time.perf_counter()
        a.put(m)
        b.get()
        if i >= 0:
            lat.append(time.perf_counter() - t0)
    a.put(None)
    p.join()
    lat.sort()
    print(f"queue_pingpong\t{lat[n // 2] * 1e6:.1f}\tus\n# queue_pingpong: median of {n} round "
          f"trips of {MSG} B; p10 {lat[n // 10] * 1e6:.1f} us, p90 {lat[n * 9 // 10] * 1e6:.1f} us")


def sink(a, b):
    while True:
        m = a.get()
        if m is None:
            return
        b.put(b"")


def fig_big(reps):
    n = 64 << 20
    m = bytes(n)
    a, b = mp.Queue(), mp.Queue()
    p = mp.Process(target=sink, args=(a, b))
    p.start()
    ts = []
    for i in range(-1, reps):
        t0 = time.perf_counter()
        a.put(m)
        b.get()
        if i >= 0:
            ts.append(time.perf_counter() - t0)
    a.put(None)
    p.join()
    med = statistics.median(ts)
    print(f"queue_64mib\t{n / med / 1e9:.2f}\tGB/s\n# queue_64mib: median of {reps} (best "
          f"{n / min(ts) / 1e9:.2f} GB/s), each put to the consumer's ack")


def main():
    fig = sys.argv[1] if len(sys.argv) > 1 else "all"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    figs = {"1x1": (fig_1x1, 2000000), "4x4": (fig_4x4, 2000000),
            "pingpong": (fig_pingpong, 20000), "big": (fig_big, 9)}
    for name, (fn, default) in figs.items():
        if fig in ("all", name):
            fn(n or default)


if __name__ == "__main__":
    main()
