# The grpc-* scenarios of bench/run.sh (sourced by it, not run): unary gRPC-shaped calls
# driven by h2load over h2c (prior knowledge), POST with `content-type:
# application/grpc`, `te: trailers` and one 5-byte-prefixed message, through an
# instance of every proxy that has an h2c listener and h2c upstreams (a proxy file says
# so with GRPC_OK[name]=1 and renders that instance when GRPC is set) to the SAME gRPC
# origins.
#
# The origins: one nginx process, one worker, on three h2c ports (`listen ... http2`
# without TLS) and three HTTP/1.1 ports, all answering every POST as a unary gRPC call:
# 200, `content-type: application/grpc`, one message, trailer `grpc-status: 0`. nginx
# rather than a gRPC server of our own or `weir backend` growing an h2c mode: the
# harness already runs nginx as the origin of every other scenario; its h2 is fast
# enough not to be the bottleneck (one worker answers direct h2load at several times
# what any proxy here reaches); and it is the same process for every proxy.
#
#   grpc-unary  10 connections × 10 streams of unary calls, h2c group (multiplexed)
#   grpc-h1up   the same load through weir with an HTTP/1.1 group to the HTTP/1.1
#               ports of the same origin process: what multiplexing saves (upstream
#               connections opened, CPU); weir alone
#
# Needs run.sh's WORK, PY, LIB, PROXY_LIST, THREADS, DURATION, WRK_THREADS, PORT_OF,
# PID_OF, LOAD_CPUS, ON_CPUS, PROXY_CPUS and the start_NAME functions.

GRPC_PATH=/weir.Bench/Unary
GRPC_SHAPE="10 10"   # connections, streams per connection

# A gRPC message on the wire: flag 0 (not compressed), 4-byte big-endian length, bytes.
grpc_message() {  # $1 message text (under 256 bytes), $2 file
  printf "\\000\\000\\000\\000\\$(printf %03o "${#1}")%s" "$1" >"$2"
}

grpc_origin_config() {  # $1 dir, $2 h2c ports, $3 HTTP/1.1 ports
  local dir=$1 p
  cat <<CONF
user $(id -un) $(id -gn);
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_timeout 300s;
  keepalive_requests 1000000;   # also caps streams per h2 connection (GOAWAY after it)
  http2_max_concurrent_streams 128;
  server {
CONF
  for p in $2; do echo "    listen 127.0.0.1:$p http2;"; done
  for p in $3; do echo "    listen 127.0.0.1:$p;"; done
  # nginx's static module refuses POST: the call's path is looked up as a file that
  # does not exist, and that 404 becomes the reply (fetched as GET) with status 200.
  # The mirror reads the whole request first, as a gRPC server reads a unary call's
  # message before it answers: answered early, nginx's origin resets the stream after
  # its response (RFC 9113 §8.1), which nginx's grpc_pass takes for a frame on an
  # unknown stream on its next call and marks the origin down.
  cat <<CONF
    root $dir/www;
    location / {
      mirror /sink; mirror_request_body on;
      log_not_found off; error_page 404 =200 /reply;
    }
    location = /sink { internal; return 204; }
    location = /reply { default_type application/grpc; add_trailer grpc-status 0 always; }
  }
}
CONF
}

# Starts the gRPC origins; sets GRPC_H2C and GRPC_H1 (addresses), GRPC_ORIGIN_PID.
start_grpc_origins() {
  local dir=$WORK/grpc-origins ports h2c h1
  mkdir -p "$dir/www"
  grpc_message "a reply of 16 B." "$dir/www/reply"
  grpc_message "a request, 16 B." "$WORK/grpc-request"
  read -r -a ports <<<"$($PY freeport 6)"
  h2c="${ports[*]:0:3}" h1="${ports[*]:3:3}"
  grpc_origin_config "$dir" "$h2c" "$h1" >"$dir/nginx.conf"
  ON_CPUS=("${LOAD_CPUS[@]}")
  PROXY_NAME=grpc-origins launch nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g "daemon off;"
  GRPC_ORIGIN_PID=$PROXY_PID
  GRPC_H2C=() GRPC_H1=()
  for p in $h2c; do GRPC_H2C+=("127.0.0.1:$p"); done
  for p in $h1; do GRPC_H1+=("127.0.0.1:$p"); done
  for p in $h2c; do grpc_wait "$p" || { echo "run.sh: gRPC origin :$p did not answer" >&2; KEEP=1; exit 1; }; done
}

# Polls one call over h2c until it succeeds (0) or 10 s pass (1).
grpc_wait() {  # port
  local i
  for i in $(seq 100); do
    h2load -n 1 -c 1 -H 'content-type: application/grpc' -H 'te: trailers' -d "$WORK/grpc-request" \
      "http://127.0.0.1:$1$GRPC_PATH" 2>/dev/null | grep -q '^requests: 1 total.* 1 succeeded' && return 0
    sleep 0.1
  done
  return 1
}

# A proxy's gRPC instance over `origins` (ORIGINS is swapped for the call);
# GRPC_UPSTREAM=http1 gives weir an HTTP/1.1 group instead of h2c.
start_grpc() {  # proxy port dir admin-port origins...
  local saved=("${ORIGINS[@]}")
  ORIGINS=("${@:5}")
  GRPC=1 WEIR_ADMIN=$4 PROXY_NAME=$1-grpc${GRPC_UPSTREAM:+-$GRPC_UPSTREAM} "start_$1" "$2" "$THREADS" "$3"
  ORIGINS=("${saved[@]}")
}

# One gRPC instance of every proxy with GRPC_OK, and weir's HTTP/1.1-upstream one;
# PORT_OF[grpc-NAME], PID_OF[grpc-NAME], ADMIN_OF[grpc-NAME] (weir's).
declare -A ADMIN_OF
start_grpc_proxies() {
  local p port admin dir
  start_grpc_origins
  ON_CPUS=("${PROXY_CPUS[@]}")
  for p in $PROXY_LIST; do
    [ -n "${GRPC_OK[$p]:-}" ] || continue
    read -r port admin <<<"$($PY freeport 2)"; dir=$WORK/$p-grpc; mkdir -p "$dir"
    start_grpc "$p" "$port" "$dir" "$admin" "${GRPC_H2C[@]}"
    PORT_OF[grpc-$p]=$port; PID_OF[grpc-$p]=$PROXY_PID; ADMIN_OF[grpc-$p]=$admin
    grpc_wait "$port" || { echo "run.sh: $p (gRPC) did not come up; see $WORK/logs/$p-grpc.log" >&2; KEEP=1; exit 1; }
    if [[ " $SCENARIOS " == *" grpc-h1up "* && $p == weir ]]; then
      read -r port admin <<<"$($PY freeport 2)"; dir=$WORK/$p-grpc-h1; mkdir -p "$dir"
      GRPC_UPSTREAM=http1 start_grpc "$p" "$port" "$dir" "$admin" "${GRPC_H1[@]}"
      PORT_OF[grpc-h1-$p]=$port; PID_OF[grpc-h1-$p]=$PROXY_PID; ADMIN_OF[grpc-h1-$p]=$admin
      grpc_wait "$port" || { echo "run.sh: $p (gRPC, HTTP/1.1 upstream) did not come up" >&2; KEEP=1; exit 1; }
    fi
  done
  log "gRPC proxies up: $(for p in $PROXY_LIST; do printf '%s=%s ' "$p" "${PORT_OF[grpc-$p]:-}"; done)"
}

# The upstream connections weir has opened so far (its admin /metrics), or "".
grpc_opened() {  # admin port
  [ -n "$1" ] || return 0
  python3 - "$1" <<'PY' 2>/dev/null || true
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
print(sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("weir_pool_connections_opened_total")))
PY
}

# A proxy that has no gRPC instance sits the scenario out (0); so does every proxy but
# weir in grpc-h1up.
grpc_runs() {  # scenario target
  case $1 in
    grpc-unary|grpc-warmup) [ -n "${PORT_OF[grpc-$2]:-}" ] ;;
    grpc-h1up) [ -n "${PORT_OF[grpc-h1-$2]:-}" ] ;;
  esac
}

# As run_h2load: one JSON line, the proxy's CPU and RSS sampled around h2load, plus the
# upstream connections weir opened during the run.
run_grpc() {  # scenario target repeat
  local sc=$1 t=$2 r=$3 key conns streams d=$DURATION before line
  read -r conns streams <<<"$GRPC_SHAPE"
  key=grpc-$t; [ "$sc" = grpc-h1up ] && key=grpc-h1-$t
  [ "$sc" = grpc-warmup ] && d=1
  mkdir -p "$WORK/h2load"
  before=$(grpc_opened "${ADMIN_OF[$key]:-}")
  line=$($PY measure --pid "${PID_OF[$key]}" --timeout $((d + 60)) --origins "$GRPC_ORIGIN_PID" \
    --meta "{\"kind\":\"wrk\",\"scenario\":\"$sc\",\"proxy\":\"$t\",\"repeat\":$r,\"upload_bytes\":0,\"conns\":$conns,\"streams\":$streams}" \
    -- "${LOAD_CPUS[@]}" python3 "$LIB/h2load.py" --url "http://127.0.0.1:${PORT_OF[$key]}$GRPC_PATH" \
    --duration "$d" --clients "$conns" --streams "$streams" --threads "$WRK_THREADS" --work "$WORK/h2load" \
    --header 'content-type: application/grpc' --header 'te: trailers' --data "$WORK/grpc-request")
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
if sys.argv[2] and sys.argv[3]:
    r["upstream_conns_opened"] = round(float(sys.argv[3]) - float(sys.argv[2]))
print(json.dumps(r))' "$line" "$before" "$(grpc_opened "${ADMIN_OF[$key]:-}")"
}
