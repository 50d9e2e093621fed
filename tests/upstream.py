#!/usr/bin/env python3
"""The fake internet of the test village (scripts/village.sh runs it in dw-TAG-u).

Plain HTTP, dual-stack, on every port given (80 and 443: 443 is plain HTTP too,
so a test that finds "HTTPS" blocked proves the router blocked it, not that
nothing listened). Standard library only.

  GET  any path            200 text/plain "upstream ok host=<Host> path=<path>\\n"
  GET  .../generate_204    204, empty (Android's probe; also .../gen_204)
  GET  an OS probe's path  that service's own success answer (PROBES below), e.g.
                           /hotspot-detect.html -> Apple's "Success" page
  GET  /bytes/N            200 application/octet-stream, N bytes (N <= 1 GiB), for quota tests
  POST any path            reads the body, 200 "upstream ok host=... path=... received=<bytes>\\n"
  HEAD                     the GET headers, no body
Every answer carries X-Upstream-Host: <Host>, so even an empty 204 shows it came from here.
"""

import argparse
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 1 << 30
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# The OS connectivity probes' success answers, by path, as the real services
# give them (scripts/village.sh points their hosts here; tests/probes.rs).
PROBES = {
    "/hotspot-detect.html": (HTML, b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    "/connecttest.txt": (TEXT, b"Microsoft Connect Test"),
    "/ncsi.txt": (TEXT, b"Microsoft NCSI"),
    "/success.txt": (TEXT, b"success\n"),
    "/canonical.html": (HTML, b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>'),
    "/check_network_status.txt": (TEXT, b"NetworkManager is online\n"),
}
CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "upstream"

    def log_message(self, fmt, *args):  # quiet: tests read their own output
        pass

    def _reply(self, code, body=b"", ctype="text/plain; charset=utf-8", length=None, stream=None):
        self.send_response(code)
        if code != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body) if length is None else length))
        self.send_header("Cache-Control", "no-store")
        # Which host the upstream answered (a 204 has no body to say so).
        self.send_header("X-Upstream-Host", self.headers.get("Host", ""))
        self.end_headers()
        if self.command == "HEAD" or code == 204:
            return
        if stream is not None:
            left = length
            while left > 0:
                piece = CHUNK if left >= len(CHUNK) else CHUNK[:left]
                self.wfile.write(piece)
                left -= len(piece)
        else:
            self.wfile.write(body)

    def _ok_line(self, extra=""):
        host = self.headers.get("Host", "")
        return f"upstream ok host={host} path={self.path}{extra}\n".encode()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.endswith("/generate_204") or path.endswith("/gen_204"):
            return self._reply(204)
        if path in PROBES:
            ctype, body = PROBES[path]
            return self._reply(200, body, ctype=ctype)
        if path.startswith("/bytes/"):
            try:
                n = int(path[len("/bytes/"):])
            except ValueError:
                n = -1
            if 0 <= n <= MAX_BYTES:
                return self._reply(200, ctype="application/octet-stream", length=n, stream=True)
        self._reply(200, self._ok_line())

    do_HEAD = do_GET

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0") or 0)
        got = 0
        while left > 0:
            data = self.rfile.read(min(left, 65536))
            if not data:
                break
            got += len(data)
            left -= len(data)
        self._reply(200, self._ok_line(f" received={got}"))


class DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ports", default="80,443", help="comma-separated ports (default 80,443)")
    ap.add_argument("--pid-file", help="write our pid here once listening")
    args = ap.parse_args()

    servers = [DualStackServer(("::", int(p)), Handler) for p in args.ports.split(",")]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if args.pid_file:
        tmp = args.pid_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, args.pid_file)
    print(f"upstream listening on [::]:{args.ports} pid {os.getpid()}", file=sys.stderr, flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
