#!/usr/bin/env bash
# Runs every test on a fresh machine: formatting and lint gates, unit and contract tests, the
# integration suite on SQLite and then on a throwaway PostgreSQL cluster (started and removed here),
# and the browser tests in Debian's Chromium. Installs what is missing (Debian packages: postgresql,
# chromium, oathtool; the SMTP server aiosmtpd and the API fuzzer schemathesis from PyPI; npm
# packages from e2e/package-lock.json). Then schemathesis against the real server (OPS-2), and every
# fuzz target for a few seconds (nightly toolchain and cargo-fuzz, installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# A clean build gains nothing from incremental compilation, whose files would take a third of the
# disk the run needs (CI machines have little to spare).
export CARGO_INCREMENTAL=0

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v oathtool >/dev/null || missing+=(oathtool)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check aiosmtpd==1.4.6
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check schemathesis==4.32.5

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests on SQLite"
SESAME_TEST_BACKEND=sqlite cargo nextest run --workspace --locked --no-fail-fast

echo "== tests on PostgreSQL"
pg_url=$(scripts/postgres.sh start)
trap 'scripts/postgres.sh stop' EXIT
SESAME_TEST_BACKEND=postgres SESAME_TEST_POSTGRES_URL="$pg_url" \
  cargo nextest run --workspace --locked --no-fail-fast

echo "== browser tests (Chromium)"
# On the binary the test build above made (the integration suite runs it too): a separate
# `cargo build` would compile a second copy of half the dependencies, as the test-only crates
# switch on extra features of shared ones (tokio's test-util, for one).
(cd e2e && npm ci --no-audit --no-fund --silent && SESAME_BIN=../target/debug/sesame npm test)

echo "== the OpenAPI document against the real server (schemathesis)"
scripts/schemathesis.sh

echo "== fuzz targets, briefly (docs/fuzzing.md)"
scripts/fuzz.sh
