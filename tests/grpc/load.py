"""gRPC load through weir with real grpcio client and servers, for tests/grpc_load.rs.

One server per process, so a test can stop one gracefully (GOAWAY) or SIGKILL it while
the others serve. Generic handlers, no generated code, as in calls.py.

  load.py server NAME       one server on 127.0.0.1:0; prints "port P"; then reads stdin:
                            "stop G" stops it with a grace of G seconds (grpcio sends
                            GOAWAY, lets calls in flight finish, closes the listener)
                            and prints "stopped"; at EOF prints "calls N" and exits
  load.py client TARGET CALLS CHANNELS THREADS
                            CALLS unary calls to weir.Load/Who over CHANNELS channels
                            (each its own connection), THREADS callers per channel;
                            prints "progress N s0=.. s1=.." every 100 calls, then
                            "done ok=N failed=M", one "fail CODE COUNT DETAILS" line per
                            distinct failure and "who s0=.. s1=.." (calls per server)
"""

import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "weir.Load"
# Each call holds its server this long, so calls are in flight on every server when a
# test stops or kills one.
WORK_SECONDS = 0.005


def server(name):
    count = [0]
    lock = threading.Lock()

    def who(request, context):
        with lock:
            count[0] += 1
        time.sleep(WORK_SECONDS)
        return name.encode()

    handler = grpc.method_handlers_generic_handler(
        SERVICE, {"Who": grpc.unary_unary_rpc_method_handler(who)}
    )
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    s.add_generic_rpc_handlers((handler,))
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print("port %d" % port, flush=True)
    for line in sys.stdin:
        words = line.split()
        if words and words[0] == "stop":
            s.stop(float(words[1])).wait()
            print("stopped", flush=True)
    s.stop(None)
    print("calls %d" % count[0], flush=True)


class Tally:
    """Results shared by the callers: replies per server, failures by code."""

    def __init__(self, calls):
        self.lock = threading.Lock()
        self.left = calls
        self.done = 0
        self.who = {}
        self.failures = {}

    def take(self):
        with self.lock:
            if self.left == 0:
                return False
            self.left -= 1
            return True

    def record(self, name=None, error=None):
        with self.lock:
            if error is None:
                self.who[name] = self.who.get(name, 0) + 1
            else:
                key = (error.code().name, error.details())
                self.failures[key] = self.failures.get(key, 0) + 1
            self.done += 1
            if self.done % 100 == 0:
                print("progress %d %s" % (self.done, self.names()), flush=True)

    def names(self):
        return " ".join("%s=%d" % (k, self.who[k]) for k in sorted(self.who))


def caller(who, tally):
    while tally.take():
        try:
            tally.record(name=who(b"", timeout=30).decode())
        except grpc.RpcError as e:
            tally.record(error=e)


def client(target, calls, channels, threads):
    tally = Tally(int(calls))
    # A local subchannel pool: each channel dials its own connection to weir.
    chans = [
        grpc.insecure_channel(target, options=(("grpc.use_local_subchannel_pool", 1),))
        for _ in range(int(channels))
    ]
    callers = []
    for ch in chans:
        who = ch.unary_unary("/%s/Who" % SERVICE)
        for _ in range(int(threads)):
            t = threading.Thread(target=caller, args=(who, tally))
            t.start()
            callers.append(t)
    for t in callers:
        t.join()
    failed = sum(tally.failures.values())
    print("done ok=%d failed=%d" % (tally.done - failed, failed), flush=True)
    for (code, details), n in sorted(tally.failures.items()):
        print("fail %s %d %s" % (code, n, details), flush=True)
    print("who %s" % tally.names(), flush=True)
    for ch in chans:
        ch.close()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "server":
        server(sys.argv[2])
    elif cmd == "client":
        client(*sys.argv[2:])
    else:
        sys.exit("unknown command %s" % cmd)
