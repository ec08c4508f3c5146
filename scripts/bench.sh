#!/usr/bin/env bash
# Fulcrum's benchmark, in one run on this machine:
#   - lb-bench maglev --json and lb-bench dataplane --json (release build, hugepages)
#   - end to end, on the same namespace topology with the same three nginx backends and the
#     same wrk load: keep-alive requests/s and new connections/s (Connection: close)
#     through Fulcrum, the kernel's nftables DNAT (jhash, as kube-proxy's nftables mode),
#     HAProxy in TCP mode, IPVS in NAT mode (where the kernel has it), and straight to one
#     backend.
#   - memif (issue 14): lb-loadgen against lb-dataplane on one worker core, and dpdk-testpmd
#     on the same memif links and cores (tools/loadgen/memif_bench.py)
# Prints one table with ratios and writes docs/benchmarks.md and its charts
# (docs/benchmarks/*.png).
#
# Usage: scripts/bench.sh [--json FILE] [--duration SECONDS] [--memif-flows LIST] [--e2e-only]
#   --e2e-only: only the end-to-end comparison (no lb-bench, no memif, docs/benchmarks.md untouched)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

JSON_OUT="" DURATION=10 E2E_ONLY=0 MEMIF_FLOWS=1000,100000,1000000,8000000
while [ $# -gt 0 ]; do
  case $1 in
    --json) JSON_OUT=${2:?--json needs a file}; shift 2 ;;
    --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
    --e2e-only) E2E_ONLY=1; shift ;;
    --memif-flows) MEMIF_FLOWS=${2:?--memif-flows needs a list}; shift 2 ;;
    *) echo "usage: scripts/bench.sh [--json FILE] [--duration SECONDS] [--memif-flows LIST] [--e2e-only]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "bench.sh: needs 2 CPUs (one for the balancer, one for clients and servers)" >&2; exit 1; }

./scripts/setup.sh >/dev/null
BUILD=${BUILD_DIR:-build-release}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" --buildtype=release -Dtests=disabled >/dev/null
echo "==> building ($BUILD, release)"
meson compile -C "$BUILD" >/dev/null

WORK=$(mktemp -d /tmp/fulcrum-bench.XXXXXX)
OLD_HUGE=$(cat /proc/sys/vm/nr_hugepages)
# On a shared machine the scheduler splits CPU time between sessions (autogroups) before it
# looks at nice values: this session's group gets nice -20 for the run (restored on exit),
# so that other sessions' work disturbs the pollers and the peers alike less.
OLD_GROUP_NICE=""
if [ -w "/proc/$$/autogroup" ]; then
  OLD_GROUP_NICE=$(sed -n 's/.* nice \(-\?[0-9]*\)/\1/p' "/proc/$$/autogroup")
  echo -20 >"/proc/$$/autogroup" 2>/dev/null || OLD_GROUP_NICE=""
fi
PIDS=() PREFIX=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$PREFIX" ] && "$ROOT/scripts/topology.sh" down "$PREFIX" || true
  echo "$OLD_HUGE" >/proc/sys/vm/nr_hugepages 2>/dev/null || true
  [ -n "$OLD_GROUP_NICE" ] && echo "$OLD_GROUP_NICE" >"/proc/$$/autogroup" 2>/dev/null
  rm -rf "$WORK" /dev/shm/fulcrum-bench-tables /dev/shm/fulcrum-bench-tables.lock /dev/shm/fulcrum-bench-status /dev/shm/fulcrum-bench-status.conns /var/run/dpdk/fulcrum-bench
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# ---------------------------------------------------------------- microbenchmarks
if [ "$E2E_ONLY" -eq 0 ]; then
echo "==> lb-bench maglev"
"$BUILD/tests/bench/lb-bench" maglev --json >"$WORK/maglev.json"
echo "==> lb-bench dataplane (hugepages, worker pinned to CPU 1)"
echo 768 >/proc/sys/vm/nr_hugepages
HUGE_FLAG=--hugepages
if [ "$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)" -lt 256 ]; then
  echo "   (could not get 256 free 2 MiB hugepages; running without: expect more TLB misses)"
  HUGE_FLAG=""
fi
"$BUILD/tests/bench/lb-bench" dataplane --json $HUGE_FLAG --cpu 1 --scaling --seconds 2 >"$WORK/dataplane.json"
echo "$OLD_HUGE" >/proc/sys/vm/nr_hugepages
fi

# ---------------------------------------------------------------- memif (issue 14)
# lb-loadgen on CPU 0, the balancer's worker (or testpmd's forwarding lcore) on CPU 1.
# 1,024 hugepages hold the largest run (8M flows: a 14M-entry table, 0.9 GiB, plus mbufs).
if [ "$E2E_ONLY" -eq 0 ]; then
echo "==> memif: lb-loadgen against lb-dataplane and dpdk-testpmd (hugepages, zero-copy)"
echo 1024 >/proc/sys/vm/nr_hugepages
python3 "$ROOT/tools/loadgen/memif_bench.py" --build "$ROOT/$BUILD" --flows "$MEMIF_FLOWS" --seconds 2 --out "$WORK/memif.json"
echo "$OLD_HUGE" >/proc/sys/vm/nr_hugepages
fi

# ---------------------------------------------------------------- end to end
# CPU 0: wrk and the three nginx; CPU 1: the balancer (Fulcrum's worker lcore, HAProxy's
# thread). nftables forwards in softirq on the CPU that sends, i.e. CPU 0.
pin_backends() {
  for i in 1 2 3; do
    for pid in $(ip netns pids "$PREFIX-b$i"); do taskset -pc 0 "$pid" >/dev/null; done
  done
}
wrk_rps() {  # wrk_rps URL [extra wrk args]: requests/s
  local url=$1; shift
  ip netns exec "$PREFIX-cli" taskset -c 0 wrk -t1 -c32 -d"${DURATION}s" "$@" "$url" >"$WORK/wrk.out" 2>&1
  local errors
  errors=$(grep -E "Socket errors|Non-2xx" "$WORK/wrk.out" || true)
  [ -z "$errors" ] || echo "   wrk: $errors" >&2
  awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out"
}
declare -A KEEP NEW
measure() {  # measure NAME URL
  local name=$1 url=$2
  ip netns exec "$PREFIX-cli" taskset -c 0 wrk -t1 -c32 -d2s "$url" >/dev/null 2>&1 || true  # warm up
  KEEP[$name]=$(wrk_rps "$url")
  NEW[$name]=$(wrk_rps "$url" -H "Connection: close")
  printf "   %-22s keep-alive %10.0f req/s   new connections %9.0f /s\n" "$name" "${KEEP[$name]}" "${NEW[$name]}"
}
new_topology() {  # new_topology MODE
  [ -n "$PREFIX" ] && "$ROOT/scripts/topology.sh" down "$PREFIX"
  PREFIX="fl$$x$(printf '%04x' $((RANDOM % 65536)))"
  "$ROOT/scripts/topology.sh" up "$PREFIX" --mode "$1" --backends 3 >"$WORK/topology.env"
  pin_backends
  # The same endpoint settings on every path: the DPDK paths need the client's and the
  # backends' TX checksum offload and TSO off (topology.sh does that in dpdk mode), so the
  # kernel paths get them off too.
  ip netns exec "$PREFIX-cli" ethtool -K cl0 tx off tso off gso off gro off >/dev/null
  for i in 1 2 3; do ip netns exec "$PREFIX-b$i" ethtool -K bk0 tx off tso off gso off gro off >/dev/null; done
}

fulcrum_config() {  # fulcrum_config IDLE_SLEEP_US [SHARING]: demo.toml on AF_XDP, own names, given polling
  local sharing=()
  # host_sharing = "xdp": Fulcrum's XDP program; the kernel keeps lbc/lbb and their addresses.
  [ "${2:-}" = xdp ] && sharing=(-e 's|^address = "198.18.\([12]\).1/24"|&\nhost_sharing = "xdp"|')
  sed "${sharing[@]}" -e 's/net_af_packet0,iface=lbc/net_af_xdp0,iface=lbc/' -e 's/net_af_packet1,iface=lbb/net_af_xdp1,iface=lbb/' \
      -e "s/^idle_sleep_us = .*/idle_sleep_us = $1/" -e 's/fulcrum-demo-tables/fulcrum-bench-tables/' \
      -e 's/fulcrum-demo-status/fulcrum-bench-status/' -e 's/--file-prefix=fulcrum-demo/--file-prefix=fulcrum-bench/' \
      -e "s|/run/fulcrum/demo.sock|$WORK/lbctl.sock|" -e "s|/var/lib/fulcrum/demo|$WORK/state|" \
      "$ROOT/config/demo.toml" >"$WORK/fulcrum.toml"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A IDLE_CPU
run_fulcrum() {  # run_fulcrum NAME IDLE_SLEEP_US [SHARING]
  fulcrum_config "$2" "${3:-}"
  rm -f "$WORK/dp.pid" "$WORK/cp.pid" "$WORK/dp.log"
  # Both planes in one mount namespace with a bpffs of its own (the steering maps are pinned
  # there; `ip netns exec` remounts /sys, so each exec would otherwise see none or another).
  ip netns exec "$PREFIX-lb" sh -c 'mount -t bpf bpf /sys/fs/bpf || exit 1
    "$1" -c "$3" >"$4/dp.log" 2>&1 & echo $! >"$4/dp.pid"
    for _ in $(seq 100); do grep -q "running:" "$4/dp.log" && break; sleep 0.1; done
    "$2" -c "$3" >"$4/cp.log" 2>&1 & echo $! >"$4/cp.pid"
    wait' sh "$ROOT/$BUILD/dataplane/lb-dataplane" "$ROOT/$BUILD/controlplane/lb-controlplane" "$WORK/fulcrum.toml" "$WORK" &
  PIDS+=("$!")
  for _ in $(seq 150); do [ -s "$WORK/cp.pid" ] && break; sleep 0.1; done
  local dp cp
  dp=$(cat "$WORK/dp.pid") cp=$(cat "$WORK/cp.pid")
  PIDS+=("$dp" "$cp")
  for _ in $(seq 100); do
    ip netns exec "$PREFIX-cli" curl -s -m 1 -o /dev/null http://198.18.0.10/ && break
    sleep 0.1
  done
  measure "$1" http://198.18.0.10/
  # What the data plane costs when there is no traffic: busy polling keeps a core at 100 %.
  local before after
  before=$(cpu_ticks "$dp")
  sleep 3
  after=$(cpu_ticks "$dp")
  IDLE_CPU[$1]=$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", 100 * t / hz / 3 }')
  echo "   $1: data plane used ${IDLE_CPU[$1]} % of a core while idle"
  kill "$cp" "$dp"
  wait "$cp" "$dp" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$dp" 2>/dev/null || kill -0 "$cp" 2>/dev/null || break; sleep 0.1; done
}

echo "==> end to end: wrk -t1 -c32 -d${DURATION}s, GET / (a 3-byte body) from the client namespace"
new_topology dpdk
run_fulcrum "fulcrum" 0
run_fulcrum "fulcrum (adaptive poll)" 1000
# The NIC shared with the host (issue 11): the same, with Fulcrum's XDP program steering.
new_topology shared
run_fulcrum "fulcrum (shared, xdp)" 0 xdp

new_topology router
measure "direct" http://198.18.2.11/
ip netns exec "$PREFIX-lb" nft -f - <<'EOF'
table ip fulcrum_bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 198.18.0.10 tcp dport 80 dnat to jhash ip saddr . tcp sport mod 3 map { 0 : 198.18.2.11, 1 : 198.18.2.12, 2 : 198.18.2.13 }
  }
}
EOF
measure "nftables" http://198.18.0.10/
ip netns exec "$PREFIX-lb" nft delete table ip fulcrum_bench
ip -n "$PREFIX-lb" addr add 198.18.0.10/32 dev lo
# IPVS in NAT mode (round robin), the kernel's own L4 balancer, where the kernel has it:
# this VM's kernel is built without CONFIG_IP_VS, and then the reason goes into the report.
IPVS_WHY=""
if ! command -v ipvsadm >/dev/null; then
  IPVS_WHY="ipvsadm is not installed"
elif ! ip netns exec "$PREFIX-lb" ipvsadm -Ln >/dev/null 2>"$WORK/ipvs.err"; then
  IPVS_WHY="kernel $(uname -r) has no IP_VS ($( (zcat /proc/config.gz 2>/dev/null || true) | grep -m1 -E '^(# )?CONFIG_IP_VS[ =]' || echo 'no /proc/config.gz'); ipvsadm: $(head -1 "$WORK/ipvs.err"))"
fi
if [ -z "$IPVS_WHY" ]; then
  ip netns exec "$PREFIX-lb" ipvsadm -A -t 198.18.0.10:80 -s rr
  for b in 11 12 13; do ip netns exec "$PREFIX-lb" ipvsadm -a -t 198.18.0.10:80 -r "198.18.2.$b:80" -m; done
  measure "ipvs" http://198.18.0.10/
  ip netns exec "$PREFIX-lb" ipvsadm -C
else
  echo "   ipvs: not measured: $IPVS_WHY"
fi
cat >"$WORK/haproxy.cfg" <<EOF
global
  nbthread 1
  cpu-map 1/1 1
  # This container allows 20,000 descriptors; HAProxy needs two per connection.
  maxconn 4000
  pidfile $WORK/haproxy.pid
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend vip
  bind 198.18.0.10:80
  default_backend web
backend web
  balance roundrobin
  server b1 198.18.2.11:80
  server b2 198.18.2.12:80
  server b3 198.18.2.13:80
EOF
ip netns exec "$PREFIX-lb" haproxy -f "$WORK/haproxy.cfg" -D
sleep 0.5
measure "haproxy" http://198.18.0.10/
kill "$(cat "$WORK/haproxy.pid")"

# ---------------------------------------------------------------- report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "==> results (Fulcrum busy-polling; ratios = Fulcrum / peer)"
printf "%-24s %16s %20s %12s %12s\n" "path" "keep-alive req/s" "new connections/s" "keep ratio" "new ratio"
for p in "fulcrum" "fulcrum (adaptive poll)" "fulcrum (shared, xdp)" "nftables" "haproxy" "ipvs" "direct"; do
  [ -n "${KEEP[$p]:-}" ] || { printf "%-24s %s\n" "$p" "not measured: $IPVS_WHY"; continue; }
  printf "%-24s %16.0f %20.0f %12s %12s\n" "$p" "${KEEP[$p]}" "${NEW[$p]}" "$(ratio "${KEEP[fulcrum]}" "${KEEP[$p]}")" "$(ratio "${NEW[fulcrum]}" "${NEW[$p]}")"
done
echo
[ "$E2E_ONLY" -eq 1 ] && exit 0
python3 - "$WORK/dataplane.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("lb-bench dataplane (%s, %.1f GHz, hugepages: %s)" % (d["cpu"], d["ghz"], d.get("hugepages")))
base = {r["flows"]: r["cycles_per_packet"] for r in d["results"] if r["case"] == "baseline"}
for r in d["results"]:
    print("  %-12s %8d flows %7.2f Mpps %8.1f cycles/packet (%.1f without the harness)" % (
        r["case"], r["flows"], r["mpps"], r["cycles_per_packet"], r["cycles_per_packet"] - base[r["flows"]]))
for s in d.get("scaling", []):
    print("  scaling: %d worker(s), %d flows: %.2f Mpps" % (s["workers"], s["flows"], s["mpps"]))
EOF

# JSON, charts and docs/benchmarks.md
E2E_JSON=$(for p in fulcrum "fulcrum (shared, xdp)" nftables haproxy ipvs direct; do
  if [ -n "${KEEP[$p]:-}" ]; then
    printf '{"path": "%s", "keepalive_rps": %s, "new_conn_per_s": %s}\n' "$p" "${KEEP[$p]}" "${NEW[$p]}"
  else
    printf '{"path": "%s", "unavailable": "%s"}\n' "$p" "${IPVS_WHY//\"/\'}"
  fi
done | paste -sd, -)
IPVS_JSON=$(if [ -n "${KEEP[ipvs]:-}" ]; then printf '{"keepalive_rps": %s, "new_conn_per_s": %s}' "${KEEP[ipvs]}" "${NEW[ipvs]}";
            else printf '{"unavailable": "%s"}' "${IPVS_WHY//\"/\'}"; fi)
printf '{"e2e": [%s], "ipvs": %s, "fulcrum_adaptive_polling": {"keepalive_rps": %s, "new_conn_per_s": %s, "idle_cpu_percent": %s}, "fulcrum_busy_polling_idle_cpu_percent": %s, "maglev": %s, "dataplane": %s, "memif": %s}\n' \
  "$E2E_JSON" "$IPVS_JSON" "${KEEP[fulcrum (adaptive poll)]}" "${NEW[fulcrum (adaptive poll)]}" "${IDLE_CPU[fulcrum (adaptive poll)]}" \
  "${IDLE_CPU[fulcrum]}" "$(cat "$WORK/maglev.json")" "$(cat "$WORK/dataplane.json")" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("raw", None); print(json.dumps(d))' "$WORK/memif.json")" \
  | python3 -m json.tool >"$WORK/bench.json"
if [ -n "$JSON_OUT" ]; then
  cp "$WORK/bench.json" "$JSON_OUT"
  echo "wrote $JSON_OUT"
fi
# Debian's python3-matplotlib is for Debian's python3 (another python3 may come first on PATH).
PLOT_PY=/usr/bin/python3
[ -x "$PLOT_PY" ] || PLOT_PY=python3
"$PLOT_PY" "$ROOT/scripts/plot_benchmarks.py" "$WORK/bench.json" "$ROOT/docs/benchmarks"
python3 "$ROOT/scripts/write_benchmarks_md.py" "$ROOT/docs/benchmarks.md" "$WORK/maglev.json" "$WORK/dataplane.json" \
  "$DURATION" "${KEEP[fulcrum]}" "${NEW[fulcrum]}" "${KEEP[fulcrum (adaptive poll)]}" "${NEW[fulcrum (adaptive poll)]}" \
  "${KEEP[nftables]}" "${NEW[nftables]}" "${KEEP[haproxy]}" "${NEW[haproxy]}" "${KEEP[direct]}" "${NEW[direct]}" \
  "${IDLE_CPU[fulcrum]}" "${IDLE_CPU[fulcrum (adaptive poll)]}" "$WORK/bench.json"
echo "wrote docs/benchmarks.md and docs/benchmarks/*.png"
