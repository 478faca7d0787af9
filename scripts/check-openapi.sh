#!/usr/bin/env bash
# Checks checkout's API document the way a frontend team would use it, with tools nobody
# here wrote, on the document the running binary serves (not a file copy):
#   1. builds and starts the real checkout binary on a free port, against a fresh database
#      it creates and drops (PostgreSQL on 127.0.0.1 as `postgres`, see scripts/services.sh);
#   2. fetches GET /openapi.json;
#   3. validates it with openapi-spec-validator (PyPI; venv in ~/.cache/payments-ci/venv);
#   4. generates a TypeScript client from it with openapi-typescript (npm) into
#      tools/openapi-example/generated/ (gitignored: generated here, never committed);
#   5. type-checks tools/openapi-example/example.ts against it with `tsc --noEmit`.
# Installs node/npm (apt-get) and python3-venv when missing. Exit status 0 when all pass.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SQLX_OFFLINE=true
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/payments-ci"
VENV="$CACHE/venv"
EXAMPLE="tools/openapi-example"
REQUIREMENTS="$EXAMPLE/requirements.txt"
PGHOST=127.0.0.1
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
say() { echo "-- $*"; }

# --- tools ------------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing nodejs and npm (apt-get)"
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
    say "installing python3-venv (apt-get)"
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

# --- the running service ----------------------------------------------------------------
say "building checkout"
cargo build --quiet -p checkout --bin checkout
bin="${CARGO_TARGET_DIR:-target}/debug/checkout"

work="$(mktemp -d)"
db="payments_openapi_$$"
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  psql -h "$PGHOST" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql -h "$PGHOST" -U postgres -d postgres -qc "CREATE DATABASE $db"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
say "starting $bin on 127.0.0.1:$port (database $db)"
# Only the document is read: CryptoCloud is never called, so its settings are placeholders.
env -i PATH="$PATH" HOME="$HOME" LOG_FORMAT=json RUST_LOG=warn \
  DATABASE_URL="postgres://postgres@$PGHOST:5432/$db" \
  CHECKOUT_LISTEN="127.0.0.1:$port" \
  CRYPTOCLOUD_API_URL="http://127.0.0.1:9" CRYPTOCLOUD_API_KEY=unused CRYPTOCLOUD_SHOP_ID=unused \
  AUTH_JWT_SECRET=openapi-check ADMIN_TOKEN=openapi-check \
  "$bin" >"$work/checkout.log" 2>&1 &
pid=$!
trap 'cat "$work/checkout.log" >&2' ERR
base="http://127.0.0.1:$port"
# curl may be missing on a fresh machine: python3 waits for readiness and fetches.
python3 - "$base" "$work/openapi.json" "$pid" <<'PY'
import os, sys, time, urllib.request
base, out, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("checkout exited before it was ready")
    if time.monotonic() > deadline:
        sys.exit("checkout was not ready within 60 s")
    time.sleep(0.3)
with urllib.request.urlopen(base + "/openapi.json", timeout=10) as r, open(out, "wb") as f:
    f.write(r.read())
PY
say "fetched $base/openapi.json ($(wc -c <"$work/openapi.json") bytes)"

# --- the checks -------------------------------------------------------------------------
say "openapi-spec-validator"
"$VENV/bin/openapi-spec-validator" "$work/openapi.json"

say "openapi-typescript: $EXAMPLE/generated/checkout.ts"
mkdir -p "$EXAMPLE/generated"
(cd "$EXAMPLE" && npx --no-install openapi-typescript "$work/openapi.json" --output generated/checkout.ts --silent)

say "tsc --noEmit: $EXAMPLE/example.ts"
(cd "$EXAMPLE" && npx --no-install tsc --noEmit -p .)

echo "openapi document: valid, client generated, example type-checks"
