"""The report's TLS tables: idle TLS connections and the TLS targets."""

from aggregate import SCEN, fmt_num, fmt_ratio, med, ratio


def tls_markdown(agg, meta, proxies, anchors, subject):
    """The TLS scenarios' idle table and targets: each ratio also per repeat, since the
    cells of one repeat run back to back."""
    L = []
    ti = meta.get("tls_idle") or {}
    if ti:
        cnt = next(iter(ti.values())).get("count")
        L.append("")
        L.append(f"**Idle TLS keep-alive connections** ({cnt} TLS 1.3 connections from Python's `ssl`, each "
                 "completing the handshake and one request, then held 2 s; VmRSS of the worker process — nginx's "
                 "worker, not its master — on a fresh instance, before and while holding; medians of "
                 f"{next(iter(ti.values())).get('n')} repeats):")
        L.append("")
        L.append("| proxy | RSS before MiB | RSS holding MiB | added MiB | per connection KiB (min–max) | still open |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for p in proxies:
            i = ti.get(p)
            if not i:
                continue
            label = f"**{p}**" if p == subject else p
            L.append(f"| {label} | {i['base']:.1f} | {i['loaded']:.1f} | {i['delta']:.1f} | "
                     f"{i['per_conn']:.1f} ({i['per_conn_min']:.1f}–{i['per_conn_max']:.1f}) | {i['alive']} |")
    rows = [(sc, m) for sc, m in (("tls-small", "rps"), ("tls-handshake", "rps"), ("tls-big", "mbs"))
            if (sc, subject) in agg and agg[(sc, subject)].get("n")]
    if not rows and not ti:
        return L
    rr = meta.get("repeat_ratios", {})
    L.append("")
    L.append(f"**TLS targets for {subject}** (one worker each, same run; ratio per repeat = {subject} ÷ the better of "
             f"{' / '.join(anchors)} in that repeat, median (min–max); CPU µs per request: {subject} / "
             f"{' / '.join(anchors)}):")
    L.append("")
    head = " | ".join(proxies)
    L.append(f"| target | {head} | ratio of medians | ratio per repeat | CPU µs/req | holds? |")
    L.append("|---|" + "---:|" * len(proxies) + "---:|---:|---:|---|")
    unit = {"rps": "req/s", "mbs": "MB/s"}
    for sc, m in rows:
        vals = {p: agg[(sc, p)][m] for p in proxies if (sc, p) in agg and agg[(sc, p)].get("n")}
        best = max([vals[a] for a in anchors if a in vals] or [0]) or None
        rat = ratio(vals.get(subject), best)
        per = rr.get((sc, m)) or []
        perf = f"{med(per):.2f}× ({min(per):.2f}–{max(per):.2f})" if per else "–"
        cpu = " / ".join(fmt_num(agg[(sc, p)].get("cpu_req"), 1) for p in [subject] + anchors if (sc, p) in agg)
        cells = " | ".join(fmt_num(vals.get(p), 1 if m == "mbs" else 0) for p in proxies)
        ok = None if rat is None else rat >= 1.0
        L.append(f"| {SCEN[sc][0]}: {unit[m]} ≥ 1.0× | {cells} | {fmt_ratio(rat).strip(' ()') or '–'} | {perf} | {cpu} | "
                 f"{'yes' if ok else ('**no**' if ok is not None else 'n/a')} |")
    if ti and subject in ti and "nginx" in ti:
        cells = " | ".join(f"{ti[p]['per_conn']:.1f} KiB" if p in ti else "–" for p in proxies)
        r = ti[subject]["per_conn"] / ti["nginx"]["per_conn"] if ti["nginx"]["per_conn"] else None
        ok = r is not None and r <= 2.0 and ti[subject]["alive"] == ti[subject]["count"]
        rs = f"{r:.2f}× nginx" if r is not None else "–"
        L.append(f"| idle TLS connection ≤ 2× nginx's memory | {cells} | {rs} | | | {'yes' if ok else '**no**'} |")
    return L
