#!/usr/bin/env bash
# Instructions per HTTP/2 request, weir against nginx and HAProxy: a figure that does not
# swing with the load of a shared machine, unlike req/s and CPU time (the h2 sibling of
# bench/instructions.sh, which counts HTTP/1.1).
#
#   bench/h2instructions.sh [--weir PATH] [PROXY ...]      (PROXY: weir nginx haproxy)
#
# Each proxy runs with one worker (nginx `master_process off`, HAProxy `nbthread 1`,
# weir `threads = 1`) from its bench/proxies/ config, in front of one `weir backend`
# origin serving $REQ_PATH (/small: 20 bytes; /1m: 1 MiB). The proxy runs under
# valgrind's callgrind twice (this machine's VMs expose no hardware counter, so
# `perf stat -e instructions:u` says "not supported"): a warm-up of W requests then N1,
# and a warm-up then N2, each from `h2load -c 1 -m $STREAMS` on one connection; the
# figure is (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up, warm-up, the connection's set-up
# and shutdown cancel out. SYSCALLS=1 adds syscalls per request the same way, from
# `perf stat -e raw_syscalls:sys_enter -p PID` around the two runs without valgrind;
# SYSCALLS=strace counts them with `strace -c -f` instead (STRACE_OUT=DIR keeps the N2
# runs' per-call tables there).
# CALLGRIND_OUT=DIR keeps the N2 runs' callgrind files there (for callgrind_annotate).
#
# Plain h2c with prior knowledge by default, to keep TLS out of the figure; TLS=1 speaks
# TLS 1.3 + ALPN h2 instead. Needs valgrind, perf (SYSCALLS=1) or strace (SYSCALLS=strace),
# h2load, python3, openssl.
# Loopback only; bounded (2 x (W + N1 + N2) requests per proxy).
#
# NEWCONN=K opens a new connection every K requests, as run.sh's h2-newconn scenario
# (K = 10 there, over TLS: use TLS=1 NEWCONN=10) and as lib/h2load.py does it: batches
# of `h2load -c 10 -m $STREAMS -n 10*K` back to back, each client exactly K requests on
# a connection of its own, so the figure includes a handshake (TLS and h2), a
# connection's set-up and its close per K requests. (One h2load run of N/K clients at
# once left some of them waiting past weir's header timeout under valgrind.)
#
# GRPC=1 counts instructions per unary gRPC call instead, as run.sh's grpc-unary
# scenario makes them (bench/lib/grpc.sh): h2c client -> proxy -> h2c origins, each
# proxy's gRPC instance (weir `protocol = "h2c"`, HAProxy `proto h2`, nginx
# `grpc_pass`) in front of the scenario's nginx origin process (three h2c ports, one
# worker, not under valgrind), h2load POSTing one 5-byte-prefixed message with
# `content-type: application/grpc` and `te: trailers` to /weir.Bench/Unary.
# GRPC=1 UPSTREAM=http1 gives weir an HTTP/1.1 group to the same origin process's
# HTTP/1.1 ports instead (grpc-h1up): what the h2 upstream side costs per call.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WEIR=$HERE/../target/release/weir
if [ "${1:-}" = --weir ]; then WEIR=$2; shift 2; fi
PROXIES=${*:-weir nginx haproxy}
W=${W:-500}
N1=${N1:-500}
N2=${N2:-2500}
STREAMS=${STREAMS:-10}
REQ_PATH=${REQ_PATH:-/small}
TLS=${TLS:-0}
SYSCALLS=${SYSCALLS:-0}
GRPC=${GRPC:-}
NEWCONN=${NEWCONN:-0}
UPSTREAM=${UPSTREAM:-h2c}
TOOLS="valgrind h2load python3 openssl"
[ "$SYSCALLS" = strace ] && TOOLS+=" strace"
for t in $TOOLS; do
  command -v $t >/dev/null || { echo "h2instructions.sh: needs $t" >&2; exit 1; }
done
export MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-10} MIMALLOC_ARENA_EAGER_COMMIT=${MIMALLOC_ARENA_EAGER_COMMIT:-0}
WORK=$(mktemp -d /tmp/weir-h2ir.XXXXXX)
mkdir -p "$WORK/logs" "$WORK/data" "$WORK/tls"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# What bench/proxies/*.sh expect from run.sh (lib/registry.sh's `needs` and `launch`).
# `launch` here makes the config they wrote one worker, and h2c unless TLS=1.
needs() { :; }
declare -A GRPC_OK  # the proxy files mark themselves gRPC-capable (lib/registry.sh)
PIDS=()
launch() {
  local conf=${PROXY_CONF:-}
  [ -n "$conf" ] && one_worker "$conf"
  "${UNDER[@]}" "$@" >>"$WORK/logs/$PROXY_NAME.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Edits a proxy's config: one process, and h2c instead of TLS unless TLS=1.
one_worker() {
  case $PROXY_NAME in
    nginx) sed -i '1i master_process off;' "$1"
      [ "$TLS" = 1 ] || sed -i 's/ ssl http2;/ http2;/; /^ *ssl_/d' "$1" ;;
    haproxy) [ "$TLS" = 1 ] || sed -i 's/ ssl crt .*alpn h2,http\/1.1/ proto h2/' "$1" ;;
    weir) [ "$TLS" = 1 ] || sed -i 's/^listen = .*/listen = { addr = "127.0.0.1:'"$PORT"'", h2c = true }/' "$1" ;;
  esac
}

# One origin, as bench/lib/origins.sh's: /small a short text, /1m a 1 MiB file.
start_origin() {
  printf 'hello from origin 1\n' >"$WORK/data/small"
  head -c 1048576 /dev/urandom >"$WORK/data/1m"
  ORIGIN=127.0.0.1:$(free_port)
  "$WEIR" backend --listen "$ORIGIN" --dir "$WORK/data" >"$WORK/logs/origin.log" 2>&1 &
  PIDS+=("$!")
  ORIGINS=("$ORIGIN")
}

# GRPC=1: grpc-unary's origin process (bench/lib/grpc.sh), its h2c ports (or its
# HTTP/1.1 ones with UPSTREAM=http1) as ORIGINS; the request body in $BODY.
start_grpc_origin() {
  local dir=$WORK/grpc-origin p h2c="" h1="" up
  # shellcheck source=lib/grpc.sh
  . "$HERE/lib/grpc.sh"
  mkdir -p "$dir/www"
  grpc_message "a reply of 16 B." "$dir/www/reply"
  BODY=$WORK/grpc-request REQ_PATH=$GRPC_PATH
  grpc_message "a request, 16 B." "$BODY"
  CALL=(-H 'content-type: application/grpc' -H 'te: trailers' -d "$BODY")
  for _ in 1 2 3; do h2c+=" $(free_port)" h1+=" $(free_port)"; done
  grpc_origin_config "$dir" "$h2c" "$h1" >"$dir/nginx.conf"
  nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g "daemon off;" >"$WORK/logs/origin.log" 2>&1 &
  PIDS+=("$!")
  up=$h2c
  [ "$UPSTREAM" = http1 ] && up=$h1
  ORIGINS=()
  for p in $up; do ORIGINS+=("127.0.0.1:$p"); done
  for p in $h2c; do
    PORT=$p wait_call || { echo "h2instructions.sh: gRPC origin :$p did not answer" >&2; exit 1; }
  done
  export GRPC GRPC_UPSTREAM=$UPSTREAM
}

# Polls one gRPC call to port $PORT until it succeeds (0) or 10 s pass (1).
wait_call() {
  for _ in $(seq 100); do
    h2load -n 1 -c 1 "${CALL[@]}" "http://127.0.0.1:$PORT$REQ_PATH" 2>/dev/null \
      | grep -q '^requests: 1 total.* 1 succeeded' && return 0
    sleep 0.1
  done
  return 1
}

CALL=()  # h2load's options for a gRPC call (GRPC=1)
if [ -n "$GRPC" ]; then
  [ "$TLS" = 1 ] && { echo "h2instructions.sh: GRPC=1 is h2c only (as grpc-unary)" >&2; exit 1; }
  command -v nginx >/dev/null || { echo "h2instructions.sh: GRPC=1 needs nginx (the origin)" >&2; exit 1; }
  start_grpc_origin
else
  start_origin
fi
KEEPALIVE=64 MAX_CONNS=8192
export TLS_CERT="" TLS_KEY="" TLS_PEM="" H2=1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=bench.test -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" >"$WORK/tls/haproxy.pem"
TLS_CERT=$WORK/tls/cert.pem TLS_KEY=$WORK/tls/key.pem TLS_PEM=$WORK/tls/haproxy.pem
SCHEME=http
[ "$TLS" = 1 ] && SCHEME=https

# shellcheck source=/dev/null
for p in $PROXIES; do . "$HERE/proxies/$p.sh"; done

# h2load's run of $1 requests on one connection; exits non-zero unless all succeeded.
load() {
  local out batch=$1 runs=1 conns=1 i
  if [ "$NEWCONN" -gt 0 ]; then batch=$((10 * NEWCONN)) runs=$(($1 / batch)) conns=10; fi
  for ((i = 0; i < runs; i++)); do
    out=$(h2load -c "$conns" -m "$STREAMS" -n "$batch" "${CALL[@]}" "$SCHEME://127.0.0.1:$PORT$REQ_PATH" 2>&1)
    grep -q "requests: $batch total, $batch started, $batch done, $batch succeeded" <<<"$out" \
      || { echo "h2instructions.sh: h2load against $PROXY_NAME failed:" >&2; echo "$out" | tail -8 >&2; return 1; }
  done
}

UNDER=()
# Starts proxy $PROXY_NAME (under "${UNDER[@]}") and waits for its port.
start() {
  "start_$PROXY_NAME" "$PORT" 1 "$WORK/$PROXY_NAME"
  for _ in $(seq 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && return
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "h2instructions.sh: $PROXY_NAME did not come up; log:" >&2
  tail "$WORK/logs/$PROXY_NAME.log" >&2
  exit 1
}

stop() {
  kill "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
}

# Instructions of one proxy run under callgrind serving W then $1 requests.
instructions() {
  local out=$WORK/$PROXY_NAME-$1.cg
  UNDER=(valgrind --tool=callgrind --callgrind-out-file="$out")
  start
  load "$W"
  load "$1"
  stop
  UNDER=()
  [ -n "${CALLGRIND_OUT:-}" ] && [ "$1" = "$N2" ] && mkdir -p "$CALLGRIND_OUT" && cp "$out" "$CALLGRIND_OUT/$PROXY_NAME.cg"
  awk '/^summary:/ {print $2}' "$out"
}

# Syscalls the proxy (not under valgrind) makes serving $1 requests after a warm-up.
syscalls() {
  local out=$WORK/perf.txt
  start
  load "$W"
  if [ "$SYSCALLS" = strace ]; then
    strace -c -f -q -p "$PROXY_PID" -o "$out" &
    local tracer=$!
    local _
    for _ in $(seq 100); do  # until strace has attached (10 s at most)
      [ "$(awk '/^TracerPid/ {print $2}' "/proc/$PROXY_PID/status")" != 0 ] && break
      sleep 0.1
    done
    load "$1"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    stop
    [ -n "${STRACE_OUT:-}" ] && [ "$1" = "$N2" ] && mkdir -p "$STRACE_OUT" && cp "$out" "$STRACE_OUT/$PROXY_NAME.strace"
    awk '$NF == "total" {print $4; exit}' "$out"
    return
  fi
  perf stat -x, -e raw_syscalls:sys_enter -p "$PROXY_PID" -o "$out" -- \
    bash -c "$(declare -f load); $(declare -p CALL); NEWCONN=$NEWCONN SCHEME=$SCHEME PORT=$PORT STREAMS=$STREAMS REQ_PATH=$REQ_PATH PROXY_NAME=$PROXY_NAME load $1"
  stop
  awk -F, '/^[0-9]/ {print $1; exit}' "$out"
}

per_request() {  # instructions | syscalls
  local a b
  a=$("$1" "$N1")
  b=$("$1" "$N2")
  [ -n "$a" ] && [ -n "$b" ] || exit 1
  python3 -c "print(f'{($b - $a) / ($N2 - $N1):.1f}')"
}

for p in $PROXIES; do
  PORT=$(free_port) PROXY_NAME=$p
  mkdir -p "$WORK/$p"
  case $p in
    weir) PROXY_CONF=$WORK/$p/weir.toml ;;
    nginx) PROXY_CONF=$WORK/$p/nginx.conf ;;
    haproxy) PROXY_CONF=$WORK/$p/haproxy.cfg ;;
    *) echo "h2instructions.sh: unknown proxy $p" >&2; exit 1 ;;
  esac
  [ -n "$GRPC" ] && [ "$UPSTREAM" = http1 ] && [ "$p" != weir ] && {
    echo "$p: skipped (UPSTREAM=http1 is weir's grpc-h1up alone)"; continue; }
  what=request via=""
  [ -n "$GRPC" ] && what=call via=", unary gRPC to $UPSTREAM origins"
  line="$p: $(per_request instructions) instructions/$what"
  [ "$SYSCALLS" != 0 ] && line+=", $(per_request syscalls) syscalls/$what"
  shape="-c 1"
  [ "$NEWCONN" -gt 0 ] && shape="-c 10 -n $((10 * NEWCONN)) in batches: a new connection every $NEWCONN requests,"
  echo "$line (h2load $shape -m $STREAMS, $SCHEME $REQ_PATH$via, N $N1 -> $N2)"
done
