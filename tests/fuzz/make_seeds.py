#!/usr/bin/python3
"""Seed corpora for the fuzz targets, built with scapy from the rig's addresses.

  make_seeds.py parse DIR   frames prefixed with the two control bytes of fuzz_parse_frame
  make_seeds.py burst DIR   record streams for fuzz_burst: handshakes, replies, ICMP, ARP, IPv6
"""
import os
import sys

from scapy.all import (ARP, Dot1Q, Ether, ICMP, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, IP, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, RouterAlert, TCP, UDP, raw)

PORT0, PORT1 = "02:00:00:00:01:01", "02:00:00:00:02:01"
CLIENT, ROUTER = "02:00:00:00:01:02", "02:00:00:00:01:fe"
BACKEND1 = "02:00:00:00:02:0b"
B1 = "02:00:00:00:02:0b"


def frames():
    c = Ether(src=CLIENT, dst=PORT0)
    b = Ether(src=B1, dst=PORT1)
    out = []
    for vip, bport in (("198.18.0.10", 80), ("198.18.0.20", 8080), ("198.18.0.30", 443)):
        vport = 443 if vip.endswith(".30") else 80
        out.append((0, c / IP(src="198.18.1.2", dst=vip) / TCP(sport=40000, dport=vport, flags="S", seq=1000,
                                                                options=[("MSS", 1460)])))
        out.append((1, b / IP(src="198.18.2.11", dst="198.18.1.2") / TCP(sport=bport, dport=40000, flags="SA", seq=5000, ack=1001)))
        out.append((0, c / IP(src="198.18.1.2", dst=vip) / TCP(sport=40000, dport=vport, flags="A", seq=1001, ack=5001)))
        out.append((0, c / IP(src="198.18.1.2", dst=vip) / TCP(sport=40000, dport=vport, flags="PA", seq=1001, ack=5001) / b"GET /"))
        out.append((0, c / IP(src="198.18.1.2", dst=vip) / TCP(sport=40000, dport=vport, flags="R", seq=1001)))
        out.append((0, c / IP(src="198.18.1.2", dst=vip) / ICMP(type=8) / b"ping"))
        out.append((1, b / IP(src="198.18.2.11", dst=vip) / ICMP(type=3, code=4) /
                    IP(src="198.18.1.2", dst="198.18.2.11") / TCP(sport=40000, dport=bport)))
    out.append((0, Ether(src=CLIENT, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CLIENT, psrc="198.18.1.2", pdst="198.18.0.10")))
    out.append((1, Ether(src=B1, dst=PORT1) / ARP(op=2, hwsrc=B1, psrc="198.18.2.14", hwdst=PORT1, pdst="198.18.2.1")))
    return [(port, raw(f)) for port, f in out]


def frames6():
    """IPv6 (issue 15): each extension header the parser walks or refuses, ICMPv6, NDP."""
    c = Ether(src=CLIENT, dst=PORT0)
    ip = IPv6(src="2001:db8:1::2", dst="2001:db8::10")
    syn = TCP(sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1440)])
    out = [
        c / ip / syn,
        c / ip / IPv6ExtHdrHopByHop() / syn,
        c / ip / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / IPv6ExtHdrDestOpt() / syn,
        c / ip / IPv6ExtHdrRouting(addresses=["2001:db8::10"], segleft=0) / syn,
        c / ip / IPv6ExtHdrRouting(addresses=["2001:db8::10"], segleft=1) / syn,
        c / ip / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / syn,
        c / ip / IPv6ExtHdrFragment(offset=0, m=1, id=7) / syn,
        c / ip / IPv6ExtHdrFragment(offset=0, m=0, id=8) / UDP(sport=5353, dport=53),
        c / ip / ICMPv6EchoRequest(id=1, seq=2, data=b"ping"),
        c / ip / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(id=1, seq=3),
        Ether(src=CLIENT, dst="33:33:ff:00:00:10") / IPv6(src="::", dst="ff02::1:ff00:10", hlim=255) /
        ICMPv6ND_NS(tgt="2001:db8::10"),
        c / IPv6(src="fe80::2", dst="2001:db8::10", hlim=255) / ICMPv6ND_NS(tgt="2001:db8::10"),
        c / Dot1Q(vlan=100) / ip / TCP(sport=40000, dport=80, flags="PA", seq=1001, ack=5001) / b"GET /",
        # The fullnat and NAT64 VIPs of FixtureEnv::ipv6_tables().
        c / IPv6(src="2001:db8:1::2", dst="2001:db8::20") / syn,
        c / IPv6(src="2001:db8:1::2", dst="2001:db8::40") / syn,
        c / IPv6(src="2001:db8:1::2", dst="2001:db8::40") / TCP(sport=40000, dport=80, flags="A", seq=1001, ack=5001),
    ]
    b = Ether(src=BACKEND1, dst=PORT1)
    back = [
        b / IPv6(src="2001:db8:2::11", dst="2001:db8:1::2") / TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001),
        b / IP(src="198.18.2.11", dst="198.18.2.101") / TCP(sport=8081, dport=1024, flags="SA", seq=5000, ack=1001),
        b / IPv6(src="2001:db8:2::11", dst="2001:db8:2::1", hlim=255) /
        ICMPv6ND_NA(tgt="2001:db8:2::11", S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=BACKEND1),
    ]
    return [(0, raw(f)) for f in out] + [(1, raw(f)) for f in back]


def main():
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    fs = frames()
    if kind == "parse":
        for k, (_, f) in enumerate(fs + frames6()):
            with open(os.path.join(out, "seed-%03d" % k), "wb") as fh:
                fh.write(bytes([len(f) % 256, 0]) + f)
    else:
        # One stream per VIP (a whole conversation), and one with everything.
        def record(port, f, flags=0):
            return bytes([flags | (port << 1), len(f) >> 8, len(f) & 0xFF]) + f
        for k in range(0, len(fs) - 2, 7):
            with open(os.path.join(out, "seed-%03d" % k), "wb") as fh:
                fh.write(b"".join(record(p, f) for p, f in fs[k:k + 7]))
        with open(os.path.join(out, "seed-ipv6"), "wb") as fh:
            fh.write(b"".join(record(p, f) for p, f in frames6()))
        with open(os.path.join(out, "seed-all"), "wb") as fh:
            fh.write(b"".join(record(p, f, 0x80 if i % 5 == 4 else 0) for i, (p, f) in enumerate(fs)))


if __name__ == "__main__":
    main()
