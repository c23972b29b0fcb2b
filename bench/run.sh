#!/usr/bin/env bash
# weir vs nginx, HAProxy, Caddy (and Pingora), side by side on the same three origins,
# every proxy configured for the same work. See bench/README.md.
#
# Installs nothing. Starts every process itself on loopback high ports under a private
# temp directory, and stops them all on exit. Proxies are defined in bench/proxies/*.sh.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
LIB=$HERE/lib
PY="python3 $LIB/benchlib.py"

# shellcheck source=lib/options.sh
. "$LIB/options.sh"
parse_options "$@"
# shellcheck source=lib/layout.sh
. "$LIB/layout.sh"
plan_layout

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# The proxy registry (bench/proxies/*.sh), then each concept's functions.
# shellcheck source=lib/registry.sh
. "$LIB/registry.sh"
# shellcheck source=lib/h2.sh
. "$LIB/h2.sh"
# shellcheck source=lib/grpc.sh
. "$LIB/grpc.sh"
# shellcheck source=lib/requirements.sh
. "$LIB/requirements.sh"
# shellcheck source=lib/origins.sh
. "$LIB/origins.sh"
# shellcheck source=lib/startup.sh
. "$LIB/startup.sh"
# shellcheck source=lib/instances.sh
. "$LIB/instances.sh"
# shellcheck source=lib/scenarios.sh
. "$LIB/scenarios.sh"

# Everything is checked before weir is built, so a missing tool is named at once.
check_requirements
build_binaries

WORK=$(mktemp -d /tmp/weir-bench.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/logs" "$WORK/data"
trap cleanup EXIT
trap 'exit 130' INT TERM
RAW=$WORK/raw.jsonl
: >"$RAW"
log "work dir $WORK"

# ------------------------------------------------------------------ origins
head -c 1048576 /dev/zero | tr '\0' 'w' >"$WORK/data/1m"
ON_CPUS=("${LOAD_CPUS[@]}")
read -r -a PORTS <<<"$($PY freeport 12)"
start_origins "$ORIGIN_MODE" "${PORTS[@]:0:3}"
for o in "${ORIGINS[@]}"; do $PY wait "${o##*:}" --path /small; $PY wait "${o##*:}" --path /1m; done
log "origins up: ${ORIGINS[*]}"
ON_CPUS=("${PROXY_CPUS[@]}")   # every proxy from here on
log "CPU layout: $LAYOUT"

write_meta
measure_startup

start_proxies
start_log_proxies
start_tls_proxies
[ "$WANT_H2" = 1 ] && start_h2_proxies
[ "$WANT_GRPC" = 1 ] && start_grpc_proxies
write_wrk_scripts

TARGETS=($PROXY_LIST)
[ "$DIRECT" = 1 ] && TARGETS+=(direct)
warm_up

for r in $(seq "$REPEATS"); do
  # rotate the order every repeat so no proxy always runs first or last
  order=()
  n=${#TARGETS[@]}
  for k in $(seq 0 $((n - 1))); do order+=("${TARGETS[$(((k + r - 1) % n))]}"); done
  for sc in $SCENARIOS; do
    for t in "${order[@]}"; do
      case $sc in   # the origins speak plain HTTP and write no log
        tls-*|h2-*) [ "$t" = direct ] || [ -n "${NO_TLS[$t]:-}" ] && continue ;;
        log) [ "$t" = direct ] || [ -n "${NO_LOG[$t]:-}" ] && continue ;;
        grpc-*) grpc_runs "$sc" "$t" || continue ;;
        idle|burst|crowd) [ "$t" = direct ] && continue ;;   # they measure a proxy
      esac
      case $sc in
        tls-idle) run_tls_idle "$t" "$r" ;;
        idle) run_idle "$t" "$r" ;;
        crowd) run_crowd "$t" "$r" ;;
        burst) run_burst "$t" "$r" ;;
        *) run_load "$sc" "$t" "$r"; sleep 0.2 ;;
      esac
    done
  done
done

# ------------------------------------------------------------------ report
mkdir -p "$OUT/raw"
cp "$RAW" "$OUT/raw/raw-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
$PY report --raw "$RAW" --out "$OUT" --marker "$MARKER" ${README:+--readme "$README" --readme "$HERE/../README.md"}
log "wrote $OUT/results.md and $OUT/chart.svg"
