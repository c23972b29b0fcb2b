#!/usr/bin/env bash
# Kernel-side counts per proxied request under a bounded concurrent load, for weir at
# THREADS worker threads or nginx at THREADS workers: what wall-clock CPU figures cannot
# tell apart on a shared machine (bench/profiling.md, "Two threads (issues 24, 25)").
#
#   bench/threads.sh weir|nginx THREADS [SECONDS] [CONNECTIONS]
#
# One `weir backend` origin (one thread), the proxy in front of it doing the fair
# harness's work (bench/README.md: upstream keep-alive 64, X-Forwarded-For only, no
# access log), and `wrk -t1 -c CONNECTIONS -d SECONDS` (default 3 s, 50 connections) on
# a small response. `perf stat` attached to the proxy's worker processes (nginx) or
# process (weir) counts, per request: system calls, `epoll_wait`/`epoll_pwait`, `write`
# (weir writes sockets with `writev`, so its `write`s are eventfd wakes of a worker
# asleep in `epoll_wait`), `sched_yield`, `futex`, context switches and the wake-ups the
# proxy made (`sched:sched_wakeup`: of wrk, the origin or its own threads); then
# CPU µs per request (task-clock, the noisy one), each thread's share of the CPU and
# the CPU per request split into user space and kernel (/proc utime and stime);
# for weir, the connections each thread's listener accepted, and its context switches
# split into voluntary (it slept) and involuntary (preempted, or a `sched_yield` that
# let another run) from /proc.
# With REUSEPORT=1 nginx listens with `reuseport` (a socket per worker, as weir at
# threads > 1); without it nginx's workers share one socket, and with its default
# `accept_mutex off` one worker often takes every connection (bench/profiling.md).
# WEIR: the binary (default target/release/weir). Needs perf with tracepoints (root or
# kernel.perf_event_paranoid ≤ -1), wrk, curl, python3, nginx for nginx. Loopback only;
# bounded by SECONDS; every process it starts is stopped by its pid on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEIR=${WEIR:-$HERE/../target/release/weir}
KIND=$1 THREADS=$2 SECS=${3:-3} CONNS=${4:-50}
case $KIND in weir|nginx) ;; *) echo "threads.sh: weir or nginx, not $KIND" >&2; exit 2 ;; esac
WORK=$(mktemp -d /tmp/weir-threads.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ORIGIN=$(free_port) PROXY=$(free_port) ADMIN=$(free_port)

"$WEIR" backend --listen "127.0.0.1:$ORIGIN" --threads 1 --name origin >/dev/null 2>&1 &
PIDS+=($!)
if [ "$KIND" = weir ]; then
  sed "s/{proxy}/127.0.0.1:$PROXY/; s/{origin}/127.0.0.1:$ORIGIN/; s/^threads = 1/threads = $THREADS/" \
    "$HERE/lib/weir-fair.toml" >"$WORK/weir.toml"
  printf '[admin]\nlisten = "127.0.0.1:%s"\n' "$ADMIN" >>"$WORK/weir.toml"
  # weir on mimalloc executes itself again to set this (src/cli/alloc.rs); set here, the
  # pid started is the proxy's.
  MIMALLOC_PURGE_DELAY=10 "$WEIR" serve --config "$WORK/weir.toml" >"$WORK/log" 2>&1 &
else
  cat >"$WORK/nginx.conf" <<CONF
worker_processes $THREADS;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/b; proxy_temp_path $WORK/p; fastcgi_temp_path $WORK/f;
  uwsgi_temp_path $WORK/u; scgi_temp_path $WORK/s;
  upstream pool { server 127.0.0.1:$ORIGIN; keepalive 64; keepalive_requests 1000000; }
  server { listen 127.0.0.1:$PROXY$([ "${REUSEPORT:-0}" = 1 ] && echo " reuseport");
    location / { proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }
}
CONF
  nginx -p "$WORK" -c "$WORK/nginx.conf" -g "daemon off;" >"$WORK/log" 2>&1 &
fi
MAIN=$!
PIDS+=("$MAIN")
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PROXY/" && break; sleep 0.1; done
# The processes that serve: nginx's workers, or weir itself.
TARGETS=$MAIN
[ "$KIND" = nginx ] && TARGETS=$(pgrep -P "$MAIN" | paste -sd,)

# Per-thread CPU ticks of the targets, as "tid all user kernel" lines (utime + stime,
# utime, stime).
ticks() {
  local p t
  for p in ${TARGETS//,/ }; do
    for t in /proc/"$p"/task/*; do awk -v t="${t##*/}" '{print t, $14 + $15, $14, $15}' "$t/stat"; done
  done
}
# A weir process's context switches as "tid voluntary involuntary" lines.
switches() {
  local t
  for t in /proc/"$MAIN"/task/*; do
    awk -v t="${t##*/}" '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print t, v, n}' "$t/status"
  done
}
EVENTS=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_pwait
EVENTS+=,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write,syscalls:sys_enter_sched_yield
EVENTS+=,syscalls:sys_enter_futex,sched:sched_wakeup
perf stat -e "$EVENTS" -p "$TARGETS" -o "$WORK/perf" &
PERF=$!
sleep 0.2
ticks >"$WORK/ticks0"
switches >"$WORK/switches0"
wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PROXY/" >"$WORK/wrk"
ticks >"$WORK/ticks1"
switches >"$WORK/switches1"
kill -INT "$PERF"
wait "$PERF" || true

REQUESTS=$(awk '/requests in/ {print $1}' "$WORK/wrk")
RATE=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk")
P99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk")
echo "$KIND, $THREADS thread(s), $CONNS connections: $REQUESTS requests, $RATE req/s, p99 $P99"
awk -v n="$REQUESTS" '
  /task-clock/ { gsub(",", "", $1); printf "  %-40s %8.2f\n", "CPU us/request (task-clock)", $1 * 1000 / n; next }
  $2 ~ /^(context-switches|raw_syscalls|syscalls|sched)/ && $1 ~ /^[0-9,]+$/ {
    gsub(",", "", $1); printf "  %-40s %8.3f\n", $2 "/request", $1 / n }' "$WORK/perf"
# Each busy thread's share of the targets' CPU during the load, and the CPU per request
# split into user space and kernel (utime and stime, in ticks of 1/CLK_TCK s).
join "$WORK/ticks0" "$WORK/ticks1" | awk -v n="$REQUESTS" -v hz="$(getconf CLK_TCK)" '
  {d = $5 - $2; if (d > 0) { used[NR] = d; all += d }; user += $6 - $3; kernel += $7 - $4}
  END { printf "  CPU share by thread:"; for (i in used) printf " %.0f%%", 100 * used[i] / all; print ""
        printf "  %-40s %8.2f\n  %-40s %8.2f\n", "user us/request (utime)", user * 1e6 / hz / n,
          "kernel us/request (stime)", kernel * 1e6 / hz / n }'
if [ "$KIND" = weir ]; then
  join "$WORK/switches0" "$WORK/switches1" | awk -v n="$REQUESTS" '{v += $4 - $2; i += $5 - $3}
    END {printf "  %-40s %8.3f\n  %-40s %8.3f\n", "voluntary switches/request", v / n, "involuntary switches/request", i / n}'
  curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^weir_connections_accepted_by_thread_total/ {printf "  accepted: %s\n", $0}'
fi
