#!/usr/bin/env python3
"""The report of bench/regress.sh: weir build A against build B, measured interleaved in
one bench/run.sh run (A as `weir`, B as `weir-base`).

  python3 bench/lib/regress.py RAW.jsonl [--instructions A_IR B_IR]

For every scenario: each build's median, A ÷ B repeat by repeat (median and min–max:
the two cells of a repeat run back to back, so the machine's load hits both alike), and
the CPU µs per request of each with its ratio likewise. Standard library only.
"""

import argparse
import json
import statistics

import spread
from aggregate import SCEN, aggregate

A, B = "weir", "weir-base"


def scenario_rows(runs):
    rows = []
    for sc, (name, unit) in SCEN.items():
        metric = spread.throughput(unit)
        got = {p: [metric(r) for r in runs.get((sc, p), []) if "requests" in r and r.get("duration_us")]
               for p in (A, B)}
        if not got[A] or not got[B]:
            continue
        cpu = {p: [c for c in map(spread.cpu_us, runs.get((sc, p), [])) if c is not None] for p in (A, B)}
        thr = spread.ratios(runs, sc, A, [B], metric)
        cr = spread.ratios(runs, sc, A, [B], spread.cpu_us, higher_is_better=False)
        med = statistics.median
        cpu_cells = " / ".join(f"{med(cpu[p]):.1f}" if cpu[p] else "–" for p in (A, B))
        rows.append(f"| {name} | {med(got[A]):,.1f} {unit} | {med(got[B]):,.1f} {unit} | {spread.fmt(thr)} | "
                    f"{cpu_cells} | {spread.fmt(cr)} | {len(thr)} |")
    return rows


def idle_rows(records):
    per = {p: [r["per_conn_bytes"] / 1024 for r in records if r.get("kind") == "idle" and r["proxy"] == p]
           for p in (A, B)}
    if not per[A] or not per[B]:
        return []
    a, b = statistics.median(per[A]), statistics.median(per[B])
    return [f"| idle keep-alive connection | {a:.2f} KiB | {b:.2f} KiB | {a / b:.2f}× (of medians) | | | {len(per[A])} |"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw")
    ap.add_argument("--instructions", nargs=2, type=int, metavar=("A_IR", "B_IR"))
    a = ap.parse_args()
    records = [json.loads(line) for line in open(a.raw) if line.strip()]
    _, _, meta = aggregate(records)
    runs = meta["wrk_runs"]
    print(f"A = {meta.get('weir_a', A)}, B = {meta.get('weir_b', B)}; {meta.get('date', '?')}, "
          f"{meta.get('threads')} worker(s), {meta.get('duration')} s × {meta.get('repeats')} repeats, "
          f"interleaved (A and B alternate, the order flips every repeat); CPUs {meta.get('layout', '?')}.")
    print()
    print("| scenario | A | B | A ÷ B per repeat (higher is better) | CPU µs/req A / B | "
          "A ÷ B CPU per repeat (lower is better) | repeats |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in scenario_rows(runs) + idle_rows(records):
        print(row)
    if a.instructions:
        ia, ib = a.instructions
        print(f"| instructions per request (callgrind, bench/instructions.sh) | {ia:,} | {ib:,} | | | "
              f"{ia / ib:.3f}× | 1 |")
    sizes = {r["proxy"]: r.get("binary_bytes") for r in meta.get("footprint", [])}
    if sizes.get(A) and sizes.get(B):
        print(f"\nBinary: A {sizes[A]:,} bytes, B {sizes[B]:,} bytes ({sizes[A] / sizes[B]:.3f}×).")


if __name__ == "__main__":
    main()
