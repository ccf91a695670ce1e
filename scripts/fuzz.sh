#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/) for a while on its seeds (fuzz/seeds/) and a fresh corpus:
# FUZZ_SECONDS each (10 by default, as in the test command; docs/fuzzing.md records longer runs).
# Needs the nightly toolchain and cargo-fuzz; installs them when missing. A crash fails the run and
# leaves the input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-10}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
cargo +nightly fuzz build -O
for target in $targets; do
  corpus=$(mktemp -d)
  echo "== fuzz $target (${seconds}s)"
  set +e
  cargo +nightly fuzz run -O "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$corpus.log" 2>&1
  status=$?
  set -e
  grep -E '^(stat::number_of_executed_units|Done)' "$corpus.log" || true
  [ "$status" -eq 0 ] || grep -A20 -E 'panicked|ERROR' "$corpus.log" | head -40
  rm -f "$corpus.log"
  rm -rf "$corpus"
  [ "$status" -eq 0 ] || { echo "fuzz target $target failed"; exit 1; }
done
