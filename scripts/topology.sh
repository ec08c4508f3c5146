#!/usr/bin/env bash
# The one implementation of Fulcrum's test topology: a client, the load balancer, a switch
# and N nginx backends, each in its own network namespace, wired with veth pairs.
#
#   cli(cl0 198.18.1.2) ── lbc [lb ns] lbb ── swlb [sw ns: br0] swbI ── bk0 198.18.2.(10+I) [bI]
#                                  lbm ── swlbm ─┘   (dpdk mode: the kernel's management port)
#
# The C++ test rig (tests/rig/topology.cpp), scripts/demo.sh and scripts/bench.sh all call
# this script, so that there is a single place that knows how the topology is built and,
# more importantly, how it is torn down.
#
# Why it is shaped this way:
# - Every veth is created inside a namespace (`ip -n A link add X ... peer name Y netns B`),
#   so no interface ever exists in the host namespace, even for a moment, and the fixed
#   names (cl0, lbc, bk0, ...) cannot clash between concurrent runs.
# - PREFIX is `fl<PID>x<4 hex>`, PID being the owner's. A run whose owner died can then be
#   recognised and reaped by anyone (`reap`), and `watch` cleans up after an owner that was
#   SIGKILLed. Nothing outside namespaces named `<PREFIX>-*` is ever touched.
# - `down` kills every process inside a namespace before deleting it: `ip netns del` only
#   drops the name, and a namespace still referenced by a process lingers invisibly, veths
#   and all.
#
# Usage:
#   topology.sh up PREFIX [--backends N] [--mode router|dpdk|shared|site] [--lb-queues Q] [--ipv6]
#   topology.sh down PREFIX
#   topology.sh reap
#   topology.sh watch PREFIX PID
#   topology.sh nginx-stop PREFIX I | nginx-start PREFIX I
# `up` prints shell-sourceable KEY=VALUE lines on stdout (also saved as RUN_DIR/topology.env);
# every diagnostic goes to stderr.
set -euo pipefail

readonly RUN_ROOT=/tmp/fulcrum-topo
readonly PREFIX_RE='^fl([0-9]+)x[0-9a-f]{4}$'
readonly CLIENT_NET=198.18.1 BACKEND_NET=198.18.2
# --ipv6 (dpdk mode, issue 15): the client and the backends are dual-stack, on these /64s;
# the balancer's ports are ::1 of each (the data plane's address6, which answers NDP).
readonly CLIENT_NET6=2001:db8:1 BACKEND_NET6=2001:db8:2
readonly BIG_SIZE=$((16 * 1024 * 1024))

log() { echo "topology.sh: $*" >&2; }
die() { log "$*"; exit 1; }

in_range() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  (($1 >= $2 && $1 <= $3))
}

check_prefix() {
  [[ ${1:-} =~ $PREFIX_RE ]] || die "PREFIX must look like fl<PID>x<4 hex digits> (got '${1:-}')"
}

# `up` and `down` of one PREFIX exclude each other: a guardian whose owner was killed while
# `up` was still running must not tear down first and let `up` finish building afterwards.
# fd 9 is the lock; it is closed for nginx, which would otherwise hold it for its lifetime.
LOCKED=""
lock_prefix() {
  [[ $LOCKED == "$1" ]] && return 0
  mkdir -p "$RUN_ROOT"
  exec 9>>"$RUN_ROOT/$1.lock"
  flock -w 60 9 || log "warning: $1 still locked after 60 s; going on regardless"
  LOCKED=$1
}

# Names of existing namespaces that belong to PREFIX. The trailing '-' keeps fl12x0000 from
# matching fl123x0000's namespaces.
prefix_namespaces() {
  ip netns list 2>/dev/null | awk -v p="$1-" 'index($1, p) == 1 { print $1 }'
}

# STAT=(fields of /proc/PID/stat after "pid (comm) "): [0] state, [1] ppid, [19] start time.
# Pure bash: down/reap/watch call this in loops, and a fork per call adds up.
read_stat() {
  local line
  STAT=()
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  read -r -a STAT <<<"${line##*) }"
}

# A zombie has already left its namespaces; containers whose init never reaps would
# otherwise make us wait for processes that are gone in every way that matters.
pid_alive() {
  read_stat "$1" || return 1
  [[ ${STAT[0]} != [ZX] ]]
}

# PID and its ancestors: a caller whose thread sits in one of the namespaces (e.g. inside
# the C++ rig's NetnsScope) may have spawned us from there, and must not be killed by us.
ancestors() {
  local pid=$1
  while [[ -n $pid && $pid -gt 1 ]]; do
    echo "$pid"
    read_stat "$pid" || break
    pid=${STAT[1]}
  done
}

# TERM, then KILL, the given PIDs; waits until they are gone (at most ~2 s).
terminate_pids() {
  [[ $# -gt 0 ]] || return 0
  local sig pid tries left
  for sig in TERM KILL; do
    kill -s "$sig" "$@" 2>/dev/null || true
    for ((tries = 0; tries < 50; tries++)); do
      left=0
      for pid in "$@"; do pid_alive "$pid" && left=1 && break; done
      [[ $left -eq 0 ]] && return 0
      sleep 0.02
    done
  done
  log "warning: processes survived SIGKILL: $*"
}

# PIDs running in namespace NS, except our own ancestry; with NAME, only processes so named.
ns_pids() {
  local ns=$1 name=${2:-} pid comm
  local skip
  skip=" $(ancestors "$BASHPID" | tr '\n' ' ') "
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    [[ $skip == *" $pid "* ]] && continue
    if [[ -n $name ]]; then
      { read -r comm <"/proc/$pid/comm"; } 2>/dev/null || continue
      [[ $comm == "$name" ]] || continue
    fi
    echo "$pid"
  done
}

do_down() {
  local prefix=$1 ns rc=0
  local -a nss pids=()
  lock_prefix "$prefix"
  mapfile -t nss < <(prefix_namespaces "$prefix")
  # All namespaces' processes at once: one wait for the lot, not one per namespace.
  for ns in "${nss[@]}"; do
    mapfile -t -O "${#pids[@]}" pids < <(ns_pids "$ns")
  done
  # Also our daemons that are in no listed namespace any more (their namespace was deleted
  # under them by hand, or by an older version of this script): they name the run dir.
  mapfile -t -O "${#pids[@]}" pids < <(pgrep -f -- "$RUN_ROOT/$prefix/" || true)
  terminate_pids "${pids[@]}"
  for ns in "${nss[@]}"; do
    ip netns del "$ns" 2>/dev/null || [[ ! -e /run/netns/$ns ]] || { log "cannot delete namespace $ns"; rc=1; }
  done
  rm -rf "${RUN_ROOT:?}/$prefix" "$RUN_ROOT/$prefix.lock"
  # DPDK processes of this run use PREFIX as their EAL --file-prefix: their runtime dir too
  # (site mode: PREFIXa, PREFIXb, one per node), and their shared-memory regions PREFIX-*.
  rm -rf "/var/run/dpdk/${prefix:?}" "/var/run/dpdk/${prefix:?}"[a-z]
  rm -f "/dev/shm/${prefix:?}-"*
  return $rc
}

# ---------------------------------------------------------------------------------- nginx

backend_ns() { echo "$1-b$2"; }
backend_ip() { echo "$BACKEND_NET.$((10 + $2))"; }
backend_ip6() { echo "$BACKEND_NET6::$((10 + $2))"; }   # 2001:db8:2::11 for b1

# nginx-light may be built without some modules; naming the temp path of a missing module
# is a configuration error, and leaving a present one at its default points to
# /var/lib/nginx, which may not exist.
nginx_temp_paths() {
  local dir=$1 v mod
  v=$(nginx -V 2>&1)
  echo "  client_body_temp_path $dir/tmp/body;"
  for mod in proxy fastcgi uwsgi scgi; do
    [[ $v == *"--without-http_${mod}_module"* ]] || echo "  ${mod}_temp_path $dir/tmp/$mod;"
  done
}

write_nginx_conf() {
  local prefix=$1 i=$2 dir ip listen6=""
  dir="$RUN_ROOT/$prefix/b$i"
  ip=$(backend_ip "$prefix" "$i")
  [[ ${IPV6:-0} -eq 1 ]] && listen6="listen [::]:80 ipv6only=on;"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
# Backend b$i of topology $prefix (generated by scripts/topology.sh).
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  default_type text/plain;
$(nginx_temp_paths "$dir")
  server {
    listen $ip:80;
    $listen6
    # Every answer names the backend, the long download included (curl -D- shows it).
    add_header X-Backend b$i always;
    location / { return 200 "b$i\n"; }
    # A 16 MiB body at 2 MB/s: an 8-second transfer, for tests of long-lived flows.
    location = /big { alias $RUN_ROOT/$prefix/big; limit_rate 2m; default_type application/octet-stream; }
  }
}
EOF
}

nginx_stop() {
  local ns
  ns=$(backend_ns "$1" "$2")
  [[ -e /run/netns/$ns ]] || die "no namespace $ns"
  # shellcheck disable=SC2046
  terminate_pids $(ns_pids "$ns" nginx)
  rm -f "$RUN_ROOT/$1/b$2/nginx.pid"
}

nginx_start() {
  local prefix=$1 i=$2 ns dir
  ns=$(backend_ns "$prefix" "$i")
  dir="$RUN_ROOT/$prefix/b$i"
  [[ -e /run/netns/$ns ]] || die "no namespace $ns"
  [[ -f $dir/nginx.conf ]] || die "no nginx configuration for backend $i of $prefix"
  [[ -z $(ns_pids "$ns" nginx) ]] || return 0   # already running: nothing to do
  rm -f "$dir/nginx.pid"                           # stale, from a killed instance
  # The daemon must not inherit our stdout: whoever reads it would wait for EOF forever.
  # nginx binds its listener before daemonizing, so a zero exit means it accepts.
  ip netns exec "$ns" nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
    </dev/null >/dev/null 2>>"$dir/nginx.stderr" 3>&- 9>&- ||
    die "nginx of backend $i failed to start: $(tail -q -n 3 "$dir/nginx.stderr" "$dir/error.log" 2>/dev/null)"
}

# ------------------------------------------------------------------------------------- up

STEP=""
UP_DONE=0
UP_PREFIX=""

on_up_exit() {
  local rc=$?
  [[ $UP_DONE -eq 1 ]] && return 0
  log "up $UP_PREFIX failed while: $STEP (exit $rc); tearing down what was made"
  do_down "$UP_PREFIX" || true
  exit $((rc == 0 ? 1 : rc))
}

mac_of() { ip -n "$1" link show dev "$2" | awk '/link\/ether/ { print $2 }'; }

# lo up, and no IPv6 anywhere: every address in the topology is IPv4 (unless --ipv6, see
# enable_ipv6), and IPv6's router solicitations and MLD reports are only noise for a DPDK
# forwarder to skip.
add_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
}

# IPv6 back on in a namespace add_ns made (--ipv6), for the interfaces created after it:
# no duplicate address detection (an address is usable at once, and the tests need not
# wait ~1 s for it) and no router advertisements taken.
enable_ipv6() {
  ip netns exec "$1" sysctl -q -e -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 >/dev/null
}

# veth offloads make the kernel hand its peer frames with partial checksums (CHECKSUM_PARTIAL)
# and 64 KB GSO super-frames; a DPDK forwarder would pass those on broken. GRO on the LB's
# own ends would likewise merge frames before the PMD sees them.
no_offloads() { ip netns exec "$1" ethtool -K "$2" "${@:3}" >/dev/null; }

# Claims PREFIX for an `up` and arms its teardown, then makes a fresh run directory. It
# refuses before arming the teardown: a failed `up` must never take down someone else's run.
begin_up() {
  local prefix=$1
  lock_prefix "$prefix"
  [[ $prefix =~ $PREFIX_RE ]]
  pid_alive "${BASH_REMATCH[1]}" || {
    rm -f "$RUN_ROOT/$prefix.lock"
    die "the owner of $prefix (pid ${BASH_REMATCH[1]}) is not running: nothing would clean up after it"
  }
  [[ -z $(prefix_namespaces "$prefix") ]] || die "namespaces of $prefix already exist"
  UP_PREFIX=$prefix
  trap on_up_exit EXIT
  trap 'exit 130' INT TERM HUP

  STEP="creating the run directory $RUN_ROOT/$prefix"
  rm -rf "${RUN_ROOT:?}/$prefix" && mkdir -p "$RUN_ROOT/$prefix"
}

do_up() {
  local prefix=$1 backends=$2 mode=$3 queues=$4 ipv6=${5:-0}
  local cli="$prefix-cli" lb="$prefix-lb" sw="$prefix-sw" run="$RUN_ROOT/$prefix" i ns
  local q="numtxqueues $queues numrxqueues $queues"
  IPV6=$ipv6
  begin_up "$prefix"

  STEP="creating namespaces"
  for ns in "$cli" "$lb" "$sw"; do add_ns "$ns"; done
  for ((i = 1; i <= backends; i++)); do add_ns "$(backend_ns "$prefix" "$i")"; done
  if ((ipv6)); then
    # Not in lb (DPDK's ports see every frame anyway) nor sw (the bridge floods NDP).
    enable_ipv6 "$cli"
    for ((i = 1; i <= backends; i++)); do enable_ipv6 "$(backend_ns "$prefix" "$i")"; done
  fi

  STEP="creating veth pairs and the bridge"
  # shellcheck disable=SC2086  # $q is two option pairs
  ip -n "$lb" link add lbc $q type veth peer name cl0 netns "$cli" $q
  # shellcheck disable=SC2086
  ip -n "$lb" link add lbb $q type veth peer name swlb netns "$sw" $q
  # STP off: ports forward as soon as they are up, with no listening/learning delay.
  ip -n "$sw" link add br0 type bridge stp_state 0 mcast_snooping 0
  ip -n "$sw" link set swlb master br0 up
  for ((i = 1; i <= backends; i++)); do
    ip -n "$sw" link add "swb$i" type veth peer name bk0 netns "$(backend_ns "$prefix" "$i")"
    ip -n "$sw" link set "swb$i" master br0 up
  done
  ip -n "$sw" link set br0 up

  STEP="addressing the client"
  ip -n "$cli" addr add "$CLIENT_NET.2/24" dev cl0
  ip -n "$cli" link set cl0 up
  ip -n "$cli" route add default via "$CLIENT_NET.1"
  if ((ipv6)); then
    ip -n "$cli" addr add "$CLIENT_NET6::2/64" dev cl0 nodad
    ip -n "$cli" -6 route add default via "$CLIENT_NET6::1"
  fi

  STEP="configuring the lb namespace ($mode mode)"
  if [[ $mode == router ]]; then
    ip -n "$lb" addr add "$CLIENT_NET.1/24" dev lbc
    ip -n "$lb" addr add "$BACKEND_NET.1/24" dev lbb
    ip netns exec "$lb" sysctl -q -w net.ipv4.ip_forward=1 >/dev/null
  elif [[ $mode == shared ]]; then
    # Host sharing (issue 11): the kernel keeps lbc and lbb with the host's addresses, as on
    # an edge node whose NIC also carries its BGP and SSH; Fulcrum's XDP program takes only
    # its own traffic off them. No management port: health checks leave from lbb's address.
    ip netns exec "$lb" sysctl -q -w net.ipv4.ip_forward=0 >/dev/null
    no_offloads "$cli" cl0 tx off tso off gso off gro off
    no_offloads "$lb" lbc tx off tso off gso off gro off
    no_offloads "$lb" lbb tx off tso off gso off gro off
    ip -n "$lb" addr add "$CLIENT_NET.1/24" dev lbc
    ip -n "$lb" addr add "$BACKEND_NET.1/24" dev lbb
  else
    ip netns exec "$lb" sysctl -q -w net.ipv4.ip_forward=0 >/dev/null
    no_offloads "$cli" cl0 tx off tso off gso off gro off
    no_offloads "$lb" lbc gro off
    no_offloads "$lb" lbb gro off
    # lbc/lbb belong to DPDK: the kernel must never answer ARP on them with their MACs.
    ip -n "$lb" link set lbc arp off
    ip -n "$lb" link set lbb arp off
    # The balancer host's own management port on the backend network, as on a real node:
    # the control plane's health checks leave through the kernel, not through DPDK.
    ip -n "$lb" link add lbm type veth peer name swlbm netns "$sw"
    ip -n "$sw" link set swlbm master br0 up
    ip -n "$lb" addr add "$BACKEND_NET.2/24" dev lbm
    if ((ipv6)); then
      # IPv6 on the management port alone (the control plane's health checks of IPv6
      # backends leave from it); DPDK's lbc/lbb stay without it.
      ip netns exec "$lb" sysctl -q -w net.ipv6.conf.lbm.disable_ipv6=0 net.ipv6.conf.lbm.accept_dad=0 \
        net.ipv6.conf.lbm.accept_ra=0 >/dev/null
      ip -n "$lb" addr add "$BACKEND_NET6::2/64" dev lbm nodad
    fi
    ip -n "$lb" link set lbm up
  fi
  ip -n "$lb" link set lbc up
  ip -n "$lb" link set lbb up

  STEP="configuring backends"
  truncate -s "$BIG_SIZE" "$run/big"   # sparse: 16 MiB of zeros that costs no disk
  for ((i = 1; i <= backends; i++)); do
    ns=$(backend_ns "$prefix" "$i")
    ip -n "$ns" addr add "$(backend_ip "$prefix" "$i")/24" dev bk0
    ip -n "$ns" link set bk0 up
    ip -n "$ns" route add default via "$BACKEND_NET.1"
    if ((ipv6)); then
      ip -n "$ns" addr add "$(backend_ip6 "$prefix" "$i")/64" dev bk0 nodad
      # nat replies go back through the balancer: its backend port is the default router.
      ip -n "$ns" -6 route add default via "$BACKEND_NET6::1"
    fi
    if [[ $mode != router ]]; then no_offloads "$ns" bk0 tx off tso off gso off gro off; fi
  done

  STEP="starting nginx on the backends"
  for ((i = 1; i <= backends; i++)); do
    write_nginx_conf "$prefix" "$i"
    nginx_start "$prefix" "$i"
  done

  STEP="describing the topology"
  {
    echo "PREFIX=$prefix"
    echo "RUN_DIR=$run"
    echo "MODE=$mode"
    echo "LB_QUEUES=$queues"
    echo "CLIENT_NS=$cli"
    echo "LB_NS=$lb"
    echo "SWITCH_NS=$sw"
    echo "CLIENT_IF=cl0"
    echo "CLIENT_IP=$CLIENT_NET.2"
    echo "CLIENT_MAC=$(mac_of "$cli" cl0)"
    echo "LB_CLIENT_IF=lbc"
    echo "LB_BACKEND_IF=lbb"
    echo "LB_CLIENT_IP=$CLIENT_NET.1"
    echo "LB_BACKEND_IP=$BACKEND_NET.1"
    echo "LB_CLIENT_MAC=$(mac_of "$lb" lbc)"
    echo "LB_BACKEND_MAC=$(mac_of "$lb" lbb)"
    if [[ $mode == dpdk ]]; then
      echo "MGMT_IF=lbm"
      echo "MGMT_IP=$BACKEND_NET.2"
      ((ipv6)) && echo "MGMT_IP6=$BACKEND_NET6::2"
    fi
    if ((ipv6)); then
      echo "IPV6=1"
      echo "CLIENT_IP6=$CLIENT_NET6::2"
      echo "LB_CLIENT_IP6=$CLIENT_NET6::1"
      echo "LB_BACKEND_IP6=$BACKEND_NET6::1"
    fi
    echo "BACKENDS=$backends"
    for ((i = 1; i <= backends; i++)); do
      ns=$(backend_ns "$prefix" "$i")
      echo "BACKEND_NS_$i=$ns"
      echo "BACKEND_IP_$i=$(backend_ip "$prefix" "$i")"
      ((ipv6)) && echo "BACKEND_IP6_$i=$(backend_ip6 "$prefix" "$i")"
      echo "BACKEND_NAME_$i=b$i"
      echo "BACKEND_MAC_$i=$(mac_of "$ns" bk0)"
    done
    echo "BIG_PATH=/big"
    echo "BIG_SIZE=$BIG_SIZE"
  } >"$run/topology.env"
  UP_DONE=1
  trap - EXIT INT TERM HUP
  cat "$run/topology.env" >&3
}

# --------------------------------------------------------------------------- site mode
# Two balancer nodes behind a router (issue 12, tests/bgp/):
#
#   cli(cl0 198.18.1.2) ── rtc [rt: router, BIRD, ECMP] rta ── lbc [lb: node A] lbb ──┐
#                                                      rtb ── lbc [lb2: node B] lbb ─┴─ [sw: br0] ── backends
#
# Each node's lbc/lbb are DPDK's (dpdk mode's settings: no addresses, arp off, GRO off); the
# nodes' own addresses go on their data planes' tap exception interfaces once those exist
# (the test does it: flc 10.201.N.2, flb 198.18.2.1 for A and 198.18.2.3 for B).
# nat needs each reply to reach the node that forwarded its connection. Backends return a
# connection's packets to the node its latest packet came from: conntrack marks it by the
# frame's source MAC (A's or B's lbb) and the mark selects the routing table (gateway
# 198.18.2.1 or .3); so a connection the router moves from A to B is answered through B.
do_up_site() {
  local prefix=$1 backends=$2 run="$RUN_ROOT/$1" i ns
  local cli="$prefix-cli" rt="$prefix-rt" a="$prefix-lb" b="$prefix-lb2" sw="$prefix-sw"
  begin_up "$prefix"
  STEP="creating namespaces"
  for ns in "$cli" "$rt" "$a" "$b" "$sw"; do add_ns "$ns"; done
  for ((i = 1; i <= backends; i++)); do add_ns "$(backend_ns "$prefix" "$i")"; done

  STEP="wiring the router"
  ip -n "$rt" link add rtc type veth peer name cl0 netns "$cli"
  ip -n "$rt" link add rta type veth peer name lbc netns "$a"
  ip -n "$rt" link add rtb type veth peer name lbc netns "$b"
  ip -n "$rt" addr add "$CLIENT_NET.1/24" dev rtc
  ip -n "$rt" addr add 10.201.1.1/24 dev rta
  ip -n "$rt" addr add 10.201.2.1/24 dev rtb
  for i in rtc rta rtb; do ip -n "$rt" link set "$i" up; done
  ip netns exec "$rt" sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1 >/dev/null
  ip -n "$cli" addr add "$CLIENT_NET.2/24" dev cl0
  ip -n "$cli" link set cl0 up
  ip -n "$cli" route add default via "$CLIENT_NET.1"
  no_offloads "$cli" cl0 tx off tso off gso off gro off
  no_offloads "$rt" rta tx off tso off gso off gro off
  no_offloads "$rt" rtb tx off tso off gso off gro off

  STEP="wiring the switch and backends"
  ip -n "$sw" link add br0 type bridge stp_state 0 mcast_snooping 0
  ip -n "$a" link add lbb type veth peer name swlb netns "$sw"
  ip -n "$b" link add lbb type veth peer name swlb2 netns "$sw"
  ip -n "$sw" link set swlb master br0 up
  ip -n "$sw" link set swlb2 master br0 up
  for ((i = 1; i <= backends; i++)); do
    ip -n "$sw" link add "swb$i" type veth peer name bk0 netns "$(backend_ns "$prefix" "$i")"
    ip -n "$sw" link set "swb$i" master br0 up
  done
  ip -n "$sw" link set br0 up

  STEP="configuring the nodes"
  for ns in "$a" "$b"; do
    ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=0 net.ipv4.conf.all.rp_filter=1 >/dev/null
    no_offloads "$ns" lbc gro off
    no_offloads "$ns" lbb gro off
    ip -n "$ns" link set lbc arp off
    ip -n "$ns" link set lbb arp off
    ip -n "$ns" link set lbc up
    ip -n "$ns" link set lbb up
  done
  local mac_a mac_b
  mac_a=$(mac_of "$a" lbb)
  mac_b=$(mac_of "$b" lbb)

  STEP="configuring backends"
  truncate -s "$BIG_SIZE" "$run/big"
  for ((i = 1; i <= backends; i++)); do
    ns=$(backend_ns "$prefix" "$i")
    ip -n "$ns" addr add "$(backend_ip "$prefix" "$i")/24" dev bk0
    ip -n "$ns" link set bk0 up
    no_offloads "$ns" bk0 tx off tso off gso off gro off
    ip -n "$ns" route add default via "$BACKEND_NET.1"
    ip -n "$ns" route add default via "$BACKEND_NET.1" table 101
    ip -n "$ns" route add default via "$BACKEND_NET.3" table 102
    ip -n "$ns" rule add fwmark 1 lookup 101
    ip -n "$ns" rule add fwmark 2 lookup 102
    printf '%s\n' "table ip fulcrum_site {" \
      "  chain pre { type filter hook prerouting priority 0; ether saddr $mac_a ct mark set 1; ether saddr $mac_b ct mark set 2; }" \
      "  chain out { type route hook output priority 0; meta mark set ct mark; }" "}" | ip netns exec "$ns" nft -f -
    write_nginx_conf "$prefix" "$i"
    nginx_start "$prefix" "$i"
  done

  STEP="describing the topology"
  {
    echo "PREFIX=$prefix"
    echo "RUN_DIR=$run"
    echo "MODE=site"
    echo "CLIENT_NS=$cli"
    echo "ROUTER_NS=$rt"
    echo "LB_NS=$a"
    echo "LB2_NS=$b"
    echo "SWITCH_NS=$sw"
    echo "CLIENT_IP=$CLIENT_NET.2"
    echo "LB_BACKEND_MAC=$mac_a"
    echo "LB2_BACKEND_MAC=$mac_b"
    echo "BACKENDS=$backends"
    for ((i = 1; i <= backends; i++)); do
      echo "BACKEND_NS_$i=$(backend_ns "$prefix" "$i")"
      echo "BACKEND_IP_$i=$(backend_ip "$prefix" "$i")"
      echo "BACKEND_NAME_$i=b$i"
    done
    echo "BIG_PATH=/big"
    echo "BIG_SIZE=$BIG_SIZE"
  } >"$run/topology.env"
  UP_DONE=1
  trap - EXIT INT TERM HUP
  cat "$run/topology.env" >&3
}

cmd_up() {
  local prefix=${1:-} backends=3 mode=router queues=1 ipv6=0
  check_prefix "$prefix"
  shift
  while [[ $# -gt 0 ]]; do
    case $1 in
      --backends) backends=${2:?--backends needs a value}; shift 2 ;;
      --mode) mode=${2:?--mode needs a value}; shift 2 ;;
      --lb-queues) queues=${2:?--lb-queues needs a value}; shift 2 ;;
      --ipv6) ipv6=1; shift ;;
      *) die "up: unknown option '$1'" ;;
    esac
  done
  in_range "$backends" 1 240 || die "--backends must be 1..240 (got '$backends')"
  [[ $mode == router || $mode == dpdk || $mode == shared || $mode == site ]] ||
    die "--mode must be router, dpdk, shared or site (got '$mode')"
  in_range "$queues" 1 64 || die "--lb-queues must be 1..64 (got '$queues')"
  [[ $ipv6 -eq 0 || $mode == dpdk ]] || die "--ipv6 is for --mode dpdk only"
  [[ $(id -u) -eq 0 ]] || die "must run as root"
  local tool
  for tool in ip nginx sysctl truncate flock pgrep; do command -v "$tool" >/dev/null || die "$tool not found"; done
  [[ $mode == router ]] || command -v ethtool >/dev/null || die "ethtool not found (needed by --mode $mode)"
  [[ $mode != site ]] || command -v nft >/dev/null || die "nft not found (needed by --mode site)"
  # Only the final KEY=VALUE block reaches stdout; chatter from ip/ethtool goes to stderr.
  exec 3>&1 1>&2
  if [[ $mode == site ]]; then
    do_up_site "$prefix" "$backends"
  else
    do_up "$prefix" "$backends" "$mode" "$queues" "$ipv6"
  fi
}

# ----------------------------------------------------------------------- reap and watch

cmd_reap() {
  local -A dead=()
  local name pid
  while read -r name; do
    [[ $name =~ ^(fl([0-9]+)x[0-9a-f]{4})- ]] || continue
    pid=${BASH_REMATCH[2]}
    pid_alive "$pid" || dead[${BASH_REMATCH[1]}]=1
  done < <(ip netns list 2>/dev/null | awk '{ print $1 }')
  # Run directories of owners that died before creating (or after removing) namespaces.
  for name in "$RUN_ROOT"/fl*; do
    name=${name##*/}
    name=${name%.lock}
    [[ $name =~ $PREFIX_RE ]] || continue
    pid_alive "${BASH_REMATCH[1]}" || dead[$name]=1
  done
  # Daemons (nginx) of dead runs that sit in a namespace nobody can name any more.
  local line
  while read -r line; do
    [[ $line =~ $RUN_ROOT/(fl([0-9]+)x[0-9a-f]{4})/ ]] || continue
    pid_alive "${BASH_REMATCH[2]}" || dead[${BASH_REMATCH[1]}]=1
  done < <(pgrep -a -f -- "$RUN_ROOT/fl" || true)
  for name in "${!dead[@]}"; do
    log "reaping $name (owner process is gone)"
    do_down "$name" || true
  done
}

# Blocks until PID exits, then tears PREFIX down. SIGTERM stops the watch without a teardown
# (the owner already did it). The owner's start time guards against PID reuse.
cmd_watch() {
  local prefix=${1:-} pid=${2:-} start sleeper=""
  check_prefix "$prefix"
  [[ $pid =~ ^[0-9]+$ ]] || die "watch: PID must be a number"
  read_stat "$pid" && start=${STAT[19]} || start=""
  trap '[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null; exit 0' TERM INT HUP
  while pid_alive "$pid" && [[ ${STAT[19]} == "$start" ]]; do
    # `wait` on a background sleep returns at once when a trapped signal arrives.
    sleep 0.25 &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
  done
  do_down "$prefix"
}

# ------------------------------------------------------------------------------------ main

backend_index() {
  in_range "${1:-}" 1 240 || die "backend index must be 1..240, 1-based (got '${1:-}')"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down) check_prefix "${1:-}"; do_down "$1" ;;
    reap) cmd_reap ;;
    watch) cmd_watch "$@" ;;
    nginx-stop) check_prefix "${1:-}"; backend_index "${2:-}"; nginx_stop "$1" "$2" ;;
    nginx-start) check_prefix "${1:-}"; backend_index "${2:-}"; nginx_start "$1" "$2" ;;
    *) die "usage: topology.sh up PREFIX [--backends N] [--mode router|dpdk|shared|site] [--lb-queues Q] [--ipv6]
       topology.sh down PREFIX | reap | watch PREFIX PID
       topology.sh nginx-stop PREFIX I | nginx-start PREFIX I" ;;
  esac
}

main "$@"
