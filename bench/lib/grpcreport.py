"""The grpc-* scenarios' tables for bench/run.sh's report (python 3 standard library
only; the scenarios are in lib/grpc.sh).

Issue 23's targets for unary gRPC calls, each against the better anchor of the same run:
calls/s at least 1.0×, p99 latency and CPU µs per call at most 1.0×; each ratio also
taken repeat by repeat, median (min–max). Then what multiplexing saves: weir with an
h2c group (grpc-unary) beside weir with an HTTP/1.1 group (grpc-h1up), same client load,
with the upstream connections each opened during a run (weir's
`weir_pool_connections_opened_total`).
"""

import statistics

import spread

METRICS = (
    ("rps", "calls/s", True, 0, spread.rps),
    ("p99", "p99 ms", False, 2, lambda r: r["p99_us"] / 1000),
    ("cpu_req", "CPU µs/call", False, 1, spread.cpu_us),
)


def _num(x, nd):
    return "–" if x is None else f"{x:,.{nd}f}"


def _targets(agg, meta, proxies, anchors, subject):
    runs = meta.get("wrk_runs", {})
    sc = "grpc-unary"
    shown = [p for p in proxies if agg.get((sc, p), {}).get("n")]
    if subject not in shown:
        return []
    L = ["", f"**gRPC targets for {subject}** (issue 23; unary calls by h2load over h2c, "
         f"through each proxy's h2c listener to the same h2c gRPC origins, one worker each; "
         f"the better of {' / '.join(anchors)} per figure; ratio per repeat = {subject} ÷ that "
         "anchor in each repeat, median (min–max)):", "",
         "| target | " + " | ".join(shown) + " | ratio of medians | ratio per repeat | holds? |",
         "|---|" + "---:|" * len(shown) + "---:|---:|---|"]
    for key, label, hi, nd, metric in METRICS:
        vals = {p: agg[(sc, p)].get(key) for p in shown}
        best = [vals[a] for a in anchors if vals.get(a) is not None]
        w = vals.get(subject)
        rat = None
        if w is not None and best and (max(best) if hi else min(best)):
            rat = w / (max(best) if hi else min(best))
        per = spread.ratios(runs, sc, subject, anchors, metric, higher_is_better=hi)
        ok = None if rat is None else (rat >= 1.0 if hi else rat <= 1.0)
        sign = "≥" if hi else "≤"
        L.append(f"| {label} {sign} 1.0× | " + " | ".join(_num(vals.get(p), nd) for p in shown)
                 + f" | {'–' if rat is None else f'{rat:.2f}×'} | {spread.fmt(per)} | "
                 + f"{'yes' if ok else ('**no**' if ok is not None else 'n/a')} |")
    return L


def _opened(runs, sc, subject):
    """Median upstream connections opened per run, or None."""
    xs = [r["upstream_conns_opened"] for r in runs.get((sc, subject), [])
          if r.get("upstream_conns_opened") is not None]
    return statistics.median(xs) if xs else None


def _multiplexing(agg, meta, subject):
    runs = meta.get("wrk_runs", {})
    rows = [("h2c group (grpc-unary)", "grpc-unary"), ("HTTP/1.1 group (grpc-h1up)", "grpc-h1up")]
    if not all(agg.get((sc, subject), {}).get("n") for _, sc in rows):
        return []
    L = ["", f"**h2 upstream vs HTTP/1.1 upstream for small responses** ({subject} alone, the "
         "same client load, the same origin process; connections = upstream connections "
         "opened during one run, median: 0 when every call went over connections opened "
         "in the warm-up and kept):", "",
         "| upstream | calls/s | p99 ms | CPU µs/call | connections opened |",
         "|---|---:|---:|---:|---:|"]
    for label, sc in rows:
        a = agg[(sc, subject)]
        L.append(f"| {label} | {_num(a.get('rps'), 0)} | {_num(a.get('p99'), 2)} | "
                 f"{_num(a.get('cpu_req'), 1)} | {_num(_opened(runs, sc, subject), 0)} |")
    return L


def grpc_markdown(agg, meta, proxies, anchors, subject):
    """The gRPC tables for the scenarios that ran; [] if none."""
    return _targets(agg, meta, proxies, anchors, subject) + _multiplexing(agg, meta, subject)
