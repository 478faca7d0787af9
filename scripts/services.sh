#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ are installed and running on this machine.
# Used by the run and test commands and by CI; safe to run again.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "== installing PostgreSQL"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "== installing RabbitMQ"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up; then
  echo "== starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
fi
for _ in $(seq 1 60); do pg_up && break; sleep 1; done
pg_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
# Tests and the stack connect as `postgres` over TCP without a password (trust), as on our machines.
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
  echo "Cannot connect as postgres@127.0.0.1 without a password. Allow trust auth for local TCP in pg_hba.conf." >&2
  exit 1
fi

amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_up; then
  echo "== starting RabbitMQ"
  as_root rabbitmq-server -detached || true
fi
for _ in $(seq 1 90); do amqp_up && break; sleep 1; done
amqp_up || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; exit 1; }
# The port opens before the app is fully booted: wait until the node answers.
as_root rabbitmqctl -q await_startup >/dev/null 2>&1 || true
