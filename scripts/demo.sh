#!/usr/bin/env bash
# See desawifi work on this machine, no wifi needed: a village of 3 phones in
# network namespaces (scripts/village.sh), the gateway on its router.
#
#   sudo ./scripts/demo.sh              build (cargo build --release), then run
#   sudo ./scripts/demo.sh --no-build   use target/release/desawifi as it is
#   sudo DESAWIFI_BIN=/path/to/desawifi ./scripts/demo.sh   use that binary (no build)
#
# The gateway runs in the foreground: Ctrl-C stops it and removes the village.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TAG=demo
RUN_DIR=/run/desawifi-village/$TAG

die() { echo "demo.sh: $*" >&2; exit 1; }

build=1
for arg in "$@"; do
    case "$arg" in
    --no-build) build=0 ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (try --help)" ;;
    esac
done
[[ $EUID -eq 0 ]] || die "needs root for network namespaces: sudo $0 $*"
"$HERE/install-deps.sh"

if [[ -n "${DESAWIFI_BIN:-}" ]]; then
    BIN=$DESAWIFI_BIN
elif ((build)); then
    # Under sudo, cargo is usually the invoking user's (~/.cargo/bin, not on
    # sudo's PATH); build as that user so target/ stays theirs.
    if command -v cargo >/dev/null 2>&1; then
        (cd "$ROOT" && cargo build --release)
    elif [[ -n "${SUDO_USER:-}" ]] && sudo -u "$SUDO_USER" -H bash -lc 'command -v cargo' >/dev/null 2>&1; then
        sudo -u "$SUDO_USER" -H bash -lc "cd '$ROOT' && cargo build --release"
    else
        die "cargo not found: install Rust (https://rustup.rs), or build first and use --no-build"
    fi
    BIN=$ROOT/target/release/desawifi
else
    BIN=$ROOT/target/release/desawifi
fi
[[ -x "$BIN" ]] || die "no desawifi binary at $BIN (build it, or drop --no-build)"

cleanup() {
    echo
    echo "demo: removing the village ($HERE/village.sh down $TAG)"
    "$HERE/village.sh" down "$TAG" || true
}
trap cleanup EXIT

"$HERE/village.sh" up "$TAG" 3

CONFIG=$RUN_DIR/config.toml
cat >"$CONFIG" <<EOF
# desawifi demo config (scripts/demo.sh); the documented example is config/desawifi.toml.
[site]
name = "Desa Uji"
regency = "Paser"
timezone = "Asia/Makassar"

[network]
lan_interface = "br-lan"
wan_interface = "wan0"
portal_address = "10.77.0.1"

[portal]
listen = "10.77.0.1:2050"

# The regency's console and API, on the router's WAN side (the "management
# network" here); phones on the LAN cannot reach it.
[admin]
listen = "198.51.100.1:8443"

[store]
path = "$RUN_DIR/store"

[quota]
daily_data = "50 MiB"
session_time = "1h"
idle_timeout = "15m"
download_rate = "5 Mbit/s"
upload_rate = "2 Mbit/s"

[walled_garden]
addresses = ["203.0.113.0/24"]

# The demo's "internet" is the upstream namespace: watch it, not public addresses.
[uplink]
targets = ["198.51.100.2:53"]
EOF

# A demo admin account (the password is printed below: a demo, not a router).
ADMIN_PASSWORD=kelapa-muda-demo
echo "$ADMIN_PASSWORD" | "$BIN" user add --config "$CONFIG" --username admin --role admin
CERT=$RUN_DIR/store/admin-cert.pem

cat <<EOF

The village is up: router dw-$TAG-r, upstream ("the internet") dw-$TAG-u,
phones dw-$TAG-p1, dw-$TAG-p2, dw-$TAG-p3 (10.77.0.11-13).
Config: $CONFIG    Store: $RUN_DIR/store

Try it from another terminal (as root):

  # phone 1 is captive: plain HTTP lands on the splash page
  ip netns exec dw-$TAG-p1 curl -i http://198.51.100.2/
  # port 443 (plain HTTP in this fake internet) is refused before login: curl exit 7
  ip netns exec dw-$TAG-p1 curl -sS -m 3 http://198.51.100.2:443/ ; echo "exit \$?"
  # the public-service sites of the walled garden work without login
  ip netns exec dw-$TAG-p1 curl -i http://layanan.go.id/
  # accept the terms: phone 1 goes online
  ip netns exec dw-$TAG-p1 curl -i -X POST http://10.77.0.1:2050/login
  ip netns exec dw-$TAG-p1 curl -i http://198.51.100.2/       # now: upstream ok
  ip netns exec dw-$TAG-p1 curl -sS http://198.51.100.2:443/  # and 443 too
  # phone 2 never logged in: still captive
  ip netns exec dw-$TAG-p2 curl -i http://198.51.100.2/
  # what the router enforces
  ip netns exec dw-$TAG-r nft list table inet desawifi

  # the regency's admin API over HTTPS (user admin, password $ADMIN_PASSWORD),
  # from the management side, trusting exactly the gateway's certificate
  T=\$(ip netns exec dw-$TAG-u curl -sS --cacert $CERT -H 'Content-Type: application/json' \\
      -d '{"username":"admin","password":"$ADMIN_PASSWORD"}' https://198.51.100.1:8443/api/session | sed 's/.*"token":"\([^"]*\)".*/\1/')
  ip netns exec dw-$TAG-u curl -sS --cacert $CERT -H "Authorization: Bearer \$T" https://198.51.100.1:8443/api/devices
  ip netns exec dw-$TAG-u curl -sS --cacert $CERT -H "Authorization: Bearer \$T" https://198.51.100.1:8443/metrics
  # the admin port is shut to phones: curl fails
  ip netns exec dw-$TAG-p1 curl -sS -m 3 -k https://10.77.0.1:8443/ ; echo "exit \$?"

Ctrl-C stops the gateway and removes the village
(or, if anything is left: sudo $HERE/village.sh down $TAG).

Starting: $BIN run --config $CONFIG   (in dw-$TAG-r)
EOF

# Not exec: the EXIT trap must still remove the village when the gateway stops.
rc=0
RUST_LOG=${RUST_LOG:-desawifi=info} ip netns exec "dw-$TAG-r" "$BIN" run --config "$CONFIG" || rc=$?
exit "$rc"
