#!/usr/bin/env bash
# Runs the fuzz campaign of docs/reliability.md: each named target (default: all) for RUNS
# executions (default 1,000,000) or until MAX_TIME seconds pass (default: no limit), on inputs of
# at most MAX_LEN bytes (default 4096), starting from the seed corpus (seed.sh). An input running
# longer than TIMEOUT seconds (default 2) stops the run as a hang; one running longer than SLOW
# seconds (default: TIMEOUT) is kept as a slow unit and the run goes on (on a machine shared with
# builds, TIMEOUT=10 SLOW=2 keeps a starved input from ending a campaign while every input over
# 2 s is still kept, to be timed again in a release build). Prints one line per target:
# executions, seconds, whether libFuzzer found a crash, and the slow units (kept under artifacts/).
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -uo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-1000000}
MAX_LEN=${MAX_LEN:-4096}
MAX_TIME=${MAX_TIME:-0}
TIMEOUT=${TIMEOUT:-2}
SLOW=${SLOW:-$TIMEOUT}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
[ -d corpus ] || bash seed.sh
cargo +nightly fuzz build -s none >/dev/null 2>&1 || { echo "fuzz build failed" >&2; exit 2; }
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  log=$(mktemp)
  cargo +nightly fuzz run -s none "$t" "corpus/$t" -- -runs="$RUNS" -max_len="$MAX_LEN" \
    -max_total_time="$MAX_TIME" -timeout="$TIMEOUT" -report_slow_units="$SLOW" \
    -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  verdict=$([ $rc -eq 0 ] && echo "no crash" || echo "FOUND (exit $rc): $(grep -m1 -E 'panicked|ERROR|Test unit written' "$log")")
  slow=$(grep -c 'Slowest unit' "$log")
  echo "$t: ${execs:-?} executions in ${secs}s: $verdict; $slow slow units (over ${SLOW}s)"
  [ $rc -eq 0 ] && rm -f "$log" || echo "  log: $log"
done
