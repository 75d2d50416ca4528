#!/usr/bin/env bash
# The fleet-scale goals in one run: bench/catalog.sh (catalog pages and
# walks at 100k repositories), bench/gateway.sh without its catalog part
# (proxy CPU per manifest request and per GiB against nginx, peak memory
# under concurrent pulls) and bench/search.sh (deep search pages), one after
# the other on this machine, then one table of every goal as a ratio
# (bench/fleet_report.py). About 20 minutes; QUICK=1 runs each script's small
# sizes. Other knobs pass through to the scripts.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d -t flotilla-fleet-XXXXXX)"
log() { printf '[fleet %s] %s\n' "$(date +%T)" "$*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
    log "cargo build --release --bins"
    (cd "$bench/.." && cargo build --release --bins --quiet)
fi
export NO_BUILD=1
for part in catalog gateway search; do
    log "bench/$part.sh"
    skip=0
    [ "$part" = gateway ] && skip=1
    SKIP_CATALOG=$skip RESULTS_OUT="$out/$part.txt" "$bench/$part.sh" >"$out/$part.md"
done
python3 "$bench/fleet_report.py" "$out/catalog.txt" "$out/gateway.txt" "$out/search.txt" | tee "$out/fleet.md"
log "each script's own table and results are in $out"
