#!/usr/bin/env bash
# The latency distribution of several weir builds under the same saturated closed loop,
# alternating, with how long each process waited for a CPU and how evenly the
# connections were served: for telling a slower proxy from one whose requests wait
# unevenly, and a starved thread from stalls that hit every connection
# (bench/profiling.md, "Runtimes at `a431e92`, and the 2-thread tail, round three").
#
#   bench/tail.sh ROUNDS THREADS LABEL=BINARY [LABEL=BINARY ...]
#
# One origin for every round (`weir backend`, one thread; ORIGIN=binary, default the
# first BINARY, so a tokio build's runs do not get a tokio origin); each build in turn
# proxies to it with bench/lib/weir-fair.toml's work at THREADS threads, warmed by 1 s
# of wrk, then `wrk -t1 -c $CONNS -d $SECONDS_PER_RUN --latency` (50 connections, 3 s;
# at least 3 s, as the window below is 0.3–2.8 s into the run). Per run,
# one line: req/s, p50, p90, p99; over the middle 2.5 s each side's CPU use and
# run-queue wait (`/proc/PID/task/*/schedstat`, summed over threads, % of one CPU):
# wrk, the proxy, the origin; then bench/lib/tailsplit.py's view of the proxy: the bytes
# each client connection brought it in those 2.5 s (`ss -ti`), least and most as
# ratios to the median connection's; how many connections each epoll instance (one per
# runtime thread) holds, and their mean ratio; and each busy thread's CPU use and
# run-queue wait. PREFIX (e.g. "nice -n 10") runs before each proxy.
# Loopback only; bounded by ROUNDS × builds × (SECONDS_PER_RUN + 2) s; every process it starts
# is stopped by its pid on exit.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,17p "$0" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=$1 THREADS=$2
shift 2
SECS=${SECONDS_PER_RUN:-3} CONNS=${CONNS:-50} PREFIX=${PREFIX:-}
ORIGIN_BIN=${ORIGIN:-${1#*=}}
for t in wrk ss curl python3; do command -v $t >/dev/null || { echo "tail.sh: needs $t" >&2; exit 1; }; done
for spec in "$@"; do
  [ -x "${spec#*=}" ] || { echo "tail.sh: ${spec#*=} is not an executable" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/weir-tail.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }
# CPU time and run-queue wait (ns) of a process, summed over its threads.
sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{r += $1; w += $2} END {print r + 0, w + 0}'; }
# The proxy's view of the window's ends, for bench/lib/tailsplit.py: its accepted
# connections (ss), its threads' schedstat, and (at the end) its epoll instances.
snapshot() {  # PORT PID N
  ss -tinpH state established "( sport = :$1 )" >"$WORK/ss$3"
  for t in /proc/"$2"/task/*; do echo "$(cat "$t/comm"):${t##*/} $(cat "$t/schedstat")"; done >"$WORK/threads$3"
  [ "$3" = 0 ] && return
  for f in /proc/"$2"/fd/*; do
    [ "$(readlink "$f")" = "anon_inode:[eventpoll]" ] && { echo "EP ${f##*/}"; cat /proc/"$2"/fdinfo/"${f##*/}"; }
  done >"$WORK/epolls" 2>/dev/null
  return 0
}
# "run X% wait Y%" of one CPU between two `sched` readings over 2.5 s.
share() { echo "$1 $2" | awk '{printf "run %3.0f%% wait %3.0f%%", ($3 - $1) / 25e6, ($4 - $2) / 25e6}'; }

ORIGIN_PORT=$(free_port)
"$ORIGIN_BIN" backend --listen "127.0.0.1:$ORIGIN_PORT" --threads 1 --name origin >/dev/null 2>&1 &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
up "$ORIGIN_PORT" || { echo "tail.sh: the origin did not start" >&2; exit 1; }
printf '%-10s %5s %9s %9s %9s %9s | %-20s | %-20s | %-20s | %s\n' build round req/s p50 p90 p99 wrk proxy origin \
  'connections: least most | by epoll: count@mean | thread run/wait'
for round in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    label=${spec%%=*} bin=${spec#*=} port=$(free_port)
    sed "s/{proxy}/127.0.0.1:$port/; s/{origin}/127.0.0.1:$ORIGIN_PORT/; s/^threads = 1/threads = $THREADS/" \
      "$HERE/lib/weir-fair.toml" >"$WORK/weir.toml"
    # shellcheck disable=SC2086 # PREFIX is words
    MIMALLOC_PURGE_DELAY=10 $PREFIX "$bin" serve --config "$WORK/weir.toml" >"$WORK/log" 2>&1 &
    proxy=$!
    PIDS+=("$proxy")
    up "$port" || { echo "tail.sh: $label did not start: $(tail -3 "$WORK/log")" >&2; exit 1; }
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
    wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$port/" >"$WORK/wrk" &
    load=$!
    sleep 0.3
    w0=$(sched $load) p0=$(sched $proxy) o0=$(sched $ORIGIN_PID)
    snapshot "$port" "$proxy" 0
    sleep 2.5
    w1=$(sched $load) p1=$(sched $proxy) o1=$(sched $ORIGIN_PID)
    snapshot "$port" "$proxy" 1
    wait "$load"
    pct() { awk -v p="$1" '$1 == p {print $2}' "$WORK/wrk"; }
    printf '%-10s %5s %9s %9s %9s %9s | %-20s | %-20s | %-20s | %s\n' "$label" "$round" \
      "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk")" "$(pct 50%)" "$(pct 90%)" "$(pct 99%)" \
      "$(share "$w0" "$w1")" "$(share "$p0" "$p1")" "$(share "$o0" "$o1")" \
      "$(python3 "$HERE/lib/tailsplit.py" "$WORK")"
    kill "$proxy"
    wait "$proxy" 2>/dev/null || true
  done
done
