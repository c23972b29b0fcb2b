"""gRPC servers with the standard health service (grpcio-health-checking), for
tests/grpc_health.rs.

  health.py servers N   N servers on 127.0.0.1:0 (plain h2c), named s0..; each serves
                        grpc.health.v1.Health (overall "" and "weir.Test" SERVING) and
                        weir.Test/Who (unary: the server's name, raw bytes). Prints
                        "ports P0 P1 ..."; then reads commands from stdin, one a line,
                        answering "ok" to each:
                          set I SERVICE STATUS   server I's SERVICE ("-" for "") to
                                                 STATUS (SERVING, NOT_SERVING, ...)
                        and stops when stdin closes.
  health.py who TARGET N
                        N unary Who calls to TARGET (weir); prints the names, one a
                        line; exits non-zero if a call fails.
"""

import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def serve(n):
    servers, healths, ports = [], [], []
    for i in range(n):
        name = "s%d" % i
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        h = health.HealthServicer()
        h.set("", health_pb2.HealthCheckResponse.SERVING)
        h.set("weir.Test", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(h, server)
        who = grpc.unary_unary_rpc_method_handler(lambda req, ctx, name=name: name.encode())
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("weir.Test", {"Who": who}),)
        )
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        server.start()
        servers.append(server)
        healths.append(h)
    print("ports " + " ".join(str(p) for p in ports), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[:1] == ["set"]:
            i, service, status = int(cmd[1]), cmd[2], cmd[3]
            service = "" if service == "-" else service
            healths[i].set(service, health_pb2.HealthCheckResponse.ServingStatus.Value(status))
        print("ok", flush=True)
    for s in servers:
        s.stop(0)


def who(target, n):
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/weir.Test/Who")
        for _ in range(int(n)):
            print(call(b"", timeout=10).decode(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "servers":
        serve(int(sys.argv[2]))
    else:
        who(sys.argv[2], sys.argv[3])
