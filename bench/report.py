#!/usr/bin/env python3
"""Turns bench/gateway.sh's key=value results into the markdown summary.

  report.py RESULTS_FILE
"""

import sys


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                out[key] = value
    return out


def num(r, key):
    try:
        return float(r[key])
    except (KeyError, ValueError):
        return None


def fmt(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


def verdict(ok):
    return "—" if ok is None else ("yes" if ok else "**no**")


def main():
    r = load(sys.argv[1])
    rows = []

    def row(metric, d, g, n, goal="", ok=None, digits=0):
        rows.append((metric, fmt(d, digits), fmt(g, digits), fmt(n, digits),
                     ratio(g, d), ratio(g, n), goal, verdict(ok)))

    conns = r.get("env.sizes", "")
    d, g, n = (num(r, f"man.{t}.rps") for t in ("direct", "gateway", "nginx"))
    ok = None if None in (d, g, n) else (g >= 0.90 * d and g >= n)
    row("manifest GET, req/s", d, g, n, "≥ 0.90× direct and ≥ nginx", ok)
    d, g, n = (num(r, f"man.{t}.p99_ms") for t in ("direct", "gateway", "nginx"))
    row("manifest GET, p99 ms", d, g, n, "(lower is better)", digits=2)
    d, g, n = (num(r, f"man.{t}.p50_ms") for t in ("direct", "gateway", "nginx"))
    row("manifest GET, p50 ms", d, g, n, "(lower is better)", digits=2)
    g, n = num(r, "man.gateway.proxy_cpu_us"), num(r, "man.nginx.proxy_cpu_us")
    row("manifest GET, proxy CPU µs/request", None, g, n, "(lower is better)", digits=1)
    d, g, n = (num(r, f"man.{t}.node_cpu_us") for t in ("direct", "gateway", "nginx"))
    row("manifest GET, node CPU µs/request", d, g, n, "(all nodes together)", digits=1)

    d, g, n = (num(r, f"blob.{t}.best") for t in ("direct", "gateway", "nginx"))
    ok = None if None in (d, g) else g >= 0.95 * d
    row("large blob pull, MiB/s (best)", d, g, n, "≥ 0.95× direct", ok)
    d, g, n = (num(r, f"blob.{t}.median") for t in ("direct", "gateway", "nginx"))
    ok = None if None in (d, g) else g >= 0.95 * d
    row("large blob pull, MiB/s (median)", d, g, n, "≥ 0.95× direct", ok)

    g, n = num(r, "blob.gateway.proxy_cpu"), num(r, "blob.nginx.proxy_cpu")
    row("large blob pull, proxy CPU s/GiB", None, g, n, "(lower is better)", digits=3)
    d, g, n = (num(r, f"blob.{t}.node_cpu") for t in ("direct", "gateway", "nginx"))
    row("large blob pull, node CPU s/GiB", d, g, n, "", digits=3)

    d, g, n = (num(r, f"conc.{t}.mibs") for t in ("direct", "gateway", "nginx"))
    row("concurrent pulls, aggregate MiB/s", d, g, n)
    g, n = num(r, "conc.gateway.hwm_kib"), num(r, "conc.nginx.hwm_kib")
    mib = lambda v: None if v is None else v / 1024  # noqa: E731
    ok = None if g is None else g <= 64 * 1024
    row("concurrent pulls, proxy peak RSS MiB (VmHWM)", None, mib(g), mib(n), "gateway ≤ 64 MiB", ok, 1)
    g, n = num(r, "conc.gateway.sampled_kib"), num(r, "conc.nginx.sampled_kib")
    row("concurrent pulls, proxy max sampled RSS MiB", None, mib(g), mib(n), "", None, 1)
    g, n = num(r, "conc.gateway.idle_kib"), num(r, "conc.nginx.idle_kib")
    row("proxy RSS before the pulls, MiB", None, mib(g), mib(n), "", None, 1)

    d, g = num(r, "cat.direct.full_ms"), num(r, "cat.gateway.full_ms")
    ok = None if None in (d, g) else g <= 1.5 * d
    row("catalog, whole (one GET), ms", d, g, None, "≤ 1.5× direct", ok)
    per_page = {}
    for t in ("direct", "gateway"):
        s, p = num(r, f"cat.{t}.walk_s"), num(r, f"cat.{t}.walk_pages")
        per_page[t] = None if not p else s * 1000 / p
    d, g = per_page["direct"], per_page["gateway"]
    ok = None if None in (d, g) else g <= 1.5 * d
    row("catalog, paged walk, ms per page", d, g, None, "≤ 1.5× direct", ok)
    d, g = num(r, "cat.direct.walk_s"), num(r, "cat.gateway.walk_s")
    row("catalog, paged walk, total s", d, g, None, "", None, 1)

    print("## Flotilla gateway benchmark (bench/gateway.sh)")
    print()
    print(f"- commit `{r.get('env.commit', '?')}`; {'QUICK smoke run; ' if r.get('env.quick') == '1' else ''}{conns}")
    print(f"- machine: {r.get('env.cores', '?')} cores ({r.get('env.cpu', '?')}), "
          "**shared by the load generator, the proxy and every node**: a proxy's CPU comes "
          "out of the nodes' and the client's share, so ratios against `direct` understate "
          "what a proxy on its own cores would reach. The CPU µs/request rows are the "
          "share-independent cost.")
    print(f"- nginx: `hash $repo consistent`, proxy_buffering and proxy_request_buffering off, "
          f"upstream keepalive, proxy_buffer_size {r.get('env.nginx_buffer', 'default')}")
    print(f"- machine idle before the run: {r.get('env.idle_before', '?')}%; "
          f"load average after: {r.get('env.load_after', '?')}")
    print("- direct: one node holding every repository; gateway and nginx: 3 nodes "
          f"(catalog: {r.get('cat.gateway.count', '?')} repositories, gateway in front of "
          "4 members vs direct to one node holding them all; nginx not in the catalog test)")
    walks = [t for t in ("direct", "gateway") if r.get(f"cat.{t}.walk_finished") == "false"]
    if walks:
        print(f"- paged catalog walk stopped at its time limit for: {', '.join(walks)} "
              "(pages walked: " + ", ".join(f"{t} {r.get(f'cat.{t}.walk_pages')}" for t in walks)
              + "); compare ms per page")
    errors = {t: r.get(f"man.{t}.errors") for t in ("direct", "gateway", "nginx")}
    if any(e not in (None, "0") for e in errors.values()):
        print(f"- **wrk errors**: {errors}")
    for t in ("direct", "gateway", "nginx"):
        ok = r.get(f"conc.{t}.ok")
        if ok is not None and r.get("env.sizes") and ok != r.get("conc.expected", ok):
            print(f"- **only {ok} concurrent pulls via {t} were complete**")
    print()
    print("| metric | direct | gateway | nginx | gateway ÷ direct | gateway ÷ nginx | goal | met |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
