#!/usr/bin/env bash
# A fresh Debian 12 root for tests/dist.rs (the .deb is installed into a copy
# of it with dpkg -i): debootstrap minbase plus the package's dependencies
# and systemd (for systemd-analyze verify), and victoria-metrics (the fleet
# agent's vmagent, which the package suggests and its agent unit runs). Made once and cached under
# target/debroot/, keyed on this script (suite, mirror, packages): a second
# run with the same inputs takes no time. Prints the root's path.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=bookworm
MIRROR=${DW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# dnsmasq and victoria-metrics come after a policy-rc.d is in place (their
# postinsts would start them).
INCLUDE=nftables,iproute2,systemd,ca-certificates
LATER=(dnsmasq victoria-metrics)
key=$( (cat "$0"; echo "$MIRROR") | sha256sum | cut -c1-12)
base=target/debroot
dir=$base/$SUITE-$key
if [ ! -f "$dir/.complete" ]; then
  command -v debootstrap >/dev/null || { echo "debroot.sh: debootstrap not found: apt-get install debootstrap" >&2; exit 1; }
  mkdir -p "$base"
  # Older roots (other inputs) are of no more use.
  find "$base" -mindepth 1 -maxdepth 1 ! -name "$(basename "$dir")" -exec rm -rf {} +
  rm -rf "$dir"
  t0=$SECONDS
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$dir" "$MIRROR" >"$base/debootstrap.log" 2>&1 \
    || { tail -20 "$base/debootstrap.log" >&2; echo "debroot.sh: debootstrap failed (log: $base/debootstrap.log)" >&2; exit 1; }
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${LATER[@]}" >>"$base/debootstrap.log" 2>&1 \
    || { tail -20 "$base/debootstrap.log" >&2; echo "debroot.sh: apt-get install ${LATER[*]} failed" >&2; exit 1; }
  chroot "$dir" apt-get clean
  touch "$dir/.complete"
  echo "debroot.sh: made $dir in $((SECONDS - t0)) s" >&2
fi
ln -sfn "$(basename "$dir")" "$base/current"
echo "$PWD/$dir"
