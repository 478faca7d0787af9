#!/usr/bin/env bash
# Runs the whole workspace's tests against the local PostgreSQL and RabbitMQ.
# Each test makes its own database and its own uniquely named RabbitMQ topology.
set -euo pipefail
cd "$(dirname "$0")/.."
# Builds use the committed query data (.sqlx/), whatever the caller exported.
export SQLX_OFFLINE=true
source scripts/prerequisites.sh
# nextest runs each test in its own process and honours the serial groups of
# .config/nextest.toml; plain `cargo test` would not, so it is installed rather than skipped.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest (once)"
  cargo install --locked cargo-nextest
fi
bash scripts/services.sh
# The browser test drives Debian's headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "== installing chromium and chromium-driver"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# The end-to-end tests start the real service binaries.
cargo build --workspace --bins
# #[sqlx::test] creates a fresh database per test through this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
exec cargo nextest run --workspace --no-fail-fast "$@"
