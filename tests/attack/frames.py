#!/usr/bin/python3
"""Hostile frames for the attack suite, written as a pcap that tcpreplay sends.

Scapy builds each kind of frame once (a few thousand distinct frames); tcpreplay loops the
file to reach the volume a test wants, far faster than scapy could send them itself.

  frames.py malformed OUT --dst-mac M --src-mac M --vip A --flow SPORT:BACKEND ... [--count N]
      truncations at every header, bad IHL / total lengths / checksums / data offsets,
      fragments, IP options, stacked VLAN tags, odd ethertypes, TCP flag nonsense, ICMP
      errors quoting garbage and quoting live flows, and well-formed ARP replies for
      random senders (the "7,480 ARP replies" of the review's spray)
  frames.py arp OUT --dst-mac M --src-mac M --vip A --port-ip A [--count N]
      an ARP storm from one LAN host: requests for our addresses and for everyone else,
      gratuitous ARP, replies nobody asked for, some claiming our neighbours' addresses
  frames.py spoof OUT --dst-mac M --src-mac M --vip A --net 198.18.1 [--count N]
      pings and SYNs to the VIP from spoofed sources on the client's own subnet

Only for the test rig's namespaces: the frames carry the rig's addresses.
"""
import argparse
import random

from scapy.all import ARP, Dot1Q, Ether, ICMP, IP, IPOption_RR, Raw, TCP, UDP, wrpcap  # noqa: E402

random.seed(2026)


def rand_ip(net="198.18.1"):
    return "%s.%d" % (net, random.randint(10, 250))


def malformed(a):
    eth = Ether(src=a.src_mac, dst=a.dst_mac)
    good_syn = eth / IP(src="198.18.1.2", dst=a.vip) / TCP(sport=40000, dport=80, flags="S")
    raw = bytes(good_syn)
    frames = []
    # Truncated at every byte of every header (from a bare Ethernet header on: a veth does
    # not carry less).
    for n in range(14, len(raw)):
        frames.append(raw[:n])
    # Bad IHL (0..4, and longer than the packet), versions, total lengths, checksums.
    for ihl in (0, 1, 4, 15):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, ihl=ihl) / TCP(dport=80)))
    for version in (0, 5, 6, 15):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, version=version) / TCP(dport=80)))
    for total in (0, 19, 21, 39, 41, 1500, 65535):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, len=total) / TCP(dport=80)))
    for chk in (0, 1, 0xFFFF):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, chksum=chk) / TCP(dport=80)))
    # TCP data offsets below 5 words and past the packet; flag nonsense.
    for doff in (0, 1, 4, 6, 15):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / TCP(sport=40001, dport=80, dataofs=doff)))
    for flags in ("SF", "SR", "", "FPU", "SRAFUP"):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / TCP(sport=40002, dport=80, flags=flags)))
    # Fragments, first and later.
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, flags="MF") / TCP(dport=80) / Raw(b"x" * 64)))
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, frag=8) / Raw(b"x" * 64)))
    # IP options (forwarded: a valid SYN with options), sources no host may use.
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, options=[IPOption_RR(routers=["1.2.3.4"])]) /
                        TCP(sport=40003, dport=80, flags="S")))
    for src in ("0.0.0.1", "127.0.0.1", "224.0.0.1", "255.255.255.255", a.vip):
        frames.append(bytes(eth / IP(src=src, dst=a.vip) / TCP(sport=40004, dport=80, flags="S")))
    # Stacked VLAN tags, odd ethertypes, a frame to another MAC, IP in a broadcast frame.
    frames.append(bytes(eth / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IP(src="198.18.1.2", dst=a.vip) / TCP(dport=80)))
    for etype in (0x86DD, 0x88CC, 0x8847, 0x0000, 0xFFFF, 0x05DC):
        frames.append(bytes(Ether(src=a.src_mac, dst=a.dst_mac, type=etype) / Raw(b"\x45" * 40)))
    frames.append(bytes(Ether(src=a.src_mac, dst="02:99:99:99:99:99") / IP(src="198.18.1.2", dst=a.vip) / TCP(dport=80)))
    frames.append(bytes(Ether(src=a.src_mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="198.18.1.2", dst=a.vip) / TCP(dport=80)))
    # Other protocols to the VIP.
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / UDP(sport=53, dport=80)))
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip, proto=47) / Raw(b"gre")))
    # ICMP: garbage, ICMP quoting garbage, quoting ICMP, quoting live flows (translated).
    for t in range(0, 20):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / ICMP(type=t, code=random.randint(0, 5)) / Raw(b"\x00" * 4)))
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / ICMP(type=3, code=4) / Raw(b"garbage")))
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / ICMP(type=3, code=4) / IP(src=a.vip, dst="198.18.1.2") / ICMP()))
    frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / ICMP(type=11, code=0, chksum=1) /
                        IP(src=a.vip, dst="198.18.1.2") / TCP(sport=80, dport=40000)))
    for spec in a.flow:
        sport, _ = spec.split(":")
        quoted = IP(src=a.vip, dst="198.18.1.2") / TCP(sport=80, dport=int(sport), flags="A")
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / ICMP(type=3, code=4, nexthopmtu=1400) / quoted))
    # Random bytes behind a plausible IPv4 + TCP header to the VIP, random lengths.
    for _ in range(200):
        frames.append(bytes(eth / IP(src="198.18.1.2", dst=a.vip) / TCP(sport=random.randint(1024, 65535), dport=80,
                                                                           flags=random.choice(["S", "A", "R", "F", "PA"]),
                                                                           dataofs=random.randint(0, 15)) /
                            Raw(bytes(random.getrandbits(8) for _ in range(random.randint(0, 64))))))
    # Well-formed ARP replies for random senders, to us and to nobody in particular.
    for _ in range(400):
        mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(random.randint(0, 255) for _ in range(5))
        frames.append(bytes(Ether(src=mac, dst=random.choice([a.dst_mac, "ff:ff:ff:ff:ff:ff"])) /
                            ARP(op=2, hwsrc=mac, psrc=rand_ip(), hwdst=a.dst_mac, pdst=random.choice([a.port_ip, rand_ip()]))))
    return frames


def arp_storm(a):
    frames = []
    for _ in range(2000):
        mac = "02:%02x:%02x:%02x:%02x:%02x" % tuple(random.randint(0, 255) for _ in range(5))
        kind = random.randint(0, 5)
        if kind == 0:    # requests for our addresses (they pass the filter: answered)
            frames.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=rand_ip(), pdst=random.choice([a.vip, a.port_ip])))
        elif kind == 1:  # requests for everyone else
            frames.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=rand_ip(), pdst=rand_ip()))
        elif kind == 2:  # gratuitous ARP
            ip = rand_ip()
            frames.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, pdst=ip))
        elif kind == 3:  # replies nobody asked for
            frames.append(Ether(src=mac, dst=a.dst_mac) / ARP(op=2, hwsrc=mac, psrc=rand_ip(), hwdst=a.dst_mac, pdst=a.port_ip))
        elif kind == 4:  # spoofed replies claiming the real client's address
            frames.append(Ether(src=mac, dst=a.dst_mac) / ARP(op=2, hwsrc=mac, psrc="198.18.1.2", hwdst=a.dst_mac, pdst=a.port_ip))
        else:            # spoofed gratuitous ARP for the real client's address
            frames.append(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc="198.18.1.2", pdst="198.18.1.2"))
    return frames


def spoof(a):
    frames = []
    eth = Ether(src=a.src_mac, dst=a.dst_mac)
    for host in range(10, 251):
        src = "%s.%d" % (a.net, host)
        if src in ("198.18.1.1", "198.18.1.2"):
            continue
        frames.append(eth / IP(src=src, dst=a.vip) / ICMP(type=8, id=host, seq=1))
        for k in range(4):
            frames.append(eth / IP(src=src, dst=a.vip) / TCP(sport=20000 + k * 1000 + host, dport=80, flags="S", seq=host))
    return frames


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["malformed", "arp", "spoof"])
    p.add_argument("out")
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--vip", required=True)
    p.add_argument("--port-ip", default="198.18.1.1")
    p.add_argument("--net", default="198.18.1")
    p.add_argument("--flow", action="append", default=[], help="SPORT:BACKEND of a live client flow (for quoted ICMP)")
    a = p.parse_args()
    frames = {"malformed": malformed, "arp": arp_storm, "spoof": spoof}[a.kind](a)
    # Raw byte strings go through Ether(), which keeps their bytes exactly as they are.
    wrpcap(a.out, [Ether(f) if isinstance(f, bytes) else f for f in frames], linktype=1)
    print(len(frames))


if __name__ == "__main__":
    main()
