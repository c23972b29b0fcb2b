#!/usr/bin/env bash
# Scheduler delays at 2 worker threads: how long each thread (weir's workers, wrk, the
# origin) waited for a CPU, by `perf sched latency`, while wrk -t1 -c50 loads weir
# (the fair harness's config at `threads = 2`) with small responses for 3 s.
#
#   bench/sched.sh WEIR [ORIGIN_WEIR]
#
# The origin is `weir backend` on one thread (ORIGIN_WEIR, default WEIR). Prints wrk's
# req/s and p99, then the tasks with the longest single wait. Needs perf (sched
# tracepoints: root), wrk, curl, python3. Loopback only; bounded (1 s warm-up, 3 s).
set -u
B=$1; ORIGIN_WEIR=${2:-$1}; W=$(mktemp -d /tmp/weir-sched.XXXXXX)
trap 'kill $PP $BP 2>/dev/null; wait 2>/dev/null; rm -rf $W' EXIT
port(){ python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
O=$(port); P=$(port)
"$ORIGIN_WEIR" backend --listen 127.0.0.1:$O --threads 1 --name origin >/dev/null 2>&1 & BP=$!
sed -e "s/{proxy}/127.0.0.1:$P/" -e "s/{origin}/127.0.0.1:$O/" -e "s/^threads = 1/threads = 2/" "$(dirname "$0")/lib/weir-fair.toml" > $W/run.toml
"$B" serve --config $W/run.toml > $W/log 2>&1 & PP=$!
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$P/ && break; sleep 0.1; done
wrk -t1 -c50 -d1s http://127.0.0.1:$P/ >/dev/null
(cd $W && perf sched record -q -a -o $W/sched.data -- sleep 3 >/dev/null 2>&1) &
SP=$!
wrk -t1 -c50 -d3s --latency http://127.0.0.1:$P/ | grep -E "Requests/sec|99%"
wait $SP
perf sched latency -i $W/sched.data --sort max 2>/dev/null | head -14
