#!/usr/bin/env bash
# Debian packages the gateway, the demo village, the tests and the benchmarks need
# (ethtool: the forwarding benches turn the village links' offloads off;
# fuse3: fusermount3 and /dev/fuse for tests/power_cut_fs.rs; nut-server and
# nut-client: /lib/nut/upsd and dummy-ups for tests/power.rs), and the release
# tools (scripts/dist.sh): musl targets for rustup, zig and cargo-zigbuild from
# PyPI in a venv at /opt/desawifi-tools.
# Idempotent; skips apt when everything is already there.
set -euo pipefail
need=(readelf:binutils qemu-aarch64-static:qemu-user-static debootstrap:debootstrap shellcheck:shellcheck dpkg-deb:dpkg unshare:util-linux nft:nftables ip:iproute2 tc:iproute2 dnsmasq:dnsmasq-base curl:curl python3:python3 dig:bind9-dnsutils iperf3:iperf3 ethtool:ethtool pgrep:procps ping:iputils-ping openssl:openssl chromium:chromium wrk:wrk nginx:nginx-light promtool:prometheus vmagent:victoria-metrics fusermount3:fuse3 upsd:nut-server upsc:nut-client)
missing=()
for pair in "${need[@]}"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  [ -x "/usr/sbin/$bin" ] || [ -x "/usr/bin/$bin" ] || [ -x "/sbin/$bin" ] || [ -x "/bin/$bin" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # nginx-light (benchmarks), prometheus (promtool), victoria-metrics (vmagent,
  # tests/fleet_metrics.rs) and nut-server ship services: do not
  # start them on this machine (port 80, a second Prometheus, port 8428).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

# Release builds (scripts/dist.sh): zig is the cross linker and brings musl.
TOOLS=${DW_TOOLS:-/opt/desawifi-tools}
if [ ! -x "$TOOLS/bin/cargo-zigbuild" ] || [ ! -x "$TOOLS/bin/python-zig" ]; then
  echo "installing: ziglang, cargo-zigbuild (PyPI) into $TOOLS" >&2
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "ziglang==0.17.1" "cargo-zigbuild==0.24.1"
fi
if command -v rustup >/dev/null; then
  for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf; do
    rustup target list --installed | grep -qx "$t" && continue
    # Some mirrors lack armv7's musl std: dist.sh then builds std from rust-src.
    rustup target add "$t" >/dev/null 2>&1 || rustup component add rust-src >/dev/null
  done
fi
