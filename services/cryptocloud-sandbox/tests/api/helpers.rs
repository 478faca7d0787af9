//! Test harness: an in-process sandbox, a CryptoCloud client pointed at it, and a postback
//! receiver that records what it is sent.

use platform::service::Service as _;
use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use cryptocloud::{
    AddFields, Client, ClientConfig, CreateInvoice, Invoice, InvoiceId, Postback, TimeToPay,
    TokenVerifier,
};
use cryptocloud_sandbox::{
    Application, DeliveryAttempt, Settings, DEV_API_KEY, DEV_SECRET_KEY, DEV_SHOP_ID,
};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

/// How long a test waits for something that should happen promptly.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct TestSandbox {
    pub base: String,
    pub settings: Settings,
    pub client: Client,
    /// Plain HTTP, redirects not followed.
    pub http: reqwest::Client,
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn spawn_sandbox(settings: Settings) -> TestSandbox {
    platform::telemetry::init_for_tests();
    let app = Application::build(settings.clone())
        .await
        .expect("sandbox builds");
    let base = app.base_url();
    assert_eq!(base, format!("http://127.0.0.1:{}", app.port()));
    let stop = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    TestSandbox {
        client: client(&base, DEV_API_KEY, Duration::from_secs(5)),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base,
        settings,
        stop,
    }
}

pub async fn sandbox() -> TestSandbox {
    spawn_sandbox(Settings::for_tests()).await
}

/// A sandbox whose postbacks go to a fresh receiver.
pub async fn sandbox_with_receiver() -> (TestSandbox, Receiver) {
    sandbox_with_receiver_and(|_| {}).await
}

pub async fn sandbox_with_receiver_and(
    tweak: impl FnOnce(&mut Settings),
) -> (TestSandbox, Receiver) {
    let receiver = Receiver::start().await;
    let mut settings = Settings::for_tests();
    settings.postback_url = Some(receiver.url.clone());
    tweak(&mut settings);
    (spawn_sandbox(settings).await, receiver)
}

pub fn client(base: &str, key: &str, timeout: Duration) -> Client {
    let mut config = ClientConfig::new(base, SecretString::from(key));
    config.timeout = timeout;
    config.connect_timeout = Duration::from_secs(2);
    Client::new(config).expect("client builds")
}

pub fn verifier() -> TokenVerifier {
    TokenVerifier::new(SecretString::from(DEV_SECRET_KEY), Duration::from_secs(60))
}

pub fn new_invoice(amount: Decimal) -> CreateInvoice {
    CreateInvoice {
        shop_id: DEV_SHOP_ID.to_owned(),
        amount,
        currency: Some("USD".to_owned()),
        order_id: Some(format!("order-{}", uuid_like())),
        email: Some("buyer@example.com".to_owned()),
        add_fields: Some(AddFields {
            time_to_pay: Some(TimeToPay {
                hours: 0,
                minutes: 30,
            }),
            ..AddFields::default()
        }),
    }
}

fn uuid_like() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestSandbox {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create(&self, amount: Decimal) -> Invoice {
        self.client
            .create_invoice(&new_invoice(amount))
            .await
            .expect("invoice created")
    }

    pub async fn info(&self, id: &InvoiceId) -> Invoice {
        let mut found = self
            .client
            .invoice_info(std::slice::from_ref(id))
            .await
            .expect("info");
        assert_eq!(found.len(), 1, "{found:?}");
        found.remove(0)
    }

    /// `POST /sandbox/invoices/{id}/pay` with a JSON body.
    pub async fn pay(&self, id: &InvoiceId, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/sandbox/invoices/{id}/pay")))
            .json(&body)
            .send()
            .await
            .expect("pay answered")
    }

    /// Pays and expects 200; returns the answer's JSON.
    pub async fn pay_ok(&self, id: &InvoiceId, body: Value) -> Value {
        let response = self.pay(id, body).await;
        let status = response.status();
        let json: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{json}");
        json
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("answered")
    }

    /// The delivery log once it has at least `min` entries (fails after the deadline).
    pub async fn deliveries(&self, id: &InvoiceId, min: usize) -> Vec<DeliveryAttempt> {
        let log: Vec<DeliveryAttempt> = self
            .http
            .get(self.url(&format!(
                "/sandbox/invoices/{id}/deliveries?min={min}&wait_ms=10000"
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(log.len() >= min, "expected {min} deliveries, got {log:#?}");
        log
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Captured {
    pub fn postback(&self) -> Postback {
        Postback::parse(self.content_type.as_deref(), &self.body).expect("the postback parses")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    /// Statuses to answer with, in order; 200 once empty.
    script: Mutex<VecDeque<u16>>,
    /// Hold every request until this many have arrived (proves concurrency).
    gate: Mutex<Option<usize>>,
    arrived: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    changed: Notify,
}

/// Records postbacks; answers as scripted.
pub struct Receiver {
    pub url: String,
    rx: mpsc::UnboundedReceiver<Captured>,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

struct ReceiverState {
    tx: mpsc::UnboundedSender<Captured>,
    shared: Arc<Shared>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let shared = &state.shared;
    let now_in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared
        .max_in_flight
        .fetch_max(now_in_flight, Ordering::SeqCst);
    shared.arrived.fetch_add(1, Ordering::SeqCst);
    shared.changed.notify_waiters();
    let gate = *shared.gate.lock().unwrap();
    if let Some(gate) = gate {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let notified = shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.arrived.load(Ordering::SeqCst) >= gate {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
    }
    let _ = state.tx.send(Captured {
        content_type: req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let status = shared.script.lock().unwrap().pop_front().unwrap_or(200);
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(serde_json::json!({"status": if status == 200 { "ok" } else { "nope" }}))
}

impl Receiver {
    pub async fn start() -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let state = web::Data::new(ReceiverState {
            tx,
            shared: shared.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/api/webhook/payment", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/api/webhook/payment"),
            rx,
            shared,
            handle,
        }
    }

    /// Answer the next requests with these statuses, then 200.
    pub fn script(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    /// Hold each request until `n` have arrived (or 3 s passed).
    pub fn gate(&self, n: usize) {
        *self.shared.gate.lock().unwrap() = Some(n);
    }

    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The next request, within the deadline.
    pub async fn next(&mut self) -> Captured {
        tokio::time::timeout(DEADLINE, self.rx.recv())
            .await
            .expect("a postback arrived in time")
            .expect("receiver open")
    }

    /// What has arrived so far, without waiting.
    pub fn drain(&mut self) -> Vec<Captured> {
        let mut all = Vec::new();
        while let Ok(c) = self.rx.try_recv() {
            all.push(c);
        }
        all
    }
}
