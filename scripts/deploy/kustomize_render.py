#!/usr/bin/env python3
"""A small kustomize renderer for exactly the features deploy/ uses.

Supported kustomization fields: apiVersion, kind, resources (files and directories),
namespace, images (name, newName, newTag, digest) and patches (strategic-merge or
JSON 6902, from `path` or inline `patch`, optionally with a `target` of
group/version/kind/name/namespace). Anything else is refused with an error naming the
field, so the renderer never silently renders something differently from kustomize.

It exists because kubectl/kustomize is not installable from the package registries the
project may use. When kubectl is present, scripts/validate-deploy.sh renders with both
and requires identical results, which keeps this file honest.

Usage: kustomize_render.py DIR   (prints the rendered objects as a YAML stream)
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
SUPPORTED_TARGET_FIELDS = {"group", "version", "kind", "name", "namespace"}

# Strategic-merge keys of the lists our patches may touch in built-in kinds. Lists not
# named here are replaced, which is also what kustomize does for custom resources.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}

# Every object we render is namespaced; a cluster-scoped kind would need a list here.
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
}


class RenderError(Exception):
    pass


def _load_yaml_stream(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        docs = [doc for doc in yaml.safe_load_all(fh) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict):
            raise RenderError(f"{path}: every YAML document must be a mapping")
    return docs


def _kustomization_file(directory: Path) -> Path:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise RenderError(f"{directory}: no kustomization.yaml")


def _group_version(obj: dict[str, Any]) -> tuple[str, str]:
    api_version = obj.get("apiVersion", "")
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _matches(obj: dict[str, Any], target: dict[str, Any]) -> bool:
    group, version = _group_version(obj)
    meta = obj.get("metadata", {})
    checks = {
        "group": group,
        "version": version,
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
    }
    return all(checks[key] == value for key, value in target.items())


def _strategic_merge(base: Any, patch: Any, builtin: bool) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if isinstance(key, str) and key.startswith("$"):
                raise RenderError(f"strategic-merge directive {key} is not supported")
            if value is None:
                merged.pop(key, None)
            elif key in merged and key in MERGE_KEYS and builtin and isinstance(value, list):
                merged[key] = _merge_list(merged[key], value, MERGE_KEYS[key], builtin)
            elif key in merged:
                merged[key] = _strategic_merge(merged[key], value, builtin)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(patch)


def _merge_list(base: list[Any], patch: list[Any], key: str, builtin: bool) -> list[Any]:
    merged = [copy.deepcopy(item) for item in base]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise RenderError(f"list item without merge key {key!r}: {item!r}")
        for index, existing in enumerate(merged):
            if isinstance(existing, dict) and existing.get(key) == item[key]:
                merged[index] = _strategic_merge(existing, item, builtin)
                break
        else:
            merged.append(copy.deepcopy(item))
    return merged


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise RenderError(f"JSON pointer must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise RenderError(f"JSON patch path {path!r} does not exist")
    return node


def _json6902(doc: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path", "")
        parts = _pointer(path)
        parent = _walk(doc, parts[:-1], path)
        last = parts[-1]
        if op in ("add", "replace"):
            value = copy.deepcopy(operation["value"])
            if isinstance(parent, dict):
                if op == "replace" and last not in parent:
                    raise RenderError(f"JSON patch replace of missing {path!r}")
                parent[last] = value
            elif isinstance(parent, list):
                if last == "-" and op == "add":
                    parent.append(value)
                elif last.isdigit() and int(last) <= len(parent) - (op == "replace"):
                    if op == "add":
                        parent.insert(int(last), value)
                    else:
                        parent[int(last)] = value
                else:
                    raise RenderError(f"JSON patch index out of range: {path!r}")
            else:
                raise RenderError(f"JSON patch parent of {path!r} is not a container")
        elif op == "remove":
            if isinstance(parent, dict) and last in parent:
                del parent[last]
            elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
                del parent[int(last)]
            else:
                raise RenderError(f"JSON patch remove of missing {path!r}")
        elif op == "test":
            if _walk(doc, parts, path) != operation.get("value"):
                raise RenderError(f"JSON patch test failed at {path!r}")
        else:
            raise RenderError(f"JSON patch op {op!r} is not supported")
    return doc


def _is_builtin(obj: dict[str, Any]) -> bool:
    group, _ = _group_version(obj)
    return group == "" or group.endswith(".k8s.io") or group in {
        "apps",
        "batch",
        "policy",
        "autoscaling",
    }


def _apply_patch(objects: list[dict[str, Any]], entry: dict[str, Any], root: Path) -> None:
    unknown = set(entry) - {"path", "patch", "target"}
    if unknown:
        raise RenderError(f"{root}: unsupported patch field(s) {sorted(unknown)}")
    text = (root / entry["path"]).read_text(encoding="utf-8") if "path" in entry else entry["patch"]
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    # A JSON 6902 patch is one YAML list of operations; otherwise mappings (strategic merge).
    if not (len(docs) == 1 and isinstance(docs[0], list)):
        for doc in docs:
            if not isinstance(doc, dict):
                raise RenderError(f"{root}: a patch document must be a mapping or a list of ops")
    target = entry.get("target")
    if target is not None:
        unknown = set(target) - SUPPORTED_TARGET_FIELDS
        if unknown:
            raise RenderError(f"{root}: unsupported patch target field(s) {sorted(unknown)}")
    for doc in docs:
        is_json6902 = isinstance(doc, list)
        if is_json6902 and target is None:
            raise RenderError(f"{root}: a JSON 6902 patch needs a target")
        if target is not None:
            selector = target
        else:
            # A strategic-merge patch names its target itself.
            group, _ = _group_version(doc)
            selector = {"kind": doc.get("kind"), "name": doc.get("metadata", {}).get("name")}
            if group:
                selector["group"] = group
            namespace = doc.get("metadata", {}).get("namespace")
            if namespace:
                selector["namespace"] = namespace
        hits = [i for i, obj in enumerate(objects) if _matches(obj, selector)]
        if not hits:
            raise RenderError(f"{root}: patch target {selector} matches no resource")
        for index in hits:
            obj = objects[index]
            if is_json6902:
                objects[index] = _json6902(obj, doc)
            else:
                body = copy.deepcopy(doc)
                if target is not None:
                    # With an explicit target the patch's own name is not used.
                    body.get("metadata", {}).pop("name", None)
                objects[index] = _strategic_merge(obj, body, _is_builtin(obj))


def _split_image(image: str) -> tuple[str, str, str]:
    """Returns (name, tag, digest) of an image reference."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = ""
    last_slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > last_slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def _set_images(node: Any, images: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        container["image"] = _rewrite_image(container["image"], images)
            _set_images(value, images)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, images)


def _rewrite_image(image: str, images: list[dict[str, Any]]) -> str:
    name, tag, digest = _split_image(image)
    for rule in images:
        unknown = set(rule) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise RenderError(f"unsupported images field(s) {sorted(unknown)}")
        if rule["name"] != name:
            continue
        name = rule.get("newName", name)
        if "digest" in rule:
            return f"{name}@{rule['digest']}"
        if "newTag" in rule:
            return f"{name}:{rule['newTag']}"
        break
    suffix = f":{tag}" if tag else ""
    return f"{name}{suffix}@{digest}" if digest else f"{name}{suffix}"


def render(directory: Path) -> list[dict[str, Any]]:
    directory = directory.resolve()
    kfile = _kustomization_file(directory)
    (kustomization,) = _load_yaml_stream(kfile)
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{kfile}: field(s) {sorted(unknown)} not supported by this renderer")

    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            objects.extend(render(path))
        elif path.is_file():
            objects.extend(_load_yaml_stream(path))
        else:
            raise RenderError(f"{kfile}: resource {resource!r} not found")

    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        meta = obj.get("metadata", {})
        ident = (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace", ""), meta.get("name"))
        if ident in seen:
            raise RenderError(f"{kfile}: duplicate resource {ident}")
        seen.add(ident)

    # Same order as kustomize's built-in transformers: patches, namespace, images.
    for entry in kustomization.get("patches", []):
        _apply_patch(objects, entry, directory)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = namespace
    images = kustomization.get("images", [])
    if images:
        for obj in objects:
            _set_images(obj, images)
    return objects


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        objects = render(Path(argv[1]))
    except (RenderError, OSError, yaml.YAMLError, KeyError) as err:
        print(f"kustomize_render: {err}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
