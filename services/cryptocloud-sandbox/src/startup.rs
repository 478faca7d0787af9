//! Building and running the sandbox: binds first (so port 0 works in tests), then serves the
//! API, the control API and the payment pages.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use cryptocloud::{Postback, Project};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::faults::ApiFaults;
use crate::fees::SideCommission;
use crate::invoice::{InvoiceRecord, ViewContext};
use crate::postback::{Dispatcher, Outgoing, Plan, Policy};
use crate::settings::Settings;
use crate::store::Store;
use crate::{api, control, page};

/// What every handler shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub dispatcher: Dispatcher,
    pub api_key: SecretString,
    pub shop_id: String,
    /// Base of the invoice `link`, without a trailing slash.
    pub public_url: String,
    pub success_url: String,
    pub fail_url: String,
    pub side_commission: SideCommission,
    pub project: Project,
}

impl AppState {
    pub fn view_context(&self) -> ViewContext<'_> {
        ViewContext {
            public_url: &self.public_url,
            project: &self.project,
        }
    }

    /// Sends the postback(s) of `invoice` as it is now; returns how many were scheduled.
    pub fn send_postbacks(&self, invoice: &InvoiceRecord, plan: Plan) -> u32 {
        let postback = Postback {
            status: "success".to_owned(),
            invoice_id: invoice.id.clone(),
            amount_crypto: invoice.received,
            currency: invoice.coin.fullcode.to_owned(),
            order_id: invoice.order_id.clone(),
            token: None,
            invoice_info: Some(invoice.postback_info(&self.view_context())),
            invoice_info_ignored: None,
            format: plan.format,
        };
        let outgoing = Outgoing {
            invoice: invoice.id.clone(),
            number: invoice.number,
            postback,
        };
        self.dispatcher.dispatch(outgoing, plan)
    }
}

/// The running sandbox.
pub struct Application {
    port: u16,
    base_url: String,
    public_url: String,
    server: Server,
    shutdown: CancellationToken,
    notice: String,
}

impl Application {
    /// Binds `settings.listen` and prepares the server; `run_until_stopped` serves.
    pub async fn build(settings: Settings) -> std::io::Result<Application> {
        let notice = settings.credentials_notice();
        let faults = ApiFaults {
            latency_ms: settings.latency_ms,
            error_rate: settings.error_rate,
            error_status: settings.error_status,
            drop_rate: settings.drop_rate,
            ..ApiFaults::default()
        };
        faults.validate().map_err(std::io::Error::other)?;

        let listener = TcpListener::bind(&settings.listen)?;
        let address = listener.local_addr()?;
        let port = address.port();
        let base_url = format!("http://{}", reachable(address));
        let public_url = settings
            .public_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| {
                if address.ip().is_unspecified() {
                    format!("http://localhost:{port}")
                } else {
                    base_url.clone()
                }
            });

        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.postback_timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            // Under a receiver's keep-alive (actix closes idle connections after 5 s): reusing
            // a connection the receiver is closing fails the attempt without an answer.
            .pool_idle_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("CryptoCloud-sandbox/postback")
            .build()
            .map_err(std::io::Error::other)?;
        let store = Arc::new(Store::new(faults));
        let policy = Policy {
            url: settings.postback_url.clone(),
            format: settings.postback_format,
            retries: settings.postback_retries,
            backoff: Duration::from_millis(settings.postback_backoff_ms),
            id_claim: settings.id_claim,
        };
        // Postbacks run on the caller's runtime, not on an HTTP worker's, so they outlive
        // the request that triggered them.
        let dispatcher = Dispatcher::new(
            http,
            settings.secret_key.clone(),
            policy,
            store.clone(),
            tokio::runtime::Handle::current(),
        );
        let state = web::Data::new(AppState {
            store,
            dispatcher,
            api_key: settings.api_key.clone(),
            shop_id: settings.shop_id.clone(),
            public_url: public_url.clone(),
            success_url: settings.success_url.clone(),
            fail_url: settings.fail_url.clone(),
            side_commission: settings.side_commission,
            project: Project {
                id: Some(1),
                name: Some("Sandbox project".to_owned()),
                fail: Some(settings.fail_url.clone()),
                success: Some(settings.success_url.clone()),
                // Captured answers carry an empty string, not null.
                logo: Some(String::new()),
            },
        });

        let server = HttpServer::new(move || {
            App::new()
                .wrap(tracing_actix_web::TracingLogger::default())
                .app_data(state.clone())
                .route("/healthz", web::get().to(platform::http::healthz))
                .configure(api::configure)
                .configure(control::configure)
                .configure(page::configure)
        })
        .workers(settings.workers.max(1))
        // Signals are the binary's business (platform::shutdown), not every test's.
        .disable_signals()
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        tracing::info!(%base_url, %public_url, "cryptocloud-sandbox bound");
        Ok(Application {
            port,
            base_url,
            public_url,
            server,
            shutdown: CancellationToken::new(),
            notice,
        })
    }

    /// Where to reach the API and the control endpoints, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Base of the invoice `link`s.
    pub fn public_url(&self) -> String {
        self.public_url.clone()
    }
}

impl platform::service::Service for Application {
    const NAME: &'static str = "cryptocloud-sandbox";
    const LISTEN: (&'static str, &'static str) =
        ("SANDBOX_LISTEN", crate::settings::DEFAULT_LISTEN);
    // The sandbox serves only /healthz.
    const HEALTHCHECK_PATH: &'static str = "/healthz";
    type Settings = Settings;

    async fn build(settings: Settings) -> anyhow::Result<Self> {
        Ok(Application::build(settings).await?)
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    async fn run_until_stopped(self) -> anyhow::Result<()> {
        Ok(platform::service::serve_until(&self.shutdown, self.server).await?)
    }

    fn announce(&self) {
        println!("cryptocloud-sandbox listening on {}", self.base_url);
        println!(
            "payment pages at {}/<CODE>, control API at {}/sandbox",
            self.public_url, self.base_url
        );
        println!("{}", self.notice);
    }
}

/// An address a client on this machine can connect to (`0.0.0.0` is not one).
fn reachable(address: SocketAddr) -> String {
    match address {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("127.0.0.1:{}", a.port()),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("[::1]:{}", a.port()),
        other => other.to_string(),
    }
}
