#!/usr/bin/env python3
"""The crowd scenario's idle crowd: COUNT keep-alive client connections, each answered
once and then held open while wrk runs its small-response load beside them.

    crowd.py --port P --count N --ready FILE [--timeout S] [--settle S] [--hold S]

Opens the connections (conns.py's `open_all`, 256 handshakes in flight at a time),
sends one GET /small on every one and reads the answers (`request_all`), then waits
until the proxy holds every one of them: N established TCP connections whose local
port is P, counted in /proc/net/tcp (the proxy's side of each, whatever the proxy;
a connection it has closed is no longer there). Only then does it write one JSON line
to FILE ({"count", "connected", "answered", "other", "established"}), and run.sh
starts wrk on that line. It holds them until it is terminated (SIGTERM from run.sh),
or for at most --hold seconds. If any connection failed, got no 200, or the proxy
does not hold them all within --settle seconds, it writes no FILE: it says what it
saw on stderr and exits 1, and run.sh stops the run with that message. A proxy that
drops idle connections under load is counted afterwards: the line run.sh logs says
how many were still open at the end.

Why a scenario of its own: a proxy's per-connection bookkeeping (timers, readiness
registrations, the accept loop's admission check) can make every request slower when
thousands of connections sit idle, without showing in either the idle-memory or the
small-response scenario alone. Issue 24's target: p99 with 10,000 idle connections
open at most 1.1x the same load without them.
"""

import argparse
import json
import os
import signal
import sys
import time

from conns import open_all, request_all, still_open

REQUEST = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
ESTABLISHED = "01"   # the state column of /proc/net/tcp (include/net/tcp_states.h)


def established_at(port):
    """TCP connections in ESTABLISHED whose local end is loopback port `port`: the
    proxy's side of its client connections (the listening socket is in LISTEN, and the
    crowd's own sockets have `port` as their remote end)."""
    local = "0100007F:%04X" % port
    held = 0
    with open("/proc/net/tcp") as f:
        next(f)   # the column names
        for line in f:
            fields = line.split(None, 4)
            held += fields[1] == local and fields[3] == ESTABLISHED
    return held


def wait_established(port, want, deadline):
    """Polls until the proxy holds `want` established connections on `port`, or the
    deadline; returns the last count seen."""
    while True:
        seen = established_at(port)
        if seen >= want or time.monotonic() >= deadline:
            return seen
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--ready", required=True, help="file to write the JSON line to")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to open them all")
    ap.add_argument("--settle", type=float, default=30.0,
                    help="seconds, after the answers, for the proxy to hold them all")
    ap.add_argument("--hold", type=float, default=600.0, help="seconds to hold at most")
    a = ap.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    deadline = time.monotonic() + a.timeout
    socks, failed = open_all(a.port, a.count, 256, deadline)
    answered, socks, other = request_all(socks, REQUEST, deadline)
    held = wait_established(a.port, a.count, time.monotonic() + a.settle)
    state = {"count": a.count, "connected": a.count - failed, "answered": answered,
             "other": other, "established": held}
    if answered < a.count or held < a.count:
        print(f"crowd.py: the crowd is not established at port {a.port}: {a.count} wanted, "
              f"{a.count - failed} connected, {answered} answered 200 (others: {other}), "
              f"{held} established at the proxy after {a.settle:g} s: {json.dumps(state)}",
              file=sys.stderr, flush=True)
        sys.exit(1)
    with open(a.ready + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(a.ready + ".tmp", a.ready)   # a rename: run.sh never reads half a line
    signal.sigtimedwait([signal.SIGTERM], a.hold)   # blocked in main(), so it waits here
    print(json.dumps({"still_open": still_open(socks), "count": a.count}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
