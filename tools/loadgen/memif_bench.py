#!/usr/bin/env python3
"""The memif benchmark matrix (called by scripts/bench.sh): lb-dataplane on one worker core
between lb-loadgen's memif links, for each flow count; then dpdk-testpmd (io and mac
forwarding) on the same links and cores, the limit of the rig.

Each Fulcrum run is one lb-dataplane start (its table sized for the flow count) and one
lb-loadgen run: open F flows, established ACKs both ways (uniform and Zipf), SYNs of new
flows, full conversations. testpmd runs follow each Fulcrum run with the same flows, so that
every ratio compares figures measured a minute apart on this shared machine.

Writes the "memif" object of bench.sh's JSON to --out.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def rig(peer, build, flows, seconds, cases=None, extra=()):
    cmd = [os.path.join(HERE, "memif_rig.sh"), peer, "--build", build, "--flows", str(flows), "--hugepages", "--priority", "--",
           "--seconds", str(seconds)]
    if cases:
        cmd += ["--cases", cases]
    cmd += list(extra)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=900)
    if proc.returncode != 0:
        print(f"memif_bench: {peer} with {flows} flows failed ({proc.returncode})", file=sys.stderr)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None


def case(run, name, dist):
    for c in (run or {}).get("cases", []):
        if c["case"] == name and c["dist"] == dist:
            return c
    return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--flows", default="1000,100000,1000000,8000000")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    flows = [int(f) for f in a.flows.split(",")]
    fulcrum, testpmd_runs, raw = [], [], []
    for f in flows:
        print(f"==> memif: Fulcrum, {f:,} flows", file=sys.stderr)
        run = rig("fulcrum", a.build, f, a.seconds)
        raw.append({"peer": "fulcrum", "flows": f, "run": run})
        est, zipf = case(run, "established", "uniform"), case(run, "established", "zipf")
        syn, conn = case(run, "syn", "new"), case(run, "connections", "new")
        fulcrum.append({
            "flows": f,
            "established_mpps": est.get("mpps", 0), "syn_mpps": syn.get("mpps", 0), "cps": conn.get("per_second", 0),
            "loss": est.get("loss", 1), "p50_us": est.get("p50_us", 0), "p99_us": est.get("p99_us", 0),
            "zipf_mpps": zipf.get("mpps", 0), "zipf_loss": zipf.get("loss", 1),
            "syn_loss": syn.get("loss", 1), "cps_loss": conn.get("loss", 1),
            "established_cycles": est.get("lb_cycles_per_packet", 0), "zipf_cycles": zipf.get("lb_cycles_per_packet", 0),
            "syn_cycles": syn.get("lb_cycles_per_packet", 0), "cps_cycles": conn.get("lb_cycles_per_packet", 0),
            "established_busy": est.get("lb_busy", 0), "syn_busy": syn.get("lb_busy", 0), "cps_busy": conn.get("lb_busy", 0),
            "bad_frames": (run or {}).get("bad_total", -1),
        })
        for mode in ("io", "mac"):
            print(f"==> memif: testpmd {mode}, {f:,} flows", file=sys.stderr)
            t = rig("testpmd-" + mode, a.build, f, a.seconds, extra=["--dist", "uniform"])
            raw.append({"peer": "testpmd-" + mode, "flows": f, "run": t})
            fw = case(t, "forward", "uniform")
            testpmd_runs.append({"mode": mode, "flows": f, "mpps": fw.get("mpps", 0), "loss": fw.get("loss", 1),
                                 "cycles_per_packet": (t or {}).get("testpmd_cycles_per_packet", 0)})
    # The limit of the rig: the best testpmd figure of each mode over the runs (the flow
    # count means nothing to a forwarder that reads no header).
    def best(mode, key):
        vals = [r[key] for r in testpmd_runs if r["mode"] == mode and r["mpps"] > 0]
        return (max(vals) if key == "mpps" else min(vals)) if vals else 0
    out = {
        "flows": flows,
        "fulcrum": fulcrum,
        "testpmd": {"io_mpps": best("io", "mpps"), "mac_mpps": best("mac", "mpps"),
                    "io_cycles_per_packet": best("io", "cycles_per_packet"),
                    "mac_cycles_per_packet": best("mac", "cycles_per_packet"), "runs": testpmd_runs},
        "tsc_ghz": next((r["run"]["tsc_ghz"] for r in raw if r["run"]), 0),
        "raw": raw,
    }
    json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
