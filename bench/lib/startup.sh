# The run's first records (sourced by bench/run.sh, not run): `write_meta` (machine,
# versions, settings: the report's heading) and `measure_startup` (each proxy's binary
# size, start-up time and idle RSS).

first_line() { "$@" 2>&1 | sed -n 1p || true; }   # sed reads all: no SIGPIPE under pipefail

write_meta() {
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
}

# Each proxy is launched STARTUP_RUNS times on a fresh port. A probe started beforehand
# polls connect() every 0.1 ms; we record exec → first successful connect and → first
# proxied response, then the process tree's RSS as it sits idle after that request.
measure_startup() {
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
}
