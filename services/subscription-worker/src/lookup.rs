//! Looking an invoice up at CryptoCloud ("pull-confirm"): the postback is only a hint, CryptoCloud's `invoice/merchant/info` answer
//! is what the worker acts on, and the answer must match what we asked the payer for.

use cryptocloud::{Invoice, InvoiceId, InvoiceStatus, MAX_INFO_IDS};
use rust_decimal::Decimal;

/// What an invoice's status means for its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `paid` or `overpaid`: complete the payment and extend the plan.
    Complete,
    /// `partial`: record it, no upgrade.
    Partial,
    /// `created`, `canceled` or anything unknown: change nothing.
    Ignore,
    /// Paid (fully or partly) in CryptoCloud's test mode while this worker refuses test
    /// invoices: acknowledged, counted, nothing changes.
    TestRefused,
}

/// What the invoice's status means; a partial payment whose shortfall is within
/// `tolerance_percent` of the invoiced crypto amount counts as complete. A paid test-mode
/// invoice is refused unless `accept_test`.
pub fn verdict(invoice: &Invoice, tolerance_percent: Decimal, accept_test: bool) -> Verdict {
    let verdict = by_status(invoice, tolerance_percent);
    if verdict != Verdict::Ignore && invoice.test_mode == Some(true) && !accept_test {
        return Verdict::TestRefused;
    }
    verdict
}

fn by_status(invoice: &Invoice, tolerance_percent: Decimal) -> Verdict {
    match &invoice.status {
        InvoiceStatus::Paid | InvoiceStatus::Overpaid => Verdict::Complete,
        InvoiceStatus::Partial if within_tolerance(invoice, tolerance_percent) => Verdict::Complete,
        InvoiceStatus::Partial => Verdict::Partial,
        InvoiceStatus::Created | InvoiceStatus::Canceled | InvoiceStatus::Other(_) => {
            Verdict::Ignore
        }
    }
}

/// Whether what was received falls short of the invoice by at most `tolerance_percent`.
fn within_tolerance(invoice: &Invoice, tolerance_percent: Decimal) -> bool {
    let Some(received) = invoice.received else {
        return false;
    };
    tolerance_percent > Decimal::ZERO
        && invoice.amount > Decimal::ZERO
        && received
            >= invoice.amount * (Decimal::ONE_HUNDRED - tolerance_percent) / Decimal::ONE_HUNDRED
}

/// Asks CryptoCloud about many invoices, in calls of at most 100 ids.
#[tracing::instrument(skip_all, fields(count = ids.len()))]
pub async fn invoices(
    client: &cryptocloud::Client,
    ids: &[InvoiceId],
) -> Result<Vec<Invoice>, cryptocloud::Error> {
    let mut all = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_INFO_IDS) {
        all.extend(client.invoice_info(chunk).await?);
    }
    Ok(all)
}

/// What we asked the payer for, from our `payments` row.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub invoice_id: Option<&'a str>,
    pub order_id: &'a str,
    pub amount: Decimal,
    pub currency: &'a str,
}

/// Checks CryptoCloud's invoice against the payment; the error says what differs.
pub fn check_matches(expected: &Expected<'_>, invoice: &Invoice) -> Result<(), String> {
    if let Some(stored) = expected.invoice_id {
        if !invoice.uuid.matches(stored) {
            return Err(format!(
                "invoice {} but the payment has {stored}",
                invoice.uuid
            ));
        }
    }
    if let Some(order_id) = invoice.order_id.as_deref().filter(|o| !o.is_empty()) {
        if order_id != expected.order_id {
            return Err(format!(
                "order id {order_id:?} but the payment has {:?}",
                expected.order_id
            ));
        }
    }
    // CryptoCloud's default currency is USD when the answer does not name one.
    let fiat = invoice.fiat_currency.as_deref().unwrap_or("USD");
    if !fiat.eq_ignore_ascii_case(expected.currency) {
        return Err(format!(
            "currency {fiat} but the payment is in {}",
            expected.currency
        ));
    }
    let invoiced = invoice.amount_in_fiat.or_else(|| {
        fiat.eq_ignore_ascii_case("USD")
            .then_some(invoice.amount_usd)
            .flatten()
    });
    match invoiced {
        None => Err("CryptoCloud did not report the invoice's fiat amount".to_string()),
        Some(amount) if amount != expected.amount => Err(format!(
            "amount {amount} {fiat} but the payment is {} {}",
            expected.amount, expected.currency
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn invoice(json: serde_json::Value) -> Invoice {
        let mut base = serde_json::json!({
            "uuid": "INV-ABCD1234", "created": "2025-03-01 10:15:30.123456", "amount": 99.0,
            "amount_usd": 99.0, "amount_in_fiat": 99.0, "fiat_currency": "USD", "status": "paid",
            "link": "", "order_id": "order-1"
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            invoice_id: Some("INV-ABCD1234"),
            order_id: "order-1",
            amount: dec!(99.00000000),
            currency: "USD",
        }
    }

    #[test]
    fn statuses_map_to_verdicts() {
        let of = |status: &str| invoice(serde_json::json!({"status": status}));
        let none = Decimal::ZERO;
        assert_eq!(verdict(&of("paid"), none, true), Verdict::Complete);
        assert_eq!(verdict(&of("overpaid"), none, true), Verdict::Complete);
        assert_eq!(verdict(&of("partial"), none, true), Verdict::Partial);
        assert_eq!(verdict(&of("created"), none, true), Verdict::Ignore);
        assert_eq!(verdict(&of("canceled"), none, true), Verdict::Ignore);
        assert_eq!(verdict(&of("weird"), none, true), Verdict::Ignore);
    }

    #[test]
    fn a_paid_test_invoice_is_refused_only_when_test_invoices_are_not_accepted() {
        let test = |status: &str| invoice(serde_json::json!({"status": status, "test_mode": true}));
        let zero = Decimal::ZERO;
        assert_eq!(verdict(&test("paid"), zero, true), Verdict::Complete);
        assert_eq!(verdict(&test("paid"), zero, false), Verdict::TestRefused);
        assert_eq!(verdict(&test("partial"), zero, false), Verdict::TestRefused);
        // Nothing to refuse when nothing would change.
        assert_eq!(verdict(&test("created"), zero, false), Verdict::Ignore);
        let live = invoice(serde_json::json!({"status": "paid", "test_mode": false}));
        assert_eq!(verdict(&live, zero, false), Verdict::Complete);
    }

    #[test]
    fn an_underpayment_within_the_tolerance_completes() {
        // 99 invoiced, 98.60 received: 0.41 % short.
        let short = invoice(serde_json::json!({"status": "partial", "received": 98.6}));
        assert_eq!(verdict(&short, Decimal::ZERO, true), Verdict::Partial);
        assert_eq!(verdict(&short, dec!(0.4), true), Verdict::Partial);
        assert_eq!(verdict(&short, dec!(0.5), true), Verdict::Complete);
        let unknown = invoice(serde_json::json!({"status": "partial", "received": null}));
        assert_eq!(verdict(&unknown, dec!(50), true), Verdict::Partial);
    }

    #[test]
    fn a_matching_invoice_passes_whatever_the_scale_or_prefix() {
        assert_eq!(
            check_matches(&expected(), &invoice(serde_json::json!({}))),
            Ok(())
        );
        let bare = Expected {
            invoice_id: Some("abcd1234"),
            ..expected()
        };
        assert_eq!(
            check_matches(&bare, &invoice(serde_json::json!({}))),
            Ok(())
        );
        // Without amount_in_fiat, a USD invoice is checked against amount_usd.
        let usd_only = invoice(serde_json::json!({"amount_in_fiat": null}));
        assert_eq!(check_matches(&expected(), &usd_only), Ok(()));
    }

    #[test]
    fn any_difference_is_refused() {
        let cases = [
            serde_json::json!({"amount_in_fiat": 98.99}),
            serde_json::json!({"fiat_currency": "EUR"}),
            serde_json::json!({"order_id": "order-2"}),
            serde_json::json!({"uuid": "INV-ZZZZ9999"}),
            serde_json::json!({"amount_in_fiat": null, "amount_usd": null}),
        ];
        for case in cases {
            assert!(
                check_matches(&expected(), &invoice(case.clone())).is_err(),
                "{case}"
            );
        }
        let eur = Expected {
            currency: "EUR",
            ..expected()
        };
        let eur_invoice =
            invoice(serde_json::json!({"fiat_currency": "EUR", "amount_in_fiat": null}));
        assert!(
            check_matches(&eur, &eur_invoice).is_err(),
            "amount_usd is not an EUR amount"
        );
    }
}
