#!/usr/bin/env bash
# HTTPS side by side: weir, nginx and HAProxy terminating TLS 1.3 with the same ECDSA
# P-256 certificate, one worker each, in front of the same plain origin (weir backend).
#
#   bench/tls.sh [--weir PATH] [--duration S] [--conns N]
#
# Scenarios: small responses over keep-alive TLS connections; a new TLS connection per
# request (full handshakes: wrk does not resume sessions); 1 MiB responses over TLS.
# Prints a markdown table of requests/s (and MB/s for 1 MiB). Installs nothing; runs on
# loopback high ports under a temp directory, and stops everything it started on exit.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEIR=${WEIR:-$HERE/../target/release/weir}
DURATION=5
CONNS=50
while [ $# -gt 0 ]; do
  case $1 in
    --weir) WEIR=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    *) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk openssl nginx haproxy; do
  command -v $tool >/dev/null || { echo "tls.sh: needs $tool" >&2; exit 1; }
done
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=bench.test -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/haproxy.pem"
mkdir -p "$TMP/www" "$TMP/nginx"
head -c 1048576 /dev/zero >"$TMP/www/big"
echo ok >"$TMP/www/small"

ORIGIN=127.0.0.1:19100
"$WEIR" backend --listen $ORIGIN --dir "$TMP/www" 2>/dev/null & PIDS+=($!)

cat >"$TMP/weir.toml" <<CONF
listen = { addr = "127.0.0.1:19101", tls = { cert = "$TMP/cert.pem", key = "$TMP/key.pem", min_version = "1.3" } }
threads = 1
[upstream]
servers = ["$ORIGIN"]
[forwarded]
for = true
proto = false
host = false
[[middleware]]
builtin = "balancer"
CONF
"$WEIR" serve --config "$TMP/weir.toml" 2>/dev/null & PIDS+=($!)

cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/f; uwsgi_temp_path $TMP/nginx/u; scgi_temp_path $TMP/nginx/s;
  keepalive_requests 1000000;
  upstream origins { server $ORIGIN; keepalive 32; }
  server {
    listen 127.0.0.1:19102 ssl;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_max_temp_file_size 0;
    }
  }
}
CONF
nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" -g "daemon off;" 2>/dev/null & PIDS+=($!)

cat >"$TMP/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option forwardfor
  http-reuse safe
  timeout connect 3s
  timeout client 60s
  timeout server 60s
frontend bench
  bind 127.0.0.1:19103 ssl crt $TMP/haproxy.pem ssl-min-ver TLSv1.3 alpn http/1.1
  default_backend origins
backend origins
  server o1 $ORIGIN pool-max-conn 32
CONF
haproxy -db -f "$TMP/haproxy.cfg" 2>/dev/null & PIDS+=($!)

for port in 19100 19101 19102 19103; do
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1  # waiting for a process we just started to bind; nothing to poll instead
  done
done

rate() {  # $1 port, $2 path, extra wrk args...: prints "req/s MB/s"
  local port=$1 path=$2; shift 2
  wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "https://127.0.0.1:$port$path" |
    awk '/Requests\/sec/ {r=$2} /Transfer\/sec/ {t=$2; u=t; sub(/[0-9.]+/,"",u); sub(/[A-Za-z]+/,"",t);
         m = (u=="GB") ? t*1024 : (u=="KB") ? t/1024 : (u=="MB") ? t : t/1048576}
         END {printf "%.0f %.1f\n", r, m}'
}

echo "| scenario | weir | nginx | HAProxy |"
echo "| --- | --- | --- | --- |"
for sc in small close large; do
  row="| $sc |"
  for port in 19101 19102 19103; do
    case $sc in
      small) read -r r _ < <(rate $port /small); row+=" $r req/s |" ;;
      close) read -r r _ < <(rate $port /small -H "Connection: close"); row+=" $r req/s |" ;;
      large) read -r r m < <(rate $port /big); row+=" $r req/s, $m MB/s |" ;;
    esac
  done
  echo "$row"
done
