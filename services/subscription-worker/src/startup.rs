//! `Application`: the ops HTTP server, the broker connection, the consumer, the outbox
//! relay and the sweeps, wired once for `main` and for tests.

use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use platform::broker::{Broker, Topology};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consumer::{self, ConsumerConfig};
use crate::context::Context;
use crate::http::{self, Readiness};
use crate::settings::Settings;
use crate::{outbox, sweep};

/// How often the outbox relay looks for unsent events besides being woken.
const OUTBOX_INTERVAL: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    context: Context,
    broker: Broker,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The CryptoCloud client from the settings.
pub fn cryptocloud_client(settings: &Settings) -> anyhow::Result<cryptocloud::Client> {
    let config = cryptocloud::ClientConfig::new(
        &settings.cryptocloud_api_url,
        settings.cryptocloud_api_key.clone(),
    );
    cryptocloud::Client::new(config).context("CRYPTOCLOUD_API_URL / CRYPTOCLOUD_API_KEY")
}

impl Application {
    /// Connects (applying migrations) and starts everything.
    pub async fn build(settings: Settings, topology: Topology) -> anyhow::Result<Self> {
        let pool = platform::database::connect_and_migrate(
            &settings.database_url,
            settings.worker_db_pool_size,
        )
        .await?;
        Self::build_with_pool(settings, topology, pool).await
    }

    /// Starts everything on an existing pool (tests pass their per-test database).
    pub async fn build_with_pool(
        settings: Settings,
        topology: Topology,
        pool: PgPool,
    ) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let mut context = Context::new(
            pool.clone(),
            cryptocloud_client(&settings)?,
            settings.plans()?,
        );
        context.tolerance_percent = settings.payment_tolerance_percent;
        context.accept_test_invoices = settings.worker_accept_test_invoices;
        context.renewals = settings.renewal_policy().map(Arc::new);
        context.grace_days = settings.grace_period_days as i32;
        if context.renewals.is_none() {
            tracing::warn!("CRYPTOCLOUD_SHOP_ID is not set: no renewal invoices are opened");
        }
        let events_home = events::messaging::dispatcher_topology_beside(&topology);
        let broker = Broker::start_declaring(
            settings.amqp_url.clone(),
            topology,
            vec![events_home],
            shutdown.clone(),
        );
        let consuming = Arc::new(AtomicBool::new(false));

        let listener = TcpListener::bind(&settings.worker_listen).with_context(|| {
            format!("WORKER_LISTEN: cannot listen on {}", settings.worker_listen)
        })?;
        let port = listener.local_addr()?.port();
        let readiness = web::Data::new(Readiness {
            pool,
            broker: broker.clone(),
            consuming: consuming.clone(),
        });
        let metrics = web::Data::new(platform::metrics::handle());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(readiness.clone())
                .app_data(metrics.clone())
                .configure(http::configure)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();

        let consumer_config = ConsumerConfig {
            prefetch: settings.worker_prefetch,
            concurrency: settings.worker_concurrency,
            batch_size: settings
                .worker_batch_size
                .clamp(1, cryptocloud::MAX_INFO_IDS),
            max_attempts: settings.worker_max_attempts.max(1),
        };
        let tasks = vec![
            tokio::spawn(consumer::run(
                context.clone(),
                broker.clone(),
                consumer_config,
                consuming,
                shutdown.clone(),
            )),
            tokio::spawn(outbox::run(
                context.pool.clone(),
                broker.clone(),
                context.outbox_wake.clone(),
                OUTBOX_INTERVAL,
                shutdown.clone(),
            )),
            tokio::spawn(sweep::run(
                context.clone(),
                settings.sweep_interval(),
                settings.reconcile_after(),
                shutdown.clone(),
            )),
        ];
        Ok(Self {
            port,
            server,
            context,
            broker,
            shutdown,
            tasks,
        })
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }
}

impl platform::service::Service for Application {
    const NAME: &'static str = "subscription-worker";
    const LISTEN: (&'static str, &'static str) = ("WORKER_LISTEN", crate::settings::DEFAULT_LISTEN);
    type Settings = Settings;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings, events::messaging::worker_topology()).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Cancelling it stops the application (what SIGTERM does in `main`).
    fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then lets in-flight deliveries finish.
    async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            shutdown,
            tasks,
            ..
        } = self;
        platform::service::serve_then_join(&shutdown, server, tasks).await
    }
}
