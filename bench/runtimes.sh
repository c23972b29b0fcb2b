#!/usr/bin/env bash
# The three runtimes weir builds on, compared by the per-request figures that do not
# swing with the load of a shared machine (req/s does: bench/run.sh with the weir,
# weir-async-io and weir-tokio entries, in a quiet window, gives those):
#
#   bench/runtimes.sh DEFAULT PORTABLE TOKIO   # three release binaries: the default build,
#                                              # --features portable-runtime, tokio-runtime
#
# For each binary, one markdown table out (stdout; progress on stderr):
# - instructions per small keep-alive request, plain and over TLS 1.3 (bench/instructions.sh,
#   callgrind, one worker thread, the config below);
# - system calls (all; epoll_ctl, epoll waits, futex) and context switches per request, and CPU µs per
#   request (`perf stat -p PID` around one `wrk -c50 -dDURATION` run after a warm-up), for
#   keep-alive small responses and for a new connection per request, at 1 and 2 workers;
# - memory per idle keep-alive connection (benchlib.py idle: IDLE_CONNS connections, one
#   request each, held; RSS after minus before), one worker.
# The origin is `weir backend` (the default binary) on its own thread; only the proxy's
# process is counted. Loopback only; every run is bounded (N2 requests, DURATION seconds).
# Needs valgrind, perf (tracepoints: run as root or perf_event_paranoid ≤ 1), wrk, python3,
# openssl. Knobs: DURATION (3 s), IDLE_CONNS (2,000), N1/N2 (instructions.sh's 500/2,500).
set -euo pipefail
export LC_ALL=C
[ $# = 3 ] || { sed -n 2,20p "$0" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINS=("$1" "$2" "$3")
NAMES=("default (smol + epoll)" "portable (smol + async-io)" "tokio (multi-thread)")
DURATION=${DURATION:-3}
IDLE_CONNS=${IDLE_CONNS:-2000}
PY="python3 $HERE/lib/benchlib.py"
for t in valgrind perf wrk python3 openssl; do
  command -v "$t" >/dev/null || { echo "runtimes.sh: needs $t" >&2; exit 1; }
done
for b in "${BINS[@]}"; do [ -x "$b" ] || { echo "runtimes.sh: $b is not an executable" >&2; exit 1; }; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK=$(mktemp -d /tmp/weir-rt.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# The work of bench/proxies/weir.sh's config (balancer only, no access log, X-Forwarded-For
# only): bench/lib/weir-fair.toml, with instructions.sh's placeholders.
config() {  # $1 listen value, $2 threads
  sed "s|^listen = .*|listen = $1|; s|^threads = .*|threads = $2|" "$HERE/lib/weir-fair.toml"
}
config '"{proxy}"' 1 >"$WORK/plain.toml"
config '{ addr = "{proxy}", tls = { cert = "{cert}", key = "{key}", min_version = "1.3" } }' 1 >"$WORK/tls.toml"

ir() {  # $1 binary, $2 config, [TLS=1 in the environment] -> instructions per request
  "$HERE/instructions.sh" "$1" "$2" | awk '/ instructions\/request / {print $1}'
}

free_port() { $PY freeport 1; }
ORIGIN=127.0.0.1:$(free_port)
"${BINS[0]}" backend --listen "$ORIGIN" --name small >/dev/null 2>&1 &
PIDS+=($!)
$PY wait "${ORIGIN##*:}" --path /

start_proxy() {  # $1 binary, $2 threads -> sets PROXY, PROXY_PID
  PROXY=127.0.0.1:$(free_port)
  config "\"$PROXY\"" "$2" | sed "s/{origin}/$ORIGIN/" >"$WORK/run.toml"
  "$1" serve --config "$WORK/run.toml" >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  $PY wait "${PROXY##*:}" --path / || { cat "$WORK/proxy.log" >&2; exit 1; }
}

stop_proxy() { kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; }

# perf stat on the proxy during one wrk run; prints "syscalls epoll_ctl epoll_waits futex
# cs cpu_us"
# per request. $1: extra wrk arguments (a Connection: close header, or nothing).
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait
EVENTS+=,syscalls:sys_enter_futex,context-switches,task-clock
per_request() {
  wrk -t1 -c10 -d1s "$@" "http://$PROXY/" >/dev/null   # warm-up: pools, buffers, caches
  perf stat -x, -e "$EVENTS" -o "$WORK/perf.csv" -p "$PROXY_PID" -- \
    wrk -t1 -c50 -d"${DURATION}s" "$@" "http://$PROXY/" >"$WORK/wrk.txt"
  local n
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
  awk -F, -v n="$n" '
    $3 == "raw_syscalls:sys_enter" {s = $1} $3 == "syscalls:sys_enter_epoll_ctl" {e = $1}
    $3 ~ /^syscalls:sys_enter_epoll_p?wait$/ {w += $1} $3 == "syscalls:sys_enter_futex" {f = $1} $3 == "context-switches" {c = $1}
    $3 == "task-clock" {t = $1}   # milliseconds
    END {printf "%.2f %.2f %.2f %.2f %.3f %.1f\n", s / n, e / n, w / n, f / n, c / n, t * 1000 / n}' "$WORK/perf.csv"
}

idle_bytes() {  # $1 binary -> bytes per idle keep-alive connection
  start_proxy "$1" 1
  $PY idle --port "${PROXY##*:}" --pid "$PROXY_PID" --count "$IDLE_CONNS" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["per_conn_bytes"], r["alive"])'
  stop_proxy
}

declare -A CELL
for i in 0 1 2; do
  b=${BINS[$i]}
  log "${NAMES[$i]}: instructions (callgrind)"
  CELL[ir,$i]=$(ir "$b" "$WORK/plain.toml")
  CELL[irtls,$i]=$(TLS=1 ir "$b" "$WORK/tls.toml")
  for threads in 1 2; do
    for mode in small close; do
      log "${NAMES[$i]}: perf stat, $mode, $threads thread(s)"
      start_proxy "$b" "$threads"
      if [ "$mode" = close ]; then
        read -r s e w f c t <<<"$(per_request -H "Connection: close")"
      else
        read -r s e w f c t <<<"$(per_request)"
      fi
      stop_proxy
      CELL[sys,$mode,$threads,$i]=$s CELL[ctl,$mode,$threads,$i]=$e CELL[wait,$mode,$threads,$i]=$w
      CELL[futex,$mode,$threads,$i]=$f
      CELL[cs,$mode,$threads,$i]=$c CELL[cpu,$mode,$threads,$i]=$t
    done
  done
  log "${NAMES[$i]}: idle connections"
  read -r bytes alive <<<"$(idle_bytes "$b")"
  CELL[idle,$i]="$bytes ($alive held)"
done

row() {  # $1 label, $2 key prefix
  printf '| %s | %s | %s | %s |\n' "$1" "${CELL[$2,0]}" "${CELL[$2,1]}" "${CELL[$2,2]}"
}
echo "| per request | ${NAMES[0]} | ${NAMES[1]} | ${NAMES[2]} |"
echo "|---|---:|---:|---:|"
row "instructions, small keep-alive (1 thread)" ir
row "instructions, small over TLS 1.3 (1 thread)" irtls
for mode in small close; do
  for threads in 1 2; do
    label="$mode, $threads thread(s)"
    row "system calls, $label" "sys,$mode,$threads"
    row "epoll_ctl, $label" "ctl,$mode,$threads"
    row "epoll_wait / epoll_pwait, $label" "wait,$mode,$threads"
    row "futex, $label" "futex,$mode,$threads"
    row "context switches, $label" "cs,$mode,$threads"
    row "CPU µs (noisy), $label" "cpu,$mode,$threads"
  done
done
row "bytes per idle connection ($IDLE_CONNS, 1 thread)" idle
