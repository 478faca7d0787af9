//! The wire shape of the sandbox's answers, written from the captured real answers
//! (`cryptocloud-api.md` §3–§5, pitfall 17). The `cryptocloud` client types read them;
//! these types exist to write them as CryptoCloud does (Python floats, `logo: ""`, and
//! `side_commission_service` on create where info and list say `side_commission_cc`).

use cryptocloud::{BalanceCurrency, InvoiceCurrency, Project};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::currencies::{round, Coin};
use crate::invoice::{InvoiceRecord, Status, ViewContext};
use crate::wire::PyFloat;

/// Which endpoint an invoice object is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    /// Info and list (and the control API).
    Info,
}

/// Who pays CryptoCloud's service fee: always the merchant in the sandbox.
const SERVICE_FEE_SIDE: &str = "merchant";

/// One invoice object. Answers are serialised straight from these types, never through a
/// `serde_json::Value` (`json!`, `to_value`), which would print `1.5e-06` as `1.5e-6`.
#[derive(Debug, Clone, Serialize)]
pub struct InvoiceAnswer {
    pub uuid: String,
    pub created: String,
    pub address: String,
    pub expiry_date: String,
    pub side_commission: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_commission_cc: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_commission_service: Option<&'static str>,
    pub amount: PyFloat,
    pub amount_usd: PyFloat,
    pub amount_in_fiat: PyFloat,
    pub fee: PyFloat,
    pub fee_usd: PyFloat,
    pub service_fee: PyFloat,
    pub service_fee_usd: PyFloat,
    pub type_payments: &'static str,
    pub fiat_currency: String,
    pub status: &'static str,
    pub is_email_required: bool,
    pub link: String,
    /// Legacy; `null` in every captured answer.
    pub invoice_id: Option<String>,
    pub currency: InvoiceCurrency,
    pub project: Project,
    pub test_mode: bool,
    pub order_id: Option<String>,
    pub received: PyFloat,
    pub received_usd: PyFloat,
    pub to_surcharge: PyFloat,
    pub to_surcharge_usd: PyFloat,
    pub date_finished: Option<String>,
    pub invoice_status: Option<&'static str>,
}

impl InvoiceAnswer {
    pub fn new(invoice: &InvoiceRecord, kind: Kind, ctx: &ViewContext<'_>) -> Self {
        let coin = invoice.coin;
        let owed = if invoice.status == Status::Partial {
            invoice.remaining()
        } else {
            Decimal::ZERO
        };
        InvoiceAnswer {
            uuid: invoice.id.prefixed(),
            created: cryptocloud::timestamp::format(&invoice.created),
            address: invoice.address.clone(),
            expiry_date: cryptocloud::timestamp::format(&invoice.expiry),
            side_commission: invoice.side_commission.as_str(),
            side_commission_cc: (kind == Kind::Info).then_some(SERVICE_FEE_SIDE),
            side_commission_service: (kind == Kind::Create).then_some(SERVICE_FEE_SIDE),
            amount: invoice.amount_crypto.into(),
            amount_usd: invoice.amount_usd.into(),
            amount_in_fiat: invoice.amount_fiat.into(),
            fee: invoice.fee.into(),
            fee_usd: invoice.fee_usd.into(),
            service_fee: invoice.service_fee.into(),
            service_fee_usd: invoice.service_fee_usd.into(),
            type_payments: "crypto",
            fiat_currency: invoice.fiat_currency.clone(),
            status: invoice.status.as_str(),
            is_email_required: false,
            link: format!("{}/{}", ctx.public_url, invoice.id.code()),
            invoice_id: None,
            currency: coin.invoice_currency(),
            project: ctx.project.clone(),
            test_mode: true,
            order_id: invoice.order_id.clone(),
            received: round(invoice.received, coin.decimals).into(),
            received_usd: coin.to_usd(invoice.received).into(),
            to_surcharge: owed.into(),
            to_surcharge_usd: coin.to_usd(owed).into(),
            date_finished: invoice
                .date_finished
                .as_ref()
                .map(cryptocloud::timestamp::format),
            invoice_status: invoice.status.is_paid().then_some("success"),
        }
    }
}

impl InvoiceAnswer {
    /// The answer without its informational fields, as a terser CryptoCloud may send it
    /// (`ApiFaults::sparse_info`): `uuid`, `status`, the amounts, `currency`, `order_id`
    /// and `test_mode`.
    pub fn sparse(&self) -> SparseInvoiceAnswer<'_> {
        SparseInvoiceAnswer {
            uuid: &self.uuid,
            status: self.status,
            amount: self.amount,
            amount_usd: self.amount_usd,
            amount_in_fiat: self.amount_in_fiat,
            fiat_currency: &self.fiat_currency,
            currency: &self.currency,
            order_id: self.order_id.as_deref(),
            received: self.received,
            received_usd: self.received_usd,
            test_mode: self.test_mode,
        }
    }
}

/// [`InvoiceAnswer::sparse`]. A struct of its own rather than a filtered
/// `serde_json::Value`: a `Value` would turn the Python floats back into Rust's forms.
#[derive(Debug, Clone, Serialize)]
pub struct SparseInvoiceAnswer<'a> {
    pub uuid: &'a str,
    pub status: &'static str,
    pub amount: PyFloat,
    pub amount_usd: PyFloat,
    pub amount_in_fiat: PyFloat,
    pub fiat_currency: &'a str,
    pub currency: &'a InvoiceCurrency,
    pub order_id: Option<&'a str>,
    pub received: PyFloat,
    pub received_usd: PyFloat,
    pub test_mode: bool,
}

/// An info answer's entry: the whole invoice, or its sparse form.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum InfoEntry<'a> {
    Full(&'a InvoiceAnswer),
    Sparse(SparseInvoiceAnswer<'a>),
}

/// The list answer: the envelope with `all_count` (the total before paging) beside
/// `result`.
#[derive(Debug, Clone, Serialize)]
pub struct ListAnswer {
    pub status: &'static str,
    pub result: Vec<InvoiceAnswer>,
    pub all_count: usize,
}

/// Statistics: counts per status, and the USD amounts (`amount_usd`) of those invoices.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StatisticsAnswer {
    pub count: PerStatus<u64>,
    pub amount: PerStatus<PyFloat>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PerStatus<T> {
    pub all: T,
    pub created: T,
    pub paid: T,
    pub overpaid: T,
    pub partial: T,
    pub canceled: T,
}

impl<T> PerStatus<T> {
    pub fn get_mut(&mut self, status: Status) -> &mut T {
        match status {
            Status::Created => &mut self.created,
            Status::Paid => &mut self.paid,
            Status::Overpaid => &mut self.overpaid,
            Status::Partial => &mut self.partial,
            Status::Canceled => &mut self.canceled,
        }
    }
}

/// One entry of the balance answer.
#[derive(Debug, Clone, Serialize)]
pub struct BalanceAnswer {
    pub currency: BalanceCurrency,
    pub balance_crypto: PyFloat,
    pub balance_usd: PyFloat,
    pub available_balance: PyFloat,
    pub available_balance_usd: PyFloat,
}

impl BalanceAnswer {
    pub fn new(coin: &Coin, crypto: Decimal) -> Self {
        let crypto = round(crypto, coin.decimals);
        let usd = coin.to_usd(crypto);
        BalanceAnswer {
            currency: coin.balance_currency(),
            balance_crypto: crypto.into(),
            balance_usd: usd.into(),
            available_balance: crypto.into(),
            available_balance_usd: usd.into(),
        }
    }
}
