#!/usr/bin/env bash
# Runs luvit's own test suite (tests/test-*.lua of a luvit/luvit checkout, which we do not
# vendor) with our binary, one process per file, and prints per-file results and totals.
# Usage: tests/conformance.sh /path/to/luvit-checkout [path/to/luvit-binary]
set -u
src=${1:?usage: tests/conformance.sh LUVIT_CHECKOUT [LUVIT_BINARY]}
bin=$(realpath "${2:-$(dirname "$0")/../target/release/luvit}")
# Run a copy of tests/ outside the checkout: inside it, bare requires would walk up into the
# checkout's deps/ and load luvit's own modules instead of ours.
# The tests expect the checkout's root as cwd (they name files like tests/fixtures/x).
work=$(mktemp -d /tmp/luvit-conformance-XXXXXX)
mkdir -p "$work/tests" && cp -r "$src/tests/." "$work/tests/" || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
files=0 files_ok=0 cases_ok=0 cases_bad=0
for f in tests/test-*.lua; do
  files=$((files + 1))
  out=$(timeout 30 "$bin" "$f" 2>&1 </dev/null)
  code=$?
  ok=$(grep -cE '^ *ok [0-9]+' <<<"$out")
  bad=$(grep -cE '^ *not ok [0-9]+' <<<"$out")
  planned=$(grep -oE '^ *1\.\.[0-9]+' <<<"$out" | head -1 | sed 's/.*\.\.//')
  planned=${planned:-0}
  # Cases that never reported (crash, timeout) count as failed.
  missing=$((planned - ok - bad)); [ $missing -lt 0 ] && missing=0
  cases_ok=$((cases_ok + ok)); cases_bad=$((cases_bad + bad + missing))
  if [ $code -eq 0 ] && [ $bad -eq 0 ] && [ $missing -eq 0 ]; then
    files_ok=$((files_ok + 1)); status=pass
  else
    status="FAIL (exit $code, $ok ok, $bad not ok, $missing not run)"
  fi
  printf '%-48s %s\n' "$f" "$status"
done
echo "files: $files_ok/$files passed"
echo "conformance: $cases_ok passed, $cases_bad failed"
