#!/usr/bin/env python3
"""Drive h2load (Debian `nghttp2-client`) for bench/run.sh's h2-* scenarios and print
one `WRKJSON {...}` line with the keys wrk's lib/report.lua prints, so `benchlib.py
measure` samples the proxy around it and the report treats it as any other run
(python 3 standard library only).

Two shapes:
  timed (default)  one `h2load -D SECONDS -c C -m M`: C connections for the whole run,
                   M streams in flight on each.
  --per-conn K     a new TLS + h2 connection every K requests: h2load has no switch
                   that makes a client reconnect, but `-n C*K -c C` gives each of its C
                   clients exactly K requests on one connection, which it then closes.
                   So batches of that run back to back until SECONDS have passed; the
                   duration is the sum of h2load's own "finished in" times (its start-up
                   between batches is not counted, the handshakes are).

Latency percentiles come from h2load's --log-file (one line per request: start µs,
status, µs to the end of the response), since h2load itself prints only min, max, mean
and sd. In the --per-conn shape a request's latency starts once its connection is up,
so the handshake shows in req/s and CPU µs per request, not in p50/p99.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0}


def parse(out):
    """The figures of one h2load run's summary, or None if it printed none."""
    fin = re.search(r"^finished in ([0-9.]+)(s|ms|us),", out, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    traffic = re.search(r"^traffic: \S+ \((\d+)\) total", out, re.M)
    if not (fin and req and traffic):
        return None
    done, ok, failed, errored, timeout = (int(req.group(i)) for i in (3, 4, 5, 6, 7))
    return {"duration_us": float(fin.group(1)) * UNITS[fin.group(2)], "requests": done,
            "succeeded": ok, "errored": errored, "timeout": timeout,
            # failed = not 2xx/3xx: a bad status, a reset stream or a timeout
            "bad_status": max(0, failed - errored - timeout), "bytes": int(traffic.group(1))}


def latencies(path):
    """µs to the end of the response of every request h2load logged that got a status."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1] != "-1":
                out.append(int(cols[2]))
    os.remove(path)
    return out


def percentile(xs, q):
    if not xs:
        return 0
    return xs[min(len(xs) - 1, int(len(xs) * q / 100))]


def h2load(a, log, extra):
    # ALPN h2 alone: a server that does not offer h2 fails the run instead of being
    # measured on HTTP/1.1, h2load's fallback
    cmd = ["h2load", "-t", str(a.threads), "-c", str(a.clients), "-m", str(a.streams),
           "-N", "5s", "--npn-list", "h2", "--log-file", log] + extra
    for h in a.header:
        cmd += ["-H", h]
    if a.data:
        cmd += ["-d", a.data]
    cmd.append(a.url)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.duration + 60)
    r = parse(p.stdout)
    if r is None:
        sys.exit(f"h2load failed (exit {p.returncode}): {' '.join(cmd)}\n{(p.stderr or p.stdout)[-400:]}")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--duration", type=float, required=True, help="seconds")
    ap.add_argument("--clients", type=int, required=True, help="h2load -c: connections at once")
    ap.add_argument("--streams", type=int, required=True, help="h2load -m: streams per connection")
    ap.add_argument("--per-conn", type=int, default=0, help="requests per connection, then a new one")
    ap.add_argument("--threads", type=int, default=1, help="h2load -t")
    ap.add_argument("--work", required=True, help="directory for h2load's per-request logs")
    ap.add_argument("--header", action="append", default=[], help="h2load -H (repeatable)")
    ap.add_argument("--data", help="h2load -d: a file sent as every request's body (a POST)")
    a = ap.parse_args()
    total = {"requests": 0, "succeeded": 0, "errored": 0, "timeout": 0, "bad_status": 0,
             "bytes": 0, "duration_us": 0.0}
    lat, batches = [], 0
    log = os.path.join(a.work, f"h2load-{os.getpid()}.log")
    end = time.monotonic() + a.duration
    while True:
        if a.per_conn:
            r = h2load(a, log, ["-n", str(a.clients * a.per_conn)])
        else:
            r = h2load(a, log, ["-D", f"{a.duration:g}"])
        batches += 1
        for k in total:
            total[k] += r[k]
        lat += latencies(log)
        if not a.per_conn or time.monotonic() >= end:
            break
    if not total["requests"]:
        sys.exit(f"h2load: no request done on {a.url} (connection refused, or no h2?)")
    lat.sort()
    rec = {"requests": total["requests"], "bytes": total["bytes"], "duration_us": round(total["duration_us"]),
           "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99), "max_us": lat[-1] if lat else 0,
           "errors_connect": 0, "errors_read": total["errored"], "errors_write": 0,
           "errors_status": total["bad_status"], "errors_timeout": total["timeout"],
           "connections": a.clients * batches, "h2load_runs": batches}
    print("WRKJSON " + json.dumps(rec))


if __name__ == "__main__":
    main()
