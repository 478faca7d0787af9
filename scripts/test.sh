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
# Starts PostgreSQL and RabbitMQ (PGHOST/PGPORT pick the server); exports
# PAYMENTS_DATABASE_URL and RABBITMQCTL, defines apt_install.
source scripts/services.sh
# The browser test drives Debian's headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt_install chromium chromium-driver
fi
# The end-to-end tests start the real service binaries.
cargo build --workspace --bins
# #[sqlx::test] creates a fresh database per test through this server.
export DATABASE_URL="${TEST_DATABASE_URL:-$PAYMENTS_DATABASE_URL}"
# The end-to-end tests make their stacks' databases on the same server.
export STACK_ADMIN_DATABASE_URL="$DATABASE_URL"
export AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
exec cargo nextest run --workspace --no-fail-fast "$@"
