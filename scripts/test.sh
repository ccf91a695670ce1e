#!/usr/bin/env bash
# Runs every test on a fresh machine: formatting and lint gates, unit and contract tests, and the
# integration suite on SQLite and then on a throwaway PostgreSQL cluster (started and removed here,
# installing the server package when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

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
