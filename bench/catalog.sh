#!/usr/bin/env bash
# /v2/_catalog at fleet scale, side by side in one run: one flotilla-node
# holding CATALOG_REPOS repositories (100k) against a gateway in front of
# CATALOG_MEMBERS nodes (4) holding the same, placed as the gateway places
# them. Prints, as ratios, what issue "catalog pages that cost a page" asks:
#   a page (n=1000, last=the middle name), gateway ÷ one node   goal ≤ 1.3
#   one node's page ÷ its whole-catalog GET                     goal ≤ 0.05
#   a full walk with n=1000 through the gateway ÷ one whole GET goal ≤ 2
# Every page compared is checked equal on both sides (bench/catalog_pages.py).
#
#   bench/catalog.sh           # 100k repositories, about 2 minutes
#   QUICK=1 bench/catalog.sh   # 5k, a smoke run
# Knobs: CATALOG_REPOS, CATALOG_MEMBERS, CATALOG_PAGE, CATALOG_RUNS, NO_BUILD, KEEP_TMP.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"

if [ "${QUICK:-0}" = 1 ]; then q_repos=5000; else q_repos=100000; fi
CATALOG_REPOS="${CATALOG_REPOS:-$q_repos}"
CATALOG_MEMBERS="${CATALOG_MEMBERS:-4}"
CATALOG_PAGE="${CATALOG_PAGE:-1000}"
CATALOG_RUNS="${CATALOG_RUNS:-5}"
KEEP_TMP="${KEEP_TMP:-0}"
HASH_KEY="loremipsumdolors"

log() { printf '[catalog %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# shellcheck source=bench/common.sh
source "$bench/common.sh"
require_tools curl jq python3
bench_init flotilla-catalog
bench_binaries

single_port="$(free_port)"
members=() roots=() ports=()
for i in $(seq "$CATALOG_MEMBERS"); do
    port="$(free_port)"
    ports+=("$port")
    members+=("127.0.0.1:$port")
    roots+=("127.0.0.1:$port=$T/member$i")
done
gateway_config "$T/gateway.json" "${members[@]}"
log "writing $CATALOG_REPOS repositories twice: into one node's root, and over ${CATALOG_MEMBERS} members by placement"
python3 "$bench/catalog_fixture.py" "$BIN/flotilla-gateway" "$T/gateway.json" "$CATALOG_REPOS" \
    "$T/single" "${roots[@]}" >&2
node_on single "$single_port"
for i in $(seq "$CATALOG_MEMBERS"); do node_on "member$i" "${ports[$((i - 1))]}"; done
start gateway "$BIN/flotilla-gateway" serve "$T/gateway.json"
gateway_port=$STARTED_PORT

log "timing: whole catalog, one page, a full walk (n=$CATALOG_PAGE), $CATALOG_RUNS runs each"
out="$(python3 "$bench/catalog_pages.py" "127.0.0.1:$single_port" "127.0.0.1:$gateway_port" \
    "$CATALOG_PAGE" "$CATALOG_RUNS")"
log "$out"
jq -r 'to_entries[] | "cat.\(.key)=\(.value)"' <<<"$out" >>"$RESULTS"
ratio() { jq -r "(.$1 / .$2 * 1000 | round) / 1000" <<<"$out"; }
cat <<EOF

| measure | one node | gateway (${CATALOG_MEMBERS} members) | ratio | goal |
| --- | --- | --- | --- | --- |
| whole catalog of $(jq -r .repositories <<<"$out") | $(jq -r .single_whole_ms <<<"$out") ms | $(jq -r .gateway_whole_ms <<<"$out") ms | $(ratio gateway_whole_ms single_whole_ms) | |
| page n=$CATALOG_PAGE after the middle name | $(jq -r .single_page_ms <<<"$out") ms | $(jq -r .gateway_page_ms <<<"$out") ms | $(ratio gateway_page_ms single_page_ms) | ≤ 1.3 |
| one node's page ÷ its whole GET | | | $(ratio single_page_ms single_whole_ms) | ≤ 0.05 |
| full walk, $(jq -r .walk_pages <<<"$out") pages | $(jq -r .single_walk_s <<<"$out") s | $(jq -r .gateway_walk_s <<<"$out") s | walk ÷ one whole GET: $(jq -r '(.gateway_walk_s * 1000 / .single_whole_ms * 100 | round) / 100' <<<"$out") | ≤ 2 |
EOF
