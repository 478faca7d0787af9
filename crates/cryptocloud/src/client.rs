//! The CryptoCloud API v2 HTTP client.

use std::fmt;
use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{interpret, Error};
use crate::model::{
    Balance, CancelInvoiceRequest, CreateInvoice, CreateStaticWallet, Invoice, InvoiceInfoRequest,
    ListInvoices, StaticWallet, Statistics, StatisticsRequest,
};
use crate::InvoiceId;

/// Most ids `invoice_info` accepts in one call.
pub const MAX_INFO_IDS: usize = 100;
/// Most invoices `list_invoices` returns in one call.
pub const MAX_LIST_LIMIT: u32 = 100;

/// How to reach CryptoCloud.
#[derive(Clone)]
pub struct ClientConfig {
    /// E.g. `https://api.cryptocloud.plus`; the client appends `/v2/...`
    /// (a trailing `/v2` is tolerated).
    pub base_url: String,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl ClientConfig {
    /// With default timeouts: 5 s to connect, 20 s per request.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            api_key,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// CryptoCloud API v2 client. Cheap to clone (one connection pool inside).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Base URL without a trailing slash and without `/v2`.
    base: String,
    /// `Token <key>`, marked sensitive so it is never printed.
    auth: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let parsed = url::Url::parse(config.base_url.trim()).map_err(|e| Error::Config {
            message: format!("base_url {:?} is not a URL: {e}", config.base_url),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config {
                message: format!("base_url {:?} must be http or https", config.base_url),
            });
        }
        let mut base = parsed.as_str().trim_end_matches('/').to_owned();
        if base.ends_with("/v2") {
            base.truncate(base.len() - 3);
        }
        let key = config.api_key.expose_secret().trim();
        if key.is_empty() {
            return Err(Error::Config {
                message: "api_key is empty".to_owned(),
            });
        }
        let mut auth =
            HeaderValue::from_str(&format!("Token {key}")).map_err(|_| Error::Config {
                message: "api_key contains characters not allowed in an HTTP header".to_owned(),
            })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("cryptocloud-rs/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Client { http, base, auth })
    }

    /// Base URL in use (without `/v2`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /v2/invoice/create`.
    #[tracing::instrument(skip_all, fields(order_id = req.order_id.as_deref()))]
    pub async fn create_invoice(&self, req: &CreateInvoice) -> Result<Invoice, Error> {
        self.post("invoice/create", &[], Some(req)).await
    }

    /// `POST /v2/invoice/create?locale=<locale>` (`en` or `ru`).
    #[tracing::instrument(skip_all, fields(order_id = req.order_id.as_deref(), locale))]
    pub async fn create_invoice_with_locale(
        &self,
        req: &CreateInvoice,
        locale: &str,
    ) -> Result<Invoice, Error> {
        self.post("invoice/create", &[("locale", locale)], Some(req))
            .await
    }

    /// `POST /v2/invoice/merchant/info` for up to 100 ids. Unknown ids may be
    /// missing from the answer, so callers match results by `uuid`.
    #[tracing::instrument(skip_all, fields(count = ids.len()))]
    pub async fn invoice_info(&self, ids: &[InvoiceId]) -> Result<Vec<Invoice>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() > MAX_INFO_IDS {
            return Err(Error::validation("uuids", "at most 100 ids per request"));
        }
        let body = InvoiceInfoRequest {
            uuids: ids.to_vec(),
        };
        self.post("invoice/merchant/info", &[], Some(&body)).await
    }

    /// `POST /v2/invoice/merchant/canceled`; only a `created` invoice can be cancelled.
    #[tracing::instrument(skip_all, fields(invoice_id = %id))]
    pub async fn cancel_invoice(&self, id: &InvoiceId) -> Result<(), Error> {
        let body = CancelInvoiceRequest { uuid: id.clone() };
        let _ok: serde_json::Value = self
            .post("invoice/merchant/canceled", &[], Some(&body))
            .await?;
        Ok(())
    }

    /// `POST /v2/invoice/merchant/list`.
    #[tracing::instrument(skip_all, fields(start = %req.start, end = %req.end))]
    pub async fn list_invoices(&self, req: &ListInvoices) -> Result<Vec<Invoice>, Error> {
        if req.end < req.start {
            return Err(Error::validation("end", "must not be before start"));
        }
        if req.limit > MAX_LIST_LIMIT {
            return Err(Error::validation("limit", "at most 100"));
        }
        self.post("invoice/merchant/list", &[], Some(req)).await
    }

    /// `POST /v2/invoice/merchant/statistics`.
    #[tracing::instrument(skip(self))]
    pub async fn statistics(&self, start: NaiveDate, end: NaiveDate) -> Result<Statistics, Error> {
        if end < start {
            return Err(Error::validation("end", "must not be before start"));
        }
        let body = StatisticsRequest { start, end };
        self.post("invoice/merchant/statistics", &[], Some(&body))
            .await
    }

    /// `POST /v2/merchant/wallet/balance/all` (no body).
    #[tracing::instrument(skip_all)]
    pub async fn balance(&self) -> Result<Vec<Balance>, Error> {
        self.post::<(), _>("merchant/wallet/balance/all", &[], None)
            .await
    }

    /// `POST /v2/invoice/static/create`.
    #[tracing::instrument(skip_all, fields(currency = %req.currency))]
    pub async fn create_static_wallet(
        &self,
        req: &CreateStaticWallet,
    ) -> Result<StaticWallet, Error> {
        self.post("invoice/static/create", &[], Some(req)).await
    }

    async fn post<B, T>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T, Error>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let url = format!("{}/v2/{path}", self.base);
        let mut request = self
            .http
            .post(&url)
            .header(AUTHORIZATION, self.auth.clone());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            // serde_json directly (not reqwest's `.json`) so decimal fields keep their exact digits.
            let bytes = serde_json::to_vec(body).map_err(|e| Error::Decode {
                message: format!("cannot encode request: {e}"),
            })?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let response = request.send().await.map_err(Error::from_reqwest)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(Error::from_reqwest)?;
        tracing::debug!(status, len = bytes.len(), "CryptoCloud answered {path}");
        interpret(status, retry_after.as_deref(), &bytes)
    }
}
