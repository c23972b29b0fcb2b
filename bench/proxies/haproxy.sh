# HAProxy as a round-robin reverse proxy (HTTP mode, connection reuse, no log).
needs haproxy haproxy "apt-get install haproxy"

start_haproxy() {  # $1 port, $2 threads, $3 scratch dir
  local i=0 o servers="" tls=""
  # With TLS_CERT set (run.sh's tls-* scenarios): TLS 1.3 only; HAProxy wants the
  # certificate and key in one file, TLS_PEM.
  [ -n "${TLS_CERT:-}" ] && tls=" ssl crt $TLS_PEM ssl-min-ver TLSv1.3 alpn http/1.1"
  for o in "${ORIGINS[@]}"; do
    i=$((i + 1))
    servers+="  server o$i $o pool-max-conn $KEEPALIVE"$'\n'
  done
  cat >"$3/haproxy.cfg" <<CONF
global
  nbthread $2
  maxconn 8000
defaults
  mode http
  maxconn 8000
  option forwardfor
  http-reuse safe
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
  timeout http-keep-alive 60s
frontend bench
  bind 127.0.0.1:$1$tls
  default_backend origins
backend origins
  balance roundrobin
$servers
CONF
  launch haproxy -db -f "$3/haproxy.cfg"
}
