#!/usr/bin/env python3
"""The fleet-scale goals in one table, from the key=value results of
bench/catalog.sh, bench/gateway.sh and bench/search.sh (RESULTS_OUT of each).

  fleet_report.py CATALOG_RESULTS GATEWAY_RESULTS SEARCH_RESULTS
"""

import sys

from report import load, num, verdict


def row(measure, gateway, baseline, value, goal, ok, unit=""):
    shown = "—" if value is None else f"{value:.2f}{unit}"
    print(f"| {measure} | {gateway} | {baseline} | {shown} | {goal} | {verdict(ok)} |")


def div(a, b):
    return None if a is None or b in (None, 0) else a / b


def main():
    cat, gw, search = (load(p) for p in sys.argv[1:4])
    c = lambda k: num(cat, "cat." + k)  # noqa: E731
    g = lambda k: num(gw, k)  # noqa: E731
    s = lambda k: num(search, k)  # noqa: E731
    print("| measure | gateway | baseline | ratio | goal | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    repos = int(c("repositories") or 0)
    page = div(c("gateway_page_ms"), c("single_page_ms"))
    row(f"catalog page n=1000, {repos:,} repositories, gateway ÷ one node",
        f"{c('gateway_page_ms')} ms", f"{c('single_page_ms')} ms", page, "≤ 1.3", page and page <= 1.3, "×")
    share = div(c("single_page_ms"), c("single_whole_ms"))
    row("one node's page ÷ its whole catalog", f"{c('single_page_ms')} ms",
        f"{c('single_whole_ms')} ms", share, "≤ 0.05", share is not None and share <= 0.05)
    walk = div((c("gateway_walk_s") or 0) * 1000, c("single_whole_ms"))
    row("full walk through the gateway ÷ one whole-catalog GET", f"{c('gateway_walk_s')} s",
        f"{c('single_whole_ms')} ms", walk, "≤ 2", walk is not None and walk <= 2, "×")
    zui = div(s("zui_1000.gateway.median_ms"), s("zui_1000.single.median_ms"))
    equal = s("zui_1000.mismatches") == 0
    row("`RepoListWithNewestImage`, zui's selection, offset 1000, gateway ÷ one node"
        + ("" if equal else " (**answers differ**)"),
        f"{s('zui_1000.gateway.median_ms')} ms", f"{s('zui_1000.single.median_ms')} ms",
        zui, "≤ 1.3", equal and zui is not None and zui <= 1.3, "×")
    man = div(g("man.gateway.proxy_cpu_us"), g("man.nginx.proxy_cpu_us"))
    row("manifest GET, proxy CPU per request, gateway ÷ nginx",
        f"{g('man.gateway.proxy_cpu_us')} µs", f"{g('man.nginx.proxy_cpu_us')} µs",
        man, "≤ 1.0", man is not None and man <= 1.0, "×")
    blob = div(g("blob.gateway.proxy_cpu"), g("blob.nginx.proxy_cpu"))
    row("blob pull, proxy CPU per GiB, gateway ÷ nginx",
        f"{g('blob.gateway.proxy_cpu')} s", f"{g('blob.nginx.proxy_cpu')} s",
        blob, "≤ 1.0", blob is not None and blob <= 1.0, "×")
    hwm, nginx_hwm = g("conc.gateway.hwm_kib"), g("conc.nginx.hwm_kib")
    conc = int(g("conc.expected") or 0)
    row(f"{conc} concurrent pulls, proxy peak RSS, gateway (nginx beside)",
        f"{(hwm or 0) / 1024:.1f} MiB", f"{(nginx_hwm or 0) / 1024:.1f} MiB",
        None if hwm is None else hwm / 1024, "≤ 32 MiB", hwm is not None and hwm / 1024 <= 32, " MiB")


if __name__ == "__main__":
    sys.exit(main())
