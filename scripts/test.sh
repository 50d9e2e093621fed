#!/usr/bin/env bash
# Run every test: unit tests and the network-namespace tests (real kernel,
# real nft, real curl), and the release artifacts (tests/dist.rs). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces): sudo $0" >&2; exit 1; }
./scripts/install-deps.sh
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
# Villages left behind by a killed run would only waste memory; clear them.
./scripts/village.sh down-all
# The release artifacts tests/dist.rs runs (static musl binaries, .debs) and
# the Debian 12 root it installs the .deb into: each made once per run, before
# the tests (the root is cached under target/debroot/). DW_DIST_DIR=DIR uses
# artifacts already built there instead.
t0=$SECONDS
# Only the targets the tests run (x86_64 for the .deb, aarch64 under qemu):
# `scripts/dist.sh` alone builds armv7 too.
if [ -z "${DW_DIST_DIR:-}" ]; then
  DIST_TARGETS="x86_64-unknown-linux-musl aarch64-unknown-linux-musl" ./scripts/dist.sh
fi
DW_DEBROOT=$(./scripts/debroot.sh)
export DW_DEBROOT
echo "test.sh: release artifacts and Debian root ready in $((SECONDS - t0)) s" >&2
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast "$@"
else
  cargo test --locked --no-fail-fast "$@"
fi
