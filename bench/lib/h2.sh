# The h2-* scenarios of bench/run.sh (sourced by it, not run): a third instance of every
# proxy with a TLS listener (the tls-* scenarios' certificate) that offers HTTP/2 by
# ALPN, in front of the same plain HTTP/1.1 origins, driven by h2load
# (lib/h2load.py). A proxy file renders that listener when H2 is set beside TLS_CERT;
# one with NO_TLS set sits these scenarios out, as it does the tls-* ones.
# Needs run.sh's WORK, PY, LIB, PROXY_LIST, THREADS, DURATION, WRK_THREADS (h2load's -t
# too), PORT_OF, PID_OF, ORIGIN_PIDS, LOAD_CPUS and the start_NAME functions.

# scenario -> "connections streams-per-connection requests-per-connection path"
# (requests per connection 0: one connection each for the whole run)
h2_shape() {
  case $1 in
    h2-small) echo "10 10 0 /small" ;;     # the issue's 10 connections × 10 streams
    h2-large) echo "10 10 0 /1m" ;;        # the same shape, 1 MiB each
    h2-newconn) echo "10 10 10 /small" ;;  # a new TLS + h2 connection every 10 requests
    h2-warmup) echo "10 10 0 /small" ;;
  esac
}

start_h2() {  # proxy port threads dir
  H2=1 TLS_CERT=$WORK/tls/cert.pem TLS_KEY=$WORK/tls/key.pem TLS_PEM=$WORK/tls/haproxy.pem \
    PROXY_NAME=$1-h2 "start_$1" "$2" "$3" "$4"
}

# One h2 instance of every proxy that has a TLS listener; PORT_OF[h2-NAME], PID_OF[h2-NAME].
start_h2_proxies() {
  local p port dir
  for p in $PROXY_LIST; do
    [ -n "${NO_TLS[$p]:-}" ] && continue
    port=$($PY freeport 1); dir=$WORK/$p-h2; mkdir -p "$dir"
    start_h2 "$p" "$port" "$THREADS" "$dir"
    PORT_OF[h2-$p]=$port; PID_OF[h2-$p]=$PROXY_PID
    # the readiness probe speaks HTTP/1.1 over TLS, which every h2 listener also offers
    $PY wait "$port" --path /small --tls || { echo "run.sh: $p (h2) did not come up; see $WORK/logs/$p-h2.log" >&2; KEEP=1; exit 1; }
  done
  log "h2 proxies up: $(for p in $PROXY_LIST; do printf '%s=%s ' "$p" "${PORT_OF[h2-$p]:-}"; done)"
}

# As run_wrk: one JSON line, the proxy's CPU and RSS sampled around h2load.
run_h2load() {  # scenario target repeat
  local sc=$1 t=$2 r=$3 conns streams per path d=$DURATION
  read -r conns streams per path <<<"$(h2_shape "$sc")"
  [ "$sc" = h2-warmup ] && d=1
  mkdir -p "$WORK/h2load"
  $PY measure --pid "${PID_OF[h2-$t]}" --timeout $((d + 60)) --origins "$(IFS=,; echo "${ORIGIN_PIDS[*]}")" \
    --meta "{\"kind\":\"wrk\",\"scenario\":\"$sc\",\"proxy\":\"$t\",\"repeat\":$r,\"upload_bytes\":0,\"conns\":$conns,\"streams\":$streams,\"per_conn\":$per}" \
    -- "${LOAD_CPUS[@]}" python3 "$LIB/h2load.py" --url "https://127.0.0.1:${PORT_OF[h2-$t]}$path" \
    --duration "$d" --clients "$conns" --streams "$streams" --per-conn "$per" --threads "$WRK_THREADS" \
    --work "$WORK/h2load"
}
