use platform::service::Service as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use cryptocloud::{
    sign_postback_token, IdClaim, InvoiceId, Postback, PostbackFormat, PostbackInvoiceInfo,
};
use events::PostbackReceived;
use platform::broker::lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use platform::broker::lapin::types::FieldTable;
use platform::broker::lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use platform::broker::Topology;
use platform::config::AmqpUrl;
use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use webhook_ingest::{Application, Settings};

pub const SECRET: &str = "ingest-test-secret-key";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub topology: Topology,
    pub observer: Observer,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the service with the test defaults, `configure` applied, and waits until it is
/// connected to RabbitMQ.
pub async fn spawn_app(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_app_via(AmqpUrl::parse(AMQP_URL).unwrap(), configure).await;
    app.wait_until_ready(true).await;
    app
}

/// Starts the service against `amqp_url` (a proxy in the outage tests) without waiting
/// for the broker.
pub async fn spawn_app_via(amqp_url: AmqpUrl, configure: impl FnOnce(&mut Settings)) -> TestApp {
    platform::telemetry::init_for_tests();
    let mut settings = Settings::for_tests(SECRET, amqp_url);
    configure(&mut settings);
    let topology = events::messaging::worker_topology().isolated("ingest");
    // The observer declares the topology itself, so it can bind its queue even while the
    // service cannot reach the broker.
    let observer = Observer::start(&topology).await;
    let app = Application::build(settings, topology.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        topology,
        observer,
        shutdown,
        server,
    }
}

impl TestApp {
    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Posts a raw body with an optional content type.
    pub async fn post_raw(
        &self,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/webhook/payment"))
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("Content-Type", ct);
        }
        request.send().await.expect("the request is sent")
    }

    pub async fn post(&self, postback: &Postback, format: PostbackFormat) -> reqwest::Response {
        let (content_type, body) = postback.to_body(format);
        self.post_raw(Some(content_type), body).await
    }

    pub async fn readyz(&self) -> reqwest::StatusCode {
        self.client
            .get(self.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Polls `/readyz` until it says `ready` (or not), failing after a deadline.
    pub async fn wait_until_ready(&self, ready: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.readyz().await;
            if status.is_success() == ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz still answers {status} (wanted ready={ready})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the service and removes everything the test declared.
    pub async fn cleanup(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        self.observer.cleanup(&self.topology).await;
    }
}

/// A direct connection (never through the test proxy) with an exclusive queue bound to
/// the test exchange with the postback routing key, where every published postback lands.
pub struct Observer {
    connection: Connection,
    pub channel: Channel,
    pub queue: String,
}

impl Observer {
    async fn start(topology: &Topology) -> Self {
        let connection = connect().await;
        let channel = connection.create_channel().await.unwrap();
        topology
            .declare(&channel)
            .await
            .expect("the test topology is declared");
        let queue = format!("{}.observer", topology.exchange);
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                topology.exchange.as_str().into(),
                events::ROUTING_KEY_POSTBACK.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        Observer {
            connection,
            channel,
            queue,
        }
    }

    /// The next postback published, waiting up to a deadline.
    pub async fn next(&self) -> (PostbackReceived, BasicProperties) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(message) = self.try_next().await {
                return message;
            }
            assert!(
                Instant::now() < deadline,
                "no postback was published to the test queue"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next postback if one is queued right now.
    pub async fn try_next(&self) -> Option<(PostbackReceived, BasicProperties)> {
        let got = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get works")?;
        let event = events::decode::<PostbackReceived>(&got.delivery.data)
            .expect("the message is a PostbackReceived");
        Some((event, got.delivery.properties))
    }

    /// Publishes happen before the 200, so after a confirmed postback the queue holds
    /// exactly what was published: asserting emptiness needs no waiting.
    pub async fn assert_empty(&self) {
        if let Some((event, _)) = self.try_next().await {
            panic!("unexpected message published: {event:?}");
        }
    }

    pub async fn unbind(&self, queue: &str, topology: &Topology) {
        self.channel
            .queue_unbind(
                queue.into(),
                topology.exchange.as_str().into(),
                events::ROUTING_KEY_POSTBACK.into(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }

    async fn cleanup(self, topology: &Topology) {
        let _ = self
            .channel
            .queue_delete(self.queue.as_str().into(), Default::default())
            .await;
        topology
            .delete(&self.channel)
            .await
            .expect("the test topology is deleted");
        let _ = self.connection.close(200, "test done".into()).await;
    }
}

pub async fn connect() -> Connection {
    let properties = ConnectionProperties::default();
    Connection::connect(AMQP_URL, properties)
        .await
        .expect("RabbitMQ is reachable on 127.0.0.1:5672")
}

/// A fresh random invoice code.
pub fn invoice() -> InvoiceId {
    let code = uuid::Uuid::new_v4().simple().to_string()[..8].to_ascii_uppercase();
    InvoiceId::parse(&code).unwrap()
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// A token as CryptoCloud signs it: valid for five minutes from now.
pub fn valid_token(invoice: &InvoiceId) -> String {
    sign_postback_token(
        &secret(SECRET),
        IdClaim::from(invoice),
        Utc::now() + chrono::Duration::minutes(5),
    )
}

/// A complete, valid postback for `invoice` (paid in full, with its invoice snapshot).
pub fn postback(invoice: &InvoiceId) -> Postback {
    Postback {
        status: "success".to_owned(),
        invoice_id: invoice.clone(),
        amount_crypto: Decimal::new(25_012, 3),
        currency: "USDT_TRC20".to_owned(),
        order_id: Some("order-42".to_owned()),
        token: Some(valid_token(invoice)),
        invoice_info: Some(PostbackInvoiceInfo::new(invoice.clone(), "paid".into())),
        invoice_info_ignored: None,
        format: PostbackFormat::Json,
    }
}

/// The message id the service must give `postback`.
pub fn expected_message_id(postback: &Postback) -> String {
    let status = postback
        .invoice_info
        .as_ref()
        .map(|i| i.status.as_str().to_owned())
        .unwrap_or_else(|| postback.status.clone());
    webhook_ingest::message::message_id(
        &postback.invoice_id,
        &webhook_ingest::fields::Status::parse(&status).unwrap(),
        postback.amount_crypto,
    )
}

/// Reads an error body `{"error":{"code","message"}}`, returning the code and the raw text.
pub async fn error_code(response: reqwest::Response) -> (String, String) {
    let text = response.text().await.unwrap();
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {text}"))
        .to_owned();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message in {text}"
    );
    (code, text)
}
