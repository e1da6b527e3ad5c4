#!/usr/bin/env bash
# Seeds each fuzz target's corpus (fuzz/corpus/<target>, not committed) from the project's
# fixtures: the golden parser inputs and real configs of each format, the shipped policies,
# test files and waivers, and the example guardrail.yaml files.
set -euo pipefail
cd "$(dirname "$0")"
root=..
seed() { local t=$1; shift; mkdir -p "corpus/$t"; for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$t/$(echo "$f" | tr '/' '_')"; done; }
for fmt in yaml json toml ini haproxy nginx ios fetchmail; do
  seed "parse_$fmt" $(find "$root/tests/data/$fmt" "$root/tests/data/real/$fmt" -type f -size -64k 2>/dev/null)
done
# diff and redaction take a leading format byte: seed with a few fixtures of each format.
i=0
for fmt in yaml json toml ini haproxy nginx ios fetchmail; do
  mkdir -p corpus/diff corpus/redaction
  for f in $(find "$root/tests/data/$fmt" -type f -size -16k | head -5); do
    { printf "\\x$(printf %02x $i)"; cat "$f"; printf '\xff'; cat "$f"; } > "corpus/diff/$fmt-$(basename "$f")"
    { printf "\\x$(printf %02x $i)12345678"; cat "$f"; } > "corpus/redaction/$fmt-$(basename "$f")"
  done
  i=$((i + 1))
done
mkdir -p corpus/policy_loaders
n=0
for f in $(find "$root/policies" -name '*.yaml' -not -path '*/fixtures/*'); do
  case "$f" in
    *.test.yaml) kind='\x01' ;;
    *waivers*) kind='\x02' ;;
    *) kind='\x00' ;;
  esac
  { printf "$kind"; cat "$f"; } > "corpus/policy_loaders/$n.yaml"; n=$((n + 1))
done
seed guardrail_yaml $(find "$root/examples" -name 'guardrail*.yaml')
echo "seeded: $(find corpus -type f | wc -l) files"
