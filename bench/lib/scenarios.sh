# The measurements of bench/run.sh (sourced by it, not run): one function per kind of
# cell, each appending its JSON line to RAW and logging a summary. Load runs go through
# `run_wrk` (lib/h2.sh's run_h2load and lib/grpc.sh's run_grpc for theirs); the
# held-connection scenarios (idle, tls-idle, burst) start a fresh instance of the proxy
# each time, and the crowd holds its connections on the instance the load runs on.
# Needs run.sh's WORK, RAW, PY, LIB, PORT_OF, PID_OF, LOAD_CPUS, DURATION, THREADS,
# WRK_THREADS, ORIGIN_PIDS and the counts of the options.

write_wrk_scripts() {  # wrk's Lua: each scenario's script, then report.lua's done hook
  cat "$LIB/report.lua" >"$WORK/plain.lua"
  cat "$LIB/upload.lua" "$LIB/report.lua" >"$WORK/upload.lua"
  cat "$LIB/paced.lua" "$LIB/report.lua" >"$WORK/paced.lua"
}

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
    paced)  conns=$PACED_CONNS; path=/small; script=$WORK/paced.lua ;;
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

warm_up() {  # one short run against every target first, so no cell measures a cold start
  local p
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
}

run_load() {  # scenario target repeat: one wrk (h2load) run against the running instance
  local sc=$1 t=$2 r=$3 line
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
}

run_tls_idle() {  # target repeat
  local t=$1 r=$2 port dir line
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
}

run_idle() {  # target repeat
  local t=$1 r=$2 port dir line
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
}

run_crowd() {  # target repeat
  local t=$1 r=$2 ready holder line
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
}

run_burst() {  # target repeat
  local t=$1 r=$2 port dir line
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
}
