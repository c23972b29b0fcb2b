#!/usr/bin/env bash
# Two weir processes sharing a port with SO_REUSEPORT (`reuse_port = true`, one thread
# each) against one weir process with two threads, in one run, in front of the same
# origin, alternating A and B so that a busy machine slows both alike.
#
#   bench/reuseport.sh [WEIR] [SECONDS] [REPEATS]
#
# WEIR: the binary (default target/release/weir); SECONDS per wrk run (default 10);
# REPEATS: how many A/B pairs (default 3). Needs wrk. Prints requests/s per run and the
# median of each setup. Everything listens on 127.0.0.1; every process it starts is
# stopped by its pid on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEIR=$(realpath "${1:-$HERE/../target/release/weir}")
SECONDS_PER_RUN=${2:-10}
REPEATS=${3:-3}
[ -x "$WEIR" ] || { echo "reuseport.sh: $WEIR is not an executable" >&2; exit 2; }
command -v wrk >/dev/null || { echo "reuseport.sh: needs wrk" >&2; exit 2; }

DIR=$(mktemp -d /tmp/weir-reuseport.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until something answers on 127.0.0.1:$1 (at most 10 s).
wait_port() {
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.05
  done
  echo "reuseport.sh: nothing answers on port $1" >&2
  exit 1
}

ORIGIN=$(free_port)
"$WEIR" backend --listen "127.0.0.1:$ORIGIN" --threads 2 --name ok 2>/dev/null &
PIDS+=($!)
wait_port "$ORIGIN"

config() { # name port threads reuse_port
  cat > "$DIR/$1.toml" <<TOML
threads = $3
listen = { addr = "127.0.0.1:$2", reuse_port = $4 }
[upstream]
servers = ["127.0.0.1:$ORIGIN"]
TOML
  echo "$DIR/$1.toml"
}

ONE=$(free_port)
TWO=$(free_port)
"$WEIR" serve --config "$(config one "$ONE" 2 false)" >/dev/null 2>&1 &
PIDS+=($!)
"$WEIR" serve --config "$(config two-a "$TWO" 1 true)" >/dev/null 2>&1 &
PIDS+=($!)
"$WEIR" serve --config "$(config two-b "$TWO" 1 true)" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$ONE"
wait_port "$TWO"

rate() { # port → requests/s
  wrk -t 2 -c 64 -d "${SECONDS_PER_RUN}s" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'
}

A=() B=()
for i in $(seq 1 "$REPEATS"); do
  a=$(rate "$ONE") b=$(rate "$TWO")
  A+=("$a") B+=("$b")
  echo "run $i: one process × 2 threads: $a req/s; two processes × 1 thread (reuse_port): $b req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
echo "median: one process × 2 threads $(median "${A[@]}") req/s; two processes (reuse_port) $(median "${B[@]}") req/s"
