//! `GET /dev/login?user_id=N`: for local stacks and browser tests only (off unless
//! `DEV_LOGIN_ENABLED=true`). Sets the `session` cookie to a fresh user token.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::{TokenKeys, SESSION_COOKIE};
use crate::domain::UserId;
use crate::state::AppState;

const SESSION_HOURS: i64 = 12;

#[derive(Deserialize)]
struct Params {
    user_id: Option<String>,
}

pub async fn login(
    state: web::Data<AppState>,
    keys: web::Data<TokenKeys>,
    req: HttpRequest,
) -> HttpResponse {
    if !state.dev_login_enabled {
        // Indistinguishable from a route that does not exist.
        return crate::ops::not_found().await;
    }
    let user = serde_urlencoded::from_str::<Params>(req.query_string())
        .ok()
        .and_then(|p| p.user_id)
        .and_then(|raw| UserId::parse(raw.trim()).ok());
    let Some(user) = user else {
        return platform::http::error_response(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "user_id must be a positive integer",
        );
    };
    tracing::warn!(%user, "development login used");
    let token = keys.issue(user, chrono::Duration::hours(SESSION_HOURS));
    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.base_url.is_https())
        .max_age(time::Duration::hours(SESSION_HOURS))
        .finish();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .cookie(cookie)
        .finish()
}
