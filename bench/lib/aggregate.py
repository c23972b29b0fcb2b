"""The raw JSON lines of a run, medianed per scenario and proxy: the figures every
report table reads (`aggregate`), the scenarios' names (`SCEN`) and the number format."""

import statistics


SCEN = {
    "small":  ("Small responses", "req/s"),
    "paced":  ("Small responses, paced", "req/s"),
    "large":  ("1 MiB responses", "MB/s"),
    "upload": ("1 MiB uploads", "MB/s"),
    "close":  ("New connection per request", "req/s"),
    "log":    ("Small responses, default access log to a file", "req/s"),
    "crowd":  ("Small responses beside an idle crowd (--crowd-conns)", "req/s"),
    "tls-small": ("TLS: small responses, keep-alive", "req/s"),
    "tls-handshake": ("TLS: new connection per request (full handshake)", "req/s"),
    "tls-big": ("TLS: 1 MiB responses", "MB/s"),
    "h2-small": ("HTTP/2: small responses, 10 connections × 10 streams", "req/s"),
    "h2-large": ("HTTP/2: 1 MiB responses, 10 connections × 10 streams", "MB/s"),
    "h2-newconn": ("HTTP/2: a new TLS connection every 10 requests", "req/s"),
    "grpc-unary": ("gRPC: unary calls over h2c to h2c origins, 10 connections × 10 streams", "req/s"),
    "grpc-h1up": ("gRPC: the same calls, weir with an HTTP/1.1 group", "req/s"),
}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_num(x, nd=0):
    if x is None:
        return "–"
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:,.{nd}f}"


def fmt_ratio(r):
    return "" if r is None else f" ({r:.2f}×)"


def ratio(w, best):
    if w is None or not best:
        return None
    return w / best


def rps_of(r):
    return r["requests"] / (r["duration_us"] / 1e6)


def mbs_of(r):
    return (r["bytes"] + r["requests"] * r.get("upload_bytes", 0)) / (r["duration_us"] / 1e6) / 1e6


def repeat_ratios(runs, sc, subject, anchors, metric):
    """subject ÷ the best anchor, one ratio per repeat (the cells of a repeat are measured
    minutes apart at most, so the machine's load hits them alike)."""
    by = {}
    for p in [subject] + anchors:
        for r in runs.get((sc, p), []):
            if "requests" in r and r.get("duration_us"):
                by.setdefault(r["repeat"], {})[p] = metric(r)
    out = []
    for rep_, vals in sorted(by.items()):
        best = [vals[a] for a in anchors if a in vals]
        if subject in vals and best and max(best):
            out.append(vals[subject] / max(best))
    return out


def aggregate(records):
    runs, idles, tidles, meta = {}, {}, {}, {}
    for r in records:
        k = r.get("kind")
        if k == "wrk":
            runs.setdefault((r["scenario"], r["proxy"]), []).append(r)
        elif k == "idle":
            idles.setdefault(r["proxy"], []).append(r)
        elif k == "tls-idle":
            tidles.setdefault(r["proxy"], []).append(r)
        elif k == "meta":
            meta.update(r)
        elif k in ("startup", "footprint"):
            meta.setdefault(k, []).append(r)
    agg = {}
    for key, rs in runs.items():
        ok = [r for r in rs if "requests" in r and r.get("duration_us")]
        if not ok:
            agg[key] = {"n": 0, "errors": len(rs)}
            continue
        rps = [rps_of(r) for r in ok]
        mbs = [mbs_of(r) for r in ok]
        errs = sum(r.get("errors_connect", 0) + r.get("errors_read", 0) + r.get("errors_write", 0)
                   + r.get("errors_status", 0) + r.get("errors_timeout", 0) for r in ok)
        agg[key] = {
            "n": len(ok), "rps": med(rps), "mbs": med(mbs),
            "rps_spread": (max(rps) - min(rps)) / med(rps) if med(rps) else None,
            "mbs_spread": (max(mbs) - min(mbs)) / med(mbs) if med(mbs) else None,
            "p50": med([r["p50_us"] / 1000 for r in ok]),
            "p99": med([r["p99_us"] / 1000 for r in ok]),
            "rss": med([r["rss_kib"] / 1024 for r in ok]),
            "cpu": med([r["cpu_pct"] for r in ok]),
            "cpu_req": med([r["cpu_s"] * 1e6 / r["requests"] for r in ok if r.get("cpu_s") is not None and r["requests"]]),
            "errors": errs, "requests": sum(r["requests"] for r in ok),
        }
    def idle_agg(idles):
        out = {}
        for p, rs in idles.items():
            pcs = [r["per_conn_bytes"] / 1024 for r in rs]
            out[p] = {
                "base": med([r["base_kib"] / 1024 for r in rs]),
                "loaded": med([r["loaded_kib"] / 1024 for r in rs]),
                "delta": med([r["delta_kib"] / 1024 for r in rs]),
                "per_conn": med(pcs), "per_conn_min": min(pcs), "per_conn_max": max(pcs),
                "alive": min(r["alive"] for r in rs), "count": rs[0].get("count"), "n": len(rs),
            }
        return out
    iagg = idle_agg(idles)
    meta["tls_idle"] = idle_agg(tidles)
    subject = meta.get("subject", "weir")
    anchors = [p for p in meta.get("anchors", []) if p in meta.get("proxies", [])]
    meta["wrk_runs"] = runs
    meta["repeat_ratios"] = {
        (sc, m): repeat_ratios(runs, sc, subject, anchors, fn)
        for sc in SCEN for m, fn in (("rps", rps_of), ("mbs", mbs_of))}
    return agg, iagg, meta
