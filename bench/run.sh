#!/usr/bin/env bash
# weir vs nginx, HAProxy, Caddy (and Pingora), side by side on the same three origins,
# every proxy configured for the same work. See bench/README.md.
#
# Installs nothing. Starts every process itself on loopback high ports under a private
# temp directory, and stops them all on exit. Proxies are defined in bench/proxies/*.sh.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
LIB=$HERE/lib
PY="python3 $LIB/benchlib.py"

THREADS=1
DURATION=3
REPEATS=4
IDLE_CONNS=5000
# 8,000: each proxy needs two descriptors per request in flight, HAProxy's maxconn here is
# 8,000 and nginx's worker_connections 16,384 counts both sides; past that the figures
# measure refusals, not memory.
BURST_CONNS=8000
# Idle keep-alive connections held open beside the crowd scenario's small-response load
# (bench/lib/crowd.py): issue 24's "10,000 idle connections + load".
CROWD_CONNS=10000
BURST_ROUNDS=3
WRK_THREADS=1
# Idle upstream connections kept per origin server: above wrk's 50 client connections,
# so no proxy closes and reopens upstream connections under load, even if every client
# connection's request went to one server. Each proxy file converts it to its own unit
# (nginx and Pingora count one pool for all servers; see bench/README.md).
KEEPALIVE=64
# Client connections each proxy accepts (nginx: worker_connections is twice this, since
# it counts the upstream side too). Above the crowd's 10,000 plus wrk's 50, the idle
# scenarios' 5,000 and burst's 8,000.
MAX_CONNS=12288
STARTUP_RUNS=5
PROXY_LIST="weir nginx haproxy caddy"
ANCHORS=""   # default: every proxy in the list whose name does not start with "weir"
SCENARIOS="small paced large upload close idle log"
DIRECT=1
ORIGIN_MODE=shared
OUT=""
PIN=0
WEIR=""
KEEP=0
README=$HERE/README.md

usage() {
  cat <<EOF
Usage: bench/run.sh [options]

  --threads N        worker threads/processes per proxy (default $THREADS)
  --duration S       seconds per wrk run (default $DURATION)
  --repeats R        interleaved repeats of every cell (default $REPEATS)
  --scenarios LIST   subset of: small paced large upload close idle log burst crowd
                     tls-small tls-handshake tls-big tls-idle (or "tls" for those four)
                     h2-small h2-large h2-newconn (or "h2" for those three)
                     grpc-unary grpc-h1up (or "grpc" for both);
                     spaces or commas (default: the plain ones but burst)
  --proxies LIST     proxies to run, from bench/proxies/ (default: "$PROXY_LIST";
                     "pingora" builds bench/pingora first)
  --anchors LIST     proxies weir's ratios are taken against: the best of them in each
                     cell (default: every proxy of --proxies not named weir*)
  --no-direct        do not measure the origin without a proxy (the ceiling)
  --origins MODE     "shared": one nginx process, one worker, serving all three ports
                     (default); "separate": three nginx processes, one worker each
  --idle-conns N     connections held in the idle scenario (default $IDLE_CONNS)
  --burst-conns N    connections in the burst scenario (default $BURST_CONNS; not in the
                     default list: run it with --scenarios burst)
  --burst-rounds N   requests each burst connection sends, all at once (default $BURST_ROUNDS)
  --crowd-conns N    idle keep-alive connections held open during the crowd scenario's
                     small-response load (default $CROWD_CONNS; not in the default list)
  --wrk-threads N    wrk threads (default $WRK_THREADS)
  --weir PATH        use this weir binary instead of building target/release/weir
  --pin              pin every proxy alike to the first N CPUs (N = --threads), and wrk
                     and the origins to the rest; the table goes to bench/results/pinned
                     and to its own section of the READMEs
  --out DIR          where results.md and chart.svg go (default bench/results)
  --no-readme        do not write the table into bench/README.md and README.md
  --keep             keep the temp directory (configs, logs, raw results)
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
    --threads) THREADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --repeats) REPEATS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --proxies) PROXY_LIST=$2; shift 2 ;;
    --anchors) ANCHORS=$2; shift 2 ;;
    --no-direct) DIRECT=0; shift ;;
    --origins) ORIGIN_MODE=$2; shift 2 ;;
    --idle-conns) IDLE_CONNS=$2; shift 2 ;;
    --burst-conns) BURST_CONNS=$2; shift 2 ;;
    --burst-rounds) BURST_ROUNDS=$2; shift 2 ;;
    --crowd-conns) CROWD_CONNS=$2; shift 2 ;;
    --wrk-threads) WRK_THREADS=$2; shift 2 ;;
    --weir) WEIR=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --no-readme) README=""; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
# "a,b" and "a b" alike; "tls" stands for the four TLS scenarios, "h2" for the three h2
SCENARIOS=$(for sc in ${SCENARIOS//,/ }; do
  case $sc in
    tls) echo tls-small tls-handshake tls-big tls-idle ;;
    h2) echo h2-small h2-large h2-newconn ;;
    grpc) echo grpc-unary grpc-h1up ;;   # lib/grpc.sh
    *) echo "$sc" ;;
  esac
done | xargs)
TLS_ONLY=1 WANT_TLS=0 WANT_H2=0 WANT_GRPC=0
for sc in $SCENARIOS; do
  case $sc in
    small|paced|large|upload|close|idle|log|burst|crowd) TLS_ONLY=0 ;;
    tls-small|tls-handshake|tls-big|tls-idle) WANT_TLS=1 ;;
    h2-small|h2-large|h2-newconn) WANT_H2=1 ;;
    grpc-unary|grpc-h1up) WANT_GRPC=1 ;;
    *) echo "run.sh: unknown scenario $sc" >&2; usage >&2; exit 2 ;;
  esac
done
PROXY_LIST=${PROXY_LIST//,/ }
if [ -z "$ANCHORS" ]; then
  ANCHORS=$(for p in $PROXY_LIST; do case $p in weir*) ;; *) echo "$p" ;; esac; done | xargs)
fi
ANCHORS=${ANCHORS//,/ }
case $ORIGIN_MODE in separate|shared) ;; *) echo "run.sh: --origins is separate or shared" >&2; exit 2 ;; esac
COMMAND="bench/run.sh --threads $THREADS --duration $DURATION --repeats $REPEATS"
COMMAND+=" --origins $ORIGIN_MODE --idle-conns $IDLE_CONNS --scenarios '$SCENARIOS' --proxies '$PROXY_LIST'"

# ------------------------------------------------------------------ CPU layout
# By default the kernel places every process: proxy, wrk and origins share the CPUs, as
# they would on a small box. --pin gives the proxy its own CPUs, the same for every
# proxy, so the load generator and the origins do not compete with it for a CPU (nor
# does the scheduler's placement of them differ from one proxy to the next).
PROXY_CPUS=() LOAD_CPUS=() MARKER=results
LAYOUT="not pinned: the kernel places the proxy, wrk and the origins"
if [ "$PIN" = 1 ]; then
  ncpu=$(nproc)
  command -v taskset >/dev/null || { echo "run.sh: --pin needs taskset (apt-get install util-linux)" >&2; exit 1; }
  [ "$ncpu" -gt "$THREADS" ] || { echo "run.sh: --pin needs more CPUs ($ncpu) than --threads ($THREADS)" >&2; exit 2; }
  span() { if [ "$1" = "$2" ]; then echo "$1"; else echo "$1-$2"; fi; }
  proxy_cpus=$(span 0 $((THREADS - 1))) load_cpus=$(span "$THREADS" $((ncpu - 1)))
  PROXY_CPUS=(taskset -c "$proxy_cpus") LOAD_CPUS=(taskset -c "$load_cpus")
  LAYOUT="pinned: the proxy on CPU(s) $proxy_cpus, wrk and the origins on CPU(s) $load_cpus"
  OUT=${OUT:-$HERE/results/pinned} MARKER=results-pinned
  COMMAND+=" --pin"
fi
# A run of TLS scenarios alone has its own table (bench/results/tls, and the results-tls
# section of bench/README.md), so it does not replace the plain one; so has a run of h2
# scenarios alone (bench/results/h2, results-h2).
LAYOUT+="; origins: $ORIGIN_MODE"
if [ "$TLS_ONLY" = 1 ] && [ "$PIN" = 0 ]; then
  # gRPC scenarios alone: bench/results/grpc and the results-grpc section
  if [ "$WANT_TLS$WANT_H2" = 00 ]; then OUT=${OUT:-$HERE/results/grpc} MARKER=results-grpc
  elif [ "$WANT_TLS" = 0 ]; then OUT=${OUT:-$HERE/results/h2} MARKER=results-h2
  else OUT=${OUT:-$HERE/results/tls} MARKER=results-tls; fi
fi
OUT=${OUT:-$HERE/results}
# The idle, tls-idle, burst and crowd scenarios hold thousands of connections: the
# client, each proxy (a client and an upstream socket per request) and the origins need
# that many descriptors. Each proxy's own limit is MAX_CONNS in its config; HAProxy
# refuses to start unless it can have 2 × maxconn descriptors, so the hard limit is
# raised to 65,536 where it is lower and we may (root), and the soft limit to the hard.
[ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 65536 ] && { ulimit -Hn 65536 2>/dev/null || true; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Where the limit stays lower (a container without CAP_SYS_RESOURCE: 20,000 here), every
# proxy's cap comes down to what HAProxy can start with, and the crowd to what fits
# under that cap beside wrk's connections and each proxy's own spare descriptors (weir
# keeps 230 for upstream pools and threads): 9,950 and 9,750 with a hard limit of 20,000.
fd_room=$(ulimit -n); [ "$fd_room" = unlimited ] && fd_room=1048576
[ $(((fd_room - 100) / 2)) -lt "$MAX_CONNS" ] && MAX_CONNS=$(((fd_room - 100) / 2))
[ $((MAX_CONNS - 200)) -lt "$CROWD_CONNS" ] && CROWD_CONNS=$((MAX_CONNS - 200))

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ------------------------------------------------------------------ proxy registry
# shellcheck source=lib/registry.sh
. "$LIB/registry.sh"
# shellcheck source=lib/h2.sh
. "$LIB/h2.sh"
# shellcheck source=lib/grpc.sh
. "$LIB/grpc.sh"

# ------------------------------------------------------------------ requirements
# Everything is checked before weir is built, so a missing tool is named at once.
BUILD=0
if [ -z "$WEIR" ]; then
  command -v cargo >/dev/null || { echo "run.sh: cargo not found (needed to build weir; or pass --weir PATH)" >&2; exit 1; }
  WEIR=$ROOT/target/release/weir
  NEED_CMD[weir]=$WEIR
  BUILD=1
fi
missing=() hints=()
tools="wrk python3 nginx"   # wrk drives the load; nginx also serves the origins
[ "$WANT_TLS$WANT_H2" != 00 ] && tools+=" openssl"   # makes the TLS scenarios' certificate
[ "$WANT_H2$WANT_GRPC" != 00 ] && tools+=" h2load"   # drives the h2-* and grpc-* scenarios
for t in $tools; do
  hint=${t/nginx/nginx-light}; hint=${hint/h2load/nghttp2-client}
  command -v "$t" >/dev/null || { missing+=("$t"); hints+=("apt-get install $hint"); }
done
for p in $PROXY_LIST; do
  declare -F "start_$p" >/dev/null || { echo "run.sh: no bench/proxies/$p.sh defining start_$p" >&2; exit 2; }
  cmd=${NEED_CMD[$p]:-}
  [ "$p" = weir ] && [ "$BUILD" = 1 ] && continue   # built below
  if [ "$p" = pingora ]; then   # built below, from bench/pingora
    for t in cargo cmake; do
      command -v "$t" >/dev/null || { missing+=("$t (to build pingora)"); hints+=("apt-get install $t"); }
    done
    continue
  fi
  if [ -n "$cmd" ] && ! command -v "$cmd" >/dev/null; then
    missing+=("$p ($cmd)"); hints+=("${NEED_HINT[$p]}")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "run.sh: missing: ${missing[*]}" >&2
  printf '  %s\n' "${hints[@]}" | sort -u >&2
  echo "  (everything at once: apt-get install nginx-light haproxy caddy wrk nghttp2-client cmake)" >&2
  exit 1
fi
if [ "$BUILD" = 1 ]; then
  log "building weir (cargo build --release)"
  (cd "$ROOT" && cargo build --release --quiet)
fi
if [[ " $PROXY_LIST " == *" pingora "* ]]; then
  log "building the pingora anchor (bench/pingora, cargo build --release)"
  (cd "$HERE/pingora" && cargo build --release --quiet)
fi

WORK=$(mktemp -d /tmp/weir-bench.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/data"
trap cleanup EXIT
trap 'exit 130' INT TERM
RAW=$WORK/raw.jsonl
: >"$RAW"
log "work dir $WORK"

# ------------------------------------------------------------------ origins
head -c 1048576 /dev/zero | tr '\0' 'w' >"$WORK/data/1m"
ON_CPUS=("${LOAD_CPUS[@]}")
read -r -a PORTS <<<"$($PY freeport 12)"
# shellcheck source=lib/origins.sh
. "$LIB/origins.sh"
start_origins "$ORIGIN_MODE" "${PORTS[@]:0:3}"
for o in "${ORIGINS[@]}"; do $PY wait "${o##*:}" --path /small; $PY wait "${o##*:}" --path /1m; done
log "origins up: ${ORIGINS[*]}"
ON_CPUS=("${PROXY_CPUS[@]}")   # every proxy from here on
log "CPU layout: $LAYOUT"

# ------------------------------------------------------------------ meta
first_line() { "$@" 2>&1 | sed -n 1p || true; }   # sed reads all: no SIGPIPE under pipefail
versions="weir $(first_line "$WEIR" --version | awk '{print $2}')"
versions+=", nginx $(first_line nginx -v | sed 's|.*nginx/||')"
command -v haproxy >/dev/null && versions+=", HAProxy $(first_line haproxy -v | awk '{print $3}')"
in_list() { [[ " $PROXY_LIST " == *" $1 "* ]]; }
in_list caddy && versions+=", Caddy $(first_line caddy version | awk '{print $1}')"
in_list pingora && versions+=", Pingora $(awk '/^name = "pingora"$/ {getline; gsub(/[^0-9.]/, ""); print}' "$HERE/pingora/Cargo.lock")"
versions+=", $(first_line wrk -v | awk '{print $1, $2}')"
[ "$WANT_H2$WANT_GRPC" != 00 ] && versions+=", h2load $(first_line h2load --version | sed 's|.*nghttp2/||') (h2-*: $WRK_THREADS thread(s))"
python3 - "$RAW" <<PYEOF
import json, os, platform, sys, time
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
meta = {"kind": "meta", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
        "ncpu": os.cpu_count(), "kernel": platform.release(), "threads": $THREADS,
        "duration": $DURATION, "repeats": $REPEATS, "wrk_threads": $WRK_THREADS,
        "proxies": "$PROXY_LIST".split(), "anchors": "$ANCHORS".split(), "subject": "weir",
        "versions": "$versions", "startup_runs": $STARTUP_RUNS, "command": """$COMMAND""",
        "layout": "$LAYOUT"}
open(sys.argv[1], "a").write(json.dumps(meta) + "\n")
PYEOF

# ------------------------------------------------------------------ footprint, start-up
# Each proxy is launched STARTUP_RUNS times on a fresh port. A probe started beforehand
# polls connect() every 0.1 ms; we record exec → first successful connect and → first
# proxied response, then the process tree's RSS as it sits idle after that request.
for p in $PROXY_LIST; do
  bin=$(command -v "${NEED_CMD[$p]:-}" 2>/dev/null || true)
  size=0; [ -n "$bin" ] && size=$(stat -L -c %s "$bin")
  echo "{\"kind\":\"footprint\",\"proxy\":\"$p\",\"binary\":\"$bin\",\"binary_bytes\":$size}" >>"$RAW"
  for run in $(seq "$STARTUP_RUNS"); do
    dir=$WORK/startup-$p-$run; mkdir -p "$dir"
    port=$($PY freeport 1)
    "${LOAD_CPUS[@]}" $PY probe "$port" --ready "$dir/ready" >"$dir/probe.json" &
    probe=$!
    for _ in $(seq 500); do [ -e "$dir/ready" ] && break; sleep 0.01; done
    PROXY_NAME=$p "start_$p" "$port" "$THREADS" "$dir"
    wait "$probe" || true
    sleep 0.3
    rss=$($PY procstat "$PROXY_PID")
    stop_pid "$PROXY_PID"
    python3 - "$dir/probe.json" "$T_LAUNCH" "$p" "$rss" >>"$RAW" <<'PYEOF'
import json, sys
probe = json.load(open(sys.argv[1])); t0 = float(sys.argv[2]); rss = json.loads(sys.argv[4])
rec = {"kind": "startup", "proxy": sys.argv[3], "idle_rss_kib": rss["rss_kib"]}
if "t_conn_ns" in probe and "t_resp_ns" in probe:
    rec.update(conn_ms=round(probe["t_conn_ns"] / 1e6 - t0 * 1e3, 3),
               resp_ms=round(probe["t_resp_ns"] / 1e6 - t0 * 1e3, 3))
else:
    rec["error"] = probe.get("error", "?")
print(json.dumps(rec))
PYEOF
  done
  log "start-up $p: $(grep "\"startup\", \"proxy\": \"$p\"" "$RAW" | python3 -c 'import json,sys; print(", ".join("%.1f/%.1f ms" % (r.get("conn_ms", -1), r.get("resp_ms", -1)) for r in map(json.loads, sys.stdin)))')"
done

# ------------------------------------------------------------------ the proxies under load
declare -A PORT_OF PID_OF
i=3
for p in $PROXY_LIST; do
  port=${PORTS[$i]}; i=$((i + 1))
  dir=$WORK/$p; mkdir -p "$dir"
  PROXY_NAME=$p "start_$p" "$port" "$THREADS" "$dir"
  PORT_OF[$p]=$port; PID_OF[$p]=$PROXY_PID
  $PY wait "$port" --path /small || { echo "run.sh: $p did not come up; see $WORK/logs/$p.log" >&2; KEEP=1; exit 1; }
done
PORT_OF[direct]=${ORIGINS[0]##*:}; PID_OF[direct]=${ORIGIN_PIDS[0]}
log "proxies up: $(for p in $PROXY_LIST; do printf '%s=%s ' "$p" "${PORT_OF[$p]}"; done)"

# ------------------------------------------------------------------ default access log
# The log scenario: a second instance of every proxy that writes its DEFAULT access log
# (its default format, unbuffered unless that is its default) to a file, since users
# keep logs on. A proxy file renders its log when ACCESS_LOG is set; one with no default
# access log sets NO_LOG[name] and sits the scenario out.
LOG_PROXIES=""
if [[ " $SCENARIOS " == *" log "* ]]; then
  for p in $PROXY_LIST; do
    [ -n "${NO_LOG[$p]:-}" ] && continue
    port=$($PY freeport 1); dir=$WORK/$p-log; mkdir -p "$dir"
    ACCESS_LOG=$dir/access.log PROXY_NAME=$p-log "start_$p" "$port" "$THREADS" "$dir"
    PORT_OF[log-$p]=$port; PID_OF[log-$p]=$PROXY_PID; LOG_PROXIES+=" $p"
    $PY wait "$port" --path /small || { echo "run.sh: $p (access log) did not come up; see $WORK/logs/$p-log.log" >&2; KEEP=1; exit 1; }
  done
  log "access-log proxies up: $(for p in $LOG_PROXIES; do printf '%s=%s ' "$p" "${PORT_OF[log-$p]}"; done)"
fi

# ------------------------------------------------------------------ TLS
# The tls-* scenarios: a second instance of every proxy, its listener terminating TLS 1.3
# with one certificate for all (ECDSA P-256, self-signed, made here), in front of the
# same plain origins. A proxy file renders its TLS listener when TLS_CERT is set.
start_tls() {  # proxy port threads dir
  TLS_CERT=$WORK/tls/cert.pem TLS_KEY=$WORK/tls/key.pem TLS_PEM=$WORK/tls/haproxy.pem \
    PROXY_NAME=$1-tls "start_$1" "$2" "$3" "$4"
}
if [ "$WANT_TLS$WANT_H2" != 00 ]; then   # the h2-* scenarios use it too (lib/h2.sh)
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -subj /CN=bench.test -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
  cat "$WORK/tls/cert.pem" "$WORK/tls/key.pem" >"$WORK/tls/haproxy.pem"
fi
if [ "$WANT_TLS" = 1 ]; then
  for p in $PROXY_LIST; do
    [ -n "${NO_TLS[$p]:-}" ] && continue
    port=$($PY freeport 1); dir=$WORK/$p-tls; mkdir -p "$dir"
    start_tls "$p" "$port" "$THREADS" "$dir"
    PORT_OF[tls-$p]=$port; PID_OF[tls-$p]=$PROXY_PID
    $PY wait "$port" --path /small --tls || { echo "run.sh: $p (TLS) did not come up; see $WORK/logs/$p-tls.log" >&2; KEEP=1; exit 1; }
  done
  log "TLS proxies up: $(for p in $PROXY_LIST; do printf '%s=%s ' "$p" "${PORT_OF[tls-$p]}"; done)"
fi
[ "$WANT_H2" = 1 ] && start_h2_proxies
[ "$WANT_GRPC" = 1 ] && start_grpc_proxies

cat "$LIB/report.lua" >"$WORK/plain.lua"
cat "$LIB/upload.lua" "$LIB/report.lua" >"$WORK/upload.lua"
cat "$LIB/paced.lua" "$LIB/report.lua" >"$WORK/paced.lua"

run_wrk() {  # scenario target repeat
  local sc=$1 t=$2 r=$3 conns path script=$WORK/plain.lua up=0 extra=() url pid
  url=http://127.0.0.1:${PORT_OF[$t]}
  case $sc in
    tls-*) url=https://127.0.0.1:${PORT_OF[tls-$t]} pid=${PID_OF[tls-$t]} ;;
    log) url=http://127.0.0.1:${PORT_OF[log-$t]} pid=${PID_OF[log-$t]} ;;
    *) pid=${PID_OF[$t]} ;;
  esac
  case $sc in
    small|log|crowd) conns=50; path=/small ;;
    paced)  conns=50; path=/small; script=$WORK/paced.lua ;;
    large)  conns=10; path=/1m ;;
    upload) conns=10; path=/upload; script=$WORK/upload.lua; up=1048576 ;;
    close)  conns=50; path=/small; extra=(-H "Connection: close") ;;
    warmup) conns=10; path=/small ;;
    # over TLS: as small, close and large; wrk (OpenSSL) never resumes a session, so
    # every connection of tls-handshake is a full TLS 1.3 handshake
    tls-small) conns=50; path=/small ;;
    tls-handshake) conns=50; path=/small; extra=(-H "Connection: close") ;;
    tls-big) conns=10; path=/1m ;;
    tls-warmup) conns=10; path=/small ;;
  esac
  local d=$DURATION; case $sc in *warmup) d=1 ;; esac
  $PY measure --pid "$pid" --timeout $((d + 30)) --origins "$(IFS=,; echo "${ORIGIN_PIDS[*]}")" \
    --meta "{\"kind\":\"wrk\",\"scenario\":\"$sc\",\"proxy\":\"$t\",\"repeat\":$r,\"upload_bytes\":$up,\"conns\":$conns}" \
    -- "${LOAD_CPUS[@]}" wrk -t "$WRK_THREADS" -c "$conns" -d "${d}s" --timeout 5s -s "$script" "${extra[@]}" \
    "$url$path"
}

TARGETS=($PROXY_LIST)
[ "$DIRECT" = 1 ] && TARGETS+=(direct)
for p in "${TARGETS[@]}"; do run_wrk warmup "$p" 0 >/dev/null; done
if [ "$WANT_TLS" = 1 ]; then
  for p in $PROXY_LIST; do [ -n "${NO_TLS[$p]:-}" ] || run_wrk tls-warmup "$p" 0 >/dev/null; done
fi
if [ "$WANT_H2" = 1 ]; then
  for p in $PROXY_LIST; do [ -n "${NO_TLS[$p]:-}" ] || run_h2load h2-warmup "$p" 0 >/dev/null; done
fi
if [ "$WANT_GRPC" = 1 ]; then
  for p in $PROXY_LIST; do grpc_runs grpc-warmup "$p" && run_grpc grpc-warmup "$p" 0 >/dev/null; done
fi
log "warm-up done"

for r in $(seq "$REPEATS"); do
  # rotate the order every repeat so no proxy always runs first or last
  order=()
  n=${#TARGETS[@]}
  for k in $(seq 0 $((n - 1))); do order+=("${TARGETS[$(((k + r - 1) % n))]}"); done
  for sc in $SCENARIOS; do
    for t in "${order[@]}"; do
      case $sc in   # the origins speak plain HTTP and write no log
        tls-*|h2-*) [ "$t" = direct ] || [ -n "${NO_TLS[$t]:-}" ] && continue ;;
        log) [ "$t" = direct ] || [ -n "${NO_LOG[$t]:-}" ] && continue ;;
        grpc-*) grpc_runs "$sc" "$t" || continue ;;
      esac
      if [ "$sc" = tls-idle ]; then
        # as idle, over TLS: a fresh TLS instance, 5,000 handshakes and one request
        # each, held; VmRSS of the worker process (nginx: the worker, not the master)
        port=$($PY freeport 1); dir=$WORK/tls-idle-$t-$r; mkdir -p "$dir"
        start_tls "$t" "$port" "$THREADS" "$dir"
        $PY wait "$port" --path /small --tls
        line=$("${LOAD_CPUS[@]}" $PY tls-idle --port "$port" --pid "$PROXY_PID" --count "$IDLE_CONNS" \
          --meta "{\"kind\":\"tls-idle\",\"proxy\":\"$t\",\"repeat\":$r,\"count\":$IDLE_CONNS}")
        stop_pid "$PROXY_PID"
        echo "$line" >>"$RAW"
        log "r$r tls-idle $t: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("added %.1f MiB, %.1f KiB/conn, %d/%d open (%d failed), %.1f s to open" % (r["delta_kib"]/1024, r["per_conn_bytes"]/1024, r["alive"], r["count"], r["failed"], r["open_s"]))' "$line")"
        continue
      fi
      if [ "$sc" = idle ]; then
        [ "$t" = direct ] && continue
        # a fresh instance each time: allocators keep freed memory, so a proxy that has
        # already served load (or held connections before) would hide the cost
        port=$($PY freeport 1); dir=$WORK/idle-$t-$r; mkdir -p "$dir"
        PROXY_NAME=$t "start_$t" "$port" "$THREADS" "$dir"
        $PY wait "$port" --path /small
        line=$("${LOAD_CPUS[@]}" $PY idle --port "$port" --pid "$PROXY_PID" --count "$IDLE_CONNS" \
          --meta "{\"kind\":\"idle\",\"proxy\":\"$t\",\"repeat\":$r,\"count\":$IDLE_CONNS}")
        stop_pid "$PROXY_PID"
        echo "$line" >>"$RAW"
        log "r$r idle $t: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("added %.1f MiB, %d/%d open" % (r["delta_kib"]/1024, r["alive"], r["count"]))' "$line")"
        continue
      fi
      if [ "$sc" = crowd ]; then
        [ "$t" = direct ] && continue
        # small responses while CROWD_CONNS idle keep-alive connections, each answered
        # once, are held open on the same proxy (bench/lib/crowd.py). crowd.py writes
        # $ready only once the proxy holds them all (its established connections, from
        # /proc/net/tcp): within 120 s to open and answer them, 30 s more to hold them;
        # otherwise it exits saying what it saw, and the run stops with that.
        ready=$WORK/crowd-$t-$r.json
        "${LOAD_CPUS[@]}" python3 "$LIB/crowd.py" --port "${PORT_OF[$t]}" --count "$CROWD_CONNS" \
          --ready "$ready" --timeout 120 --settle 30 >"$WORK/crowd-$t-$r.out" 2>"$WORK/crowd-$t-$r.err" &
        holder=$!
        for _ in $(seq 1600); do [ -e "$ready" ] || ! kill -0 $holder 2>/dev/null && break; sleep 0.1; done
        if [ ! -e "$ready" ]; then
          kill -TERM $holder 2>/dev/null; wait $holder 2>/dev/null || true
          echo "run.sh: the crowd of $CROWD_CONNS connections to $t was not established, so wrk did not run:" \
            "$(cat "$WORK/crowd-$t-$r.err")" >&2
          KEEP=1; exit 1
        fi
        line=$(run_wrk crowd "$t" "$r")
        kill -TERM $holder; wait $holder || true
        line=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["crowd"]=int(sys.argv[2]); print(json.dumps(r))' "$line" "$CROWD_CONNS")
        echo "$line" >>"$RAW"
        log "r$r crowd $t: held $(cat "$ready"), at the end $(cat "$WORK/crowd-$t-$r.out"); $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); s=r["duration_us"]/1e6; print("%.0f req/s, p99 %.2f ms" % (r["requests"]/s, r["p99_us"]/1000))' "$line")"
        continue
      fi
      if [ "$sc" = burst ]; then
        [ "$t" = direct ] && continue
        # a fresh instance each time, as for idle: the question is what a burst leaves
        # behind in a process that started small
        port=$($PY freeport 1); dir=$WORK/burst-$t-$r; mkdir -p "$dir"
        PROXY_NAME=$t "start_$t" "$port" "$THREADS" "$dir"
        $PY wait "$port" --path /small
        line=$("${LOAD_CPUS[@]}" $PY burst --port "$port" --pid "$PROXY_PID" --count "$BURST_CONNS" \
          --rounds "$BURST_ROUNDS" \
          --meta "{\"kind\":\"burst\",\"proxy\":\"$t\",\"repeat\":$r,\"count\":$BURST_CONNS}")
        stop_pid "$PROXY_PID"
        echo "$line" >>"$RAW"
        log "r$r burst $t: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("RSS %.1f -> %.1f -> %.1f MiB (%gs after), %d connected, ok per round %s" % (r["base_kib"]/1024, r["peak_kib"]/1024, r["after_kib"]/1024, r["after_s"], r["connected"], r["ok"]))' "$line")"
        continue
      fi
      case $sc in
        h2-*) line=$(run_h2load "$sc" "$t" "$r") ;;
        grpc-*) line=$(run_grpc "$sc" "$t" "$r") ;;
        *) line=$(run_wrk "$sc" "$t" "$r") ;;
      esac
      echo "$line" >>"$RAW"
      log "r$r $sc $t: $(python3 -c '
import json,sys
r=json.loads(sys.argv[1])
if "requests" not in r: print("FAILED", r.get("error","")); sys.exit()
s=r["duration_us"]/1e6
print("%.0f req/s, %.1f MB/s, p99 %.2f ms, cpu %s%%, errors %d" % (r["requests"]/s, (r["bytes"]+r["requests"]*r["upload_bytes"])/s/1e6, r["p99_us"]/1000, r["cpu_pct"], r["errors_connect"]+r["errors_read"]+r["errors_write"]+r["errors_status"]+r["errors_timeout"]))' "$line")"
      sleep 0.2
    done
  done
done

# ------------------------------------------------------------------ report
mkdir -p "$OUT/raw"
cp "$RAW" "$OUT/raw/raw-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
$PY report --raw "$RAW" --out "$OUT" --marker "$MARKER" ${README:+--readme "$README" --readme "$HERE/../README.md"}
log "wrote $OUT/results.md and $OUT/chart.svg"
