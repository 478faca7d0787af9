//! What the worker needs waiting for it: invoices paid at the sandbox (without a postback;
//! the load generator sends those) and the matching `pending` payments and users, inserted
//! the way checkout leaves them. Set-up is not timed.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cryptocloud::{
    sign_postback_token, CreateInvoice, IdClaim, InvoiceId, Postback, PostbackFormat,
    PostbackInvoiceInfo,
};
use futures::{StreamExt, TryStreamExt};
use http_body_util::Full;
use hyper::Request;
use rust_decimal::Decimal;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::load;

/// The ingest's path.
pub const POSTBACK_PATH: &str = "/api/webhook/payment";
/// Price of every benchmark payment, USD.
pub const AMOUNT: Decimal = Decimal::from_parts(29, 0, 0, false, 0);
pub const TIER: &str = "pro";

/// A payment waiting for its postback.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub invoice: InvoiceId,
    pub order_id: String,
    pub user_id: i64,
}

/// Signs and builds postbacks as CryptoCloud sends them (JSON, `invoice_info` paid).
#[derive(Clone)]
pub struct PostbackSigner {
    secret: SecretString,
    ingest: SocketAddr,
}

impl PostbackSigner {
    pub fn new(secret: &str, ingest: SocketAddr) -> Self {
        Self {
            secret: SecretString::from(secret.to_string()),
            ingest,
        }
    }

    pub fn body(&self, invoice: &InvoiceId, order_id: Option<&str>) -> Vec<u8> {
        let exp = chrono::Utc::now() + chrono::Duration::minutes(5);
        Postback {
            status: "success".to_owned(),
            invoice_id: invoice.clone(),
            amount_crypto: Decimal::new(29_000_000, 6),
            currency: "USDT_TRC20".to_owned(),
            order_id: order_id.map(str::to_string),
            token: Some(sign_postback_token(
                &self.secret,
                IdClaim::from(invoice),
                exp,
            )),
            invoice_info: Some(PostbackInvoiceInfo::new(invoice.clone(), "paid".into())),
            invoice_info_ignored: None,
            format: PostbackFormat::Json,
        }
        .to_json_body()
    }

    pub fn request(&self, invoice: &InvoiceId, order_id: Option<&str>) -> Request<Full<Bytes>> {
        load::post(
            self.ingest,
            POSTBACK_PATH,
            "application/json",
            &[],
            self.body(invoice, order_id),
        )
    }
}

/// Creates `n` invoices at the sandbox and pays each in full without a postback.
pub async fn paid_invoices(
    sandbox_url: &str,
    label: &str,
    n: usize,
    first_user_id: i64,
) -> anyhow::Result<Vec<Waiting>> {
    let client = cryptocloud::Client::new(cryptocloud::ClientConfig::new(
        sandbox_url,
        SecretString::from(stack::dev_credentials::API_KEY.to_string()),
    ))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let salt = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            let http = http.clone();
            let order_id = format!("bench-{label}-{salt}-{i}");
            async move {
                let invoice = client
                    .create_invoice(&CreateInvoice {
                        shop_id: stack::dev_credentials::SHOP_ID.to_string(),
                        amount: AMOUNT,
                        currency: Some("USD".into()),
                        order_id: Some(order_id.clone()),
                        ..Default::default()
                    })
                    .await?;
                let paid = http
                    .post(format!(
                        "{sandbox_url}/sandbox/invoices/{}/pay",
                        invoice.uuid.prefixed()
                    ))
                    .json(&serde_json::json!({"lost": true}))
                    .send()
                    .await?;
                anyhow::ensure!(
                    paid.status().is_success(),
                    "paying {} answered {}",
                    invoice.uuid,
                    paid.status()
                );
                Ok(Waiting {
                    invoice: invoice.uuid,
                    order_id,
                    user_id: first_user_id + i as i64,
                })
            }
        })
        .buffer_unordered(32)
        .try_collect()
        .await
}

/// Inserts the users and their `pending` payments, as checkout leaves them.
pub async fn insert_pending(pool: &PgPool, waiting: &[Waiting]) -> anyhow::Result<()> {
    for chunk in waiting.chunks(5_000) {
        let users: Vec<i64> = chunk.iter().map(|w| w.user_id).collect();
        let invoices: Vec<String> = chunk.iter().map(|w| w.invoice.prefixed()).collect();
        let orders: Vec<String> = chunk.iter().map(|w| w.order_id.clone()).collect();
        sqlx::query("INSERT INTO users (id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING")
            .bind(&users)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO payments (user_id, invoice_id, order_id, amount, currency, status, \
                                   subscription_tier, subscription_months, payment_url) \
             SELECT u, i, o, $4, 'USD', 'pending', $5, 1, 'http://localhost/pay/' || i \
             FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(u, i, o)",
        )
        .bind(&users)
        .bind(&invoices)
        .bind(&orders)
        .bind(AMOUNT)
        .bind(TIER)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Applied (completed) payments among those whose order id starts with `prefix`.
pub async fn completed(pool: &PgPool, order_prefix: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM payments WHERE status = 'completed' AND order_id LIKE $1 || '%'",
    )
    .bind(order_prefix)
    .fetch_one(pool)
    .await?)
}

/// From the inbox of the payments under `order_prefix`: the span from the first to the last
/// `processed_at` (seconds) and every `received_at → processed_at` latency (ms).
pub async fn applied_timings(pool: &PgPool, order_prefix: &str) -> anyhow::Result<(f64, Vec<f64>)> {
    let rows: Vec<(f64, f64)> = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM pm.processed_at)::float8, \
                (EXTRACT(EPOCH FROM (pm.processed_at - pm.received_at)) * 1000)::float8 \
         FROM processed_messages pm JOIN payments p ON p.id = pm.payment_id \
         WHERE p.order_id LIKE $1 || '%' AND pm.outcome = 'completed'",
    )
    .bind(order_prefix)
    .fetch_all(pool)
    .await?;
    let first = rows.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let last = rows.iter().map(|r| r.0).fold(f64::NEG_INFINITY, f64::max);
    let span = if rows.len() > 1 { last - first } else { 0.0 };
    Ok((span, rows.into_iter().map(|r| r.1).collect()))
}
