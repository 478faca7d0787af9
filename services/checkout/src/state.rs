//! What every handler shares.

use std::time::Duration;

use sqlx::PgPool;

use crate::auth::AdminToken;
use crate::configuration::BaseUrl;
use crate::plans::PlanCatalogue;

pub struct AppState {
    pub pool: PgPool,
    pub cryptocloud: cryptocloud::Client,
    pub shop_id: String,
    pub plans: PlanCatalogue,
    pub base_url: BaseUrl,
    pub admin_token: AdminToken,
    pub dev_login_enabled: bool,
    /// How long a request waits for another one holding the same idempotency key.
    pub idempotency_wait: Duration,
    /// `GRACE_PERIOD_DAYS`.
    pub grace_days: u32,
}
