#!/usr/bin/env python3
"""Times `/v2/_catalog` on one node and on a gateway holding the same
repositories, side by side, and checks every answer compared is the same:

- the whole catalog (median of RUNS GETs);
- one page, `n=PAGE&last=<the middle name>` (median of RUNS GETs), body and
  `Link` compared;
- a full walk with `n=PAGE` following `Link`, both targets in lockstep, every
  page compared, each walk timed on its own.

Prints one line of JSON. Exits non-zero when an answer differs.

  catalog_pages.py SINGLE_HOST:PORT GATEWAY_HOST:PORT PAGE RUNS
"""

import http.client
import json
import statistics
import sys
import time
import urllib.parse


class Target:
    def __init__(self, host):
        self.conn = http.client.HTTPConnection(host, timeout=300)

    def get(self, path):
        started = time.monotonic()
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        body = resp.read()
        elapsed = time.monotonic() - started
        if resp.status != 200:
            sys.exit(f"catalog_pages: {path} answered {resp.status}: {body[:200]!r}")
        return body, resp.getheader("Link"), elapsed


def next_path(link):
    if not link:
        return None
    target = link.split(";")[0].strip()
    return target[1:-1] if target.startswith("<") and target.endswith(">") else None


def median_ms(target, path, runs):
    answers = [target.get(path) for _ in range(runs)]
    return answers[0], round(statistics.median(a[2] for a in answers) * 1000, 1)


def main():
    single, gateway = Target(sys.argv[1]), Target(sys.argv[2])
    page, runs = int(sys.argv[3]), int(sys.argv[4])
    out = {}

    (whole, _, _), out["single_whole_ms"] = median_ms(single, "/v2/_catalog", runs)
    (whole_gw, _, _), out["gateway_whole_ms"] = median_ms(gateway, "/v2/_catalog", runs)
    names = json.loads(whole)["repositories"]
    if json.loads(whole_gw)["repositories"] != names:
        sys.exit("catalog_pages: the whole catalogs differ")
    out["repositories"] = len(names)

    middle = urllib.parse.quote(names[len(names) // 2], safe="")
    path = f"/v2/_catalog?n={page}&last={middle}"
    (a, a_link, _), out["single_page_ms"] = median_ms(single, path, runs)
    (b, b_link, _), out["gateway_page_ms"] = median_ms(gateway, path, runs)
    if (a, a_link) != (b, b_link):
        sys.exit(f"catalog_pages: {path} differs: {a_link} vs {b_link}")

    pages, walked = 0, 0
    spent = {"single": 0.0, "gateway": 0.0}
    path = f"/v2/_catalog?n={page}"
    while path:
        a, a_link, a_s = single.get(path)
        b, b_link, b_s = gateway.get(path)
        if (a, a_link) != (b, b_link):
            sys.exit(f"catalog_pages: walk page {path} differs")
        spent["single"] += a_s
        spent["gateway"] += b_s
        pages += 1
        walked += len(json.loads(a)["repositories"] or [])
        path = next_path(a_link)
    if walked != len(names):
        sys.exit(f"catalog_pages: the walk saw {walked} of {len(names)} repositories")
    out["walk_pages"] = pages
    out["single_walk_s"] = round(spent["single"], 3)
    out["gateway_walk_s"] = round(spent["gateway"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
