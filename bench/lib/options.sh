# bench/run.sh's options (sourced by it, not run): the defaults, `usage`, and
# `parse_options "$@"`, which sets them, expands "tls", "h2" and "grpc" into their
# scenarios, checks every name, and sets WANT_TLS, WANT_H2, WANT_GRPC, TLS_ONLY,
# ANCHORS and COMMAND (the command line the report quotes).

THREADS=1
DURATION=3
REPEATS=4
IDLE_CONNS=5000
# 8,000: each proxy needs two descriptors per request in flight, HAProxy's maxconn here is
# 8,000 and nginx's worker_connections 16,384 counts both sides; past that the figures
# measure refusals, not memory.
BURST_CONNS=8000
# Idle keep-alive connections held open beside the crowd scenario's small-response load
# (bench/lib/crowd.py): issue 24's "10,000 idle connections + load".
CROWD_CONNS=10000
BURST_ROUNDS=3
# Connections of the paced scenario, each waiting 1 ms between requests (lib/paced.lua):
# 50 offer well under any proxy's rate here; more bring the offered load near saturation,
# so the tails can be compared at equal rates up to it.
PACED_CONNS=50
WRK_THREADS=1
# Idle upstream connections kept per origin server: above wrk's 50 client connections,
# so no proxy closes and reopens upstream connections under load, even if every client
# connection's request went to one server. Each proxy file converts it to its own unit
# (nginx and Pingora count one pool for all servers; see bench/README.md).
KEEPALIVE=64
# Client connections each proxy accepts (nginx: worker_connections is twice this, since
# it counts the upstream side too). Above the crowd's 10,000 plus wrk's 50, the idle
# scenarios' 5,000 and burst's 8,000.
MAX_CONNS=12288
STARTUP_RUNS=5
PROXY_LIST="weir nginx haproxy caddy"
ANCHORS=""   # default: every proxy in the list whose name does not start with "weir"
SCENARIOS="small paced large upload close idle log"
DIRECT=1
ORIGIN_MODE=shared
OUT=""
PIN=0
WEIR=""
KEEP=0
README=$HERE/README.md

usage() {
  cat <<EOF
Usage: bench/run.sh [options]

  --threads N        worker threads/processes per proxy (default $THREADS)
  --duration S       seconds per wrk run (default $DURATION)
  --repeats R        interleaved repeats of every cell (default $REPEATS)
  --scenarios LIST   subset of: small paced large upload close idle log burst crowd
                     tls-small tls-handshake tls-big tls-idle (or "tls" for those four)
                     h2-small h2-large h2-newconn (or "h2" for those three)
                     grpc-unary grpc-h1up (or "grpc" for both);
                     spaces or commas (default: the plain ones but burst)
  --proxies LIST     proxies to run, from bench/proxies/ (default: "$PROXY_LIST";
                     "pingora" builds bench/pingora first)
  --anchors LIST     proxies weir's ratios are taken against: the best of them in each
                     cell (default: every proxy of --proxies not named weir*)
  --no-direct        do not measure the origin without a proxy (the ceiling)
  --origins MODE     "shared": one nginx process, one worker, serving all three ports
                     (default); "separate": three nginx processes, one worker each
  --idle-conns N     connections held in the idle scenario (default $IDLE_CONNS)
  --burst-conns N    connections in the burst scenario (default $BURST_CONNS; not in the
                     default list: run it with --scenarios burst)
  --burst-rounds N   requests each burst connection sends, all at once (default $BURST_ROUNDS)
  --crowd-conns N    idle keep-alive connections held open during the crowd scenario's
                     small-response load (default $CROWD_CONNS; not in the default list)
  --paced-conns N    connections of the paced scenario, each waiting 1 ms between
                     requests (default $PACED_CONNS)
  --wrk-threads N    wrk threads (default $WRK_THREADS)
  --weir PATH        use this weir binary instead of building target/release/weir
  --pin              pin every proxy alike to the first N CPUs (N = --threads), and wrk
                     and the origins to the rest; the table goes to bench/results/pinned
                     and to its own section of the READMEs
  --out DIR          where results.md and chart.svg go (default bench/results)
  --no-readme        do not write the table into bench/README.md and README.md
  --keep             keep the temp directory (configs, logs, raw results)
EOF
}

parse_options() {
  while [ $# -gt 0 ]; do
    case $1 in
      --threads) THREADS=$2; shift 2 ;;
      --duration) DURATION=$2; shift 2 ;;
      --repeats) REPEATS=$2; shift 2 ;;
      --scenarios) SCENARIOS=$2; shift 2 ;;
      --proxies) PROXY_LIST=$2; shift 2 ;;
      --anchors) ANCHORS=$2; shift 2 ;;
      --no-direct) DIRECT=0; shift ;;
      --origins) ORIGIN_MODE=$2; shift 2 ;;
      --idle-conns) IDLE_CONNS=$2; shift 2 ;;
      --burst-conns) BURST_CONNS=$2; shift 2 ;;
      --burst-rounds) BURST_ROUNDS=$2; shift 2 ;;
      --crowd-conns) CROWD_CONNS=$2; shift 2 ;;
      --paced-conns) PACED_CONNS=$2; shift 2 ;;
      --wrk-threads) WRK_THREADS=$2; shift 2 ;;
      --weir) WEIR=$2; shift 2 ;;
      --pin) PIN=1; shift ;;
      --out) OUT=$2; shift 2 ;;
      --no-readme) README=""; shift ;;
      --keep) KEEP=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
  done
  # "a,b" and "a b" alike; "tls" stands for the four TLS scenarios, "h2" for the three h2
  SCENARIOS=$(for sc in ${SCENARIOS//,/ }; do
    case $sc in
      tls) echo tls-small tls-handshake tls-big tls-idle ;;
      h2) echo h2-small h2-large h2-newconn ;;
      grpc) echo grpc-unary grpc-h1up ;;   # lib/grpc.sh
      *) echo "$sc" ;;
    esac
  done | xargs)
  TLS_ONLY=1 WANT_TLS=0 WANT_H2=0 WANT_GRPC=0
  for sc in $SCENARIOS; do
    case $sc in
      small|paced|large|upload|close|idle|log|burst|crowd) TLS_ONLY=0 ;;
      tls-small|tls-handshake|tls-big|tls-idle) WANT_TLS=1 ;;
      h2-small|h2-large|h2-newconn) WANT_H2=1 ;;
      grpc-unary|grpc-h1up) WANT_GRPC=1 ;;
      *) echo "run.sh: unknown scenario $sc" >&2; usage >&2; exit 2 ;;
    esac
  done
  PROXY_LIST=${PROXY_LIST//,/ }
  if [ -z "$ANCHORS" ]; then
    ANCHORS=$(for p in $PROXY_LIST; do case $p in weir*) ;; *) echo "$p" ;; esac; done | xargs)
  fi
  ANCHORS=${ANCHORS//,/ }
  case $ORIGIN_MODE in separate|shared) ;; *) echo "run.sh: --origins is separate or shared" >&2; exit 2 ;; esac
  COMMAND="bench/run.sh --threads $THREADS --duration $DURATION --repeats $REPEATS"
  COMMAND+=" --origins $ORIGIN_MODE --idle-conns $IDLE_CONNS --paced-conns $PACED_CONNS --scenarios '$SCENARIOS' --proxies '$PROXY_LIST'"
}
