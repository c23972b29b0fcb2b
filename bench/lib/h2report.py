"""The h2-* scenarios' targets table for bench/run.sh's report (python 3 standard
library only).

Issue 22's targets for HTTP/2, each against the better anchor of the same run: req/s and
MB/s at least 1.0×, p99 latency and CPU µs per request at most 1.0×. Each ratio is also
taken repeat by repeat (the proxies of one repeat run back to back, so a load spike on a
shared machine hits them alike), with the median and min–max over the repeats.
"""

import spread

SCENARIOS = ("h2-small", "h2-large", "h2-newconn")

# (agg key, label, higher is better, decimals, metric of one raw run)
METRICS = (
    ("rps", "req/s", True, 0, spread.rps),
    ("mbs", "MB/s", True, 1, spread.mbs),
    ("p99", "p99 ms", False, 2, lambda r: r["p99_us"] / 1000),
    ("cpu_req", "CPU µs/req", False, 1, spread.cpu_us),
)


def _num(x, nd):
    return "–" if x is None else f"{x:,.{nd}f}"


def h2_markdown(agg, meta, scen, proxies, anchors, subject):
    """Rows for every h2 scenario the subject ran in; [] if none."""
    runs = meta.get("wrk_runs", {})
    present = [sc for sc in SCENARIOS if agg.get((sc, subject), {}).get("n")]
    if not present:
        return []
    shown = [p for p in proxies if any(agg.get((sc, p), {}).get("n") for sc in present)]
    L = ["", f"**HTTP/2 targets for {subject}** (issue 22; h2load over TLS 1.3 to the same HTTP/1.1 origins, one "
         f"worker each; the better of {' / '.join(anchors)} per figure; ratio per repeat = {subject} ÷ that anchor "
         "in each repeat, median (min–max)):", "",
         "| target | " + " | ".join(shown) + " | ratio of medians | ratio per repeat | holds? |",
         "|---|" + "---:|" * len(shown) + "---:|---:|---|"]
    for sc in present:
        for key, label, hi, nd, metric in METRICS:
            vals = {p: agg[(sc, p)].get(key) for p in shown if agg.get((sc, p), {}).get("n")}
            best = [vals[a] for a in anchors if vals.get(a) is not None]
            w = vals.get(subject)
            rat = None
            if w is not None and best and (max(best) if hi else min(best)):
                rat = w / (max(best) if hi else min(best))
            per = spread.ratios(runs, sc, subject, anchors, metric, higher_is_better=hi)
            ok = None if rat is None else (rat >= 1.0 if hi else rat <= 1.0)
            sign = "≥" if hi else "≤"
            L.append(f"| {scen[sc][0]}: {label} {sign} 1.0× | "
                     + " | ".join(_num(vals.get(p), nd) for p in shown)
                     + f" | {'–' if rat is None else f'{rat:.2f}×'} | {spread.fmt(per)} | "
                     + f"{'yes' if ok else ('**no**' if ok is not None else 'n/a')} |")
    return L
