# Pingora (Cloudflare's proxy framework) as a round-robin load balancer: the minimal
# program in bench/pingora/, built by run.sh with `cargo build --release` when this
# proxy is asked for (it needs cmake: apt-get install cmake). No access log: pingora
# has no default one (a program writes its own in the `logging` hook), so it sits out
# the `log` scenario.
PINGORA_BIN=$HERE/pingora/target/release/pingora-lb
needs pingora "$PINGORA_BIN" "bench/run.sh builds it (needs cargo and cmake: apt-get install cmake)"
NO_LOG[pingora]=1   # no default access log
NO_TLS[pingora]=1   # built without a TLS stack

start_pingora() {  # $1 port, $2 worker threads, $3 scratch dir
  local o ups=()
  for o in "${ORIGINS[@]}"; do ups+=(--upstream "$o"); done
  # upstream_keepalive_pool_size is ONE pool for every origin (default 128): KEEPALIVE
  # per server × the servers, as for nginx
  cat >"$3/pingora.yaml" <<CONF
---
version: 1
threads: $2
work_stealing: true
pid_file: $3/pingora.pid
upgrade_sock: $3/upgrade.sock
upstream_keepalive_pool_size: $((KEEPALIVE * ${#ORIGINS[@]}))
CONF
  launch "$PINGORA_BIN" -c "$3/pingora.yaml" --listen "127.0.0.1:$1" "${ups[@]}"
}
