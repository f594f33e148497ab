#!/usr/bin/env python3
"""Turns the lines of mproc_bench and python_baseline.py into the table of bench/README.md.

    table.py MPROC.tsv PYTHON.tsv [WINE.tsv]

Each input holds `name<TAB>value<TAB>unit` lines (a value of FAILED or TIMEOUT marks a figure
that did not finish) and `#` notes; notes of the form `# count: ...`, `# machine: ...`,
`# load: ...` and `# mproc ...` are repeated under the table. Prints Markdown: the Linux table, the Windows-under-Wine table when WINE.tsv is given,
then the targets missed and by how much.
"""
import sys


def load(path):
    figs, counts = {}, []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("# count:"):
                    counts.append(line[len("# count:"):].strip())
                    continue
                if line.startswith(("# machine:", "# load:", "# mproc ")):
                    counts.append(line[2:].strip())
                    continue
                if not line or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) < 2:
                    continue
                try:
                    figs[parts[0]] = float(parts[1])
                except ValueError:
                    figs[parts[0]] = parts[1]  # FAILED / TIMEOUT
    except OSError:
        pass
    return figs, counts


def num(v, unit):
    if isinstance(v, str):
        return v
    if v is None:
        return "n/a"
    if unit in ("tasks/s", "items/s", "msgs/s"):
        return f"{v:,.0f} {unit}"
    if unit == "us":
        return f"{v:,.1f} µs" if v < 10000 else f"{v / 1000:,.1f} ms"
    return f"{v:,.1f} {unit}" if v < 1000 else f"{v:,.0f} {unit}"


def val(figs, name):
    v = figs.get(name)
    return v if isinstance(v, float) else None


# figure, label, unit, higher is better, floor figure, target text, check(m, py, floor) -> ok or
# None, and a sentence for a miss.
ROWS = [
    ("apply_async", "pool(2) apply_async, 200k trivial tasks", "tasks/s", True,
     "floor_pipe_pipelined", ">= 50x Python and >= 40 % of floor",
     lambda m, p, f: None if None in (m, p, f) else (m / p >= 50 and m / f >= 0.40)),
    ("apply", "pool(2) apply round trip (median)", "us", False, "floor_pipe_rtt",
     "<= 1.5x floor", lambda m, p, f: None if None in (m, f) else m / f <= 1.5),
    ("map_chunk1", "map 1M ints, chunksize 1", "items/s", True, None, ">= 20x Python",
     lambda m, p, f: None if None in (m, p) else m / p >= 20),
    ("map_auto", "map 1M ints, automatic chunksize", "items/s", True, None, ">= Python",
     lambda m, p, f: None if None in (m, p) else m >= p),
    ("process_fork", "process start+join, fork (median)", "us", False, "floor_fork",
     "<= 1.3x floor", lambda m, p, f: None if None in (m, f) else m / f <= 1.3),
    ("process_spawn", "process start+join, spawn (median)", "us", False, "floor_posix_spawn",
     "<= 1.3x floor", lambda m, p, f: None if None in (m, f) else m / f <= 1.3),
    ("pool_lifecycle", "pool(2) create -> first result -> close+join (median)", "ms", False, None,
     "<= 2 ms", lambda m, p, f: None if m is None else m <= 2.0),
    ("result_64mib", "64 MiB result through apply", "MiB/s", True, "floor_pipe_64mib", "—",
     lambda m, p, f: None),
    ("imap", "imap, chunksize 1 (10M items for mproc)", "items/s", True, None, "—",
     lambda m, p, f: None),
    ("imap_peak_rss", "imap: parent's peak RSS, incl. the 38 MiB items array", "MiB", False, None,
     "< 64 MiB", lambda m, p, f: None if m is None else m < 64.0),
    ("imap_rss_growth", "imap: peak RSS growth beyond the items array", "MiB", False, None, "—",
     lambda m, p, f: None),
]

WINE_ROWS = [
    ("process_spawn", "process start+join, spawn (median)", "us", False, "floor_createprocess",
     "<= 1.3x floor", lambda m, p, f: None if None in (m, f) else m / f <= 1.3),
    ("apply_async", "pool(2) apply_async, trivial tasks", "tasks/s", True, None, "—",
     lambda m, p, f: None),
    ("apply", "pool(2) apply round trip (median)", "us", False, None, "—", lambda m, p, f: None),
    ("map_auto", "map 1M ints, automatic chunksize", "items/s", True, None, "—",
     lambda m, p, f: None),
    ("pool_lifecycle", "pool(2) create -> first result -> close+join (median)", "ms", False, None,
     "—", lambda m, p, f: None),
    ("result_64mib", "64 MiB result through apply", "MiB/s", True, None, "—",
     lambda m, p, f: None),
]

FLOOR_UNITS = {"floor_pipe_pipelined": "msgs/s", "floor_pipe_rtt": "us", "floor_fork": "us",
               "floor_posix_spawn": "us", "floor_pipe_64mib": "MiB/s",
               "floor_createprocess": "us"}


def vs_python(m, p, higher, unit):
    if m is None or p is None or m == 0 or p == 0:
        return "—"
    if unit == "MiB" and not higher:
        return f"{p / m:,.1f}x less" if m <= p else f"{m / p:,.2f}x more"
    r = m / p if higher else p / m
    return f"{r:,.1f}x faster" if r >= 1 else f"{1 / r:,.2f}x slower"


def vs_floor(m, f, higher):
    if m is None or f is None or f == 0:
        return "—"
    return f"{100 * m / f:,.0f} % of floor" if higher else f"{m / f:,.2f}x floor"


def table(rows, mfigs, pfigs, with_python, misses, title):
    head = ["figure", "mproc"] + (["Python", "mproc vs Python"] if with_python else []) + \
        ["OS floor", "mproc vs floor", "target", "met?"]
    out = [f"### {title}", "", "| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for name, label, unit, higher, floor, target, check in rows:
        m, p = val(mfigs, name), val(pfigs, name)
        f = val(mfigs, floor) if floor else None
        ok = check(m, p, f)
        met = "—" if target == "—" else ("?" if ok is None else ("yes" if ok else "**NO**"))
        if isinstance(mfigs.get(name), str):
            met = f"**{mfigs[name]}**"
            misses.append(f"{title}: {name} did not give a figure: {mfigs[name]}")
        cells = [label, num(mfigs.get(name), unit)]
        if with_python:
            cells += [num(pfigs.get(name), unit), vs_python(m, p, higher, unit)]
        cells += [num(mfigs.get(floor), FLOOR_UNITS[floor]) + f" ({floor})" if floor else "—",
                  vs_floor(m, f, higher) if floor else "—", target, met]
        out.append("| " + " | ".join(cells) + " |")
        if ok is False:
            misses.append(miss_sentence(title, name, unit, m, p, f, target))
    return out


def miss_sentence(title, name, unit, m, p, f, target):
    if name == "apply_async":
        a, b = m / p, m / f
        return (f"{title}: apply_async is {a:,.1f}x Python (target 50x: "
                f"{'met' if a >= 50 else f'missed, {50 / a:,.2f}x short'}) and {100 * b:,.0f} % "
                f"of the pipelined-pipe floor (target 40 %: {'met' if b >= 0.4 else 'missed'})")
    if name == "apply":
        return (f"{title}: apply takes {m / f:,.2f}x the raw pipe round trip (target 1.5x): "
                f"{m:,.1f} µs against {1.5 * f:,.1f} µs allowed")
    if name in ("map_chunk1", "map_auto"):
        want = 20 if name == "map_chunk1" else 1
        return f"{title}: {name} is {m / p:,.2f}x Python (target {want}x)"
    if name in ("process_fork", "process_spawn"):
        return (f"{title}: {name} takes {m / f:,.2f}x its floor (target 1.3x): {m:,.0f} µs "
                f"against {1.3 * f:,.0f} µs allowed")
    if name == "pool_lifecycle":
        return f"{title}: pool_lifecycle takes {m:,.2f} ms (target 2 ms): {m / 2:,.1f}x over"
    if name == "imap_peak_rss":
        return f"{title}: imap peak RSS {m:,.1f} MiB (target < 64 MiB)"
    return f"{title}: {name} {m} {unit} misses {target}"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mfigs, mcounts = load(argv[1])
    pfigs, pcounts = load(argv[2])
    misses = []
    lines = table(ROWS, mfigs, pfigs, True, misses, "Linux")
    notes = mcounts + pcounts
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    if len(argv) > 3:
        wfigs, wcounts = load(argv[3])
        lines += [""] + table(WINE_ROWS, wfigs, {}, False, misses, "Windows build under Wine")
        if wcounts:
            lines += [""] + [f"- {n}" for n in wcounts]
    lines += ["", "### Targets missed", ""]
    lines += [f"- {m}" for m in misses] if misses else ["- none"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
