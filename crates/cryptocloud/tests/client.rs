//! The HTTP client against a tiny in-test server that answers canned responses.

use std::time::Duration;

use chrono::NaiveDate;
use cryptocloud::{
    Client, ClientConfig, CreateInvoice, Error, InvoiceId, InvoiceStatus, ListInvoices,
};
use rust_decimal_macros::dec;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const API_KEY: &str = "test-api-key-0123456789";

#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

enum Reply {
    Answer {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: String,
    },
    /// Read the request, then never answer.
    Hang,
}

fn ok(result: &str) -> Reply {
    Reply::Answer {
        status: 200,
        headers: vec![],
        body: format!(r#"{{"status":"success","result":{result}}}"#),
    }
}

fn answer(status: u16, body: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![],
        body: body.to_owned(),
    }
}

/// Serves `replies` in order, one per connection, and reports each request.
async fn serve(replies: Vec<Reply>) -> (String, mpsc::UnboundedReceiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for reply in replies {
            let (mut stream, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let request = read_request(&mut stream).await;
                let _ = tx.send(request);
                match reply {
                    Reply::Answer {
                        status,
                        headers,
                        body,
                    } => {
                        let mut head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        stream.write_all(head.as_bytes()).await.unwrap();
                        stream.write_all(body.as_bytes()).await.unwrap();
                        stream.shutdown().await.ok();
                    }
                    Reply::Hang => std::future::pending::<()>().await,
                }
            });
        }
    });
    (base, rx)
}

async fn read_request(stream: &mut TcpStream) -> Request {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed before sending headers");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let target = request_line.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "client closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    Request {
        method,
        target,
        headers,
        body,
    }
}

fn client(base: &str) -> Client {
    Client::new(ClientConfig {
        base_url: base.to_owned(),
        api_key: SecretString::from(API_KEY),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
    })
    .unwrap()
}

const INVOICE: &str = r#"{"uuid":"INV-7Q2K9XAB","created":"2025-03-01 10:15:30.123456","status":"created",
  "amount":25.50,"link":"https://pay.cryptocloud.plus/7Q2K9XAB","order_id":"order-42"}"#;

#[tokio::test]
async fn create_invoice_sends_token_auth_and_exact_json() {
    let (base, mut rx) = serve(vec![ok(INVOICE)]).await;
    let req = CreateInvoice {
        shop_id: "Ab12Cd34Ef56Gh78".to_owned(),
        amount: dec!(25.50),
        order_id: Some("order-42".to_owned()),
        ..Default::default()
    };
    let invoice = client(&base).create_invoice(&req).await.unwrap();
    assert_eq!(invoice.uuid.prefixed(), "INV-7Q2K9XAB");
    assert_eq!(invoice.amount.to_string(), "25.50");
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/v2/invoice/create");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token {API_KEY}").as_str())
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        r#"{"shop_id":"Ab12Cd34Ef56Gh78","amount":25.50,"order_id":"order-42"}"#
    );
}

#[tokio::test]
async fn locale_goes_into_the_query_and_v2_suffix_is_tolerated() {
    let (base, mut rx) = serve(vec![ok(INVOICE)]).await;
    let c = client(&format!("{base}/v2/"));
    let req = CreateInvoice {
        shop_id: "s".to_owned(),
        amount: dec!(1),
        ..Default::default()
    };
    c.create_invoice_with_locale(&req, "ru").await.unwrap();
    assert_eq!(
        rx.recv().await.unwrap().target,
        "/v2/invoice/create?locale=ru"
    );
}

#[tokio::test]
async fn invoice_info_sends_uuids() {
    let (base, mut rx) = serve(vec![ok(&format!("[{INVOICE}]"))]).await;
    let ids = [
        InvoiceId::parse("7q2k9xab").unwrap(),
        InvoiceId::parse("8HJK2MNP").unwrap(),
    ];
    let invoices = client(&base).invoice_info(&ids).await.unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].status, InvoiceStatus::Created);
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.target, "/v2/invoice/merchant/info");
    assert_eq!(
        seen.json(),
        serde_json::json!({"uuids": ["INV-7Q2K9XAB", "INV-8HJK2MNP"]})
    );
}

#[tokio::test]
async fn invoice_info_limits_are_checked_locally() {
    // No server: a request would fail with a transport error instead.
    let c = client("http://127.0.0.1:9");
    assert!(c.invoice_info(&[]).await.unwrap().is_empty());
    let ids: Vec<InvoiceId> = (0..101)
        .map(|i| InvoiceId::parse(&format!("AAAA{i:04}")).unwrap())
        .collect();
    match c.invoice_info(&ids).await.unwrap_err() {
        Error::Validation { fields } => assert!(fields.contains_key("uuids")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cancel_invoice_ok_and_not_created() {
    let (base, mut rx) = serve(vec![
        ok(r#"["ok"]"#),
        answer(
            400,
            r#"{"status":"error","result":{"validate_error":"Invoice is not created"}}"#,
        ),
    ])
    .await;
    let c = client(&base);
    let id = InvoiceId::parse("7Q2K9XAB").unwrap();
    c.cancel_invoice(&id).await.unwrap();
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.target, "/v2/invoice/merchant/canceled");
    assert_eq!(seen.json(), serde_json::json!({"uuid": "INV-7Q2K9XAB"}));
    match c.cancel_invoice(&id).await.unwrap_err() {
        Error::Validation { fields } => {
            assert_eq!(fields["validate_error"], "Invoice is not created")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn list_statistics_and_balance_paths_and_bodies() {
    let (base, mut rx) = serve(vec![
        ok(&format!("[{INVOICE}]")),
        ok(r#"{"count":{"all":1,"created":1,"paid":0,"overpaid":0,"partial":0,"canceled":0},"amount":{"all":25.5,"created":25.5,"paid":0,"overpaid":0,"partial":0,"canceled":0}}"#),
        ok(r#"[{"currency":{"code":"BTC"},"balance_crypto":0.00012345,"balance_usd":10,"available_balance":0,"available_balance_usd":0}]"#),
    ])
    .await;
    let c = client(&base);
    let start = NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
    let end = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
    let list = c
        .list_invoices(&ListInvoices {
            start,
            end,
            offset: 0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.target, "/v2/invoice/merchant/list");
    assert_eq!(
        seen.json(),
        serde_json::json!({"start":"01.03.2025","end":"31.03.2025","offset":0,"limit":10})
    );

    let stats = c.statistics(start, end).await.unwrap();
    assert_eq!(stats.amount.all, dec!(25.5));
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.target, "/v2/invoice/merchant/statistics");
    assert_eq!(
        seen.json(),
        serde_json::json!({"start":"01.03.2025","end":"31.03.2025"})
    );

    let balances = c.balance().await.unwrap();
    assert_eq!(balances[0].balance_crypto.to_string(), "0.00012345");
    let seen = rx.recv().await.unwrap();
    assert_eq!(seen.target, "/v2/merchant/wallet/balance/all");
    assert_eq!(seen.method, "POST");
    assert!(seen.body.is_empty());
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token {API_KEY}").as_str())
    );

    // Reversed dates never reach the server.
    assert!(matches!(
        c.statistics(end, start).await,
        Err(Error::Validation { .. })
    ));
}

#[tokio::test]
async fn error_mapping_over_http() {
    let (base, _rx) = serve(vec![
        answer(403, r#"{"detail":"Signature verification failed"}"#),
        answer(
            400,
            r#"{"status":"error","result":{"authorization":"Unauthorized request."}}"#,
        ),
        Reply::Answer {
            status: 429,
            headers: vec![("retry-after", "3")],
            body: String::new(),
        },
        answer(500, "internal error"),
        answer(200, r#"{"status":"success","result":{"unexpected":true}}"#),
    ])
    .await;
    let c = client(&base);
    let id = InvoiceId::parse("7Q2K9XAB").unwrap();
    let ids = [id.clone()];

    let e = c.balance().await.unwrap_err();
    assert!(
        matches!(&e, Error::Unauthorized { message } if message == "Signature verification failed"),
        "{e:?}"
    );
    assert!(!e.is_retryable());

    let e = c.cancel_invoice(&id).await.unwrap_err();
    assert!(
        matches!(&e, Error::Unauthorized { message } if message == "Unauthorized request."),
        "{e:?}"
    );

    let e = c.invoice_info(&ids).await.unwrap_err();
    assert!(
        matches!(e, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)),
        "{e:?}"
    );
    assert!(e.is_retryable());

    let e = c.invoice_info(&ids).await.unwrap_err();
    assert!(
        matches!(&e, Error::Server { status: 500, message } if message == "internal error"),
        "{e:?}"
    );
    assert!(e.is_retryable());

    let e = c.invoice_info(&ids).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn timeout_is_a_retryable_transport_error() {
    let (base, mut rx) = serve(vec![Reply::Hang]).await;
    let c = Client::new(ClientConfig {
        base_url: base,
        api_key: SecretString::from(API_KEY),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(300),
    })
    .unwrap();
    let e = c.balance().await.unwrap_err();
    assert!(matches!(e, Error::Transport { timeout: true, .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(!e.to_string().contains(API_KEY));
    assert!(rx.recv().await.is_some(), "the request reached the server");
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_without_the_key() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = client(&format!("http://{addr}"))
        .balance()
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Transport { timeout: false, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert!(!e.to_string().contains(API_KEY));
    assert!(!format!("{e:?}").contains(API_KEY));
}

#[test]
fn bad_configuration_is_refused() {
    let config = |base: &str, key: &str| ClientConfig::new(base, SecretString::from(key));
    assert!(matches!(
        Client::new(config("not a url", "k")),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        Client::new(config("ftp://x", "k")),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        Client::new(config("http://x", "")),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        Client::new(config("http://x", "bad\nkey")),
        Err(Error::Config { .. })
    ));
    let c = Client::new(config("https://api.cryptocloud.plus/v2", API_KEY)).unwrap();
    assert_eq!(c.base_url(), "https://api.cryptocloud.plus");
    assert!(!format!("{c:?}").contains(API_KEY));
    assert!(!format!("{:?}", config("http://x", API_KEY)).contains(API_KEY));
}
