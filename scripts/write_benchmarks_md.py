#!/usr/bin/env python3
"""Writes docs/benchmarks.md from the figures scripts/bench.sh measured (called by it)."""
import json
import platform
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


def version(pkg):
    return sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null") or "?"


def flows_label(f):
    return f"{f // 1000000}M" if f >= 1000000 and f % 1000000 == 0 else f"{f:,}"


def memif_section(w, memif, ghz):
    """The memif benchmark (issue 14): lb-loadgen against lb-dataplane and testpmd."""
    tp = memif["testpmd"]
    rows = memif["fulcrum"]
    w("## Through a real PMD: memif, `lb-loadgen` against `lb-dataplane` and `dpdk-testpmd`")
    w("")
    w("`lb-loadgen` (tools/loadgen/) owns both ends of two `net_memif` links (it is the memif server; the balancer "
      "connects as a zero-copy client on hugepages): on the client link it plays the clients, on the backend link "
      "the backends, and it checks every frame the balancer sends (addresses, ports, both checksums, TTL, the "
      "backend stable per flow; any failure fails the run). It runs on CPU 0, the balancer's one worker on CPU 1. "
      "Per flow count F: F flows are opened through the balancer (SYN, SYN-ACK, ACK), then *established*: ACKs of "
      "those flows in both directions (64-byte frames), flows chosen uniformly or by Zipf (s = 0.99); *SYN*: SYNs of "
      "new flows (each creates an entry); *connections*: full conversations of 7 frames (SYN, SYN-ACK, ACK, a 16-byte "
      "request and answer, FIN both ways), 256 at a time, a new tuple each. At most 512 frames are in flight per "
      "direction, so neither ring overflows: loss is the balancer's own. `dpdk-testpmd` (io and mac forwarding) "
      "then runs on the same links and the same CPU, driven by the same generator: the limit of this rig. "
      "Latency: TSC stamps in the TCP sequence field, at full load (queueing included).")
    w("")
    w("![Mpps through memif](benchmarks/memif_mpps.png)")
    w("")
    w("| flows | established Mpps | Zipf Mpps | worker cycles/packet | worker busy | worker capacity Mpps | SYN Mpps | SYN cycles/packet | connections/s | cycles/packet (connections) | loss | p50 µs | p99 µs |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cap = ghz * 1e3 / r["established_cycles"] if r["established_cycles"] else 0
        w(f"| {r['flows']:,} | {r['established_mpps']:.2f} | {r['zipf_mpps']:.2f} | {r['established_cycles']:.0f} | "
          f"{100 * r['established_busy']:.0f} % | {cap:.1f} | {r['syn_mpps']:.2f} | {r['syn_cycles']:.0f} | "
          f"{r['cps']:,.0f} | {r['cps_cycles']:.0f} | {100 * r['loss']:.3f} % | {r['p50_us']:.1f} | {r['p99_us']:.1f} |")
    w("")
    w("*Worker cycles/packet*: the worker's TSC cycles in loop rounds that received packets, over the packets it "
      "received (`busy_cycles` in the status region; testpmd's `--record-core-cycles` counts the same way). "
      "*Worker capacity*: TSC rate / cycles per packet, what the worker would forward if fed faster.")
    w("")
    w("| testpmd (same links, same CPU) | Mpps | cycles/packet |")
    w("|---|---:|---:|")
    w(f"| io forwarding | {tp['io_mpps']:.2f} | {tp['io_cycles_per_packet']:.0f} |")
    w(f"| mac forwarding | {tp['mac_mpps']:.2f} | {tp['mac_cycles_per_packet']:.0f} |")
    w("")
    w("Fulcrum / testpmd, per case (Mpps as received by the generator; cycles per packet, testpmd / Fulcrum, "
      "i.e. the share of testpmd's speed the balancer keeps with its own work added):")
    w("")
    w("| flows | established / io (Mpps) | established / mac (Mpps) | Zipf / io (Mpps) | SYN / io (Mpps) | io / established (cycles) | io / SYN (cycles) |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    def rt(a, b):
        return f"{a / b:.2f}" if a and b else "–"
    for r in rows:
        w(f"| {r['flows']:,} | {rt(r['established_mpps'], tp['io_mpps'])} | {rt(r['established_mpps'], tp['mac_mpps'])} | "
          f"{rt(r['zipf_mpps'], tp['io_mpps'])} | {rt(r['syn_mpps'], tp['io_mpps'])} | "
          f"{rt(tp['io_cycles_per_packet'], r['established_cycles'])} | {rt(tp['io_cycles_per_packet'], r['syn_cycles'])} |")
    w("")
    w("![cycles per packet](benchmarks/cycles.png) ![connections per second](benchmarks/cps.png)")
    w("")
    by = {r["flows"]: r for r in rows}
    one_k = by.get(1000) or rows[0]
    w("Goals of the memif issue, measured (one worker core, 64-byte frames):")
    w("")
    cap_1k = ghz * 1e3 / one_k["established_cycles"] if one_k["established_cycles"] else 0
    w(f"- established flows >= 14.88 Mpps at 1,000 flows: {one_k['established_mpps']:.2f} Mpps received "
      f"({'met' if one_k['established_mpps'] >= 14.88 else 'not met'}); the worker's capacity at its measured "
      f"{one_k['established_cycles']:.0f} cycles/packet is {cap_1k:.1f} Mpps "
      f"({'met' if cap_1k >= 14.88 else 'not met'} as capacity).")
    ratio = one_k["established_mpps"] / tp["io_mpps"] if tp["io_mpps"] else 0
    cyc = tp["io_cycles_per_packet"] / one_k["established_cycles"] if one_k["established_cycles"] else 0
    w(f"- >= 60 % of testpmd io forwarding: {100 * ratio:.0f} % in Mpps, {100 * cyc:.0f} % in cycles per packet "
      f"({'met' if ratio >= 0.6 else 'not met'} / {'met' if cyc >= 0.6 else 'not met'}).")
    if 1000000 in by:
        m = by[1000000]
        drop = 1 - m["established_mpps"] / one_k["established_mpps"] if one_k["established_mpps"] else 0
        cdrop = m["established_cycles"] / one_k["established_cycles"] - 1 if one_k["established_cycles"] else 0
        w(f"- 1,000,000 flows within 20 % of 1,000: {100 * drop:.0f} % fewer Mpps, {100 * cdrop:.0f} % more cycles per "
          f"packet ({'met' if drop <= 0.2 else 'not met'} / {'met' if cdrop <= 0.25 else 'not met'}).")
    for r in rows:
        if r["flows"] in (1000, 1000000) and r["established_cycles"]:
            x = r["syn_cycles"] / r["established_cycles"]
            w(f"- SYN path <= 1.5x the established path in cycles ({r['flows']:,} flows, the worker's cycles): "
              f"{x:.2f}x ({'met' if x <= 1.5 else 'not met'}).")
    best = max(rows, key=lambda r: r["cps"])
    w(f"- full TCP connections >= 1M/s per core: {one_k['cps']:,.0f}/s at 1,000 flows, at most {best['cps']:,.0f}/s "
      f"({'met' if best['cps'] >= 1e6 else 'not met'}); the worker's cost, {one_k['cps_cycles']:.0f} cycles per "
      f"frame x 7 frames, allows {ghz * 1e9 / (7 * one_k['cps_cycles']) if one_k['cps_cycles'] else 0:,.0f}/s.")
    w("")


def main():
    (out, maglev_path, dataplane_path, duration, f_keep, f_new, fa_keep, fa_new, n_keep, n_new,
     h_keep, h_new, d_keep, d_new, f_idle, fa_idle) = sys.argv[1:17]
    extra = json.load(open(sys.argv[17])) if len(sys.argv) > 17 else {}
    maglev = json.load(open(maglev_path))
    dp = json.load(open(dataplane_path))
    f_keep, f_new, fa_keep, fa_new = map(float, (f_keep, f_new, fa_keep, fa_new))
    peers = {"nftables": (float(n_keep), float(n_new)), "haproxy": (float(h_keep), float(h_new)),
             "direct": (float(d_keep), float(d_new))}
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
    lines = []
    w = lines.append
    w("# Benchmarks")
    w("")
    w("Written by `scripts/bench.sh` (release build); rerun it to refresh every figure on this page.")
    w("")
    w("## Machine and versions")
    w("")
    w(f"- CPU: {cpu}, {sh('nproc')} cores, TSC {dp['ghz']:.2f} GHz; kernel {platform.release()}; {sh('. /etc/os-release; echo $PRETTY_NAME')}")
    w(f"- DPDK {version('libdpdk-dev')}, nginx-light {version('nginx-light')}, HAProxy {version('haproxy')}, "
      f"nftables {version('nftables')}, wrk {version('wrk')}, g++ {sh('g++ -dumpfullversion')}")
    w("")
    w("## Data plane on one core: `lb-bench dataplane`")
    w("")
    w("The real burst function (`Worker::process_burst`) on synthetic 64-byte TCP packets over F flows "
      "in random order, on one pinned core"
      + (" with hugepages" if dp.get("hugepages") else " without hugepages") +
      ". The harness allocates 32 mbufs, writes the frames, calls the function and frees the mbufs; "
      "`baseline` is that harness with a trivial forward, so the data plane's own cost is the difference. "
      "`established`: ACKs of established nat flows; `syn`: SYNs of new flows (each creates an entry).")
    w("")
    w("| case | flows | Mpps | cycles/packet | cycles/packet minus baseline |")
    w("|---|---:|---:|---:|---:|")
    base = {r["flows"]: r["cycles_per_packet"] for r in dp["results"] if r["case"] == "baseline"}
    for r in dp["results"]:
        w(f"| {r['case']} | {r['flows']:,} | {r['mpps']:.2f} | {r['cycles_per_packet']:.1f} | "
          f"{r['cycles_per_packet'] - base[r['flows']]:.1f} |")
    est = {r["flows"]: r for r in dp["results"] if r["case"] == "established"}
    syn = {r["flows"]: r for r in dp["results"] if r["case"] == "syn"}
    w("")
    w("Goals of the data-plane issue, measured:")
    w("")
    e1k, e1m = est[1000], est[1000000]
    w(f"- established flows at 10 GbE line rate (14.88 Mpps of 64-byte frames) on one core: "
      f"{e1k['mpps']:.2f} Mpps with 1,000 flows, {e1m['mpps']:.2f} Mpps with 1,000,000 "
      f"({'met' if e1k['mpps'] >= 14.88 else 'not met'} / {'met' if e1m['mpps'] >= 14.88 else 'not met'}).")
    for f in (1000, 1000000):
        ratio = (syn[f]["cycles_per_packet"] - base[f]) / (est[f]["cycles_per_packet"] - base[f])
        w(f"- SYN path at most 1.5x the established path ({f:,} flows, harness excluded): {ratio:.2f}x "
          f"({'met' if ratio <= 1.5 else 'not met'}).")
    drop = 1 - e1m["mpps"] / e1k["mpps"]
    w(f"- 1,000,000 flows within 20 % of 1,000 flows: {100 * drop:.0f} % slower "
      f"({'met' if drop <= 0.2 else 'not met'}).")
    if dp.get("scaling"):
        s = dp["scaling"]
        w(f"- Multi-core (one shared table, 1,000,000 established flows, each worker sending packets of all flows): "
          + ", ".join(f"{x['workers']} worker(s) {x['mpps']:.2f} Mpps" for x in s)
          + f" ({s[-1]['mpps'] / s[0]['mpps']:.2f}x with {s[-1]['workers']} workers on this {sh('nproc')}-core machine).")
    w("")
    if extra.get("memif"):
        memif_section(w, extra["memif"], dp["ghz"])
    w("## Maglev: `lb-bench maglev`")
    w("")
    w("| M | N | build ms (median of 9) | ratio to the paper | max slots | min slots | remove one: changed | add one: changed |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in maglev:
        paper = 1.8 if m["table_size"] == 65537 else 22.9
        w(f"| {m['table_size']:,} | {m['backends']:,} | {m['build_ms']:.2f} | {m['build_ms'] / paper:.2f} | "
          f"{m['max_slots']} | {m['min_slots']} | {m['remove1_changed_fraction']:.4f} "
          f"({m['remove1_changed_fraction'] * m['backends']:.2f}/N) | {m['add1_changed_fraction']:.4f} |")
    w("")
    w("The paper (Eisenbud et al., NSDI 2016) builds M = 65,537 in 1.8 ms and M = 655,373 in 22.9 ms.")
    w("")
    w("## End to end, against what an operator would use instead")
    w("")
    w(f"The namespace topology of the demo (client, balancer, three nginx backends behind a bridge, all on "
      f"veth pairs), the same `wrk -t1 -c32 -d{duration}s` load of `GET /` (a 3-byte body) from the client "
      "namespace: keep-alive requests/s, and new connections/s with `Connection: close`. wrk and the three "
      "nginx run on CPU 0; the balancer gets CPU 1 (Fulcrum's worker lcore, HAProxy's one thread; nftables "
      "forwards in softirq on the sending CPU). Every path has the same endpoint settings (TX checksum "
      "offload and TSO off on the client and backends, which the DPDK path on veth needs).")
    w("")
    w("| path | keep-alive req/s | new connections/s | Fulcrum / path (keep-alive) | Fulcrum / path (new) |")
    w("|---|---:|---:|---:|---:|")
    w(f"| Fulcrum (AF_XDP, busy polling) | {f_keep:,.0f} | {f_new:,.0f} | 1.00 | 1.00 |")
    w(f"| Fulcrum (AF_XDP, adaptive polling, idle_sleep_us = 1000) | {fa_keep:,.0f} | {fa_new:,.0f} | "
      f"{f_keep / fa_keep:.2f} | {f_new / fa_new:.2f} |")
    names = {"nftables": "nftables DNAT (jhash over the backends)", "haproxy": "HAProxy 2.6, TCP mode, one thread",
             "direct": "straight to one backend (kernel routing)"}
    for p, (k, n) in peers.items():
        if p == "direct" and extra.get("ipvs"):
            ipvs = extra["ipvs"]
            if "unavailable" in ipvs:
                w(f"| IPVS, NAT mode, round robin | not measured | not measured | – | – |")
            else:
                ik, inew = ipvs["keepalive_rps"], ipvs["new_conn_per_s"]
                w(f"| IPVS, NAT mode, round robin | {ik:,.0f} | {inew:,.0f} | {f_keep / ik:.2f} | {f_new / inew:.2f} |")
        w(f"| {names[p]} | {k:,.0f} | {n:,.0f} | {f_keep / k:.2f} | {f_new / n:.2f} |")
    w("")
    if extra.get("ipvs", {}).get("unavailable"):
        w(f"IPVS could not run on this machine: {extra['ipvs']['unavailable']}. `scripts/bench.sh` measures it "
          "wherever the kernel has `CONFIG_IP_VS`.")
        w("")
    if extra.get("e2e"):
        w("![end to end](benchmarks/e2e.png)")
        w("")
    w("Goals of the end-to-end issue, measured on this machine: Fulcrum >= 1.0x nftables "
      f"({f_keep / peers['nftables'][0]:.2f}x keep-alive, {f_new / peers['nftables'][1]:.2f}x new connections) and "
      f">= 1.5x HAProxy ({f_keep / peers['haproxy'][0]:.2f}x, {f_new / peers['haproxy'][1]:.2f}x).")
    w("")
    ns_1k = (est[1000]["cycles_per_packet"] - base[1000]) / dp["ghz"]
    ns_1m = (est[1000000]["cycles_per_packet"] - base[1000000]) / dp["ghz"]
    w("### Reading these figures")
    w("")
    w("- On this machine Fulcrum's ports are veth pairs reached through AF_XDP in copy mode: every packet "
      "crosses the kernel twice (into the AF_XDP socket, and back out through `sendto`), with a copy each "
      "way, and the kernel work of delivering it to the receiving veth runs in the worker's system calls. "
      "nftables forwards the same packet inside the kernel, in place. A DPDK port on a NIC has neither "
      "crossing; on veth the comparison measures mostly the kernel's AF_XDP path, not Fulcrum's code, "
      f"which the one-core figures above put at {ns_1k:.0f} ns (1,000 flows) to {ns_1m:.0f} ns (1,000,000 flows) "
      "per packet of an established flow.")
    w("- The client and the servers share one core (CPU 0); with Fulcrum, wrk and nginx kept it about 95 % "
      "busy (measured with `perf` while writing this page's script). The figures are end-to-end capacities of a "
      "2-core machine, not the balancers' limits.")
    w(f"- Busy polling keeps the worker's core at 100 % even with no traffic (measured: {f_idle} % of a core "
      f"while idle). With `dataplane.idle_sleep_us = 1000`, a worker that has seen no packet for 200 us sleeps "
      f"between polls, 50 us first, doubling up to 1 ms (adaptive polling, as `l3fwd-power` does without "
      f"interrupts): {fa_idle} % of a core while idle, for the throughput shown in the table. On a host where the balancer must share its cores, use it; "
      "on a dedicated node, busy-poll.")
    w("")
    open(out, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
