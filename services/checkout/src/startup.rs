//! Wiring: the pool, the CryptoCloud client, the routes, the server.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use platform::http::{route as on, RouteRow};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::auth::{AdminToken, TokenKeys};
use crate::configuration::Settings;
use crate::idempotency;
use crate::pages::{dev_login, http as dashboard};
use crate::state::AppState;
use crate::{admin, checkout, openapi, ops, payments, subscription, tiers};

/// How often expired idempotency keys are deleted.
const KEY_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// The checkout service, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    shutdown: CancellationToken,
}

impl Application {
    /// Connects to PostgreSQL (applying pending migrations) and binds `CHECKOUT_LISTEN`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = platform::database::connect_and_migrate(
            &settings.database_url,
            settings.checkout_db_pool_size,
        )
        .await
        .context("database")?;
        Self::build_with_pool(settings, pool).await
    }

    /// Like [`Application::build`] with a pool the caller made (tests pass a per-test
    /// database's pool).
    pub async fn build_with_pool(settings: Settings, pool: PgPool) -> anyhow::Result<Self> {
        let plans = settings
            .plan_catalogue()
            .map_err(|e| anyhow::anyhow!("PLANS: {e}"))?;
        let timeout = settings.cryptocloud_timeout();
        let client_config = cryptocloud::ClientConfig {
            base_url: settings.cryptocloud_api_url.clone(),
            api_key: settings.cryptocloud_api_key.clone(),
            connect_timeout: timeout.min(Duration::from_secs(5)),
            timeout,
        };
        let cryptocloud = cryptocloud::Client::new(client_config)
            .context("CRYPTOCLOUD_API_URL / CRYPTOCLOUD_API_KEY")?;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            cryptocloud,
            shop_id: settings.cryptocloud_shop_id.clone(),
            plans,
            base_url: settings.base_url.clone(),
            admin_token: AdminToken::new(&settings.admin_token),
            dev_login_enabled: settings.dev_login_enabled,
            // The holder of a key needs at most one CryptoCloud call plus a few queries.
            idempotency_wait: timeout + Duration::from_secs(5),
            grace_days: settings.grace_period_days,
        });
        if settings.dev_login_enabled {
            tracing::warn!("DEV_LOGIN_ENABLED is on: /dev/login hands out sessions to anyone");
        }

        let listener = TcpListener::bind(&settings.checkout_listen).with_context(|| {
            format!("CHECKOUT_LISTEN: cannot bind {}", settings.checkout_listen)
        })?;
        let port = listener.local_addr()?.port();
        // The user extractor reads the keys on its own, so they are app data of their own.
        let token_keys = web::Data::new(TokenKeys::new(
            &settings.auth_jwt_secret,
            settings.auth_jwt_secret_previous.as_ref(),
            settings.auth_jwt_audience.as_deref(),
        ));
        let metrics = web::Data::new(platform::metrics::handle());
        let body_limit = settings.checkout_max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(platform::http::record_request))
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .app_data(token_keys.clone())
                .app_data(metrics.clone())
                .app_data(platform::http::json_config(body_limit))
                .app_data(platform::http::form_config(body_limit))
                .app_data(platform::http::query_config())
                .app_data(platform::http::path_config())
                .configure(routes)
        })
        // Shutdown is driven by the token (platform::service wires it to SIGTERM/SIGINT).
        .disable_signals()
        .listen(listener)?
        .shutdown_timeout(10);
        if let Some(workers) = settings.checkout_workers {
            server = server.workers(workers.max(1));
        }
        tracing::info!(port, "checkout listening");
        Ok(Self {
            port,
            server: server.run(),
            pool,
            shutdown: CancellationToken::new(),
        })
    }
}

impl platform::service::Service for Application {
    const NAME: &'static str = "checkout";
    const LISTEN: (&'static str, &'static str) =
        ("CHECKOUT_LISTEN", crate::configuration::DEFAULT_LISTEN);
    type Settings = Settings;

    fn check(settings: &Settings) -> Result<(), String> {
        settings
            .plan_catalogue()
            .map(drop)
            .map_err(|e| format!("PLANS: {e}"))
    }

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the token is cancelled; in-flight requests finish first.
    async fn run_until_stopped(self) -> anyhow::Result<()> {
        let sweeper = tokio::spawn(sweep_expired_keys(self.pool));
        let result = platform::service::serve_until(&self.shutdown, self.server).await;
        sweeper.abort();
        result.map_err(Into::into)
    }
}

/// Where the JSON API lives.
pub const API_PREFIX: &str = "/api/v1";

/// The JSON API: method, path under [`API_PREFIX`], handler. [`routes`] registers exactly
/// these under `/api/`, and [`api_routes`] lists them (the contract test compares that list
/// with the API document), so every `/api/` route goes here and nowhere else.
fn api_table() -> Vec<RouteRow> {
    vec![
        on(Method::GET, "/tiers", tiers::list_tiers),
        on(Method::POST, "/checkout", checkout::http::create_checkout),
        on(Method::GET, "/payments", payments::http::list_payments),
        on(Method::GET, "/payments/{id}", payments::http::get_payment),
        on(
            Method::POST,
            "/payments/{id}/cancel",
            payments::http::cancel_payment,
        ),
        on(Method::GET, "/subscription", subscription::get_subscription),
        on(
            Method::POST,
            "/subscription/cancel",
            subscription::cancel_subscription,
        ),
        on(
            Method::POST,
            "/subscription/resume",
            subscription::resume_subscription,
        ),
        on(Method::GET, "/admin/stats", admin::get_admin_stats),
    ]
}

/// Method and full path of every route under `/api/`.
pub fn api_routes() -> Vec<(Method, String)> {
    api_table()
        .into_iter()
        .map(|(method, path, _)| (method, format!("{API_PREFIX}{path}")))
        .collect()
}

/// Every route of the service.
fn routes(cfg: &mut web::ServiceConfig) {
    let api = api_table()
        .into_iter()
        .fold(web::scope(API_PREFIX), |scope, (_, path, route)| {
            scope.route(path, route)
        });
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(platform::http::metrics))
        .route("/openapi.json", web::get().to(openapi::openapi_json))
        .route("/docs", web::get().to(openapi::docs))
        .route("/dev/login", web::get().to(dev_login::login))
        .service(api)
        .service(
            web::scope("/dashboard")
                .route("", web::get().to(dashboard::dashboard))
                .route("/", web::get().to(dashboard::dashboard))
                .route("/payments", web::get().to(dashboard::history))
                .route(
                    "/payment/success",
                    web::get().to(dashboard::payment_success),
                )
                .route("/payment/error", web::get().to(dashboard::payment_error))
                .route("/subscription/upgrade", web::post().to(dashboard::upgrade))
                .route(
                    "/subscription/cancel",
                    web::post().to(dashboard::cancel_renewal),
                )
                .route(
                    "/subscription/resume",
                    web::post().to(dashboard::resume_renewal),
                ),
        )
        .default_service(web::to(ops::not_found));
}

/// Deletes expired idempotency keys now and then (they are ignored once expired anyway;
/// this only keeps the table small).
async fn sweep_expired_keys(pool: PgPool) {
    let mut tick = tokio::time::interval(KEY_SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        match idempotency::delete_expired(&pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting expired idempotency keys failed"),
        }
    }
}
