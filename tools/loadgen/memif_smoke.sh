#!/usr/bin/env bash
# bench_smoke: lb-loadgen against lb-dataplane over memif, small and checked, so that the
# benchmark's tools cannot rot. 2,000 established flows (opened through the balancer, then
# ACKs both ways), 5,000 SYNs, and exactly 5,000 full conversations (7 frames each); every
# translated frame is checked by lb-loadgen (addresses, ports, checksums, TTL, the backend
# stable per flow), which exits non-zero on any failure; a frame that does not come back must
# be a drop the balancer counted. No hugepages (copying memif).
# Usage: memif_smoke.sh BUILD_DIR
set -euo pipefail
BUILD=${1:?usage: memif_smoke.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (DPDK EAL, memif sockets)"; exit 77; fi
if [ "$(nproc)" -lt 2 ]; then echo "SKIP: needs 2 CPUs (generator and worker)"; exit 77; fi
OUT=$(mktemp /tmp/fulcrum-memif-smoke.XXXXXX)
trap 'rm -f "$OUT"' EXIT
"$HERE/memif_rig.sh" fulcrum --build "$BUILD" --flows 2000 -- --cases established,syn,connections --dist uniform,zipf \
  --seconds 0.3 --syn-flows 5000 --conversations 5000 --slots 1024 --wait 30 >"$OUT"
python3 - "$OUT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cases = {(c["case"], c["dist"]): c for c in d["cases"]}
assert d["bad_total"] == 0, d["bad"]
for key in [("established", "uniform"), ("established", "zipf"), ("syn", "new"), ("connections", "new")]:
    assert key in cases, f"missing case {key}"
    assert cases[key]["received"] > 0, f"{key}: nothing came back"
# Nothing may be lost silently: every frame sent either came back (checked) or is one of the
# balancer's counted drops. On a quiet machine there are none; when other work starves the
# generator's core, the memif ring towards it can fill and the balancer counts tx_full.
conn = cases[("connections", "new")]
assert conn["conversations"] == 5000 and conn["sent"] >= 5000 * 7 - 5 * conn["stalled"], conn
assert conn["received"] + conn["lb_drops"] == conn["sent"], conn
assert conn["stalled"] <= conn["lb_drops"], conn
syn = cases[("syn", "new")]
assert syn["sent"] == 5000 and syn["received"] + syn["lb_drops"] == syn["sent"], syn
print("bench_smoke: %d conversations (%d stalled), %d of %d SYNs, %.2f Mpps established; every frame checked, "
      "%d frames lost, each counted by the balancer" % (
    conn["conversations"], conn["stalled"], syn["received"], syn["sent"], cases[("established", "uniform")]["mpps"],
    conn["lb_drops"] + syn["lb_drops"]))
PY
