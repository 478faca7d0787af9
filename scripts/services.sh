#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are installed and running on this machine, and finds
# how to connect. Sourced by the run and test commands (and run by CI); safe to repeat.
#
# PostgreSQL is the cluster at PGHOST:PGPORT (default 127.0.0.1:5432). If `postgres` can
# connect there over TCP without a password (trust, as on our CI machines), that is used.
# Otherwise (a stock Debian cluster: scram-sha-256 on TCP) a project role `payments` with
# password `payments`, CREATEDB, and its maintenance database `payments_admin` (where the
# tests make theirs; the stack's own is `payments`) are made once, through the
# local socket as the `postgres` OS user; pg_hba.conf is never edited.
#
# PAYMENTS_DATABASE_URL, when set, is used as it is (any server, any role with CREATEDB).
#
# Exports, for the caller:
#   PAYMENTS_DATABASE_URL  the maintenance database's URL (tests make their databases there)
#   RABBITMQCTL            how to run rabbitmqctl (under /usr/sbin, through sudo if not root)
set -euo pipefail

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
PAYMENTS_ROLE=payments
PAYMENTS_PASSWORD=payments
PAYMENTS_ADMIN_DB=payments_admin

fail() { echo "!! $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
as_root() {
  if is_root; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else fail "needs root for: $* (install sudo and give this user sudo rights, or run it as root)"
  fi
}
as_postgres() { # runs as the `postgres` OS user: Debian lets it in through the socket (peer)
  if is_root; then runuser -u postgres -- "$@"
  elif [ "$(id -un)" = postgres ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -u postgres "$@"
  else fail "needs to run as the postgres OS user: $* (install sudo, or run it as root)"
  fi
}
# Debian installs the servers' tools under /usr/sbin, which is not on a normal user's PATH.
find_tool() {
  command -v "$1" 2>/dev/null && return 0
  local d
  for d in /usr/sbin /sbin /usr/lib/rabbitmq/bin; do
    if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  return 1
}
apt_install() {
  echo "== installing $* (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- PostgreSQL -------------------------------------------------------------------------
command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
pg_up() { pg_isready -h "$PGHOST" -p "$PGPORT" -q; }
if ! pg_up; then
  # A local cluster listening on PGPORT (pg_lsclusters: version, name, port, ...).
  cluster="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PGPORT" '$3 == p {print $1, $2; exit}')"
  [ -n "$cluster" ] || fail "no PostgreSQL answers on $PGHOST:$PGPORT and no local cluster uses port $PGPORT.
   Make one:  sudo pg_createcluster --start $(ls /etc/postgresql 2>/dev/null | sort -V | tail -1 || echo 15) main -p $PGPORT
   or point PGHOST/PGPORT at a running server."
  echo "== starting PostgreSQL cluster $cluster"
  # shellcheck disable=SC2086
  as_root pg_ctlcluster --skip-systemctl-redirect $cluster start || true
fi
for _ in $(seq 1 60); do pg_up && break; sleep 1; done
pg_up || fail "PostgreSQL did not come up on $PGHOST:$PGPORT (see /var/log/postgresql/)"

can_connect() { # can_connect URL
  psql -w "$1" -tAc 'SELECT 1' >/dev/null 2>&1
}
trust_url="postgres://postgres@$PGHOST:$PGPORT/postgres"
role_url="postgres://$PAYMENTS_ROLE:$PAYMENTS_PASSWORD@$PGHOST:$PGPORT/$PAYMENTS_ADMIN_DB"
if [ -n "${PAYMENTS_DATABASE_URL:-}" ]; then
  # Given by the caller (e.g. compose's PostgreSQL with its password): used as it is.
  can_connect "$PAYMENTS_DATABASE_URL" \
    || fail "cannot connect to PAYMENTS_DATABASE_URL (a server's maintenance database, as a role with CREATEDB)"
elif can_connect "$trust_url"; then
  PAYMENTS_DATABASE_URL="$trust_url"
else
  if ! can_connect "$role_url"; then
    echo "== creating PostgreSQL role '$PAYMENTS_ROLE' and database '$PAYMENTS_ADMIN_DB' (through the local socket as postgres)"
    # The socket, not TCP: unset PGHOST so psql does not go to 127.0.0.1.
    as_postgres env -u PGHOST psql -q -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 <<SQL || fail "could not create the role through the local socket on port $PGPORT as the postgres OS user"
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$PAYMENTS_ROLE', '$PAYMENTS_PASSWORD')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PAYMENTS_ROLE') \gexec
ALTER ROLE $PAYMENTS_ROLE LOGIN CREATEDB PASSWORD '$PAYMENTS_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$PAYMENTS_ADMIN_DB', '$PAYMENTS_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PAYMENTS_ADMIN_DB') \gexec
SQL
  fi
  if ! can_connect "$role_url"; then
    hba="$(as_postgres env -u PGHOST psql -p "$PGPORT" -d postgres -tAc 'SHOW hba_file' 2>/dev/null || echo 'pg_hba.conf')"
    fail "cannot connect to $PGHOST:$PGPORT as $PAYMENTS_ROLE with its password.
   $hba must allow password (scram-sha-256 or md5) connections from $PGHOST, e.g. the line
     host all all 127.0.0.1/32 scram-sha-256
   (Debian's default). This script does not edit it."
  fi
  PAYMENTS_DATABASE_URL="$role_url"
fi
export PAYMENTS_DATABASE_URL

# --- RabbitMQ ---------------------------------------------------------------------------
find_tool rabbitmq-server >/dev/null || apt_install rabbitmq-server
rabbitmqctl_path="$(find_tool rabbitmqctl)" || fail "rabbitmqctl not found (looked on PATH and in /usr/sbin)"
# Debian's rabbitmqctl runs only as root or rabbitmq (it needs the node's cookie).
if is_root || [ "$(id -un)" = rabbitmq ]; then
  RABBITMQCTL="$rabbitmqctl_path"
elif command -v sudo >/dev/null 2>&1; then
  RABBITMQCTL="sudo -n $rabbitmqctl_path"
else
  RABBITMQCTL="$rabbitmqctl_path"
fi
export RABBITMQCTL

amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_up; then
  echo "== starting RabbitMQ"
  as_root "$(find_tool rabbitmq-server)" -detached || true
fi
for _ in $(seq 1 90); do amqp_up && break; sleep 1; done
amqp_up || fail "RabbitMQ did not come up on 127.0.0.1:5672 (see /var/log/rabbitmq/)"
# The port opens before the app is fully booted: wait until the node answers.
# shellcheck disable=SC2086
$RABBITMQCTL -q await_startup >/dev/null 2>&1 \
  || echo "-- '$RABBITMQCTL await_startup' failed: the end-to-end tests and the demo create vhosts with it;
   as a normal user they need sudo without a password prompt for it (sudo -n)" >&2
