#!/usr/bin/env python3
"""Walks `/v2/_catalog?n=N` page by page, following `Link: <…>; rel="next"` to
the end, over one kept-alive connection, and prints one line of JSON:
pages, repositories seen, seconds, and whether the walk finished before
MAX_SECONDS (if not, it stops there and says so).

  catalog_walk.py HOST:PORT N MAX_SECONDS
"""

import http.client
import json
import sys
import time


def next_link(header):
    if not header:
        return None
    for part in header.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", ""):
            target = target.strip()
            if target.startswith("<") and target.endswith(">"):
                return target[1:-1]
    return None


def main():
    host, n, max_seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    conn = http.client.HTTPConnection(host, timeout=120)
    path = f"/v2/_catalog?n={n}"
    pages = repos = 0
    previous = None
    started = time.monotonic()
    finished = False
    while True:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"catalog_walk: {path} answered {resp.status}: {body[:200]!r}")
        page = json.loads(body).get("repositories") or []
        if page and previous is not None and page[0] == previous:
            sys.exit(f"catalog_walk: page at {path} repeats {previous}")
        pages += 1
        repos += len(page)
        previous = page[-1] if page else previous
        link = next_link(resp.getheader("Link"))
        if link is None:
            finished = True
            break
        if time.monotonic() - started > max_seconds:
            break
        # zot's Link is a path; distribution's may be absolute.
        path = link if link.startswith("/") else "/" + link.split("/", 3)[3]
    seconds = time.monotonic() - started
    print(json.dumps({"pages": pages, "repositories": repos, "seconds": round(seconds, 3),
                      "finished": finished}))


if __name__ == "__main__":
    main()
