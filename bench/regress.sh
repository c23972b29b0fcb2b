#!/usr/bin/env bash
# Two weir builds against each other, interleaved in one run: is B → A faster, slower,
# or within the noise?
#
#   bench/regress.sh A B [--instructions] [run.sh options...]
#
# A and B are weir binaries (A is "the change", B "the base"). bench/run.sh runs them as
# `weir` and `weir-base` (proxies/weir-base.sh: the same config, only the binary
# differs), alternating A and B in every repeat of every scenario, the order flipped
# each repeat; then lib/regress.py prints, per scenario, A ÷ B repeat by repeat with its
# median and min–max, and the CPU µs per request of each beside the throughput; then
# lib/cpusplit.py splits each one's CPU time into user and system time and minor faults.
# --instructions also counts instructions per request of each under callgrind
# (bench/instructions.sh, with run.sh's weir config: the steadiest figure on a busy box).
#
# Defaults: --scenarios 'small close large' --repeats 5 --duration 3; any run.sh option
# after A and B overrides them (e.g. --pin, --threads 2, --scenarios small,idle).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 2 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
shift 2
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "regress.sh: $bin is not an executable" >&2; exit 2; }; done
IR=0 ARGS=()
for arg in "$@"; do
  if [ "$arg" = --instructions ]; then IR=1; else ARGS+=("$arg"); fi
done
OUT=$(mktemp -d /tmp/weir-regress.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

WEIR_BASE=$B "$HERE/run.sh" --weir "$A" --proxies 'weir weir-base' --anchors weir-base \
  --no-direct --no-readme --out "$OUT" --scenarios 'small close large' --repeats 5 --duration 3 \
  ${ARGS[@]+"${ARGS[@]}"} >"$OUT/run.log" 2>&1 || { cat "$OUT/run.log" >&2; exit 1; }

irs=()
if [ "$IR" = 1 ]; then
  # run.sh's weir config (proxies/weir.sh), one origin, with instructions.sh's placeholders
  conf=$OUT/weir-ir.toml
  (
    ORIGINS=("{origin}") KEEPALIVE=64 MAX_CONNS=8192 WEIR=""
    needs() { :; }
    # shellcheck source=proxies/weir.sh
    . "$HERE/proxies/weir.sh"
    weir_config 0 1 "$conf"
    sed -i 's/"127.0.0.1:0"/"{proxy}"/' "$conf"
  )
  for bin in "$A" "$B"; do
    irs+=("$("$HERE/instructions.sh" "$bin" "$conf" | awk '{print $1}')")
  done
fi

raw=$(ls -t "$OUT"/raw/*.jsonl | head -1)
python3 - "$raw" "$A" "$B" <<'PY'
import json, sys
# name the binaries in the report's first line
lines = open(sys.argv[1]).read().splitlines()
out = []
for line in lines:
    r = json.loads(line)
    if r.get("kind") == "meta":
        r.update(weir_a=sys.argv[2], weir_b=sys.argv[3])
    out.append(json.dumps(r))
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
python3 "$HERE/lib/regress.py" "$raw" ${irs[0]:+--instructions "${irs[0]}" "${irs[1]}"}
echo
echo "Where the CPU time went (lib/cpusplit.py: medians per request):"
echo
python3 "$HERE/lib/cpusplit.py" "$raw"
