#!/usr/bin/env python3
"""One markdown table from the CSVs scripts/bench.sh writes into RESULTS_DIR.

usage: bench_table.py RESULTS_DIR [RUNTIMES...]   (default: tokio tokio-mt tokio-mt-main smol blocking)

Reads what is there of:
  matrix.csv      run-perf.sh's medians (impl,transport,test,size,count,value,unit)
  curve.csv       run-perf.sh rows of the CURVE runs, one per repetition
  downstream.csv  impl,size,count,value  (bench/downstream, one row per repetition)
  inproc.csv      impl,test,size,count,value,unit  (one row per repetition)
  fanout.csv      impl,rep,nsubs,size,count,sub_rate_median,...,pub_rate
                  (run-fanout.sh's csv lines, prefixed with the implementation)
  memory.csv      impl,what,rep,... (run-memory.sh's csv lines, prefixed)
  mixed.csv       run-perf.sh's medians of the mixed pairs: libzmq, and for each
                  runtime zmq-RT>libzmq (ours sending) and libzmq>zmq-RT (ours
                  receiving); a second table, each pair against libzmq to libzmq

Our implementations are named zmq-RUNTIME; every other name is a peer, libzmq
among them. Each of our cells shows its value and two ratios: against the best
peer of that row and against libzmq, both oriented so that above 1 means ours
is better (faster, more messages, less memory). Repetitions are reduced to
their median.
"""
import csv
import os
import statistics
import sys
from collections import defaultdict

LOWER_IS_BETTER = {"us", "kB"}


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "msg/s":
        return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k"
    if unit == "us":
        return f"{v:.1f} µs"
    if unit == "kB":
        return f"{v / 1024:.1f} MB"
    if unit == "B/conn":
        return f"{v / 1000:.1f} kB"
    return f"{v:g}"


def size_name(size):
    size = int(size)
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} B"


def rows_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.reader(f) if r and not r[0].startswith("#")]


def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


class Table:
    """Rows in order of first appearance; per row and implementation, values."""

    def __init__(self):
        self.rows = {}  # label -> (unit, {impl: [values]})
        self.notes = {}  # (label, impl) -> text appended to the value

    def add(self, label, unit, impl, value):
        v = number(value)
        if v is None:
            return
        self.rows.setdefault(label, (unit, defaultdict(list)))[1][impl].append(v)

    def note(self, label, impl, text):
        self.notes[(label, impl)] = text


def load(d):
    t = Table()
    for r in rows_of(os.path.join(d, "matrix.csv")):
        if r[0] == "impl" or len(r) < 7 or r[6] == "Mb/s":
            continue
        impl, transport, test, size, _count, value, unit = r[:7]
        test = "thr" if test == "throughput" else "lat"
        t.add(f"{transport} {test} {size_name(size)}", unit, impl, value)
    for r in rows_of(os.path.join(d, "inproc.csv")):
        if r[0] == "impl":
            continue
        impl, test, size, _count, value, unit = r[:6]
        t.add(f"inproc {test} {size_name(size)}", unit, impl, value)
    lost = defaultdict(list)
    for r in rows_of(os.path.join(d, "fanout.csv")):
        if r[0] == "impl" or len(r) < 13:
            continue
        impl, nsubs, size, count = r[0], r[2], r[3], int(r[4])
        label = f"tcp fan-out 1→{nsubs} SUB {size_name(size)}, delivered per SUB"
        t.add(label, "msg/s", impl, r[5])
        lost[(label, impl)].append(float(r[8]) / count * 100)
    for (label, impl), v in lost.items():
        t.note(label, impl, f"{statistics.median(v):.0f} % lost")
    for r in rows_of(os.path.join(d, "memory.csv")):
        if r[0] == "impl" or len(r) < 6:
            continue
        impl, what = r[0], r[1]
        if what.startswith("thr-"):
            _, size, _count = what.split("-")
            t.add(f"tcp thr {size_name(size)} receiver peak RSS", "kB", impl, r[3])
            t.add(f"tcp thr {size_name(size)} sender peak RSS", "kB", impl, r[4])
        elif what.startswith("idle-") and len(r) >= 9:
            t.add("idle connection, ROUTER side", "B/conn", impl, r[5])
            t.add("idle connection, DEALER side", "B/conn", impl, r[8])
    for r in rows_of(os.path.join(d, "curve.csv")):
        if r[0] == "impl" or len(r) < 7 or r[6] == "Mb/s":
            continue
        impl, transport, test, size, _count, value, unit = r[:7]
        test = "thr" if test == "throughput" else "lat"
        # zmq-tokio-curve -> zmq-tokio, libzmq-curve -> libzmq
        label = f"CURVE {transport} {test} {size_name(size)} (workspace build)"
        t.add(label, unit, impl.removesuffix("-curve"), value)
    for r in rows_of(os.path.join(d, "downstream.csv")):
        if r[0] == "impl":
            continue
        impl, size, _count, value = r[:4]
        t.add(f"CURVE tcp thr {size_name(size)} (downstream crate, no flags)", "msg/s", impl, value)
    # The downstream rows compare with the same run's libzmq over CURVE, and
    # say what the build without the workspace's flags costs.
    for label in list(t.rows):
        if not label.endswith("(downstream crate, no flags)"):
            continue
        ws = t.rows.get(label.replace("(downstream crate, no flags)", "(workspace build)"))
        if not ws:
            continue
        for v in ws[1].get("libzmq", []):
            t.add(label, "msg/s", "libzmq", v)
        for impl, vals in t.rows[label][1].items():
            if impl in ws[1] and impl != "libzmq":
                r = statistics.median(vals) / statistics.median(ws[1][impl])
                t.note(label, impl, f"{r:.2f}× the workspace build")
    return t


def better(unit):
    return min if unit in LOWER_IS_BETTER or unit == "B/conn" else max


def ratio(ours, theirs, unit):
    if ours is None or theirs is None or ours == 0 or theirs == 0:
        return None
    return theirs / ours if unit in LOWER_IS_BETTER or unit == "B/conn" else ours / theirs


def render(t, runtimes):
    ours = [f"zmq-{rt}" for rt in runtimes]
    head = ["cell", "libzmq", "best peer"] + [f"ours, {rt}" for rt in runtimes]
    out = [
        "| " + " | ".join(head) + " |",
        "| --- | ---: | ---: |" + " ---: |" * len(runtimes),
    ]
    for label, (unit, values) in t.rows.items():
        med = {impl: statistics.median(v) for impl, v in values.items()}
        peers = {impl: v for impl, v in med.items() if impl not in ours}
        best_name = better(unit)(peers, key=peers.get) if peers else None
        best = peers.get(best_name)
        lz = med.get("libzmq")

        def show(impl):
            s = fmt(med.get(impl), unit)
            n = t.notes.get((label, impl))
            return f"{s}, {n}" if n and impl in med else s

        cells = [label, show("libzmq"), f"{show(best_name)} ({best_name})" if best_name else "—"]
        for impl in ours:
            if impl not in med:
                cells.append("—")
                continue
            rb, rl = ratio(med[impl], best, unit), ratio(med[impl], lz, unit)
            parts = []
            if rb is not None:
                parts.append(f"{rb:.2f}× best")
            if rl is not None:
                parts.append(f"{rl:.2f}× libzmq")
            cells.append(show(impl) + (f" ({', '.join(parts)})" if parts else ""))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def render_mixed(d, runtimes):
    """Ours sending into libzmq and libzmq sending into ours, each against
    libzmq to libzmq in the same run: below 1, our side is the slower one."""
    cells = {}  # label -> (unit, {impl: value})
    for r in rows_of(os.path.join(d, "mixed.csv")):
        if r[0] == "impl" or len(r) < 7 or r[6] == "Mb/s":
            continue
        impl, transport, test, size, _count, value, unit = r[:7]
        test = "thr" if test == "throughput" else "lat"
        v = number(value)
        if v is not None:
            cells.setdefault(f"{transport} {test} {size_name(size)}", (unit, {}))[1][impl] = v
    if not cells:
        return None
    head = ["cell", "libzmq → libzmq"]
    for rt in runtimes:
        head += [f"{rt} → libzmq", f"libzmq → {rt}"]
    out = ["| " + " | ".join(head) + " |", "| --- | ---: |" + " ---: |" * (2 * len(runtimes))]
    for label, (unit, v) in cells.items():
        lz = v.get("libzmq")
        row = [label, fmt(lz, unit)]
        for rt in runtimes:
            for impl in (f"zmq-{rt}>libzmq", f"libzmq>zmq-{rt}"):
                x = v.get(impl)
                r = ratio(x, lz, unit)
                row.append(fmt(x, unit) + (f" ({r:.2f}×)" if r is not None else ""))
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    runtimes = sys.argv[2:] or ["tokio", "tokio-mt", "tokio-mt-main", "smol", "blocking"]
    t = load(d)
    mixed = render_mixed(d, runtimes)
    if not t.rows and not mixed:
        sys.exit(f"bench_table.py: no results in {d}")
    if t.rows:
        print(render(t, runtimes))
        print()
        print("Ratios: above 1 means ours is better (more msg/s, fewer µs, less memory); "
              "best peer = the best other implementation of that row; medians over the repetitions.")
    if mixed:
        if t.rows:
            print()
        print("Mixed pairs over tcp: A → B runs A's sending side (remote-thr, remote-lat) "
              "and B's receiving side (local-thr, local-lat), libzmq's perf tools on "
              "libzmq's side; ratios against libzmq → libzmq in the same run, above 1 "
              "means the pair with one of ours is faster.")
        print()
        print(mixed)


if __name__ == "__main__":
    main()
