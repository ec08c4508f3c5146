#!/usr/bin/env bash
# Installs every build, test, demo and benchmark dependency from Debian's archive.
# Idempotent: when everything is already installed it changes nothing and says so.
set -euo pipefail

PACKAGES=(
  # build
  g++ meson ninja-build pkg-config
  libdpdk-dev libbpf-dev libxdp-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  prometheus-cpp-dev googletest libgtest-dev libgmock-dev
  # test rig, demo and benchmark
  clang llvm bpftool    # Fulcrum's XDP program (clang -target bpf); bpftool to inspect it
  iproute2 iputils-ping procps psmisc util-linux ethtool
  nginx-light curl wrk haproxy nftables tcpdump python3
  # scheduling suite: a backend delayed where tc netem is missing (NFQUEUE, tests/e2e/nfq_delay.cpp)
  iptables libnetfilter-queue-dev
  # install test: man pages render (groff), man -l
  groff-base man-db bsdextrautils
  # attack suite (hostile frames, floods) and fuzzing (libFuzzer with ASan/UBSan)
  python3-scapy tcpreplay hping3 clang libclang-rt-dev
  # memif benchmark (issue 14): dpdk-testpmd (Debian ships it in dpdk-dev, not dpdk), IPVS
  # as a kernel peer, charts, perf for profiling
  dpdk-dev ipvsadm python3-matplotlib linux-perf
  # BGP announcement of VIPs (issue 12): the two-node site test runs BIRD in namespaces
  bird2
)

die() { echo "setup.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages; the tests create network namespaces)"
if ! grep -qsE '^(ID|ID_LIKE)=.*debian' /etc/os-release; then
  die "needs a Debian-like system with apt-get (found: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}"))"
fi
command -v apt-get >/dev/null || die "apt-get not found"

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#PACKAGES[@]} packages already installed"
else
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d keeps the packaged nginx/haproxy/bird services from starting on the host:
  # the tests run their own instances inside network namespaces.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # ... nor at the next boot: a BIRD of its own on the host would speak BGP to whatever it
  # finds. Only when this run installed it: a BIRD the host already ran is left alone.
  if [[ " ${missing[*]} " == *" bird2 "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now bird.service >/dev/null 2>&1 || true
  fi
fi

# AF_XDP ports load their XDP program through libxdp or libbpf, which want a bpffs; Fulcrum's
# XDP steering maps are pinned there (tests mount a private one in their own namespaces).
if [ -d /sys/fs/bpf ] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf && echo "setup.sh: mounted bpffs on /sys/fs/bpf"
fi
