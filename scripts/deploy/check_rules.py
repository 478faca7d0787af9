#!/usr/bin/env python3
"""Checks the Prometheus alert rules.

  check_rules.py [--promtool PATH]

1. The rule groups in docs/operations.md (between the BEGIN/END alert rules markers)
   are identical to spec.groups of deploy/base/prometheusrule.yaml.
2. Every alert has unit tests below, at least one where it fires and one where it stays
   silent, written against the series the services really export.
3. With --promtool: `promtool check rules` on them, and `promtool test rules` with those
   unit tests.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[2]
RULE_FILE = REPO / "deploy" / "base" / "prometheusrule.yaml"
DOCS = REPO / "docs" / "operations.md"
BLOCK = re.compile(r"<!-- BEGIN alert rules.*?-->\s*```yaml\n(.*?)```\s*<!-- END alert rules -->", re.S)

# Series as the services export them (names and labels from the code: platform's
# http_requests_total{route,method,status}, webhook-ingest's telemetry.rs, checkout's
# checkout_invoices_*_total) plus the `job`/`instance` labels the ServiceMonitors add.
INVOICES = 'checkout_invoices_created_total{job="checkout", instance="checkout-0", tier="pro"}'
RECEIVED = 'webhook_postbacks_received_total{job="webhook-ingest", instance="ingest-0"}'


def rejected(reason: str) -> str:
    return f'webhook_postbacks_rejected_total{{job="webhook-ingest", instance="ingest-0", reason="{reason}"}}'


def invoice_failed(reason: str) -> str:
    return f'checkout_invoices_failed_total{{job="checkout", instance="checkout-0", reason="{reason}"}}'


def http(route: str, method: str, status: str) -> str:
    return (f'http_requests_total{{job="checkout", instance="checkout-0", route="{route}", '
            f'method="{method}", status="{status}"}}')


def queue(metric: str, name: str) -> str:
    return f'rabbitmq_detailed_queue_{metric}{{job="payments-rabbitmq", vhost="/", queue="{name}"}}'


UP = 'up{job="checkout", instance="checkout-0"}'
DLQ = queue("messages", "subscription-worker.dlq")
CONSUMERS = queue("consumers", "subscription-worker")
DLQ_CONSUMERS = queue("consumers", "subscription-worker.dlq")
READY = queue("messages_ready", "subscription-worker")
OUTBOX = 'worker_outbox_oldest_unpublished_seconds{job="subscription-worker", instance="worker-0"}'
UP_DISPATCHER = 'up{job="event-dispatcher", instance="dispatcher-0"}'
DISPATCH_CONSUMERS = queue("consumers", "event-dispatcher")
DISPATCH_DLQ = queue("messages", "event-dispatcher.dlq")
DISPATCH_DLQ_CONSUMERS = queue("consumers", "event-dispatcher.dlq")


def dispatcher(metric: str, instance: str) -> str:
    # services/event-dispatcher/src/backlog.rs: every replica reports the same database count.
    return f'{metric}{{job="event-dispatcher", instance="{instance}"}}'


class Case(NamedTuple):
    name: str
    series: dict[str, str]
    alert: str
    at: str
    fires: bool
    # Labels the alert carries from its series (besides the rule's own labels).
    labels: dict[str, str] = {}
    # Template placeholders in the annotations and what they expand to.
    substitutions: dict[str, str] = {}


# Each alert has at least one case that fires and one that stays silent.
CASES: list[Case] = [
    Case("a pod unscrapeable for 5 minutes", {UP: "1 1 0x10"}, "PaymentsServiceDown", "8m", True,
         {"job": "checkout", "instance": "checkout-0"},
         {"{{ $labels.job }}": "checkout", "{{ $labels.instance }}": "checkout-0"}),
    Case("every pod scraped", {UP: "1x12"}, "PaymentsServiceDown", "10m", False),
    Case("a dispatcher pod unscrapeable", {UP_DISPATCHER: "1 0x10"}, "PaymentsServiceDown", "8m", True,
         {"job": "event-dispatcher", "instance": "dispatcher-0"},
         {"{{ $labels.job }}": "event-dispatcher", "{{ $labels.instance }}": "dispatcher-0"}),
    Case("no consumer on the event queue (one on its DLQ)",
         {DISPATCH_CONSUMERS: "0x10", DISPATCH_DLQ_CONSUMERS: "1x10", CONSUMERS: "2x10"},
         "PaymentsDispatcherNotConsuming", "7m", True),
    Case("a dispatcher consumes (the worker queue has none)",
         {DISPATCH_CONSUMERS: "2x10", CONSUMERS: "0x10"},
         "PaymentsDispatcherNotConsuming", "7m", False),
    Case("no consumer on the work queue (one on the DLQ)", {CONSUMERS: "0x10", DLQ_CONSUMERS: "1x10"},
         "PaymentsWorkerNotConsuming", "7m", True),
    Case("consumers on the work queue (none on the DLQ)", {CONSUMERS: "2x10", DLQ_CONSUMERS: "0x10"},
         "PaymentsWorkerNotConsuming", "7m", False),
    Case("503s without a broker confirm", {rejected("broker_unavailable"): "0+2x20",
                                           rejected("publish_timeout"): "0+1x20"},
         "PaymentsIngestBrokerUnavailable", "12m", True),
    Case("rejections that are not the broker's", {rejected("rate_limited"): "0+5x20",
                                                  rejected("invalid_field"): "0+5x20"},
         "PaymentsIngestBrokerUnavailable", "12m", False),
    Case("CryptoCloud refuses the API key", {invoice_failed("provider_unauthorized"): "0+1x20"},
         "PaymentsCryptoCloudRejectsApiKey", "10m", True),
    Case("CryptoCloud only slow", {invoice_failed("provider_timeout"): "0+1x20"},
         "PaymentsCryptoCloudRejectsApiKey", "10m", False),
    Case("invoices but a silent webhook", {INVOICES: "0+1x90", RECEIVED: "0x90"},
         "PaymentsPostbacksMissing", "80m", True),
    Case("invoices and no ingest series at all", {INVOICES: "0+1x90"},
         "PaymentsPostbacksMissing", "80m", True),
    Case("invoices and postbacks", {INVOICES: "0+1x90", RECEIVED: "0+1x90"},
         "PaymentsPostbacksMissing", "80m", False),
    Case("too few invoices to tell", {INVOICES: "0x90", RECEIVED: "0x90"},
         "PaymentsPostbacksMissing", "80m", False),
    Case("forged postback tokens", {rejected("token_bad_signature"): "0+1x20"},
         "PaymentsPostbacksRejected", "15m", True),
    Case("malformed postbacks are not token problems", {rejected("invalid_field"): "0+5x20",
                                                        rejected("malformed_body"): "0+5x20"},
         "PaymentsPostbacksRejected", "15m", False),
    Case("two dead letters", {DLQ: "0 0 2 2 2 2 2"},
         "PaymentsDeadLetterQueueNotEmpty", "5m", True, {}, {"{{ $value }}": "2"}),
    Case("empty DLQ", {DLQ: "0x10"}, "PaymentsDeadLetterQueueNotEmpty", "8m", False),
    Case("an event dead-lettered by the dispatcher", {DISPATCH_DLQ: "0 0 1x5"},
         "PaymentsDispatcherDeadLetters", "5m", True, {}, {"{{ $value }}": "1"}),
    Case("dead letters of the worker only", {DISPATCH_DLQ: "0x10", DLQ: "3x10"},
         "PaymentsDispatcherDeadLetters", "8m", False),
    # Two replicas report the same backlog: max, not the sum, is compared with 600.
    Case("deliveries overdue for 20 minutes", {dispatcher("dispatch_oldest_due_seconds", "d-0"): "0+60x20",
                                               dispatcher("dispatch_oldest_due_seconds", "d-1"): "0+60x20"},
         "PaymentsWebhookDeliveriesDelayed", "18m", True, {}, {"{{ $value }}": "1080"}),
    Case("deliveries attempted within minutes", {dispatcher("dispatch_oldest_due_seconds", "d-0"): "400x20",
                                                 dispatcher("dispatch_oldest_due_seconds", "d-1"): "400x20"},
         "PaymentsWebhookDeliveriesDelayed", "18m", False),
    Case("an endpoint failing for 40 minutes", {dispatcher("dispatch_failing_endpoints", "d-0"): "1x45",
                                                dispatcher("dispatch_failing_endpoints", "d-1"): "1x45"},
         "PaymentsWebhookEndpointsFailing", "40m", True, {}, {"{{ $value }}": "1"}),
    Case("an endpoint failing for 25 minutes only", {dispatcher("dispatch_failing_endpoints", "d-0"): "0x15 1x30"},
         "PaymentsWebhookEndpointsFailing", "40m", False),
    Case("an event returned for 12 minutes", {OUTBOX: "0 60 120 180 240 300 360 420 480 540 600 660 720"},
         "PaymentsOutboxStuck", "12m", True, {}, {"{{ $value }}": "720"}),
    Case("events published within seconds", {OUTBOX: "0 3 0 1 0 2 0 0 4 0 0 0 1x10"},
         "PaymentsOutboxStuck", "12m", False),
    Case("backlog above 200 for 15 minutes", {READY: "250x25"}, "PaymentsQueueBacklog", "20m", True),
    Case("backlog below 200", {READY: "150x25"}, "PaymentsQueueBacklog", "20m", False),
    # 20% of the API requests fail; the probes' 1000 successes a minute must not dilute that.
    Case("checkout 5xx, hidden among probes", {http("/api/v1/checkout", "POST", "201"): "0+8x30",
                                               http("/api/v1/checkout", "POST", "503"): "0+2x30",
                                               http("/healthz", "GET", "200"): "0+1000x30"},
         "PaymentsCheckoutErrorRate", "20m", True),
    Case("checkout 1% 5xx", {http("/api/v1/checkout", "POST", "201"): "0+99x30",
                             http("/api/v1/checkout", "POST", "502"): "0+1x30"},
         "PaymentsCheckoutErrorRate", "20m", False),
    # A pod taken out of rotation answers its readiness probe with 503: not a user's error.
    Case("only readiness probes fail", {http("/api/v1/checkout", "POST", "201"): "0+20x30",
                                        http("/readyz", "GET", "503"): "0+12x30"},
         "PaymentsCheckoutErrorRate", "20m", False),
]


def groups_from_manifest() -> list[dict[str, Any]]:
    return yaml.safe_load(RULE_FILE.read_text(encoding="utf-8"))["spec"]["groups"]


def groups_from_docs() -> list[dict[str, Any]] | None:
    match = BLOCK.search(DOCS.read_text(encoding="utf-8"))
    return yaml.safe_load(match.group(1))["groups"] if match else None


def unit_tests(groups: list[dict[str, Any]]) -> dict[str, Any]:
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    tests = []
    for case in CASES:
        expected = []
        if case.fires:
            annotations = {}
            for key, text in rules[case.alert].get("annotations", {}).items():
                for placeholder, value in case.substitutions.items():
                    text = text.replace(placeholder, value)
                annotations[key] = text
            expected.append({"exp_labels": {**case.labels, **rules[case.alert].get("labels", {})},
                             "exp_annotations": annotations})
        tests.append({
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
            "alert_rule_test": [{"eval_time": case.at, "alertname": case.alert, "exp_alerts": expected}],
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
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    for alert in sorted(alerts):
        for fires in (True, False):
            if not any(c.alert == alert and c.fires == fires for c in CASES):
                print(f"FAIL {Path(__file__).name}: no unit test where {alert} "
                      f"{'fires' if fires else 'stays silent'}")
                return 1
    unknown = sorted({c.alert for c in CASES} - alerts)
    if unknown:
        print(f"FAIL {Path(__file__).name}: unit tests for unknown alerts {unknown}")
        return 1
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
          f"({', '.join(c.name for c in CASES)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
