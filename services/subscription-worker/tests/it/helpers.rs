//! Test world: a fresh database (from `#[sqlx::test]`), a unique RabbitMQ topology, an
//! in-process CryptoCloud sandbox, and helpers to create payments, pay invoices, publish
//! postbacks and start worker instances.

use platform::service::Service as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cryptocloud::{CreateInvoice, Invoice};
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use platform::broker::{Broker, Topology};
use platform::config::{AmqpUrl, DatabaseUrl};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use subscription_worker::{Application, Context, Settings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const PRICE: &str = "99";

pub use test_support::eventually;

pub struct World {
    pub pool: PgPool,
    /// URL of the test database, for code that connects by itself (the operator commands).
    pub database_url: DatabaseUrl,
    pub topology: Topology,
    /// The test's own connection: publishes postbacks, reads queues.
    pub broker: Broker,
    pub cryptocloud: cryptocloud::Client,
    pub sandbox_url: String,
    pub shop_id: String,
    api_key: String,
    http: reqwest::Client,
    token: CancellationToken,
    sandbox: JoinHandle<anyhow::Result<()>>,
    next_id: AtomicU64,
}

/// A running worker instance.
pub struct Worker {
    pub port: u16,
    pub context: Context,
    pub broker: Broker,
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    pub fn stat(&self, outcome: &str) -> u64 {
        self.context.stats.get(outcome)
    }

    /// Deliveries this instance finished with (acked after whatever it did).
    pub fn handled(&self) -> u64 {
        [
            "completed",
            "partial",
            "duplicate",
            "ignored",
            "retried",
            "dead_lettered",
        ]
        .iter()
        .map(|o| self.stat(o))
        .sum()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("the worker stops within 20 s")
            .expect("the worker task does not panic")
            .expect("the worker stops cleanly");
    }
}

impl World {
    /// A world whose delay queues wait only a few milliseconds.
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

        let sandbox_settings = cryptocloud_sandbox::Settings::for_tests();
        let api_key = sandbox_settings.api_key.expose_secret().to_string();
        let shop_id = sandbox_settings.shop_id.clone();
        let sandbox = cryptocloud_sandbox::Application::build(sandbox_settings)
            .await
            .expect("sandbox starts");
        let sandbox_url = sandbox.base_url();
        let sandbox = tokio::spawn(sandbox.run_until_stopped());

        let mut topology = events::messaging::worker_topology().isolated("worker");
        topology.retry_delays = [50, 100, 200]
            .into_iter()
            .map(Duration::from_millis)
            .collect();
        let token = CancellationToken::new();
        let broker = Broker::start(
            AmqpUrl::parse(AMQP).unwrap(),
            topology.clone(),
            token.clone(),
        );
        assert!(
            broker.wait_ready(Duration::from_secs(15)).await,
            "RabbitMQ reachable at {AMQP}"
        );

        let cryptocloud = cryptocloud::Client::new(cryptocloud::ClientConfig::new(
            sandbox_url.clone(),
            api_key.clone().into(),
        ))
        .unwrap();
        Self {
            pool,
            database_url,
            topology,
            broker,
            cryptocloud,
            sandbox_url,
            shop_id,
            api_key,
            http: reqwest::Client::new(),
            token,
            sandbox,
            next_id: AtomicU64::new(1),
        }
    }

    /// Worker settings pointing at this world (the database comes from `self.pool`).
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::new(
            self.database_url.clone(),
            AmqpUrl::parse(AMQP).unwrap(),
            &self.sandbox_url,
            &self.api_key,
        );
        settings.worker_max_attempts = 30;
        settings.worker_sweep_interval_secs = 3600;
        settings
    }

    pub async fn start_worker(&self) -> Worker {
        self.start_worker_with(self.settings()).await
    }

    pub async fn start_worker_with(&self, settings: Settings) -> Worker {
        let app = Application::build_with_pool(settings, self.topology.clone(), self.pool.clone())
            .await
            .expect("worker starts");
        let worker = Worker {
            port: app.port(),
            context: app.context().clone(),
            broker: app.broker().clone(),
            stop: app.shutdown_token(),
            handle: tokio::spawn(app.run_until_stopped()),
        };
        assert!(
            worker.broker.wait_ready(Duration::from_secs(15)).await,
            "worker connects"
        );
        worker
    }

    /// A processing context of our own, for calling `process` and `apply` directly.
    pub fn context(&self) -> Context {
        Context::new(
            self.pool.clone(),
            self.cryptocloud.clone(),
            self.settings().plans().unwrap(),
        )
    }

    pub fn unique(&self, prefix: &str) -> String {
        format!(
            "{prefix}-{}-{}",
            self.next_id.fetch_add(1, Ordering::SeqCst),
            uuid::Uuid::new_v4().simple()
        )
    }

    pub async fn create_user(&self, id: i64) {
        sqlx::query("INSERT INTO users (id) VALUES ($1)")
            .bind(id)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn set_expiry(&self, user_id: i64, tier: &str, expires: Option<DateTime<Utc>>) {
        sqlx::query(
            "UPDATE users SET subscription_tier = $2, subscription_expires = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(tier)
        .bind(expires)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// Creates an invoice at the sandbox for `amount` USD.
    pub async fn create_invoice(&self, order_id: &str, amount: &str) -> Invoice {
        self.cryptocloud
            .create_invoice(&CreateInvoice {
                shop_id: self.shop_id.clone(),
                amount: amount.parse().unwrap(),
                currency: Some("USD".into()),
                order_id: Some(order_id.to_string()),
                ..Default::default()
            })
            .await
            .expect("sandbox creates the invoice")
    }

    /// Inserts a payment row as checkout would; returns its id.
    pub async fn insert_payment(
        &self,
        user_id: i64,
        invoice: Option<&Invoice>,
        order_id: &str,
        amount: &str,
        months: i32,
        status: &str,
    ) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO payments (user_id, invoice_id, order_id, amount, currency, status, \
             subscription_tier, subscription_months) \
             VALUES ($1, $2, $3, $4, 'USD', $5, 'pro', $6) RETURNING id",
        )
        .bind(user_id)
        .bind(invoice.map(|i| i.uuid.prefixed()))
        .bind(order_id)
        .bind(amount.parse::<Decimal>().unwrap())
        .bind(status)
        .bind(months)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// A user with a pending payment for a fresh invoice of `PRICE` USD.
    pub async fn pending_payment(&self, user_id: i64, months: i32) -> (Invoice, i64) {
        let order_id = self.unique("order");
        let invoice = self.create_invoice(&order_id, PRICE).await;
        let payment_id = self
            .insert_payment(user_id, Some(&invoice), &order_id, PRICE, months, "pending")
            .await;
        (invoice, payment_id)
    }

    /// Pays the invoice at the sandbox without a postback (`lost`): the test publishes its own.
    pub async fn pay(&self, invoice: &Invoice, amount: Option<Decimal>) {
        let mut body = serde_json::json!({"lost": true});
        if let Some(amount) = amount {
            body["amount"] =
                serde_json::to_value(amount.to_string().parse::<f64>().unwrap()).unwrap();
        }
        let response = self
            .http
            .post(format!(
                "{}/sandbox/invoices/{}/pay",
                self.sandbox_url,
                invoice.uuid.prefixed()
            ))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "pay: {} {:?}",
            response.status(),
            response.text().await
        );
    }

    pub async fn sandbox_control(&self, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {} {:?}",
            response.status(),
            response.text().await
        );
    }

    /// The `PostbackReceived` webhook-ingest would publish for this invoice.
    pub fn postback(&self, message_id: &str, invoice: &Invoice) -> Vec<u8> {
        events::encode(&events::PostbackReceived {
            message_id: message_id.to_string(),
            invoice_id: invoice.uuid.code().to_string(),
            order_id: invoice.order_id.clone().unwrap_or_default(),
            postback_status: "success".into(),
            invoice_status: "paid".into(),
            amount_crypto: "1".into(),
            crypto_currency: "USDT_TRC20".into(),
            received_at: Some(events::to_timestamp(Utc::now())),
            source_format: events::SourceFormat::Json as i32,
        })
    }

    /// Publishes raw bytes as a postback (confirmed), with `message_id` as AMQP property.
    pub async fn publish_raw(&self, message_id: &str, payload: &[u8]) {
        let properties = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_content_type(events::CONTENT_TYPE.into());
        self.broker
            .publish(
                &self.topology.exchange,
                events::ROUTING_KEY_POSTBACK,
                payload,
                properties,
                Duration::from_secs(10),
            )
            .await
            .expect("the broker confirms the postback");
    }

    pub async fn publish_postback(&self, message_id: &str, invoice: &Invoice) {
        self.publish_raw(message_id, &self.postback(message_id, invoice))
            .await;
    }

    /// The event dispatcher's queues beside this world's worker, as the worker declares them.
    pub fn events_home(&self) -> platform::broker::Topology {
        events::messaging::dispatcher_topology_beside(&self.topology)
    }

    /// Declares a queue of ours bound to `subscription.upgraded`, to count the events.
    pub async fn event_queue(&self) -> String {
        let name = format!("{}.events", self.topology.work_queue);
        let channel = self.channel().await;
        let mut args = FieldTable::default();
        args.insert(
            "x-expires".into(),
            lapin::types::AMQPValue::LongLongInt(120_000),
        );
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .unwrap();
        // Bound as the dispatcher's queue is, so no event is unroutable.
        for key in events::messaging::EVENT_BINDINGS {
            channel
                .queue_bind(
                    name.as_str().into(),
                    self.topology.exchange.as_str().into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        name
    }

    /// Takes every message now in `queue` (acked); returns the `subscription.upgraded` ones.
    pub async fn drain_events(
        &self,
        queue: &str,
    ) -> Vec<(Option<String>, events::SubscriptionUpgraded)> {
        let channel = self.channel().await;
        let mut out = Vec::new();
        while let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            if message.delivery.routing_key.as_str() != events::ROUTING_KEY_SUBSCRIPTION_UPGRADED {
                continue;
            }
            let id = message
                .delivery
                .properties
                .message_id()
                .as_ref()
                .map(|s| s.to_string());
            out.push((
                id,
                events::decode(&message.delivery.data).expect("a SubscriptionUpgraded"),
            ));
        }
        out
    }

    /// Messages ready in a queue.
    pub async fn queue_len(&self, queue: &str) -> u32 {
        self.broker.queue_len(queue).await.unwrap()
    }

    pub async fn channel(&self) -> lapin::Channel {
        let link = self.broker.link().expect("test broker connected");
        link.connection.create_channel().await.unwrap()
    }

    pub async fn payment_status(&self, payment_id: i64) -> String {
        sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn user(&self, user_id: i64) -> (String, Option<DateTime<Utc>>, i32) {
        sqlx::query_as("SELECT subscription_tier, subscription_expires, requests_limit FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// `from + months` in calendar months (UTC), as PostgreSQL computes it.
    pub async fn months_from(&self, from: DateTime<Utc>, months: i32) -> DateTime<Utc> {
        sqlx::query_scalar("SELECT ($1::timestamptz AT TIME ZONE 'UTC' + make_interval(months => $2)) AT TIME ZONE 'UTC'")
            .bind(from)
            .bind(months)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Removes the topology and stops the sandbox.
    pub async fn cleanup(self) {
        let channel = self.channel().await;
        let _ = channel
            .queue_delete(
                format!("{}.events", self.topology.work_queue).into(),
                Default::default(),
            )
            .await;
        self.topology
            .delete(&channel)
            .await
            .expect("topology deleted");
        // The events' home shares the exchange just deleted; its queues go too.
        let _ = self.events_home().delete(&channel).await;
        self.token.cancel();
        self.sandbox.abort();
        self.pool.close().await;
    }
}

/// Runs the futures at once and collects their outputs in order.
pub async fn all<T, Fut: Future<Output = T>>(futures: impl IntoIterator<Item = Fut>) -> Vec<T> {
    futures::future::join_all(futures).await
}

/// Runs one delivery through the production pipeline, as a group of one.
pub async fn process_one(
    ctx: &subscription_worker::Context,
    payload: &[u8],
) -> subscription_worker::Outcome {
    let message = subscription_worker::pipeline::Message::new(payload, None);
    subscription_worker::pipeline::process(ctx, &[message])
        .await
        .remove(0)
}
