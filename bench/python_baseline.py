#!/usr/bin/env python3
"""The figures of mproc_bench, measured with Python 3's multiprocessing.

    python3 python_baseline.py list
    python3 python_baseline.py all                 every figure, each in a fresh interpreter
    python3 python_baseline.py FIGURE [N [CHUNK]]  one figure in this interpreter

Prints the same lines as mproc_bench: `name<TAB>value<TAB>unit`, notes start with '#'. The work
is the same as the C program's: the same pool size (2), the same trivial task (it returns its
argument), the same warm-up, the same counts unless a figure's default says otherwise (each such
case is said in a note). Rates are per second, so a figure measured on fewer items is comparable
as it stands: nothing is scaled by hand.

Python's own defaults are used everywhere: the default start method (fork on Linux before
Python 3.14), Pool's own chunksize rule for map(chunksize=None), imap's chunksize=1.
"""
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import time
import zlib

WORKERS = 2


def echo(x):
    """def f(x): return x, as mproc_bench's echo_task."""
    return x


_BIG = None


def big_init(n):
    """The pool initializer: the big result made once per worker, as mproc_bench's big_init."""
    global _BIG
    _BIG = b"x" * n


def big(n):
    """Returns the bytes big_init made, as mproc_bench's big_task."""
    if _BIG is None or len(_BIG) != n:
        raise ValueError("big_init did not run")
    return _BIG


def noop():
    pass


def emit(name, value, unit):
    print(f"{name}\t{value:.3f}\t{unit}", flush=True)


def note(text):
    print(f"# {text}", flush=True)


def quantile(sorted_v, q):
    return sorted_v[min(len(sorted_v) - 1, int(q * (len(sorted_v) - 1) + 0.5))]


def warm_pool(pool, n):
    for i in range(n):
        if pool.apply(echo, (i,)) != i:
            raise SystemExit("warm-up apply gave a wrong result")


def fig_apply_async(n, _arg2):
    count = 0
    total = 0

    def cb(r):
        nonlocal count, total
        count += 1
        total += r

    errors = []
    pool = mp.Pool(WORKERS)
    warm_pool(pool, 200)
    t0 = time.perf_counter()
    for i in range(n):
        pool.apply_async(echo, (i,), callback=cb, error_callback=errors.append)
    pool.close()
    pool.join()
    t1 = time.perf_counter()
    if count != n or errors or total != n * (n - 1) // 2:
        raise SystemExit(f"apply_async: {count} callbacks, {len(errors)} errors")
    note(f"apply_async: {n} tasks in {t1 - t0:.3f} s (submit all, close, join; callbacks counted)")
    emit("apply_async", n / (t1 - t0), "tasks/s")


def pin_to(cpu):
    """A Pool initializer too: the calling process on one CPU (Linux)."""
    os.sched_setaffinity(0, {cpu})


def fig_apply(n, _arg2, pin=None):
    """pin: None, or (the caller's CPU, the workers' CPU), as mproc_bench's _1cpu and _2cpu."""
    name = "apply" if pin is None else ("apply_1cpu" if pin[0] == pin[1] else "apply_2cpu")
    if pin is not None:
        pin_to(pin[0])
    init, initargs = (None, ()) if pin is None else (pin_to, (pin[1],))
    with mp.Pool(WORKERS, initializer=init, initargs=initargs) as pool:
        warm_pool(pool, 500)
        t = []
        for i in range(n):
            t0 = time.perf_counter()
            r = pool.apply(echo, (i,))
            t.append(time.perf_counter() - t0)
            if r != i:
                raise SystemExit("apply gave a wrong result")
    t.sort()
    note(f"{name}: {n} calls after 500 warm-up; p10 {quantile(t, .1) * 1e6:.1f} us, "
         f"p90 {quantile(t, .9) * 1e6:.1f} us, p99 {quantile(t, .99) * 1e6:.1f} us")
    emit(name, statistics.median(t) * 1e6, "us")


def fig_apply_1cpu(n, arg2):
    fig_apply(n, arg2, (0, 0))


def fig_apply_2cpu(n, arg2):
    fig_apply(n, arg2, (0, 1))


def map_figure(name, n, chunksize):
    items = list(range(n))
    with mp.Pool(WORKERS) as pool:
        warm_pool(pool, 200)
        pool.map(echo, items[:1000], chunksize)
        t0 = time.perf_counter()
        res = pool.map(echo, items, chunksize)
        t1 = time.perf_counter()
    if res != items:
        raise SystemExit(f"{name}: wrong results")
    rule = "1" if chunksize else "None = Python's rule, count/(4*workers) rounded up"
    note(f"{name}: {n} items in {t1 - t0:.3f} s (chunksize {rule})")
    emit(name, n / (t1 - t0), "items/s")


def fig_map_chunk1(n, _arg2):
    map_figure("map_chunk1", n, 1)


def fig_map_auto(n, _arg2):
    map_figure("map_auto", n, None)


def process_figure(name, method, n):
    ctx = mp.get_context(method)
    t = []
    warm = 10 if method == "fork" else 3
    for i in range(-warm, n):
        t0 = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        t1 = time.perf_counter()
        if p.exitcode != 0:
            raise SystemExit(f"{name}: exit code {p.exitcode}")
        p.close()
        if i >= 0:
            t.append(t1 - t0)
    t.sort()
    note(f"{name}: Process(target=noop) start+join, {n} runs after {warm} warm-up; "
         f"p10 {quantile(t, .1) * 1e6:.1f} us, p90 {quantile(t, .9) * 1e6:.1f} us")
    emit(name, statistics.median(t) * 1e6, "us")


def fig_process_fork(n, _arg2):
    process_figure("process_fork", "fork", n)


def fig_process_fork_1cpu(n, _arg2):
    pin_to(0)  # the children start on the parent's CPU
    process_figure("process_fork_1cpu", "fork", n)


def fig_process_spawn(n, _arg2):
    process_figure("process_spawn", "spawn", n)


def fig_pool_lifecycle(n, _arg2):
    t = []
    for i in range(-3, n):
        t0 = time.perf_counter()
        pool = mp.Pool(WORKERS)
        r = pool.apply(echo, (7,))
        pool.close()
        pool.join()
        t1 = time.perf_counter()
        if r != 7:
            raise SystemExit("pool_lifecycle: wrong result")
        if i >= 0:
            t.append(t1 - t0)
    t.sort()
    note(f"pool_lifecycle: Pool({WORKERS}) -> apply -> close -> join, {n} runs; "
         f"p10 {quantile(t, .1) * 1e3:.3f} ms, p90 {quantile(t, .9) * 1e3:.3f} ms")
    emit("pool_lifecycle", statistics.median(t) * 1e3, "ms")


def fig_result_64mib(n, _arg2):
    size = n << 20
    t = []
    with mp.Pool(WORKERS, initializer=big_init, initargs=(size,)) as pool:
        warm_pool(pool, 20)
        for i in range(-2, 5):
            t0 = time.perf_counter()
            r = pool.apply(big, (size,))
            t1 = time.perf_counter()
            if len(r) != size or r[0] != ord("x") or r[-1] != ord("x"):
                raise SystemExit("result_64mib: wrong result")
            del r
            if i >= 0:
                t.append(t1 - t0)
    med = statistics.median(t)
    note(f"result_64mib: apply of a task returning {n} MiB (made once per worker by the pool "
         f"initializer); median {med * 1e3:.1f} ms of 5 after 2 warm-up")
    emit("result_64mib", n / med, "MiB/s")


WORK_LEVEL = 1
BLOCK = 65536


def make_block():
    """mproc_bench's work.c block: 64 KiB of letters a-p from a 32-bit xorshift."""
    x = 0x9E3779B9
    out = bytearray(BLOCK)
    for j in range(BLOCK):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[j] = 97 + (x & 15)
    return bytes(out)


def make_item(block, size, i):
    """The block repeated to size bytes, rotated by i * 4099 bytes, as work.c's make_item."""
    k = (i * 4099) % BLOCK
    rot = block[k:] + block[:k]
    return (rot * (size // BLOCK + 1))[:size]


def work(b):
    return zlib.compress(b, WORK_LEVEL)


def serial_pass(items, want):
    """The serial loop; only the compress calls timed. Fills want on the first pass."""
    t = 0.0
    for i, x in enumerate(items):
        t0 = time.perf_counter()
        r = work(x)
        t += time.perf_counter() - t0
        if len(want) <= i:
            want.append(r)
        elif r != want[i]:
            raise SystemExit(f"work: serial result {i} differs")
    return t


WORK_REPS = 3  # as work.c: each call timed 3 times, each back to back with a serial pass


def fig_work(kib, count):
    """As mproc_bench's work: each call WORK_REPS times, each time next to a serial pass (the
    order turning from one repetition to the next); a speedup is the median of the ratios."""
    size = kib << 10
    n = count if count > 0 else max(12, 24576 // kib)
    block = make_block()
    items = [make_item(block, size, i) for i in range(n)]
    want = []
    names = ("map", "imap", "apply_async")
    keys = ("map", "imap", "async")

    def call(pool, c):
        t0 = time.perf_counter()
        if c == 0:
            if pool.map(work, items, 1) != want:
                raise SystemExit("work: map results differ")
        elif c == 1:
            for i, r in enumerate(pool.imap(work, items, 1)):
                if r != want[i]:
                    raise SystemExit(f"work: imap result {i} differs")
        else:
            handles = [pool.apply_async(work, (x,)) for x in items]
            for i, h in enumerate(handles):
                if h.get() != want[i]:
                    raise SystemExit(f"work: apply_async result {i} differs")
        return time.perf_counter() - t0

    ser = [[0.0] * WORK_REPS for _ in names]
    par = [[0.0] * WORK_REPS for _ in names]
    with mp.Pool(WORKERS) as pool:
        pool.map(work, items[:WORKERS], 1)
        serial_pass(items, want)
        for k in range(WORK_REPS):
            for c in range(len(names)):
                for step in range(2):
                    if (step + k + c) % 2 == 0:
                        ser[c][k] = serial_pass(items, want)
                    else:
                        par[c][k] = call(pool, c)
    note(f"work {kib}k: {n} items of {kib} KiB, zlib level {WORK_LEVEL}, {WORKERS} workers, "
         f"chunksize 1, {WORK_REPS} repetitions of (serial, call) in turned orders")
    for c, name in enumerate(names):
        note(f"work {kib}k {name}: " + "; ".join(
            f"serial {ser[c][k]:.3f} s, call {par[c][k]:.3f} s" for k in range(WORK_REPS)))
    emit(f"work_task_ms_{kib}k", statistics.median(sum(ser, [])) / n * 1e3, "ms")
    for c, key in enumerate(keys):
        emit(f"work_{key}_{kib}k",
             statistics.median(ser[c][k] / par[c][k] for k in range(WORK_REPS)), "x")


def count(b):
    """mproc_bench's arg_task: checks the ends, returns the length."""
    if b[0] != ord("y") or b[-1] != ord("y"):
        raise ValueError("bad argument")
    return len(b)


def fig_arg_64mib(n, _arg2):
    size = n << 20
    big_arg = b"y" * size
    t = []
    with mp.Pool(WORKERS) as pool:
        warm_pool(pool, 20)
        for i in range(-2, 5):
            t0 = time.perf_counter()
            r = pool.apply(count, (big_arg,))
            t1 = time.perf_counter()
            if r != size:
                raise SystemExit("arg_64mib: wrong result")
            if i >= 0:
                t.append(t1 - t0)
    med = statistics.median(t)
    note(f"arg_64mib: apply of a {n} MiB argument; median {med * 1e3:.1f} ms of 5 after 2 warm-up")
    emit("arg_64mib", n / med, "MiB/s")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fig_imap(n, chunksize):
    before = peak_rss_mib()
    # The items as Python programs write them: a lazy range, nothing held (the C program's array
    # of ints is the caller's 4 bytes per item; mproc_bench reports its growth beyond it).
    items = range(n)
    with mp.Pool(WORKERS) as pool:
        t0 = time.perf_counter()
        i = 0
        for r in pool.imap(echo, items, chunksize):
            if r != i:
                raise SystemExit(f"imap: result {i} is {r}")
            i += 1
        t1 = time.perf_counter()
    if i != n:
        raise SystemExit(f"imap: {i} results for {n} items")
    peak = peak_rss_mib()
    note(f"imap: {n} items, chunksize {chunksize}, in {t1 - t0:.3f} s")
    emit("imap", n / (t1 - t0), "items/s")
    note(f"imap RSS: {before:.1f} MiB at start (the interpreter), peak {peak:.1f} MiB")
    emit("imap_peak_rss", peak, "MiB")
    emit("imap_rss_growth", peak - before, "MiB")


# name: (function, default count, default second argument, why the count differs from the C one)
FIGURES = {
    "apply_async": (fig_apply_async, 200000, 0, None),
    "apply": (fig_apply, 5000, 0, None),
    "apply_1cpu": (fig_apply_1cpu, 5000, 0, None),
    "apply_2cpu": (fig_apply_2cpu, 5000, 0, None),
    "map_chunk1": (fig_map_chunk1, 100000, 0,
                   "Python's map with chunksize 1 runs over 100k items, not 1M (~12 s here); "
                   "the rate per second is compared as it is, nothing scaled"),
    "map_auto": (fig_map_auto, 1000000, 0, None),
    "process_fork": (fig_process_fork, 200, 0, None),
    "process_fork_1cpu": (fig_process_fork_1cpu, 200, 0, None),
    "process_spawn": (fig_process_spawn, 50, 0,
                      "Python's spawn start+join: median of 50 runs, not 200 (each is a new "
                      "interpreter, ~0.4 s here)"),
    "pool_lifecycle": (fig_pool_lifecycle, 50, 0, None),
    "result_64mib": (fig_result_64mib, 64, 0, None),
    "arg_64mib": (fig_arg_64mib, 64, 0, None),
    "work": (fig_work, 1024, 0, None),
    "imap": (fig_imap, 1000000, 1,
             "Python's imap (chunksize 1, its default) runs over 1M items, not 10M (~50 s "
             "here); its rate per second is compared as it is, its RSS is for 1M items"),
}


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "list":
        for name, (_f, n, _a, why) in FIGURES.items():
            print(f"{name:22} {n:9}  {why or ''}")
        return 0
    if argv[1] == "all":
        note(f"Python {sys.version.split()[0]}, start method {mp.get_start_method()}, "
             f"{WORKERS} workers per pool, {os.cpu_count()} CPUs")
        bad = 0
        for name in FIGURES:
            sys.stdout.flush()
            bad |= subprocess.call([sys.executable, os.path.abspath(__file__), name]) != 0
        return 1 if bad else 0
    if argv[1] not in FIGURES:
        print(__doc__, file=sys.stderr)
        return 2
    fn, n, arg2, why = FIGURES[argv[1]]
    if len(argv) > 2:
        n = int(argv[2])
    if len(argv) > 3:
        arg2 = int(argv[3])
    if why and len(argv) <= 2:
        note(f"count: {why}")
    fn(n, arg2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
