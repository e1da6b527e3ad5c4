#!/usr/bin/env bash
# Other writes beside a large submission (docs/performance.md, "Daemon: a large submission and
# the other writers"): starts a release `guardrail serve` on loopback with
# server.max_change_bytes raised to 16 MiB, then measures with wrk the latency of small writes
# (POST /v1/freezes: one row and its audit record per transaction, no evaluation) twice: alone,
# and while ~10 MB HAProxy submissions (a new target's whole config) run back to back from a
# second client. With BASELINE=1 the target first gets a ~10 MB baseline and the submissions
# change every server's weight in it (~180,000 diff entries: minutes of evaluation each).
# Usage: scripts/bench-daemon-large.sh [DURATION (default 30s)] [CONNECTIONS (default 4)] [MB (default 10)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-30s}
CONNS=${2:-4}
MB=${3:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked --quiet
BIN=$PWD/target/release/guardrail
WORK=$(mktemp -d)
BIG_PID=
# SIGKILL: a graceful stop would wait for an in-flight large evaluation (minutes with BASELINE=1).
trap 'kill -9 $PID ${BIG_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/guardrail.yaml" <<'YAML'
server:
  max_change_bytes: 16777216
  rate_limit: 0
targets:
  - name: lb-web
    kind: load_balancer
    format: haproxy
    environments: {staging: {}}
  - name: lb-big
    kind: load_balancer
    format: haproxy
    environments: {staging: {}}
environments:
  staging: {approvals: {count: 1}}
YAML
TOKEN=$($BIN token create --user bench --roles admin --data-dir "$WORK/data" 2>/dev/null)
APPROVER=$($BIN token create --user approver --roles approver --data-dir "$WORK/data" 2>/dev/null)
PORT=${PORT:-18538}
GUARDRAIL_LOG=warn $BIN serve --config "$WORK/guardrail.yaml" --data-dir "$WORK/data" --listen 127.0.0.1:$PORT >/dev/null 2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
# The large config: about $MB MB of backends of four servers; big-base.json is the baseline's
# submission, big.json a new version with every weight changed.
python3 - "$MB" "$WORK" <<'PY'
import json, sys
mb, work = float(sys.argv[1]), sys.argv[2]
def config(weight):
    parts, size, i = ["global\n    maxconn 4096\ndefaults\n    mode http\n    timeout server 30s\n"], 0, 0
    while size < mb * 1e6:
        b = f"backend be_{i}\n    balance roundrobin\n" + "".join(
            f"    server s{i}_{k} 10.{i // 65000 % 250}.{i // 250 % 250}.{i % 250}:{8000 + k} check weight {weight}\n" for k in range(4))
        parts.append(b); size += len(b); i += 1
    return "".join(parts)
for name, weight in (("big-base", 10), ("big", 20)):
    with open(f"{work}/{name}.json", "w") as f:
        json.dump({"env": "staging", "title": name, "targets": [{"target": "lb-big", "content": config(weight)}]}, f)
PY
api() { curl -sf -H "Authorization: Bearer $1" -H 'content-type: application/json' "${@:2}"; }
if [ "${BASELINE:-0}" = 1 ]; then
BASE=$(api "$TOKEN" --data-binary @"$WORK/big-base.json" "http://127.0.0.1:$PORT/v1/changes")
BASE_ID=$(echo "$BASE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
BASE_HASH=$(echo "$BASE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["content_hash"])')
api "$APPROVER" -d "{\"decision\":\"approve\",\"content_hash\":\"$BASE_HASH\"}" "http://127.0.0.1:$PORT/v1/changes/$BASE_ID/approvals" >/dev/null
api "$TOKEN" -d '{}' "http://127.0.0.1:$PORT/v1/changes/$BASE_ID/applied" >/dev/null
echo "baseline of lb-big: change $BASE_ID applied"
fi
echo "large submission: $(wc -c < "$WORK/big.json") bytes of JSON"
run_wrk() {
  GUARDRAIL_TOKEN=$TOKEN wrk -t1 -c"$CONNS" -d"$DURATION" --latency -s benches/daemon/freeze.lua "http://127.0.0.1:$PORT"
}
# Warm-up (discarded): the first writes after the store grew pay for its WAL checkpoint.
GUARDRAIL_TOKEN=$TOKEN wrk -t1 -c"$CONNS" -d5s -s benches/daemon/freeze.lua "http://127.0.0.1:$PORT" >/dev/null
echo "== one large submission alone: $(curl -s -o /dev/null -w '%{http_code} %{time_total}s' -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' --data-binary @"$WORK/big.json" "http://127.0.0.1:$PORT/v1/changes")"
echo "== POST /v1/freezes alone, $CONNS connections, $DURATION"
run_wrk
# Large submissions back to back for the whole second run; each one's time is recorded.
(
  while true; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}s\n' -H "Authorization: Bearer $TOKEN" \
      -H 'content-type: application/json' --data-binary @"$WORK/big.json" \
      "http://127.0.0.1:$PORT/v1/changes" >> "$WORK/big.times"
  done
) &
BIG_PID=$!
sleep 1
echo "== POST /v1/freezes while ${MB} MB submissions run back to back, $CONNS connections, $DURATION"
run_wrk
kill $BIG_PID 2>/dev/null || true
wait $BIG_PID 2>/dev/null || true
BIG_PID=
echo "== large submissions (status, time):"
cat "$WORK/big.times" 2>/dev/null || true
ID_BIG=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/changes?target=lb-big&limit=1" | python3 -c 'import json,sys; l=json.load(sys.stdin); print(l[0]["id"] if l else "")')
if [ -n "$ID_BIG" ]; then
  echo "== GET /v1/changes/$ID_BIG (a large change with its bounded evaluation): $(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/changes/$ID_BIG" | wc -c) bytes"
fi
echo "== daemon RSS: $(ps -o rss= -p $PID) KiB (peak $(grep VmHWM /proc/$PID/status | awk '{print $2}') KiB)"
