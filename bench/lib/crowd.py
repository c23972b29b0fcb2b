#!/usr/bin/env python3
"""The crowd scenario's idle crowd: COUNT keep-alive client connections, each answered
once and then held open while wrk runs its small-response load beside them.

    crowd.py --port P --count N --ready FILE [--timeout S]

Opens the connections (conns.py's `open_all`, 256 handshakes in flight at a time),
sends one GET /small on every one and reads the answers (`request_all`), writes one JSON
line to FILE ({"count", "connected", "answered", "other"}) once they are all idle
keep-alive connections, and then holds them until it is terminated (SIGTERM from
run.sh), or for at most --hold seconds. A proxy that drops idle connections under load
is counted afterwards: the line run.sh logs says how many were still open at the end.

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--ready", required=True, help="file to write the JSON line to")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to open them all")
    ap.add_argument("--hold", type=float, default=600.0, help="seconds to hold at most")
    a = ap.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    deadline = time.monotonic() + a.timeout
    socks, failed = open_all(a.port, a.count, 256, deadline)
    answered, socks, other = request_all(socks, REQUEST, deadline)
    with open(a.ready + ".tmp", "w") as f:
        json.dump({"count": a.count, "connected": a.count - failed, "answered": answered,
                   "other": other}, f)
    os.replace(a.ready + ".tmp", a.ready)   # a rename: run.sh never reads half a line
    signal.sigtimedwait([signal.SIGTERM], a.hold)   # blocked in main(), so it waits here
    print(json.dumps({"still_open": still_open(socks), "count": a.count}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
