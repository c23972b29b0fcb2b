"""Thousands of client connections held open against a proxy: the idle, tls-idle and
burst subcommands, and the steps the crowd scenario (crowd.py) shares with them.

Each measures what the proxy's process tree holds for them (RSS before, while holding,
after), never the client's own cost; all over loopback, bounded by a deadline.
"""

import asyncio
import errno
import json
import selectors
import socket
import ssl
import threading
import time

from httpclient import client_tls
from procs import procstat, tree, vmrss_kib, workers



def content_length(head):
    """A response head's Content-Length (0 without one): how much body to wait for."""
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return int(v)
    return 0

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
                        if len(body) >= content_length(head):
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


def open_all(port, count, batch, deadline):
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


def request_all(socks, req, deadline):
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
            if len(body) >= content_length(head):
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
        batch, lost = open_all(a.port, min(a.batch, a.count - len(socks) - failed), a.batch, deadline)
        ok, batch, _ = request_all(batch, b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path.encode(), deadline)
        first += ok
        socks += batch
        failed += lost
    connected, connect_s = len(socks), round(time.monotonic() - t0, 2)
    req = b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % a.path.encode()
    oks, others = [], {}
    for _ in range(a.rounds):
        ok, socks, other = request_all(socks, req, time.monotonic() + a.timeout)
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
