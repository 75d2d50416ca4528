#!/usr/bin/env bash
# Benchmarks fleet-wide search, side by side in one run:
#   single  — one flotilla-node holding all REPOS repositories;
#   gateway — the same repositories spread over MEMBERS nodes by the gateway's
#             placement, behind flotilla-gateway (page push-down + merge);
#   naive   — a fetch-everything fan-out (bench/search_bench.py): every member
#             asked for `limit: 0`, merged, sorted and cut client-side.
# Queries: a page of 10 by UPDATE_TIME of RepoListWithNewestImage at offset 0
# and 1000, and of GlobalSearch(query:""). Reports medians, the ratios to the
# goals (gateway ≤ 1.3× single, ≤ 0.1× naive) and the gateway's CPU per merged
# item. Prints a markdown summary table at the end.
#
# Repositories (one small tagged image each, every config with its own
# `created`) are written straight to disk by bench/search_fixture.py; the
# nodes build their search metadata from storage at start. Everything binds
# 127.0.0.1, lives in a temporary directory, and is stopped on exit.
# QUICK=1 is a small run (10k repositories). See bench/README.md.
set -euo pipefail

bench="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$bench/.." && pwd)"

if [ "${QUICK:-0}" = 1 ]; then
    q_repos=10000 q_runs=5 q_cpu=100
else
    q_repos=100000 q_runs=7 q_cpu=200
fi
REPOS="${REPOS:-$q_repos}"               # repositories, one image each
MEMBERS="${MEMBERS:-4}"                  # member nodes behind the gateway
export RUNS="${RUNS:-$q_runs}"           # timed runs per query and target (median reported)
export CPU_REQUESTS="${CPU_REQUESTS:-$q_cpu}" # gateway requests per CPU-time loop
export CPU_MAX_S="${CPU_MAX_S:-20}"      # a CPU-time loop stops after this
READY_MAX_S="${READY_MAX_S:-300}"        # metadata rebuild bound per node
NO_BUILD="${NO_BUILD:-0}"                # 1: use target/release as it is
KEEP_TMP="${KEEP_TMP:-0}"                # 1: keep the temporary directory
SUMMARY_OUT="${SUMMARY_OUT:-}"           # also write the summary table here
HASH_KEY="loremipsumdolors"

log() { printf '[search %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "missing: $tool"
done

# --- processes and cleanup ---------------------------------------------------
START_MAX_S="$READY_MAX_S"
# shellcheck source=bench/common.sh
source "$bench/common.sh"
bench_init flotilla-search

node_config() { # NAME: a node config with search and UI, its own root, a free port
    mkdir -p "$T/$1"
    cat >"$T/$1.json" <<EOF
{"distSpecVersion":"1.1.1","storage":{"rootDirectory":"$T/$1"},
 "http":{"address":"127.0.0.1","port":"0"},"log":{"level":"warn"},
 "extensions":{"search":{"enable":true},"ui":{"enable":true}}}
EOF
}

# wait_ready NAME PORT: /readyz, then the first search that counts every repository there.
wait_ready() {
    local name=$1 port=$2 expected=$3 deadline=$((SECONDS + READY_MAX_S))
    until curl -s -f -o /dev/null --max-time 2 "http://127.0.0.1:$port/readyz"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$name: /readyz not OK in $READY_MAX_S s"
        sleep 0.2
    done
    python3 "$bench/search_bench.py" wait "127.0.0.1:$port" "$expected" "$READY_MAX_S" >/dev/null ||
        die "$name: search not answering with $expected repositories"
}


# --- binaries ----------------------------------------------------------------
bench_binaries

result env.cores "$(nproc)"
result env.cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
result env.quick "${QUICK:-0}"
result env.repos "$REPOS"
result env.members "$MEMBERS"
result env.runs "$RUNS"
result env.commit "$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$repo" && git diff --quiet HEAD -- gateway registry-node 2>/dev/null || echo '+dirty')"

# --- fixture -------------------------------------------------------------------
# Member ports are fixed before the fixture is written (the placement hashes
# the member list), so pick free ones now and give them to the nodes.
member_ports=() members=() roots=()
for i in $(seq "$MEMBERS"); do
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    member_ports+=("$port")
    members+=("127.0.0.1:$port")
    roots+=("127.0.0.1:$port=$T/m$i")
    node_config "m$i"
    sed -i "s/\"port\":\"0\"/\"port\":\"$port\"/" "$T/m$i.json"
done
node_config single
members_json="$(printf '"%s",' "${members[@]}")"
# The probe timeout is raised from its 1 s default: a member busy with the
# naive fan-out's everything-query (seconds at 100k on a small machine) misses
# a 1 s probe, and one missed probe takes it out of the gateway's fleet.
cat >"$T/gateway.json" <<EOF
{"http":{"address":"127.0.0.1","port":"0"},
 "cluster":{"members":[${members_json%,}],"hashKey":"$HASH_KEY"},"log":{"level":"warn"},
 "timeouts":{"probe":"${GATEWAY_PROBE_TIMEOUT:-30s}"}}
EOF
log "writing $REPOS repositories to disk twice (owners from verify-config), under $T"
python3 "$bench/search_fixture.py" "$BIN/flotilla-gateway" "$T/gateway.json" "$REPOS" \
    "$T/single" "${roots[@]}" >&2
timeout 300 sync || log "WARNING: sync did not finish in 300 s"

idle="$(idle_pct)"
result env.idle_before "$idle"
[ "$idle" -ge 85 ] || log "WARNING: the machine is only $idle% idle before the run: other load will skew the numbers"

# --- servers (one rebuild at a time, so each is timed alone) -------------------
t0=$SECONDS
start single "$BIN/flotilla-node" serve "$T/single.json"
single_port=$STARTED_PORT
wait_ready single "$single_port" "$REPOS"
result env.ready_single_s "$((SECONDS - t0))"
log "single node ready on $single_port after $((SECONDS - t0)) s"
t0=$SECONDS
for i in $(seq "$MEMBERS"); do
    start "m$i" "$BIN/flotilla-node" serve "$T/m$i.json"
    [ "$STARTED_PORT" = "${member_ports[$((i - 1))]}" ] || die "m$i bound $STARTED_PORT, not ${member_ports[$((i - 1))]}"
done
for i in $(seq "$MEMBERS"); do
    expected="$(find "$T/m$i" -mindepth 3 -maxdepth 3 -name index.json | wc -l)"
    wait_ready "m$i" "${member_ports[$((i - 1))]}" "$expected"
done
result env.ready_members_s "$((SECONDS - t0))"
log "members ready after $((SECONDS - t0)) s"
start gateway "$BIN/flotilla-gateway" serve "$T/gateway.json"
gateway_pid=$STARTED_PID gateway_port=$STARTED_PORT
python3 "$bench/search_bench.py" wait "127.0.0.1:$gateway_port" "$REPOS" 60 >/dev/null ||
    die "the gateway does not count $REPOS repositories"
log "single 127.0.0.1:$single_port, gateway 127.0.0.1:$gateway_port (pid $gateway_pid), members ${members[*]}"

# --- measurements ----------------------------------------------------------------
python3 "$bench/search_bench.py" measure "$RESULTS" "127.0.0.1:$single_port" \
    "127.0.0.1:$gateway_port" "$gateway_pid" "${members[@]}"
result env.load_after "$(cut -d' ' -f1-3 /proc/loadavg)"

python3 "$bench/search_bench.py" report "$RESULTS" >"$T/summary.md"
[ -n "$SUMMARY_OUT" ] && cp "$T/summary.md" "$SUMMARY_OUT"
cat "$T/summary.md"
