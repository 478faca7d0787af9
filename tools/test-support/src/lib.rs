//! Helpers shared by the services' integration tests.

pub mod broker_proxy;
pub mod receiver;
