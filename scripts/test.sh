#!/usr/bin/env bash
# Run every test: unit tests and the network-namespace tests (real kernel,
# real nft, real curl). Needs root for the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces): sudo $0" >&2; exit 1; }
./scripts/install-deps.sh
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
# Villages left behind by a killed run would only waste memory; clear them.
./scripts/village.sh down-all
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast "$@"
else
  cargo test --locked --no-fail-fast "$@"
fi
