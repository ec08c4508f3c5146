#!/usr/bin/python3
"""Seed corpora for the fuzz targets, built with scapy from the rig's addresses.

  make_seeds.py parse DIR   frames prefixed with the two control bytes of fuzz_parse_frame
  make_seeds.py burst DIR   record streams for fuzz_burst: handshakes, replies, ICMP, ARP
"""
import os
import sys

from scapy.all import ARP, Ether, ICMP, IP, TCP, raw

PORT0, PORT1 = "02:00:00:00:01:01", "02:00:00:00:02:01"
CLIENT, ROUTER = "02:00:00:00:01:02", "02:00:00:00:01:fe"
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


def main():
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    fs = frames()
    if kind == "parse":
        for k, (_, f) in enumerate(fs):
            with open(os.path.join(out, "seed-%03d" % k), "wb") as fh:
                fh.write(bytes([len(f) % 256, 0]) + f)
    else:
        # One stream per VIP (a whole conversation), and one with everything.
        def record(port, f, flags=0):
            return bytes([flags | (port << 1), len(f) >> 8, len(f) & 0xFF]) + f
        for k in range(0, len(fs) - 2, 7):
            with open(os.path.join(out, "seed-%03d" % k), "wb") as fh:
                fh.write(b"".join(record(p, f) for p, f in fs[k:k + 7]))
        with open(os.path.join(out, "seed-all"), "wb") as fh:
            fh.write(b"".join(record(p, f, 0x80 if i % 5 == 4 else 0) for i, (p, f) in enumerate(fs)))


if __name__ == "__main__":
    main()
