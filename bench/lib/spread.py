"""Ratios taken repeat by repeat, with their spread, for bench/run.sh's report and
bench/regress.sh (python 3 standard library only).

The cells of one repeat are measured back to back, so a load spike on a shared machine
hits them alike: a ratio per repeat, then the median and the min–max of those ratios,
says more than the ratio of two medians, and the min–max says how far to trust it.
"""

import statistics


def rps(r):
    return r["requests"] / (r["duration_us"] / 1e6)


def mbs(r):
    return (r["bytes"] + r["requests"] * r.get("upload_bytes", 0)) / (r["duration_us"] / 1e6) / 1e6


def cpu_us(r):
    """The proxy's CPU time per request, in µs (None if it was not measured)."""
    if r.get("cpu_s") is None or not r.get("requests"):
        return None
    return r["cpu_s"] * 1e6 / r["requests"]


def throughput(unit):
    """The metric a scenario is judged by: req/s or MB/s."""
    return mbs if unit == "MB/s" else rps


def per_repeat(runs, sc, proxies, metric):
    """{repeat: {proxy: value}} over the successful wrk runs of one scenario."""
    out = {}
    for p in proxies:
        for r in runs.get((sc, p), []):
            if "requests" in r and r.get("duration_us"):
                v = metric(r)
                if v is not None:
                    out.setdefault(r["repeat"], {})[p] = v
    return out


def ratios(runs, sc, subject, others, metric, higher_is_better=True):
    """subject ÷ the best of `others`, one per repeat in which both were measured."""
    pick = max if higher_is_better else min
    out = []
    for vals in per_repeat(runs, sc, [subject] + others, metric).values():
        best = [vals[o] for o in others if o in vals]
        if subject in vals and best and pick(best):
            out.append(vals[subject] / pick(best))
    return out


def fmt(rs):
    """'1.02× (0.97–1.10)', or '–' when there is nothing to show."""
    if not rs:
        return "–"
    return f"{statistics.median(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"


def spread_markdown(runs, scen, subject, anchors):
    """A table: for every scenario, subject ÷ the best anchor per repeat, for throughput
    (higher is better) and CPU µs per request (lower is better)."""
    rows = []
    for sc, (name, unit) in scen.items():
        thr = ratios(runs, sc, subject, anchors, throughput(unit))
        cpu = ratios(runs, sc, subject, anchors, cpu_us, higher_is_better=False)
        if thr or cpu:
            rows.append(f"| {name} | {fmt(thr)} | {fmt(cpu)} | {len(thr)} |")
    if not rows:
        return []
    return ["", f"**{subject} ÷ the best anchor, repeat by repeat** (the best of {' / '.join(anchors)} in "
            "each repeat; median and min–max over the repeats):", "",
            f"| scenario | throughput (higher is better) | CPU µs/req (lower is better) | repeats |",
            "|---|---:|---:|---:|"] + rows


def log_cost_markdown(runs, proxies, subject):
    """What each proxy's default access log costs: the `log` scenario (small responses,
    default log to a file) against `small` (no log), medians over repeats."""
    rows = []
    for p in proxies:
        on = [r for r in runs.get(("log", p), []) if "requests" in r and r.get("duration_us")]
        off = [r for r in runs.get(("small", p), []) if "requests" in r and r.get("duration_us")]
        if not on or not off:
            continue
        r_on, r_off = statistics.median(map(rps, on)), statistics.median(map(rps, off))
        c_on = [c for c in map(cpu_us, on) if c is not None]
        c_off = [c for c in map(cpu_us, off) if c is not None]
        cpu = "–"
        if c_on and c_off:
            cpu = f"{statistics.median(c_off):.1f} → {statistics.median(c_on):.1f}"
        label = f"**{p}**" if p == subject else p
        rows.append(f"| {label} | {r_off:,.0f} | {r_on:,.0f} | {r_on / r_off - 1:+.1%} | {cpu} |")
    if not rows:
        return []
    return ["", "**What the default access log costs** (small responses; each proxy's default access log "
            "written to a file, against no log; medians):", "",
            "| proxy | req/s, no log | req/s, default log | change | CPU µs/req, no log → log |",
            "|---|---:|---:|---:|---:|"] + rows


def crowd_cost_markdown(runs, proxies, subject):
    """What thousands of idle connections cost the requests beside them: the `crowd`
    scenario (small responses with bench/lib/crowd.py's idle connections held open)
    against `small` (the same load alone), p99 and req/s, medians over repeats."""
    rows = []
    for p in proxies:
        crowd = [r for r in runs.get(("crowd", p), []) if "requests" in r and r.get("duration_us")]
        alone = [r for r in runs.get(("small", p), []) if "requests" in r and r.get("duration_us")]
        if not crowd or not alone:
            continue
        p99_c = statistics.median(r["p99_us"] / 1000 for r in crowd)
        p99_a = statistics.median(r["p99_us"] / 1000 for r in alone)
        r_c, r_a = statistics.median(map(rps, crowd)), statistics.median(map(rps, alone))
        label = f"**{p}**" if p == subject else p
        rows.append(f"| {label} | {p99_a:.2f} | {p99_c:.2f} | {p99_c / p99_a:.2f}× | "
                    f"{r_a:,.0f} → {r_c:,.0f} ({r_c / r_a - 1:+.1%}) |")
    if not rows:
        return []
    count = next((r.get("crowd") for rs in runs.values() for r in rs if r.get("crowd")), "?")
    return ["", f"**Small responses beside {count:,} idle keep-alive connections** (the `crowd` "
            "scenario against `small`, the same load alone; issue 24's target: p99 ≤ 1.1×):", "",
            "| proxy | p99 ms alone | p99 ms with the crowd | ratio | req/s alone → with the crowd |",
            "|---|---:|---:|---:|---:|"] + rows
