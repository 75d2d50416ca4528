# shellcheck shell=bash
# What the bench scripts share: a temporary directory, processes that are
# always stopped on exit, and results as key=value lines. A script defines
# log() and die() and sets KEEP_TMP (and $repo, the checkout) before sourcing
# this, then calls bench_init; START_MAX_S (default 20) bounds how long
# start() waits. Also: nodes and gateways from a config written here, and
# images pushed through a registry's front door with curl.

# require_tools TOOL...: dies naming every TOOL missing from PATH.
require_tools() {
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ "${#missing[@]}" -eq 0 ] || die "missing: ${missing[*]}. Run scripts/install-deps."
}

# bench_init PREFIX: the temporary directory $T, $PIDS and $RESULTS, and the traps.
bench_init() {
    T="$(mktemp -d -t "$1-XXXXXX")"
    PIDS=()
    RESULTS="$T/results.txt"
    : >"$RESULTS"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${RESULTS_OUT:-}" ] && [ -f "$RESULTS" ]; then
        cp "$RESULTS" "$RESULTS_OUT"
    fi
    if [ "$KEEP_TMP" = 1 ]; then
        log "kept $T"
    else
        rm -rf "$T"
    fi
    exit "$status"
}

result() { printf '%s=%s\n' "$1" "$2" >>"$RESULTS"; }

# start NAME CMD...: runs CMD in the background and waits for its
# `listening on http://127.0.0.1:PORT` line; sets STARTED_PID and STARTED_PORT.
start() {
    local name=$1
    shift
    : >"$T/$name.out" # exists before the background job opens it, for the sed below
    "$@" >"$T/$name.out" 2>"$T/$name.err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    local limit=${START_MAX_S:-20}
    local deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do
        STARTED_PORT="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$T/$name.out")"
        [ -n "$STARTED_PORT" ] && return 0
        kill -0 "$STARTED_PID" 2>/dev/null || die "$name exited: $(tail -5 "$T/$name.err")"
        sleep 0.1
    done
    die "$name did not print its listening line in $limit s"
}

# bench_binaries: builds the release binaries unless NO_BUILD=1 (or
# RELEASE_DIR names binaries built elsewhere), and copies
# them to $BIN under $T, so a rebuild by someone else mid-run cannot swap
# binaries between phases.
bench_binaries() {
    if [ "${NO_BUILD:-0}" != 1 ] && [ -z "${RELEASE_DIR:-}" ]; then
        log "cargo build --release --bins"
        (cd "$repo" && cargo build --release --bins -q) || die "build failed (NO_BUILD=1 uses target/release as it is)"
    fi
    BIN="$T/bin"
    mkdir -p "$BIN"
    # RELEASE_DIR: binaries built elsewhere (another commit's, for a before/after).
    local from="${RELEASE_DIR:-$repo/target/release}"
    for b in flotilla-node flotilla-gateway; do
        [ -x "$from/$b" ] || die "no $from/$b: build it with cargo build --release --bins"
        cp "$from/$b" "$BIN/"
    done
}

# idle_pct: how idle the whole machine is over 2 s (other users' load skews every number).
idle_pct() {
    local a b
    a=($(head -1 /proc/stat))
    sleep 2
    b=($(head -1 /proc/stat))
    awk -v i0="${a[4]}" -v i1="${b[4]}" -v t0="$(IFS=+; echo "$((${a[*]:1}))")" -v t1="$(IFS=+; echo "$((${b[*]:1}))")" \
        'BEGIN { printf "%.0f", 100 * (i1 - i0) / (t1 - t0) }'
}

# free_port: a loopback port free a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# node NAME [JSON]: a flotilla-node on a free port with its own root, JSON
# (such as `"extensions":{…}`) added to its config; sets STARTED_*.
node() {
    local name=$1 extra=${2:+,$2}
    mkdir -p "$T/$name"
    cat >"$T/$name.json" <<EOF
{"distSpecVersion":"1.1.1","storage":{"rootDirectory":"$T/$name"},
 "http":{"address":"127.0.0.1","port":"0"},"log":{"level":"warn"}$extra}
EOF
    start "$name" "$BIN/flotilla-node" serve "$T/$name.json"
}

# node_on NAME PORT: a node with its own root on a port fixed beforehand, for
# data written to its root before it starts (a node indexes its repositories
# when it starts) and placed by address; sets STARTED_*.
node_on() {
    mkdir -p "$T/$1"
    cat >"$T/$1.json" <<EOF
{"distSpecVersion":"1.1.1","storage":{"rootDirectory":"$T/$1"},
 "http":{"address":"127.0.0.1","port":"$2"},"log":{"level":"warn"}}
EOF
    start "$1" "$BIN/flotilla-node" serve "$T/$1.json"
}

# gateway_config FILE MEMBER...: a gateway config in front of the members.
gateway_config() {
    local file=$1
    shift
    local members
    members="$(printf '"%s",' "$@")"
    cat >"$file" <<EOF
{"http":{"address":"127.0.0.1","port":"0"},
 "cluster":{"members":[${members%,}],"hashKey":"${HASH_KEY:-loremipsumdolors}"},"log":{"level":"warn"}}
EOF
}

# fleet N [JSON]: N nodes (node1…nodeN, JSON added to each config) and a
# gateway in front of them; sets MEMBERS, NODE_PIDS, NODE_PORTS, GATEWAY_PID
# and GATEWAY_PORT.
fleet() {
    local i
    MEMBERS=() NODE_PIDS=() NODE_PORTS=()
    for i in $(seq "$1"); do
        node "node$i" "${2:-}"
        MEMBERS+=("127.0.0.1:$STARTED_PORT")
        NODE_PIDS+=("$STARTED_PID")
        NODE_PORTS+=("$STARTED_PORT")
    done
    gateway_config "$T/gateway.json" "${MEMBERS[@]}"
    start gateway "$BIN/flotilla-gateway" serve "$T/gateway.json"
    GATEWAY_PID=$STARTED_PID GATEWAY_PORT=$STARTED_PORT
}

# --- images: pushed with curl as a client would (POST, PUT ?digest=, then the manifest)
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size() { stat -c %s "$1"; }

# push_blob BASE REPO FILE DIGEST: POST an upload, PUT the file with ?digest=.
push_blob() {
    local base=$1 name=$2 file=$3 digest=$4 loc
    loc="$(curl -sS -f --max-time 30 -X POST -o /dev/null -D - "$base/v2/$name/blobs/uploads/" |
        tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')"
    [ -n "$loc" ] || die "POST $base/v2/$name/blobs/uploads/ gave no Location"
    case $loc in /*) loc="$base$loc" ;; esac
    case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
    curl -sS -f --max-time 900 -X PUT -H 'Expect:' -H 'Content-Type: application/octet-stream' \
        -T "$file" -o /dev/null "$loc" || die "PUT $file to $loc failed"
}

# image KIND LAYER_FILE: writes KIND.config.json and KIND.manifest.json for a
# one-layer image, with their digests in KIND.*.digest.
image() {
    local kind=$1 layer=$2 ld
    ld="$(sha "$layer")"
    echo "$ld" >"$T/$kind.layer.digest"
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$ld" >"$T/$kind.config.json"
    sha "$T/$kind.config.json" >"$T/$kind.config.digest"
    jq -cn --arg cd "$(cat "$T/$kind.config.digest")" --argjson cs "$(size "$T/$kind.config.json")" \
        --arg ld "$ld" --argjson ls "$(size "$layer")" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
        layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $ld, size: $ls}]}' |
        tr -d '\n' >"$T/$kind.manifest.json"
}

# push_image BASE REPO KIND LAYER_FILE: config, layer, then the manifest as tag v1.
push_image() {
    local base=$1 name=$2 kind=$3 layer=$4
    push_blob "$base" "$name" "$T/$kind.config.json" "$(cat "$T/$kind.config.digest")"
    push_blob "$base" "$name" "$layer" "$(cat "$T/$kind.layer.digest")"
    curl -sS -f --max-time 30 -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
        --data-binary "@$T/$kind.manifest.json" -o /dev/null "$base/v2/$name/manifests/v1" ||
        die "PUT manifest $base/v2/$name/manifests/v1 failed"
}

# perf_start NAME PID: when PERF_DIR is set, `perf record -g` of PID and
# its children (nginx's workers) into $PERF_DIR/perf.NAME.data until
# perf_stop; nothing otherwise.
perf_start() {
    PERF_PID=""
    [ -n "${PERF_DIR:-}" ] || return 0
    mkdir -p "$PERF_DIR"
    local pids
    pids="$(printf '%s\n' "$2" $(pgrep -P "$2") | paste -sd,)"
    perf record -F 997 -g -p "$pids" -o "$PERF_DIR/perf.$1.data" >/dev/null 2>&1 &
    PERF_PID=$!
    PERF_NAME=$1
    sleep 0.5
}

# perf_stop: ends perf_start's recording and writes its flat profile to
# $PERF_DIR/perf.NAME.txt, logging its top lines.
perf_stop() {
    [ -n "${PERF_PID:-}" ] || return 0
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    perf report -i "$PERF_DIR/perf.$PERF_NAME.data" --stdio --no-children --percent-limit 1 \
        -g none --sort dso,symbol >"$PERF_DIR/perf.$PERF_NAME.txt" 2>/dev/null || true
    log "perf $PERF_NAME: $(grep -v '^#' "$PERF_DIR/perf.$PERF_NAME.txt" | grep . | head -6 | tr -s ' ' | paste -sd'|')"
    PERF_PID=""
}
