use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::dev_credentials as dev;
use crate::infra;
use crate::process::{LogMode, ServiceProcess};

/// Settings taken from the caller's environment when set.
const PASSED_THROUGH: [&str; 5] = [
    "RENEWAL_NOTICE_DAYS",
    "RENEWAL_MONTHS",
    "GRACE_PERIOD_DAYS",
    "PLANS",
    "WORKER_SWEEP_INTERVAL_SECS",
];

#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub checkout: u16,
    pub ingest: u16,
    pub worker: u16,
    pub sandbox: u16,
    pub dispatcher: u16,
}

impl Ports {
    /// The contract's ports.
    pub fn contract() -> Self {
        Self {
            checkout: 8080,
            ingest: 8081,
            worker: 8082,
            sandbox: 8088,
            dispatcher: 8083,
        }
    }

    /// Free ports on this machine (tests).
    pub fn free() -> anyhow::Result<Self> {
        // Hold all five before releasing so they differ.
        let held: Vec<TcpListener> = (0..5)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()?;
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()?;
        drop(held);
        Ok(Self {
            checkout: ports[0],
            ingest: ports[1],
            worker: ports[2],
            sandbox: ports[3],
            dispatcher: ports[4],
        })
    }
}

#[derive(Debug, Clone)]
pub struct StackConfig {
    pub ports: Ports,
    /// Database name on the local server; created if missing.
    pub database: String,
    /// RabbitMQ vhost; created if missing unless it is `/`.
    pub vhost: String,
    /// `json` or `form`: how the sandbox sends postbacks.
    pub postback_format: String,
    /// Enables checkout's development sign-in link.
    pub dev_login: bool,
    pub log: LogMode,
    /// Folder holding the four service binaries.
    pub bin_dir: PathBuf,
    pub worker_sweep_interval_secs: u64,
    pub worker_reconcile_after_secs: u64,
    /// Extra variables per service name, applied last.
    pub extra_env: BTreeMap<String, BTreeMap<String, String>>,
    /// `WEBHOOK_ENDPOINTS` of the event dispatcher (a JSON list), if any.
    pub webhook_endpoints: Option<String>,
    /// The services read a clock this tool can move ([`crate::devclock`]); only for a
    /// database this stack creates.
    pub dev_clock: bool,
}

impl StackConfig {
    /// The developer's stack: contract ports, database `payments`, the default vhost.
    pub fn development(bin_dir: PathBuf) -> Self {
        Self {
            ports: Ports::contract(),
            database: "payments".into(),
            vhost: "/".into(),
            postback_format: "json".into(),
            dev_login: true,
            log: LogMode::Prefixed,
            bin_dir,
            worker_sweep_interval_secs: 60,
            worker_reconcile_after_secs: 600,
            extra_env: BTreeMap::new(),
            webhook_endpoints: None,
            dev_clock: false,
        }
    }

    /// An isolated stack for one test: free ports, its own database and vhost.
    pub fn isolated(bin_dir: PathBuf, log_dir: PathBuf) -> anyhow::Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        Ok(Self {
            ports: Ports::free()?,
            database: format!("e2e_{id}"),
            vhost: format!("e2e-{id}"),
            postback_format: "json".into(),
            dev_login: true,
            log: LogMode::Dir(log_dir),
            bin_dir,
            worker_sweep_interval_secs: 2,
            worker_reconcile_after_secs: 3,
            extra_env: BTreeMap::new(),
            webhook_endpoints: None,
            dev_clock: false,
        })
    }
}

pub struct Stack {
    pub config: StackConfig,
    pub checkout: ServiceProcess,
    pub ingest: ServiceProcess,
    pub worker: ServiceProcess,
    pub sandbox: ServiceProcess,
    pub dispatcher: ServiceProcess,
    http: reqwest::Client,
}

impl Stack {
    /// Creates the database and vhost, starts the five services and waits until each is
    /// healthy (the ingest and worker until ready: connected to RabbitMQ).
    pub async fn start(config: StackConfig) -> anyhow::Result<Self> {
        infra::create_database(&config.database).await?;
        if config.vhost != "/" {
            infra::create_vhost(&config.vhost).await?;
        }
        let p = config.ports;
        let mut database_url = infra::database_url(&config.database);
        if config.dev_clock {
            crate::devclock::install(&database_url).await?;
            database_url = crate::devclock::url_with_clock(&database_url);
        }
        let amqp_url = infra::amqp_url(&config.vhost);
        let sandbox_url = format!("http://127.0.0.1:{}", p.sandbox);
        let checkout_url = format!("http://localhost:{}", p.checkout);
        let common = [
            ("RUST_LOG", "info"),
            (
                "LOG_FORMAT",
                if matches!(config.log, LogMode::Prefixed) {
                    "pretty"
                } else {
                    "json"
                },
            ),
        ];

        let env = |pairs: Vec<(&str, String)>, name: &str| -> BTreeMap<String, String> {
            let mut map: BTreeMap<String, String> = common
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            map.extend(pairs.into_iter().map(|(k, v)| (k.to_string(), v)));
            // Lifecycle settings a developer may set for the run (e.g. a long notice window
            // to watch a renewal now): passed through to the services that read them.
            for key in PASSED_THROUGH {
                if let Ok(value) = std::env::var(key) {
                    map.insert(key.to_string(), value);
                }
            }
            if let Some(extra) = config.extra_env.get(name) {
                map.extend(extra.clone());
            }
            map
        };
        let bin = |name: &str| config.bin_dir.join(name);

        let sandbox = ServiceProcess::new(
            "cryptocloud-sandbox",
            bin("cryptocloud-sandbox"),
            env(
                vec![
                    ("SANDBOX_LISTEN", format!("127.0.0.1:{}", p.sandbox)),
                    (
                        "SANDBOX_PUBLIC_URL",
                        format!("http://localhost:{}", p.sandbox),
                    ),
                    (
                        "SANDBOX_POSTBACK_URL",
                        format!("http://127.0.0.1:{}/api/webhook/payment", p.ingest),
                    ),
                    ("SANDBOX_POSTBACK_FORMAT", config.postback_format.clone()),
                    (
                        "SANDBOX_SUCCESS_URL",
                        format!("{checkout_url}/dashboard/payment/success"),
                    ),
                    (
                        "SANDBOX_FAIL_URL",
                        format!("{checkout_url}/dashboard/payment/error"),
                    ),
                    ("SANDBOX_API_KEY", dev::API_KEY.into()),
                    ("SANDBOX_SHOP_ID", dev::SHOP_ID.into()),
                    ("SANDBOX_SECRET_KEY", dev::SECRET_KEY.into()),
                ],
                "cryptocloud-sandbox",
            ),
            config.log.clone(),
        );
        let ingest = ServiceProcess::new(
            "webhook-ingest",
            bin("webhook-ingest"),
            env(
                vec![
                    ("INGEST_LISTEN", format!("127.0.0.1:{}", p.ingest)),
                    ("AMQP_URL", amqp_url.clone()),
                    ("CRYPTOCLOUD_SECRET_KEY", dev::SECRET_KEY.into()),
                ],
                "webhook-ingest",
            ),
            config.log.clone(),
        );
        let checkout = ServiceProcess::new(
            "checkout",
            bin("checkout"),
            env(
                vec![
                    ("CHECKOUT_LISTEN", format!("127.0.0.1:{}", p.checkout)),
                    ("DATABASE_URL", database_url.clone()),
                    ("CRYPTOCLOUD_API_URL", sandbox_url.clone()),
                    ("CRYPTOCLOUD_API_KEY", dev::API_KEY.into()),
                    ("CRYPTOCLOUD_SHOP_ID", dev::SHOP_ID.into()),
                    ("BASE_URL", checkout_url.clone()),
                    ("AUTH_JWT_SECRET", dev::AUTH_JWT_SECRET.into()),
                    ("ADMIN_TOKEN", dev::ADMIN_TOKEN.into()),
                    ("DEV_LOGIN_ENABLED", config.dev_login.to_string()),
                ],
                "checkout",
            ),
            config.log.clone(),
        );
        let worker = ServiceProcess::new(
            "subscription-worker",
            bin("subscription-worker"),
            env(
                vec![
                    ("WORKER_LISTEN", format!("127.0.0.1:{}", p.worker)),
                    ("DATABASE_URL", database_url.clone()),
                    ("AMQP_URL", amqp_url.clone()),
                    ("CRYPTOCLOUD_API_URL", sandbox_url),
                    ("CRYPTOCLOUD_API_KEY", dev::API_KEY.into()),
                    ("CRYPTOCLOUD_SHOP_ID", dev::SHOP_ID.into()),
                    ("ADMIN_TOKEN", dev::ADMIN_TOKEN.into()),
                    (
                        "WORKER_SWEEP_INTERVAL_SECS",
                        config.worker_sweep_interval_secs.to_string(),
                    ),
                    (
                        "WORKER_RECONCILE_AFTER_SECS",
                        config.worker_reconcile_after_secs.to_string(),
                    ),
                ],
                "subscription-worker",
            ),
            config.log.clone(),
        );
        let mut dispatcher_env = vec![
            ("DISPATCH_LISTEN", format!("127.0.0.1:{}", p.dispatcher)),
            ("DATABASE_URL", database_url),
            ("AMQP_URL", amqp_url),
            ("ADMIN_TOKEN", dev::ADMIN_TOKEN.into()),
            // The local stack delivers to receivers on this machine.
            ("DISPATCH_ALLOW_PRIVATE", "true".into()),
        ];
        if let Some(endpoints) = &config.webhook_endpoints {
            dispatcher_env.push(("WEBHOOK_ENDPOINTS", endpoints.clone()));
        }
        let dispatcher = ServiceProcess::new(
            "event-dispatcher",
            bin("event-dispatcher"),
            env(dispatcher_env, "event-dispatcher"),
            config.log.clone(),
        );

        let mut stack = Self {
            config,
            checkout,
            ingest,
            worker,
            sandbox,
            dispatcher,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        for name in [
            "cryptocloud-sandbox",
            "webhook-ingest",
            "subscription-worker",
            "checkout",
            "event-dispatcher",
        ] {
            let service = stack.service_mut(name);
            service.start()?;
        }
        // Checkout and the worker migrate at start; wait for each in turn.
        stack.wait_healthy(Duration::from_secs(60)).await?;
        Ok(stack)
    }

    pub fn service_mut(&mut self, name: &str) -> &mut ServiceProcess {
        match name {
            "checkout" => &mut self.checkout,
            "webhook-ingest" => &mut self.ingest,
            "subscription-worker" => &mut self.worker,
            "event-dispatcher" => &mut self.dispatcher,
            _ => &mut self.sandbox,
        }
    }

    pub fn checkout_url(&self) -> String {
        format!("http://localhost:{}", self.config.ports.checkout)
    }
    pub fn ingest_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.ports.ingest)
    }
    pub fn worker_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.ports.worker)
    }
    pub fn dispatcher_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.ports.dispatcher)
    }
    pub fn sandbox_url(&self) -> String {
        format!("http://localhost:{}", self.config.ports.sandbox)
    }
    pub fn database_url(&self) -> String {
        infra::database_url(&self.config.database)
    }

    /// Waits until every service answers its probe: `/readyz` where readiness means a
    /// live dependency (ingest, worker, checkout), `/healthz` for the sandbox.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let probes = [
            (
                "cryptocloud-sandbox",
                format!("{}/healthz", self.sandbox_url()),
            ),
            ("webhook-ingest", format!("{}/readyz", self.ingest_url())),
            (
                "subscription-worker",
                format!("{}/readyz", self.worker_url()),
            ),
            ("checkout", format!("{}/readyz", self.checkout_url())),
            (
                "event-dispatcher",
                format!("{}/readyz", self.dispatcher_url()),
            ),
        ];
        let deadline = tokio::time::Instant::now() + timeout;
        for (name, url) in probes {
            loop {
                if !self.service_mut(name).is_running() {
                    anyhow::bail!("{name} exited during start-up (see its log)");
                }
                let ok = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    break;
                }
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "{name} not ready at {url} after {timeout:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Stops every service (SIGTERM, then SIGKILL after a grace period).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        for name in [
            "checkout",
            "webhook-ingest",
            "subscription-worker",
            "event-dispatcher",
            "cryptocloud-sandbox",
        ] {
            self.service_mut(name).stop(Duration::from_secs(10)).await?;
        }
        Ok(())
    }

    /// Stops the services and removes the database and vhost (isolated stacks only).
    pub async fn destroy(mut self) -> anyhow::Result<()> {
        self.stop().await?;
        infra::drop_database(&self.config.database)
            .await
            .context("dropping the test database")?;
        if self.config.vhost != "/" {
            infra::delete_vhost(&self.config.vhost).await?;
        }
        Ok(())
    }
}
