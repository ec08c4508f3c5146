#!/usr/bin/env python3
"""The memif benchmark matrix (called by scripts/bench.sh): lb-dataplane on one worker core
between lb-loadgen's memif links, for each flow count; then dpdk-testpmd (io and mac
forwarding) on the same links and cores, the limit of the rig.

Each Fulcrum run is one lb-dataplane start (its table sized for the flow count) and one
lb-loadgen run: open F flows, established ACKs both ways (uniform and Zipf), SYNs of new
flows, full conversations. testpmd runs (io, mac) follow each Fulcrum run, and the whole
round is repeated (--reps): rows hold medians, and every Fulcrum/testpmd ratio is the median
of ratios of runs a few seconds apart on this shared machine.

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


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return 0
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--flows", default="1000,100000,1000000,8000000")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=3, help="Fulcrum, testpmd io, testpmd mac: this many rounds per flow count")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    flows = [int(f) for f in a.flows.split(",")]
    fulcrum, testpmd_runs, raw = [], [], []
    keys = {"established_mpps": ("established", "uniform", "mpps"), "syn_mpps": ("syn", "new", "mpps"),
            "cps": ("connections", "new", "per_second"), "loss": ("established", "uniform", "loss"),
            "p50_us": ("established", "uniform", "p50_us"), "p99_us": ("established", "uniform", "p99_us"),
            "zipf_mpps": ("established", "zipf", "mpps"), "zipf_loss": ("established", "zipf", "loss"),
            "syn_loss": ("syn", "new", "loss"), "cps_loss": ("connections", "new", "loss"),
            "established_cycles": ("established", "uniform", "lb_cycles_per_packet"),
            "zipf_cycles": ("established", "zipf", "lb_cycles_per_packet"),
            "syn_cycles": ("syn", "new", "lb_cycles_per_packet"),
            "cps_cycles": ("connections", "new", "lb_cycles_per_packet"),
            "established_busy": ("established", "uniform", "lb_busy"), "syn_busy": ("syn", "new", "lb_busy"),
            "cps_busy": ("connections", "new", "lb_busy")}
    for f in flows:
        reps = []
        tp = {"io": [], "mac": []}
        for rep in range(a.reps):
            # Each round: Fulcrum, then testpmd io and mac, on the same links a few seconds apart.
            print(f"==> memif: Fulcrum, {f:,} flows (round {rep + 1} of {a.reps})", file=sys.stderr)
            run = rig("fulcrum", a.build, f, a.seconds)
            raw.append({"peer": "fulcrum", "flows": f, "round": rep, "run": run})
            reps.append(run)
            for mode in ("io", "mac"):
                print(f"==> memif: testpmd {mode}, {f:,} flows (round {rep + 1})", file=sys.stderr)
                t = rig("testpmd-" + mode, a.build, f, a.seconds, extra=["--dist", "uniform"])
                raw.append({"peer": "testpmd-" + mode, "flows": f, "round": rep, "run": t})
                fw = case(t, "forward", "uniform")
                r = {"mode": mode, "flows": f, "round": rep, "mpps": fw.get("mpps", 0), "loss": fw.get("loss", 1),
                     "cycles_per_packet": (t or {}).get("testpmd_cycles_per_packet", 0)}
                testpmd_runs.append(r)
                tp[mode].append(r)
        row = {"flows": f, "rounds": a.reps}
        for k, (c, d, field) in keys.items():
            row[k] = median([case(run, c, d).get(field) for run in reps])
        row["bad_frames"] = sum((run or {}).get("bad_total", 1) for run in reps)
        # testpmd on the same rounds: the ratios compare figures measured minutes apart at most.
        for mode in ("io", "mac"):
            row[f"testpmd_{mode}_mpps"] = median([r["mpps"] for r in tp[mode]])
            row[f"testpmd_{mode}_cycles"] = median([r["cycles_per_packet"] for r in tp[mode]])
        row["ratio_established_io"] = median([case(run, "established", "uniform").get("mpps", 0) / r["mpps"]
                                              for run, r in zip(reps, tp["io"]) if r["mpps"]])
        row["ratio_cycles_io"] = median([r["cycles_per_packet"] / case(run, "established", "uniform").get("lb_cycles_per_packet", 0)
                                         for run, r in zip(reps, tp["io"])
                                         if case(run, "established", "uniform").get("lb_cycles_per_packet")])
        fulcrum.append(row)

    def med(mode, key):
        return median([r[key] for r in testpmd_runs if r["mode"] == mode and r["mpps"] > 0])
    out = {
        "flows": flows,
        "fulcrum": fulcrum,
        "testpmd": {"io_mpps": med("io", "mpps"), "mac_mpps": med("mac", "mpps"),
                    "io_cycles_per_packet": med("io", "cycles_per_packet"),
                    "mac_cycles_per_packet": med("mac", "cycles_per_packet"), "runs": testpmd_runs},
        "rounds": a.reps,
        "tsc_ghz": next((r["run"]["tsc_ghz"] for r in raw if r["run"]), 0),
        "raw": raw,
    }
    json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
