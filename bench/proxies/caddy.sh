# Caddy as a round-robin reverse proxy (`reverse_proxy`, `lb_policy round_robin`), one
# Go scheduler thread per worker (GOMAXPROCS), no log (ACCESS_LOG set: Caddy's default
# access log, JSON, to that file).
needs caddy caddy "apt-get install caddy"

start_caddy() {  # $1 port, $2 workers (GOMAXPROCS), $3 scratch dir
  local site=":$1" tls="" log=""
  # With TLS_CERT set (run.sh's tls-* scenarios): TLS 1.3 only, the run's certificate.
  if [ -n "${TLS_CERT:-}" ]; then
    site="https://:$1"
    tls="tls $TLS_CERT $TLS_KEY {
		protocols tls1.3
	}"
  fi
  # With H2 set too (the h2-* scenarios): HTTP/2 by ALPN (no HTTP/3). Caddy 2.6 has no
  # setting for concurrent streams: Go's default, 250, stands (the others: 100; h2load's
  # -m 10 is under both).
  local protocols=""
  [ -n "${H2:-}" ] && protocols="protocols h1 h2"
  [ -n "${ACCESS_LOG:-}" ] && log="log {
		output file $ACCESS_LOG
	}"
  # Caddy adds X-Forwarded-For, -Proto and -Host; the last two are removed so it sends
  # what the others send. Go's transport asks for gzip unless `compression off`.
  # keepalive_idle_conns_per_host (Caddy's default 32) is per server, as weir's.
  cat >"$3/Caddyfile" <<CONF
{
	admin off
	auto_https off
	servers {
		timeouts {
			read_header 10s
			idle 60s
		}
		max_header_size 16KiB
		$protocols
	}
}
# a bare :PORT site: no Host matcher to run per request
$site {
	bind 127.0.0.1
	$tls
	$log
	reverse_proxy ${ORIGINS[*]} {
		lb_policy round_robin
		header_up -X-Forwarded-Proto
		header_up -X-Forwarded-Host
		transport http {
			dial_timeout 3s
			response_header_timeout 60s
			keepalive 60s
			keepalive_idle_conns_per_host $KEEPALIVE
			compression off
		}
	}
}
CONF
  HOME=$3 XDG_DATA_HOME=$3/data XDG_CONFIG_HOME=$3/config GOMAXPROCS=$2 \
    launch caddy run --config "$3/Caddyfile" --adapter caddyfile
}
