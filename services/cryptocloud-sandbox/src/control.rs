//! The control API under `/sandbox`, for tests and demos: pay or expire an invoice, send
//! (or deliberately mangle) postbacks, read the delivery and request logs, set API faults,
//! move the clock. No API key: this is a development tool.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use cryptocloud::InvoiceId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use crate::answer::{InvoiceAnswer, Kind};
use crate::faults::ApiFaults;
use crate::invoice::{PayError, Status};
use crate::postback::PostbackOptions;
use crate::startup::AppState;

/// Longest a deliveries request may wait for entries.
const MAX_WAIT_MS: u64 = 60_000;
/// How long `?min=N` waits when no `wait_ms` is given.
const DEFAULT_WAIT_MS: u64 = 5_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/sandbox")
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(platform::http::query_config())
            .route("/invoices", web::get().to(list_invoices))
            .route("/invoices/{uuid}", web::get().to(get_invoice))
            .route("/invoices/{uuid}/pay", web::post().to(pay))
            .route("/invoices/{uuid}/expire", web::post().to(expire))
            .route("/invoices/{uuid}/postback", web::post().to(postback))
            .route(
                "/invoices/{uuid}/deliveries",
                web::get().to(invoice_deliveries),
            )
            .route("/deliveries", web::get().to(all_deliveries))
            .route("/faults", web::get().to(get_faults))
            .route("/faults", web::post().to(set_faults))
            .route("/requests", web::get().to(requests))
            .route("/clock", web::get().to(get_clock))
            .route("/clock", web::post().to(advance_clock)),
    );
}

/// The control API's failures, in the contract's `{"error": {"code", "message"}}` body.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no invoice {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(PayError),
    #[error("the invoice is {} and cannot expire", .0.as_str())]
    CannotExpire(Status),
    #[error("{0}")]
    Invalid(String),
}

impl ResponseError for ControlError {
    fn status_code(&self) -> StatusCode {
        match self {
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
            ControlError::Conflict(PayError::InvalidAmount) | ControlError::Invalid(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ControlError::Conflict(_) | ControlError::CannotExpire(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            ControlError::NotFound(_) => "not_found",
            ControlError::Conflict(PayError::InvalidAmount) => "invalid_amount",
            ControlError::Conflict(PayError::Expired) => "expired",
            ControlError::Conflict(PayError::NotPayable(_)) => "not_payable",
            ControlError::CannotExpire(_) => "not_expirable",
            ControlError::Invalid(_) => "invalid_request",
        };
        platform::http::error_response(self.status_code(), code, self.to_string())
    }
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ControlError> {
    InvoiceId::parse(raw.trim()).map_err(|_| ControlError::NotFound(raw.to_owned()))
}

/// `GET /sandbox/invoices`: every invoice, newest first, as the API shows it.
async fn list_invoices(state: web::Data<AppState>) -> HttpResponse {
    let ctx = state.view_context();
    let all: Vec<_> = state
        .store
        .invoices()
        .iter()
        .map(|i| InvoiceAnswer::new(i, Kind::Info, &ctx))
        .collect();
    HttpResponse::Ok().json(all)
}

/// `GET /sandbox/invoices/{uuid}`.
async fn get_invoice(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ControlError> {
    let id = invoice_id(&path)?;
    let invoice = state
        .store
        .invoice(&id)
        .ok_or_else(|| ControlError::NotFound(id.prefixed()))?;
    Ok(HttpResponse::Ok().json(InvoiceAnswer::new(
        &invoice,
        Kind::Info,
        &state.view_context(),
    )))
}

/// Body of `POST /sandbox/invoices/{uuid}/pay`: the amount plus the postback options.
#[derive(Debug, Default)]
pub struct PayRequest {
    /// In the invoice's (fiat) currency, as it was created.
    pub amount: Option<Decimal>,
    /// Or directly in the invoice's coin.
    pub amount_crypto: Option<Decimal>,
    pub options: PostbackOptions,
}

impl PayRequest {
    /// An empty body pays in full with the default postback.
    pub fn parse(body: &[u8]) -> Result<PayRequest, ControlError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(PayRequest::default());
        }
        let mut map: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
            .map_err(|e| ControlError::Invalid(format!("expected a JSON object: {e}")))?;
        let mut amount = |key: &str| -> Result<Option<Decimal>, ControlError> {
            map.remove(key)
                .map(|raw| cryptocloud::decimal::parse_json_token(raw.get()))
                .transpose()
                .map(Option::flatten)
                .map_err(|e| ControlError::Invalid(format!("{key}: {e}")))
        };
        let fiat = amount("amount")?;
        let crypto = amount("amount_crypto")?;
        if fiat.is_some() && crypto.is_some() {
            return Err(ControlError::Invalid(
                "give amount or amount_crypto, not both".to_owned(),
            ));
        }
        let rest = serde_json::to_string(&map).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let options =
            serde_json::from_str(&rest).map_err(|e| ControlError::Invalid(e.to_string()))?;
        Ok(PayRequest {
            amount: fiat,
            amount_crypto: crypto,
            options,
        })
    }
}

/// Answer of `POST /sandbox/invoices/{uuid}/pay`.
#[derive(Debug, Serialize)]
struct PayAnswer {
    invoice: InvoiceAnswer,
    /// This payment, in the invoice's coin.
    #[serde(serialize_with = "cryptocloud::decimal::serialize")]
    paid: Decimal,
    /// Postbacks scheduled (0 unless the payment settled the invoice).
    postbacks: u32,
}

fn options(body: &[u8]) -> Result<PostbackOptions, ControlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PostbackOptions::default());
    }
    serde_json::from_slice(body).map_err(|e| ControlError::Invalid(e.to_string()))
}

/// `POST /sandbox/invoices/{uuid}/pay`: a payment as if the payer had sent it. Without an
/// amount it pays what is still owed; less makes the invoice `partial`, more `overpaid`.
/// When the payment settles the invoice, the postback goes out as the options say.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
async fn pay(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let id = invoice_id(&path)?;
    let request = PayRequest::parse(&body)?;
    let plan = request
        .options
        .plan(state.dispatcher.policy())
        .map_err(ControlError::Invalid)?;
    let (payment, invoice) = state
        .store
        .update(&id, |invoice, now| {
            let amount = match (request.amount, request.amount_crypto) {
                (Some(fiat), _) => invoice.fiat_to_crypto(fiat),
                (None, Some(crypto)) => crypto,
                (None, None) => invoice.remaining(),
            };
            invoice
                .pay(amount, now)
                .map(|payment| (payment, invoice.clone()))
        })
        .ok_or_else(|| ControlError::NotFound(id.prefixed()))?
        .map_err(ControlError::Conflict)?;
    tracing::info!(before = payment.before.as_str(), after = payment.after.as_str(), amount = %payment.amount, "payment");
    let postbacks = if payment.completes() {
        state.send_postbacks(&invoice, plan)
    } else {
        0
    };
    Ok(HttpResponse::Ok().json(PayAnswer {
        invoice: InvoiceAnswer::new(&invoice, Kind::Info, &state.view_context()),
        paid: payment.amount,
        postbacks,
    }))
}

/// Answer of the expire and postback calls (a struct, not `json!`, so the amounts keep
/// their wire form).
#[derive(Debug, Serialize)]
struct InvoiceEnvelope {
    invoice: InvoiceAnswer,
    /// Postbacks scheduled (postback call only).
    #[serde(skip_serializing_if = "Option::is_none")]
    postbacks: Option<u32>,
}

/// `POST /sandbox/invoices/{uuid}/expire`: the time to pay runs out now.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
async fn expire(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ControlError> {
    let id = invoice_id(&path)?;
    let invoice = state
        .store
        .update(&id, |invoice, now| {
            invoice.expire(now).map(|()| invoice.clone())
        })
        .ok_or_else(|| ControlError::NotFound(id.prefixed()))?
        .map_err(ControlError::CannotExpire)?;
    Ok(HttpResponse::Ok().json(InvoiceEnvelope {
        invoice: InvoiceAnswer::new(&invoice, Kind::Info, &state.view_context()),
        postbacks: None,
    }))
}

/// `POST /sandbox/invoices/{uuid}/postback`: (re)sends the postback of the invoice as it is
/// now, whatever its status (CryptoCloud sends one only for `paid`/`overpaid`; this lets a
/// test forge a premature one). Body: the postback options.
#[tracing::instrument(skip_all, fields(invoice_id = %path))]
async fn postback(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let id = invoice_id(&path)?;
    let plan = options(&body)?
        .plan(state.dispatcher.policy())
        .map_err(ControlError::Invalid)?;
    let invoice = state
        .store
        .invoice(&id)
        .ok_or_else(|| ControlError::NotFound(id.prefixed()))?;
    let postbacks = state.send_postbacks(&invoice, plan);
    Ok(HttpResponse::Ok().json(InvoiceEnvelope {
        invoice: InvoiceAnswer::new(&invoice, Kind::Info, &state.view_context()),
        postbacks: Some(postbacks),
    }))
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    /// Wait until the log holds at least this many entries ...
    min: Option<usize>,
    /// ... or this many milliseconds have passed.
    wait_ms: Option<u64>,
}

impl WaitQuery {
    fn wait(&self) -> Duration {
        let default = if self.min.is_some() {
            DEFAULT_WAIT_MS
        } else {
            0
        };
        Duration::from_millis(self.wait_ms.unwrap_or(default).min(MAX_WAIT_MS))
    }
}

/// `GET /sandbox/invoices/{uuid}/deliveries[?min=N&wait_ms=T]`: every delivery attempt of
/// the invoice's postbacks, oldest first.
async fn invoice_deliveries(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ControlError> {
    let id = invoice_id(&path)?;
    if state.store.invoice(&id).is_none() {
        return Err(ControlError::NotFound(id.prefixed()));
    }
    let log = state
        .store
        .wait_for_deliveries(Some(&id), query.min.unwrap_or(0), query.wait())
        .await;
    Ok(HttpResponse::Ok().json(log))
}

/// `GET /sandbox/deliveries[?min=N&wait_ms=T]`: the whole delivery log.
async fn all_deliveries(state: web::Data<AppState>, query: web::Query<WaitQuery>) -> HttpResponse {
    let log = state
        .store
        .wait_for_deliveries(None, query.min.unwrap_or(0), query.wait())
        .await;
    HttpResponse::Ok().json(log)
}

/// `GET /sandbox/faults`: the API faults in force.
async fn get_faults(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.store.faults())
}

/// `POST /sandbox/faults`: replaces the API faults; `{}` (or no body) clears them.
#[tracing::instrument(skip_all)]
async fn set_faults(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let faults: ApiFaults = if body.iter().all(u8::is_ascii_whitespace) {
        ApiFaults::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ControlError::Invalid(e.to_string()))?
    };
    faults.validate().map_err(ControlError::Invalid)?;
    state.store.set_faults(faults);
    tracing::info!(?faults, "API faults set");
    Ok(HttpResponse::Ok().json(faults))
}

/// `GET /sandbox/requests`: the API calls received (latest 1000), oldest first.
async fn requests(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.store.requests())
}

fn clock_answer(state: &AppState) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "now": cryptocloud::timestamp::format(&state.store.now()),
        "offset_secs": state.store.clock_offset().num_seconds(),
    }))
}

/// `GET /sandbox/clock`.
async fn get_clock(state: web::Data<AppState>) -> HttpResponse {
    clock_answer(&state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceClock {
    advance_secs: i64,
}

/// `POST /sandbox/clock` `{"advance_secs": n}`: moves the sandbox's clock (invoice times and
/// expiry) forward, so `time_to_pay` can run out without waiting. Postback tokens keep
/// real time, since their receivers check them against theirs.
#[tracing::instrument(skip_all)]
async fn advance_clock(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ControlError> {
    let request: AdvanceClock =
        serde_json::from_slice(&body).map_err(|e| ControlError::Invalid(e.to_string()))?;
    let by = chrono::Duration::try_seconds(request.advance_secs)
        .filter(|d| d.num_days().abs() <= 3_650)
        .ok_or_else(|| ControlError::Invalid("advance_secs is out of range".to_owned()))?;
    state.store.advance_clock(by);
    Ok(clock_answer(&state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn pay_request_reads_amounts_exactly_and_options() {
        let r =
            PayRequest::parse(br#"{"amount": 12.345, "times": 3, "token": "expired"}"#).unwrap();
        assert_eq!(r.amount, Some(dec!(12.345)));
        assert_eq!(r.options.times, Some(3));
        let r = PayRequest::parse(b"").unwrap();
        assert!(r.amount.is_none() && r.options.times.is_none());
        let r = PayRequest::parse(br#"{"amount_crypto": "0.5"}"#).unwrap();
        assert_eq!(r.amount_crypto, Some(dec!(0.5)));
    }

    #[test]
    fn pay_request_refuses_unknown_fields_and_bad_amounts() {
        assert!(PayRequest::parse(br#"{"amout": 1}"#).is_err());
        assert!(PayRequest::parse(br#"{"amount": "ten"}"#).is_err());
        assert!(PayRequest::parse(br#"{"amount": 1, "amount_crypto": 1}"#).is_err());
        assert!(PayRequest::parse(b"[1]").is_err());
    }
}
