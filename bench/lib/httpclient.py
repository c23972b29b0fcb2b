"""The few HTTP/1.1 client steps the harness takes itself (readiness, the start-up
probe, the idle TLS clients): one GET on a fresh connection, one response read, the
client's TLS settings."""

import socket
import ssl


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
