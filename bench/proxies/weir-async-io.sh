# weir built on async-io's reactor (`cargo build --release --features portable-runtime`),
# beside the default build (weir's own epoll reactor) and the tokio one, same config:
#   WEIR_ASYNC_IO=/path/to/weir-portable WEIR_TOKIO=/path/to/weir-tokio \
#     bench/run.sh --proxies 'weir weir-async-io weir-tokio nginx haproxy'
# Only the binary differs from weir.sh. bench/runtimes.sh has the per-request counts.
needs weir-async-io "${WEIR_ASYNC_IO:-weir-async-io}" \
  "set WEIR_ASYNC_IO to a weir built with --features portable-runtime"

start_weir-async-io() {  # $1 port, $2 worker threads, $3 scratch dir
  local WEIR=${WEIR_ASYNC_IO:-weir-async-io}
  start_weir "$@"
}
