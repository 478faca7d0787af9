//! The hosted payment page at the invoice `link` (`/{CODE}`, like
//! `pay.cryptocloud.plus/CODE`): server-rendered, plain HTML forms, no JavaScript. Its
//! buttons pay in full, pay part, overpay or let the invoice expire; paying redirects to
//! the project's success URL as CryptoCloud does, expiring to its fail URL.

use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use cryptocloud::InvoiceId;
use maud::{html, Markup, DOCTYPE};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::currencies::round;
use crate::invoice::{InvoiceRecord, PayError, Status};
use crate::postback::PostbackOptions;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/{code}", web::get().to(show))
        .route("/{code}/pay", web::post().to(act));
}

const CSS: &str = "
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f3f4f8;color:#1d2030}
main{max-width:30rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(20,20,60,.08)}
main.wide{max-width:52rem}
.brand{margin:0 0 1.5rem;font-weight:700;color:#5b4bff}.brand span{font-weight:400;color:#8a8fa8}
h1{margin:0;font-size:2rem}.crypto{margin:.25rem 0 1.5rem;color:#555a70}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:0 0 1.5rem}dt{color:#8a8fa8}dd{margin:0;word-break:break-all}
.status{display:inline-block;padding:0 .6rem;border-radius:999px;font-size:.85rem;font-weight:600;background:#e8e9f0}
.status-paid,.status-overpaid{background:#dcf5e3;color:#17692f}.status-partial{background:#fff1d6;color:#8a5a00}.status-canceled{background:#fde2e2;color:#922}
form{margin:0}.actions{display:grid;gap:.6rem}
button{width:100%;padding:.75rem 1rem;border:0;border-radius:8px;font:inherit;font-weight:600;cursor:pointer;background:#5b4bff;color:#fff}
button.secondary{background:#eceafe;color:#3d31c4}button.danger{background:#fbe9e9;color:#a22}
.note{margin:1.5rem 0 0;font-size:.85rem;color:#8a8fa8}.message{padding:.75rem 1rem;border-radius:8px;background:#fde2e2;color:#922}
a.back{display:block;text-align:center;padding:.75rem;border-radius:8px;background:#5b4bff;color:#fff;text-decoration:none;font-weight:600}
table{width:100%;border-collapse:collapse}td,th{padding:.4rem .5rem;text-align:left;border-bottom:1px solid #eee}
";

fn layout(title: &str, wide: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · CryptoCloud sandbox" }
                style { (maud::PreEscaped(CSS)) }
            }
            body {
                main class=[wide.then_some("wide")] {
                    p class="brand" { "CryptoCloud " span { "sandbox" } }
                    (body)
                }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

fn message_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    html_response(
        status,
        layout(
            title,
            false,
            html! { h1 { (title) } p class="message" { (message) } },
        ),
    )
}

fn fiat(amount: Decimal) -> String {
    format!("{:.2}", round(amount, 2))
}

/// What each button pays, in the invoice's coin.
fn button_amounts(invoice: &InvoiceRecord) -> (Decimal, Decimal, Decimal) {
    let unit = invoice.coin.unit();
    let remaining = invoice.remaining();
    let part = round(remaining / Decimal::TWO, invoice.coin.decimals).max(unit);
    let extra = round(invoice.amount_crypto / Decimal::TEN, invoice.coin.decimals).max(unit);
    (remaining, part, remaining + extra)
}

/// `GET /`: the invoices, newest first, for demos.
async fn index(state: web::Data<AppState>) -> HttpResponse {
    let invoices = state.store.invoices();
    let body = html! {
        h1 { "Invoices" }
        @if invoices.is_empty() {
            p { "No invoices yet. Create one with " code { "POST /v2/invoice/create" } "." }
        } @else {
            table {
                tr { th { "Invoice" } th { "Amount" } th { "Status" } th { "Order" } }
                @for invoice in &invoices {
                    tr {
                        td { a href={ "/" (invoice.id.code()) } { (invoice.id.prefixed()) } }
                        td { (fiat(invoice.amount_fiat)) " " (invoice.fiat_currency) }
                        td { span class={ "status status-" (invoice.status.as_str()) } { (invoice.status.as_str()) } }
                        td { (invoice.order_id.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, layout("Invoices", true, body))
}

/// `GET /{CODE}`: the payment page.
async fn show(state: web::Data<AppState>, path: web::Path<String>) -> HttpResponse {
    let Some(invoice) = InvoiceId::parse(&path)
        .ok()
        .and_then(|id| state.store.invoice(&id))
    else {
        return message_page(
            StatusCode::NOT_FOUND,
            "Invoice not found",
            "There is no invoice with this link.",
        );
    };
    let now = state.store.now();
    let coin = invoice.coin;
    let payable =
        matches!(invoice.status, Status::Created | Status::Partial) && !invoice.is_expired(now);
    let (full, part, over) = button_amounts(&invoice);
    let action = format!("/{}/pay", invoice.id.code());
    let back = if invoice.status.is_paid() {
        &state.success_url
    } else {
        &state.fail_url
    };
    let body = html! {
        h1 { span class="amount" { (fiat(invoice.amount_fiat)) " " (invoice.fiat_currency) } }
        p class="crypto" { (invoice.amount_crypto) " " (coin.code) " · " (coin.network) }
        dl {
            dt { "Invoice" } dd { (invoice.id.prefixed()) }
            dt { "Status" } dd { span class={ "status status-" (invoice.status.as_str()) } { (invoice.status.as_str()) } }
            @if let Some(order) = &invoice.order_id { dt { "Order" } dd { (order) } }
            @if let Some(email) = &invoice.email { dt { "E-mail" } dd { (email) } }
            dt { "Network fee" } dd { (invoice.fee) " " (coin.code) ", paid by the " (invoice.side_commission.as_str()) }
            dt { "Received" } dd { (round(invoice.received, coin.decimals)) " " (coin.code) }
            @if invoice.status == Status::Partial { dt { "Still owed" } dd { (invoice.remaining()) " " (coin.code) } }
            @if !invoice.address.is_empty() { dt { "Address" } dd { (invoice.address) } }
            dt { "Pay before" } dd { (cryptocloud::timestamp::format(&invoice.expiry)) " UTC" }
        }
        @if payable {
            div class="actions" {
                form method="post" action=(action) {
                    input type="hidden" name="action" value="full";
                    button type="submit" { "Pay in full · " (full) " " (coin.code) }
                }
                form method="post" action=(action) {
                    input type="hidden" name="action" value="part";
                    button class="secondary" type="submit" { "Pay part · " (part) " " (coin.code) }
                }
                form method="post" action=(action) {
                    input type="hidden" name="action" value="over";
                    button class="secondary" type="submit" { "Overpay · " (over) " " (coin.code) }
                }
                form method="post" action=(action) {
                    input type="hidden" name="action" value="expire";
                    button class="danger" type="submit" { "Let it expire" }
                }
            }
        } @else {
            a class="back" href=(back) { "Return to the shop" }
        }
        p class="note" { "Sandbox payment page: no money moves." }
    };
    html_response(StatusCode::OK, layout(&invoice.id.prefixed(), false, body))
}

#[derive(Debug, Deserialize)]
struct PageAction {
    action: String,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// `POST /{CODE}/pay` with `action=full|part|over|expire`.
#[tracing::instrument(skip_all, fields(invoice_id = %path, action = %form.action))]
async fn act(
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<PageAction>,
) -> HttpResponse {
    let Ok(id) = InvoiceId::parse(&path) else {
        return message_page(
            StatusCode::NOT_FOUND,
            "Invoice not found",
            "There is no invoice with this link.",
        );
    };
    let action = form.action.as_str();
    if action == "expire" {
        return match state.store.update(&id, |invoice, now| invoice.expire(now)) {
            None => message_page(
                StatusCode::NOT_FOUND,
                "Invoice not found",
                "There is no invoice with this link.",
            ),
            Some(Err(status)) => message_page(
                StatusCode::CONFLICT,
                "Cannot expire",
                &format!("The invoice is {} and cannot expire.", status.as_str()),
            ),
            Some(Ok(())) => see_other(&state.fail_url),
        };
    }
    if !matches!(action, "full" | "part" | "over") {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Unknown action",
            "Choose one of the buttons on the payment page.",
        );
    }
    let result = state.store.update(&id, |invoice, now| {
        let (full, part, over) = button_amounts(invoice);
        let amount = match action {
            "part" => part,
            "over" => over,
            _ => full,
        };
        invoice
            .pay(amount, now)
            .map(|payment| (payment, invoice.clone()))
    });
    match result {
        None => message_page(
            StatusCode::NOT_FOUND,
            "Invoice not found",
            "There is no invoice with this link.",
        ),
        Some(Err(e @ (PayError::NotPayable(_) | PayError::Expired | PayError::InvalidAmount))) => {
            message_page(StatusCode::CONFLICT, "Payment refused", &e.to_string())
        }
        Some(Ok((payment, invoice))) => {
            tracing::info!(after = payment.after.as_str(), amount = %payment.amount, "paid on the payment page");
            if payment.completes() {
                match PostbackOptions::default().plan(state.dispatcher.policy()) {
                    Ok(plan) => {
                        state.send_postbacks(&invoice, plan);
                    }
                    Err(e) => tracing::error!(error = %e, "default postback plan is invalid"),
                }
            }
            if payment.after.is_paid() {
                see_other(&state.success_url)
            } else {
                // A partial payment: the payer stays on the page to top up.
                see_other(&format!("/{}", invoice.id.code()))
            }
        }
    }
}
