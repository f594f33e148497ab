#!/usr/bin/env python3
"""Turns bench/run.sh's results into the table of bench/README.md.

    table.py RESULTS_DIR

RESULTS_DIR holds r1/, r2/, ... (one per round, each with mproc.tsv and python.tsv), once/ (the
figures taken once), optionally wine.tsv, load.tsv (round, figure, load average before it) and
meta.txt. Each .tsv holds `name<TAB>value<TAB>unit` lines (FAILED or TIMEOUT for a figure that
did not finish) and `#` notes; `# count: ...` notes are repeated under the table.

Every ratio (mproc against Python, against its floor) is taken inside a round, where the three
ran back to back; a cell shows the median across rounds and, in brackets, the lowest and highest
round. A target is met when the median of its rounds meets it ("every round" targets: when each
round does); the met column says in how many rounds it was met. Also writes RESULTS_DIR/speedup.dat,
the plot's data (task time against speedup, for mproc and Python).
"""
import glob
import os
import statistics
import sys


def load_tsv(path):
    figs, notes = {}, []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# count:"):
                    notes.append(line[len("# count:"):].strip())
                    continue
                if not line or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) < 2:
                    continue
                try:
                    figs[parts[0]] = float(parts[1])
                except ValueError:
                    figs.setdefault(parts[0], parts[1])  # FAILED / TIMEOUT
    except OSError:
        pass
    return figs, notes


def fmt(v, unit):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if unit in ("tasks/s", "items/s", "msgs/s"):
        return f"{v:,.0f}"
    if unit == "us":
        return f"{v:,.1f}" if v < 10000 else f"{v:,.0f}"
    if unit == "x":
        return f"{v:.2f}"
    return f"{v:,.1f}" if v < 1000 else f"{v:,.0f}"


def cell(vals, unit, suffix=""):
    """median [low-high] of the rounds' numbers; the failure text when a round failed."""
    bad = [v for v in vals if isinstance(v, str)]
    nums = [v for v in vals if isinstance(v, float)]
    if not nums:
        return bad[0] if bad else "n/a"
    m = statistics.median(nums)
    s = fmt(m, unit) + suffix
    if len(nums) > 1:
        s += f" [{fmt(min(nums), unit)}-{fmt(max(nums), unit)}]"
    if bad:
        s += f" ({len(bad)} {bad[0]})"
    return s


UNIT_TEXT = {"us": "µs", "ms": "ms", "tasks/s": "tasks/s", "items/s": "items/s",
             "msgs/s": "msgs/s", "MiB/s": "MiB/s", "MiB": "MiB", "x": "x"}

GB2 = 2048.0  # 2 GB/s, in MiB/s as the figures are


def work_rows():
    rows = []
    for kib in (64, 256, 1024, 4096):
        # The machine's ceiling: the same work in 2 forked processes, nothing passed (work.c).
        rows.append((f"work_floor_{kib}k", f"zlib {kib} KiB items, no-IPC floor: 2 processes, "
                     "speedup over serial", "x", True, None, "—", False, None))
        for call, label in (("map", "map"), ("imap", "imap"), ("async", "apply_async")):
            name = f"work_{call}_{kib}k"
            target = kib >= 256  # 64 KiB tasks take ~2 ms: below the 5-50 ms of the target
            rows.append((name, f"zlib {kib} KiB items, {label}, speedup over serial", "x", True,
                         f"work_floor_{kib}k", ">= Python and >= 1.9x" if target else "—", False,
                         (lambda m, p, f: None if None in (m, p) else (m >= p and m >= 1.9))
                         if target else None))
    return rows


# name, label, unit, higher is better, floor figure, target text, every round?, check(m, p, f)
ROWS = [
    ("apply_async", "pool(2) apply_async, trivial tasks", "tasks/s", True,
     "floor_pipe_pipelined", ">= 100x Python and > floor, every round", True,
     lambda m, p, f: None if None in (m, p, f) else (m / p >= 100 and m > f)),
    # Unpinned, the two sides share a CPU in some runs and not in others, the floor's and
    # mproc's runs each their own way: the target is checked on the pinned rows below.
    ("apply", "pool(2) apply round trip (median), unpinned", "us", False, "floor_pipe_rtt",
     "—", False, None),
    ("apply_1cpu", "pool(2) apply round trip (median), caller and workers on CPU 0", "us",
     False, "floor_pipe_rtt_1cpu", "<= 1.5x floor", False,
     lambda m, p, f: None if None in (m, f) else m / f <= 1.5),
    ("apply_2cpu", "pool(2) apply round trip (median), caller on CPU 0, workers on CPU 1", "us",
     False, "floor_pipe_rtt_2cpu", "<= 1.5x floor", False,
     lambda m, p, f: None if None in (m, f) else m / f <= 1.5),
    ("map_chunk1", "map 1M ints, chunksize 1", "items/s", True, None, ">= 20x Python", False,
     lambda m, p, f: None if None in (m, p) else m / p >= 20),
    ("map_auto", "map 1M ints, automatic chunksize", "items/s", True, None, ">= Python", False,
     lambda m, p, f: None if None in (m, p) else m >= p),
    # Unpinned, a fork's child runs on the parent's CPU in some runs and on the other in
    # others, and the parent's wait then ends with a wake-up of a halted CPU: the round medians
    # of the floor spread over 75-105 us, mproc's over 90-170. The pinned row checks.
    ("process_fork", "process start+join, fork (median), unpinned", "us", False, "floor_fork",
     "—", False, None),
    ("process_fork_1cpu", "process start+join, fork (median), parent and child on CPU 0", "us",
     False, "floor_fork_1cpu", "<= 1.2x floor, every round", True,
     lambda m, p, f: None if None in (m, f) else m / f <= 1.2),
    # The same against a bare fork that makes the system calls mproc's start and join make
    # (the report pipe, the signal mask, the pidfd, poll, waitid): what the library's own code
    # adds beyond what its guarantees cost.
    ("process_fork_1cpu", "process start+join, fork, CPU 0, against the same system calls made bare",
     "us", False, "floor_fork_calls_1cpu", "—", False, None),
    ("process_spawn", "process start+join, spawn (median)", "us", False, "floor_posix_spawn",
     "<= 1.3x floor", False, lambda m, p, f: None if None in (m, f) else m / f <= 1.3),
    ("pool_lifecycle", "pool(2) create -> first result -> close+join (median)", "ms", False,
     None, "<= 2 ms", False, lambda m, p, f: None if m is None else m <= 2.0),
    ("result_64mib", "64 MiB result through apply", "MiB/s", True, "floor_memcpy_64mib",
     ">= 2 GB/s", False, lambda m, p, f: None if m is None else m >= GB2),
    ("arg_64mib", "64 MiB argument through apply", "MiB/s", True, "floor_pipe_64mib",
     ">= 2 GB/s", False, lambda m, p, f: None if m is None else m >= GB2),
] + work_rows()

ONCE_ROWS = [
    ("imap", "imap, chunksize 1 (10M items for mproc, 200k for Python)", "items/s", True, None,
     "—", False, None),
    ("imap_peak_rss", "imap: parent's peak RSS, incl. the 38 MiB items array", "MiB", False,
     None, "< 64 MiB", False, lambda m, p, f: None if m is None else m < 64.0),
    ("imap_rss_growth", "imap: peak RSS growth beyond the items array", "MiB", False, None, "—",
     False, None),
]

WINE_ROWS = [
    ("process_spawn", "process start+join, spawn (median)", "us", False, "floor_createprocess",
     "<= 1.3x floor", False, lambda m, p, f: None if None in (m, f) else m / f <= 1.3),
    ("apply_async", "pool(2) apply_async, trivial tasks", "tasks/s", True, None, "—", False, None),
    ("apply", "pool(2) apply round trip (median)", "us", False, "floor_pipe_rtt",
     "<= 1.2x floor", False, lambda m, p, f: None if None in (m, f) else m / f <= 1.2),
    ("map_auto", "map 1M ints, automatic chunksize", "items/s", True, None, "—", False, None),
    ("pool_lifecycle", "pool(2) create -> first result -> close+join (median)", "ms", False,
     None, "—", False, None),
    ("result_64mib", "64 MiB result through apply", "MiB/s", True, "floor_memcpy_64mib",
     ">= 2 GB/s", False, lambda m, p, f: None if m is None else m >= GB2),
    ("arg_64mib", "64 MiB argument through apply", "MiB/s", True, "floor_memcpy_64mib",
     ">= 2 GB/s", False, lambda m, p, f: None if m is None else m >= GB2),
]

FLOOR_UNITS = {**{f"work_floor_{kib}k": "x" for kib in (64, 256, 1024, 4096)},
               "floor_pipe_pipelined": "msgs/s", "floor_pipe_rtt": "us", "floor_fork": "us",
               "floor_fork_1cpu": "us", "floor_fork_calls_1cpu": "us",
               "floor_pipe_rtt_1cpu": "us", "floor_pipe_rtt_2cpu": "us",
               "floor_posix_spawn": "us", "floor_pipe_64mib": "MiB/s",
               "floor_memcpy_64mib": "MiB/s", "floor_createprocess": "us"}


def num(v):
    return v if isinstance(v, float) else None


def vs_python(m, p, higher, unit):
    if m is None or p is None or m == 0 or p == 0:
        return None
    if unit == "x":
        return m / p  # speedups: mproc's over Python's
    return m / p if higher else p / m


def vs_floor(m, f, higher):
    if m is None or f is None or f == 0:
        return None
    return m / f


def table(rows, rounds, title, misses, loads, with_python=True):
    head = ["figure", "mproc"] + (["Python", "mproc vs Python"] if with_python else []) + \
        ["OS floor", "mproc vs floor", "target", "met?", "load"]
    out = [f"### {title}", "", "| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for name, label, unit, higher, floor, target, every, check in rows:
        mv = [r[0].get(name) for r in rounds]
        if all(v is None for v in mv):
            continue
        pv = [r[1].get(name) for r in rounds]
        fv = [r[0].get(floor) if floor else None for r in rounds]
        ratios_p = [vs_python(num(m), num(p), higher, unit) for m, p in zip(mv, pv)]
        ratios_f = [vs_floor(num(m), num(f), higher) for m, f in zip(mv, fv)]
        verdicts = [check(num(m), num(p), num(f)) if check else None
                    for m, p, f in zip(mv, pv, fv)]
        known = [v for v in verdicts if v is not None]
        if check is None or target == "—":
            met = "—"
            ok = None
        elif not known:
            met = "?"
            ok = None
        else:
            k = sum(1 for v in known if v)
            if every:
                ok = k == len(known)
            else:
                med = lambda vs: statistics.median([v for v in vs if v is not None]) \
                    if any(v is not None for v in vs) else None
                ok = check(med([num(v) for v in mv]), med([num(v) for v in pv]),
                           med([num(v) for v in fv]))
                ok = bool(ok) if ok is not None else None
            met = ("yes" if ok else "**NO**") + f" ({k}/{len(known)})"
        if any(isinstance(v, str) for v in mv):
            bad = next(v for v in mv if isinstance(v, str))
            misses.append(f"{title}: {name} did not give a figure in every round: {bad}")
        u = UNIT_TEXT.get(unit, unit)
        cells = [label, cell(mv, unit, " " + u)]
        if with_python:
            rp = [r for r in ratios_p if r is not None]
            cells += [cell(pv, unit, " " + u),
                      cell(rp, "x", "x") if rp else "—"]
        rf = [r for r in ratios_f if r is not None]
        cells += [(cell(fv, FLOOR_UNITS[floor], " " + UNIT_TEXT[FLOOR_UNITS[floor]]) +
                   f" ({floor})") if floor else "—",
                  (cell(rf, "x", "x") if rf else "—") if floor else "—", target, met,
                  loads.get(name, "?")]
        out.append("| " + " | ".join(cells) + " |")
        if ok is False:
            k = sum(1 for v in known if v)
            misses.append(f"{title}: {name} ({label}): target {target} missed, met in {k} of "
                          f"{len(known)} rounds; median mproc {cell(mv, unit, ' ' + u)}" +
                          (f", vs Python {cell([r for r in ratios_p if r], 'x', 'x')}"
                           if with_python and any(ratios_p) else "") +
                          (f", vs floor {cell(rf, 'x', 'x')}" if floor and rf else ""))
    return out


def load_loads(path):
    """figure -> "low-high" of the load averages recorded before it (all rounds)."""
    by = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    try:
                        key = parts[1] if parts[0] != "wine" else "wine:" + parts[1]
                        by.setdefault(key, []).append(float(parts[2]))
                    except ValueError:
                        pass
    except OSError:
        pass
    out = {k: (f"{min(v):.1f}-{max(v):.1f}" if min(v) != max(v) else f"{v[0]:.1f}")
           for k, v in by.items()}
    # The work rows and the imap extras come with their figure.
    for k in list(out):
        if k == "work":
            for kib in (64, 256, 1024, 4096):
                for call in ("floor", "map", "imap", "async"):
                    out[f"work_{call}_{kib}k"] = out[k]
        if k == "imap":
            out["imap_peak_rss"] = out["imap_rss_growth"] = out[k]
    return out


def speedup_dat(rounds, path):
    lines = ["# kib task_ms(mproc) mproc_map mproc_imap mproc_async task_ms(python) "
             "python_map python_imap python_async floor (medians of the rounds)"]
    for kib in (64, 256, 1024, 4096):
        row = [str(kib)]
        for side in (0, 1):
            for key in ("work_task_ms", "work_map", "work_imap", "work_async"):
                vals = [num(r[side].get(f"{key}_{kib}k")) for r in rounds]
                vals = [v for v in vals if v is not None]
                row.append(f"{statistics.median(vals):.3f}" if vals else "NaN")
        vals = [num(r[0].get(f"work_floor_{kib}k")) for r in rounds]
        vals = [v for v in vals if v is not None]
        if "NaN" not in row:
            row.append(f"{statistics.median(vals):.3f}" if vals else "NaN")
            lines.append(" ".join(row))
    if len(lines) > 1:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        print(__doc__, file=sys.stderr)
        return 2
    d = argv[1]
    rdirs = sorted(glob.glob(os.path.join(d, "r[0-9]*")), key=lambda p: int(p.rsplit("r", 1)[1]))
    rounds, notes = [], []
    for rd in rdirs:
        m, mn = load_tsv(os.path.join(rd, "mproc.tsv"))
        p, pn = load_tsv(os.path.join(rd, "python.tsv"))
        rounds.append((m, p))
        for n in mn + pn:
            if n not in notes:
                notes.append(n)
    once_m, n1 = load_tsv(os.path.join(d, "once", "mproc.tsv"))
    once_p, n2 = load_tsv(os.path.join(d, "once", "python.tsv"))
    loads = load_loads(os.path.join(d, "load.tsv"))
    misses = []
    lines = table(ROWS, rounds, f"Linux, {len(rounds)} rounds", misses, loads)
    lines += [""] + table(ONCE_ROWS, [(once_m, once_p)], "Linux, taken once", misses, loads)
    try:
        with open(os.path.join(d, "meta.txt"), encoding="utf-8") as f:
            meta = [ln[2:].strip() for ln in f if ln.startswith("# ")]
    except OSError:
        meta = []
    lines += [""] + [f"- {n}" for n in meta + notes + n1 + n2]
    wine = os.path.join(d, "wine.tsv")
    if os.path.exists(wine):
        wf, wn = load_tsv(wine)
        wloads = {k[5:]: v for k, v in loads.items() if k.startswith("wine:")}
        lines += [""] + table(WINE_ROWS, [(wf, {})], "Windows build under Wine, one round",
                              misses, wloads, with_python=False)
        lines += [""] + [f"- {n}" for n in wn]
    lines += ["", "### Targets missed", ""]
    lines += [f"- {m}" for m in misses] if misses else ["- none"]
    print("\n".join(lines))
    speedup_dat(rounds, os.path.join(d, "speedup.dat"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
