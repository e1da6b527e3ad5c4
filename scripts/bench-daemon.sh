#!/usr/bin/env bash
# Load benchmark of the daemon (docs/performance.md): starts a release `guardrail serve` on
# loopback with a temporary data dir, approves one change, then drives POST /v1/evaluate (a
# ~1 KB change), GET /v1/gate and GET /v1/changes/{id} (uncached: a store read each) with wrk
# from a second process.
# Usage: scripts/bench-daemon.sh [DURATION (default 20s)] [CONNECTIONS (default 32)]
# STORE=postgres://user@host:port/db runs the daemon on that (empty) PostgreSQL database
# instead of SQLite in the temporary data dir.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20s}
CONNS=${2:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked --quiet
BIN=$PWD/target/release/guardrail
WORK=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
# One token drives every request: the per-token rate limit is off (it measures the API, not the
# limiter; scripts/bench-daemon-large.sh measures writers beside a large submission).
cat > "$WORK/guardrail.yaml" <<'YAML'
server:
  rate_limit: 0
targets:
  - name: lb-web
    kind: load_balancer
    format: haproxy
    environments: {staging: {}}
environments:
  staging: {approvals: {count: 1}}
  production: {}
YAML
STORE_ARGS=()
if [ -n "${STORE:-}" ]; then STORE_ARGS=(--store "$STORE"); fi
TOKEN=$($BIN token create --user bench --roles admin --data-dir "$WORK/data" "${STORE_ARGS[@]}" 2>/dev/null)
APPROVER=$($BIN token create --user approver --roles approver --data-dir "$WORK/data" "${STORE_ARGS[@]}" 2>/dev/null)
PORT=${PORT:-18537}
GUARDRAIL_LOG=warn $BIN serve --config "$WORK/guardrail.yaml" --data-dir "$WORK/data" "${STORE_ARGS[@]}" --listen 127.0.0.1:$PORT >/dev/null 2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
CONTENT=$(sed -n '/^local old = \[\[/,/^\]\]/p' benches/daemon/evaluate.lua | sed '1d;$d')
BODY=$(python3 -c 'import json,sys; print(json.dumps({"env":"staging","title":"bench","targets":[{"target":"lb-web","content":sys.argv[1]}]}))' "$CONTENT")
CHANGE=$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$PORT/v1/changes")
ID=$(echo "$CHANGE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
HASH=$(echo "$CHANGE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])')
curl -sf -H "Authorization: Bearer $APPROVER" -H 'content-type: application/json' \
  -d "{\"decision\":\"approve\",\"content_hash\":\"$HASH\"}" "http://127.0.0.1:$PORT/v1/changes/$ID/approvals" >/dev/null
echo "== POST /v1/evaluate (1 KB change), $CONNS connections, $DURATION"
GUARDRAIL_TOKEN=$TOKEN wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s benches/daemon/evaluate.lua "http://127.0.0.1:$PORT"
echo "== GET /v1/gate, $CONNS connections, $DURATION"
GUARDRAIL_TOKEN=$TOKEN GATE_HASH=${HASH/:/%3A} wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s benches/daemon/gate.lua "http://127.0.0.1:$PORT"
echo "== GET /v1/changes/$ID (a store read per request), $CONNS connections, $DURATION"
GUARDRAIL_TOKEN=$TOKEN CHANGE_ID=$ID wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s benches/daemon/show.lua "http://127.0.0.1:$PORT"
echo "== daemon RSS: $(ps -o rss= -p $PID) KiB"
