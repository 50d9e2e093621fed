#!/usr/bin/env bash
# Debian packages the gateway, the demo village, the tests and the benchmarks need
# (fuse3: fusermount3 and /dev/fuse for tests/power_cut_fs.rs).
# Idempotent; skips apt when everything is already there.
set -euo pipefail
need=(nft:nftables ip:iproute2 tc:iproute2 dnsmasq:dnsmasq-base curl:curl python3:python3 dig:bind9-dnsutils iperf3:iperf3 pgrep:procps ping:iputils-ping openssl:openssl chromium:chromium wrk:wrk nginx:nginx-light promtool:prometheus fusermount3:fuse3)
missing=()
for pair in "${need[@]}"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  [ -x "/usr/sbin/$bin" ] || [ -x "/usr/bin/$bin" ] || [ -x "/sbin/$bin" ] || [ -x "/bin/$bin" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # nginx-light (benchmarks) and prometheus (promtool) ship services: do not
  # start them on this machine (port 80, a second Prometheus).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
