"""`report`: the raw results of one or more runs into results.md, chart.svg and the
README sections between their markers."""

import json
import os
import sys

import grpcreport
import h2report
import spread
from aggregate import SCEN, aggregate, fmt_num, fmt_ratio, med, ratio
from chart import build_svg
from tlsreport import tls_markdown


def build_markdown(agg, iagg, meta):
    proxies = meta.get("proxies", [])
    anchors = [p for p in meta.get("anchors", []) if p in proxies]
    subject = meta.get("subject", "weir")
    L = []
    L.append(f"Run {meta.get('date', '?')} on {meta.get('cpu', '?')} ({meta.get('ncpu', '?')} CPUs), "
             f"kernel {meta.get('kernel', '?')}; {meta.get('threads')} worker thread(s)/process(es) per proxy; "
             f"wrk {meta.get('wrk_threads')} thread(s), {meta.get('duration')} s × {meta.get('repeats')} repeats per cell, "
             f"interleaved; medians shown. CPUs {meta.get('layout', 'not pinned')}. "
             f"Versions: {meta.get('versions', '?')}.")
    L.append("")
    L.append(f"Ratios in brackets are {subject} ÷ the best anchor ({' / '.join(anchors)}) in this run: "
             "for req/s and MB/s higher is better; for latency, RSS and CPU lower is better. "
             "`spread` = (max − min) / median of throughput across repeats. "
             "RSS = peak resident set of the proxy's whole process tree during the run (MiB); "
             "CPU = proxy CPU time / wall time (100% = one core); CPU µs/req = proxy CPU time per request "
             "(the least noise-sensitive figure on a shared machine).")
    L.append("")
    L.append("| scenario | proxy | req/s | MB/s | p50 ms | p99 ms | RSS MiB | CPU % | CPU µs/req | spread | errors |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in SCEN:
        if not any((sc, p) in agg for p in proxies + ["direct"]):
            continue
        name = SCEN[sc][0]
        best = {}
        for m, hi in (("rps", True), ("mbs", True), ("p50", False), ("p99", False), ("rss", False), ("cpu", False), ("cpu_req", False)):
            vals = [agg[(sc, a)][m] for a in anchors if (sc, a) in agg and agg[(sc, a)].get(m) is not None]
            best[m] = (max(vals) if hi else min(vals)) if vals else None
        for p in proxies + ["direct"]:
            a = agg.get((sc, p))
            if not a:
                continue
            if a["n"] == 0:
                L.append(f"| {name} | {p} | failed | | | | | | | | {a['errors']} runs |")
                continue
            is_subj = p == subject
            def cell(m, nd=0):
                v = fmt_num(a[m], nd)
                return v + (fmt_ratio(ratio(a[m], best[m])) if is_subj else "")
            spread_key = "mbs_spread" if SCEN[sc][1] == "MB/s" else "rps_spread"
            label = f"**{p}**" if is_subj else (p + (" (ceiling)" if p == "direct" else ""))
            L.append(f"| {name} | {label} | {cell('rps')} | {cell('mbs', 1)} | {cell('p50', 2)} | {cell('p99', 2)} | "
                     f"{cell('rss', 1)} | {cell('cpu')} | {cell('cpu_req', 1)} | {a[spread_key] * 100:.0f}% | {a['errors']} |")
    L += spread.spread_markdown(meta.get("wrk_runs", {}), SCEN, subject, anchors)
    L += spread.log_cost_markdown(meta.get("wrk_runs", {}), proxies, subject)
    L += spread.crowd_cost_markdown(meta.get("wrk_runs", {}), proxies, subject)
    if iagg:
        L.append("")
        cnt = next(iter(iagg.values())).get("count")
        L.append(f"**Idle keep-alive connections** ({cnt} client connections opened, one request each, then held):")
        L.append("")
        L.append("| proxy | RSS before MiB | RSS holding MiB | added MiB | per connection KiB | still open |")
        L.append("|---|---:|---:|---:|---:|---:|")
        bd = min([iagg[a]["delta"] for a in anchors if a in iagg] or [0]) or None
        for p in proxies:
            i = iagg.get(p)
            if not i:
                continue
            r = fmt_ratio(ratio(i["delta"], bd)) if p == subject else ""
            label = f"**{p}**" if p == subject else p
            L.append(f"| {label} | {i['base']:.1f} | {i['loaded']:.1f} | {i['delta']:.1f}{r} | {i['per_conn']:.2f} | {i['alive']} |")
    L += tls_markdown(agg, meta, proxies, anchors, subject)
    L += h2report.h2_markdown(agg, meta, SCEN, proxies, anchors, subject)
    L += grpcreport.grpc_markdown(agg, meta, proxies, anchors, subject)
    st = meta.get("startup") or []
    fp = meta.get("footprint") or []
    if st or fp:
        L.append("")
        L.append("**Footprint and start-up** (start-up: median of "
                 f"{meta.get('startup_runs', '?')} launches; from exec to the first TCP connect succeeding, "
                 "and to the first proxied response on it; idle RSS: whole process tree after that one request):")
        L.append("")
        L.append("| proxy | binary bytes | idle RSS MiB | first connect ms | first response ms |")
        L.append("|---|---:|---:|---:|---:|")
        for p in proxies:
            sr = [r for r in st if r["proxy"] == p and "conn_ms" in r]
            fr = [r for r in fp if r["proxy"] == p]
            label = f"**{p}**" if p == subject else p
            size = fr[0].get("binary_bytes") if fr else None
            L.append(f"| {label} | {fmt_num(size)} | {fmt_num(med([r['idle_rss_kib'] / 1024 for r in sr]), 2)} | "
                     f"{fmt_num(med([r['conn_ms'] for r in sr]), 2)} | {fmt_num(med([r['resp_ms'] for r in sr]), 2)} |")
        L.append("")
        L.append("Binary bytes for nginx/HAProxy are the executable alone (they also load shared libraries).")
    if not any(k[0] in ("small", "large") for k in agg) and not iagg:
        return "\n".join(L) + "\n"   # a TLS-only run: issue 3's targets were not measured
    # targets
    L.append("")
    L.append(f"**Issue-3 targets for {subject}** (same run):")
    L.append("")
    L.append("| target | measured | holds? |")
    L.append("|---|---|---|")

    def tgt(name, measured, ok):
        L.append(f"| {name} | {measured} | {'yes' if ok else ('**no**' if ok is not None else 'n/a')} |")

    def cmp(sc, m, hi):
        w = agg.get((sc, subject), {}).get(m)
        vals = [agg[(sc, a)][m] for a in anchors if (sc, a) in agg and agg[(sc, a)].get(m) is not None]
        if w is None or not vals:
            return "not measured", None
        b = max(vals) if hi else min(vals)
        return f"{w:,.2f} vs {b:,.2f} ({w / b:.2f}×)", (w >= b if hi else w <= b)

    tgt("small responses req/s ≥ best anchor", *cmp("small", "rps", True))
    tgt("small responses p99 ≤ best anchor", *cmp("small", "p99", False))
    tgt("1 MiB responses MB/s ≥ best anchor", *cmp("large", "mbs", True))
    sr = [r for r in st if r["proxy"] == subject and "conn_ms" in r]
    irss = med([r["idle_rss_kib"] / 1024 for r in sr])
    tgt("idle RSS ≤ 4 MiB", f"{irss:.2f} MiB" if irss is not None else "not measured",
        (irss <= 4) if irss is not None else None)
    i = iagg.get(subject)
    tgt(f"{(i or {}).get('count', 5000)} idle keep-alive conns add ≤ 64 MiB",
        f"{i['delta']:.1f} MiB ({i['per_conn']:.2f} KiB/conn, {i['alive']} still open)" if i else "not measured",
        (i["delta"] <= 64 and i["alive"] == i["count"]) if i else None)
    fr = [r for r in fp if r["proxy"] == subject]
    size = fr[0].get("binary_bytes") if fr else None
    tgt("binary ≤ 5 MiB (stripped)", f"{size:,} bytes ({size / 1048576:.2f} MiB)" if size else "not measured",
        (size <= 5 * 1048576) if size else None)
    resp = med([r["resp_ms"] for r in sr])
    conn = med([r["conn_ms"] for r in sr])
    tgt("start-up to first accepted connection ≤ 20 ms",
        f"{conn:.2f} ms to connect, {resp:.2f} ms to first proxied response" if resp is not None else "not measured",
        (resp <= 20) if resp is not None else None)
    return "\n".join(L) + "\n"


def cmd_report(a):
    # Several raw files (several full runs) merge into one report: their repeats are
    # told apart, so the medians and spreads are over every repeat of every run.
    records = []
    for i, path in enumerate(a.raw):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                if r.get("kind") == "meta" and i > 0:
                    continue
                if "repeat" in r:
                    r["repeat"] += 1000 * i
                records.append(r)
    if len(a.raw) > 1:
        for r in records:
            if r.get("kind") == "meta":
                r["repeats"] = f"{r.get('repeats') * len(a.raw)} ({len(a.raw)} runs of {r.get('repeats')})"
    agg, iagg, meta = aggregate(records)
    md = build_markdown(agg, iagg, meta)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("# weir benchmark results\n\n")
        if meta.get("command"):
            f.write(f"Command: `{meta['command']}`\n\n")
        f.write(md)
    with open(os.path.join(a.out, "chart.svg"), "w") as f:
        f.write(build_svg(agg, iagg, meta))
    # The latest table goes between the markers of every README named (bench's and the
    # project's own).
    for readme in a.readme:
        if not os.path.exists(readme):
            continue
        begin, end = f"<!-- {a.marker}:begin -->", f"<!-- {a.marker}:end -->"
        text = open(readme).read()
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            with open(readme, "w") as f:
                f.write(head + begin + "\n" + md + end + tail)
    sys.stdout.write(md)
