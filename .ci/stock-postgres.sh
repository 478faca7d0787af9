#!/usr/bin/env bash
# A newcomer's PostgreSQL: a throwaway cluster made with Debian's defaults (pg_createcluster,
# pg_hba.conf untouched: peer on the socket, scram-sha-256 on TCP) on another port; the
# demo and a part of the suite run against it through PGPORT alone, as README says.
# Needs root (pg_createcluster); the cluster is dropped however this ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ver="$(ls /etc/postgresql | sort -V | tail -1)"
name="stock_ci_$$"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() { pg_dropcluster --stop "$ver" "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "-- pg_createcluster $ver $name -p $port"
pg_createcluster --start "$ver" "$name" -p "$port" >/dev/null
hba="/etc/postgresql/$ver/$name/pg_hba.conf"
echo "-- its $hba:"
grep -Ev '^[[:space:]]*(#|$)' "$hba" | sed 's/^/   /'
# The point of this step: TCP wants a password, so trust must not be what lets us in.
if grep -Ev '^[[:space:]]*(#|$)' "$hba" | grep -E '^host' | grep -qw trust; then
  echo "!! this machine's createcluster defaults allow trust on TCP: not a stock cluster" >&2
  exit 1
fi
if psql -w "postgres://postgres@127.0.0.1:$port/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; then
  echo "!! postgres connected over TCP without a password: not a stock cluster" >&2
  exit 1
fi

# Only PGPORT says where: nothing found for the main cluster may leak in.
newcomer() {
  env -u PAYMENTS_DATABASE_URL -u STACK_ADMIN_DATABASE_URL -u DATABASE_URL -u TEST_DATABASE_URL \
    PGHOST=127.0.0.1 PGPORT="$port" "$@"
}
on_cluster() { runuser -u postgres -- env -u PGHOST psql -p "$port" -d postgres -tAc "$1"; }
echo "-- PGPORT=$port ./scripts/run.sh --demo"
newcomer ./scripts/run.sh --demo
[ "$(on_cluster "SELECT count(*) FROM pg_roles WHERE rolname = 'payments'")" = 1 ] \
  || { echo "!! the demo did not use the stock cluster" >&2; exit 1; }
echo "-- PGPORT=$port ./scripts/test.sh (checkout, event-dispatcher and the end-to-end tests)"
newcomer NEXTEST_PROFILE="${NEXTEST_PROFILE:-ci}" ./scripts/test.sh \
  -E 'package(checkout) | package(event-dispatcher) | (package(stack) & binary(e2e))'
made="$(on_cluster "SELECT count(*) FROM pg_database WHERE datname LIKE '_sqlx_test_%' OR datname LIKE 'e2e_%'")"
commits="$(on_cluster "SELECT xact_commit FROM pg_stat_database WHERE datname = 'payments_admin'")"
[ "$commits" -gt 100 ] || { echo "!! the tests did not use the stock cluster ($commits commits)" >&2; exit 1; }
echo "-- the stock cluster served the demo and the tests ($commits commits in payments_admin; $made test databases left)"
