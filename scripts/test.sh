#!/usr/bin/env bash
# Runs the whole workspace's tests against the local PostgreSQL and RabbitMQ.
# Each test makes its own database and its own uniquely named RabbitMQ topology.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
# #[sqlx::test] creates a fresh database per test through this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast "$@"
else
  exec cargo test --workspace --no-fail-fast "$@"
fi
