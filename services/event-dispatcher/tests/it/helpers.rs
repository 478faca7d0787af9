//! Test world: a fresh database (from `#[sqlx::test]`), a unique RabbitMQ topology, the
//! dispatcher started the way `main` starts it, receivers, and events published the way
//! the worker's relay publishes them.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use event_dispatcher::{Application, Settings};
use hmac::{Hmac, Mac};
use lapin::BasicProperties;
use platform::broker::{Broker, Topology};
use platform::config::{AmqpUrl, DatabaseUrl};
use platform::service::Service as _;
use sha2::Sha256;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use test_support::receiver::Received;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const ADMIN: &str = "test-admin-token";
pub const WAIT: Duration = Duration::from_secs(20);

pub use test_support::eventually;

pub struct World {
    pub pool: PgPool,
    pub database_url: DatabaseUrl,
    /// The dispatcher's queue on this test's own exchange.
    pub topology: Topology,
    /// The test's own connection: publishes events.
    pub broker: Broker,
    pub http: reqwest::Client,
    _token: CancellationToken,
}

pub struct Dispatcher {
    pub port: u16,
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Dispatcher {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("the dispatcher stops in time")
            .expect("no panic")
            .expect("stops cleanly");
    }
}

impl World {
    pub async fn new(opts: PgPoolOptions, connect: PgConnectOptions) -> Self {
        platform::telemetry::init_for_tests();
        let database_url = DatabaseUrl::parse(&test_support::database_url_of(
            connect
                .get_database()
                .expect("the test database has a name"),
        ))
        .unwrap();
        let pool = opts
            .max_connections(20)
            .connect_with(connect)
            .await
            .expect("test database");
        let worker = events::messaging::worker_topology().isolated("dispatch");
        let topology = events::messaging::dispatcher_topology_beside(&worker);
        let token = CancellationToken::new();
        let broker = Broker::start(
            AmqpUrl::parse(AMQP).unwrap(),
            topology.clone(),
            token.clone(),
        );
        assert!(
            broker.wait_ready(WAIT).await,
            "RabbitMQ reachable at {AMQP}"
        );
        Self {
            pool,
            database_url,
            topology,
            broker,
            http: reqwest::Client::new(),
            _token: token,
        }
    }

    /// Settings for a test: loopback receivers allowed, retries at once.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::new(
            self.database_url.clone(),
            AmqpUrl::parse(AMQP).unwrap(),
            ADMIN,
        );
        s.dispatch_allow_private = true;
        s.dispatch_retry_schedule_secs = vec![0, 0];
        s.dispatch_timeout_secs = 5;
        s
    }

    pub async fn start(&self, settings: Settings) -> Dispatcher {
        let app = Application::build_with_pool(settings, self.topology.clone(), self.pool.clone())
            .await
            .expect("dispatcher starts");
        let broker = app.broker().clone();
        let dispatcher = Dispatcher {
            port: app.port(),
            stop: app.shutdown_token(),
            handle: tokio::spawn(app.run_until_stopped()),
        };
        assert!(broker.wait_ready(WAIT).await, "dispatcher connects");
        let ready = dispatcher.url("/readyz");
        let http = self.http.clone();
        eventually(WAIT, "the dispatcher is ready", || {
            let (http, ready) = (http.clone(), ready.clone());
            async move {
                http.get(&ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        dispatcher
    }

    /// Creates an endpoint through the admin API; returns its id and secret.
    pub async fn endpoint(&self, d: &Dispatcher, url: &str, events: &[&str]) -> (String, String) {
        let res = self
            .http
            .post(d.url("/api/v1/admin/webhook-endpoints"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"url": url, "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let body: serde_json::Value = res.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_string(),
            body["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Publishes a `payment.completed` event as the worker's relay does; returns its id.
    pub async fn publish_payment(&self, payment_id: i64) -> String {
        let event = events::PaymentChanged {
            event_id: format!("payment.completed-{payment_id}"),
            user_id: 7,
            payment_id,
            invoice_id: format!("INV-{payment_id}"),
            order_id: format!("ord_{payment_id}"),
            status: "completed".into(),
            amount: "99.00".into(),
            currency: "USD".into(),
            tier: "pro".into(),
            months: 1,
            occurred_at: Some(events::to_timestamp(Utc::now())),
        };
        self.publish(
            events::messaging::ROUTING_KEY_PAYMENT_COMPLETED,
            &event.event_id,
            &events::encode(&event),
        )
        .await;
        event.event_id
    }

    pub async fn publish(&self, routing_key: &str, id: &str, payload: &[u8]) {
        self.broker
            .publish(
                &self.topology.exchange,
                routing_key,
                payload,
                BasicProperties::default()
                    .with_message_id(id.into())
                    .with_content_type(events::CONTENT_TYPE.into()),
                WAIT,
            )
            .await
            .expect("published");
    }

    /// Messages in one of the test's queues now (`u32::MAX` while it cannot be read).
    pub async fn queue_len(&self, queue: &str) -> u32 {
        self.broker.queue_len(queue).await.unwrap_or(u32::MAX)
    }

    /// The deliveries log of an endpoint.
    pub async fn log(&self, d: &Dispatcher, endpoint: &str, query: &str) -> Vec<serde_json::Value> {
        let res = self
            .http
            .get(d.url(&format!(
                "/api/v1/admin/webhook-endpoints/{endpoint}/deliveries{query}"
            )))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }
}

/// Checks a signature the way a merchant without our libraries would: HMAC-SHA256 keyed
/// with the secret's decoded bytes over `{id}.{timestamp}.{body}`, base64, after `v1,`.
pub fn verify_independently(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    let id = received.header("webhook-id").expect("webhook-id");
    let ts = received
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&received.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .any(|s| s == format!("v1,{expected}"))
}
