#!/usr/bin/env python3
"""Draws docs/benchmarks/*.png from scripts/bench.sh's JSON (called by it; Debian's
python3-matplotlib). Each chart shows what one table of docs/benchmarks.md shows:
  memif_mpps.png    packets/s through memif vs flows: Fulcrum (established uniform and Zipf,
                    SYN), testpmd io and mac forwarding on the same rig
  cycles.png        cycles per packet by case: lb-bench (harness subtracted), memif (the
                    worker's busy cycles), testpmd
  cps.png           full TCP connections per second through memif vs flows
  e2e.png           the veth end-to-end peers side by side (keep-alive and new connections)
Usage: plot_benchmarks.py BENCH_JSON OUT_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def flows_label(f):
    return f"{f // 1000000}M" if f >= 1000000 else f"{f // 1000}k" if f >= 1000 else str(f)


def memif_mpps(memif, out):
    rows = memif["fulcrum"]
    x = [r["flows"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(x, [r["established_mpps"] for r in rows], "o-", label="Fulcrum, established (uniform)")
    ax.plot(x, [r["zipf_mpps"] for r in rows], "s-", label="Fulcrum, established (Zipf 0.99)")
    ax.plot(x, [r["syn_mpps"] for r in rows], "^-", label="Fulcrum, SYNs of new flows")
    tp = memif["testpmd"]
    ax.axhline(tp["io_mpps"], color="grey", ls="--", label="testpmd io (same rig)")
    ax.axhline(tp["mac_mpps"], color="black", ls=":", label="testpmd mac (same rig)")
    ax.axhline(14.88, color="red", lw=0.8, label="10 GbE line rate, 64 B")
    ax.set_xscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels([flows_label(f) for f in x])
    ax.set_xlabel("concurrent flows")
    ax.set_ylabel("Mpps received by the generator")
    ax.set_title("memif, one worker core, 64-byte frames")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "memif_mpps.png"), dpi=110)
    plt.close(fig)


def cycles(d, out):
    labels, vals, colors = [], [], []
    dp = d.get("dataplane", {})
    base = {r["flows"]: r["cycles_per_packet"] for r in dp.get("results", []) if r["case"] == "baseline"}
    for r in dp.get("results", []):
        if r["case"] in ("established", "syn"):
            labels.append(f"lb-bench {r['case']} {flows_labels(r['flows'])}")
            vals.append(r["cycles_per_packet"] - base.get(r["flows"], 0))
            colors.append("tab:blue")
    memif = d.get("memif")
    if memif:
        for r in memif["fulcrum"]:
            for key, name in (("established_cycles", "established"), ("syn_cycles", "SYN"), ("cps_cycles", "conn.")):
                if r.get(key):
                    labels.append(f"memif {name} {flows_labels(r['flows'])}")
                    vals.append(r[key])
                    colors.append("tab:orange")
        for mode in ("io", "mac"):
            v = memif["testpmd"].get(f"{mode}_cycles_per_packet", 0)
            if v:
                labels.append(f"testpmd {mode}")
                vals.append(v)
                colors.append("tab:grey")
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(labels) + 1.2))
    ax.barh(range(len(vals)), vals, color=colors)
    ax.set_yticks(range(len(vals)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.0f}", va="center", fontsize=7)
    ax.set_xlabel("cycles per packet (lb-bench: harness subtracted; memif: the worker's busy cycles)")
    ax.set_title("Cost per packet on one core")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cycles.png"), dpi=110)
    plt.close(fig)


def flows_labels(f):
    return flows_label(f)


def cps(memif, out):
    rows = memif["fulcrum"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.bar([flows_label(r["flows"]) for r in rows], [r["cps"] / 1e6 for r in rows], color="tab:green")
    ax.axhline(1.0, color="red", lw=0.8, label="goal: 1M connections/s per core")
    ax.set_xlabel("established flows in the table")
    ax.set_ylabel("million connections/s (7 frames each)")
    ax.set_title("Full TCP connections through memif, one worker core")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cps.png"), dpi=110)
    plt.close(fig)


def e2e(d, out):
    rows = [r for r in d.get("e2e", []) if "keepalive_rps" in r]
    names = [r["path"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    w = 0.4
    xs = range(len(rows))
    ax.bar([x - w / 2 for x in xs], [r["keepalive_rps"] / 1000 for r in rows], w, label="keep-alive requests/s")
    ax.bar([x + w / 2 for x in xs], [r["new_conn_per_s"] / 1000 for r in rows], w, label="new connections/s")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names)
    ax.set_ylabel("thousands per second")
    missing = [r["path"] for r in d.get("e2e", []) if "unavailable" in r]
    title = "End to end on veth (wrk, 3 nginx backends)"
    if missing:
        title += f"; not run here: {', '.join(missing)}"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "e2e.png"), dpi=110)
    plt.close(fig)


def main():
    d = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if d.get("memif"):
        memif_mpps(d["memif"], out)
        cps(d["memif"], out)
    cycles(d, out)
    if d.get("e2e"):
        e2e(d, out)


if __name__ == "__main__":
    main()
