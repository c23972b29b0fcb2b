#!/usr/bin/env bash
# The runtime boundary (issue 25): only src/rt/ may name a runtime. Fails, listing the
# lines, when Rust code elsewhere under src/ names smol, async-io, async-signal,
# rustix's event API or tokio. Comment lines are skipped (prose may say "smol").
#
# Usage: .ci/runtime-boundary.sh [ROOT]   (ROOT: the checkout, default this one)
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root"

pattern='\b(smol|async_io|async_signal|tokio|tokio_util)\b|async-io|async-signal|rustix::event'

# ONE EXCEPTION: the h2 crate speaks tokio's AsyncRead/AsyncWrite *traits*, so
# src/http/h2compat.rs adapts weir's futures-io streams with tokio-util's compat layer,
# for clients (downstream/h2) and servers (upstream h2 pool) alike. No tokio runtime,
# reactor or executor comes of it (Cargo.toml enables only tokio's `io-util` for it):
# it is a codec's I/O traits, not a runtime, whichever backend runs weir.
allowed='^src/http/h2compat\.rs:'

hits=$(grep -rnE "$pattern" src --include='*.rs' \
  | grep -v '^src/rt/' \
  | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' \
  | grep -vE "$allowed" || true)

if [ -n "$hits" ]; then
  echo "runtime named outside src/rt/ (use the rt module's functions and types instead):" >&2
  echo "$hits" >&2
  exit 1
fi
echo "runtime boundary: only src/rt/ names a runtime"
