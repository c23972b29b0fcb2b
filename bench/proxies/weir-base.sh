# A second weir build, to compare a change against the build before it in one run:
#   WEIR_BASE=/path/to/old/weir bench/run.sh --proxies 'weir weir-base haproxy' --anchors haproxy
# Same config as weir.sh; only the binary differs.
needs weir-base "${WEIR_BASE:-weir-base}" "set WEIR_BASE to the weir binary to compare with"

start_weir-base() {  # $1 port, $2 worker threads, $3 scratch dir
  local WEIR=${WEIR_BASE:-weir-base}
  start_weir "$@"
}
