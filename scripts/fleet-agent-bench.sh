#!/usr/bin/env bash
# The fleet agent measurement (BENCHMARKS.md, "Fleet agent"): vmagent and Prometheus in
# agent mode scrape the same gateway (a real desawifi in a namespace village) for the
# same minutes and push to one regency receiver (Prometheus, remote-write receiver) over
# the router's WAN; then the WAN is cut for CUT seconds and brought back. Prints, per
# agent: RSS (now and peak), CPU seconds, bytes written to disk, its buffer's size on
# disk, and how many of the samples scraped during the cut reached the receiver; and for
# the province figures: series per gateway (counted at the receiver) and the receiver's
# bytes per sample (a TSDB snapshot of what it received, its chunks over its samples).
#
#   scripts/fleet-agent-bench.sh [TAG]     (root; cargo build first; env below)
#
# BEFORE (s, default 300): both agents run before the cut; CUT (s, 180): the cut;
# AFTER (s, 180): after it; SCRAPE (default 15s): both agents' scrape interval;
# DW_BIN: the daemon (default target/debug/desawifi). Needs vmagent (victoria-metrics),
# prometheus and promtool (prometheus), curl, python3: scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-fabnch}
BEFORE=${BEFORE:-300}
CUT=${CUT:-180}
AFTER=${AFTER:-180}
SCRAPE=${SCRAPE:-15s}
BIN=${DW_BIN:-$PWD/target/debug/desawifi}
R=dw-$TAG-r
G=dw-$TAG-g
TOKEN=bench-metrics-token-0123456789abcdef
RUN=/tmp/desawifi-fleet-bench-$TAG
[ "$(id -u)" = 0 ] || { echo "fleet-agent-bench: run as root (namespaces)" >&2; exit 1; }
for t in vmagent prometheus promtool curl python3; do
  command -v "$t" >/dev/null || { echo "fleet-agent-bench: $t not found: scripts/install-deps.sh" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "fleet-agent-bench: $BIN not found: cargo build" >&2; exit 1; }

cleanup() { bash scripts/village.sh down "$TAG" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$RUN"
mkdir -p "$RUN"/{store,receiver,vmagent,pagent}
bash scripts/village.sh up "$TAG" 1 >/dev/null
bash scripts/village.sh regency "$TAG" >/dev/null

# The gateway: the village's daemon, its admin listener on the router's loopback (where
# the agent scrapes it, as on a real gateway).
cat >"$RUN/desawifi.toml" <<EOF
[site]
name = "Desa Bench"
regency = "Paser"
timezone = "Asia/Makassar"
[network]
lan_interface = "br-lan"
wan_interface = "wan0"
portal_address = "10.77.0.1"
[portal]
listen = "10.77.0.1:2050"
[store]
path = "$RUN/store"
[admin]
listen = "127.0.0.1:8443"
metrics_token = "$TOKEN"
EOF
printf '%s\n' "$TOKEN" >"$RUN/metrics.token"
ip netns exec "$R" "$BIN" run --config "$RUN/desawifi.toml" >"$RUN/daemon.log" 2>&1 &
echo $! >"$RUN/daemon.pid"
for _ in $(seq 100); do [ -s "$RUN/store/admin-cert.pem" ] && break; sleep 0.1; done
[ -s "$RUN/store/admin-cert.pem" ] || { cat "$RUN/daemon.log" >&2; exit 1; }

# The receiver, in the regency's namespace: remote-write receiver, admin API (snapshot).
cat >"$RUN/receiver.yml" <<EOF
global: { evaluation_interval: 60s }
storage: { tsdb: { out_of_order_time_window: 2d } }
EOF
ip netns exec "$G" prometheus --config.file="$RUN/receiver.yml" --storage.tsdb.path="$RUN/receiver" \
  --web.listen-address=198.18.0.10:9090 --web.enable-remote-write-receiver --web.enable-admin-api \
  >"$RUN/receiver.log" 2>&1 &
echo $! >"$RUN/receiver.pid"
Q=http://198.18.0.10:9090
for _ in $(seq 100); do ip netns exec "$G" curl -sf "$Q/-/ready" >/dev/null && break; sleep 0.2; done

# The two agents: the shipped scrape (config/fleet/vmagent.yml and prometheus-agent.yml),
# with the bench's paths and interval; each names its own village so the receiver tells
# them apart.
scrape_cfg() {
  sed -e "s|/etc/desawifi/metrics.token|$RUN/metrics.token|" \
      -e "s|/var/lib/desawifi/admin-cert.pem|$RUN/store/admin-cert.pem|" \
      -e "s|scrape_interval: 60s|scrape_interval: $SCRAPE|" -e "s|scrape_timeout: 20s|scrape_timeout: $SCRAPE|" "$1"
}
scrape_cfg config/fleet/vmagent.yml >"$RUN/vmagent.yml"
scrape_cfg config/fleet/prometheus-agent.yml | python3 -c '
import sys, re
s = sys.stdin.read()
s = s.replace("village: \"Sumber Sari\"", "village: \"Bench PA\"")
s = re.sub(r"remote_write:.*", "remote_write:\n  - url: http://fleet.example.net:9090/api/v1/write\n", s, flags=re.S)
print(s)' >"$RUN/pagent.yml"
ip netns exec "$R" vmagent -promscrape.config="$RUN/vmagent.yml" \
  -remoteWrite.url=http://fleet.example.net:9090/api/v1/write \
  "-remoteWrite.label=village=Bench VM" -remoteWrite.label=regency=Paser \
  -remoteWrite.tmpDataPath="$RUN/vmagent" -remoteWrite.maxDiskUsagePerURL=64MiB \
  -httpListenAddr=127.0.0.1:8429 -loggerLevel=WARN >"$RUN/vmagent.log" 2>&1 &
echo $! >"$RUN/vmagent.pid"
ip netns exec "$R" prometheus --enable-feature=agent --config.file="$RUN/pagent.yml" \
  --storage.agent.path="$RUN/pagent" --web.listen-address=127.0.0.1:9091 >"$RUN/pagent.log" 2>&1 &
echo $! >"$RUN/pagent.pid"

# stat NAME PID DIR: rss_kib peak_kib cpu_s written_bytes dir_bytes
stat_of() {
  local pid=$2 dir=$3 hz rss hwm t w
  hz=$(getconf CLK_TCK)
  rss=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status")
  t=$(awk -v hz="$hz" '{sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12] + f[13]) / hz}' "/proc/$pid/stat")
  w=$(awk '/^write_bytes/{print $2}' "/proc/$pid/io")
  echo "$1 $rss $hwm $t $w $(du -sb "$dir" | cut -f1)"
}
sample() { stat_of vmagent "$(cat "$RUN/vmagent.pid")" "$RUN/vmagent"; stat_of prometheus-agent "$(cat "$RUN/pagent.pid")" "$RUN/pagent"; }

echo "# both agents scraping every $SCRAPE; ${BEFORE}s, then the WAN cut for ${CUT}s, then ${AFTER}s" >&2
sleep "$BEFORE"
sample >"$RUN/before.txt"
cut_start=$(date +%s)
ip -n "$R" link set wan0 down
sleep "$CUT"
cut_end=$(date +%s)
sample >"$RUN/cut.txt"
ip -n "$R" link set wan0 up
ip -n "$R" route replace default via 198.51.100.2 2>/dev/null || true
ip -n "$R" -6 route replace default via 2001:db8:100::2 2>/dev/null || true
sleep "$AFTER"
sample >"$RUN/after.txt"

q() { ip netns exec "$G" curl -sf "$Q/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=${2:-$(date +%s)}" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
expected=$(python3 -c "import re; s='$SCRAPE'; n=int(re.sub(r'[a-z]', '', s)); n *= 60 if s.endswith('m') else 1; print($CUT // n)")
echo
echo "| agent | RSS now / peak (MiB) | CPU (s) | written to disk (KiB) | buffer on disk at the cut's end (KiB) | after (KiB) | samples of the cut at the receiver (of ~$expected per series) |"
echo "|---|---|---|---|---|---|---|"
for a in vmagent:"Bench VM" prometheus-agent:"Bench PA"; do
  name=${a%%:*}; village=${a#*:}
  read -r _ rss hwm cpu written dir < <(grep "^$name " "$RUN/after.txt")
  read -r _ _ _ _ _ dircut < <(grep "^$name " "$RUN/cut.txt")
  got=$(q "count_over_time(up{village=\"$village\"}[$((cut_end - cut_start - 2))s])" "$((cut_end - 1))")
  printf '| %s | %.1f / %.1f | %s | %d | %d | %d | %s |\n' "$name" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$(awk -v k="$hwm" 'BEGIN{print k/1024}')" \
    "$cpu" "$((written / 1024))" "$((dircut / 1024))" "$((dir / 1024))" "$got"
done
series=$(q 'count({village="Bench VM"})')
echo
echo "series per gateway (at the receiver, the agent's up/scrape_* included): $series"
echo "desawifi_* series: $(q 'count({village="Bench VM", __name__=~"desawifi_.*"})')"
# The receiver's bytes per sample: snapshot its head into a block, chunks over samples.
snap=$(ip netns exec "$G" curl -sf -XPOST "$Q/api/v1/admin/tsdb/snapshot" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])')
python3 - "$RUN/receiver/snapshots/$snap" <<'EOF'
import json, os, sys
samples = chunks = 0
for b in os.listdir(sys.argv[1]):
    meta = json.load(open(os.path.join(sys.argv[1], b, "meta.json")))
    samples += meta["stats"]["numSamples"]
    d = os.path.join(sys.argv[1], b, "chunks")
    chunks += sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    idx = os.path.getsize(os.path.join(sys.argv[1], b, "index"))
print(f"receiver: {samples} samples in {chunks} bytes of chunks: {chunks / samples:.2f} bytes/sample (index {idx} bytes)")
EOF
echo "raw stats: $RUN/{before,cut,after}.txt (name rss_kib peak_kib cpu_s written_bytes dir_bytes)" >&2
