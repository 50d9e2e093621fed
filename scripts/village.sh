#!/usr/bin/env bash
# The test village: a router, an upstream "internet" and N phones, each in its
# own network namespace. One source of truth for the topology; the Rust tests
# (testkit/src/village.rs) and scripts/demo.sh both call it.
#
#   village.sh up TAG NPHONES    build (or rebuild) village TAG with NPHONES phones
#   village.sh regency TAG       add the regency office to village TAG (after `up`)
#   village.sh down TAG          remove everything of village TAG
#   village.sh down-all          remove every village (clean-up after killed test runs)
#
# TAG is 1-8 of [a-z0-9], so several villages can exist at once (tests run in
# parallel; DW_VILLAGE_SALT in the test harness (testkit/) prefixes every test's tag, so two
# checkouts can run the same test at once). Everything of a village is named after its TAG:
#
#   dw-TAG-u   upstream  eth0 198.51.100.2/24 2001:db8:100::2/64, lo 203.0.113.10/32
#                        (and .21-.23: youtube.com, tiktok.com, bpjs-kesehatan.go.id, tests/categories.rs)
#                        tests/upstream.py on :80 and :443 (plain HTTP), dnsmasq on :53
#                        routes back to the LAN via the router
#      | (veth)
#   dw-TAG-r   router    wan0 198.51.100.1/24 2001:db8:100::1/64
#                        br-lan 10.77.0.1/24 fd77::1/64, ports lan-p1..lan-pN
#                        forwarding on, dnsmasq on 10.77.0.1:53 -> 198.51.100.2
#      | (veth per phone)
#   dw-TAG-pN  phone N   eth0 02:77:00:00:00:NN 10.77.0.(10+N)/24 fd77::(10+N)/64
#
# and, after `regency TAG`, the regency's communications office somewhere on
# the internet, behind the upstream (fleet.example.net resolves to it):
#
#   dw-TAG-g   regency   eth0 198.18.0.10/24, default via the upstream (eth1 198.18.0.1/24)
#                        nothing runs there: the fleet tests start their servers
#                        (receiver, nginx) in it. The router reaches it only over
#                        wan0, as a Starlink gateway reaches the office: cutting
#                        wan0 cuts the village off from its regency.
#
# Environment: DW_ROUTER_DNSMASQ_ARGS adds options to the router's dnsmasq;
# DW_VILLAGE_KEEP=1 keeps a village whose `up` failed, to look at it.
#
# No nftables table is made here: the daemon under test owns the router's only one.
# Processes started here keep pid files under /run/desawifi-village/TAG/.
# `up` starts with a `down`, so it is idempotent and cleans a crashed run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
UPSTREAM_PY="$HERE/../tests/upstream.py"
RUN_ROOT=/run/desawifi-village
READY_SECS=10

die() { echo "village.sh: $*" >&2; exit 1; }

usage() {
    echo "usage: village.sh up TAG NPHONES | village.sh regency TAG | village.sh down TAG | village.sh down-all   (TAG: 1-8 of [a-z0-9], NPHONES: 1-244)" >&2
    exit 2
}

# need TOOL PACKAGE: fail (never skip) when a tool is missing, naming the package.
need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt-get install $2"
}

check_tag() {
    [[ "$1" =~ ^[a-z0-9]{1,8}$ ]] || die "bad TAG '$1': 1-8 characters of [a-z0-9]"
}

# The python3 for tests/upstream.py: Debian's own (stdlib only) when present.
python() {
    if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# ns_sysctl NS KEY=VALUE...: set sysctls inside a namespace (one process).
ns_sysctl() {
    local ns=$1; shift
    local script="" kv key val
    for kv in "$@"; do
        key=${kv%%=*}; val=${kv#*=}
        script+="echo $val > /proc/sys/${key//.//}; "
    done
    ip netns exec "$ns" sh -c "$script"
}

# Namespaces of village TAG that exist now (only names this script makes).
village_namespaces() {
    ip netns list | awk '{print $1}' | grep -E "^dw-$1-(r|u|g|p[0-9]+)\$" || true
}

# alive PID: running and not a zombie (zombies wait for pid 1 to reap them).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

down() {
    local tag=$1 dir="$RUN_ROOT/$1" ns pids="" pid f i
    # Every process living in the village: the servers started here (pid files
    # in the run dir) and anything a crashed test left (a daemon, a curl). These
    # namespaces are ours alone, so their processes are too. A pid file is only
    # trusted when its pid is one of them (a stale file must not kill a stranger).
    for ns in $(village_namespaces "$tag"); do
        pids+=" $(ip netns pids "$ns" 2>/dev/null | tr "\n" " " || true)"
    done
    if [[ -d "$dir" ]]; then
        for f in "$dir"/*.pid; do
            [[ -e "$f" ]] || continue
            pid=$(cat "$f" 2>/dev/null || true)
            [[ " $pids " == *" $pid "* ]] || echo "village.sh: $f: pid '$pid' is not in village $tag, left alone" >&2
        done
    fi
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 30); do
        local still=""
        for pid in $pids; do alive "$pid" && still+=" $pid"; done
        pids=$still
        [[ -z "$pids" ]] && break
        sleep 0.1
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    # The namespaces; their veths and bridge go with them.
    for ns in $(village_namespaces "$tag"); do
        ip netns del "$ns"
    done
    # Their resolv.conf (see up); names of this TAG only (TAGs have no '-').
    rm -rf /etc/netns/dw-"$tag"-r /etc/netns/dw-"$tag"-u /etc/netns/dw-"$tag"-g /etc/netns/dw-"$tag"-p[0-9]*
    rm -rf "$dir"
}

# On a failed `up`: show the servers' logs, then remove the half-built village
# (unless DW_VILLAGE_KEEP=1, to look at it).
up_exit() {
    local rc=$1 tag=$2 f
    ((rc == 0)) && return 0
    for f in "$RUN_ROOT/$tag"/*.log; do
        [[ -e "$f" ]] || continue
        echo "--- $f" >&2
        tail -n 20 "$f" >&2
    done
    if [[ "${DW_VILLAGE_KEEP:-}" == 1 ]]; then
        echo "village.sh: up $tag failed; left as is (DW_VILLAGE_KEEP=1)" >&2
    else
        echo "village.sh: up $tag failed; removing it" >&2
        down "$tag"
    fi
    exit "$rc"
}

# wait_until WHAT COMMAND...: poll COMMAND (quietly) until it succeeds, at most READY_SECS.
wait_until() {
    local what=$1; shift
    local deadline=$((SECONDS + READY_SECS))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "$what did not answer within ${READY_SECS}s (check $RUN_DIR/*.log)"
        fi
        sleep 0.1
    done
}

# Does `upstream ok` come back? (No pipe into grep -q: with pipefail, an early
# grep exit can fail the probe through curl's SIGPIPE.)
http_ok() {
    local ns=$1 url=$2
    [[ "$(ip netns exec "$ns" curl -sS --noproxy '*' --max-time 1 "$url")" == "upstream ok"* ]]
}

dns_ok() {
    local ns=$1 server=$2
    [[ "$(ip netns exec "$ns" dig +short +time=1 +tries=1 @"$server" example.com A)" == 198.51.100.2 ]]
}

up() {
    local tag=$1 n=$2 i
    need ip iproute2
    need dnsmasq dnsmasq-base
    need curl curl
    need dig bind9-dnsutils
    need flock util-linux
    [[ -n "$(python)" ]] || die "python3 not found: apt-get install python3"
    [[ -f "$UPSTREAM_PY" ]] || die "missing $UPSTREAM_PY"
    [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 244)) || die "bad NPHONES '$n': 1-244 (phone N is 10.77.0.(10+N))"
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"

    down "$tag"
    RUN_DIR="$RUN_ROOT/$tag"
    trap 'up_exit $? '"$tag" EXIT
    mkdir -p "$RUN_DIR"
    chmod 755 "$RUN_ROOT" "$RUN_DIR"

    local R="dw-$tag-r" U="dw-$tag-u"
    local nss=("$R" "$U")
    for ((i = 1; i <= n; i++)); do nss+=("dw-$tag-p$i"); done

    # Namespaces. The first `ip netns add` on a boot sets up /run/netns as a
    # shared mount; parallel villages racing there can fail, so serialise it.
    (
        flock 9
        for ns in "${nss[@]}"; do ip netns add "$ns"; done
    ) 9>"$RUN_ROOT/.netns.lock"

    # Each namespace's resolver: `ip netns exec` binds /etc/netns/NS/resolv.conf
    # over /etc/resolv.conf, so `curl http://example.com/` on a phone asks the
    # router's dnsmasq, like a real phone told by DHCP.
    for ns in "${nss[@]}"; do
        mkdir -p "/etc/netns/$ns"
        case "$ns" in
        "$U") echo "nameserver 198.51.100.2" ;;
        *) echo "nameserver 10.77.0.1" ;;
        esac >"/etc/netns/$ns/resolv.conf"
    done

    # Every namespace: no IPv6 duplicate-address detection (addresses usable at
    # once), lo up. Set the defaults before any interface exists.
    local ns
    for ns in "${nss[@]}"; do
        ns_sysctl "$ns" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
            net.ipv6.conf.default.dad_transmits=0 net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
        ip -n "$ns" link set lo up
    done

    # Router. br_netfilter (loaded on many hosts, per-namespace default 1) would
    # send bridged phone<->phone frames through the inet hooks; a village router
    # (OpenWrt) does not, so neither does ours.
    local rsys=(net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.forwarding=1)
    if ip netns exec "$R" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
        rsys+=(net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0)
    fi
    ns_sysctl "$R" "${rsys[@]}"
    # A fixed bridge MAC (outside the phones' 02:77:00:00:00:xx) so it does not
    # change as ports join; STP off and no forward delay so ports forward at once.
    ip -n "$R" link add br-lan address 02:77:00:00:ff:01 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip -n "$R" link add wan0 type veth peer name eth0 netns "$U"

    # Phones: eth0 made in the phone's namespace, its peer lan-pN in the router's.
    local P mac batch=""
    for ((i = 1; i <= n; i++)); do
        P="dw-$tag-p$i"
        mac=$(printf '02:77:00:00:00:%02x' "$i")
        ip -n "$P" link add eth0 address "$mac" type veth peer name "lan-p$i" netns "$R"
        batch+="link set lan-p$i master br-lan up"$'\n'
    done
    batch+="link set br-lan up
link set wan0 up
addr add 10.77.0.1/24 dev br-lan
addr add fd77::1/64 dev br-lan nodad
addr add 198.51.100.1/24 dev wan0
addr add 2001:db8:100::1/64 dev wan0 nodad
"
    printf '%s' "$batch" | ip -n "$R" -batch -

    for ((i = 1; i <= n; i++)); do
        P="dw-$tag-p$i"
        ip -n "$P" -batch - <<EOF
link set eth0 up
addr add 10.77.0.$((10 + i))/24 dev eth0
addr add fd77::$((10 + i))/64 dev eth0 nodad
route add default via 10.77.0.1
route add default via fd77::1
EOF
    done

    ip -n "$U" -batch - <<EOF
link set eth0 up
addr add 198.51.100.2/24 dev eth0
addr add 2001:db8:100::2/64 dev eth0 nodad
addr add 203.0.113.10/32 dev lo
addr add 203.0.113.21/32 dev lo
addr add 203.0.113.22/32 dev lo
addr add 203.0.113.23/32 dev lo
route add 10.77.0.0/24 via 198.51.100.1
route add fd77::/64 via 2001:db8:100::1
EOF
    ip -n "$R" -batch - <<EOF
route add default via 198.51.100.2
route add default via 2001:db8:100::2
EOF

    # Upstream: the fake internet (HTTP on 80 and 443) and its DNS.
    # The OS connectivity probes' hosts (tests/probes.rs) are the upstream too,
    # so after login a probe gets the upstream's own answer (tests/upstream.py).
    local probe_hosts=/connectivitycheck.gstatic.com/www.google.com/clients3.google.com
    probe_hosts+=/connect.rom.miui.com/connectivitycheck.platform.hicloud.com/wifi.vivo.com.cn
    probe_hosts+=/captive.apple.com/www.msftconnecttest.com/www.msftncsi.com
    probe_hosts+=/detectportal.firefox.com/nmcheck.gnome.org
    ip netns exec "$U" "$(python)" "$UPSTREAM_PY" --ports 80,443 --pid-file "$RUN_DIR/upstream-http.pid" \
        </dev/null >"$RUN_DIR/upstream-http.log" 2>&1 &
    ip netns exec "$U" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=198.51.100.2 --port=53 \
        --address=/example.com/198.51.100.2 \
        --address=/layanan.go.id/203.0.113.10 \
        --address=/go.id/203.0.113.10 \
        --address=/youtube.com/203.0.113.21 \
        --address=/tiktok.com/203.0.113.22 \
        --address=/bpjs-kesehatan.go.id/203.0.113.23 \
        --address=/fleet.example.net/198.18.0.10 \
        --address="$probe_hosts/198.51.100.2" \
        --pid-file="$RUN_DIR/upstream-dnsmasq.pid" --log-facility="$RUN_DIR/upstream-dnsmasq.log" \
        </dev/null >/dev/null 2>>"$RUN_DIR/upstream-dnsmasq.log"

    # Router: the LAN's DNS forwarder, as on a real village router. No DHCP:
    # phones are static here. A real router would add, e.g.:
    #   --dhcp-range=10.77.0.100,10.77.0.250,255.255.255.0,1h
    #   --dhcp-option=114,http://10.77.0.1:2050/captive   (RFC 8910, see config/)
    # DW_ROUTER_DNSMASQ_ARGS: extra options, space-separated (e.g. --nftset=... for a test).
    local extra=()
    read -r -a extra <<<"${DW_ROUTER_DNSMASQ_ARGS:-}"
    ip netns exec "$R" dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=10.77.0.1 --port=53 --server=198.51.100.2 "${extra[@]}" \
        --pid-file="$RUN_DIR/router-dnsmasq.pid" --log-facility="$RUN_DIR/router-dnsmasq.log" \
        </dev/null >/dev/null 2>>"$RUN_DIR/router-dnsmasq.log"

    echo "$n" >"$RUN_DIR/phones"

    # Ready when the servers answer, seen from where tests will use them.
    wait_until "upstream HTTP :80" http_ok "$U" http://198.51.100.2:80/ready
    wait_until "upstream HTTP :443" http_ok "$U" http://198.51.100.2:443/ready
    wait_until "upstream HTTP [2001:db8:100::2]:80" http_ok "$U" "http://[2001:db8:100::2]:80/ready"
    wait_until "upstream DNS 198.51.100.2" dns_ok "$U" 198.51.100.2
    wait_until "router DNS 10.77.0.1" dns_ok "$R" 10.77.0.1
    trap - EXIT
    echo "village $tag up: $R $U dw-$tag-p1..p$n (run dir $RUN_DIR)"
}

# regency TAG: the regency office (dw-TAG-g) behind village TAG's upstream.
regency() {
    local tag=$1 U="dw-$1-u" G="dw-$1-g"
    need ping iputils-ping
    ip netns list | awk '{print $1}' | grep -qx "$U" || die "village $tag is not up (village.sh up $tag N first)"
    if ip netns list | awk '{print $1}' | grep -qx "$G"; then ip netns del "$G"; fi
    (
        flock 9
        ip netns add "$G"
    ) 9>"$RUN_ROOT/.netns.lock"
    mkdir -p "/etc/netns/$G"
    echo "nameserver 198.51.100.2" >"/etc/netns/$G/resolv.conf"
    ns_sysctl "$G" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
    ns_sysctl "$U" net.ipv4.ip_forward=1
    ip -n "$G" link set lo up
    ip -n "$U" link add eth1 type veth peer name eth0 netns "$G"
    printf 'link set eth1 up\naddr add 198.18.0.1/24 dev eth1\n' | ip -n "$U" -batch -
    printf 'link set eth0 up\naddr add 198.18.0.10/24 dev eth0\nroute add default via 198.18.0.1\n' | ip -n "$G" -batch -
    # Ready when the router reaches the office over its WAN.
    local deadline=$((SECONDS + READY_SECS))
    until ip netns exec "dw-$tag-r" ping -c1 -W1 198.18.0.10 >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "the router does not reach the regency 198.18.0.10 within ${READY_SECS}s"
        sleep 0.1
    done
    echo "regency of village $tag up: $G 198.18.0.10 (fleet.example.net)"
}

case "${1:-}" in
regency)
    [[ $# -eq 2 ]] || usage
    check_tag "$2"
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
    regency "$2"
    ;;
up)
    [[ $# -eq 3 ]] || usage
    check_tag "$2"
    up "$2" "$3"
    ;;
down)
    [[ $# -eq 2 ]] || usage
    check_tag "$2"
    need ip iproute2
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
    down "$2"
    ;;
down-all)
    # Every village on this machine (CI's clean-up after killed test runs).
    [[ $# -eq 1 ]] || usage
    need ip iproute2
    [[ $EUID -eq 0 ]] || die "must run as root (network namespaces)"
    for tag in $( (ip netns list | awk '{print $1}' | sed -nE 's/^dw-([a-z0-9]{1,8})-(r|u|g|p[0-9]+)$/\1/p'
                   ls "$RUN_ROOT" 2>/dev/null) | sort -u); do
        check_tag "$tag" && down "$tag"
    done
    ;;
*) usage ;;
esac
