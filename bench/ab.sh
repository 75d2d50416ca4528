#!/usr/bin/env bash
# Two builds of the gateway, A and B, side by side in front of the same three
# nodes, measured in turns: manifest GETs (wrk) and a blob pull (curl), ROUNDS
# times each, alternating A and B so that the machine's drift hits both alike.
# For a change's before and after: build each (e.g. in a git worktree) and
# give their gateway binaries.
#
#   bench/ab.sh A_GATEWAY B_GATEWAY
#
# Knobs: ROUNDS (5), WRK_DURATION (10 s), WRK_CONNECTIONS (64), WRK_THREADS (2),
# BLOB_MIB (256), KEEP_TMP=1. Nodes are this checkout's release flotilla-node
# (NO_BUILD=1 skips building it). Prints a markdown table of the medians.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"
log() { printf '[ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
KEEP_TMP="${KEEP_TMP:-0}"
# shellcheck source=bench/common.sh
source "$bench/common.sh"

[ $# -eq 2 ] || die "usage: bench/ab.sh A_GATEWAY B_GATEWAY"
ROUNDS="${ROUNDS:-5}" WRK_DURATION="${WRK_DURATION:-10}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}" WRK_THREADS="${WRK_THREADS:-2}" BLOB_MIB="${BLOB_MIB:-256}"
require_tools wrk curl jq python3 sha256sum
bench_init flotilla-ab
bench_binaries
cp "$1" "$BIN/gateway-a"
cp "$2" "$BIN/gateway-b"

MEMBERS=()
for i in 1 2 3; do
    node "node$i"
    MEMBERS+=("127.0.0.1:$STARTED_PORT")
done
declare -A url pid
for side in a b; do
    gateway_config "$T/gateway-$side.json" "${MEMBERS[@]}"
    start "gateway-$side" "$BIN/gateway-$side" serve "$T/gateway-$side.json"
    url[$side]="http://127.0.0.1:$STARTED_PORT" pid[$side]=$STARTED_PID
done

log "pushing 16 small images and one $BLOB_MIB MiB blob through A"
head -c 1024 /dev/urandom >"$T/small.layer"
image small "$T/small.layer"
repos=()
for i in $(seq -w 0 15); do
    push_image "${url[a]}" "ab/small-$i" small "$T/small.layer"
    repos+=("ab/small-$i")
done
head -c "$((BLOB_MIB << 20))" /dev/urandom >"$T/big.layer"
image big "$T/big.layer"
push_image "${url[a]}" ab/big big "$T/big.layer"
big="$(cat "$T/big.layer.digest")"
sync

cpu() { python3 "$bench/procstat.py" cpu "$1"; }
for round in $(seq "$ROUNDS"); do
    for side in a b; do
        wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d2s -s "$bench/manifest.lua" "${url[$side]}" -- v1 "${repos[@]}" >/dev/null
        c0="$(cpu "${pid[$side]}")"
        wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_DURATION}s" --timeout 10s -s "$bench/manifest.lua" \
            "${url[$side]}" -- v1 "${repos[@]}" >"$T/wrk.txt"
        c1="$(cpu "${pid[$side]}")"
        line="$(grep '^RESULT ' "$T/wrk.txt")" || die "wrk printed no RESULT: $(cat "$T/wrk.txt")"
        eval "${line#RESULT }"
        [ $((status_errors + connect_errors + read_errors + write_errors + timeouts)) = 0 ] ||
            die "wrk via $side saw errors: $line"
        result "$side.rps" "$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
        result "$side.cpu_us" "$(awk -v a="$c0" -v b="$c1" -v r="$requests" 'BEGIN { printf "%.1f", (b - a) * 1e6 / r }')"
        result "$side.p99_ms" "$(awk -v v="$p99_us" 'BEGIN { printf "%.2f", v / 1000 }')"
        c0="$(cpu "${pid[$side]}")"
        out="$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
            "${url[$side]}/v2/ab/big/blobs/$big")"
        read -r code bytes secs <<<"$out"
        c1="$(cpu "${pid[$side]}")"
        [ "$code" = 200 ] && [ "$bytes" = "$((BLOB_MIB << 20))" ] || die "pull via $side: $code, $bytes bytes"
        result "$side.mibs" "$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }')"
        result "$side.cpu_s_gib" "$(awk -v a="$c0" -v b="$c1" -v n="$bytes" 'BEGIN { printf "%.3f", (b - a) * 1073741824 / n }')"
    done
    log "round $round of $ROUNDS done"
done

median() { grep "^$1=" "$RESULTS" | cut -d= -f2 | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n| median of %s rounds | A | B | B ÷ A |\n| --- | ---: | ---: | ---: |\n' "$ROUNDS"
for key in "rps:manifest GET req/s" "p99_ms:manifest GET p99 ms" "cpu_us:gateway CPU µs per manifest GET" \
    "mibs:$BLOB_MIB MiB pull MiB/s" "cpu_s_gib:gateway CPU s per GiB pulled"; do
    k="${key%%:*}" what="${key#*:}"
    a="$(median "a.$k")" b="$(median "b.$k")"
    printf '| %s | %s | %s | %s× |\n' "$what" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')"
done
