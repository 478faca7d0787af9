//! Where CryptoCloud's page and our form send the payer afterwards:
//! `/dashboard/payment/success` and `/dashboard/payment/error?reason=...`.

use maud::{html, Markup};

/// A human explanation for each failure reason code.
pub fn message_for(reason: Option<&str>) -> (&'static str, &'static str) {
    match reason.unwrap_or("") {
        "unknown_tier" => ("That plan does not exist", "Pick one of the plans offered on your dashboard."),
        "tier_not_purchasable" => ("That plan cannot be bought", "The free plan is what every account has already; choose a paid plan to upgrade."),
        "plan_currency_mismatch" => ("Choose a plan in the same currency", "Your current plan is priced in another currency, so the time left on it cannot be carried over. Choose a plan in the same currency, or wait until the current one ends."),
        "invalid_months" => ("Choose a valid number of months", "The number of months must be a whole number within the range the plan allows."),
        "invalid_payment_method" => ("That payment method is not available", "Choose one of the coins in the list, or let the payment page offer them all."),
        "invalid_form" => ("The upgrade form was incomplete", "Some fields were missing or could not be read. Please fill in the form again."),
        "sign_in_required" => ("Please sign in again", "Your session is missing or has expired. Sign in, then start the upgrade again."),
        "forbidden_origin" => ("The request was refused", "The upgrade request did not come from this site, so it was not carried out. Start again from your dashboard."),
        "provider_unavailable" => ("The payment provider cannot be reached", "We could not contact CryptoCloud. No payment was started; please try again in a few minutes."),
        "provider_timeout" => ("The payment provider did not answer in time", "CryptoCloud took too long to create your invoice. No payment was started; please try again in a few minutes."),
        "provider_rate_limited" => ("The payment provider is busy", "CryptoCloud asked us to slow down. Please wait a minute and try again."),
        "provider_error" => ("The payment provider had a problem", "CryptoCloud reported an internal error while creating your invoice. Please try again later."),
        "provider_rejected" => ("The payment provider refused the invoice", "CryptoCloud did not accept this invoice. Please try another plan or payment method, or contact support."),
        "provider_unauthorized" => ("Payments are unavailable right now", "Our account with the payment provider needs attention. We have been alerted; please try again later."),
        "provider_bad_response" => ("The payment provider gave an unusable answer", "We could not read CryptoCloud's reply, so no payment was started. Please try again later."),
        "payment_failed" => ("The payment did not go through", "The invoice was not paid or was canceled. You can start a new payment from your dashboard."),
        "internal_error" => ("Something went wrong on our side", "We could not start the payment. Please try again; if it keeps happening, contact support."),
        _ => ("The payment could not be completed", "Please return to your dashboard and try again."),
    }
}

pub fn success() -> Markup {
    let content = html! {
        div.card.notice.good {
            h1 { "Thank you!" }
            p { "Your payment was received by CryptoCloud. Your plan is upgraded as soon as the payment is confirmed on the network, usually within a few minutes." }
            p.muted { "You can close this page; the upgrade happens without it." }
            a.button href="/dashboard" { "Back to your plan" }
            " "
            a href="/dashboard/payments" { "Payment history" }
        }
    };
    super::layout("Payment received", content)
}

pub fn error(reason: Option<&str>) -> Markup {
    let (title, text) = message_for(reason);
    let content = html! {
        div.card.notice.bad {
            h1 { (title) }
            p { (text) }
            @if let Some(code) = reason {
                p.muted { "Reason code: " code { (code) } }
            }
            a.button href="/dashboard" { "Back to your plan" }
        }
    };
    super::layout(title, content)
}
