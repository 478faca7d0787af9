#!/usr/bin/env bash
# Regenerates docs/benchmarks.md: builds the release binaries, starts the five services
# with their own database and RabbitMQ vhost (through tools/stack), measures every
# figure beside its ceiling, tears everything down and rewrites the generated section
# of docs/benchmarks.md (the hand-written analysis around it is kept).
#
#   scripts/bench.sh                 # the full run, each scenario three times beside its
#                                    # ceilings (6–8 minutes on 2 cores)
#   scripts/bench.sh --smoke         # a few seconds, tiny figures; writes nothing
#   scripts/bench.sh --phases worker # any loadgen option is passed on (loadgen --help)
#
# Take figures on a quiet machine: the load average is recorded in the document.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release -p loadgen -p checkout -p webhook-ingest -p subscription-worker -p event-dispatcher -p cryptocloud-sandbox
bin="${CARGO_TARGET_DIR:-target}/release"
if [[ " $* " == *" --smoke "* ]]; then
  exec "$bin/loadgen" "$@"
fi
exec "$bin/loadgen" \
  --out docs/benchmarks.md \
  --json docs/benchmarks/latest.json \
  --baseline docs/benchmarks/baseline.json \
  "$@"
