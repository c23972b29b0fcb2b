# HAProxy as a round-robin reverse proxy (HTTP mode, connection reuse, no log; with
# ACCESS_LOG set, `option httplog` written to its stdout, which run.sh sends to a file).
needs haproxy haproxy "apt-get install haproxy"
GRPC_OK[haproxy]=1

start_haproxy() {  # $1 port, $2 threads, $3 scratch dir
  local i=0 o servers="" tls="" glog="" dlog=""
  # With TLS_CERT set (run.sh's tls-* scenarios): TLS 1.3 only; HAProxy wants the
  # certificate and key in one file, TLS_PEM.
  [ -n "${TLS_CERT:-}" ] && tls=" ssl crt $TLS_PEM ssl-min-ver TLSv1.3 alpn http/1.1"
  # With H2 set too (the h2-* scenarios): ALPN h2 first, 100 concurrent streams per
  # connection (HAProxy's default, written out: weir's and nginx's are set to 100 too).
  local gh2=""
  if [ -n "${H2:-}" ]; then
    tls=" ssl crt $TLS_PEM ssl-min-ver TLSv1.3 alpn h2,http/1.1"
    gh2="  tune.h2.max-concurrent-streams 100"
  fi
  # HAProxy writes no file itself: its logs go to syslog or, since 2.0, to stdout/stderr,
  # written by the worker thread itself. stdout is the file `launch` opened
  # (logs/haproxy-log.log), so the cost stays in HAProxy's own CPU time, where a syslog
  # daemon would do the writing outside the measured process.
  if [ -n "${ACCESS_LOG:-}" ]; then
    glog="  log stdout format raw local0 info"
    dlog="  log global"$'\n'"  option httplog"
  fi
  # With GRPC set (the grpc-* scenarios): h2c both sides, `proto h2` on the bind and on
  # every server (HAProxy multiplexes streams over its server connections).
  # With HAPROXY_SPLICE=1: kernel splicing of bodies both ways (off by default in
  # HAProxy; weir splices plain-TCP bodies by default: README.md). `splice-auto` left
  # HAProxy's CPU per 1 MiB response unchanged here, `splice-response` halved it
  # (bench/profiling.md, "1 MiB with splice").
  local splice=""
  [ -n "${HAPROXY_SPLICE:-}" ] && splice="  option splice-request"$'\n'"  option splice-response"
  local sproto=""
  if [ -n "${GRPC:-}" ]; then
    tls=" proto h2" sproto=" proto h2"
    gh2="  tune.h2.max-concurrent-streams 100"
  fi
  for o in "${ORIGINS[@]}"; do
    i=$((i + 1))
    servers+="  server o$i $o pool-max-conn $KEEPALIVE$sproto"$'\n'
  done
  cat >"$3/haproxy.cfg" <<CONF
global
  nbthread $2
  maxconn $MAX_CONNS
$gh2
$glog
defaults
  mode http
  maxconn $MAX_CONNS
$dlog
  option forwardfor
  http-reuse always
$splice
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
