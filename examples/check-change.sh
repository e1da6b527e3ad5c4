#!/bin/sh
# Runs `guardrail check` on one change scenario of examples/changes/ (see examples/README.md).
#
#   examples/check-change.sh SCENARIO [more `guardrail check` flags, e.g. --output json]
#
# A scenario directory holds only the files its change touches, laid out as in examples/infra/.
# The working tree of the change is examples/infra/ with those files laid over it, built in a
# temporary directory; guardrail compares it with examples/infra/ (the base) in repo mode:
#
#   guardrail check --config WORK/guardrail.yaml --base-dir examples/infra
#
# The exit code is guardrail's: 0 pass, 1 blocked, 2 bad input, 3 approval required.
# GUARDRAIL is the binary's path or the command to run (default: `guardrail` when it is on
# PATH, else `cargo run` in this repository).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 SCENARIO [guardrail check flags...]; scenarios:" >&2
    ls "$here/changes" >&2
    exit 2
fi
scenario=$1
shift
if [ ! -d "$here/changes/$scenario" ]; then
    echo "$0: no scenario \`$scenario\` in $here/changes" >&2
    exit 2
fi

if [ -z "${GUARDRAIL:-}" ]; then
    if command -v guardrail >/dev/null 2>&1; then
        GUARDRAIL=guardrail
    else
        GUARDRAIL="cargo run --quiet --manifest-path $here/../Cargo.toml --"
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/guardrail-change.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$here/infra/." "$work/"
cp -R "$here/changes/$scenario/." "$work/"

status=0
if [ -f "$GUARDRAIL" ]; then
    # A path to the binary (it may contain spaces).
    "$GUARDRAIL" check --config "$work/guardrail.yaml" --base-dir "$here/infra" "$@" || status=$?
else
    # A command, split into words on purpose ("cargo run --quiet --").
    $GUARDRAIL check --config "$work/guardrail.yaml" --base-dir "$here/infra" "$@" || status=$?
fi
exit "$status"
