#!/usr/bin/env bash
# Builds and runs the whole stack against the local PostgreSQL and RabbitMQ, with the
# CryptoCloud sandbox in place of CryptoCloud. `./scripts/run.sh --demo` takes one payment
# end to end and exits. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/prerequisites.sh
bash scripts/services.sh
cargo build --bins -p checkout -p webhook-ingest -p subscription-worker -p event-dispatcher -p cryptocloud-sandbox -p stack
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/stack" "$@"
