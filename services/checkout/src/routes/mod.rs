//! HTTP handlers, one module per area. The JSON handlers carry `#[utoipa::path]` so the
//! OpenAPI document is generated from them.

pub mod admin;
pub mod checkout;
pub mod dashboard;
pub mod dev_login;
pub mod ops;
pub mod payments;
pub mod subscription;
pub mod tiers;
