#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system tools the tests need when
# they are missing, then runs every test once (one debug build).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# Tools used by later test suites are added here as they land (promtool, alertmanager, ...).
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

cargo test --locked --all-targets
# The shipped policy library tests itself with the real binary.
if [ -d policies ] && find policies -name '*.test.yaml' | grep -q .; then
  cargo run --locked --quiet -- policy test policies/
fi
