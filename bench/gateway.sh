#!/usr/bin/env bash
# Benchmarks the gateway side by side with its two baselines, in one run:
#   direct  — clients talk to one flotilla-node holding everything;
#   gateway — flotilla-gateway in front of 3 nodes (4 for the catalog);
#   nginx   — nginx as a plain hashing reverse proxy in front of the same 3 nodes.
# Measures: manifest GET req/s and p99 at 64
# connections; 1 GiB blob pull throughput; gateway peak RSS during 100
# concurrent 100 MiB pulls; /v2/_catalog of 100k repositories over 4 members
# against one node holding them all. Prints a markdown summary table at the end.
#
# Everything binds 127.0.0.1, lives in a temporary directory, and is stopped on
# exit. Sizes come from the environment (defaults are the full sizes); QUICK=1 is
# a small smoke run. See bench/README.md.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"

# --- knobs -------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then
    q_big=16 q_medium=4 q_conc=10 q_repos=2000 q_dur=2 q_runs=2 q_cat_runs=2 q_walk_max=20
else
    q_big=1024 q_medium=100 q_conc=100 q_repos=100000 q_dur=10 q_runs=5 q_cat_runs=5 q_walk_max=40
fi
BIG_MIB="${BIG_MIB:-$q_big}"                  # the large blob pulled one at a time
MEDIUM_MIB="${MEDIUM_MIB:-$q_medium}"         # the blob pulled CONCURRENCY times at once
CONCURRENCY="${CONCURRENCY:-$q_conc}"         # concurrent pulls for the RSS test
CATALOG_REPOS="${CATALOG_REPOS:-$q_repos}"    # repositories in the catalog test
CATALOG_MEMBERS="${CATALOG_MEMBERS:-4}"       # members they are spread over
CATALOG_RUNS="${CATALOG_RUNS:-$q_cat_runs}"   # timed full-catalog GETs (median reported)
CATALOG_PAGE="${CATALOG_PAGE:-1000}"          # n= of the paged walk
WALK_MAX_S="${WALK_MAX_S:-$q_walk_max}"       # a paged walk stops (and says so) after this
WRK_DURATION="${WRK_DURATION:-$q_dur}"        # seconds per wrk run
WRK_CONNECTIONS="${WRK_CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-2}"
MANIFEST_REPOS="${MANIFEST_REPOS:-16}"        # repositories the manifest GETs rotate over
BLOB_RUNS="${BLOB_RUNS:-$q_runs}"             # timed pulls of the large blob per target
NO_BUILD="${NO_BUILD:-0}"                     # 1: use target/release as it is
WAIT_IDLE="${WAIT_IDLE:-0}"                   # wait up to this many seconds for a quiet machine
KEEP_TMP="${KEEP_TMP:-0}"                     # 1: keep the temporary directory
SUMMARY_OUT="${SUMMARY_OUT:-}"                # also write the summary table here
SKIP_CATALOG="${SKIP_CATALOG:-0}"             # 1: leave out the catalog (bench/catalog.sh has it)
PERF_DIR="${PERF_DIR:-}"                      # set: perf profiles of the proxies (manifest run, first blob pull)
# nginx's proxy_buffer_size: with proxy_buffering off it is how much nginx
# reads from a node per system call. nginx's own default (one page, 4k; set
# NGINX_PROXY_BUFFER= to keep it) halves its blob throughput here; 64k is the
# node's own chunk size, so the baseline is nginx tuned, not handicapped.
NGINX_PROXY_BUFFER="${NGINX_PROXY_BUFFER-64k}"
HASH_KEY="loremipsumdolors"

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# --- tools, processes and cleanup --------------------------------------------
# shellcheck source=bench/common.sh
source "$bench/common.sh"
require_tools wrk nginx curl jq python3 sha256sum
bench_init flotilla-bench


# wait_http URL PID LOG: until URL answers; gives up if PID exits, showing LOG.
wait_http() {
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        kill -0 "$2" 2>/dev/null || die "$1: server exited: $(tail -3 "$3")"
        sleep 0.1
    done
    die "$1 did not answer in 10 s"
}

# --- binaries ----------------------------------------------------------------
bench_binaries

cores="$(nproc)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
result env.cores "$cores"
result env.cpu "$cpu"
result env.quick "${QUICK:-0}"
result env.commit "$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$repo" && git diff --quiet HEAD -- gateway registry-node 2>/dev/null || echo '+dirty')"
result env.nginx_buffer "${NGINX_PROXY_BUFFER:-default}"
result env.sizes "big=${BIG_MIB}MiB medium=${MEDIUM_MIB}MiB x${CONCURRENCY}, catalog=${CATALOG_REPOS} repos over ${CATALOG_MEMBERS}, wrk -t${WRK_THREADS} -c${WRK_CONNECTIONS} -d${WRK_DURATION}s"
log "temporary directory $T; $cores cores ($cpu), shared by client, proxies and nodes"
idle="$(idle_pct)"
waited=0
while [ "$idle" -lt 85 ] && [ "$waited" -lt "$WAIT_IDLE" ]; do
    log "machine $idle% idle; waiting for other load to finish (WAIT_IDLE=$WAIT_IDLE s, $waited s so far)"
    sleep 8
    waited=$((waited + 10))
    idle="$(idle_pct)"
done
result env.idle_before "$idle"
[ "$idle" -ge 85 ] || log "WARNING: the machine is only $idle% idle before the run: other load will skew the numbers"

# --- servers -----------------------------------------------------------------
node direct
direct_pid=$STARTED_PID direct_port=$STARTED_PORT
fleet 3
node_pids=("${NODE_PIDS[@]}") members=("${MEMBERS[@]}")
gateway_pid=$GATEWAY_PID gateway_port=$GATEWAY_PORT

nginx_port="$(free_port)"
mkdir -p "$T/nginx/logs"
nginx_user=""
[ "$(id -u)" = 0 ] && nginx_user="user root;" # workers would otherwise drop to nobody
cat >"$T/nginx/nginx.conf" <<EOF
# A plain hashing reverse proxy: what users would put in front of nodes instead of the gateway.
$nginx_user
daemon off;
worker_processes auto;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/nginx/client_body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    keepalive_requests 1000000;   # wrk's connections stay up, as they do on the gateway
    keepalive_timeout 300s;
    map \$uri \$repo {
        "~^/v2/(.+?)/(manifests|blobs|tags|referrers)/" \$1;
        default "";
    }
    upstream nodes {
        hash \$repo consistent;
        server ${members[0]};
        server ${members[1]};
        server ${members[2]};
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        client_max_body_size 0;
        location / {
            proxy_pass http://nodes;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            ${NGINX_PROXY_BUFFER:+proxy_buffer_size $NGINX_PROXY_BUFFER; proxy_buffers 4 $NGINX_PROXY_BUFFER; proxy_busy_buffers_size $NGINX_PROXY_BUFFER;}
            proxy_read_timeout 600s;
            proxy_send_timeout 600s;
        }
    }
}
EOF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" \
    >"$T/nginx.out" 2>"$T/nginx.err" &
nginx_pid=$!
PIDS+=("$nginx_pid")
wait_http "http://127.0.0.1:$nginx_port/v2/" "$nginx_pid" "$T/nginx/logs/error.log"

declare -A base=(
    [direct]="http://127.0.0.1:$direct_port"
    [gateway]="http://127.0.0.1:$gateway_port"
    [nginx]="http://127.0.0.1:$nginx_port"
)
declare -A proxy_pid=([direct]="" [gateway]="$gateway_pid" [nginx]="$nginx_pid")
declare -A tier_nodes=([direct]="$direct_pid" [gateway]="${node_pids[*]}" [nginx]="${node_pids[*]}")
targets=(direct gateway nginx)
log "direct ${base[direct]}, gateway ${base[gateway]}, nginx ${base[nginx]} (nodes ${members[*]})"

# --- images --------------------------------------------------------------------
log "generating blobs: ${BIG_MIB} MiB, ${MEDIUM_MIB} MiB, 1 KiB"
head -c 1024 /dev/urandom >"$T/small.layer"
head -c "$((MEDIUM_MIB << 20))" /dev/urandom >"$T/medium.layer"
head -c "$((BIG_MIB << 20))" /dev/urandom >"$T/big.layer"
for kind in small medium big; do image "$kind" "$T/$kind.layer"; done

manifest_repos=()
for i in $(seq -f '%02g' 0 $((MANIFEST_REPOS - 1))); do manifest_repos+=("bench/small-$i"); done
for t in "${targets[@]}"; do
    log "pushing images through $t (${#manifest_repos[@]} small, medium, big)"
    for r in "${manifest_repos[@]}"; do push_image "${base[$t]}" "$r" small "$T/small.layer"; done
    push_image "${base[$t]}" bench/medium medium "$T/medium.layer"
    push_image "${base[$t]}" bench/big big "$T/big.layer"
done
rm -f "$T/big.layer" "$T/medium.layer" # the nodes hold them now; no need for a fourth copy
log "sync: writeback of the pushed blobs must not run during the measurements"
timeout 300 sync || log "WARNING: sync did not finish in 300 s"
for r in bench/small-00 bench/medium bench/big; do
    log "placement: $r -> $("$BIN/flotilla-gateway" verify-config "$T/gateway.json" "$r" | sed -n 's/.* -> //p') (gateway)"
done

# --- 1. manifest GET -------------------------------------------------------------
cpu_of() { [ -n "$1" ] && python3 "$bench/procstat.py" cpu $1 || echo 0; }

for t in "${targets[@]}"; do
    log "manifest GET via $t: warm-up 2 s, then wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${WRK_DURATION}s"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d2s -s "$bench/manifest.lua" "${base[$t]}" -- v1 "${manifest_repos[@]}" >/dev/null
    [ "$t" = direct ] || perf_start "manifest.$t" "${proxy_pid[$t]}"
    p0="$(cpu_of "${proxy_pid[$t]}")" n0="$(cpu_of "${tier_nodes[$t]}")"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WRK_DURATION}s" --timeout 10s -s "$bench/manifest.lua" \
        "${base[$t]}" -- v1 "${manifest_repos[@]}" >"$T/wrk.$t.txt"
    p1="$(cpu_of "${proxy_pid[$t]}")" n1="$(cpu_of "${tier_nodes[$t]}")"
    perf_stop
    line="$(grep '^RESULT ' "$T/wrk.$t.txt")" || die "wrk via $t printed no RESULT: $(cat "$T/wrk.$t.txt")"
    eval "${line#RESULT }" # requests= duration_us= p50_us= ... (numbers only, from our Lua)
    errors=$((status_errors + connect_errors + read_errors + write_errors + timeouts))
    result "man.$t.rps" "$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')"
    result "man.$t.p50_ms" "$(awk -v v="$p50_us" 'BEGIN { printf "%.2f", v / 1000 }')"
    result "man.$t.p99_ms" "$(awk -v v="$p99_us" 'BEGIN { printf "%.2f", v / 1000 }')"
    result "man.$t.errors" "$errors"
    result "man.$t.proxy_cpu_us" "$(awk -v a="$p0" -v b="$p1" -v r="$requests" 'BEGIN { printf "%.1f", (b - a) * 1e6 / r }')"
    result "man.$t.node_cpu_us" "$(awk -v a="$n0" -v b="$n1" -v r="$requests" 'BEGIN { printf "%.1f", (b - a) * 1e6 / r }')"
    [ "$errors" = 0 ] || log "WARNING: wrk via $t saw $errors errors: $line"
done

# --- 2. large blob pull ------------------------------------------------------------
big_digest="$(cat "$T/big.layer.digest")"
big_bytes=$((BIG_MIB << 20))
# pull URL: one GET to /dev/null; prints MiB/s, fails on a short or wrong answer.
pull() {
    local out code bytes secs
    out="$(curl -sS --max-time 600 -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$1")"
    read -r code bytes secs <<<"$out"
    [ "$code" = 200 ] && [ "$bytes" = "$big_bytes" ] || die "pull $1: HTTP $code, $bytes bytes"
    awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.0f", b / s / 1048576 }'
}
for t in "${targets[@]}"; do pull "${base[$t]}/v2/bench/big/blobs/$big_digest" >/dev/null; done # page cache
declare -A speeds blob_proxy_cpu blob_node_cpu
for run in $(seq "$BLOB_RUNS"); do
    for t in "${targets[@]}"; do # interleaved, so drift hits all three alike
        [ "$t" = direct ] || [ "$run" != 1 ] || perf_start "blob.$t" "${proxy_pid[$t]}"
        p0="$(cpu_of "${proxy_pid[$t]}")" n0="$(cpu_of "${tier_nodes[$t]}")"
        s="$(pull "${base[$t]}/v2/bench/big/blobs/$big_digest")"
        p1="$(cpu_of "${proxy_pid[$t]}")" n1="$(cpu_of "${tier_nodes[$t]}")"
        perf_stop
        blob_proxy_cpu[$t]="$(awk -v s="${blob_proxy_cpu[$t]:-0}" -v a="$p0" -v b="$p1" 'BEGIN { print s + b - a }')"
        blob_node_cpu[$t]="$(awk -v s="${blob_node_cpu[$t]:-0}" -v a="$n0" -v b="$n1" 'BEGIN { print s + b - a }')"
        speeds[$t]="${speeds[$t]:-} $s"
        log "blob pull ${BIG_MIB} MiB via $t, run $run: $s MiB/s"
    done
done
for t in "${targets[@]}"; do
    # shellcheck disable=SC2086
    sorted="$(printf '%s\n' ${speeds[$t]} | sort -n)"
    result "blob.$t.best" "$(tail -1 <<<"$sorted")"
    result "blob.$t.median" "$(awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' <<<"$sorted")"
    gib="$(awk -v r="$BLOB_RUNS" -v m="$BIG_MIB" 'BEGIN { print r * m / 1024 }')"
    result "blob.$t.proxy_cpu" "$(awk -v c="${blob_proxy_cpu[$t]}" -v g="$gib" 'BEGIN { printf "%.3f", c / g }')"
    result "blob.$t.node_cpu" "$(awk -v c="${blob_node_cpu[$t]}" -v g="$gib" 'BEGIN { printf "%.3f", c / g }')"
done

# --- 3. concurrent pulls, proxy memory ------------------------------------------------
medium_digest="$(cat "$T/medium.layer.digest")"
medium_bytes=$((MEDIUM_MIB << 20))
result conc.expected "$CONCURRENCY"
for t in "${targets[@]}"; do
    url="${base[$t]}/v2/bench/medium/blobs/$medium_digest"
    : >"$T/curl.$t.cfg"
    for _ in $(seq "$CONCURRENCY"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$T/curl.$t.cfg"; done
    pp="${proxy_pid[$t]}"
    if [ -n "$pp" ]; then
        result "conc.$t.idle_kib" "$(python3 "$bench/procstat.py" rss "$pp")"
        python3 "$bench/procstat.py" reset-hwm "$pp"
        python3 "$bench/procstat.py" watch "$T/watch.$t" "$pp" &
        watcher=$!
        for _ in $(seq 100); do [ -e "$T/watch.$t.ready" ] && break; sleep 0.05; done
    fi
    log "$CONCURRENCY concurrent pulls of ${MEDIUM_MIB} MiB via $t"
    started="$(date +%s.%N)"
    curl -sS --max-time 600 -Z --parallel-immediate --parallel-max "$CONCURRENCY" -K "$T/curl.$t.cfg" \
        -w '%{http_code} %{size_download}\n' >"$T/conc.$t.txt" 2>"$T/conc.$t.err" ||
        log "WARNING: some pulls via $t failed: $(tail -3 "$T/conc.$t.err")"
    ended="$(date +%s.%N)"
    ok="$(awk -v n="$medium_bytes" '$1 == 200 && $2 == n' "$T/conc.$t.txt" | wc -l)"
    result "conc.$t.ok" "$ok"
    result "conc.$t.mibs" "$(awk -v a="$started" -v b="$ended" -v n="$((ok * MEDIUM_MIB))" 'BEGIN { printf "%.0f", n / (b - a) }')"
    if [ -n "$pp" ]; then
        kill -TERM "$watcher"
        wait "$watcher" || true
        result "conc.$t.hwm_kib" "$(python3 "$bench/procstat.py" hwm "$pp")"
        result "conc.$t.sampled_kib" "$(cat "$T/watch.$t")"
    fi
    [ "$ok" = "$CONCURRENCY" ] || log "WARNING: only $ok of $CONCURRENCY pulls via $t were complete"
done

# --- 4. catalog ------------------------------------------------------------------------
if [ "$SKIP_CATALOG" = 1 ]; then
    log "catalog skipped (SKIP_CATALOG=1; bench/catalog.sh measures it on its own)"
else
    log "catalog: $CATALOG_MEMBERS member nodes, one single node, a gateway in front of the members"
    # The data goes to disk first (a node indexes its repositories when it
    # starts), placed by the members' addresses, so their ports come first.
    single_port="$(free_port)"
    cat_members=() cat_roots=() cat_ports=()
    for i in $(seq "$CATALOG_MEMBERS"); do
        cat_ports+=("$(free_port)")
        cat_members+=("127.0.0.1:${cat_ports[-1]}")
        cat_roots+=("127.0.0.1:${cat_ports[-1]}=$T/cat$i")
    done
    gateway_config "$T/gateway-cat.json" "${cat_members[@]}"
    log "writing $CATALOG_REPOS repositories to disk twice (owners from verify-config)"
    python3 "$bench/catalog_fixture.py" "$BIN/flotilla-gateway" "$T/gateway-cat.json" "$CATALOG_REPOS" \
        "$T/single" "${cat_roots[@]}" >&2
    timeout 300 sync || log "WARNING: sync did not finish in 300 s"
    node_on single "$single_port"
    for i in $(seq "$CATALOG_MEMBERS"); do node_on "cat$i" "${cat_ports[$((i - 1))]}"; done
    start gateway-cat "$BIN/flotilla-gateway" serve "$T/gateway-cat.json"
    catgw_port=$STARTED_PORT
    declare -A cat_base=([direct]="127.0.0.1:$single_port" [gateway]="127.0.0.1:$catgw_port")
    for t in direct gateway; do
        url="http://${cat_base[$t]}/v2/_catalog"
        count="$(curl -sS -f --max-time 120 "$url" | jq '.repositories | length')" # also warms the dentry cache
        [ "$count" = "$CATALOG_REPOS" ] || log "WARNING: catalog via $t lists $count repositories, not $CATALOG_REPOS"
        result "cat.$t.count" "$count"
        times=()
        for _ in $(seq "$CATALOG_RUNS"); do
            times+=("$(curl -sS -f --max-time 120 -o /dev/null -w '%{time_total}' "$url")")
        done
        sorted="$(printf '%s\n' "${times[@]}" | sort -n)"
        result "cat.$t.full_ms" "$(awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", m * 1000 }' <<<"$sorted")"
        log "full catalog via $t: ${times[*]} s"
        log "paged walk via $t: n=$CATALOG_PAGE, at most $WALK_MAX_S s"
        walk="$(python3 "$bench/catalog_walk.py" "${cat_base[$t]}" "$CATALOG_PAGE" "$WALK_MAX_S")"
        log "paged walk via $t: $walk"
        result "cat.$t.walk_s" "$(jq -r .seconds <<<"$walk")"
        result "cat.$t.walk_pages" "$(jq -r .pages <<<"$walk")"
        result "cat.$t.walk_repos" "$(jq -r .repositories <<<"$walk")"
        result "cat.$t.walk_finished" "$(jq -r .finished <<<"$walk")"
    done
fi

result env.load_after "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- summary ----------------------------------------------------------------------------
python3 "$bench/report.py" "$RESULTS" >"$T/summary.md"
[ -n "$SUMMARY_OUT" ] && cp "$T/summary.md" "$SUMMARY_OUT"
cat "$T/summary.md"
