//! The local demo receiver: a merchant's webhook endpoint that checks each signature with
//! the Standard Webhooks reference library (as a merchant would), prints one line per
//! event, and keeps what it received for the end-to-end tests. A bad signature is
//! answered 400, so the dispatcher's log shows it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// One webhook as received.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// `webhook-id`.
    pub id: String,
    /// The body's `type`.
    pub event_type: String,
    pub verified: bool,
    pub body: Value,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

struct State {
    secret: String,
    print: bool,
    received: Mutex<Vec<ReceivedEvent>>,
}

pub struct DemoReceiver {
    pub port: u16,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl DemoReceiver {
    /// Listens on `addr` (`127.0.0.1:0` for a free port); `print`s a line per webhook.
    pub fn start(addr: &str, secret: &str, print: bool) -> anyhow::Result<Self> {
        let state = Arc::new(State {
            secret: secret.to_string(),
            print,
            received: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            port,
            state,
            handle,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks", self.port)
    }

    /// `WEBHOOK_ENDPOINTS` subscribing this receiver to every event.
    pub fn endpoints_setting(&self) -> String {
        serde_json::json!([{"url": self.url(), "secret": self.state.secret, "events": ["*"]}])
            .to_string()
    }

    pub fn received(&self) -> Vec<ReceivedEvent> {
        self.state.received.lock().expect("not poisoned").clone()
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn receive(state: web::Data<State>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let received_at = chrono::Utc::now();
    let mut headers = http::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let verified = standardwebhooks::Webhook::new(&state.secret)
        .and_then(|w| w.verify(&body, &headers))
        .is_ok();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let event = ReceivedEvent {
        id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        event_type: json["type"].as_str().unwrap_or("?").to_string(),
        verified,
        body: json,
        received_at,
    };
    if state.print {
        let data = &event.body["data"];
        println!(
            "  webhook  {:<28} user {:<6} {}  id {}",
            event.event_type,
            data["user_id"],
            if verified {
                "signature ok"
            } else {
                "BAD SIGNATURE"
            },
            event.id
        );
    }
    state.received.lock().expect("not poisoned").push(event);
    if verified {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::BadRequest().body("signature does not verify")
    }
}
