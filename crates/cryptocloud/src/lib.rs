//! CryptoCloud API v2: the HTTP client, the postback parser and the postback
//! token verifier. Knows nothing about our database.
//!
//! Facts about the API are in `docs/cryptocloud-api.md`.

mod client;
pub mod date;
pub mod decimal;
mod error;
mod invoice_id;
pub mod model;
pub mod postback;
pub mod timestamp;
pub mod token;

pub use client::{Client, ClientConfig, MAX_INFO_IDS, MAX_LIST_LIMIT};
pub use error::Error;
pub use invoice_id::{InvalidInvoiceId, InvoiceId};
pub use model::{
    AddFields, ApiErrorBody, ApiResponse, ApiStatus, Balance, BalanceCurrency,
    CancelInvoiceRequest, CreateInvoice, CreateStaticWallet, DetailBody, Invoice, InvoiceCurrency,
    InvoiceInfoRequest, InvoiceStatus, ListInvoices, Network, Project, StaticWallet, Statistics,
    StatisticsRequest, StatusAmounts, StatusCounts, TimeToPay,
};
pub use postback::{Postback, PostbackError, PostbackFormat, PostbackInvoiceInfo};
pub use token::{
    sign_postback_token, sign_with, IdClaim, IdKind, TokenError, TokenVerifier, VerifiedToken,
};
