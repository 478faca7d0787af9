//! Wiring: the broker supervisor, the HTTP server and their shared state.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use platform::broker::{Broker, Topology};
use tokio_util::sync::CancellationToken;

use crate::configuration::Settings;
use crate::intake::Intaker;
use crate::routes::{not_found, readyz, receive_postback, PostbackEndpoint};
use crate::source::SourcePolicy;
use crate::telemetry;

pub struct Application {
    port: u16,
    server: Server,
    broker: Broker,
    shutdown: CancellationToken,
    /// Stops the broker supervisor, after the server has drained its in-flight postbacks.
    broker_shutdown: CancellationToken,
}

impl Application {
    /// Binds the listener and starts the broker supervisor. It does not wait for
    /// RabbitMQ: the service serves (not ready, postbacks 503) until the broker is up.
    pub async fn build(settings: Settings, topology: Topology) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let metrics = platform::metrics::handle();
        telemetry::describe();
        let listener = TcpListener::bind(&settings.ingest_listen).with_context(|| {
            format!("cannot listen on INGEST_LISTEN={}", settings.ingest_listen)
        })?;
        let port = listener.local_addr()?.port();

        let exchange = topology.exchange.clone();
        let broker_shutdown = CancellationToken::new();
        let broker = Broker::start(settings.amqp_url.clone(), topology, broker_shutdown.clone());
        let endpoint = web::Data::new(PostbackEndpoint {
            intaker: Intaker::new(
                settings.cryptocloud_secret_key.clone(),
                settings.cryptocloud_secret_key_previous.clone(),
                settings.token_leeway(),
            ),
            sources: SourcePolicy::new(
                settings.ingest_allowed_networks.clone(),
                settings.ingest_trusted_proxies.clone(),
                settings.ingest_rate_limit_per_minute,
            ),
            broker: broker.clone(),
            exchange,
            publish_timeout: settings.publish_timeout(),
            body_timeout: settings.body_timeout(),
        });
        let broker_data = web::Data::new(broker.clone());
        let metrics = web::Data::new(metrics);

        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(platform::http::record_request))
                .app_data(endpoint.clone())
                .app_data(broker_data.clone())
                .app_data(metrics.clone())
                .service(
                    web::resource("/api/webhook/payment")
                        .route(web::post().to(receive_postback))
                        .default_service(web::to(method_not_allowed)),
                )
                .route("/healthz", web::get().to(platform::http::healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(platform::http::metrics))
                .default_service(web::to(not_found))
        })
        // Shutdown is driven by the token (main wires it to SIGTERM/SIGINT).
        .disable_signals()
        .listen(listener)?
        .run();

        tracing::info!(port, "webhook-ingest listening");
        Ok(Application {
            port,
            server,
            broker,
            shutdown,
            broker_shutdown,
        })
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }
}

impl platform::service::Service for Application {
    const NAME: &'static str = "webhook-ingest";
    const LISTEN: (&'static str, &'static str) =
        ("INGEST_LISTEN", crate::configuration::DEFAULT_LISTEN);
    type Settings = Settings;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Application::build(settings, events::messaging::worker_topology()).await
    }

    fn port(&self) -> u16 {
        self.port
    }

    /// Cancel it to stop the server (in-flight postbacks finish) and the broker.
    fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    async fn run_until_stopped(self) -> anyhow::Result<()> {
        let result = platform::service::serve_until(&self.shutdown, self.server).await;
        // However the server ended, the broker connection goes with it.
        self.broker_shutdown.cancel();
        result.map_err(Into::into)
    }
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    platform::http::error_response(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "use POST",
    )
}
