# weir, the proxy under test. $WEIR is the binary run.sh built (or --weir PATH).
needs weir "$WEIR" "cargo build --release (or pass --weir PATH)"
GRPC_OK[weir]=1

# With TLS_CERT set (run.sh's tls-* scenarios), the listener terminates TLS 1.3 only;
# with H2 set too (the h2-* scenarios), it offers ALPN h2 (weir's fixed limit: 100
# concurrent streams per connection, the anchors are set to match).
weir_listen() {  # $1 port
  local h2=""
  [ -n "${H2:-}" ] && h2=", h2 = true"
  # With GRPC set (the grpc-* scenarios): h2c (prior knowledge), no TLS.
  if [ -n "${GRPC:-}" ]; then
    echo "{ addr = \"127.0.0.1:$1\", h2c = true }"
  elif [ -n "${TLS_CERT:-}" ]; then
    echo "{ addr = \"127.0.0.1:$1\", tls = { cert = \"$TLS_CERT\", key = \"$TLS_KEY\", min_version = \"1.3\" }$h2 }"
  else
    echo "\"127.0.0.1:$1\""
  fi
}

# The config every weir entry shares: the same work as the anchors (bench/README.md,
# "Same work for every proxy"). $4, when given, is appended (e.g. an [admin] table).
weir_config() {  # $1 port, $2 worker threads, $3 file, [$4 extra TOML]
  local servers chain
  servers=$(printf '"%s", ' "${ORIGINS[@]}")
  # balancer only: no access log. With ACCESS_LOG: the default chain (log, then
  # balancer), its default format (combined), to that file.
  chain='[[middleware]]
builtin = "balancer"'
  [ -n "${ACCESS_LOG:-}" ] && chain="[[middleware]]
builtin = \"log\"
config = { format = \"combined\", path = \"$ACCESS_LOG\" }
$chain"
  cat >"$3" <<CONF
listen = $(weir_listen "$1")
threads = $2
$([ "${WEIR_SPLICE:-1}" = 0 ] && echo "splice = false             # WEIR_SPLICE=0: bodies copied, as the anchors do")
[upstream]
servers = [${servers%, }]
$([ -n "${GRPC:-}" ] && echo "protocol = \"${GRPC_UPSTREAM:-h2c}\"   # grpc-*: h2c, or http1 in grpc-h1up")
keepalive = $KEEPALIVE            # idle connections kept PER SERVER
keepalive_timeout = "60s"
[forwarded]                # X-Forwarded-For only, like the anchors
for = true
proto = false
host = false
request_id = false
[timeouts]                 # weir's defaults, written out: the anchors are set to match
header = "10s"
idle = "60s"
connect = "3s"
upstream_read = "60s"
client_body = "60s"
[limits]
max_header_bytes = 16384
max_body_bytes = 0
max_connections = $MAX_CONNS
$chain
${4:-}
CONF
}

start_weir() {  # $1 port, $2 worker threads, $3 scratch dir
  # WEIR_ADMIN (grpc-*): an admin listener, for the upstream connections opened
  weir_config "$1" "$2" "$3/weir.toml" "${WEIR_ADMIN:+[admin]
listen = \"127.0.0.1:$WEIR_ADMIN\"}"
  launch "$WEIR" serve --config "$3/weir.toml"
}
