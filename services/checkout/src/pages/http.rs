//! The dashboard pages and the guide's upgrade form route.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::{AuthError, User};
use crate::checkout::{self, Order};
use crate::pages;
use crate::payments::{self as history, ListQuery};
use crate::state::AppState;
use crate::subscription::subscription_of;

/// `GET /dashboard`.
#[tracing::instrument(skip_all)]
pub async fn dashboard(state: web::Data<AppState>, user: Result<User, AuthError>) -> HttpResponse {
    let Ok(user) = user else {
        return pages::sign_in_required(state.dev_login_enabled);
    };
    match subscription_of(&state, user.id).await {
        Ok(subscription) => pages::respond(
            StatusCode::OK,
            pages::dashboard::render(&subscription, &state.plans),
        ),
        Err(e) => internal_error_page(&e),
    }
}

/// `GET /dashboard/payments?page=N`.
#[tracing::instrument(skip_all)]
pub async fn history(
    state: web::Data<AppState>,
    user: Result<User, AuthError>,
    req: HttpRequest,
) -> HttpResponse {
    let Ok(user) = user else {
        return pages::sign_in_required(state.dev_login_enabled);
    };
    #[derive(Deserialize)]
    struct Params {
        page: Option<u32>,
    }
    // A mangled page number just shows the first page.
    let page = serde_urlencoded::from_str::<Params>(req.query_string())
        .ok()
        .and_then(|p| p.page)
        .filter(|p| (1..=history::MAX_PAGE).contains(p))
        .unwrap_or(1);
    let query = ListQuery {
        limit: Some(history::DEFAULT_LIMIT),
        cursor: None,
        page: Some(page),
    };
    match history::history::page(&state, user.id, &query).await {
        Ok(list) => pages::respond(StatusCode::OK, pages::history::render(&list)),
        Err(e) => internal_error_page(&e),
    }
}

#[derive(Deserialize)]
pub struct OutcomeParams {
    reason: Option<String>,
}

/// `GET /dashboard/payment/success`.
pub async fn payment_success() -> HttpResponse {
    pages::respond(StatusCode::OK, pages::outcome::success())
}

/// `GET /dashboard/payment/error?reason=...`.
pub async fn payment_error(req: HttpRequest) -> HttpResponse {
    let reason = serde_urlencoded::from_str::<OutcomeParams>(req.query_string())
        .ok()
        .and_then(|p| p.reason)
        // Only our own codes are echoed back onto the page.
        .filter(|r| r.len() <= 40 && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    pages::respond(StatusCode::OK, pages::outcome::error(reason.as_deref()))
}

/// The upgrade form's fields; all optional so a missing one becomes a friendly error page
/// rather than an extractor error.
#[derive(Debug, Deserialize)]
pub struct UpgradeForm {
    pub tier: Option<String>,
    pub months: Option<String>,
    pub payment_method: Option<String>,
}

/// `POST /dashboard/subscription/upgrade`: 303 to CryptoCloud's payment page, or to our
/// error page with a reason code.
#[tracing::instrument(skip_all)]
pub async fn upgrade(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Result<User, AuthError>,
    form: Result<web::Form<UpgradeForm>, actix_web::Error>,
) -> HttpResponse {
    let Ok(user) = user else {
        return to_error_page(&state, "sign_in_required");
    };
    // A cookie rides along on cross-site form posts; a bearer header cannot.
    if !user.may_change_state(&req, &state.base_url) {
        tracing::warn!(user = %user.id, "cross-site upgrade request refused");
        return to_error_page(&state, "forbidden_origin");
    }
    let Ok(form) = form else {
        return to_error_page(&state, "invalid_form");
    };
    let form = form.into_inner();
    let Some(tier) = form
        .tier
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return to_error_page(&state, "invalid_form");
    };
    let months = form
        .months
        .as_deref()
        .and_then(|m| m.trim().parse::<i64>().ok());
    let order = match Order::parse(&state.plans, tier, months, form.payment_method.as_deref()) {
        Ok(order) => order,
        Err(e) => return to_error_page(&state, e.reason()),
    };
    match checkout::create_payment(state.clone(), user.id, order).await {
        Ok(created) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, created.payment_url))
            .finish(),
        Err(e) => {
            if let checkout::CheckoutError::Unexpected(inner) = &e {
                tracing::error!(error = ?inner, "upgrade failed");
            }
            to_error_page(&state, e.reason())
        }
    }
}

fn to_error_page(state: &AppState, reason: &str) -> HttpResponse {
    let location = state
        .base_url
        .join(&format!("/dashboard/payment/error?reason={reason}"));
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn internal_error_page(error: &dyn std::fmt::Debug) -> HttpResponse {
    tracing::error!(error = ?error, "dashboard page failed");
    pages::respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::outcome::error(Some("internal_error")),
    )
}

/// `POST /dashboard/subscription/cancel` and `/resume`: the dashboard's buttons, checked for
/// the same origin like the upgrade form; back to the dashboard.
pub async fn change_renewal(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Result<User, AuthError>,
    renews: bool,
) -> HttpResponse {
    let Ok(user) = user else {
        return to_error_page(&state, "sign_in_required");
    };
    if !user.may_change_state(&req, &state.base_url) {
        tracing::warn!(user = %user.id, "cross-site subscription change refused");
        return to_error_page(&state, "forbidden_origin");
    }
    let state = state.into_inner();
    let outcome =
        tokio::spawn(async move { crate::subscription::renewal::set(&state, user, renews).await })
            .await;
    match outcome {
        Ok(Ok(_)) | Ok(Err(crate::subscription::RenewalError::NoPaidPlan)) => {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/dashboard"))
                .finish()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "subscription change from the dashboard failed");
            internal_error_page(&e)
        }
        Err(e) => {
            tracing::error!(error = %e, "subscription change task failed");
            internal_error_page(&e)
        }
    }
}

pub async fn cancel_renewal(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Result<User, AuthError>,
) -> HttpResponse {
    change_renewal(state, req, user, false).await
}

pub async fn resume_renewal(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: Result<User, AuthError>,
) -> HttpResponse {
    change_renewal(state, req, user, true).await
}
