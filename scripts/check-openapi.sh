#!/usr/bin/env bash
# Checks the API documents of checkout and of the event dispatcher's admin API the way a
# frontend or operator team would use them, with tools nobody here wrote, on the documents
# the running binaries serve (not file copies):
#   1. builds and starts the real binaries on free ports, against a fresh database it
#      creates and drops (on the server scripts/services.sh finds, PGHOST/PGPORT;
#      the dispatcher also connects to RabbitMQ at AMQP_URL);
#   2. fetches each GET /openapi.json;
#   3. validates each with openapi-spec-validator (PyPI; venv in ~/.cache/payments-ci/venv);
#   4. generates a TypeScript client from each with openapi-typescript (npm) into
#      tools/openapi-example/generated/ (gitignored: generated here, never committed);
#   5. type-checks tools/openapi-example/*.ts against them with `tsc --noEmit`.
# Installs node/npm (apt-get) and python3-venv when missing. Exit status 0 when all pass.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SQLX_OFFLINE=true
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/payments-ci"
VENV="$CACHE/venv"
EXAMPLE="tools/openapi-example"
REQUIREMENTS="$EXAMPLE/requirements.txt"
say() { echo "-- $*"; }
# PostgreSQL and RabbitMQ up; PAYMENTS_DATABASE_URL names the server (PGHOST/PGPORT).
# Also defines apt_install.
source scripts/services.sh

# --- tools ------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/openapi-spec-validator" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing openapi-spec-validator into $VENV"
  mkdir -p "$CACHE"
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" > "$stamp"
fi
if [[ ! -d "$EXAMPLE/node_modules" || "$EXAMPLE/package-lock.json" -nt "$EXAMPLE/node_modules/.package-lock.json" ]]; then
  say "npm ci in $EXAMPLE (openapi-typescript, openapi-fetch, typescript)"
  (cd "$EXAMPLE" && npm ci --no-audit --no-fund --loglevel=error)
fi
say "node $(node --version), openapi-spec-validator $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("openapi-spec-validator"))')"

# --- the running services ---------------------------------------------------------------
say "building checkout and event-dispatcher"
cargo build --quiet -p checkout --bin checkout -p event-dispatcher --bin event-dispatcher
target="${CARGO_TARGET_DIR:-target}/debug"

work="$(mktemp -d)"
db="payments_openapi_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  psql -w "$PAYMENTS_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'cat "$work"/*.log >&2' ERR
psql -w "$PAYMENTS_DATABASE_URL" -qc "CREATE DATABASE $db"
database_url="${PAYMENTS_DATABASE_URL%/*}/$db"

# serve NAME LISTEN_VAR [VAR=value ...]: starts target/debug/NAME on a free port with only
# the given settings, waits for /healthz and saves its /openapi.json as $work/NAME.json.
serve() {
  local name="$1" listen_var="$2"
  shift 2
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  say "starting $name on 127.0.0.1:$port (database $db)"
  env -i PATH="$PATH" HOME="$HOME" LOG_FORMAT=json RUST_LOG=warn \
    DATABASE_URL="$database_url" "$listen_var=127.0.0.1:$port" "$@" \
    "$target/$name" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  # curl may be missing on a fresh machine: python3 waits for the service and fetches.
  python3 - "http://127.0.0.1:$port" "$work/$name.json" "$!" "$name" <<'PY'
import os, sys, time, urllib.request
base, out, pid, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"{name} exited before it answered")
    if time.monotonic() > deadline:
        sys.exit(f"{name} did not answer within 60 s")
    time.sleep(0.3)
with urllib.request.urlopen(base + "/openapi.json", timeout=10) as r, open(out, "wb") as f:
    f.write(r.read())
PY
  say "fetched $name's /openapi.json ($(wc -c <"$work/$name.json") bytes)"
}

# Only the documents are read: CryptoCloud is never called, so its settings are placeholders.
serve checkout CHECKOUT_LISTEN \
  CRYPTOCLOUD_API_URL="http://127.0.0.1:9" CRYPTOCLOUD_API_KEY=unused CRYPTOCLOUD_SHOP_ID=unused \
  AUTH_JWT_SECRET=openapi-check ADMIN_TOKEN=openapi-check
serve event-dispatcher DISPATCH_LISTEN \
  AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}" ADMIN_TOKEN=openapi-check

# --- the checks -------------------------------------------------------------------------
for name in checkout event-dispatcher; do
  say "openapi-spec-validator: $name"
  "$VENV/bin/openapi-spec-validator" "$work/$name.json"
  say "openapi-typescript: $EXAMPLE/generated/$name.ts"
  mkdir -p "$EXAMPLE/generated"
  (cd "$EXAMPLE" && npx --no-install openapi-typescript "$work/$name.json" --output "generated/$name.ts" --silent)
done

say "tsc --noEmit: $EXAMPLE/*.ts"
(cd "$EXAMPLE" && npx --no-install tsc --noEmit -p .)

echo "openapi documents of checkout and event-dispatcher: valid, clients generated, examples type-check"
