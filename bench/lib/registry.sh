# The proxy registry shared by bench/run.sh and bench/headers.sh (sourced, not run):
# every bench/proxies/*.sh, and how their processes are started and stopped. Needs HERE
# (bench/), WORK (the temp dir, with logs/ in it, set before the first launch), KEEP and
# a `log` function.
# A proxy file calls `needs NAME CMD HINT` and defines `start_NAME PORT THREADS DIR`,
# which writes its config into DIR and ends with `launch CMD ARGS...`.
declare -A NEED_CMD NEED_HINT
declare -A NO_TLS NO_LOG   # set by a proxy file that has no TLS listener / no default log
declare -A GRPC_OK         # set by a proxy file that renders an h2c gRPC instance (GRPC set)
needs() { NEED_CMD[$1]=$2; NEED_HINT[$1]=$3; }

PIDS=()
PROXY_PID=""
T_LAUNCH=""
ON_CPUS=()   # the taskset prefix for what `launch` starts (empty unless --pin)
launch() {
  T_LAUNCH=$EPOCHREALTIME
  "${ON_CPUS[@]}" "$@" >>"$WORK/logs/${PROXY_NAME:-proc}.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

stop_pid() {  # TERM a process (and its children), wait briefly, then KILL what is left
  local pid=$1 kids i
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" $kids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  fi
}

for f in "$HERE"/proxies/*.sh; do
  # shellcheck source=/dev/null
  . "$f"
done
