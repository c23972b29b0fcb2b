#!/usr/bin/env bash
# What each proxy in bench/ sends upstream: the request head an origin receives for one
# client request through every proxy, one under the other, so "the same forwarded
# headers" in bench/README.md is checked, not assumed.
#
#   bench/headers.sh [--weir PATH] [--proxies LIST] [--log] [--h2]
#
# The three origins are `weir backend --echo` (they answer with the request head exactly
# as received). --log renders every proxy with its default access log on (run.sh's log
# scenario). --h2 renders the h2-* scenarios' listener (TLS 1.3, ALPN h2; needs openssl)
# and asks over HTTP/2 (`curl --http2`: the Host given becomes `:authority`). Loopback
# only; starts and stops its own processes.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
LIB=$HERE/lib
PY="python3 $LIB/benchlib.py"
WEIR=$ROOT/target/release/weir
PROXY_LIST="weir nginx haproxy caddy"
KEEPALIVE=64 MAX_CONNS=8192 KEEP=0 WITH_LOG=0 WITH_H2=0
while [ $# -gt 0 ]; do
  case $1 in
    --weir) WEIR=$2; shift 2 ;;
    --proxies) PROXY_LIST=${2//,/ }; shift 2 ;;
    --log) WITH_LOG=1; shift ;;
    --h2) WITH_H2=1; shift ;;
    *) echo "headers.sh: unknown option $1 (see the head of this file)" >&2; exit 2 ;;
  esac
done
log() { printf '%s\n' "$*" >&2; }
# shellcheck source=lib/registry.sh
. "$LIB/registry.sh"
[ -x "$WEIR" ] || { echo "headers.sh: no weir binary at $WEIR (cargo build --release, or --weir PATH)" >&2; exit 1; }
NEED_CMD[weir]=$WEIR
WORK=$(mktemp -d /tmp/weir-headers.XXXXXX)
mkdir -p "$WORK/logs"
trap cleanup EXIT
trap 'exit 130' INT TERM

ORIGINS=()
for i in 1 2 3; do
  port=$($PY freeport 1)
  PROXY_NAME=origin$i launch "$WEIR" backend --listen "127.0.0.1:$port" --echo
  ORIGINS+=("127.0.0.1:$port")
done
for o in "${ORIGINS[@]}"; do $PY wait "${o##*:}" --path /small; done
scheme=http wait_tls=() curl_h2=()
if [ "$WITH_H2" = 1 ]; then   # run.sh's h2 listener: the same certificate kind, H2 set
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=bench.test -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
  cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" >"$WORK/tls/haproxy.pem"
  export H2=1 TLS_CERT=$WORK/tls/cert.pem TLS_KEY=$WORK/tls/key.pem TLS_PEM=$WORK/tls/haproxy.pem
  scheme=https wait_tls=(--tls) curl_h2=(-k --http2 -w '(over HTTP/%{http_version})\n')
fi

for p in $PROXY_LIST; do
  if ! command -v "${NEED_CMD[$p]:-}" >/dev/null; then echo "== $p: not installed (${NEED_HINT[$p]:-})"; continue; fi
  [ "$WITH_LOG" = 1 ] && [ -n "${NO_LOG[$p]:-}" ] && { echo "== $p: no default access log"; continue; }
  [ "$WITH_H2" = 1 ] && [ -n "${NO_TLS[$p]:-}" ] && { echo "== $p: no TLS listener"; continue; }
  port=$($PY freeport 1); dir=$WORK/$p; mkdir -p "$dir"
  acc=""; [ "$WITH_LOG" = 1 ] && acc=$dir/access.log
  ACCESS_LOG=$acc PROXY_NAME=$p "start_$p" "$port" 1 "$dir"
  $PY wait "$port" --path /small "${wait_tls[@]}" >/dev/null || { echo "== $p: did not come up (see $WORK/logs/$p.log)"; KEEP=1; continue; }
  echo "== $p: GET /small with Host: bench.test, User-Agent: check"
  curl -s "${curl_h2[@]}" -H 'Host: bench.test' -H 'User-Agent: check' "$scheme://127.0.0.1:$port/small" \
    | tr -d '\r' | sed -n '1,/^$/p;/^(over/p'
  stop_pid "$PROXY_PID"
done
