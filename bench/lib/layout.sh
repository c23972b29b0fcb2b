# Where things run (sourced by bench/run.sh, not run): `plan_layout` sets the CPU layout
# (PROXY_CPUS, LOAD_CPUS, LAYOUT; --pin), where the results go (OUT, MARKER), and the
# descriptor limits, which may lower MAX_CONNS and CROWD_CONNS.

plan_layout() {
  # By default the kernel places every process: proxy, wrk and origins share the CPUs, as
  # they would on a small box. --pin gives the proxy its own CPUs, the same for every
  # proxy, so the load generator and the origins do not compete with it for a CPU (nor
  # does the scheduler's placement of them differ from one proxy to the next).
  PROXY_CPUS=() LOAD_CPUS=() MARKER=results
  LAYOUT="not pinned: the kernel places the proxy, wrk and the origins"
  if [ "$PIN" = 1 ]; then
    ncpu=$(nproc)
    command -v taskset >/dev/null || { echo "run.sh: --pin needs taskset (apt-get install util-linux)" >&2; exit 1; }
    [ "$ncpu" -gt "$THREADS" ] || { echo "run.sh: --pin needs more CPUs ($ncpu) than --threads ($THREADS)" >&2; exit 2; }
    span() { if [ "$1" = "$2" ]; then echo "$1"; else echo "$1-$2"; fi; }
    proxy_cpus=$(span 0 $((THREADS - 1))) load_cpus=$(span "$THREADS" $((ncpu - 1)))
    PROXY_CPUS=(taskset -c "$proxy_cpus") LOAD_CPUS=(taskset -c "$load_cpus")
    LAYOUT="pinned: the proxy on CPU(s) $proxy_cpus, wrk and the origins on CPU(s) $load_cpus"
    OUT=${OUT:-$HERE/results/pinned} MARKER=results-pinned
    COMMAND+=" --pin"
  fi
  # A run of TLS scenarios alone has its own table (bench/results/tls, and the results-tls
  # section of bench/README.md), so it does not replace the plain one; so has a run of h2
  # scenarios alone (bench/results/h2, results-h2).
  LAYOUT+="; origins: $ORIGIN_MODE"
  if [ "$TLS_ONLY" = 1 ] && [ "$PIN" = 0 ]; then
    # gRPC scenarios alone: bench/results/grpc and the results-grpc section
    if [ "$WANT_TLS$WANT_H2" = 00 ]; then OUT=${OUT:-$HERE/results/grpc} MARKER=results-grpc
    elif [ "$WANT_TLS" = 0 ]; then OUT=${OUT:-$HERE/results/h2} MARKER=results-h2
    else OUT=${OUT:-$HERE/results/tls} MARKER=results-tls; fi
  fi
  OUT=${OUT:-$HERE/results}
  # The idle, tls-idle, burst and crowd scenarios hold thousands of connections: the
  # client, each proxy (a client and an upstream socket per request) and the origins need
  # that many descriptors. Each proxy's own limit is MAX_CONNS in its config; HAProxy
  # refuses to start unless it can have 2 × maxconn descriptors, so the hard limit is
  # raised to 65,536 where it is lower and we may (root), and the soft limit to the hard.
  [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 65536 ] && { ulimit -Hn 65536 2>/dev/null || true; }
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  # Where the limit stays lower (a container without CAP_SYS_RESOURCE: 20,000 here), every
  # proxy's cap comes down to what HAProxy can start with, and the crowd to what fits
  # under that cap beside wrk's connections and each proxy's own spare descriptors (weir
  # keeps 230 for upstream pools and threads): 9,950 and 9,750 with a hard limit of 20,000.
  fd_room=$(ulimit -n); [ "$fd_room" = unlimited ] && fd_room=1048576
  [ $(((fd_room - 100) / 2)) -lt "$MAX_CONNS" ] && MAX_CONNS=$(((fd_room - 100) / 2))
  [ $((MAX_CONNS - 200)) -lt "$CROWD_CONNS" ] && CROWD_CONNS=$((MAX_CONNS - 200))
  return 0
}
