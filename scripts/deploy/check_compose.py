#!/usr/bin/env python3
"""Checks the wiring of docker-compose.yml against .env.example.

  check_compose.py COMPOSE_FILE ENV_EXAMPLE

The Compose specification schema itself is checked by `check-jsonschema --builtin-schema
vendor.compose-spec` (run by scripts/validate-deploy.sh). This script checks what the
schema cannot see, after interpolating the file with the values of .env.example the way
`docker compose` does (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
${VAR?error}, $$):

- every variable the file requires is defined in .env.example;
- .env.example carries the original guide's variable names;
- PostgreSQL 16 and RabbitMQ >= 3.13 with the management plugin, with health checks
  and volumes; the services wait for them with `condition: service_healthy`;
- the sandbox stands in for CryptoCloud, and its credentials equal what checkout, the
  worker and webhook-ingest use;
- the links a browser follows work from the host: the payment page at the sandbox's
  published port, success and fail pages at checkout's BASE_URL;
- checkout and the worker read the same PLANS.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

GUIDE_NAMES = [
    "DATABASE_URL",
    "AMQP_URL",
    "CRYPTOCLOUD_API_URL",
    "CRYPTOCLOUD_API_KEY",
    "CRYPTOCLOUD_SHOP_ID",
    "CRYPTOCLOUD_SECRET_KEY",
    "BASE_URL",
    "AUTH_JWT_SECRET",
    "ADMIN_TOKEN",
]
APP_SERVICES = ["checkout", "webhook-ingest", "subscription-worker", "cryptocloud-sandbox"]
NEEDS = {
    "checkout": {"postgres"},
    "webhook-ingest": {"rabbitmq"},
    "subscription-worker": {"postgres", "rabbitmq"},
}
SANDBOX_URL = "http://cryptocloud-sandbox:8088"
POSTBACK_URL = "http://webhook-ingest:8081/api/webhook/payment"
SANDBOX_PORT = 8088
TOKEN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def parse_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SystemExit(f"{path}: not KEY=VALUE: {line!r}")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def interpolate(value: Any, env: dict[str, str], problems: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, problems) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name)
        unset_or_empty = current is None or (current == "" and op and op.startswith(":"))
        if op in (":-", "-"):
            return interpolate(arg, env, problems) if unset_or_empty else current
        if op in (":?", "?"):
            if unset_or_empty:
                problems.append(f"required variable {name} is not set in .env.example ({arg})")
                return ""
            return current
        if current is None:
            problems.append(f"variable {name} is used without a default and not set in .env.example")
            return ""
        return current

    return TOKEN.sub(substitute, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def published_port(service: dict[str, Any], container_port: int) -> str | None:
    """The host port publishing `container_port` ("[IP:]HOST:CONTAINER" short syntax)."""
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if int(entry.get("target", 0)) == container_port:
                return str(entry.get("published"))
            continue
        parts = str(entry).split(":")
        if len(parts) >= 2 and parts[-1].split("/")[0] == str(container_port):
            return parts[-2]
    return None


def check(compose_path: Path, env_path: Path) -> list[str]:
    problems: list[str] = []
    env = parse_env(env_path)
    for name in GUIDE_NAMES:
        if name not in env:
            problems.append(f".env.example lacks the guide's variable {name}")
    for suffix in ("API_KEY", "SHOP_ID", "SECRET_KEY"):
        if env.get(f"SANDBOX_{suffix}") != env.get(f"CRYPTOCLOUD_{suffix}"):
            problems.append(f".env.example: SANDBOX_{suffix} differs from CRYPTOCLOUD_{suffix}")

    raw = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
    compose = interpolate(raw, env, problems)
    services = compose.get("services", {})
    for name in ["postgres", "rabbitmq", *APP_SERVICES]:
        if name not in services:
            problems.append(f"service {name} is missing")
    if problems:
        return problems

    postgres, rabbitmq = services["postgres"], services["rabbitmq"]
    if not re.match(r"^postgres:16(\.|-|$)", postgres.get("image", "")):
        problems.append(f"postgres image {postgres.get('image')} is not PostgreSQL 16")
    match = re.match(r"^rabbitmq:(\d+)\.(\d+)[^ ]*-management", rabbitmq.get("image", ""))
    if not match or (int(match.group(1)), int(match.group(2))) < (3, 13):
        problems.append(f"rabbitmq image {rabbitmq.get('image')} is not >= 3.13 with management")
    for name in ("postgres", "rabbitmq"):
        if not services[name].get("healthcheck", {}).get("test"):
            problems.append(f"{name} has no health check")
        volumes = services[name].get("volumes") or []
        if not any(str(v).split(":")[0] in (compose.get("volumes") or {}) for v in volumes):
            problems.append(f"{name} has no named volume")

    for name, needs in NEEDS.items():
        depends = services[name].get("depends_on") or {}
        for dep in needs:
            condition = depends.get(dep, {}).get("condition") if isinstance(depends, dict) else None
            if condition != "service_healthy":
                problems.append(f"{name} must depend on {dep} with condition service_healthy")

    checkout = environment(services["checkout"])
    worker = environment(services["subscription-worker"])
    ingest = environment(services["webhook-ingest"])
    sandbox = environment(services["cryptocloud-sandbox"])
    for who, env_of in (("checkout", checkout), ("subscription-worker", worker)):
        if env_of.get("CRYPTOCLOUD_API_URL") != SANDBOX_URL:
            problems.append(f"{who}: CRYPTOCLOUD_API_URL defaults to {env_of.get('CRYPTOCLOUD_API_URL')}, expected {SANDBOX_URL}")
        if env_of.get("CRYPTOCLOUD_API_KEY") != sandbox.get("SANDBOX_API_KEY"):
            problems.append(f"{who}: CRYPTOCLOUD_API_KEY differs from the sandbox's SANDBOX_API_KEY")
    if checkout.get("CRYPTOCLOUD_SHOP_ID") != sandbox.get("SANDBOX_SHOP_ID"):
        problems.append("checkout: CRYPTOCLOUD_SHOP_ID differs from the sandbox's SANDBOX_SHOP_ID")
    if ingest.get("CRYPTOCLOUD_SECRET_KEY") != sandbox.get("SANDBOX_SECRET_KEY"):
        problems.append("webhook-ingest: CRYPTOCLOUD_SECRET_KEY differs from the sandbox's SANDBOX_SECRET_KEY")
    if sandbox.get("SANDBOX_POSTBACK_URL") != POSTBACK_URL:
        problems.append(f"sandbox: SANDBOX_POSTBACK_URL is {sandbox.get('SANDBOX_POSTBACK_URL')}, expected {POSTBACK_URL}")
    host_port = published_port(services["cryptocloud-sandbox"], SANDBOX_PORT)
    expected_public = f"http://localhost:{host_port}"
    if sandbox.get("SANDBOX_PUBLIC_URL") != expected_public:
        problems.append(f"sandbox: SANDBOX_PUBLIC_URL is {sandbox.get('SANDBOX_PUBLIC_URL')}, expected "
                        f"{expected_public} (the published port, so the browser can open the payment page)")
    base_url = checkout.get("BASE_URL", "").rstrip("/")
    for variable, path in (("SANDBOX_SUCCESS_URL", "/dashboard/payment/success"),
                           ("SANDBOX_FAIL_URL", "/dashboard/payment/error")):
        if sandbox.get(variable) != base_url + path:
            problems.append(f"sandbox: {variable} is {sandbox.get(variable)}, expected checkout's {base_url + path}")
    if checkout.get("PLANS") != worker.get("PLANS"):
        problems.append("checkout and subscription-worker must read the same PLANS")
    db_user, db_pass, db_name = (postgres["environment"][k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"))
    expected_db = f"postgres://{db_user}:{db_pass}@postgres:5432/{db_name}"
    for who, env_of in (("checkout", checkout), ("subscription-worker", worker)):
        if env_of.get("DATABASE_URL") != expected_db:
            problems.append(f"{who}: DATABASE_URL does not match the postgres service's credentials")
    mq_user, mq_pass = (rabbitmq["environment"][k] for k in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"))
    expected_amqp = f"amqp://{mq_user}:{mq_pass}@rabbitmq:5672/%2f"
    for who, env_of in (("webhook-ingest", ingest), ("subscription-worker", worker)):
        if env_of.get("AMQP_URL") != expected_amqp:
            problems.append(f"{who}: AMQP_URL does not match the rabbitmq service's credentials")
    for name in APP_SERVICES:
        service = services[name]
        if service.get("build", {}).get("target") != name:
            problems.append(f"{name}: build.target must be {name}")
        if not service.get("read_only"):
            problems.append(f"{name}: read_only must be true")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems = list(dict.fromkeys(check(Path(argv[1]), Path(argv[2]))))
    for problem in problems:
        print(f"FAIL {argv[1]}: {problem}")
    if problems:
        return 1
    print(f"ok   {argv[1]}: wiring matches {argv[2]} (sandbox credentials equal, browser links on published ports, one PLANS, health-gated dependencies)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
