//! A local stand-in for CryptoCloud API v2, its payment page and its postbacks, with fault
//! injection for tests and demos. State lives in memory only.
//!
//! In-process use (tests):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use cryptocloud_sandbox::{Application, Settings};
//! use platform::service::Service as _; // run_until_stopped
//! let mut settings = Settings::for_tests();
//! settings.postback_url = Some("http://127.0.0.1:8081/api/webhook/payment".into());
//! let app = Application::build(settings).await?;
//! let base = app.base_url(); // http://127.0.0.1:PORT
//! tokio::spawn(app.run_until_stopped());
//! # let _ = base; Ok(()) }
//! ```
//!
//! Surfaces: the API under `/v2` (CryptoCloud's paths, `Authorization: Token <key>`),
//! the payment page at `/{CODE}`, the control API under `/sandbox`, and `/healthz`.

mod answer;
mod api;
mod control;
mod currencies;
mod delivery;
mod faults;
mod fees;
mod invoice;
mod page;
mod postback;
mod settings;
mod startup;
mod store;
mod wire;

pub use control::PayRequest;
pub use cryptocloud::PostbackFormat;
pub use delivery::{DeliveryAttempt, Outcome, TokenMode};
pub use faults::{ApiFaults, HEADER_DROP, HEADER_FAIL, HEADER_LATENCY};
pub use fees::SideCommission;
pub use postback::{FormatChoice, PostbackOptions};
pub use settings::{IdClaimMode, Settings, DEV_API_KEY, DEV_SECRET_KEY, DEV_SHOP_ID};
pub use startup::Application;
pub use store::ApiRequest;
