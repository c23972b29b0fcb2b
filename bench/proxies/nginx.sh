# nginx as a round-robin reverse proxy: streaming both ways, no disk buffering, no log
# (ACCESS_LOG set: its default `combined` log, unbuffered, to that file).
needs nginx nginx "apt-get install nginx-light"
GRPC_OK[nginx]=1

start_nginx() {  # $1 port, $2 worker processes, $3 scratch dir
  local o servers="" tls="" log="access_log off;"
  for o in "${ORIGINS[@]}"; do servers+="    server $o;"$'\n'; done
  # With TLS_CERT set (run.sh's tls-* scenarios): TLS 1.3 only, nginx's other defaults.
  [ -n "${TLS_CERT:-}" ] && tls="ssl;
    ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.3"
  # With H2 set too (the h2-* scenarios): HTTP/2 by ALPN, 100 concurrent streams per
  # connection as weir and HAProxy (nginx's default is 128). `listen ... http2` is the
  # form nginx 1.22 knows; 1.25.1+ accepts it too, with a deprecation warning.
  [ -n "${H2:-}" ] && tls="ssl http2;
    http2_max_concurrent_streams 100;${tls#ssl;}"
  # With GRPC set (the grpc-* scenarios): HTTP/2 without TLS (h2c, prior knowledge only
  # in 1.22), the same 100 streams.
  [ -n "${GRPC:-}" ] && tls="http2;
    http2_max_concurrent_streams 100"
  # More than one worker: a listening socket each (`reuseport`), as weir opens one per
  # thread; without it one worker often takes every connection wrk opens at once.
  local reuse=""
  [ "$2" -gt 1 ] && reuse=" reuseport"
  # nginx's default: `access_log logs/access.log combined;`, no buffer, written per request
  [ -n "${ACCESS_LOG:-}" ] && log="access_log $ACCESS_LOG;"
  # `keepalive` caps the idle upstream connections cached per WORKER for the whole
  # upstream block (weir's and HAProxy's count is per server): KEEPALIVE per server ×
  # the servers, so each worker alone covers every client connection of a scenario.
  cat >"$3/nginx.conf" <<CONF
user $(id -un) $(id -gn);
worker_processes $2;
worker_rlimit_nofile 20000;
pid $3/nginx.pid;
error_log $3/error.log warn;
events { worker_connections $((2 * MAX_CONNS)); }   # counts both sides of a request
http {
  $log
  client_body_temp_path $3/body; proxy_temp_path $3/proxy;
  fastcgi_temp_path $3/fcgi; uwsgi_temp_path $3/uwsgi; scgi_temp_path $3/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  client_header_timeout 10s;
  client_body_timeout 60s;
  send_timeout 60s;
  large_client_header_buffers 4 16k;
  client_max_body_size 0;
  upstream origins {
$servers    keepalive $((KEEPALIVE * ${#ORIGINS[@]}));
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:$1$reuse${tls:+ $tls};
$(nginx_location)
  }
}
CONF
  launch nginx -p "$3" -e "$3/error.log" -c "$3/nginx.conf" -g "daemon off;"
}

# The proxying location: HTTP/1.1 upstream keep-alive, or with GRPC set (the grpc-*
# scenarios) `grpc_pass` over h2c with the same timeouts and forwarded header.
nginx_location() {
  if [ -n "${GRPC:-}" ]; then
    cat <<CONF
    location / {
      grpc_pass grpc://origins;
      grpc_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      grpc_connect_timeout 3s;
      grpc_read_timeout 60s;
      grpc_send_timeout 60s;
    }
CONF
    return
  fi
  cat <<CONF
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;   # passed through, as the other proxies do
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_connect_timeout 3s;
      proxy_read_timeout 60s;
      proxy_send_timeout 60s;
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
    }
CONF
}
