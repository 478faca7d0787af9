//! Balances and static wallets.

use actix_web::{web, HttpResponse};
use cryptocloud::{ApiResponse, StaticWallet};
use rust_decimal::Decimal;

use super::auth::Authorized;
use super::body::{Errors, JsonObject};
use super::error::ApiError;
use crate::answer::BalanceAnswer;
use crate::currencies::{find_coin, COINS};
use crate::startup::AppState;
use crate::store::fake_address;

/// `POST /v2/merchant/wallet/balance/all`: one entry per coin. Unlike CryptoCloud's test
/// mode, payments made in the sandbox do count, so tests can see them; as at CryptoCloud,
/// the network and service fees are not the merchant's money.
#[tracing::instrument(skip_all)]
pub async fn balance(_: Authorized, state: web::Data<AppState>) -> HttpResponse {
    let invoices = state.store.invoices();
    let balances: Vec<BalanceAnswer> = COINS
        .iter()
        .map(|coin| {
            let crypto: Decimal = invoices
                .iter()
                .filter(|i| std::ptr::eq(i.coin, coin))
                .map(|i| i.merchant_credit())
                .sum();
            BalanceAnswer::new(coin, crypto)
        })
        .collect();
    HttpResponse::Ok().json(ApiResponse::success(balances))
}

/// `POST /v2/invoice/static/create`: the same (`currency`, `identify`) gives the same wallet.
#[tracing::instrument(skip_all)]
pub async fn create_static(
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
    let coin = errors
        .take("currency", body.required_string("currency"))
        .and_then(|code| {
            let coin = find_coin(&code);
            if coin.is_none() {
                errors.add("currency", "Cryptocurrency not supported.");
            }
            coin
        });
    let identify = errors.take("identify", body.required_string("identify"));
    errors.into_result()?;
    let (Some(coin), Some(identify)) = (coin, identify) else {
        return Err(ApiError::validate("Invalid request."));
    };
    let wallet = state
        .store
        .static_wallet(coin, &identify, fake_address(coin));
    Ok(HttpResponse::Ok().json(ApiResponse::success(StaticWallet {
        currency: Some(wallet.coin.balance_currency()),
        address: wallet.address,
        uuid: wallet.uuid,
    })))
}
