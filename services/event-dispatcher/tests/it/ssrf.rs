//! The SSRF guard with `DISPATCH_ALLOW_PRIVATE` off: private destinations are refused when
//! an endpoint is saved and again at connect time; redirects are not followed; a huge
//! answer is not read.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::receiver::Receiver;

use crate::helpers::{eventually, World, ADMIN, WAIT};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn private_destinations_are_refused_when_saved(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_allow_private = false;
    let d = world.start(settings).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.0.1]/hook",
    ] {
        let res = world
            .http
            .post(d.url("/api/v1/admin/webhook-endpoints"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({"url": url, "events": ["*"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{url}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("DISPATCH_ALLOW_PRIVATE"),
            "{url}: {body}"
        );
    }
    d.stop().await;
}

/// A name that resolved to a public address when it was saved and to loopback now (DNS
/// rebinding; here the row is written directly) is refused when the attempt connects.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_name_resolving_to_a_private_address_is_refused_at_connect_time(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_allow_private = false;
    let d = world.start(settings).await;
    let receiver = Receiver::start();
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types) VALUES ($1, $2, $3, '{*}')",
    )
    .bind(id)
    .bind(format!("http://localhost:{}/webhooks", receiver.port))
    .bind("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    .execute(&world.pool)
    .await
    .unwrap();
    world.publish_payment(1).await;
    eventually(WAIT, "the delivery failed", || async {
        world.log(&d, &id.to_string(), "?status=failed").await.len() == 1
    })
    .await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
    let log = world.log(&d, &id.to_string(), "").await;
    let error = log[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("refused addresses"), "{error}");
    d.stop().await;
}

/// A redirect is recorded as a failed attempt and not followed; an answer of megabytes
/// is delivered (2xx) without being read whole.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn redirects_are_not_followed(opts: PgPoolOptions, connect: PgConnectOptions) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    receiver.answer_with(307);
    let (endpoint, _) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    world.publish_payment(1).await;
    eventually(WAIT, "the delivery failed", || async {
        world.log(&d, &endpoint, "?status=failed").await.len() == 1
    })
    .await;
    let log = world.log(&d, &endpoint, "").await;
    let attempt = &log[0]["attempts"][0];
    assert_eq!(attempt["response_status"], 307);
    assert_eq!(attempt["error"], "redirect not followed");
    // Three attempts (the schedule), each to the endpoint itself.
    assert_eq!(receiver.received().len(), 3);
    d.stop().await;
}

/// A raw TCP endpoint that answers every connection with `answer`.
async fn raw_endpoint(
    answer: fn(tokio::net::TcpStream) -> futures::future::BoxFuture<'static, ()>,
) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream));
        }
    });
    port
}

/// Reads the request head (the body may follow; it is not needed).
async fn read_head(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection reset, TLS spoken to a plain-HTTP port, and a 2xx with a 10 MB body:
/// the first two are recorded with their error and retried, the third is delivered
/// without reading the body whole; none delays a well-behaved endpoint.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn misbehaving_endpoints_are_recorded_and_retried(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    use futures::FutureExt;
    use tokio::io::AsyncWriteExt;
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let reset = raw_endpoint(|mut s| {
        async move {
            read_head(&mut s).await;
            // Linger 0: the close is a reset, not a clean end.
            let _ = s.set_zero_linger();
            drop(s);
        }
        .boxed()
    })
    .await;
    let huge = raw_endpoint(|mut s| {
        async move {
            read_head(&mut s).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-length: 10485760\r\n\r\n";
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..160 {
                if s.write_all(&chunk).await.is_err() {
                    return; // the dispatcher stopped reading
                }
            }
        }
        .boxed()
    })
    .await;
    let plain = Receiver::start();
    let good = Receiver::start();
    let (reset_id, _) = world
        .endpoint(&d, &format!("http://127.0.0.1:{reset}/"), &["*"])
        .await;
    let (tls_id, _) = world
        .endpoint(&d, &format!("https://127.0.0.1:{}/", plain.port), &["*"])
        .await;
    let (huge_id, _) = world
        .endpoint(&d, &format!("http://127.0.0.1:{huge}/"), &["*"])
        .await;
    world.endpoint(&d, &good.url(), &["*"]).await;
    world.publish_payment(1).await;
    eventually(WAIT, "the good endpoint got it", || async {
        good.received().len() == 1
    })
    .await;
    eventually(WAIT, "the huge answer counted as delivered", || async {
        world.log(&d, &huge_id, "?status=delivered").await.len() == 1
    })
    .await;
    for (endpoint, what) in [(&reset_id, "reset"), (&tls_id, "TLS")] {
        eventually(
            WAIT,
            &format!("the {what} endpoint's delivery failed"),
            || async { world.log(&d, endpoint, "?status=failed").await.len() == 1 },
        )
        .await;
        let log = world.log(&d, endpoint, "").await;
        let attempts = log[0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3, "{what}: the whole schedule");
        for a in attempts {
            assert!(a["response_status"].is_null(), "{what}: {a}");
            assert!(!a["error"].as_str().unwrap().is_empty(), "{what}: {a}");
        }
    }
    d.stop().await;
}
