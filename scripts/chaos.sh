#!/usr/bin/env bash
# The chaos tests: they stop and restart the machine's RabbitMQ and PostgreSQL, so they run
# alone, after the normal suite. Every fault they inject is undone however they end.
set -euo pipefail
cd "$(dirname "$0")/.."
# Builds use the committed query data (.sqlx/), whatever the caller exported.
export SQLX_OFFLINE=true
source scripts/services.sh
cargo build --workspace --bins
export DATABASE_URL="${TEST_DATABASE_URL:-$PAYMENTS_DATABASE_URL}"
export STACK_ADMIN_DATABASE_URL="$DATABASE_URL"
status=0
if cargo nextest --version >/dev/null 2>&1; then
  # --success-output: the nemesis prints its seed, schedule and fault counts either way.
  cargo nextest run -p stack --test chaos --run-ignored ignored-only --no-fail-fast --success-output final "$@" || status=$?
else
  cargo test -p stack --test chaos -- --ignored --nocapture "$@" || status=$?
fi
# Leave the services as we found them, whatever happened.
bash scripts/services.sh
exit $status
