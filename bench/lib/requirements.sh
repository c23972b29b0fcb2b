# What a run needs (sourced by bench/run.sh, not run): `check_requirements` names every
# missing tool at once, with the package to install, before anything is built;
# `build_binaries` builds weir (unless --weir) and the Pingora anchor (when asked for).

check_requirements() {
  # Everything is checked before weir is built, so a missing tool is named at once.
  BUILD=0
  if [ -z "$WEIR" ]; then
    command -v cargo >/dev/null || { echo "run.sh: cargo not found (needed to build weir; or pass --weir PATH)" >&2; exit 1; }
    WEIR=$ROOT/target/release/weir
    NEED_CMD[weir]=$WEIR
    BUILD=1
  fi
  missing=() hints=()
  tools="wrk python3 nginx"   # wrk drives the load; nginx also serves the origins
  [ "$WANT_TLS$WANT_H2" != 00 ] && tools+=" openssl"   # makes the TLS scenarios' certificate
  [ "$WANT_H2$WANT_GRPC" != 00 ] && tools+=" h2load"   # drives the h2-* and grpc-* scenarios
  for t in $tools; do
    hint=${t/nginx/nginx-light}; hint=${hint/h2load/nghttp2-client}
    command -v "$t" >/dev/null || { missing+=("$t"); hints+=("apt-get install $hint"); }
  done
  for p in $PROXY_LIST; do
    declare -F "start_$p" >/dev/null || { echo "run.sh: no bench/proxies/$p.sh defining start_$p" >&2; exit 2; }
    cmd=${NEED_CMD[$p]:-}
    [ "$p" = weir ] && [ "$BUILD" = 1 ] && continue   # built below
    if [ "$p" = pingora ]; then   # built below, from bench/pingora
      for t in cargo cmake; do
        command -v "$t" >/dev/null || { missing+=("$t (to build pingora)"); hints+=("apt-get install $t"); }
      done
      continue
    fi
    if [ -n "$cmd" ] && ! command -v "$cmd" >/dev/null; then
      missing+=("$p ($cmd)"); hints+=("${NEED_HINT[$p]}")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: missing: ${missing[*]}" >&2
    printf '  %s\n' "${hints[@]}" | sort -u >&2
    echo "  (everything at once: apt-get install nginx-light haproxy caddy wrk nghttp2-client cmake)" >&2
    exit 1
  fi
}

build_binaries() {
  if [ "$BUILD" = 1 ]; then
    log "building weir (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
  if [[ " $PROXY_LIST " == *" pingora "* ]]; then
    log "building the pingora anchor (bench/pingora, cargo build --release)"
    (cd "$HERE/pingora" && cargo build --release --quiet)
  fi
}
