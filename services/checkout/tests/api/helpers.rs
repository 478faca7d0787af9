//! `spawn_app`: checkout + sandbox, and one helper per endpoint.

use platform::service::Service as _;
use std::net::TcpListener;
use std::time::Duration;

use checkout::configuration::BaseUrl;
use checkout::{Application, Settings};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use platform::config::DatabaseUrl;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef";
pub const ADMIN_TOKEN: &str = "test-admin-token";
/// What `BASE_URL` is in tests: links we build start with it.
pub const BASE_URL: &str = "http://checkout.test";

pub struct TestApp {
    /// `http://127.0.0.1:PORT` of checkout.
    pub address: String,
    /// Control and API base of this test's sandbox.
    pub sandbox: String,
    pub pool: PgPool,
    /// Does not follow redirects, so 303s can be inspected.
    pub http: reqwest::Client,
}

/// Checkout against a fresh sandbox with test settings.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// Like [`spawn_app`], with `configure` applied to checkout's settings last.
pub async fn spawn_app_with(pool: PgPool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    platform::telemetry::init_for_tests();
    let sandbox =
        cryptocloud_sandbox::Application::build(cryptocloud_sandbox::Settings::for_tests())
            .await
            .expect("the sandbox starts");
    let sandbox_url = sandbox.base_url();
    tokio::spawn(sandbox.run_until_stopped());

    let mut settings = Settings::new(
        DatabaseUrl::default(),
        sandbox_url.clone(),
        cryptocloud_sandbox::DEV_API_KEY,
        cryptocloud_sandbox::DEV_SHOP_ID,
        JWT_SECRET,
        ADMIN_TOKEN,
    );
    settings.checkout_listen = "127.0.0.1:0".into();
    settings.base_url = BaseUrl::parse(BASE_URL).unwrap();
    settings.cryptocloud_timeout_ms = 3_000;
    settings.checkout_workers = Some(2);
    configure(&mut settings);

    let app = Application::build_with_pool(settings, pool.clone())
        .await
        .expect("checkout starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    TestApp {
        address,
        sandbox: sandbox_url,
        pool,
        http,
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A user token signed with `secret`, expiring `exp_in_secs` from now.
pub fn token_with(secret: &str, sub: Value, exp_in_secs: i64) -> String {
    let claims = json!({"sub": sub, "exp": chrono::Utc::now().timestamp() + exp_in_secs});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A valid token for user `id`.
pub fn token(id: i64) -> String {
    token_with(JWT_SECRET, json!(id.to_string()), 3600)
}

pub fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

pub fn session_cookie(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&format!("session={token}")).unwrap(),
    );
    headers
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, headers: HeaderMap) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .headers(headers)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .headers(headers)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/v1/checkout` as user `user`.
    pub async fn checkout(&self, user: i64, body: Value) -> reqwest::Response {
        self.post_json("/api/v1/checkout", bearer(&token(user)), &body)
            .await
    }

    /// `POST /api/v1/checkout` with an `Idempotency-Key`.
    pub async fn checkout_with_key(&self, user: i64, key: &str, body: Value) -> reqwest::Response {
        let mut headers = bearer(&token(user));
        headers.insert("Idempotency-Key", HeaderValue::from_str(key).unwrap());
        self.post_json("/api/v1/checkout", headers, &body).await
    }

    /// A raw body with a content type.
    pub async fn checkout_raw(
        &self,
        user: i64,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut headers = bearer(&token(user));
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        self.http
            .post(self.url("/api/v1/checkout"))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A successful checkout's JSON body.
    pub async fn checkout_ok(&self, user: i64, tier: &str, months: i64) -> Value {
        let response = self
            .checkout(user, json!({"tier": tier, "months": months}))
            .await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    /// `POST /dashboard/subscription/upgrade` with a form and extra headers.
    pub async fn upgrade(&self, headers: HeaderMap, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/dashboard/subscription/upgrade"))
            .headers(headers)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /sandbox/faults`.
    pub async fn set_faults(&self, faults: Value) {
        let response = self
            .http
            .post(format!("{}/sandbox/faults", self.sandbox))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{:?}",
            response.text().await
        );
    }

    /// Every invoice the sandbox holds.
    pub async fn sandbox_invoices(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/sandbox/invoices", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sandbox_invoice(&self, invoice_id: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/sandbox/invoices/{invoice_id}", self.sandbox))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Pays an invoice in full at the sandbox (no postback URL is configured in tests).
    pub async fn sandbox_pay(&self, invoice_id: &str) {
        let response = self
            .http
            .post(format!(
                "{}/sandbox/invoices/{invoice_id}/pay",
                self.sandbox
            ))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{:?}",
            response.text().await
        );
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn payment_count(&self) -> i64 {
        self.count("SELECT COUNT(*) FROM payments").await
    }

    /// (status, invoice_id, failure_reason) of a payment.
    pub async fn payment_row(&self, id: i64) -> (String, Option<String>, Option<String>) {
        sqlx::query_as("SELECT status, invoice_id, failure_reason FROM payments WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// The error body's code, asserting the contract's shape.
    pub async fn error_code(response: reqwest::Response) -> String {
        let body: Value = response.json().await.expect("a JSON error body");
        let code = body["error"]["code"]
            .as_str()
            .expect("error.code")
            .to_string();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        code
    }
}
