#!/usr/bin/env python3
"""Send DNS queries over UDP and count the answers (tests/attacks.rs).

  dns_flood.py SERVER COUNT SECONDS NAME_LEN [SOURCES]

Sends COUNT A queries for distinct names of NAME_LEN characters under
example.com, spread evenly over SECONDS, from one socket (one source port, as
a DNS tunnel would), then waits 2 s for late answers. Prints
"sent=N answered=M bytes=B" (B: DNS answer bytes received).

SERVER may be IPv6 (link-local with %IFACE). SOURCES, comma-separated local
addresses: one socket bound to each, the queries sent from them in turn (a
phone that added addresses to multiply a per-address allowance).
"""
import socket, struct, sys, time

server, count, seconds, name_len = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
sources = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else [None]
family, _, _, _, target = socket.getaddrinfo(server, 53, 0, socket.SOCK_DGRAM)[0]

def name(i):
    suffix = ".example.com"
    body = ("q%d-" % i).ljust(name_len - len(suffix), "a")
    labels = [body[j:j + 60] for j in range(0, len(body), 60)]
    return ".".join(labels) + suffix

def query(qid, qname):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0"
    return header + q + struct.pack(">HH", 1, 1)

socks = []
for src in sources:
    s = socket.socket(family, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.setblocking(False)
    socks.append(s)
answered, got, sent = set(), 0, 0
start = time.monotonic()
def drain():
    global got
    for s in socks:
        while True:
            try:
                data = s.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                break
            if len(data) >= 12:
                answered.add(struct.unpack(">H", data[:2])[0])
                got += len(data)
for i in range(count):
    due = start + seconds * i / max(count, 1)
    while time.monotonic() < due:
        drain()
        time.sleep(0.0005)
    try:
        socks[i % len(socks)].sendto(query(i, name(i)), target)
    except (ConnectionRefusedError, PermissionError, OSError):
        pass
    sent += 1
end = time.monotonic() + 2.0
while time.monotonic() < end:
    drain()
    time.sleep(0.01)
print("sent=%d answered=%d bytes=%d" % (sent, len(answered), got))
