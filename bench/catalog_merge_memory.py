#!/usr/bin/env python3
"""The gateway's memory under concurrent catalog merges of one large member catalog.

  catalog_merge_memory.py GATEWAY_BINARY [--mb 60] [--clients 8] [--chunked] [--limit KEY=VALUE]...

A fake member (this process, on 127.0.0.1) serves a catalog of about --mb MB
with its Content-Length (or, --chunked, in 64 KiB chunks as zot's Go server
sends a large answer); a gateway in front of it alone gets --clients
concurrent GET /v2/_catalog. Printed as key=value lines: the statuses, the
gateway's RSS before, its peak (VmHWM, and the largest 10 ms VmRSS sample)
and its RSS 2 s after the last answer, in MiB. --limit sets `limits` keys of
the gateway's config (mergedBodyBytes is raised to fit the catalog; the
gateway's own default applies to every other key, so that a gateway from
before a key existed runs too).
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def catalog(mb):
    names = []
    size, i = 0, 0
    while size < mb * 1_000_000:
        name = f"org-{i // 1000:04d}/repository-{i:07d}"
        names.append(name)
        size += len(name) + 3
        i += 1
    return json.dumps({"repositories": names}, separators=(",", ":")).encode()


def member(body, chunked):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            data = body if self.path.startswith("/v2/_catalog") else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if not chunked:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 64 << 10
            for at in range(0, len(data), step):
                piece = data[at : at + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gateway")
    ap.add_argument("--mb", type=int, default=60)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--chunked", action="store_true")
    ap.add_argument("--limit", action="append", default=[])
    args = ap.parse_args()

    body = catalog(args.mb)
    server = member(body, args.chunked)
    limits = {"mergedBodyBytes": len(body) + (1 << 20)}
    for kv in args.limit:
        key, value = kv.split("=", 1)
        limits[key] = int(value)
    config = {
        "http": {"address": "127.0.0.1", "port": "0"},
        "cluster": {"members": [f"127.0.0.1:{server.server_port}"], "hashKey": "loremipsumdolors"},
        "timeouts": {"fanOut": "120s"},
        "limits": limits,
        "log": {"level": "error"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        gw = subprocess.Popen([args.gateway, "serve", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = gw.stdout.readline().split("listening on ", 1)[1].strip()
            time.sleep(0.5)
            before = status_kib(gw.pid, "VmRSS")
            peak = [0]
            done = threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], status_kib(gw.pid, "VmRSS"))
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample)
            sampler.start()
            statuses = []
            lock = threading.Lock()

            def get():
                try:
                    with urllib.request.urlopen(f"{url}/v2/_catalog", timeout=300) as resp:
                        resp.read()
                        code = resp.status
                except urllib.error.HTTPError as e:
                    e.read()
                    code = e.code
                with lock:
                    statuses.append(code)

            started = time.monotonic()
            clients = [threading.Thread(target=get) for _ in range(args.clients)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            took = time.monotonic() - started
            done.set()
            sampler.join()
            time.sleep(2)
            after = status_kib(gw.pid, "VmRSS")
            hwm = status_kib(gw.pid, "VmHWM")
        finally:
            gw.terminate()
            gw.wait(timeout=30)
    mib = lambda kib: f"{kib / 1024:.0f}"
    print(f"catalog_bytes={len(body)}")
    print(f"statuses={','.join(str(s) for s in sorted(statuses))}")
    print(f"seconds={took:.1f}")
    print(f"rss_before_mib={mib(before)}")
    print(f"rss_peak_sampled_mib={mib(peak[0])}")
    print(f"vmhwm_mib={mib(hwm)}")
    print(f"rss_after_mib={mib(after)}")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
