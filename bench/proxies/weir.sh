# weir, the proxy under test. $WEIR is the binary run.sh built (or --weir PATH).
needs weir "$WEIR" "cargo build --release (or pass --weir PATH)"

start_weir() {  # $1 port, $2 worker threads, $3 scratch dir
  local servers
  servers=$(printf '"%s", ' "${ORIGINS[@]}")
  cat >"$3/weir.toml" <<CONF
listen = "127.0.0.1:$1"
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
CONF
  launch "$WEIR" serve --config "$3/weir.toml"
}
