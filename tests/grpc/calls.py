"""gRPC through weir with a real client and server (Python grpcio), for tests/grpc.rs.

No generated code: every method takes and returns raw bytes (a generic handler with no
(de)serialisers), so the script needs grpcio alone.

  calls.py servers N        N servers on 127.0.0.1:0, named s0..; prints "ports P0 P1 ...",
                            serves until stdin closes, then prints "calls s0=C0 s1=C1 ..."
  calls.py client TARGET [CA_FILE AUTHORITY]
                            runs every check against TARGET (weir), over TLS when a CA is
                            given; prints one line per check; exits non-zero on a failure
  calls.py pingpong TARGET [CA_FILE AUTHORITY]
                            one bidi call to Chat whose client sends a message, waits for
                            its reply, then sends the next (20 rounds; 30 s deadline);
                            prints "ok ping-pong N" or fails
  calls.py deadline TARGET SERVER
                            a call to Hang through TARGET with a 0.5 s deadline ends
                            DEADLINE_EXCEEDED; SERVER (asked directly) saw it cancelled;
                            the next call through TARGET reaches the server from the same
                            connection the hung call came on; prints "ok ..." per check
  calls.py status TARGET PATH [SIZE]
                            one unary call to PATH with SIZE bytes (0 unless given);
                            prints "status CODE_NAME MESSAGE"

Methods (service weir.Test): Echo (unary, echoes the request and says whether a deadline
arrived; metadata back in headers and trailers), Fail (aborts NOT_FOUND "nope" with
trailing metadata), Split (server streaming), Sum (client streaming), Chat (bidi), Who
(unary: the server's name), Slow (unary, answers after 3 s), Hang (unary, answers only
when cancelled, then notes it), Cancelled (unary: "N PEER", the Hang calls cancelled and
the last one's peer), Peer (unary: the caller's address as the server sees it).
"""

import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "weir.Test"


def handlers(name, counts):
    def count():
        with counts["lock"]:
            counts[name] += 1

    def echo(request, context):
        count()
        context.send_initial_metadata((("x-head", "h1"),))
        context.set_trailing_metadata((("x-trail", "t1"), ("x-bin-bin", b"\x00\xff")))
        # grpc-timeout arrived: the call's deadline is the client's (30 s), not none
        # (grpcio then reports a time far in the future).
        left = context.time_remaining()
        deadline = b"deadline" if left is not None and left <= 30 else b"none"
        return request + b"|" + deadline

    def fail(request, context):
        count()
        context.set_trailing_metadata((("x-why", "because"),))
        context.abort(grpc.StatusCode.NOT_FOUND, "nope")

    def split(request, context):
        count()
        for i in range(int(request)):
            yield b"part-%d" % i

    def total(requests, context):
        count()
        return b"%d" % sum(len(r) for r in requests)

    def chat(requests, context):
        count()
        for r in requests:
            yield r.upper()

    def who(request, context):
        count()
        return name.encode()

    def slow(request, context):
        count()
        time.sleep(3)
        return b"late"

    def hang(request, context):
        count()
        done = threading.Event()

        def ended():
            if not context.is_active():
                with counts["lock"]:
                    counts["cancelled"] += 1
            done.set()

        with counts["lock"]:
            counts["hang_peer"] = context.peer()
        context.add_callback(ended)
        done.wait(20)
        return b"late"

    def cancelled(request, context):
        with counts["lock"]:
            return b"%d %s" % (counts["cancelled"], counts["hang_peer"].encode())

    def peer(request, context):
        return context.peer().encode()

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Split": grpc.unary_stream_rpc_method_handler(split),
            "Sum": grpc.stream_unary_rpc_method_handler(total),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
            "Who": grpc.unary_unary_rpc_method_handler(who),
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "Hang": grpc.unary_unary_rpc_method_handler(hang),
            "Cancelled": grpc.unary_unary_rpc_method_handler(cancelled),
            "Peer": grpc.unary_unary_rpc_method_handler(peer),
        },
    )


def servers(n):
    counts = {"lock": threading.Lock(), "cancelled": 0, "hang_peer": ""}
    running, ports = [], []
    for i in range(n):
        name = "s%d" % i
        counts[name] = 0
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers((handlers(name, counts),))
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        server.start()
        running.append(server)
    print("ports " + " ".join(str(p) for p in ports), flush=True)
    sys.stdin.read()
    for server in running:
        server.stop(None)
    print("calls " + " ".join("s%d=%d" % (i, counts["s%d" % i]) for i in range(n)), flush=True)


def channel(target, ca_file=None, authority=None):
    if ca_file is None:
        return grpc.insecure_channel(target)
    with open(ca_file, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(target, creds, options=(("grpc.ssl_target_name_override", authority),))


def method(ch, kind, name):
    make = getattr(ch, kind)
    return make("/%s/%s" % (SERVICE, name))


def check(what, got, want):
    if got != want:
        print("FAIL %s: got %.200r, want %.200r" % (what, got, want), flush=True)
        sys.exit(1)
    print("ok %s" % what, flush=True)


def client(target, ca_file=None, authority=None):
    ch = channel(target, ca_file, authority)
    echo = method(ch, "unary_unary", "Echo")
    reply, call = echo.with_call(b"hi", timeout=30)
    check("unary message and deadline", reply, b"hi|deadline")
    check("initial metadata", dict(call.initial_metadata()).get("x-head"), "h1")
    trailing = dict(call.trailing_metadata())
    check("trailing metadata", (trailing.get("x-trail"), trailing.get("x-bin-bin")), ("t1", b"\x00\xff"))
    check("unary status", call.code(), grpc.StatusCode.OK)
    big = b"x" * 1_000_000
    reply = echo(big)
    check("unary 1 MB message", (len(reply), reply == big + b"|none"), (len(big) + 5, True))

    try:
        method(ch, "unary_unary", "Fail")(b"", timeout=30)
        check("abort", "no error", "NOT_FOUND")
    except grpc.RpcError as e:
        check("abort status", (e.code(), e.details()), (grpc.StatusCode.NOT_FOUND, "nope"))
        check("abort trailing metadata", dict(e.trailing_metadata()).get("x-why"), "because")

    parts = list(method(ch, "unary_stream", "Split")(b"5", timeout=30))
    check("server streaming", parts, [b"part-%d" % i for i in range(5)])

    total = method(ch, "stream_unary", "Sum")(iter([b"a" * 10, b"b" * 20, b"c" * 30]), timeout=30)
    check("client streaming", total, b"60")

    replies = list(method(ch, "stream_stream", "Chat")(iter([b"one", b"two", b"three"]), timeout=30))
    check("bidi streaming", replies, [b"ONE", b"TWO", b"THREE"])

    try:
        method(ch, "unary_unary", "Slow")(b"", timeout=0.5)
        check("deadline", "answered", "DEADLINE_EXCEEDED")
    except grpc.RpcError as e:
        check("deadline", e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    who = method(ch, "unary_unary", "Who")
    seen = {}
    for _ in range(300):
        name = who(b"", timeout=30).decode()
        seen[name] = seen.get(name, 0) + 1
    print("who " + " ".join("%s=%d" % (k, seen[k]) for k in sorted(seen)), flush=True)
    ch.close()


def pingpong(target, ca_file=None, authority=None):
    import queue

    ch = channel(target, ca_file, authority)
    outbox = queue.Queue()

    def requests():
        while True:
            message = outbox.get()
            if message is None:
                return
            yield message

    outbox.put(b"m0")
    replies = method(ch, "stream_stream", "Chat")(requests(), timeout=30)
    rounds = 0
    try:
        for reply in replies:
            check_quiet("reply %d" % rounds, reply, b"M%d" % rounds)
            rounds += 1
            outbox.put(b"m%d" % rounds if rounds < 20 else None)
    except grpc.RpcError as e:
        check("ping-pong", (e.code(), e.details(), rounds), (grpc.StatusCode.OK, None, 20))
    check("ping-pong", rounds, 20)
    print("ok ping-pong %d" % rounds, flush=True)
    ch.close()


def check_quiet(what, got, want):
    if got != want:
        print("FAIL %s: got %.200r, want %.200r" % (what, got, want), flush=True)
        sys.exit(1)


def deadline(target, server):
    ch, direct = channel(target), channel(server)
    try:
        method(ch, "unary_unary", "Hang")(b"", timeout=0.5)
        check("hang deadline", "answered", "DEADLINE_EXCEEDED")
    except grpc.RpcError as e:
        check("hang deadline", e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
    # The server is asked directly, not through weir: its count of cancelled calls.
    give_up = time.time() + 10
    while True:
        n, hang_peer = method(direct, "unary_unary", "Cancelled")(b"", timeout=10).split(b" ", 1)
        if int(n) >= 1 or time.time() > give_up:
            break
        time.sleep(0.01)
    check("server saw its call cancelled", int(n), 1)
    # Its stream slot is free: the next call goes on the same upstream connection.
    next_peer = method(ch, "unary_unary", "Peer")(b"", timeout=10)
    check("next call on the same upstream connection", next_peer, hang_peer)
    ch.close()
    direct.close()


def status(target, path, size="0"):
    ch = grpc.insecure_channel(target)
    try:
        ch.unary_unary(path)(b"x" * int(size), timeout=30)
        print("status OK -", flush=True)
    except grpc.RpcError as e:
        print("status %s %s" % (e.code().name, e.details()), flush=True)
    ch.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "servers":
        servers(int(sys.argv[2]))
    elif cmd == "client":
        client(*sys.argv[2:])
    elif cmd == "pingpong":
        pingpong(*sys.argv[2:])
    elif cmd == "deadline":
        deadline(*sys.argv[2:])
    elif cmd == "status":
        status(*sys.argv[2:])
    else:
        sys.exit("unknown command %s" % cmd)
