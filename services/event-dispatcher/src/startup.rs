//! `Application`: the HTTP server (operations and admin API), the broker connection, the
//! intake consumer, the scheduler and the backlog gauges, wired once for `main` and tests.

use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use platform::bearer::AdminToken;
use platform::broker::{Broker, Topology};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::endpoints::{self, NewEndpoint};
use crate::http::{self, Readiness};
use crate::scheduler::{self, Dispatch, Limits};
use crate::sender::Sender;
use crate::settings::Settings;
use crate::{backlog, intake};

const BACKLOG_INTERVAL: Duration = Duration::from_secs(15);

pub struct Application {
    port: u16,
    server: Server,
    broker: Broker,
    pool: PgPool,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// The dispatcher's queue (with its DLQ) on the events exchange.
pub fn topology() -> Topology {
    events::messaging::dispatcher_topology_beside(&events::messaging::worker_topology())
}

impl Application {
    /// Connects (applying migrations) and starts everything.
    pub async fn build(settings: Settings, topology: Topology) -> anyhow::Result<Self> {
        let pool = platform::database::connect_and_migrate(
            &settings.database_url,
            settings.dispatch_db_pool_size,
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
        let mut configured = Vec::with_capacity(settings.webhook_endpoints.len());
        for (n, e) in settings.webhook_endpoints.iter().enumerate() {
            let endpoint = NewEndpoint::parse(
                &e.url,
                Some(&e.secret),
                &e.events,
                None,
                settings.dispatch_allow_private,
            )
            .await
            .with_context(|| format!("WEBHOOK_ENDPOINTS[{n}]"))?;
            configured.push(endpoint);
        }
        endpoints::sync_configured(&pool, &configured)
            .await
            .context("storing WEBHOOK_ENDPOINTS")?;

        let shutdown = CancellationToken::new();
        let broker = Broker::start(settings.amqp_url.clone(), topology, shutdown.clone());
        let consuming = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let dispatch = Dispatch {
            pool: pool.clone(),
            sender: Sender::new(settings.timeout(), settings.dispatch_allow_private)?,
            schedule: Arc::new(settings.schedule()),
            disable_after: settings.disable_after(),
        };
        if settings.dispatch_allow_private {
            tracing::warn!("DISPATCH_ALLOW_PRIVATE is on: webhooks may go to private addresses");
        }

        let listener = TcpListener::bind(&settings.dispatch_listen).with_context(|| {
            format!(
                "DISPATCH_LISTEN: cannot listen on {}",
                settings.dispatch_listen
            )
        })?;
        let port = listener.local_addr()?.port();
        let readiness = web::Data::new(Readiness {
            pool: pool.clone(),
            broker: broker.clone(),
            consuming: consuming.clone(),
        });
        let admin_state = web::Data::new(AdminState {
            pool: pool.clone(),
            token: AdminToken::new(&settings.admin_token),
            dispatch: dispatch.clone(),
            allow_private: settings.dispatch_allow_private,
        });
        let metrics = web::Data::new(platform::metrics::handle());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(
                    platform::http::record_request,
                ))
                .app_data(readiness.clone())
                .app_data(admin_state.clone())
                .app_data(metrics.clone())
                .configure(http::configure)
                .configure(admin::configure)
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();

        let limits = Limits {
            concurrency: settings.dispatch_concurrency,
            per_endpoint: settings.dispatch_endpoint_concurrency,
            timeout: settings.timeout(),
        };
        let tasks = vec![
            tokio::spawn(intake::run(
                pool.clone(),
                broker.clone(),
                settings.dispatch_prefetch,
                wake.clone(),
                consuming,
                shutdown.clone(),
            )),
            tokio::spawn(scheduler::run(dispatch, limits, wake, shutdown.clone())),
            tokio::spawn(backlog::run(
                pool.clone(),
                BACKLOG_INTERVAL,
                shutdown.clone(),
            )),
        ];
        Ok(Self {
            port,
            server,
            broker,
            pool,
            shutdown,
            tasks,
        })
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl platform::service::Service for Application {
    const NAME: &'static str = "event-dispatcher";
    const LISTEN: (&'static str, &'static str) =
        ("DISPATCH_LISTEN", crate::settings::DEFAULT_LISTEN);
    type Settings = Settings;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings, topology()).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then lets attempts in flight finish.
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
