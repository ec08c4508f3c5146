#!/usr/bin/env bash
# The memif rig: lb-loadgen (memif server of two links, clients on one, backends on the
# other, on CPU --lg-cpu) and, connected to both links as a zero-copy memif client, either
# lb-dataplane (one worker on CPU --lb-cpu) or dpdk-testpmd (io or mac forwarding on the
# same CPU): the same wires and cores for the balancer and for DPDK's own forwarder.
#
#   memif_rig.sh fulcrum [options] [-- lb-loadgen options]
#   memif_rig.sh testpmd-io|testpmd-mac [options] [-- lb-loadgen options]
# Options: --build DIR (default build), --flows F, --hugepages (EAL on 2 MiB pages, zero
# copy; the caller provides the pages), --lg-cpu N (0), --lb-cpu N (1), --capacity N
# (connection entries; default flows x 1.25 + 1.5M with --hugepages: room for the SYN and
# connection cases, which make 1M and ~0.5M short-lived entries; flows x 2 + 64k without),
# --priority (nice -20 for this run's scheduling autogroup: on a shared machine, other
# sessions' work would otherwise take the cores the pollers measure on).
# Prints lb-loadgen's JSON (for testpmd with "testpmd_cycles_per_packet" added); exits
# with lb-loadgen's status. Everything it starts is stopped, also on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEER=${1:?usage: memif_rig.sh fulcrum|testpmd-io|testpmd-mac [options] [-- loadgen options]}
shift
BUILD=build FLOWS=1000 HUGE=0 LG_CPU=0 LB_CPU=1 CAPACITY="" PRIORITY=0
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --flows) FLOWS=$2; shift 2 ;;
    --hugepages) HUGE=1; shift ;;
    --lg-cpu) LG_CPU=$2; shift 2 ;;
    --lb-cpu) LB_CPU=$2; shift 2 ;;
    --capacity) CAPACITY=$2; shift 2 ;;
    --priority) PRIORITY=1; shift ;;
    --) shift; break ;;
    *) echo "memif_rig.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case $PEER in fulcrum|testpmd-io|testpmd-mac) ;; *) echo "memif_rig.sh: unknown peer $PEER" >&2; exit 2 ;; esac
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

# The scheduler shares CPU time between sessions (autogroups) before it looks at nice
# values; --priority raises this session's group for the run and restores it afterwards.
OLD_GROUP_NICE=""
if [ "$PRIORITY" = 1 ] && [ -w "/proc/$$/autogroup" ]; then
  OLD_GROUP_NICE=$(sed -n 's/.* nice \(-\?[0-9]*\)/\1/p' "/proc/$$/autogroup")
  echo -20 >"/proc/$$/autogroup" 2>/dev/null || OLD_GROUP_NICE=""
fi
DIR=$(mktemp -d /tmp/fulcrum-memif.XXXXXX)
TAG=fulcrum-memif-$$
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$OLD_GROUP_NICE" ] && echo "$OLD_GROUP_NICE" >"/proc/$$/autogroup" 2>/dev/null
  rm -rf "$DIR" "/dev/shm/$TAG-t" "/dev/shm/$TAG-s" "/dev/shm/$TAG-s.conns" "/var/run/dpdk/$TAG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

LG_PEER=fulcrum
case $PEER in testpmd-io) LG_PEER=forwarder ;; testpmd-mac) LG_PEER=forwarder-mac ;; esac
LG_ARGS=(--client-socket "$DIR/c.sock" --backend-socket "$DIR/b.sock" --tables "/$TAG-t" --status "/$TAG-s"
         --cpu "$LG_CPU" --flows "$FLOWS" --peer "$LG_PEER" --linger 10)
[ "$HUGE" = 1 ] && LG_ARGS+=(--hugepages)
"$BUILD/tools/loadgen/lb-loadgen" "${LG_ARGS[@]}" "$@" >"$DIR/loadgen.json" 2> >(tee "$DIR/loadgen.err" >&2) &
LG=$!
PIDS+=("$LG")
# The peer may connect only once lb-loadgen's ports are started (a memif client that finds
# the server not ready does not retry): lb-loadgen says when.
for _ in $(seq 400); do
  grep -qs "waiting for the peer" "$DIR/loadgen.err" && break
  kill -0 "$LG" 2>/dev/null || break
  sleep 0.05
done
grep -qs "waiting for the peer" "$DIR/loadgen.err" || { echo "memif_rig.sh: lb-loadgen did not start its memif ports" >&2; exit 1; }

ZC=no
[ "$HUGE" = 1 ] && ZC=yes
DEV_C="net_memif0,role=client,id=0,socket=$DIR/c.sock,socket-abstract=no,mac=02:00:00:00:01:01,zero-copy=$ZC"
DEV_B="net_memif1,role=client,id=0,socket=$DIR/b.sock,socket-abstract=no,mac=02:00:00:00:02:01,zero-copy=$ZC"
if [ "$PEER" = fulcrum ]; then
  if [ -z "$CAPACITY" ]; then
    if [ "$HUGE" = 1 ]; then CAPACITY=$((FLOWS + FLOWS / 4 + 1500000)); else CAPACITY=$((FLOWS * 2 + 65536)); fi
  fi
  MEM=$(( CAPACITY * 64 / 1048576 + 512 ))
  if [ "$HUGE" = 1 ]; then EAL='"--in-memory", "--single-file-segments"'; else EAL='"--no-huge", "--no-shconf"'; fi
  {
    cat <<EOT
# Written by tools/loadgen/memif_rig.sh: lb-dataplane between lb-loadgen's two memif links.
[dataplane]
eal_args = [$EAL, "-m", "$MEM", "--no-pci", "--no-telemetry", "--file-prefix=$TAG", "--log-level=*:warning"]
main_lcore = $LG_CPU
worker_lcores = [$LB_CPU]
conntrack_entries = $CAPACITY
mbufs = 32767
shm_tables = "/$TAG-t"
shm_status = "/$TAG-s"
# The benchmark measures creating state at full speed: no breaker. Short timeouts for what
# the SYN and connection cases leave behind (established flows keep the default 900 s).
new_flow_breaker_rate = 0

[dataplane.timeouts]
syn_unanswered = 1
closed = 1

[[dataplane.ports]]
name = "client"
device = "$DEV_C"
address = "198.18.1.1/24"
gateway = "198.18.1.254"

[[dataplane.ports]]
name = "backend"
device = "$DEV_B"
address = "198.18.2.1/24"

[[dataplane.neighbours]]
address = "198.18.1.254"
mac = "02:00:00:00:aa:01"
port = "client"
EOT
    for b in $(seq 11 18); do
      printf '\n[[dataplane.neighbours]]\naddress = "198.18.2.%s"\nmac = "02:00:00:00:bb:01"\nport = "backend"\n' "$b"
    done
  } >"$DIR/dataplane.toml"
  "$BUILD/dataplane/lb-dataplane" -c "$DIR/dataplane.toml" >"$DIR/dataplane.log" 2>&1 &
  DP=$!
  PIDS+=("$DP")
  # The data plane leaves first (see lb-loadgen's --linger).
  while kill -0 "$LG" 2>/dev/null && ! grep -qs "lb-loadgen: done" "$DIR/loadgen.err"; do sleep 0.1; done
  kill "$DP" 2>/dev/null || true
  rc=0
  wait "$LG" || rc=$?
  if [ "$rc" != 0 ]; then echo "memif_rig.sh: lb-loadgen failed ($rc); lb-dataplane said:" >&2; tail -20 "$DIR/dataplane.log" >&2; fi
  cat "$DIR/loadgen.json"
  exit "$rc"
fi

# testpmd: its main lcore waits on stdin on the generator's CPU; its forwarding lcore gets
# the balancer's CPU. A newline on stdin makes it stop and print its statistics, with
# --record-core-cycles its cycles per packet (busy polls only).
if [ "$HUGE" = 1 ]; then EAL=(--in-memory --single-file-segments -m 512); else EAL=(--no-huge --no-shconf -m 512); fi
# stdin: a newline once lb-loadgen is done with its traffic (testpmd leaves first, see
# lb-loadgen's --linger).
( while kill -0 "$LG" 2>/dev/null && ! grep -qs "lb-loadgen: done" "$DIR/loadgen.err"; do sleep 0.1; done; echo ) | \
dpdk-testpmd --lcores "0@$LG_CPU,1@$LB_CPU" "${EAL[@]}" --no-pci --no-telemetry --file-prefix="$TAG" \
  --vdev="$DEV_C" --vdev="$DEV_B" -- --forward-mode="${PEER#testpmd-}" --record-core-cycles --no-mlockall \
  --total-num-mbufs=32767 --rxd=1024 --txd=1024 --burst=32 --eth-peer=0,02:00:00:00:bb:01 --eth-peer=1,02:00:00:00:aa:01 \
  >"$DIR/testpmd.log" 2>&1 &
TP=$!
PIDS+=("$TP")
rc=0
wait "$LG" || rc=$?
for _ in $(seq 100); do kill -0 "$TP" 2>/dev/null || break; sleep 0.05; done
CYCLES=$(sed -n 's/.*CPU cycles\/packet=\([0-9.]*\).*/\1/p' "$DIR/testpmd.log" | tail -1)
[ -n "$CYCLES" ] || { echo "memif_rig.sh: no cycles/packet in testpmd's output:" >&2; tail -20 "$DIR/testpmd.log" >&2; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["testpmd_cycles_per_packet"]=float(sys.argv[2] or 0); print(json.dumps(d))' \
  "$DIR/loadgen.json" "${CYCLES:-0}"
exit "$rc"
