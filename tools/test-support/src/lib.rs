//! Helpers shared by the services' integration tests.

pub mod broker_proxy;
pub mod openapi;
pub mod receiver;

use std::future::Future;
use std::time::Duration;

/// URL of database `name` on the server `DATABASE_URL` names, with its user and password:
/// for a service a test starts on the database `#[sqlx::test]` made there (its connect
/// options do not give the password back).
pub fn database_url_of(name: &str) -> String {
    let master = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let mut url = url::Url::parse(&master).expect("DATABASE_URL is a URL");
    url.set_path(name);
    url.to_string()
}

/// Polls `check` every 25 ms until it returns true; panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
