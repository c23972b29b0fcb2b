#!/usr/bin/env python3
"""Helpers for bench/run.sh (python 3 standard library only).

Subcommands:
  freeport N                      print N free loopback TCP ports
  wait PORT [--path P] [--tls]    wait until GET P on 127.0.0.1:PORT answers 200
  probe PORT --ready FILE         start-up probe: poll-connect, then GET /small; prints
                                  the wall-clock ns of the first connect and first reply
  procstat PID                    RSS (KiB) and CPU ticks of PID and its descendants
  measure --pid P -- CMD...       run CMD (wrk), sampling P's RSS and CPU; print JSON
  idle --port N --pid P --count C open C keep-alive connections, hold them, report RSS
  tls-idle --port N --pid P --count C
                                  the same over TLS (handshake + one request each); RSS
                                  is VmRSS of the worker processes (the tree's leaves)
  burst --port N --pid P --count C open C keep-alive connections, send a request on all
                                  at once (ROUNDS times), close them; RSS before, peak
                                  during, and AFTER seconds after the close
  report --raw FILE --out DIR     median the raw results into results.md + chart.svg

Everything talks to binaries over loopback sockets; nothing here knows which proxy or
runtime it is measuring.
"""

import argparse
import json
import socket
import sys
import time

from conns import cmd_burst, cmd_idle, cmd_tls_idle
from httpclient import http_get, read_response
from measure import cmd_measure, cmd_procstat
from report import cmd_report


def cmd_freeport(a):
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_wait(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            status = http_get(a.port, a.path, timeout=1.0, tls=a.tls)
            if status == 200:
                return 0
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.02)
    print(f"port {a.port} did not answer 200 on {a.path} within {a.timeout}s ({last})", file=sys.stderr)
    return 1


def cmd_probe(a):
    """Start-up probe. Started before the proxy; the caller launches the proxy once FILE
    exists. Reports wall-clock (CLOCK_REALTIME) ns so bash's $EPOCHREALTIME can be
    subtracted."""
    open(a.ready, "w").close()
    deadline = time.monotonic() + a.timeout
    t_conn = t_resp = None
    while time.monotonic() < deadline:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", a.port))
        except OSError:
            s.close()
            time.sleep(0.0001)
            continue
        t_conn = time.time_ns()
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.sendall(b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")
            status, _ = read_response(s)
            t_resp = time.time_ns()
        except OSError as e:
            print(json.dumps({"error": str(e), "t_conn_ns": t_conn}))
            return 1
        finally:
            s.close()
        print(json.dumps({"t_conn_ns": t_conn, "t_resp_ns": t_resp, "status": status}))
        return 0
    print(json.dumps({"error": "timeout"}))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("freeport"); p.add_argument("n", type=int); p.set_defaults(f=cmd_freeport)
    p = sub.add_parser("wait"); p.add_argument("port", type=int); p.add_argument("--path", default="/small")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--timeout", type=float, default=10); p.set_defaults(f=cmd_wait)
    p = sub.add_parser("probe"); p.add_argument("port", type=int); p.add_argument("--ready", required=True)
    p.add_argument("--timeout", type=float, default=5); p.set_defaults(f=cmd_probe)
    p = sub.add_parser("procstat"); p.add_argument("pid", type=int); p.set_defaults(f=cmd_procstat)
    p = sub.add_parser("measure"); p.add_argument("--pid", type=int, required=True)
    p.add_argument("--meta", default=""); p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--origins", default="", help="origin PIDs (comma-separated): their CPU time too")
    p.add_argument("cmd", nargs="+"); p.set_defaults(f=cmd_measure)
    p = sub.add_parser("idle"); p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True); p.add_argument("--count", type=int, default=5000)
    p.add_argument("--batch", type=int, default=100); p.add_argument("--hold", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=60); p.add_argument("--meta", default="")
    p.set_defaults(f=cmd_idle)
    p = sub.add_parser("tls-idle"); p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True); p.add_argument("--count", type=int, default=5000)
    p.add_argument("--batch", type=int, default=100); p.add_argument("--hold", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=120); p.add_argument("--meta", default="")
    p.set_defaults(f=cmd_tls_idle)
    p = sub.add_parser("burst"); p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True); p.add_argument("--count", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=3); p.add_argument("--path", default="/small")
    p.add_argument("--batch", type=int, default=100); p.add_argument("--after", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=20, help="for the connects, and for each round")
    p.add_argument("--meta", default=""); p.set_defaults(f=cmd_burst)
    p = sub.add_parser("report"); p.add_argument("--raw", required=True, nargs="+"); p.add_argument("--out", required=True)
    p.add_argument("--readme", action="append", default=[])
    p.add_argument("--marker", default="results", help="README section markers: <!-- NAME:begin/end -->")
    p.set_defaults(f=cmd_report)
    a = ap.parse_args()
    sys.exit(a.f(a) or 0)


if __name__ == "__main__":
    main()
