#!/usr/bin/env bash
# Issue 12 acceptance: a site of two Fulcrum nodes behind a router with ECMP, each node
# announcing its VIPs over BGP through its own BIRD (topology.sh --mode site):
#
#   client ── router (BIRD: merge paths, fib_multipath_hash_policy=1) ══ node A, node B ── backends
#
# Each node: lb-dataplane (net_af_packet with tap exception interfaces flc/flb carrying the
# node's addresses: its BGP and BFD sessions ride the data plane), lb-controlplane with
# [controlplane.bgp], and BIRD with the include file and a BGP+BFD session to the router.
# Asserted and printed, in this order:
#   1. both nodes announce both VIPs, the tables' fingerprints are equal on both nodes,
#      new connections are spread over both nodes;
#   2. all of the nat VIP's backends down on A only (A's health checks blocked): A withdraws
#      that VIP, B keeps serving it, A keeps the other VIP; the same with one backend down
#      after a reload sets min_healthy_backends = 2;
#   3. `lbctl node drain --wait` on A under a steady request loop: 0 failed requests, A ends
#      with no route and no active connection; `undrain` brings its routes back;
#   4. kill -9 of A's control plane, then of its data plane: its routes are withdrawn
#      within 1 s by BFD and check link alone; new connections keep
#      succeeding through B; nat downloads that were going through A finish through B on the
#      same backend; fullnat ones through A break (asserted);
#   5. a restart of both of A's planes: A announces again without manual steps;
#   6. SIGTERM of A's control plane withdraws its VIPs; started again, it announces them.
# A shell test, not gtest: it is all processes and `ip`, and topology.sh is the rig.
# Skips (exit 77) without root, bird2, nft, nginx or curl.
set -euo pipefail

SRC=${FULCRUM_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${FULCRUM_BUILD_ROOT:-$SRC/build}
TOPO="$SRC/scripts/topology.sh"
VIP_NAT=198.18.0.10 VIP_FULL=198.18.0.20 VIP_ECHO=198.18.0.30 VIP_ECHO_FULL=198.18.0.40
ECHO="$SRC/tests/bgp/echo.py"

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
for tool in bird birdc nft nginx curl ip setsid; do command -v "$tool" >/dev/null || skip "$tool not installed (scripts/setup.sh)"; done
[[ -x $BUILD/dataplane/lb-dataplane && -x $BUILD/controlplane/lb-controlplane ]] || { echo "FAIL: binaries not built in $BUILD"; exit 1; }

FAILURES=0
fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
ok() { echo "ok: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
T0=$(now_ms)

# ---------------------------------------------------------------------------- the rig
"$TOPO" reap || true
PREFIX=$(printf 'fl%dx%04x' $$ $((RANDOM % 65536)))
declare -A TOPOV
while IFS='=' read -r k v; do TOPOV[$k]=$v; done < <("$TOPO" up "$PREFIX" --mode site --backends 3)
RUN=${TOPOV[RUN_DIR]}
NS_CLI=${TOPOV[CLIENT_NS]} NS_RT=${TOPOV[ROUTER_NS]}
declare -A NS=([A]=${TOPOV[LB_NS]} [B]=${TOPOV[LB2_NS]})
# The guardian tears the namespaces (and every process in them) down even if we are killed.
setsid "$TOPO" watch "$PREFIX" $$ </dev/null >/dev/null 2>&1 &
GUARD=$!
declare -A DP_PID CP_PID BIRD_PID
cleanup() {
  local rc=$?
  set +e +o pipefail  # a diagnostic that finds nothing must not stop the teardown
  if [[ $FAILURES -gt 0 || $rc -ne 0 ]]; then
    for n in A B; do
      for f in cp dp bird; do
        [[ -f $RUN/$n/$f.log ]] && { echo "--- node $n $f.log (tail)"; tail -n 25 "$RUN/$n/$f.log"; }
      done
    done
    [[ -f $RUN/router/bird.log ]] && { echo "--- router bird.log (sessions)"; grep -v -e "Bad packet" -e "Reconfigur" "$RUN/router/bird.log" | grep -i -e session -e state -e down -e error -e cease -e established | tail -n 30; }
  fi
  "$TOPO" down "$PREFIX"  # also the nodes' DPDK runtime dirs and shared memory
  kill "$GUARD" 2>/dev/null
}
trap cleanup EXIT

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
lbctl() { local n=$1; shift; "$BUILD/controlplane/lbctl" -s "$RUN/$n/lbctl.sock" "$@"; }
# Waits up to $1 seconds for the command to succeed (polled every 50 ms).
wait_for() {
  local deadline=$(($(now_ms) + $1 * 1000)); shift
  until "$@"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.05
  done
}

# ------------------------------------------------------------------------ configuration
node_index() { [[ $1 == A ]] && echo 1 || echo 2; }

write_node_config() {
  local n=$1 i dir="$RUN/$1" lower
  i=$(node_index "$n")
  lower=$(tr 'AB' 'ab' <<<"$n")
  mkdir -p "$dir/state"
  local backend_addr=198.18.2.$((i == 1 ? 1 : 3)) snat=198.18.2.$((99 + i))
  cat >"$dir/lb.toml" <<EOF
# Node $n of the two-node site test (tests/bgp/test_site.sh).
[dataplane]
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix=${PREFIX}${lower}", "--log-level=lib.eal:warning"]
main_lcore = 0
worker_lcores = [1]
conntrack_entries = 65536
idle_sleep_us = 1000
shm_tables = "/$PREFIX-$lower-tables"
shm_status = "/$PREFIX-$lower-status"

[[dataplane.ports]]
name = "uplink"
device = "net_af_packet0,iface=lbc"
address = "10.201.$i.2/24"
gateway = "10.201.$i.1"
host_sharing = "tap"
kernel_interface = "flc"

[[dataplane.ports]]
name = "backends"
device = "net_af_packet1,iface=lbb"
address = "$backend_addr/24"
host_sharing = "tap"
kernel_interface = "flb"

# Short, so that connections the router moved to the other node leave this one's table
# soon (lbctl node drain --wait counts them).
[dataplane.timeouts]
established = 6
closing = 4

[controlplane]
socket = "$dir/lbctl.sock"
metrics = "127.0.0.1:19469"
state_dir = "$dir/state"
hash_seed = "site-test-cluster-seed-0123"

[controlplane.bgp]
socket = "$dir/bird.ctl"
include_file = "$dir/bird-vips.conf"
link_interface = "flc"

[[vip]]
name = "web"
address = "$VIP_NAT"
port = 80
mode = "nat"
[vip.health]
type = "http"
interval_ms = 300
timeout_ms = 200
rise = 2
fall = 2
[[vip.backends]]
name = "b1"
address = "198.18.2.11"
port = 80
[[vip.backends]]
name = "b2"
address = "198.18.2.12"
port = 80

[[vip]]
name = "web-full"
address = "$VIP_FULL"
port = 80
mode = "fullnat"
snat = ["$snat"]
[vip.health]
type = "http"
interval_ms = 300
timeout_ms = 200
rise = 2
fall = 2
[[vip.backends]]
name = "b1"
address = "198.18.2.11"
port = 80
[[vip.backends]]
name = "b2"
address = "198.18.2.12"
port = 80
[[vip.backends]]
name = "b3"
address = "198.18.2.13"
port = 80

[[vip]]
name = "echo"
address = "$VIP_ECHO"
port = 7000
mode = "nat"
[vip.health]
type = "tcp"
interval_ms = 300
timeout_ms = 200
$(for b in 1 2 3; do printf '[[vip.backends]]\nname = "b%d"\naddress = "198.18.2.1%d"\nport = 7000\n' $b $b; done)

[[vip]]
name = "echo-full"
address = "$VIP_ECHO_FULL"
port = 7000
mode = "fullnat"
snat = ["$snat"]
[vip.health]
type = "tcp"
interval_ms = 300
timeout_ms = 200
$(for b in 1 2 3; do printf '[[vip.backends]]\nname = "b%d"\naddress = "198.18.2.1%d"\nport = 7000\n' $b $b; done)
EOF
  # BIRD on the node: the include file Fulcrum writes, BGP to the router with BFD (both ride
  # the data plane through the tap: when it dies the router notices within 5 x 100 ms; 5, not
  # 3, because this VM has 2 cores shared by two data planes, three BIRDs and the clients).
  cat >"$dir/bird.conf" <<EOF
router id 10.201.$i.2;
log "$dir/bird.log" all;
protocol device { scan time 1; }
include "$dir/bird-vips.conf";
protocol bfd { interface "flc" { min rx interval 100 ms; min tx interval 100 ms; multiplier 5; }; }
protocol bgp uplink {
  local 10.201.$i.2 as 6500$i; neighbor 10.201.$i.1 as 65000;
  hold time 3; keepalive time 1; connect retry time 1; connect delay time 1; error wait time 1, 2;
  bfd on;
  ipv4 { import none; export where proto = "fulcrum_vips"; };
}
EOF
}

write_router_config() {
  mkdir -p "$RUN/router"
  cat >"$RUN/router/bird.conf" <<EOF
router id 10.201.0.1;
log "$RUN/router/bird.log" all;
debug protocols { states };
protocol device { scan time 1; }
protocol kernel { merge paths on; ipv4 { import none; export all; }; }
protocol bfd { interface "rt*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 5; }; }
template bgp node {
  local as 65000; hold time 3; keepalive time 1; connect retry time 1; connect delay time 1; error wait time 1, 2;
  bfd on;
  ipv4 { import all; export none; };
}
protocol bgp node_a from node { neighbor 10.201.1.2 as 65001; }
protocol bgp node_b from node { neighbor 10.201.2.2 as 65002; }
EOF
}

# --------------------------------------------------------------------------- processes
start_dp() {
  local n=$1 i
  i=$(node_index "$n")
  ip netns exec "${NS[$n]}" "$BUILD/dataplane/lb-dataplane" -c "$RUN/$n/lb.toml" >>"$RUN/$n/dp.log" 2>&1 &
  DP_PID[$n]=$!
  # The taps exist once the ports started; the node's addresses persist on them across
  # data-plane restarts (added once).
  wait_for 20 in_ns "${NS[$n]}" ip link show flb >/dev/null 2>&1 || { fail "node $n: no tap flb"; return 1; }
  if ! in_ns "${NS[$n]}" ip -br addr show flc | grep -q 10.201; then
    in_ns "${NS[$n]}" ip addr add "10.201.$i.2/24" dev flc
    in_ns "${NS[$n]}" ip addr add "198.18.2.$((i == 1 ? 1 : 3))/24" dev flb
    in_ns "${NS[$n]}" ip link set flc up
    in_ns "${NS[$n]}" ip link set flb up
  fi
}
start_cp() {
  local n=$1
  ip netns exec "${NS[$n]}" "$BUILD/controlplane/lb-controlplane" -c "$RUN/$n/lb.toml" >>"$RUN/$n/cp.log" 2>&1 &
  CP_PID[$n]=$!
  wait_for 15 lbctl "$n" status >/dev/null 2>&1 || { fail "node $n: control plane not answering"; exit 1; }
}
start_bird() {
  local n=$1
  # BIRD refuses a configuration whose include file is missing: the control plane writes it
  # at start (as lb-controlplane.service, ordered before bird.service, would).
  wait_for 10 test -f "$RUN/$n/bird-vips.conf" || fail "node $n: no include file"
  ip netns exec "${NS[$n]}" nice -n -10 bird -f -c "$RUN/$n/bird.conf" -s "$RUN/$n/bird.ctl" >>"$RUN/$n/bird.stderr" 2>&1 &
  BIRD_PID[$n]=$!
}

# ------------------------------------------------------------------------------ probes
# The router's next hops for a VIP: "A B", "A", "B" or "".
paths() {
  local r out=""
  r=$(in_ns "$NS_RT" ip -4 route show "$1/32" 2>/dev/null)
  [[ $r == *10.201.1.2* ]] && out="A"
  [[ $r == *10.201.2.2* ]] && out="${out:+$out }B"
  echo "$out"
}
paths_are() { [[ $(paths "$1") == "$2" ]]; }
vip_json() { lbctl "$1" -j vip list; }
new_conns() {  # new connections of a VIP on node $1
  vip_json "$1" | python3 -c "import json,sys; print(sum(v['new_connections'] for v in json.load(sys.stdin) if v['name']=='$2'))"
}
# Which node the router sends a client source port to (the kernel's own choice, no traffic).
node_for_port() {
  local r
  r=$(in_ns "$NS_RT" ip -4 route get "$1" from 198.18.1.2 iif rtc ipproto tcp sport "$2" dport "${3:-80}")
  [[ $r == *10.201.1.2* ]] && echo A || echo B
}
get() { in_ns "$NS_CLI" curl -s --max-time "${3:-3}" ${2:+--local-port "$2"} "http://$1/"; }

# ================================================================================= run
for b in 1 2 3; do
  ip netns exec "${TOPOV[BACKEND_NS_$b]}" python3 "$ECHO" serve "b$b" "${TOPOV[BACKEND_IP_$b]}" 7000 >/dev/null 2>&1 &
done
write_router_config
for n in A B; do write_node_config "$n"; done
for n in A B; do start_dp "$n"; done
for n in A B; do start_cp "$n"; done
ip netns exec "$NS_RT" nice -n -10 bird -f -c "$RUN/router/bird.conf" -s "$RUN/router/bird.ctl" >>"$RUN/router/bird.stderr" 2>&1 &
for n in A B; do start_bird "$n"; done

# ---- 1. both nodes announce; equal fingerprints; spread
if wait_for 40 paths_are "$VIP_NAT" "A B" && wait_for 10 paths_are "$VIP_FULL" "A B" &&
  wait_for 10 paths_are "$VIP_ECHO" "A B" && wait_for 10 paths_are "$VIP_ECHO_FULL" "A B"; then
  ok "both nodes announce both VIPs ($(( $(now_ms) - T0 )) ms after the start of the test)"
else
  fail "router paths: $VIP_NAT -> '$(paths $VIP_NAT)', $VIP_FULL -> '$(paths $VIP_FULL)'"
  lbctl A vip list || true
  exit 1
fi
all_usable() {  # every backend usable on node $1
  vip_json "$1" | python3 -c "import json,sys; sys.exit(0 if all(v['usable_backends'] == v['backends'] for v in json.load(sys.stdin)) else 1)"
}
# Settled: all four addresses on both nodes, every backend up on both, for 2 s in a row
# (the first checks of a start may time out; on a loaded machine sessions may still flap).
settled() {
  local v
  for v in "$VIP_NAT" "$VIP_FULL" "$VIP_ECHO" "$VIP_ECHO_FULL"; do paths_are "$v" "A B" || return 1; done
  all_usable A && all_usable B
}
stable=0
for ((k = 0; k < 120 && stable < 4; k++)); do if settled; then stable=$((stable + 1)); else stable=0; fi; sleep 0.5; done
((stable >= 4)) || fail "the site did not settle within 60 s"
fp() { vip_json "$1" | python3 -c "import json,sys; print(' '.join(f\"{v['name']}={v['fingerprint']}\" for v in json.load(sys.stdin)))"; }
FP_A=$(fp A) FP_B=$(fp B)
echo "fingerprints: A: $FP_A; B: $FP_B"
[[ $FP_A == "$FP_B" && $FP_A != *None* ]] && ok "equal Maglev table fingerprints on both nodes" || fail "fingerprints differ"

metrics() { in_ns "${NS[$1]}" curl -s --max-time 2 http://127.0.0.1:19469/metrics | grep -E '^lb_(vip_announced|bgp_|node_drained)'; }
m=$(metrics A)
echo "$m" | sed 's/^/  A metrics: /'
[[ $m == *'lb_vip_announced{vip="web"} 1'* && $m == *"lb_bgp_in_sync 1"* && $m == *"lb_node_drained 0"* ]] &&
  ok "metrics: announced, in sync, not drained" || fail "metrics"
lbctl A status | grep -A2 '^node' | sed 's/^/  A status: /'
before_a=$(new_conns A web) before_b=$(new_conns B web)
failed=0
for ((k = 0; k < 60; k++)); do [[ -n $(get "$VIP_NAT") ]] || failed=$((failed + 1)); done
spread_a=$(($(new_conns A web) - before_a)) spread_b=$(($(new_conns B web) - before_b))
echo "FIGURE spread: 60 new connections -> node A $spread_a, node B $spread_b ($failed failed)"
((failed == 0 && spread_a >= 10 && spread_b >= 10)) && ok "new connections spread over both nodes" ||
  fail "spread A $spread_a / B $spread_b, $failed failed"

# ---- 2. the nat VIP's backends down on A only
# A's health checks of backends are cut (A cannot reach them, B can): (a) of b1 and b2, all
# of web's: A withdraws web's address, keeps web-full's (b3 is usable); (b) after a reload
# that raises [controlplane.bgp] min_healthy_backends to 2, of b1 only: web has 1 usable
# backend on A, withdrawn; web-full has 2, kept.
block() {  # node A's health checks to these backends' :80 are dropped
  printf 'table ip site_test {\n chain out {\n  type filter hook output priority 0;\n  ip daddr { %s } tcp dport 80 drop\n }\n}\n' "$1" |
    in_ns "${NS[A]}" nft -f -
}
per_node_withdrawal() {  # label
  local t
  t=$(now_ms)
  if wait_for 10 paths_are "$VIP_NAT" "B"; then
    echo "FIGURE per-node withdrawal ($1): A withdrew $VIP_NAT $(( $(now_ms) - t )) ms after its health checks were cut"
    paths_are "$VIP_FULL" "A B" && ok "A keeps announcing $VIP_FULL" || fail "$VIP_FULL paths '$(paths $VIP_FULL)'"
    failed=0
    for ((k = 0; k < 20; k++)); do [[ -n $(get "$VIP_NAT") ]] || failed=$((failed + 1)); done
    ((failed == 0)) && ok "B serves $VIP_NAT alone: 20/20 requests" || fail "$failed of 20 requests to $VIP_NAT failed"
    lbctl A vip list | sed 's/^/  A: /'
  else
    fail "A did not withdraw $VIP_NAT ($1): paths '$(paths $VIP_NAT)'"
  fi
  in_ns "${NS[A]}" nft delete table ip site_test
  wait_for 15 paths_are "$VIP_NAT" "A B" && ok "A announces $VIP_NAT again once its backends are back" || fail "A did not re-announce"
}
block "198.18.2.11, 198.18.2.12"
per_node_withdrawal "all of web's backends"
wait_for 10 all_usable A || fail "A's backends not all back up"
sed -i 's/^link_interface = "flc"$/&\nmin_healthy_backends = 2/' "$RUN/A/lb.toml"
lbctl A reload >/dev/null || fail "reload of A with min_healthy_backends = 2"
# A reload must not make the node withdraw anything, even for a moment.
stays=1
for ((k = 0; k < 30; k++)); do paths_are "$VIP_NAT" "A B" && paths_are "$VIP_FULL" "A B" || stays=0; sleep 0.03; done
((stays == 1)) && ok "the reload left A's routes alone" || fail "A's routes flapped during a reload"
block "198.18.2.11"
per_node_withdrawal "1 usable, min_healthy_backends 2"

# ---- 3. node drain under a steady request loop
( ok_n=0 bad_n=0
  while [[ ! -f $RUN/stop-loop ]]; do
    if [[ -n $(get "$VIP_NAT" "" 5) ]]; then ok_n=$((ok_n + 1)); else bad_n=$((bad_n + 1)); fi
    echo "$ok_n $bad_n" >"$RUN/loop.count"
  done ) &
LOOP=$!
sleep 1.5
t=$(now_ms)
drain_out=$(lbctl A node drain --wait --timeout 60 2>&1) && drain_rc=0 || drain_rc=$?
drain_ms=$(( $(now_ms) - t ))
echo "$drain_out" | sed 's/^/  lbctl node drain: /'
sleep 1
touch "$RUN/stop-loop"
wait "$LOOP" || true
read -r loop_ok loop_bad <"$RUN/loop.count"
active_a=$(lbctl A -j status | python3 -c "import json,sys; print(json.load(sys.stdin)['node']['active_connections'])")
echo "FIGURE drain: $loop_ok requests, $loop_bad failed; drain --wait returned in $drain_ms ms (exit $drain_rc); A: paths '$(paths $VIP_NAT)', $active_a active connections"
((drain_rc == 0 && loop_bad == 0 && loop_ok > 10 && active_a == 0)) && paths_are "$VIP_NAT" "B" && paths_are "$VIP_FULL" "B" &&
  ok "drain: 0 failed requests, A has no route and no active connection" || fail "drain"
lbctl A vip list | sed 's/^/  A: /'
m=$(metrics A)
[[ $m == *'lb_vip_announced{vip="web"} 0'* && $m == *"lb_node_drained 1"* ]] && ok "metrics: drained, nothing announced" || fail "metrics while drained: $(metrics A | tr '\n' ' ')"
lbctl A node undrain >/dev/null
t=$(now_ms)
wait_for 15 paths_are "$VIP_NAT" "A B" && wait_for 5 paths_are "$VIP_FULL" "A B" &&
  ok "undrain: A announces again after $(( $(now_ms) - t )) ms" || fail "undrain: paths '$(paths $VIP_NAT)'"

# ---- 4. kill -9 of A's control plane, then of its data plane
# Ten conversations (tests/bgp/echo.py) to each echo VIP, nat 198.18.0.30:7000 and fullnat
# 198.18.0.40:7000, from source ports 20000-20019; the router's ECMP hash spreads them, and
# A's connection table says which ones it carries (P(none through A) = 2^-10 per VIP).
mkdir -p "$RUN/talk"
talk() { in_ns "$NS_CLI" python3 "$ECHO" talk "$1" 7000 "$2" "$RUN/talk" >"$RUN/$3.result" 2>&1 || true; }
all_ready() { [[ $(ls "$RUN/talk" | grep -c '^ready\.') -ge 20 ]]; }
declare -a JOBS=() NAT_PORTS=() FULL_PORTS=()
for ((p = 20000; p < 20010; p++)); do NAT_PORTS+=($p); talk "$VIP_ECHO" "$p" "nat$p" & JOBS+=($!); done
for ((p = 20010; p < 20020; p++)); do FULL_PORTS+=($p); talk "$VIP_ECHO_FULL" "$p" "full$p" & JOBS+=($!); done
wait_for 30 all_ready || fail "only $(ls "$RUN/talk" | grep -c '^ready\.') of 20 conversations started"
sleep 0.5
lbctl A conn list --vip echo >"$RUN/conns-echo.A"
lbctl A conn list --vip echo-full >"$RUN/conns-echo-full.A"
# A's control plane dies first (kill -9: no withdrawal of its own). BIRD keeps A's routes
# and the data plane keeps forwarding; what withdraws them below is BFD and check link alone.
kill -9 "${CP_PID[A]}"
wait "${CP_PID[A]}" 2>/dev/null || true
sleep 1
paths_are "$VIP_NAT" "A B" && ok "A's routes stay while only its control plane is dead" || fail "paths '$(paths $VIP_NAT)' after kill -9 of A's control plane"
through_a() { grep -q "198.18.1.2:$2\b" "$RUN/conns-$1.A"; }
kill -9 "${DP_PID[A]}"
t=$(now_ms)
echo "  kill -9 of A's data plane at $(date +%T.%3N)"
if wait_for 5 paths_are "$VIP_NAT" "B"; then
  withdraw_ms=$(( $(now_ms) - t ))
  wait_for 2 paths_are "$VIP_FULL" "B" || true
  echo "FIGURE withdraw: A's routes gone from the router $withdraw_ms ms after kill -9 of its data plane (its control plane already dead)"
  ((withdraw_ms <= 1000)) && ok "withdrawn within 1 s" || fail "withdrawal took $withdraw_ms ms (> 1 s)"
else
  fail "A's routes not withdrawn: paths '$(paths $VIP_NAT)'"
fi
failed=0
for ((k = 0; k < 20; k++)); do [[ -n $(get "$VIP_NAT") && -n $(get "$VIP_FULL") ]] || failed=$((failed + 1)); done
((failed == 0)) && ok "new connections succeed through B: 20/20 to each VIP" || fail "$failed of 20 new connection pairs failed"
sleep 3  # the conversations moved to B go on for a while there
touch "$RUN/talk/stop"
for j in "${JOBS[@]}"; do wait "$j" || true; done
# "complete" when the conversation lasted until the stop without error, on a single backend.
result() { local r; r=$(cat "$RUN/$1.result"); [[ $r == *"error -"* && $r != *backends*,* ]] && echo "complete ($r)" || echo "broken ($r)"; }
nat_a=0 nat_ok=0 full_a=0 full_broken=0
for p in "${NAT_PORTS[@]}"; do
  r=$(result "nat$p")
  if through_a echo "$p"; then
    nat_a=$((nat_a + 1)); [[ $r == complete* ]] && nat_ok=$((nat_ok + 1))
    echo "  nat conversation through A (port $p): $r"
  else
    [[ $r == complete* ]] || fail "nat conversation through B (port $p): $r"
  fi
done
for p in "${FULL_PORTS[@]}"; do
  r=$(result "full$p")
  if through_a echo-full "$p"; then
    full_a=$((full_a + 1)); [[ $r == complete* ]] || full_broken=$((full_broken + 1))
    echo "  fullnat conversation through A (port $p): $r"
  else
    [[ $r == complete* ]] || fail "fullnat conversation through B (port $p): $r"
  fi
done
echo "FIGURE continuation: nat through A, moved to B: $nat_ok/$nat_a went on on their backend; fullnat through A: $full_broken/$full_a broken (by design: the SNAT port lived on A)"
((nat_a > 0 && nat_ok == nat_a)) && ok "nat connections moved from A to B continue on the same backend" || fail "nat connections through A: $nat_ok/$nat_a went on"
((full_a > 0 && full_broken == full_a)) && ok "fullnat connections through A are broken, as documented" ||
  fail "fullnat connections through A: $full_broken/$full_a broken, expected all"
lbctl B stats | grep -E "midstream|stateless|snat_no_entry" | sed 's/^/  B: /' || true

# ---- 5. restart of both of A's planes
kill "${CP_PID[A]}" 2>/dev/null || true
wait "${CP_PID[A]}" 2>/dev/null || true
t=$(now_ms)
start_dp A
start_cp A
if wait_for 40 paths_are "$VIP_NAT" "A B" && wait_for 5 paths_are "$VIP_FULL" "A B"; then
  echo "FIGURE rejoin: A announces again $(( $(now_ms) - t )) ms after both planes were started again"
  ok "restarted node rejoins without manual steps"
else
  fail "A did not rejoin: paths '$(paths $VIP_NAT)'"
fi

# ---- 6. SIGTERM of the control plane withdraws the node's VIPs (withdraw_on_exit)
kill "${CP_PID[A]}"
t=$(now_ms)
if wait_for 5 paths_are "$VIP_NAT" "B"; then
  echo "FIGURE shutdown: A's routes withdrawn $(( $(now_ms) - t )) ms after SIGTERM of its control plane"
  ok "a stopping control plane withdraws its VIPs"
else
  fail "SIGTERM of A's control plane left paths '$(paths $VIP_NAT)'"
fi
wait "${CP_PID[A]}" 2>/dev/null || true
start_cp A
wait_for 15 paths_are "$VIP_NAT" "A B" && ok "announced again after the control plane's restart" || fail "not announced after restart"

echo "runtime: $(( ($(now_ms) - T0) / 1000 )) s, $FAILURES failure(s)"
((FAILURES == 0))
