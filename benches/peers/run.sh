#!/usr/bin/env bash
# guardrail against the Python tools people run today (hier_config, ciscoconfparse2), on the
# same generated 100,000-line IOS-style config and one-line change, in the same run.
#
#   bash benches/peers/run.sh            # 7 timed runs of each tool, in turn
#   RUNS=15 bash benches/peers/run.sh
#
# Installs the peers (pinned, from PyPI) in private virtualenvs under target/peers-venv/ (reused
# when their requirements did not change), builds the release binary, writes the inputs with the
# repository's own generator (benches/parse_diff.rs --write) and runs peers.py, which checks that
# every tool found the same change before it prints a time. Needs python3 with venv, and network
# access to PyPI for the first install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
runs="${RUNS:-7}"
python="${PYTHON:-python3}"
venvs="$root/target/peers-venv"
inputs="$root/target/peers-inputs"

# One virtualenv per peer: ciscoconfparse2 pins hier-config 2.x, the remediation peer is 3.x.
venv() {
    local name="$1" requirements="$here/requirements-$1.txt" dir="$venvs/$1"
    if [[ -x "$dir/bin/python" ]] && cmp -s "$requirements" "$dir/requirements.txt"; then
        return
    fi
    echo "installing $name into $dir" >&2
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$dir/requirements.txt"
}
venv hier-config
venv ciscoconfparse2

echo "building target/release/guardrail" >&2
cargo build --release --quiet --bin guardrail

echo "writing the generated configs to $inputs" >&2
rm -rf "$inputs"
cargo bench --quiet --bench parse_diff -- --write "$inputs" --case ios-100k --runs 1 >"$root/target/peers-generate.log" 2>&1 \
    || { cat "$root/target/peers-generate.log" >&2; exit 1; }

"$python" -B "$here/peers.py" \
    --guardrail "$root/target/release/guardrail" \
    --old "$inputs/ios-100k-old.ios" \
    --new "$inputs/ios-100k-new.ios" \
    --hier-python "$venvs/hier-config/bin/python" \
    --ccp-python "$venvs/ciscoconfparse2/bin/python" \
    --runs "$runs"
