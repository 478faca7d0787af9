//! The invoice endpoints: create, info, cancel, list, statistics.

use actix_web::{web, HttpResponse};
use cryptocloud::{AddFields, ApiResponse, InvoiceId};
use rust_decimal::Decimal;

use super::auth::Authorized;
use super::body::{date, Errors, JsonObject, REQUIRED};
use super::error::ApiError;
use crate::answer::{InfoEntry, InvoiceAnswer, Kind, ListAnswer, StatisticsAnswer};
use crate::currencies::{default_coin, fiat_usd_rate, find_coin};
use crate::invoice::NewInvoice;
use crate::startup::AppState;
use crate::store::fake_address;

/// Lifetime of an invoice created without `add_fields.time_to_pay`.
const DEFAULT_TIME_TO_PAY_HOURS: i64 = 24;
const MAX_TEXT_LEN: usize = 256;
/// Most ids `merchant/info` takes, and most rows `merchant/list` returns.
const MAX_IDS: usize = 100;

/// `POST /v2/invoice/create`.
#[tracing::instrument(skip_all, fields(invoice_id))]
pub async fn create(
    _: Authorized,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = JsonObject::parse(&body)?;
    let mut errors = Errors::default();

    if let Some(shop_id) = errors.take("shop_id", body.required_string("shop_id")) {
        if shop_id != state.shop_id {
            errors.add("shop_id", "Shop not found.");
        }
    }
    let amount = match errors.take("amount", body.decimal("amount")) {
        Some(None) => {
            errors.add("amount", REQUIRED);
            None
        }
        Some(Some(amount)) if amount <= Decimal::ZERO => {
            errors.add("amount", "Ensure this value is greater than 0.");
            None
        }
        Some(Some(amount)) => Some(amount),
        None => None,
    };
    let currency = errors
        .take("currency", body.string("currency"))
        .map(|c| c.unwrap_or_else(|| "USD".to_owned()).to_ascii_uppercase());
    if let Some(code) = &currency {
        if fiat_usd_rate(code).is_none() {
            errors.add("currency", "Currency not supported.");
        }
    }
    let order_id = errors.take("order_id", body.string("order_id")).flatten();
    if order_id.as_ref().is_some_and(|o| o.len() > MAX_TEXT_LEN) {
        errors.add(
            "order_id",
            "Ensure this field has no more than 256 characters.",
        );
    }
    let email = errors.take("email", body.string("email")).flatten();
    if email.as_ref().is_some_and(|e| !looks_like_email(e)) {
        errors.add("email", "Enter a valid email address.");
    }
    let add_fields = errors
        .take("add_fields", body.value::<AddFields>("add_fields"))
        .flatten();
    let coin = match add_fields
        .as_ref()
        .and_then(|a| a.cryptocurrency.as_deref())
    {
        None => Some((default_coin(), false)),
        Some(code) => match find_coin(code) {
            Some(coin) => Some((coin, true)),
            None => {
                errors.add("cryptocurrency", "Cryptocurrency not supported.");
                None
            }
        },
    };
    errors.into_result()?;
    let (Some(amount), Some(currency), Some((coin, coin_selected))) = (amount, currency, coin)
    else {
        return Err(ApiError::validate("Invalid request."));
    };

    let time_to_pay = add_fields
        .as_ref()
        .and_then(|a| a.time_to_pay)
        .map(|t| {
            chrono::Duration::hours(i64::from(t.hours))
                + chrono::Duration::minutes(i64::from(t.minutes))
        })
        .filter(|d| *d > chrono::Duration::zero())
        .unwrap_or_else(|| chrono::Duration::hours(DEFAULT_TIME_TO_PAY_HOURS));
    let new = NewInvoice {
        fiat_currency: currency,
        amount_fiat: amount,
        coin,
        coin_selected,
        order_id,
        email,
        time_to_pay,
        side_commission: state.side_commission,
    };
    let invoice = state.store.create_invoice(new, fake_address(coin));
    tracing::Span::current().record("invoice_id", invoice.id.prefixed());
    tracing::info!(amount = %invoice.amount_fiat, currency = %invoice.fiat_currency, "invoice created");
    Ok(
        HttpResponse::Ok().json(ApiResponse::success(InvoiceAnswer::new(
            &invoice,
            Kind::Create,
            &state.view_context(),
        ))),
    )
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// `POST /v2/invoice/merchant/info`: up to 100 ids, with or without `INV-`; unknown ids
/// are left out of the answer.
#[tracing::instrument(skip_all)]
pub async fn info(
    _: Authorized,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = JsonObject::parse(&body)?;
    let uuids = body
        .value::<Vec<String>>("uuids")
        .map_err(|_| ApiError::field("uuids", "A list of invoice uuids is required."))?
        .unwrap_or_default();
    if uuids.is_empty() {
        return Err(ApiError::field("uuids", REQUIRED));
    }
    if uuids.len() > MAX_IDS {
        return Err(ApiError::field(
            "uuids",
            "Ensure this field has no more than 100 elements.",
        ));
    }
    let ctx = state.view_context();
    let sparse = state.store.faults().sparse_info;
    let mut seen = std::collections::HashSet::new();
    let answers: Vec<InvoiceAnswer> = uuids
        .iter()
        .filter_map(|raw| InvoiceId::parse(raw.trim()).ok())
        .filter(|id| seen.insert(id.clone()))
        .filter_map(|id| state.store.invoice(&id))
        .map(|invoice| InvoiceAnswer::new(&invoice, Kind::Info, &ctx))
        .collect();
    let invoices: Vec<InfoEntry<'_>> = answers
        .iter()
        .map(|answer| {
            if sparse {
                InfoEntry::Sparse(answer.sparse())
            } else {
                InfoEntry::Full(answer)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ApiResponse::success(invoices)))
}

/// `POST /v2/invoice/merchant/canceled`: only a `created` invoice can be cancelled.
#[tracing::instrument(skip_all, fields(invoice_id))]
pub async fn cancel(
    _: Authorized,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = JsonObject::parse(&body)?;
    let raw = body
        .string("uuid")
        .ok()
        .flatten()
        .ok_or_else(|| ApiError::validate("uuid is required"))?;
    let id = InvoiceId::parse(&raw).map_err(|_| ApiError::validate("Invoice not found"))?;
    tracing::Span::current().record("invoice_id", id.prefixed());
    match state.store.update(&id, |invoice, now| invoice.cancel(now)) {
        None => Err(ApiError::validate("Invoice not found")),
        Some(Err(_)) => Err(ApiError::validate("Invoice is not created")),
        Some(Ok(())) => {
            tracing::info!("invoice canceled");
            Ok(HttpResponse::Ok().json(ApiResponse::success(["ok"])))
        }
    }
}

/// Reads `start`/`end` (`dd.mm.yyyy`, `end >= start`).
fn period(
    body: &JsonObject,
    errors: &mut Errors,
) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let start = errors.take("start", date(body, "start"));
    let end = errors.take("end", date(body, "end"));
    let (start, end) = (start?, end?);
    if end < start {
        errors.add("end", "End date must not be before start date.");
        return None;
    }
    Some((start, end))
}

/// `POST /v2/invoice/merchant/list`: invoices created between the dates, newest first.
/// Besides `result`, the answer carries `all_count` (the total before paging).
#[tracing::instrument(skip_all)]
pub async fn list(
    _: Authorized,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = JsonObject::parse(&body)?;
    let mut errors = Errors::default();
    let period = period(&body, &mut errors);
    let offset = errors.take(
        "offset",
        body.value::<u32>("offset")
            .map_err(|_| "Must be a non-negative integer.".to_owned()),
    );
    let limit = errors.take(
        "limit",
        body.value::<u32>("limit")
            .map_err(|_| "Must be a non-negative integer.".to_owned()),
    );
    let limit = limit.map(|l| l.unwrap_or(10));
    if limit.is_some_and(|l| l == 0 || l as usize > MAX_IDS) {
        errors.add("limit", "Ensure this value is between 1 and 100.");
    }
    errors.into_result()?;
    let (Some((start, end)), Some(offset), Some(limit)) = (period, offset, limit) else {
        return Err(ApiError::validate("Invalid request."));
    };
    let ctx = state.view_context();
    let matching: Vec<_> = state
        .store
        .invoices()
        .into_iter()
        .filter(|i| (start..=end).contains(&i.created.date_naive()))
        .collect();
    let all_count = matching.len();
    let page: Vec<_> = matching
        .iter()
        .skip(offset.unwrap_or(0) as usize)
        .take(limit as usize)
        .map(|i| InvoiceAnswer::new(i, Kind::Info, &ctx))
        .collect();
    Ok(HttpResponse::Ok().json(ListAnswer {
        status: "success",
        result: page,
        all_count,
    }))
}

/// `POST /v2/invoice/merchant/statistics`: counts and USD amounts per status of the
/// invoices created between the dates.
#[tracing::instrument(skip_all)]
pub async fn statistics(
    _: Authorized,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = JsonObject::parse(&body)?;
    let mut errors = Errors::default();
    let period = period(&body, &mut errors);
    errors.into_result()?;
    let Some((start, end)) = period else {
        return Err(ApiError::validate("Invalid request."));
    };
    let mut stats = StatisticsAnswer::default();
    for invoice in state.store.invoices() {
        if !(start..=end).contains(&invoice.created.date_naive()) {
            continue;
        }
        // `amount_usd` is the invoice amount, with the network fee when the client pays it.
        let usd = invoice.amount_usd;
        stats.count.all += 1;
        stats.amount.all.0 += usd;
        *stats.count.get_mut(invoice.status) += 1;
        stats.amount.get_mut(invoice.status).0 += usd;
    }
    Ok(HttpResponse::Ok().json(ApiResponse::success(stats)))
}
