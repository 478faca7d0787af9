#!/usr/bin/env bash
# Builds and runs the whole stack against the local PostgreSQL and RabbitMQ, with the
# CryptoCloud sandbox in place of CryptoCloud. `./scripts/run.sh --demo` takes one payment
# end to end and exits. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
# Starts PostgreSQL and RabbitMQ (PGHOST/PGPORT pick the server); exports
# PAYMENTS_DATABASE_URL and RABBITMQCTL.
source scripts/services.sh
export STACK_ADMIN_DATABASE_URL="${STACK_ADMIN_DATABASE_URL:-$PAYMENTS_DATABASE_URL}"
cargo build --bins -p checkout -p webhook-ingest -p subscription-worker -p event-dispatcher -p cryptocloud-sandbox -p stack
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/stack" "$@"
