# The origins every proxy in bench/ balances over (sourced by bench/run.sh). nginx, one
# worker: /small (a short text), /1m (a 1 MiB file, sendfile), /upload (reads a POST
# body in full, then answers "ok").
#
# "separate": three nginx processes, one port each, as three hosts would be. "shared":
# one nginx process serving all three ports, as the second harness of issue 24 did
# (bench/README.md, "Fairness"): on a 2-core machine that is two fewer processes for the
# scheduler to wake in turn, and more CPU left for wrk and the proxy.

origin_server() {  # $1 origin number, $2 port
  cat <<CONF
  server {
    listen 127.0.0.1:$2;
    root $WORK/data;
    location = /small { default_type text/plain; return 200 "hello from origin $1\n"; }
    location = /1m { default_type application/octet-stream; }
    # /upload must read the whole body before answering (a bare "return" answers early
    # and discards the body, which makes nginx-as-proxy close the client connection):
    # the mirror module reads the body in memory first, then the 404 becomes a 200 "ok".
    location = /upload {
      client_max_body_size 2m; client_body_buffer_size 2m;
      mirror /sink; mirror_request_body on;
      log_not_found off; error_page 404 =200 @ok;
    }
    location = /sink { internal; return 204; }
    location @ok { default_type text/plain; return 200 "ok\n"; }
  }
CONF
}

origin_config() {  # $1 dir, then "number port" pairs
  local dir=$1
  shift
  cat <<CONF
user $(id -un) $(id -gn);
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  sendfile on;
CONF
  while [ $# -gt 0 ]; do origin_server "$1" "$2"; shift 2; done
  echo "}"
}

# Starts the origins on the three ports given; sets ORIGINS (addresses) and ORIGIN_PIDS
# (the process serving each).
start_origins() {  # $1 separate|shared, $2 $3 $4 ports
  local mode=$1 i dir
  shift
  ORIGINS=() ORIGIN_PIDS=()
  if [ "$mode" = shared ]; then
    dir=$WORK/origins; mkdir -p "$dir"
    origin_config "$dir" 1 "$1" 2 "$2" 3 "$3" >"$dir/nginx.conf"
    PROXY_NAME=origins launch nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g "daemon off;"
    for i in 1 2 3; do ORIGINS+=("127.0.0.1:${!i}"); ORIGIN_PIDS+=("$PROXY_PID"); done
    return
  fi
  for i in 1 2 3; do
    dir=$WORK/origin$i; mkdir -p "$dir"
    origin_config "$dir" "$i" "${!i}" >"$dir/nginx.conf"
    PROXY_NAME=origin$i launch nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g "daemon off;"
    ORIGINS+=("127.0.0.1:${!i}")
    ORIGIN_PIDS+=("$PROXY_PID")
  done
}
