# weir with its admin listener on, so every request is counted (metrics, status page):
# what counting costs, against `weir` (counting off), same binary, same run:
#   bench/run.sh --proxies 'weir weir-metrics' --anchors weir --scenarios small
# The config is weir.sh's plus `[admin]`.
needs weir-metrics "$WEIR" "cargo build --release (or pass --weir PATH)"

start_weir-metrics() {  # $1 port, $2 worker threads, $3 scratch dir
  weir_config "$1" "$2" "$3/weir.toml" '[admin]
listen = "127.0.0.1:0"'
  launch "$WEIR" serve --config "$3/weir.toml"
}
