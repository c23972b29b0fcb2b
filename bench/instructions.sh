#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind: a figure that does
# not swing with the load of a shared machine, unlike req/s and CPU time. Use it to
# compare two builds, or one build under two configs, request for request.
#
#   bench/instructions.sh WEIR [CONFIG.toml]
#   bench/instructions.sh nginx|haproxy|weir-fair [WEIR]
#
# Runs WEIR under callgrind twice, with N1 and then N2 sequential keep-alive requests
# (GET $REQ_PATH with Host: $REQ_HOST) to one built-in origin, and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up and shutdown cancel out. A CONFIG may say
# {proxy} and {origin} for the two loopback addresses; without one, quick mode is used.
# With TLS=1 the client speaks TLS 1.3 to the proxy (one connection, so one handshake in each
# run, which cancels out like start-up): the script makes a P-256 certificate, which a
# CONFIG names as {cert} and {key}; quick mode passes it with --tls-cert/--tls-key;
# weir-fair, nginx and haproxy get the fair harness's TLS 1.3 listener
# (bench/proxies/*.sh) on it, and the script prints the protocol and suite agreed.
# With KEEP=DIR the two callgrind profiles are kept there (N1.cg, N2.cg), for
# `callgrind_annotate` on a binary built with symbols (bench/profiling.md says how).
# With NEWCONN=1 each request comes on a connection of its own (the client closes it
# after the response): instructions per new connection, accept to close. NEWCONN=close
# does the same with `Connection: close` in each request, so the proxy closes first
# (as bench/run.sh's close scenario). With NEWCONN=1, CLOSE_AFTER=S makes the client
# wait S seconds after each response before it closes (a client over a network: its
# FIN comes after the proxy has gone back to waiting, which loopback hides).
# The anchors (nginx, haproxy) run with one worker and the fair harness's work
# (bench/README.md: upstream keep-alive, X-Forwarded-For only, no access log) in front
# of the same built-in origin, which `weir backend` serves (WEIR, default
# target/release/weir); weir-fair runs WEIR with the same work (balancer only, XFF
# only), for the side-by-side (bench/profiling.md, issue 24).
# With ORIGIN_DIR=DIR the origin serves the files in DIR (`weir backend --dir`), e.g.
# a 1 MiB file `1m` for REQ_PATH=/1m, instead of its short built-in answer.
# With LOG=1 a CONFIG's chain (weir-fair's too) gets weir's default access log ahead of
# its first entry, as bench/proxies/weir.sh's ACCESS_LOG does (`log`, combined, to a
# file in the temp dir): compare with the same run without it for what the log costs.
# With SYSCALLS=1 the proxy runs under `strace -f -c` instead of callgrind and the
# figure is system calls per request, with the calls of each kind per request after it.
# With WRK=C the client is `wrk -t1 -cC` (with NEWCONN=close: `Connection: close`, as
# bench/run.sh's close scenario) for N1 and then N2 seconds (defaults 2 and 6), and the
# figure is per request as wrk counts them: the proxy under load, saturated under
# callgrind. It moves by a few percent with the batch sizes the machine's load allows.
# Needs valgrind (strace with SYSCALLS=1) and python3 (and openssl with TLS=1). Loopback only; bounded (N2 requests).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KIND=weir
case $1 in
  nginx|haproxy) KIND=$1; WEIR=${2:-$HERE/../target/release/weir}; CONF= ;;
  weir-fair) WEIR=${2:-$HERE/../target/release/weir}; CONF=$HERE/lib/weir-fair.toml ;;
  *) WEIR=$1; CONF=${2:-} ;;
esac
WRK=${WRK:-}
if [ -n "$WRK" ]; then N1=${N1:-2} N2=${N2:-6}; else N1=${N1:-500} N2=${N2:-2500}; fi
REQ_HOST=${REQ_HOST:-a.example}
REQ_PATH=${REQ_PATH:-/}
TLS=${TLS:-0}
KEEP=${KEEP:-}
NEWCONN=${NEWCONN:-0}
SYSCALLS=${SYSCALLS:-0}
ORIGIN_DIR=${ORIGIN_DIR:-}
LOG=${LOG:-0}
CLOSE_AFTER=${CLOSE_AFTER:-0}
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
# weir on mimalloc executes itself again to set these (src/cli/alloc.rs); under valgrind
# that would leave the counted process at once, so they are set here.
export MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-10} MIMALLOC_ARENA_EAGER_COMMIT=${MIMALLOC_ARENA_EAGER_COMMIT:-0}
WORK=$(mktemp -d /tmp/weir-ir.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN=127.0.0.1:$(free_port)
PROXY=127.0.0.1:$(free_port)
ORIGIN_ARGS=(--name origin)
[ -z "$ORIGIN_DIR" ] || ORIGIN_ARGS=(--dir "$ORIGIN_DIR")
"$WEIR" backend --listen "$ORIGIN" "${ORIGIN_ARGS[@]}" >/dev/null 2>&1 &
ORIGIN_PID=$!
trap 'kill $ORIGIN_PID 2>/dev/null; rm -rf "$WORK"' EXIT
NGINX_TLS= HAPROXY_TLS=
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj /CN=bench.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
  cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/both.pem"
  # The fair harness's TLS settings (bench/proxies/*.sh): TLS 1.3 only, each one's
  # defaults otherwise; X25519 and TLS_AES_256_GCM_SHA384 for all three with this client.
  NGINX_TLS=" ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem; ssl_protocols TLSv1.3"
  HAPROXY_TLS=" ssl crt $WORK/both.pem ssl-min-ver TLSv1.3 alpn http/1.1"
fi
CMD=("$WEIR")
STOP=INT
if [ "$KIND" = nginx ]; then
  cat >"$WORK/nginx.conf" <<CONF
master_process off;
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream pool { server $ORIGIN; keepalive 64; keepalive_requests 1000000; }
  server { listen $PROXY$NGINX_TLS;
    location / { proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }
}
CONF
  CMD=(nginx); ARGS=(-p "$WORK" -c "$WORK/nginx.conf")
elif [ "$KIND" = haproxy ]; then
  cat >"$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
  option forwardfor
frontend fe
  bind $PROXY$HAPROXY_TLS
  default_backend pool
backend pool
  balance roundrobin
  server b1 $ORIGIN
CONF
  CMD=(haproxy); ARGS=(-db -f "$WORK/haproxy.cfg"); STOP=TERM  # it takes SIGINT slowly under valgrind
elif [ -n "$CONF" ]; then
  sed "s/{proxy}/$PROXY/g; s/{origin}/$ORIGIN/g; s|{cert}|$WORK/cert.pem|g; s|{key}|$WORK/key.pem|g" \
    "$CONF" >"$WORK/weir.toml"
  [ "$LOG" != 1 ] || sed -i "0,/^\[\[middleware\]\]/s||[[middleware]]\nbuiltin = \"log\"\nconfig = { format = \"combined\", path = \"$WORK/access.log\" }\n\n[[middleware]]|" \
    "$WORK/weir.toml"
  # weir-fair over TLS: the listener bench/proxies/weir.sh gives the tls-* scenarios.
  if [ "$TLS" = 1 ] && [ "$CONF" = "$HERE/lib/weir-fair.toml" ]; then
    sed -i "s|^listen = .*|listen = { addr = \"$PROXY\", tls = { cert = \"$WORK/cert.pem\", key = \"$WORK/key.pem\", min_version = \"1.3\" } }|" \
      "$WORK/weir.toml"
  fi
  ARGS=(serve --config "$WORK/weir.toml")
else
  ARGS=(serve --listen "$PROXY" --upstream "$ORIGIN" --threads 1)
  [ "$TLS" = 1 ] && ARGS+=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
fi

# Sends $1 sequential keep-alive requests and reads each response by its length; with
# WRK, runs wrk for $1 seconds and leaves the requests it made in $WORK/done-$1.
requests() {
  if [ -n "$WRK" ]; then
    local close=(); [ "$NEWCONN" = close ] && close=(-H "Connection: close")
    wrk -t1 -c"$WRK" -d"$1s" --timeout 5s "${close[@]}" "http://$PROXY$REQ_PATH" >"$WORK/wrk-$1" 2>&1
    awk '/requests in/ {print $1}' "$WORK/wrk-$1" >"$WORK/done-$1"
    return
  fi
  python3 - "$1" "$PROXY" "$REQ_HOST" "$REQ_PATH" "$TLS" "$NEWCONN" "$WORK/negotiated" "$CLOSE_AFTER" <<'PY'
import socket, ssl, sys, time
n, addr, host, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ip, port = addr.rsplit(":", 1)
def connect():
    s = socket.create_connection((ip, int(port)))
    if sys.argv[5] == "1":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        s = ctx.wrap_socket(s, server_hostname="bench.test")
    return s
s = connect()
if sys.argv[5] == "1":
    with open(sys.argv[7], "w") as f:
        print(s.version(), s.cipher()[0], file=f)
close = "Connection: close\r\n" if sys.argv[6] == "close" else ""
req = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n".encode()
buf = b""
for i in range(n):
    if sys.argv[6] in ("1", "close") and i > 0:
        time.sleep(float(sys.argv[8]))
        s.close()
        s = connect()
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode()
            if not head.startswith("HTTP/1.1 200"):
                sys.exit(f"unexpected answer: {head.splitlines()[0]}")
            length = next(int(l.split(":")[1]) for l in head.split("\r\n")
                          if l.lower().startswith("content-length"))
            if len(buf) >= end + 4 + length:
                buf = buf[end + 4 + length:]
                break
        buf += s.recv(65536)
PY
}

# Instructions (system calls with SYSCALLS=1) of one proxy run serving $1 requests.
count() {
  local out=$WORK/run-$1
  if [ "$SYSCALLS" = 1 ]; then
    strace -f -c -o "$out.st" "${CMD[@]}" "${ARGS[@]}" >"$out.log" 2>&1 &
  else
    valgrind --tool=callgrind --callgrind-out-file="$out.cg" "${CMD[@]}" "${ARGS[@]}" >"$out.log" 2>&1 &
  fi
  local pid=$!
  for _ in $(seq 150); do
    python3 -c "import socket,sys; socket.create_connection(('${PROXY%:*}', ${PROXY##*:}), 1)" 2>/dev/null && break
    sleep 0.2
  done
  # The key exchange group (the counted client cannot tell it): one more handshake in
  # each run, so it cancels out.
  [ "$TLS" != 1 ] || openssl s_client -brief -connect "$PROXY" </dev/null 2>&1 |
    awk -F': ' '/Temp Key/ {print $2}' >"$WORK/group"
  requests "$1"
  if [ "$SYSCALLS" = 1 ]; then
    kill -"$STOP" "$(pgrep -P "$pid" | head -1)" 2>/dev/null || kill -"$STOP" "$pid"
    wait "$pid" || true
    cp "$out.st" "$WORK/calls-$1"
    awk '$NF == "total" {print $4}' "$out.st"
    return
  fi
  kill -"$STOP" "$pid"
  wait "$pid" || true
  [ -z "$KEEP" ] || { mkdir -p "$KEEP" && cp "$out.cg" "$KEEP/$1.cg"; }
  awk '/^summary:/ {print $2}' "$out.cg"
}

a=$(count "$N1")
b=$(count "$N2")
D1=$N1 D2=$N2
if [ -n "$WRK" ]; then
  N1=$(cat "$WORK/done-$D1") N2=$(cat "$WORK/done-$D2")
  echo "wrk: $N1 requests in $D1 s, $N2 in $D2 s"
fi
# Every request of both runs logged, one line each.
[ "$LOG" != 1 ] || echo "access log: $(wc -l <"$WORK/access.log") lines for $((N1 + N2)) requests"
# The protocol and suite the counted client agreed, and the key exchange group.
[ "$TLS" != 1 ] || echo "negotiated: $(cat "$WORK/negotiated"), $(cat "$WORK/group")"
if [ "$SYSCALLS" = 1 ]; then
  echo "$(python3 -c "print(f'{($b - $a) / ($N2 - $N1):.2f}')") system calls/request ($a at $N1 requests, $b at $N2)"
  # Each kind's calls per request (strace -c columns: ... calls [errors] syscall).
  python3 - "$WORK/calls-$D1" "$WORK/calls-$D2" "$N1" "$N2" <<'PY'
import sys
def calls(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            out[f[-1]] = int(f[3])
    return out
a, b = calls(sys.argv[1]), calls(sys.argv[2])
n = int(sys.argv[4]) - int(sys.argv[3])
for name in sorted(b, key=lambda k: -(b[k] - a.get(k, 0))):
    per = (b[name] - a.get(name, 0)) / n
    if abs(per) >= 0.005:
        print(f"  {name:16} {per:6.2f}")
PY
else
  echo "$(( (b - a) / (N2 - N1) )) instructions/request (Ir $a at $N1 requests, $b at $N2)"
fi
