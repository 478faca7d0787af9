//! Request and response bodies of CryptoCloud API v2 (see `cryptocloud-api.md`).
//!
//! Every type derives both `Serialize` and `Deserialize`: the client sends
//! requests and reads responses, the sandbox does the reverse with the same
//! types, so both speak the same JSON. Unknown response fields are ignored;
//! fields the docs are unsure about are optional.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};

use crate::InvoiceId;

/// `status` of the response envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiStatus {
    Success,
    Error,
}

/// The envelope of every v2 response: `{"status": "success"|"error", "result": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    pub status: ApiStatus,
    pub result: T,
}

impl<T> ApiResponse<T> {
    pub fn success(result: T) -> Self {
        ApiResponse {
            status: ApiStatus::Success,
            result,
        }
    }

    pub fn error(result: T) -> Self {
        ApiResponse {
            status: ApiStatus::Error,
            result,
        }
    }
}

/// `{"status":"error","result":{"<field>":"<message>"}}`.
pub type ApiErrorBody = ApiResponse<std::collections::BTreeMap<String, String>>;

/// `{"detail":"<message>"}`: the API key cannot be decoded, or access is forbidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailBody {
    pub detail: String,
}

// ---------------------------------------------------------------------------
// Create invoice: POST /v2/invoice/create

/// Body of `POST /v2/invoice/create`. `None` fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateInvoice {
    pub shop_id: String,
    /// Fiat amount in `currency`; sent as an exact JSON number, read from a number or a string.
    #[serde(with = "crate::decimal")]
    pub amount: Decimal,
    /// Fiat currency (`USD` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_fields: Option<AddFields>,
}

/// Optional extras of an invoice; they must sit inside `add_fields`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_pay: Option<TimeToPay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_to_send: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_currencies: Option<Vec<String>>,
    /// Pre-selects the coin (e.g. `USDT_TRC20`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cryptocurrency: Option<String>,
    /// `month` / `week` / `day`: resend period of `email_to_send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// Invoice lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeToPay {
    #[serde(default)]
    pub hours: u32,
    #[serde(default)]
    pub minutes: u32,
}

impl TimeToPay {
    pub fn as_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.hours) * 3600 + u64::from(self.minutes) * 60)
    }
}

// ---------------------------------------------------------------------------
// Invoice objects (create / info / list results)

/// Invoice status. Unknown values are kept in `Other` rather than rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    Created,
    Paid,
    Partial,
    Overpaid,
    Canceled,
    Other(String),
}

impl InvoiceStatus {
    pub fn as_str(&self) -> &str {
        match self {
            InvoiceStatus::Created => "created",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Partial => "partial",
            InvoiceStatus::Overpaid => "overpaid",
            InvoiceStatus::Canceled => "canceled",
            InvoiceStatus::Other(s) => s,
        }
    }

    /// `paid` or `overpaid`: the invoice is settled in full.
    pub fn is_paid(&self) -> bool {
        matches!(self, InvoiceStatus::Paid | InvoiceStatus::Overpaid)
    }

    /// No further change is expected (`paid`, `overpaid`, `canceled`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            InvoiceStatus::Paid | InvoiceStatus::Overpaid | InvoiceStatus::Canceled
        )
    }
}

impl From<&str> for InvoiceStatus {
    fn from(s: &str) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "created" => InvoiceStatus::Created,
            "paid" => InvoiceStatus::Paid,
            "partial" => InvoiceStatus::Partial,
            "overpaid" => InvoiceStatus::Overpaid,
            "canceled" | "cancelled" => InvoiceStatus::Canceled,
            _ => InvoiceStatus::Other(s.to_owned()),
        }
    }
}

impl FromStr for InvoiceStatus {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(InvoiceStatus::from(s))
    }
}

impl fmt::Display for InvoiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InvoiceStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InvoiceStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(InvoiceStatus::from(s.as_ref()))
    }
}

/// One invoice as returned by create, info and list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// `INV-XXXXXXXX`.
    pub uuid: InvoiceId,
    /// Informational: an older captured info answer has none.
    #[serde(default, with = "crate::timestamp::option")]
    pub created: Option<DateTime<Utc>>,
    /// Deposit address; empty unless a coin was pre-selected.
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default, with = "crate::timestamp::option")]
    pub expiry_date: Option<DateTime<Utc>>,
    /// Who pays the network fee: `client` or `merchant`.
    #[serde(default)]
    pub side_commission: Option<String>,
    /// Who pays the service fee (info and list answers).
    #[serde(default)]
    pub side_commission_cc: Option<String>,
    /// The same, as create answers name it.
    #[serde(default)]
    pub side_commission_service: Option<String>,
    /// Amount (in crypto once a coin is chosen).
    #[serde(with = "crate::decimal")]
    pub amount: Decimal,
    #[serde(default, with = "crate::decimal::option")]
    pub amount_usd: Option<Decimal>,
    /// Amount in the creation (fiat) currency.
    #[serde(default, with = "crate::decimal::option")]
    pub amount_in_fiat: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub fee: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub fee_usd: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub service_fee: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub service_fee_usd: Option<Decimal>,
    #[serde(default)]
    pub type_payments: Option<String>,
    /// Creation currency, e.g. `USD`.
    #[serde(default)]
    pub fiat_currency: Option<String>,
    pub status: InvoiceStatus,
    #[serde(default)]
    pub is_email_required: Option<bool>,
    /// Hosted payment page.
    #[serde(default)]
    pub link: String,
    /// Legacy field, `null` in the examples.
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// Informational; a shape we cannot read becomes `None` instead of failing the invoice.
    #[serde(default, deserialize_with = "lenient")]
    pub currency: Option<InvoiceCurrency>,
    #[serde(default, deserialize_with = "lenient")]
    pub project: Option<Project>,
    #[serde(default)]
    pub test_mode: Option<bool>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default, with = "crate::decimal::option")]
    pub received: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub received_usd: Option<Decimal>,
    /// Shortfall still owed on a partial payment.
    #[serde(default, with = "crate::decimal::option")]
    pub to_surcharge: Option<Decimal>,
    #[serde(default, with = "crate::decimal::option")]
    pub to_surcharge_usd: Option<Decimal>,
    #[serde(default, with = "crate::timestamp::option")]
    pub date_finished: Option<DateTime<Utc>>,
    /// Second status axis seen in postbacks and info (e.g. `success`); meaning unconfirmed.
    #[serde(default)]
    pub invoice_status: Option<String>,
}

/// The coin of an invoice (invoice shape; balances use [`BalanceCurrency`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceCurrency {
    #[serde(default)]
    pub id: Option<i64>,
    /// Short code, e.g. `USDT`.
    #[serde(default)]
    pub code: String,
    /// Full code, e.g. `USDT_TRC20`.
    #[serde(default)]
    pub fullcode: String,
    #[serde(default)]
    pub network: Option<Network>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_email_required: Option<bool>,
    #[serde(default)]
    pub stablecoin: Option<bool>,
    #[serde(default)]
    pub icon_base: Option<String>,
    #[serde(default)]
    pub icon_network: Option<String>,
    #[serde(default)]
    pub icon_qr: Option<String>,
    #[serde(default)]
    pub order: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub fullname: Option<String>,
}

/// The merchant project, with its redirect URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fail: Option<String>,
    #[serde(default)]
    pub success: Option<String>,
    #[serde(default)]
    pub logo: Option<String>,
}

// ---------------------------------------------------------------------------
// Info, cancel, list, statistics

/// Body of `POST /v2/invoice/merchant/info` (at most 100 ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceInfoRequest {
    pub uuids: Vec<InvoiceId>,
}

/// Body of `POST /v2/invoice/merchant/canceled`; the result is `["ok"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelInvoiceRequest {
    pub uuid: InvoiceId,
}

/// Body of `POST /v2/invoice/merchant/list`; dates travel as `dd.mm.yyyy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListInvoices {
    #[serde(with = "crate::date")]
    pub start: NaiveDate,
    #[serde(with = "crate::date")]
    pub end: NaiveDate,
    #[serde(default)]
    pub offset: u32,
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    10
}

/// Body of `POST /v2/invoice/merchant/statistics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticsRequest {
    #[serde(with = "crate::date")]
    pub start: NaiveDate,
    #[serde(with = "crate::date")]
    pub end: NaiveDate,
}

/// Result of the statistics endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    #[serde(default)]
    pub count: StatusCounts,
    #[serde(default)]
    pub amount: StatusAmounts,
}

/// Invoice counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    #[serde(default)]
    pub all: u64,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub paid: u64,
    #[serde(default)]
    pub overpaid: u64,
    #[serde(default)]
    pub partial: u64,
    #[serde(default)]
    pub canceled: u64,
}

/// Invoice amounts (USD) per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAmounts {
    #[serde(default, with = "crate::decimal")]
    pub all: Decimal,
    #[serde(default, with = "crate::decimal")]
    pub created: Decimal,
    #[serde(default, with = "crate::decimal")]
    pub paid: Decimal,
    #[serde(default, with = "crate::decimal")]
    pub overpaid: Decimal,
    #[serde(default, with = "crate::decimal")]
    pub partial: Decimal,
    #[serde(default, with = "crate::decimal")]
    pub canceled: Decimal,
}

// ---------------------------------------------------------------------------
// Balance and static wallets

/// One entry of `POST /v2/merchant/wallet/balance/all`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub currency: BalanceCurrency,
    #[serde(with = "crate::decimal")]
    pub balance_crypto: Decimal,
    #[serde(with = "crate::decimal")]
    pub balance_usd: Decimal,
    #[serde(with = "crate::decimal")]
    pub available_balance: Decimal,
    #[serde(with = "crate::decimal")]
    pub available_balance_usd: Decimal,
}

/// The coin object of balances and static wallets (a different shape from
/// [`InvoiceCurrency`]: `code` is the full code, the network is `obj_network`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceCurrency {
    #[serde(default)]
    pub id: Option<i64>,
    /// Full code, e.g. `USDT_TRC20`.
    #[serde(default)]
    pub code: String,
    /// E.g. `USDT`.
    #[serde(default)]
    pub short_code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_email_required: Option<bool>,
    #[serde(default)]
    pub stablecoin: Option<bool>,
    #[serde(default)]
    pub icon_base: Option<String>,
    #[serde(default)]
    pub icon_network: Option<String>,
    #[serde(default)]
    pub icon_qr: Option<String>,
    #[serde(default)]
    pub order: Option<i64>,
    #[serde(default)]
    pub obj_network: Option<Network>,
    #[serde(default)]
    pub enable: Option<bool>,
}

/// Body of `POST /v2/invoice/static/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateStaticWallet {
    pub shop_id: String,
    /// Coin code, e.g. `BTC`.
    pub currency: String,
    /// Merchant's customer id; echoed as `order_id` in the wallet's postbacks.
    pub identify: String,
}

/// Result of `POST /v2/invoice/static/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticWallet {
    #[serde(default, deserialize_with = "lenient")]
    pub currency: Option<BalanceCurrency>,
    pub address: String,
    /// A 32-character code without `INV-`.
    pub uuid: String,
}

/// Reads an informational field; a shape we do not understand becomes `None`
/// rather than failing the whole object.
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(T::deserialize(value).ok())
}
