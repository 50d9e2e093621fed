#!/usr/bin/env bash
# Run every test: unit tests and the network-namespace tests (real kernel,
# real nft, real curl). Needs root for the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces): sudo $0" >&2; exit 1; }
./scripts/install-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast "$@"
else
  cargo test --locked --no-fail-fast "$@"
fi
