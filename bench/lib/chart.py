"""The report's SVG chart: one panel per scenario, throughput bars with latency whiskers."""

import math

from aggregate import SCEN


def nice(x):
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above x (a tidy axis maximum)."""
    if x <= 0:
        return 1
    k = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * k >= x:
            return m * k
    return 10 * k


def build_svg(agg, iagg, meta):
    proxies = meta.get("proxies", []) + ["direct"]
    colors = {}
    palette = ["#d9480f", "#1971c2", "#2f9e44", "#7048e8", "#e8590c", "#0c8599"]
    for i, p in enumerate(meta.get("proxies", [])):
        colors[p] = palette[i % len(palette)]
    colors["direct"] = "#868e96"
    panels = []
    for sc in SCEN:
        key = "rps" if SCEN[sc][1] == "req/s" else "mbs"
        bars = [(p, agg[(sc, p)][key], agg[(sc, p)]["p50"], agg[(sc, p)]["p99"])
                for p in proxies if (sc, p) in agg and agg[(sc, p)].get("n")]
        if bars:
            panels.append((f"{SCEN[sc][0]} ({SCEN[sc][1]})", bars, True))
    if iagg:
        bars = [(p, iagg[p]["delta"], None, None) for p in proxies if p in iagg]
        panels.append((f"{next(iter(iagg.values())).get('count')} idle conns: added RSS (MiB)", bars, False))
    ti = meta.get("tls_idle") or {}
    if ti:
        bars = [(p, ti[p]["per_conn"], None, None) for p in proxies if p in ti]
        panels.append(("idle TLS conn: KiB each", bars, False))
    pw, ph, pad = 300, 270, 20
    cols = 3
    rows = (len(panels) + cols - 1) // cols
    W, H = cols * pw + pad, rows * ph + 70
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{pad}" y="20" font-size="14" font-weight="bold">{meta.get("subject", "weir")} vs anchors — '
         f'{meta.get("threads")} worker(s) each{", pinned" if meta.get("layout", "").startswith("pinned") else ""}, '
         f'{meta.get("date", "")}</text>',
         f'<text x="{pad}" y="36" fill="#495057">bars: median throughput (left axis); black whisker: p50→p99 latency '
         f'(right axis, ms, p99 value on top); higher bars and shorter whiskers are better</text>']
    for idx, (title, bars, lat) in enumerate(panels):
        x0 = pad + (idx % cols) * pw
        y0 = 50 + (idx // cols) * ph
        ax_l, ax_r, ax_t, ax_b = x0 + 45, x0 + pw - 45, y0 + 25, y0 + ph - 40
        o.append(f'<text x="{x0 + pw / 2 - 10}" y="{y0 + 14}" text-anchor="middle" font-weight="bold">{title}</text>')
        vmax = nice(max(b[1] for b in bars) * 1.05)
        lmax = nice(max([b[3] for b in bars if b[3] is not None] or [1]) * 1.15)
        o.append(f'<line x1="{ax_l}" y1="{ax_b}" x2="{ax_r}" y2="{ax_b}" stroke="#adb5bd"/>')
        for t in range(0, 5):
            v = vmax * t / 4
            y = ax_b - (ax_b - ax_t) * t / 4
            o.append(f'<line x1="{ax_l}" y1="{y:.1f}" x2="{ax_r}" y2="{y:.1f}" stroke="#f1f3f5"/>')
            o.append(f'<text x="{ax_l - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#495057">{v:,.6g}</text>')
            if lat:
                lv = lmax * t / 4
                o.append(f'<text x="{ax_r + 4}" y="{y + 4:.1f}" fill="#495057">{lv:.4g}</text>')
        n = len(bars)
        slot = (ax_r - ax_l) / n
        for j, (p, v, p50, p99) in enumerate(bars):
            bx = ax_l + j * slot + slot * 0.15
            bw = slot * 0.7
            bh = (ax_b - ax_t) * (v / vmax)
            o.append(f'<rect x="{bx:.1f}" y="{ax_b - bh:.1f}" width="{bw:.1f}" height="{bh:.1f}" fill="{colors.get(p, "#999")}">'
                     f'<title>{p}: {v:,.1f}</title></rect>')
            o.append(f'<text x="{bx + bw / 2:.1f}" y="{ax_b + 13}" text-anchor="middle">{p}</text>')
            o.append(f'<text x="{bx + bw / 2:.1f}" y="{ax_b + 25}" text-anchor="middle" font-size="9" '
                     f'fill="#495057">{v:,.0f}</text>')
            if lat and p99 is not None:
                cx = bx + bw / 2
                ya = ax_b - (ax_b - ax_t) * (p50 / lmax)
                yb = ax_b - (ax_b - ax_t) * (p99 / lmax)
                o.append(f'<line x1="{cx:.1f}" y1="{ya:.1f}" x2="{cx:.1f}" y2="{yb:.1f}" stroke="black" stroke-width="1.5">'
                         f'<title>{p}: p50 {p50:.2f} ms, p99 {p99:.2f} ms</title></line>')
                for yy in (ya, yb):
                    o.append(f'<line x1="{cx - 6:.1f}" y1="{yy:.1f}" x2="{cx + 6:.1f}" y2="{yy:.1f}" stroke="black" stroke-width="1.5"/>')
                o.append(f'<text x="{cx:.1f}" y="{yb - 4:.1f}" text-anchor="middle" font-size="9">{p99:.1f}</text>')
        if lat:
            o.append(f'<text x="{ax_r + 30}" y="{ax_t - 8}" text-anchor="end" fill="#495057" font-size="9">ms</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"
