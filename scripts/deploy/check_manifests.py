#!/usr/bin/env python3
"""Renders a kustomization and validates every object it produces.

  check_manifests.py [--kubectl PATH] [--profile base|production|dev|any] DIR

1. Render DIR with scripts/deploy/kustomize_render.py; with --kubectl also with
   `kubectl kustomize` and require both results to be identical.
2. Built-in kinds: the Kubernetes JSON schemas shipped by `kubernetes-validate`, strict
   (unknown fields rejected), for the oldest and newest Kubernetes versions we support.
   Custom resources: the schemas in deploy/tests/schemas/. Any other kind fails.
3. Project rules: no secret values in manifests, hardened pods with probes and resources,
   selectors and references that resolve, and the per-profile expectations (no sandbox
   and no DEV_LOGIN_ENABLED other than a literal "false" in base and production).

Exit status 0 when everything passes, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kustomize_render  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "deploy" / "tests" / "schemas"
# Oldest supported (the preStop `sleep` action is on by default from 1.30) and newest known.
K8S_VERSIONS = ("1.30.0", "1.37.0")
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
SECRET_ENV = {
    "DATABASE_URL",
    "AMQP_URL",
    "CRYPTOCLOUD_API_KEY",
    "CRYPTOCLOUD_SHOP_ID",
    "CRYPTOCLOUD_SECRET_KEY",
    "AUTH_JWT_SECRET",
    "AUTH_JWT_SECRET_PREVIOUS",
    "CRYPTOCLOUD_SECRET_KEY_PREVIOUS",
    "ADMIN_TOKEN",
    "SANDBOX_API_KEY",
    "SANDBOX_SHOP_ID",
    "SANDBOX_SECRET_KEY",
}
SECRET_NAME = "payments-secrets"
# checkout's /dev/login hands a session to anyone; only the dev profile may turn it on.
DEV_LOGIN = "DEV_LOGIN_ENABLED"
SANDBOX = "cryptocloud-sandbox"
RABBITMQ_CLUSTER_LABEL = "app.kubernetes.io/name"


def ident(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def render(directory: Path, kubectl: str | None) -> list[dict[str, Any]]:
    objects = kustomize_render.render(directory)
    if kubectl:
        out = subprocess.run(
            [kubectl, "kustomize", str(directory)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        theirs = [doc for doc in yaml.safe_load_all(out) if doc]
        key = lambda o: json.dumps(o, sort_keys=True)  # noqa: E731
        ours_set = sorted(key(o) for o in objects)
        theirs_set = sorted(key(o) for o in theirs)
        if ours_set != theirs_set:
            only_ours = sorted({ident(o) for o in objects if key(o) not in theirs_set})
            only_theirs = sorted({ident(o) for o in theirs if key(o) not in ours_set})
            raise SystemExit(
                f"renderers disagree on {directory}: python-only {only_ours}, "
                f"kubectl-only {only_theirs}"
            )
    return objects


def schema_errors(objects: list[dict[str, Any]]) -> Iterator[str]:
    registry = Registry()
    for path in SCHEMA_DIR.glob("*.yaml"):
        schema = yaml.safe_load(path.read_text(encoding="utf-8"))
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    for obj in objects:
        kind_key = (obj.get("apiVersion"), obj.get("kind"))
        if kind_key in CUSTOM_KINDS:
            path = SCHEMA_DIR / f"{obj['kind'].lower()}.schema.yaml"
            schema = yaml.safe_load(path.read_text(encoding="utf-8"))
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.path)):
                where = "/".join(str(p) for p in err.path)
                yield f"{ident(obj)}: {where}: {err.message} (schema {path.name})"
            continue
        if not kustomize_render._is_builtin(obj):
            yield f"{ident(obj)}: custom kind {kind_key} has no schema in {SCHEMA_DIR}"
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                where = "/".join(str(p) for p in err.path)
                yield f"{ident(obj)}: {where}: {err.message} (Kubernetes {version}, strict)"
                break
            except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as err:
                yield f"{ident(obj)}: no Kubernetes {version} schema: {err}"
                break


def pod_templates(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj.get("spec", {}).get("template")
    return None


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """matchLabels/matchExpressions (or a plain Service selector) against labels."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present, value = expr["key"] in labels, labels.get(expr["key"])
        op, values = expr["operator"], expr.get("values", [])
        if (op == "In" and value not in values) or (op == "NotIn" and value in values):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def policy_errors(objects: list[dict[str, Any]], profile: str) -> Iterator[str]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind", ""), []).append(obj)
    named = {(o.get("kind"), o["metadata"]["name"]): o for o in objects}
    templates = [(o, pod_templates(o)) for o in objects if pod_templates(o)]
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in by_kind.get("ConfigMap", [])}

    for secret in by_kind.get("Secret", []):
        if secret.get("data") or secret.get("stringData"):
            yield f"{ident(secret)}: inline Secret values are not allowed; reference {SECRET_NAME}"

    for owner, template in templates:
        spec = template.get("spec", {})
        pod_sc = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            yield f"{ident(owner)}: automountServiceAccountToken must be false"
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            where = f"{ident(owner)} container {container.get('name')}"
            sc = container.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                yield f"{where}: securityContext.allowPrivilegeEscalation must be false"
            if sc.get("readOnlyRootFilesystem") is not True:
                yield f"{where}: securityContext.readOnlyRootFilesystem must be true"
            if not (sc.get("runAsNonRoot") is True or pod_sc.get("runAsNonRoot") is True):
                yield f"{where}: runAsNonRoot must be true"
            if "ALL" not in (sc.get("capabilities", {}).get("drop") or []):
                yield f"{where}: capabilities.drop must include ALL"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(bound) or {}):
                        yield f"{where}: resources.{bound}.{resource} is missing"
            for env in container.get("env", []):
                name = env.get("name")
                if "value" in env and name in SECRET_ENV:
                    yield f"{where}: {name} must come from a secretKeyRef, not an inline value"
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") != SECRET_NAME:
                    yield f"{where}: {name} references Secret {ref.get('name')}, expected {SECRET_NAME}"
                cm_ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                if cm_ref:
                    data = config_maps.get(cm_ref.get("name"))
                    if data is None:
                        yield f"{where}: {name} references missing ConfigMap {cm_ref.get('name')}"
                    elif cm_ref.get("key") not in data and not cm_ref.get("optional"):
                        yield f"{where}: {name} references missing key {cm_ref.get('key')}"
            if owner["kind"] == "Deployment":
                for probe in ("livenessProbe", "readinessProbe"):
                    if not (container.get(probe) or {}).get("httpGet"):
                        yield f"{where}: {probe} with httpGet is required"
                annotations = template.get("metadata", {}).get("annotations", {})
                if annotations.get("prometheus.io/scrape") == "true":
                    ports = [str(p.get("containerPort")) for p in container.get("ports", [])]
                    if annotations.get("prometheus.io/port") not in ports:
                        yield f"{where}: prometheus.io/port is not a container port"

    pod_labels = [(o, t.get("metadata", {}).get("labels", {})) for o, t in templates]

    def selected(selector: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [o for o, labels in pod_labels if selects(selector, labels)]

    for svc in by_kind.get("Service", []):
        if not selected(svc.get("spec", {}).get("selector")):
            yield f"{ident(svc)}: selector selects no pod template"
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selected(pdb.get("spec", {}).get("selector")):
            yield f"{ident(pdb)}: selector selects no pod template"
    for policy in by_kind.get("NetworkPolicy", []):
        if not selected(policy.get("spec", {}).get("podSelector")):
            yield f"{ident(policy)}: podSelector selects no pod template"
    scalers = {}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []) + by_kind.get("ScaledObject", []):
        target = hpa.get("spec", {}).get("scaleTargetRef", {}).get("name")
        if ("Deployment", target) not in named:
            yield f"{ident(hpa)}: scaleTargetRef names no Deployment ({target})"
        scalers[target] = hpa
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for ingress in by_kind.get("Ingress", []):
        for rule in ingress.get("spec", {}).get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path.get("backend", {}).get("service", {})
                svc = services.get(backend.get("name"))
                port = backend.get("port", {})
                if svc is None:
                    yield f"{ident(ingress)}: backend Service {backend.get('name')} does not exist"
                elif not any(
                    p.get("name") == port.get("name") or p.get("port") == port.get("number")
                    for p in svc["spec"].get("ports", [])
                ):
                    yield f"{ident(ingress)}: backend port {port} not on Service {svc['metadata']['name']}"
    clusters = {c["metadata"]["name"] for c in by_kind.get("RabbitmqCluster", [])}
    for monitor in by_kind.get("ServiceMonitor", []):
        selector = monitor.get("spec", {}).get("selector")
        cluster = (selector.get("matchLabels") or {}).get(RABBITMQ_CLUSTER_LABEL)
        if cluster in clusters:
            continue  # the operator creates that Service
        if not any(selects(selector, s["metadata"].get("labels", {})) for s in services.values()):
            yield f"{ident(monitor)}: selector selects no Service"
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"].get("labels", {})
        if not any(selects(s["spec"].get("selector"), labels) for s in services.values()):
            yield f"{ident(deployment)}: no Service selects it"
        if not any(selects(p["spec"].get("selector"), labels) for p in by_kind.get("PodDisruptionBudget", [])):
            yield f"{ident(deployment)}: no PodDisruptionBudget selects it"
        if name in scalers and "replicas" in deployment["spec"]:
            yield f"{ident(deployment)}: sets replicas although {ident(scalers[name])} owns them"

    names = {o["metadata"]["name"] for o in objects}
    if profile in ("base", "production") and any(SANDBOX in n for n in names):
        yield f"profile {profile}: the {SANDBOX} must not be deployed here"
    if profile in ("base", "production"):
        for name, data in config_maps.items():
            if DEV_LOGIN in (data or {}) and str(data[DEV_LOGIN]) != "false":
                yield f"profile {profile}: ConfigMap/{name} sets {DEV_LOGIN}; the dev login must stay off here"
        for owner, template in templates:
            for container in template["spec"].get("containers", []):
                for env in container.get("env", []):
                    if env.get("name") == DEV_LOGIN and env.get("value") != "false":
                        yield (f"profile {profile}: {ident(owner)} container {container.get('name')} sets "
                               f"{DEV_LOGIN} to something but the literal \"false\"; the dev login must stay off here")
    if profile == "dev" and ("Deployment", SANDBOX) not in named:
        yield f"profile dev: the {SANDBOX} Deployment is missing"
    if profile == "production":
        for cluster in by_kind.get("RabbitmqCluster", []):
            if cluster["spec"].get("replicas", 1) < 3:
                yield f"{ident(cluster)}: production needs 3 replicas"
        for owner, template in templates:
            for container in template["spec"]["containers"]:
                image = container.get("image", "")
                if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]:
                    yield f"{ident(owner)}: production image {image} must be pinned"
        for ingress in by_kind.get("Ingress", []):
            spec = ingress["spec"]
            if not spec.get("tls") or not all(r.get("host") for r in spec.get("rules", [])):
                yield f"{ident(ingress)}: production Ingress needs a host and TLS"
    for needed in ("Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler",
                   "ScaledObject", "Job", "Ingress", "NetworkPolicy", "ConfigMap",
                   "RabbitmqCluster", "ServiceMonitor", "PrometheusRule"):
        if profile != "any" and needed not in by_kind:
            yield f"profile {profile}: no {needed} rendered"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--kubectl", help="also render with `KUBECTL kustomize` and compare")
    parser.add_argument("--profile", default="any", choices=["base", "production", "dev", "any"])
    args = parser.parse_args()
    try:
        objects = render(args.directory, args.kubectl)
    except (kustomize_render.RenderError, subprocess.CalledProcessError, yaml.YAMLError) as err:
        detail = getattr(err, "stderr", "") or ""
        print(f"FAIL {args.directory}: cannot render: {err} {detail}".strip())
        return 1
    errors = list(dict.fromkeys([*schema_errors(objects), *policy_errors(objects, args.profile)]))
    for error in errors:
        print(f"FAIL {args.directory}: {error}")
    if errors:
        return 1
    kinds = sorted({o["kind"] for o in objects})
    renderer = "python + kubectl (identical)" if args.kubectl else "python"
    print(f"ok   {args.directory}: {len(objects)} objects ({', '.join(kinds)}), rendered by {renderer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
