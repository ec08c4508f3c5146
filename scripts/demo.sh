#!/usr/bin/env bash
# The Fulcrum demo, on virtual NICs in network namespaces: a client, the balancer and three
# nginx backends. Installs what it needs, builds, starts lb-dataplane (DPDK on
# net_af_packet) and lb-controlplane with config/demo.toml, then shows:
#   1. requests through the VIP and how they spread
#   2. lbctl backend list
#   3. a drain: new connections avoid the drained backend, an open download from it finishes
#   4. an nginx killed: the health checker takes its backend out, requests keep succeeding
# and tears everything down, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

./scripts/setup.sh >/dev/null
BUILD=${BUILD_DIR:-build-release}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --buildtype=release -Dtests=disabled >/dev/null
fi
echo "==> building ($BUILD)"
meson compile -C "$BUILD" >/dev/null

CONFIG=$ROOT/config/demo.toml
LBCTL=("$ROOT/$BUILD/controlplane/lbctl" -c "$CONFIG")
STATE_DIR=/var/lib/fulcrum/demo   # controlplane.state_dir of demo.toml
DP_PID="" CP_PID="" PREFIX=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  echo
  echo "==> tearing down"
  [ -n "$CP_PID" ] && kill "$CP_PID" 2>/dev/null || true
  [ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "$PREFIX" ] && "$ROOT/scripts/topology.sh" down "$PREFIX" || true
  rm -rf "$STATE_DIR" /dev/shm/fulcrum-demo-tables /dev/shm/fulcrum-demo-tables.lock /dev/shm/fulcrum-demo-status /dev/shm/fulcrum-demo-status.conns /var/run/dpdk/fulcrum-demo /run/fulcrum/demo.sock
  rmdir --ignore-fail-on-non-empty /var/lib/fulcrum /run/fulcrum 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

step() { echo; echo "==> $*"; }
run() { echo "\$ $*"; "$@"; }
in_client() { ip netns exec "$CLIENT_NS" "$@"; }

# A fresh demo: no drains or weights left from an earlier run.
rm -rf "$STATE_DIR"
PREFIX="fl$$x$(printf '%04x' $((RANDOM % 65536)))"
step "creating the namespaces: client, balancer, switch, backends b1 b2 b3 (nginx)"
eval "$("$ROOT/scripts/topology.sh" up "$PREFIX" --mode dpdk --backends 3)"

step "starting lb-dataplane (DPDK, net_af_packet on lbc/lbb, 1 worker) and lb-controlplane"
ip netns exec "$LB_NS" "$ROOT/$BUILD/dataplane/lb-dataplane" -c "$CONFIG" >"$RUN_DIR/dataplane.log" 2>&1 &
DP_PID=$!
for _ in $(seq 100); do grep -q "running:" "$RUN_DIR/dataplane.log" && break; sleep 0.1; done
grep -q "running:" "$RUN_DIR/dataplane.log" || { cat "$RUN_DIR/dataplane.log"; exit 1; }
ip netns exec "$LB_NS" "$ROOT/$BUILD/controlplane/lb-controlplane" -c "$CONFIG" >"$RUN_DIR/controlplane.log" 2>&1 &
CP_PID=$!
for _ in $(seq 100); do "${LBCTL[@]}" status >/dev/null 2>&1 && break; sleep 0.1; done
# Ready when every backend passed a health check and the VIP answers.
for _ in $(seq 100); do
  [ "$("${LBCTL[@]}" backend list web | grep -c 'HTTP 200')" = 3 ] && in_client curl -s -m 1 -o /dev/null http://198.18.0.10/ && break
  sleep 0.2
done
run "${LBCTL[@]}" status

spread() {  # spread URL N: N requests on new connections, counted by the backend that answered
  local url=$1 n=$2
  for _ in $(seq "$n"); do in_client curl -s -m 2 "$url" || echo "FAILED"; done | sort | uniq -c | sed 's/^/     /'
}

step "1. thirty requests through the nat VIP 198.18.0.10 and the fullnat VIP 198.18.0.20"
echo "   Maglev spreads new connections evenly; each answer is the backend's name:"
echo "   198.18.0.10 (nat: backends see the client's address)"
spread http://198.18.0.10/ 30
echo "   198.18.0.20 (fullnat: backends see the SNAT address 198.18.2.100)"
spread http://198.18.0.20/ 30

step "2. the backends, as an operator sees them"
run "${LBCTL[@]}" backend list

step "3. draining a backend while a download from it is in progress"
for i in 1 2 3 4; do
  in_client curl -s -o /dev/null -D "$RUN_DIR/download$i.headers" -w '%{http_code} %{size_download} bytes\n' \
    http://198.18.0.10/big >"$RUN_DIR/download$i.result" 2>&1 &
done
sleep 1
X=$(grep -h -i '^X-Backend' "$RUN_DIR/download1.headers" | tr -d '\r' | awk '{print $2}')
echo "   4 downloads of 16 MiB at 2 MiB/s started; download 1 is served by $X"
run "${LBCTL[@]}" drain backend "$X" --vip web
echo "   thirty new connections: none reaches the drained $X"
spread http://198.18.0.10/ 30
echo "   waiting for the downloads to finish..."
wait_downloads() { while pgrep -f "curl -s -o /dev/null -D $RUN_DIR/download" >/dev/null; do sleep 0.5; done; }
wait_downloads
echo "   download 1 from the drained $X: $(cat "$RUN_DIR/download1.result")"
run "${LBCTL[@]}" backend list web
run "${LBCTL[@]}" undrain backend "$X" --vip web

step "4. killing nginx on b3: the health checker takes it out (interval 500 ms x fall 2 + timeout 300 ms = 1.3 s at most)"
"$ROOT/scripts/topology.sh" nginx-stop "$PREFIX" 3
START=$(date +%s%N)
for _ in $(seq 60); do
  "${LBCTL[@]}" -j backend list web | grep -q '"health": "down"' && break
  sleep 0.05
done
echo "   b3 marked down after $(( ($(date +%s%N) - START) / 1000000 )) ms"
run "${LBCTL[@]}" backend list web
echo "   thirty new connections: all succeed, none to b3"
spread http://198.18.0.10/ 30
echo "   the reason is in the control plane's log:"
grep -m1 "is DOWN" "$RUN_DIR/controlplane.log" | sed 's/^/     /'
"$ROOT/scripts/topology.sh" nginx-start "$PREFIX" 3
echo "   nginx on b3 restarted; after rise=2 checks it takes new connections again"
sleep 1.5
run "${LBCTL[@]}" backend list web

step "5. what the data plane counted"
run "${LBCTL[@]}" stats
echo
echo "Logs: $RUN_DIR/dataplane.log, $RUN_DIR/controlplane.log (removed at teardown)."
