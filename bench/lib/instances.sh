# The proxy instances under load (sourced by bench/run.sh, not run): PORT_OF[NAME] and
# PID_OF[NAME] for the plain instance of every proxy and the origin ("direct"),
# [log-NAME] for the access-log instances, [tls-NAME] for the TLS ones (lib/h2.sh and
# lib/grpc.sh add theirs).
declare -A PORT_OF PID_OF

start_proxies() {
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
}

# The log scenario: a second instance of every proxy that writes its DEFAULT access log
# (its default format, unbuffered unless that is its default) to a file, since users
# keep logs on. A proxy file renders its log when ACCESS_LOG is set; one with no default
# access log sets NO_LOG[name] and sits the scenario out.
start_log_proxies() {
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
}

# The tls-* scenarios: a second instance of every proxy, its listener terminating TLS 1.3
# with one certificate for all (ECDSA P-256, self-signed, made here), in front of the
# same plain origins. A proxy file renders its TLS listener when TLS_CERT is set.
start_tls() {  # proxy port threads dir
  TLS_CERT=$WORK/tls/cert.pem TLS_KEY=$WORK/tls/key.pem TLS_PEM=$WORK/tls/haproxy.pem \
    PROXY_NAME=$1-tls "start_$1" "$2" "$3" "$4"
}
start_tls_proxies() {
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
}
