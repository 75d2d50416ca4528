#!/usr/bin/env bash
# Holds a gateway in front of three release nodes under many connections for
# a while (default 1,000 connections for 60 s) with a mix of manifest GETs,
# search POSTs and blob GETs (bench/mixed.lua), and reports what a load test
# must: answers that were not 2xx, socket errors, p50/p99 latency, and the
# gateway's RSS and open descriptors before, during (sampled) and after the
# load. Then it checks that the descriptors return to their baseline; exits
# non-zero when they do not, or when any request failed.
#
# Everything binds 127.0.0.1, lives in a temporary directory, and is stopped
# on exit. See bench/README.md.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"

# --- knobs -------------------------------------------------------------------
CONNECTIONS="${CONNECTIONS:-1000}"  # wrk connections held open
DURATION="${DURATION:-60}"          # seconds of load
THREADS="${THREADS:-2}"             # wrk threads
MIX="${MIX:-6:2:2}"                 # manifests:searches:blobs
REPOS="${REPOS:-12}"                # repositories pushed, each one image
BLOB_KIB="${BLOB_KIB:-64}"          # size of the layer every repository holds
WRK_TIMEOUT="${WRK_TIMEOUT:-10}"    # seconds before wrk counts a request as timed out
SAMPLE_S="${SAMPLE_S:-1}"           # RSS/descriptor sampling period
SETTLE_S="${SETTLE_S:-100}"         # how long descriptors get to return to baseline (past the 90 s pool idle timeout)
FD_SLACK="${FD_SLACK:-0}"           # descriptors above baseline still counted as returned
NO_BUILD="${NO_BUILD:-0}"           # 1: use target/release as it is
KEEP_TMP="${KEEP_TMP:-0}"           # 1: keep the temporary directory
SUMMARY_OUT="${SUMMARY_OUT:-}"      # also write the summary table here

log() { printf '[load %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# shellcheck source=bench/common.sh
source "$bench/common.sh"
require_tools wrk curl jq python3 sha256sum ss

# wrk needs a descriptor per connection, and the gateway (started from this
# shell) two: the client's and one to a member.
need=$((2 * CONNECTIONS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    hard="$(ulimit -Hn)"
    [ "$hard" = unlimited ] || [ "$hard" -ge "$need" ] || die "ulimit -Hn is $hard; $CONNECTIONS connections need $need"
    ulimit -n "$need"
fi

bench_init flotilla-load
bench_binaries

result env.cores "$(nproc)"
result env.cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
result env.commit "$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$repo" && git diff --quiet HEAD -- gateway registry-node 2>/dev/null || echo '+dirty')"
result env.load "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, mix $MIX (manifests:searches:blobs), $REPOS repositories, ${BLOB_KIB} KiB blobs"
result env.idle_before "$(idle_pct)"
result env.ulimit_n "$(ulimit -n)"

# --- servers -----------------------------------------------------------------
fleet 3 '"extensions":{"search":{"enable":true}}'
gw_pid=$GATEWAY_PID gw_port=$GATEWAY_PORT
base="http://127.0.0.1:$gw_port"
log "gateway $base (pid $gw_pid) in front of ${MEMBERS[*]}"

# --- fixture -------------------------------------------------------------------
head -c "$((BLOB_KIB << 10))" /dev/urandom >"$T/small.layer"
image small "$T/small.layer"
digest="$(cat "$T/small.layer.digest")"
repos=()
for i in $(seq -f '%02g' 1 "$REPOS"); do repos+=("load/r$i"); done
log "pushing $REPOS images through the gateway"
for r in "${repos[@]}"; do push_image "$base" "$r" small "$T/small.layer"; done

search_total() {
    curl -sS --max-time 10 -H 'Content-Type: application/json' \
        --data '{"query":"{RepoListWithNewestImage(requestedPage:{limit:1}){Page{TotalCount}}}"}' \
        "$base/v2/_zot/ext/search" | jq -r '.data.RepoListWithNewestImage.Page.TotalCount // empty'
}
for _ in $(seq 100); do
    [ "$(search_total)" = "$REPOS" ] && break
    sleep 0.2
done
[ "$(search_total)" = "$REPOS" ] || die "search through the gateway does not count $REPOS repositories"
# One of each request, so a broken fixture fails here rather than as errors under load.
for path in "/v2/${repos[0]}/manifests/v1" "/v2/${repos[0]}/blobs/$digest"; do
    curl -sS -f --max-time 10 -o /dev/null "$base$path" || die "GET $path failed"
done

# --- measurements ------------------------------------------------------------------
# conns PORT sport|dport: established TCP connections with that local or remote port.
conns() { ss -Htn state established "( $2 = :$1 )" | wc -l; }
upstream() {
    local n=0 p
    for p in "${NODE_PORTS[@]}"; do n=$((n + $(conns "$p" dport))); done
    echo "$n"
}
snapshot() { # PHASE: the gateway's RSS, descriptors and sockets now
    result "$1.rss_kib" "$(python3 "$bench/procstat.py" rss "$gw_pid")"
    result "$1.fds" "$(python3 "$bench/procstat.py" fds "$gw_pid")"
    result "$1.client_conns" "$(conns "$gw_port" sport)"
    result "$1.upstream_conns" "$(upstream)"
}
snapshot before
baseline_fds="$(python3 "$bench/procstat.py" fds "$gw_pid")"

python3 "$bench/procstat.py" series "$T/series.txt" "$SAMPLE_S" "$gw_pid" &
sampler=$!
log "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, mix $MIX"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout "${WRK_TIMEOUT}s" \
    -s "$bench/mixed.lua" "$base" -- "$MIX" v1 "$digest" "${repos[@]}" >"$T/wrk.txt" 2>&1 ||
    log "WARNING: wrk exited non-zero: $(tail -3 "$T/wrk.txt")"
snapshot end
kill -TERM "$sampler"
wait "$sampler" || true

line="$(grep '^RESULT ' "$T/wrk.txt" || true)"
[ -n "$line" ] || die "wrk printed no RESULT line: $(tail -5 "$T/wrk.txt")"
for kv in ${line#RESULT }; do result "wrk.${kv%%=*}" "${kv#*=}"; done
awk '{ if ($2 > rss) rss = $2; if ($3 > fds) fds = $3 } END { print "during.rss_kib_max=" rss; print "during.fds_max=" fds; print "during.samples=" NR }' \
    "$T/series.txt" >>"$RESULTS"

log "waiting up to $SETTLE_S s for the gateway's descriptors to return to $baseline_fds (+$FD_SLACK)"
settled=no
started=$SECONDS
while [ $((SECONDS - started)) -le "$SETTLE_S" ]; do
    if [ "$(python3 "$bench/procstat.py" fds "$gw_pid")" -le $((baseline_fds + FD_SLACK)) ]; then
        settled=yes
        break
    fi
    sleep 1
done
result after.waited_s "$((SECONDS - started))"
snapshot after
result after.fds_returned "$settled"
kill -0 "$gw_pid" 2>/dev/null && result after.gateway_alive yes || result after.gateway_alive no

# --- report ----------------------------------------------------------------------------
r() { sed -n "s/^$1=//p" "$RESULTS" | tail -1; }
errors=$(($(r wrk.non2xx) + $(r wrk.connect_errors) + $(r wrk.read_errors) + $(r wrk.write_errors) + $(r wrk.timeouts)))
{
    echo "| | before | during (max of $(r during.samples) samples) | end of load | after $(r after.waited_s) s |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| gateway RSS (KiB) | $(r before.rss_kib) | $(r during.rss_kib_max) | $(r end.rss_kib) | $(r after.rss_kib) |"
    echo "| gateway descriptors | $(r before.fds) | $(r during.fds_max) | $(r end.fds) | $(r after.fds) |"
    echo "| client connections | $(r before.client_conns) | | $(r end.client_conns) | $(r after.client_conns) |"
    echo "| connections to members | $(r before.upstream_conns) | | $(r end.upstream_conns) | $(r after.upstream_conns) |"
    echo
    echo "$(r env.load) on $(r env.cores) cores ($(r env.idle_before)% idle before), commit $(r env.commit)"
    echo
    awk -v n="$(r wrk.requests)" -v us="$(r wrk.duration_us)" -v p50="$(r wrk.p50_us)" -v p99="$(r wrk.p99_us)" -v max="$(r wrk.max_us)" \
        'BEGIN { printf "requests %d (%.0f/s), p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", n, n / (us / 1e6), p50 / 1000, p99 / 1000, max / 1000 }'
    echo "errors: non-2xx $(r wrk.non2xx), connect $(r wrk.connect_errors), read $(r wrk.read_errors), write $(r wrk.write_errors), timeouts $(r wrk.timeouts)"
    echo "descriptors back to baseline ($baseline_fds): $(r after.fds_returned); gateway alive: $(r after.gateway_alive)"
} >"$T/summary.md"
[ -n "$SUMMARY_OUT" ] && cp "$T/summary.md" "$SUMMARY_OUT"
cat "$T/summary.md"
[ "$errors" = 0 ] || die "$errors requests failed"
[ "$settled" = yes ] || die "descriptors did not return to baseline in $SETTLE_S s"
