# weir built on tokio's multi-thread runtime (`cargo build --release --features
# tokio-runtime`), beside the default build and the async-io one (weir-async-io.sh says
# how to run the three), same config as weir.sh; only the binary differs.
needs weir-tokio "${WEIR_TOKIO:-weir-tokio}" \
  "set WEIR_TOKIO to a weir built with --features tokio-runtime"

start_weir-tokio() {  # $1 port, $2 worker threads, $3 scratch dir
  local WEIR=${WEIR_TOKIO:-weir-tokio}
  start_weir "$@"
}
