#!/usr/bin/env python3
"""Fill the router's DNS meters with spoofed sources (tests/attacks2.rs).

  spoof_flood.py IFACE ROUTER_MAC ROUTER_IP COUNT

Sends COUNT DNS queries to ROUTER_IP:53 as raw Ethernet frames on IFACE,
each from a different made-up source MAC (02:5f:..) and IPv4 address
(from 10.200.0.0 on; rp_filter is off on the village router),
so a meter keyed by MAC or by address gets one new entry per frame. Needs
root (AF_PACKET). Prints "sent=N".
"""
import socket, struct, sys

iface, router_mac, router_ip, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dst = bytes(int(b, 16) for b in router_mac.split(":"))
dst_ip = socket.inet_aton(router_ip)

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

dns = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x01x\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(count):
    src = bytes([0x02, 0x5F, 0, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
    src_ip = bytes([10, 200 + ((i >> 16) & 0x3F), (i >> 8) & 0xFF, i & 0xFF])
    udp = struct.pack(">HHHH", 40000, 53, 8 + len(dns), 0) + dns
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack(">H", checksum(ip)) + ip[12:]
    s.send(dst + src + b"\x08\x00" + ip + udp)
print("sent=%d" % count)
