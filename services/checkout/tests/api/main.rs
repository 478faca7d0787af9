//! Integration tests: the real service on port 0, a fresh PostgreSQL database per test
//! (`#[sqlx::test]`), and the in-process CryptoCloud sandbox in place of CryptoCloud.

mod admin;
mod auth;
mod checkout;
mod form;
mod helpers;
mod idempotency;
mod openapi;
mod operations;
mod pages;
mod payments;
mod provider_failures;
mod subscription;
mod tiers;
