#!/usr/bin/env python3
"""The search measurements of bench/search.sh.

  search_bench.py wait URL EXPECTED MAX_S
      until RepoListWithNewestImage at URL reports TotalCount == EXPECTED
      (a node with search builds its metadata from storage at start);
      prints the seconds waited, exits 1 on timeout.

  search_bench.py measure RESULTS SINGLE_URL GATEWAY_URL GATEWAY_PID MEMBER_URL...
      for each query (page of 10 by UPDATE_TIME: RepoListWithNewestImage at
      offset 0 and 1000 selecting Name and LastUpdated, and again with zui's
      home-page selection; GlobalSearch(query:"") at offset 0), interleaved runs
      against: the single node, the gateway, and a naive fan-out done here
      (every member asked for everything, `limit: 0`, merged, sorted and cut
      client-side). Checks every answer against the single node's. Then the
      gateway's CPU per request and per merged item over a loop of requests.
      Appends key=value lines to RESULTS.

  search_bench.py report RESULTS
      the markdown summary table.

Environment: RUNS (timed runs per target and query, default 7), CPU_REQUESTS
(gateway requests per CPU loop, default 200), CPU_MAX_S (bound of one CPU loop,
default 20), TIMEOUT_S (one request, default 120), PERF_DIR (when set,
`perf record -g` of the gateway during each CPU loop, reports written there). Python 3 stdlib only;
every client keeps one HTTP/1.1 connection per server, as a real client would.
"""

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import load, num as result_num  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RUNS = int(os.environ.get("RUNS", "7"))
CPU_REQUESTS = int(os.environ.get("CPU_REQUESTS", "200"))
CPU_MAX_S = float(os.environ.get("CPU_MAX_S", "20"))
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "120"))
PERF_DIR = os.environ.get("PERF_DIR", "")  # set: `perf record` the gateway during each CPU loop
LIMIT = 10

# zui's home page selection (zot-reference §5.2, RepoListWithNewestImage).
ZUI = ("Name LastUpdated Size Platforms {Os Arch} NewestImage { Tag Vulnerabilities {MaxSeverity Count} "
       "Description Licenses Title Source IsSigned SignatureInfo { Tool IsTrusted Author } Documentation "
       "Vendor Labels} IsStarred IsBookmarked StarCount DownloadCount")

# name -> (root field, offset, selection of a page, selection the naive fan-out asks for, list key)
QUERIES = {
    "repolist_0": ("RepoListWithNewestImage", 0, "Page{TotalCount ItemCount} Results{Name LastUpdated}",
                   "Page{TotalCount ItemCount} Results{Name LastUpdated}", "Results"),
    "repolist_1000": ("RepoListWithNewestImage", 1000, "Page{TotalCount ItemCount} Results{Name LastUpdated}",
                      "Page{TotalCount ItemCount} Results{Name LastUpdated}", "Results"),
    "global_0": ("GlobalSearch", 0, "Page{TotalCount} Repos{Name}",
                 "Page{TotalCount} Repos{Name LastUpdated}", "Repos"),
    "zui_0": ("RepoListWithNewestImage", 0, "Page{TotalCount ItemCount} Results{" + ZUI + "}",
              "Page{TotalCount ItemCount} Results{" + ZUI + "}", "Results"),
    "zui_1000": ("RepoListWithNewestImage", 1000, "Page{TotalCount ItemCount} Results{" + ZUI + "}",
                 "Page{TotalCount ItemCount} Results{" + ZUI + "}", "Results"),
}


def document(field, offset, limit, selection):
    args = f"requestedPage:{{limit:{limit} offset:{offset} sortBy:UPDATE_TIME}}"
    if field == "GlobalSearch":
        args = f'query:"" {args}'
    return f"{{{field}({args}){{{selection}}}}}"


class Conn:
    """One keep-alive connection to a server; reconnects once if it was dropped."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url if "//" in url else f"http://{url}")
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def post(self, query):
        body = json.dumps({"query": query}).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            try:
                self.conn.request("POST", "/v2/_zot/ext/search", body,
                                  {"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if resp.status != 200:
            raise RuntimeError(f"{self.host}:{self.port}: HTTP {resp.status}: {data[:300]!r}")
        answer = json.loads(data)
        if answer.get("errors"):
            raise RuntimeError(f"{self.host}:{self.port}: {answer['errors'][:2]}")
        return answer["data"], len(data)


def merged_items(url):
    """The gateway's count of items its search merge has ranked (/metrics)."""
    u = urllib.parse.urlsplit(url if "//" in url else f"http://{url}")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT_S)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith("flotilla_gateway_search_merged_items_total "):
            return float(line.split()[1])
    return 0.0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def time_key(item):
    """zot's UPDATE_TIME order: newest first, null last."""
    t = item.get("LastUpdated")
    if not t:
        return (1, 0.0)
    return (0, -datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp())


class Naive:
    """What a proxy without page push-down does: everything from every member, in parallel."""

    def __init__(self, members):
        self.conns = [Conn(m) for m in members]

    def run(self, name):
        field, offset, _, selection, key = QUERIES[name]
        query = document(field, 0, 0, selection)
        answers = [None] * len(self.conns)
        failures = []

        def ask(i):
            try:
                answers[i] = self.conns[i].post(query)
            except Exception as err:  # noqa: BLE001 (reported below)
                failures.append(err)

        started = time.perf_counter()
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(self.conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        fetched = time.perf_counter()
        if failures:
            raise failures[0]
        items, total, size = [], 0, 0
        for data, n in answers:
            part = data[field]
            items.extend(part[key])
            total += part["Page"]["TotalCount"]
            size += n
        items.sort(key=lambda it: (time_key(it), it["Name"]))
        page = items[offset:offset + LIMIT]
        out = {field: {"Page": {"TotalCount": total}, key: page}}
        if "ItemCount" in selection:
            out[field]["Page"]["ItemCount"] = len(page)
        ended = time.perf_counter()
        return out, ended - started, fetched - started, size


def names_of(data, name):
    field, _, _, _, key = QUERIES[name]
    part = data[field]
    return [it["Name"] for it in part[key]], part["Page"]["TotalCount"], part["Page"].get("ItemCount")


def wait(url, expected, max_s):
    conn = Conn(url)
    started = time.monotonic()
    query = document("RepoListWithNewestImage", 0, 1, "Page{TotalCount}")
    last = None
    while time.monotonic() - started < max_s:
        try:
            data, _ = conn.post(query)
            last = data["RepoListWithNewestImage"]["Page"]["TotalCount"]
            if last == expected:
                print(f"{time.monotonic() - started:.1f}")
                return 0
        except Exception as err:  # noqa: BLE001 (not up yet)
            last = err
        time.sleep(0.5)
    print(f"search at {url} not ready in {max_s}s (last: {last})", file=sys.stderr)
    return 1


def measure(results, single_url, gateway_url, gateway_pid, members):
    out = open(results, "a")

    def result(key, value):
        out.write(f"{key}={value}\n")
        out.flush()

    def log(msg):
        print(f"[search_bench {time.strftime('%T')}] {msg}", file=sys.stderr, flush=True)

    single, gateway, naive = Conn(single_url), Conn(gateway_url), Naive(members)
    member = Conn(members[0])  # what one member takes for the pushed-down page
    gateway_pid = int(gateway_pid)
    for name, (field, offset, selection, _, _) in QUERIES.items():
        query = document(field, offset, LIMIT, selection)
        # Warm-up (first sorts after the rebuild, connections), and the reference answer.
        ref, ref_bytes = single.post(query)
        gateway.post(query)
        naive.run(name)
        pushed = document(field, 0, offset + LIMIT, selection)
        member.post(pushed)
        want = names_of(ref, name)
        times = {"single": [], "gateway": [], "naive": [], "member": []}
        naive_fetch, naive_bytes, mismatches = [], 0, []
        for run in range(RUNS):
            for target in ("single", "gateway", "naive", "member"):  # interleaved: drift hits all alike
                if target == "member":
                    started = time.perf_counter()
                    member.post(pushed)
                    times[target].append(time.perf_counter() - started)
                    continue
                if target == "naive":
                    data, secs, fetch, naive_bytes = naive.run(name)
                    naive_fetch.append(fetch)
                else:
                    conn = single if target == "single" else gateway
                    started = time.perf_counter()
                    data, _ = conn.post(query)
                    secs = time.perf_counter() - started
                times[target].append(secs)
                got = names_of(data, name)
                if got != want:
                    mismatches.append((target, run, got[1:], want[1:], got[0][:3], want[0][:3]))
        for target, ts in times.items():
            result(f"{name}.{target}.median_ms", f"{statistics.median(ts) * 1000:.2f}")
            result(f"{name}.{target}.min_ms", f"{min(ts) * 1000:.2f}")
        result(f"{name}.naive.fetch_ms", f"{statistics.median(naive_fetch) * 1000:.2f}")
        result(f"{name}.naive.bytes", naive_bytes)
        result(f"{name}.single.bytes", ref_bytes)
        result(f"{name}.total", want[1])
        result(f"{name}.first", ",".join(want[0][:2]))
        result(f"{name}.mismatches", len(mismatches))
        for m in mismatches[:3]:
            log(f"WARNING {name}: {m[0]} run {m[1]}: (TotalCount, ItemCount) {m[2]} vs single {m[3]}; "
                f"names {m[4]} vs {m[5]}")
        log(f"{name}: single {statistics.median(times['single']) * 1000:.1f} ms, gateway "
            f"{statistics.median(times['gateway']) * 1000:.1f} ms, naive "
            f"{statistics.median(times['naive']) * 1000:.1f} ms, one member's top-{offset + LIMIT} "
            f"{statistics.median(times['member']) * 1000:.1f} ms (medians of {RUNS})")

        # Gateway CPU: a loop of requests, bounded in count and time.
        perf = None
        if PERF_DIR:
            data = os.path.join(PERF_DIR, f"perf.{name}.data")
            perf = subprocess.Popen(["perf", "record", "-F", "997", "-g", "-p", str(gateway_pid),
                                     "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        items0 = merged_items(gateway_url)
        c0, started, n = cpu_seconds(gateway_pid), time.monotonic(), 0
        while n < CPU_REQUESTS and time.monotonic() - started < CPU_MAX_S:
            gateway.post(query)
            n += 1
        c1, wall = cpu_seconds(gateway_pid), time.monotonic() - started
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
            report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                     "--percent-limit", "2", "-g", "none", "--sort", "symbol"],
                                    capture_output=True, text=True, timeout=120).stdout
            os.makedirs(PERF_DIR, exist_ok=True)
            with open(os.path.join(PERF_DIR, f"perf.{name}.txt"), "w") as f:
                f.write(report)
            top = [" ".join(ln.split()[:1] + ln.split()[2:]).rstrip(" -")
                   for ln in report.splitlines() if ln.strip() and not ln.startswith("#")]
            log(f"{name}: gateway perf top: " + " | ".join(top[:8]))
        # Items ranked by the merge per request, as the gateway counts them:
        # each member's first items, or for a deep page the keys of its share.
        merged = max(1, round((merged_items(gateway_url) - items0) / n))
        result(f"{name}.cpu.requests", n)
        result(f"{name}.cpu.merged_per_request", merged)
        result(f"{name}.cpu.us_per_request", f"{(c1 - c0) * 1e6 / n:.0f}")
        result(f"{name}.cpu.us_per_item", f"{(c1 - c0) * 1e6 / (n * merged):.2f}")
        result(f"{name}.cpu.loop_ms_per_request", f"{wall * 1000 / n:.2f}")
        log(f"{name}: gateway CPU {(c1 - c0) * 1e6 / n:.0f} µs/request over {n} requests, "
            f"{(c1 - c0) * 1e6 / (n * merged):.2f} µs per merged item ({merged} merged)")
    out.close()
    return 0


def report(results):
    r = load(results)

    def num(k):
        return result_num(r, k)

    def ratio(a, b):
        return f"{a / b:.2f}×" if a is not None and b else "?"

    def ok(value, goal):
        return "✅" if value is not None and value <= goal else "❌"

    print(f"### Search over the fleet — {r.get('env.repos', '?')} repositories, "
          f"{r.get('env.members', '?')} members vs one node\n")
    print(f"{r.get('env.cores', '?')} cores ({r.get('env.cpu', '?')}), shared by client, gateway and "
          f"nodes; commit {r.get('env.commit', '?')}; QUICK={r.get('env.quick', '0')}; idle before "
          f"{r.get('env.idle_before', '?')}%; medians of {r.get('env.runs', '?')} runs, page of 10, "
          f"sortBy UPDATE_TIME.\n")
    print("| query | single node ms | gateway ms | naive fan-out ms (fetch) | gateway ÷ single (≤ 1.3×) "
          "| gateway ÷ naive (≤ 0.1×) | one member's top-k ms | gateway CPU µs/request | µs per merged item "
          "| answers equal |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    labels = {
        "repolist_0": "`RepoListWithNewestImage` offset 0",
        "repolist_1000": "`RepoListWithNewestImage` offset 1000",
        "global_0": "`GlobalSearch(query:\"\")` offset 0",
        "zui_0": "`RepoListWithNewestImage` offset 0, zui's selection",
        "zui_1000": "`RepoListWithNewestImage` offset 1000, zui's selection",
    }
    for name, label in labels.items():
        s, g, n = (num(f"{name}.{t}.median_ms") for t in ("single", "gateway", "naive"))
        if s is None:
            continue
        gs = g / s if s else None
        gn = g / n if n else None
        eq = "yes" if r.get(f"{name}.mismatches") == "0" else f"**no** ({r.get(f'{name}.mismatches')})"
        print(f"| {label} | {s:.1f} | {g:.1f} | {n:.0f} ({num(f'{name}.naive.fetch_ms'):.0f}) "
              f"| {ratio(g, s)} {ok(gs, 1.3)} | {ratio(g, n)} {ok(gn, 0.1)} "
              f"| {r.get(f'{name}.member.median_ms', '?')} "
              f"| {r.get(f'{name}.cpu.us_per_request', '?')} "
              f"| {r.get(f'{name}.cpu.us_per_item', '?')} (×{r.get(f'{name}.cpu.merged_per_request', '?')}) "
              f"| {eq} |")
    print()
    print(f"Metadata rebuild at start: single node {r.get('env.ready_single_s', '?')} s, members "
          f"{r.get('env.ready_members_s', '?')} s. Naive fan-out answers: "
          f"{int(num('repolist_0.naive.bytes') or 0) // 1024} KiB per request "
          f"(all members), parsed and sorted in Python. Load after: {r.get('env.load_after', '?')}.")
    return 0


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait":
        return wait(args[0], int(args[1]), float(args[2]))
    if cmd == "measure":
        return measure(args[0], args[1], args[2], args[3], args[4:])
    if cmd == "report":
        return report(args[0])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
