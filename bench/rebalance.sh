#!/usr/bin/env bash
# Rebalance throughput: COUNT repositories (1000) holding TOTAL_MIB (2048) of
# images on three nodes; a fourth member joins and `flotilla-gateway rebalance
# --apply` moves the quarter it now owns (copy, verify, delete the source).
# Side by side, the baseline: `skopeo copy` of the same repositories from the
# same nodes to a fresh node, CONCURRENCY at a time, as an operator would
# move them by hand (a copy only: no verification, no delete).
#
#   bench/rebalance.sh
#
# Knobs: COUNT (1000), TOTAL_MIB (2048), CONCURRENCY (4), KEEP_TMP=1,
# NO_BUILD=1. Prints MiB/s and repositories/s of each and their ratio.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"
log() { printf '[rebalance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
KEEP_TMP="${KEEP_TMP:-0}"
# shellcheck source=bench/common.sh
source "$bench/common.sh"

COUNT="${COUNT:-1000}" TOTAL_MIB="${TOTAL_MIB:-2048}" CONCURRENCY="${CONCURRENCY:-4}"
require_tools skopeo jq python3 curl awk
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
bench_init flotilla-rebalance
bench_binaries

MEMBERS=()
for i in 1 2 3 4 5; do
    mkdir -p "$T/root$i"
    MEMBERS+=("127.0.0.1:$(free_port)")
done
gateway_config "$T/before.json" "${MEMBERS[@]:0:3}"
log "writing $COUNT repositories, $TOTAL_MIB MiB, onto three nodes"
python3 "$bench/rebalance_fixture.py" "$BIN/flotilla-gateway" "$T/before.json" "$COUNT" \
    "$(((TOTAL_MIB << 20) / COUNT))" \
    "${MEMBERS[0]}=$T/root1" "${MEMBERS[1]}=$T/root2" "${MEMBERS[2]}=$T/root3" >&2
for i in 1 2 3 4 5; do
    port="${MEMBERS[$((i - 1))]##*:}"
    cat >"$T/node$i.json" <<JSON
{"distSpecVersion":"1.1.1","storage":{"rootDirectory":"$T/root$i"},
 "http":{"address":"127.0.0.1","port":"$port"},"log":{"level":"warn"}}
JSON
    start "node$i" "$BIN/flotilla-node" serve "$T/node$i.json"
done
gateway_config "$T/window.json" "${MEMBERS[@]:0:4}"
jq --argjson previous "$(printf '%s\n' "${MEMBERS[@]:0:3}" | jq -R . | jq -s .)" \
    '.cluster.previousMembers = $previous' "$T/window.json" >"$T/window.tmp" && mv "$T/window.tmp" "$T/window.json"

"$BIN/flotilla-gateway" rebalance "$T/window.json" --json >"$T/plan.json"
jq -r 'select(.event == "plan") | .moves[] | "\(.from) \(.repository)"' "$T/plan.json" >"$T/moves.txt"
moving="$(wc -l <"$T/moves.txt")"
moving_bytes="$(jq -r 'select(.event == "plan") | .bytes' "$T/plan.json")"
log "the plan moves $moving repositories, $((moving_bytes >> 20)) MiB"
sync

log "baseline: skopeo copy of the same $moving repositories to a fresh node, $CONCURRENCY at a time"
start_s="$(date +%s.%N)"
# shellcheck disable=SC2016
xargs -P "$CONCURRENCY" -L 1 sh -c 'skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
    "docker://$0/$1:v1" "docker://'"${MEMBERS[4]}"'/$1:v1"' <"$T/moves.txt"
skopeo_s="$(since "$start_s")"
sync

log "flotilla-gateway rebalance --apply --concurrency $CONCURRENCY"
start_s="$(date +%s.%N)"
"$BIN/flotilla-gateway" rebalance "$T/window.json" --apply --json --concurrency "$CONCURRENCY" >"$T/apply.json"
rebalance_s="$(since "$start_s")"
moved="$(jq -r 'select(.event == "done") | .moved' "$T/apply.json")"
[ "$moved" = "$moving" ] || die "moved $moved of $moving: $(grep failed "$T/apply.json" | head -3)"
again="$(mktemp)"
"$BIN/flotilla-gateway" rebalance "$T/window.json" --json | jq -r 'select(.event == "plan") | .moving' >"$again"
[ "$(cat "$again")" = 0 ] || die "the plan still moves $(cat "$again") after the rebalance"
rm -f "$again"

awk -v mib="$moving_bytes" -v n="$moving" -v s="$skopeo_s" -v r="$rebalance_s" -v c="$CONCURRENCY" \
    -v count="$COUNT" -v total="$TOTAL_MIB" 'BEGIN {
    mib /= 1048576
    printf "| run | seconds | MiB/s | repositories/s |\n| --- | --- | --- | --- |\n"
    printf "| skopeo copy (-P %d) | %.1f | %.1f | %.1f |\n", c, s, mib / s, n / s
    printf "| rebalance --apply (--concurrency %d) | %.1f | %.1f | %.1f |\n", c, r, mib / r, n / r
    printf "rebalance ÷ skopeo throughput: %.2f× (%d repositories, %.0f MiB moved, of %d repositories / %d MiB)\n", s / r, n, mib, count, total
}'
