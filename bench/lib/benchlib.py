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
import errno
import json
import math
import os
import asyncio
import selectors
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

import grpcreport
import h2report
import spread

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------- processes

def _children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(pid):
    """pid and all its descendants (nginx: master + workers)."""
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def procstat(pids):
    """(rss_kib, cpu_ticks) summed over pids; missing processes count as zero."""
    rss = ticks = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])  # utime + stime (all threads)
            with open(f"/proc/{p}/statm") as f:
                rss += int(f.read().split()[1]) * PAGE_KIB
        except (OSError, IndexError, ValueError):
            pass
    return rss, ticks


def workers(pid):
    """The processes of pid's tree that have no children: nginx's workers, or pid itself
    for a single-process proxy (weir, HAProxy with -db)."""
    kids = _children_map()
    return [p for p in tree(pid) if not kids.get(p)]


def vmrss_kib(pids):
    """VmRSS (KiB) from /proc/PID/status, summed over pids."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- HTTP bits

def client_tls():
    """The benchmark client's TLS: 1.3 only, no verification (a throwaway self-signed
    certificate on loopback)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def http_get(port, path="/small", timeout=2.0, tls=False):
    """One GET on a fresh connection; returns the status code (or raises)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        s = client_tls().wrap_socket(raw, server_hostname="bench.test") if tls else raw
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1])


def read_response(sock, buf=b""):
    """Read one Content-Length-framed response head+body from a blocking socket."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside response body")
        rest += chunk
    return int(head.split(b" ", 2)[1]), rest[length:]


# ---------------------------------------------------------------- subcommands

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


def cmd_procstat(a):
    rss, ticks = procstat(tree(a.pid))
    print(json.dumps({"rss_kib": rss, "cpu_ticks": ticks}))


def cmd_measure(a):
    """Run wrk (or any load command that prints a 'WRKJSON {...}' line), sampling the
    proxy's process tree for peak RSS and CPU time spent during the run."""
    pids = tree(a.pid)
    opids = [int(p) for p in a.origins.split(",") if p] if a.origins else []
    opids = [q for p in dict.fromkeys(opids) for q in tree(p) if q not in pids]   # nginx: + workers
    _, t0 = procstat(pids)
    _, o0 = procstat(opids)
    w0 = time.monotonic()
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], procstat(pids)[0])
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        proc = subprocess.run(a.cmd, capture_output=True, text=True, timeout=a.timeout)
        out, rc = proc.stdout, proc.returncode
        err = proc.stderr
    except subprocess.TimeoutExpired as e:
        out, rc, err = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), -1, "timeout"
    stop.set()
    th.join()
    wall = time.monotonic() - w0
    rss_end, t1 = procstat(pids)
    _, o1 = procstat(opids)
    rec = dict(json.loads(a.meta)) if a.meta else {}
    if opids:   # what the origins spent meanwhile: a proxy can make them work harder
        rec["origin_cpu_s"] = round((o1 - o0) / CLK_TCK, 3)
    rec.update(rss_kib=max(peak[0], rss_end), cpu_pct=round(100.0 * (t1 - t0) / CLK_TCK / wall, 1),
               cpu_s=round((t1 - t0) / CLK_TCK, 3), rc=rc)
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            rec.update(json.loads(line[8:]))
    if "requests" not in rec:
        rec["error"] = (err or out)[-500:]
    print(json.dumps(rec))


def still_open(socks):
    """Connections the proxy has not closed: a peek that finds neither bytes nor EOF."""
    alive = 0
    for s in socks:
        try:
            alive += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def cmd_idle(a):
    """Open COUNT client connections, send one small request on each (so each becomes an
    idle keep-alive connection), hold them, and report the proxy's RSS before/after."""
    pids = tree(a.pid)
    deadline = time.monotonic() + a.timeout
    base, _ = procstat(pids)
    req = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
    socks, answered, failed = [], 0, 0
    sel = selectors.DefaultSelector()
    batch = a.batch
    while len(socks) + failed < a.count and time.monotonic() < deadline:
        n = min(batch, a.count - len(socks) - failed)
        pending = {}
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", a.port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            pending[s] = [b"", False]  # received bytes, request sent
            sel.register(s, selectors.EVENT_WRITE)
        while pending and time.monotonic() < deadline:
            for key, ev in sel.select(timeout=1.0):
                s = key.fileobj
                st = pending[s]
                if ev & selectors.EVENT_WRITE and not st[1]:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        sel.unregister(s); s.close(); del pending[s]; failed += 1
                        continue
                    s.send(req)
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ)
                elif ev & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(65536)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(s); s.close(); del pending[s]; failed += 1
                        continue
                    st[0] += chunk
                    head, sep, body = st[0].partition(b"\r\n\r\n")
                    if sep:
                        length = 0
                        for line in head.split(b"\r\n")[1:]:
                            k, _, v = line.partition(b":")
                            if k.strip().lower() == b"content-length":
                                length = int(v)
                        if len(body) >= length:
                            sel.unregister(s)
                            del pending[s]
                            socks.append(s)
                            answered += 1
        for s in list(pending):
            sel.unregister(s); s.close(); failed += 1
    time.sleep(a.hold)
    # all held connections must still be open (the proxy did not drop them)
    alive = still_open(socks)
    loaded, _ = procstat(pids)
    for s in socks:
        s.close()
    rec = dict(json.loads(a.meta)) if a.meta else {}
    rec.update(base_kib=base, loaded_kib=loaded, delta_kib=loaded - base,
               opened=len(socks), alive=alive, failed=failed,
               per_conn_bytes=round((loaded - base) * 1024 / max(1, alive)))
    print(json.dumps(rec))


async def _tls_idle_open(port, count, batch, deadline):
    """Opens `count` TLS connections, `batch` at a time in flight; each completes the
    handshake and one keep-alive GET /small whose whole response is read. Returns the
    (reader, writer) pairs left open and how many failed."""
    ctx = client_tls()
    req = b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n"
    gate = asyncio.Semaphore(batch)
    failed = [0]

    async def one():
        async with gate:
            try:
                left = deadline - time.monotonic()
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", port, ssl=ctx, server_hostname="bench.test"), left)
                w.write(req)
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), deadline - time.monotonic())
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        length = int(v)
                await asyncio.wait_for(r.readexactly(length), deadline - time.monotonic())
                if int(head.split(b" ", 2)[1]) != 200:
                    raise ConnectionError("status")
                return r, w
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ssl.SSLError,
                    ValueError, IndexError, ConnectionError):
                failed[0] += 1
                return None

    conns = await asyncio.gather(*(one() for _ in range(count)))
    return [c for c in conns if c], failed[0]


async def _tls_idle(a):
    deadline = time.monotonic() + a.timeout
    proc = workers(a.pid)
    base = vmrss_kib(proc)
    t0 = time.monotonic()
    conns, failed = await _tls_idle_open(a.port, a.count, a.batch, deadline)
    open_s = round(time.monotonic() - t0, 2)
    await asyncio.sleep(a.hold)
    # still open: nothing to read (a closed connection reads EOF at once)
    alive = sum(1 for r, w in conns if not r.at_eof() and not w.is_closing())
    loaded = vmrss_kib(proc)
    for _, w in conns:
        w.transport.abort()
    rec = dict(json.loads(a.meta)) if a.meta else {}
    rec.update(base_kib=base, loaded_kib=loaded, delta_kib=loaded - base,
               opened=len(conns), alive=alive, failed=failed, open_s=open_s,
               processes=len(proc), per_conn_bytes=round((loaded - base) * 1024 / max(1, alive)))
    return rec


def cmd_tls_idle(a):
    """Open COUNT TLS 1.3 connections (BATCH handshakes in flight at a time), one keep-alive
    request each, hold them idle, and report the VmRSS of the proxy's worker process(es)
    before and while holding: what each idle TLS connection costs."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 64), hard))
    print(json.dumps(asyncio.run(_tls_idle(a))))


def _open_all(port, count, batch, deadline):
    """Connect `count` sockets, `batch` handshakes in flight at a time; returns the open ones."""
    socks, failed = [], 0
    sel = selectors.DefaultSelector()
    while len(socks) + failed < count and time.monotonic() < deadline:
        pending = set()
        for _ in range(min(batch, count - len(socks) - failed)):
            s = socket.socket()
            s.setblocking(False)
            if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
                s.close(); failed += 1
                continue
            pending.add(s)
            sel.register(s, selectors.EVENT_WRITE)
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                s = key.fileobj
                sel.unregister(s); pending.discard(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    s.close(); failed += 1
                else:
                    socks.append(s)
        for s in pending:
            sel.unregister(s); s.close(); failed += 1
    sel.close()
    return socks, failed


def _round(socks, req, deadline):
    """Sends `req` on every socket at once, then reads every response; returns how many
    got a whole 200, the sockets still usable, and what the others got."""
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        try:
            s.send(req)
        except OSError:
            continue
        got[s] = b""
        sel.register(s, selectors.EVENT_READ)
    ok, alive, other = 0, [], {}
    while got and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(s); del got[s]
                other["closed"] = other.get("closed", 0) + 1
                continue
            got[s] += chunk
            head, sep, body = got[s].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(body) >= length:
                sel.unregister(s); del got[s]
                alive.append(s)
                if head.startswith(b"HTTP/1.1 200"):
                    ok += 1
                else:
                    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                    other[status] = other.get(status, 0) + 1
    if got:
        other["no answer"] = len(got)
    sel.close()
    return ok, alive, other


def cmd_burst(a):
    """COUNT keep-alive connections send a request at once (ROUNDS times), then close.
    Each connection first makes one request as soon as it is open (BATCH at a time), so
    the burst is of keep-alive connections, as in the field: opening thousands takes
    seconds, and a proxy closes a connection that sends nothing for its first-request
    timeout.
    Reports the process tree's RSS before, its peak during (sampled every 50 ms), with
    the connections open and idle after the last round, and AFTER seconds after the
    close (plus the lowest seen by then). The question is whether a proxy gives back
    what a burst took."""
    import resource
    need = a.count + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    pids = tree(a.pid)
    deadline = time.monotonic() + a.timeout
    base, _ = procstat(pids)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], procstat(pids)[0])
            stop.wait(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.monotonic()
    socks, failed, first = [], 0, 0
    while len(socks) + failed < a.count and time.monotonic() < deadline:
        batch, lost = _open_all(a.port, min(a.batch, a.count - len(socks) - failed), a.batch, deadline)
        ok, batch, _ = _round(batch, b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path.encode(), deadline)
        first += ok
        socks += batch
        failed += lost
    connected, connect_s = len(socks), round(time.monotonic() - t0, 2)
    req = b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path.encode()
    oks, others = [], {}
    for _ in range(a.rounds):
        ok, socks, other = _round(socks, req, time.monotonic() + a.timeout)
        oks.append(ok)
        for k, v in other.items():
            others[k] = others.get(k, 0) + v
    stop.set()
    th.join()
    held, _ = procstat(pids)
    peak[0] = max(peak[0], held)
    for s in socks:
        s.close()
    t_close = time.monotonic()
    low = held
    after = held
    while time.monotonic() - t_close < a.after:
        time.sleep(0.25)
        after, _ = procstat(pids)
        low = min(low, after)
    rec = dict(json.loads(a.meta)) if a.meta else {}
    rec.update(base_kib=base, peak_kib=peak[0], held_kib=held, after_kib=after, low_kib=low,
               after_s=a.after, connected=connected, failed=failed, first_ok=first, ok=oks, not_ok=others, connect_s=connect_s,
               per_conn_bytes=round((peak[0] - base) * 1024 / max(1, connected)))
    print(json.dumps(rec))


# ---------------------------------------------------------------- report

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
