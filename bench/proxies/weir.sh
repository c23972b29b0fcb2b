# weir, the proxy under test. $WEIR is the binary run.sh built (or --weir PATH).
needs weir "$WEIR" "cargo build --release (or pass --weir PATH)"

# With TLS_CERT set (run.sh's tls-* scenarios), the listener terminates TLS 1.3 only.
weir_listen() {  # $1 port
  if [ -n "${TLS_CERT:-}" ]; then
    echo "{ addr = \"127.0.0.1:$1\", tls = { cert = \"$TLS_CERT\", key = \"$TLS_KEY\", min_version = \"1.3\" } }"
  else
    echo "\"127.0.0.1:$1\""
  fi
}

start_weir() {  # $1 port, $2 worker threads, $3 scratch dir
  local servers listen
  servers=$(printf '"%s", ' "${ORIGINS[@]}")
  listen=$(weir_listen "$1")
  cat >"$3/weir.toml" <<CONF
listen = $listen
threads = $2
[upstream]
servers = [${servers%, }]
keepalive = $KEEPALIVE
[forwarded]                # X-Forwarded-For only, like the nginx and HAProxy configs
for = true
proto = false
host = false
request_id = false
[[middleware]]             # balancer only: no access log
builtin = "balancer"
[limits]
max_connections = 10000    # the default; above the idle scenarios' 5,000
CONF
  launch "$WEIR" serve --config "$3/weir.toml"
}
