#!/usr/bin/env python3
"""Checks the Prometheus alert rules.

  check_rules.py [--promtool PATH]

1. The rule groups in docs/operations.md (between the BEGIN/END alert rules markers)
   are identical to spec.groups of deploy/base/prometheusrule.yaml.
2. With --promtool: `promtool check rules` on them, and `promtool test rules` with the
   unit tests below, which prove that the key alerts fire when they should and stay
   silent when they should not.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "deploy" / "base" / "prometheusrule.yaml"
DOCS = REPO / "docs" / "operations.md"
BLOCK = re.compile(r"<!-- BEGIN alert rules.*?-->\s*```yaml\n(.*?)```\s*<!-- END alert rules -->", re.S)

INVOICES = 'checkout_invoices_created_total{job="checkout", instance="checkout-0", tier="pro"}'
POSTBACKS = 'ingest_postbacks_total{job="webhook-ingest", instance="ingest-0", outcome="accepted"}'
DLQ = 'rabbitmq_detailed_queue_messages{job="payments-rabbitmq", vhost="/", queue="subscription-worker.dlq"}'

# (name, input series, alert, eval time, fires, templated annotations)
CASES: list[tuple[str, dict[str, str], str, str, bool, dict[str, str]]] = [
    ("invoices but a silent webhook", {INVOICES: "0+1x90", POSTBACKS: "0x90"},
     "PaymentsPostbacksMissing", "80m", True, {}),
    ("invoices and no ingest series at all", {INVOICES: "0+1x90"},
     "PaymentsPostbacksMissing", "80m", True, {}),
    ("invoices and postbacks", {INVOICES: "0+1x90", POSTBACKS: "0+1x90"},
     "PaymentsPostbacksMissing", "80m", False, {}),
    ("too few invoices to tell", {INVOICES: "0x90", POSTBACKS: "0x90"},
     "PaymentsPostbacksMissing", "80m", False, {}),
    ("two dead letters", {DLQ: "0 0 2 2 2 2 2"},
     "PaymentsDeadLetterQueueNotEmpty", "5m", True, {"{{ $value }}": "2"}),
    ("empty DLQ", {DLQ: "0x10"}, "PaymentsDeadLetterQueueNotEmpty", "8m", False, {}),
]


def groups_from_manifest() -> list[dict[str, Any]]:
    return yaml.safe_load(RULE_FILE.read_text(encoding="utf-8"))["spec"]["groups"]


def groups_from_docs() -> list[dict[str, Any]] | None:
    match = BLOCK.search(DOCS.read_text(encoding="utf-8"))
    return yaml.safe_load(match.group(1))["groups"] if match else None


def unit_tests(groups: list[dict[str, Any]]) -> dict[str, Any]:
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    tests = []
    for _name, series, alert, at, fires, substitutions in CASES:
        expected = []
        if fires:
            annotations = {}
            for key, text in rules[alert].get("annotations", {}).items():
                for placeholder, value in substitutions.items():
                    text = text.replace(placeholder, value)
                annotations[key] = text
            expected.append({"exp_labels": dict(rules[alert].get("labels", {})),
                             "exp_annotations": annotations})
        tests.append({
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series.items()],
            "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
        })
    return {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promtool")
    args = parser.parse_args()

    groups = groups_from_manifest()
    documented = groups_from_docs()
    if documented is None:
        print(f"FAIL {DOCS}: no alert rules block between the BEGIN/END markers")
        return 1
    if documented != groups:
        print(f"FAIL {DOCS}: the alert rules differ from {RULE_FILE.relative_to(REPO)}")
        return 1
    print(f"ok   {DOCS.relative_to(REPO)}: alert rules identical to the PrometheusRule")
    if not args.promtool:
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        tests = Path(tmp) / "tests.yaml"
        tests.write_text(yaml.safe_dump(unit_tests(groups), sort_keys=False), encoding="utf-8")
        for command in (["check", "rules", str(rules)], ["test", "rules", str(tests)]):
            run = subprocess.run([args.promtool, *command], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"FAIL promtool {' '.join(command[:2])}:\n{run.stdout}{run.stderr}")
                return 1
    print(f"ok   alert rules: promtool check rules, and {len(CASES)} promtool unit tests "
          f"({', '.join(c[0] for c in CASES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
