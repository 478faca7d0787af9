//! What the operator commands print: a table for people, or JSON for scripts (`--json`).

use comfy_table::{presets, Table};
use serde::Serialize;

use crate::dlq::DeadLetter;
use crate::sweep::ReconcileReport;

/// How a command's result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::ASCII_MARKDOWN)
        .set_header(header.to_vec());
    table
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("a report serialises")
}

fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

/// `dlq list` (`replayed: false`) and `dlq replay` (`true`).
pub fn dead_letters(entries: &[DeadLetter], replayed: bool, format: Format) -> String {
    if format == Format::Json {
        #[derive(Serialize)]
        struct Listing<'a> {
            count: usize,
            #[serde(rename = "messages")]
            entries: &'a [DeadLetter],
            replayed: bool,
        }
        return json(&Listing {
            count: entries.len(),
            entries,
            replayed,
        });
    }
    let what = if replayed {
        "replayed"
    } else {
        "dead-lettered"
    };
    if entries.is_empty() {
        return format!("no message {what}");
    }
    let mut t = table(&[
        "message id",
        "invoice",
        "attempts",
        "dead-lettered at",
        "reason code",
        "reason",
    ]);
    for e in entries {
        t.add_row(vec![
            or_dash(&e.message_id),
            or_dash(&e.invoice_id),
            e.attempts.to_string(),
            or_dash(&e.dead_lettered_at),
            or_dash(&e.reason_code),
            or_dash(&e.reason),
        ]);
    }
    format!("{t}\n{} message(s) {what}", entries.len())
}

/// `reconcile --now`.
pub fn reconciliation(report: &ReconcileReport, older_than_secs: u64, format: Format) -> String {
    if format == Format::Json {
        return json(report);
    }
    if report.skipped {
        return "another worker is reconciling right now: nothing done (run it again in a moment)"
            .into();
    }
    let mut t = table(&["outcome", "payments"]);
    for (outcome, count) in [
        ("completed", report.completed),
        ("partial", report.partial),
        ("canceled", report.canceled),
        ("expired", report.expired),
        ("unchanged (still unpaid)", report.unchanged),
        ("failed (retried on the next pass)", report.failed),
    ] {
        t.add_row(vec![outcome.to_string(), count.to_string()]);
    }
    format!(
        "looked up {} pending payment(s) older than {older_than_secs} s at CryptoCloud\n{t}",
        report.checked
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> DeadLetter {
        DeadLetter {
            message_id: Some("m-1".into()),
            invoice_id: Some("INV-ABC".into()),
            reason: Some("amount mismatch".into()),
            reason_code: Some("amount_mismatch".into()),
            dead_lettered_at: Some("2026-12-03T10:00:00Z".into()),
            attempts: 3,
            bytes: 80,
        }
    }

    #[test]
    fn dead_letters_print_a_table_or_json() {
        let text = dead_letters(&[letter()], false, Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("message id") && lines[0].contains("reason code"),
            "{text}"
        );
        assert!(
            text.contains("| m-1 ") && text.contains("INV-ABC") && text.contains("amount_mismatch"),
            "{text}"
        );
        assert!(text.ends_with("1 message(s) dead-lettered"), "{text}");
        assert_eq!(
            dead_letters(&[], true, Format::Table),
            "no message replayed"
        );

        let parsed: serde_json::Value =
            serde_json::from_str(&dead_letters(&[letter()], true, Format::Json)).unwrap();
        assert_eq!(parsed["count"], 1);
        assert_eq!(parsed["replayed"], true);
        assert_eq!(parsed["messages"][0]["invoice_id"], "INV-ABC");
        assert_eq!(parsed["messages"][0]["attempts"], 3);
    }

    #[test]
    fn a_reconciliation_prints_a_summary_not_a_debug_dump() {
        let report = ReconcileReport {
            checked: 7,
            completed: 2,
            partial: 1,
            unchanged: 4,
            ..Default::default()
        };
        let text = reconciliation(&report, 600, Format::Table);
        assert!(
            text.starts_with("looked up 7 pending payment(s) older than 600 s"),
            "{text}"
        );
        assert!(
            text.contains("| completed ") && text.contains("| 2 "),
            "{text}"
        );
        assert!(!text.contains("ReconcileReport"), "{text}");
        let parsed: serde_json::Value =
            serde_json::from_str(&reconciliation(&report, 600, Format::Json)).unwrap();
        assert_eq!(parsed["checked"], 7);
        assert_eq!(parsed["completed"], 2);
        assert_eq!(parsed["skipped"], false);
        let skipped = ReconcileReport {
            skipped: true,
            ..Default::default()
        };
        assert!(reconciliation(&skipped, 600, Format::Table).starts_with("another worker"));
    }
}
