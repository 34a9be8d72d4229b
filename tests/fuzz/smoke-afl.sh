#!/usr/bin/env bash
# The instrumented fuzz smoke: installs cargo-afl when missing, builds the targets with AFL++
# instrumentation (its own target dir), runs each target for SECONDS (default 8) and fails on
# any crash or hang. CI runs it only with LUVIT_CI_AFL=1 (see README.md: it costs minutes).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-8}
command -v cargo-afl >/dev/null || cargo install cargo-afl --locked
export CARGO_TARGET_DIR=${AFL_TARGET_DIR:-$PWD/../../target-afl}
cargo afl build --features afl -p luvit-fuzz
bin=$CARGO_TARGET_DIR/debug/luvit-fuzz
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failed=0
for t in $("$bin" 2>&1 | sed -n 's/^targets: //p'); do
  AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
    cargo afl fuzz -V "$secs" -t 2000 -i "corpus/$t" -o "$out/$t" "$bin" "$t" >"$out/$t.log" 2>&1 || {
      echo "fuzz smoke: afl-fuzz failed on $t"; tail -n 20 "$out/$t.log"; failed=1; continue; }
  stats=$out/$t/default/fuzzer_stats
  execs=$(sed -n 's/^execs_done *: //p' "$stats")
  crashes=$(sed -n 's/^saved_crashes *: //p' "$stats")
  hangs=$(sed -n 's/^saved_hangs *: //p' "$stats")
  echo "fuzz smoke: $t: $execs execs, $crashes crashes, $hangs hangs"
  if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
    ls "$out/$t/default/crashes" "$out/$t/default/hangs"
    failed=1
  fi
done
exit $failed
