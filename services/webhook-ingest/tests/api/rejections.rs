use chrono::Utc;
use cryptocloud::token::{unsigned_token, Algorithm};
use cryptocloud::{sign_postback_token, sign_with, IdClaim, Postback, PostbackFormat};
use serde_json::{json, Value};

use super::helpers::*;

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn with_token(p: &Postback, token: Option<String>) -> Postback {
    let mut p = p.clone();
    p.token = token;
    p
}

/// The JSON body of `p` with one field replaced (or removed, for `Value::Null` on a
/// missing key) as raw JSON.
fn json_with(p: &Postback, field: &str, value: Option<Value>) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&p.to_json_body()).unwrap();
    match value {
        Some(v) => body[field] = v,
        None => {
            body.as_object_mut().unwrap().remove(field);
        }
    }
    serde_json::to_vec(&body).unwrap()
}

fn case(name: &'static str, body: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        content_type: Some("application/json"),
        body,
        status,
        code,
    }
}

fn rejection_cases() -> Vec<Case> {
    let invoice = invoice();
    let good = postback(&invoice);
    let in_5_min = Utc::now() + chrono::Duration::minutes(5);
    let claims = json!({"id": invoice.code(), "exp": in_5_min.timestamp()});
    let token = |t: String| with_token(&good, Some(t)).to_json_body();
    let mut cases = vec![
        // Token problems: 401.
        case(
            "no token",
            with_token(&good, None).to_json_body(),
            401,
            "token_missing",
        ),
        case(
            "empty token",
            json_with(&good, "token", Some(json!(""))),
            401,
            "token_missing",
        ),
        case(
            "token not a JWT",
            token("not-a-jwt".into()),
            401,
            "token_malformed",
        ),
        case(
            "forged: signed with another key",
            token(sign_postback_token(
                &secret("guessed-key"),
                IdClaim::from(&invoice),
                in_5_min,
            )),
            401,
            "token_bad_signature",
        ),
        case(
            "expired beyond the leeway",
            token(sign_postback_token(
                &secret(SECRET),
                IdClaim::from(&invoice),
                Utc::now() - chrono::Duration::minutes(2),
            )),
            401,
            "token_expired",
        ),
        case(
            "issued for another invoice",
            token(sign_postback_token(
                &secret(SECRET),
                IdClaim::Str("ZZZZ9999".into()),
                in_5_min,
            )),
            401,
            "token_invoice_mismatch",
        ),
        case(
            "alg none",
            token(unsigned_token(&claims)),
            401,
            "token_algorithm",
        ),
        case(
            "HS512 with the right key",
            token(sign_with(Algorithm::HS512, SECRET.as_bytes(), &claims).unwrap()),
            401,
            "token_algorithm",
        ),
        case(
            "no exp claim",
            token(
                sign_with(
                    Algorithm::HS256,
                    SECRET.as_bytes(),
                    &json!({"id": invoice.code()}),
                )
                .unwrap(),
            ),
            401,
            "token_malformed",
        ),
        // Malformed bodies and fields: 400.
        case(
            "not JSON",
            b"{\"status\": \"success\",".to_vec(),
            400,
            "malformed_body",
        ),
        case("a JSON array", b"[1, 2]".to_vec(), 400, "malformed_body"),
        case("empty body", Vec::new(), 400, "malformed_body"),
        case(
            "no invoice id",
            json_with(&good, "invoice_id", None),
            400,
            "invalid_field",
        ),
        case(
            "invoice id of bad shape",
            json_with(&good, "invoice_id", Some(json!("INV-12/34"))),
            400,
            "invalid_field",
        ),
        case(
            "amount not a number",
            json_with(&good, "amount_crypto", Some(json!("lots"))),
            400,
            "invalid_field",
        ),
        case(
            "negative amount",
            json_with(&good, "amount_crypto", Some(json!(-1.5))),
            400,
            "invalid_field",
        ),
        case(
            "amount as a float overflow",
            json_with(&good, "amount_crypto", Some(json!(1e300))),
            400,
            "invalid_field",
        ),
        case(
            "no currency",
            json_with(&good, "currency", None),
            400,
            "invalid_field",
        ),
        case(
            "currency of bad shape",
            json_with(&good, "currency", Some(json!("US DT"))),
            400,
            "invalid_field",
        ),
        case(
            "status of bad shape",
            json_with(&good, "status", Some(json!("paid; drop table"))),
            400,
            "invalid_field",
        ),
        case(
            "a field twice",
            format!(
                r#"{{"status":"success","status":"success",{}"#,
                &String::from_utf8(good.to_json_body()).unwrap()[1..]
            )
            .into_bytes(),
            400,
            "invalid_field",
        ),
    ];
    cases.push(Case {
        name: "form with a broken amount",
        content_type: Some("application/x-www-form-urlencoded"),
        body: good
            .to_form_body()
            .replace("amount_crypto=25.012", "amount_crypto=25%2C012")
            .into_bytes(),
        status: 400,
        code: "invalid_field",
    });
    cases
}

#[tokio::test]
async fn every_rejected_postback_gets_its_status_and_code_and_publishes_nothing() {
    let app = spawn_app(|_| {}).await;

    for case in rejection_cases() {
        let body_text = String::from_utf8_lossy(&case.body).into_owned();
        let response = app.post_raw(case.content_type, case.body).await;
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        let (code, text) = error_code(response).await;
        assert_eq!(code, case.code, "{}: {text}", case.name);
        assert!(
            !text.contains(SECRET),
            "{}: the key leaked: {text}",
            case.name
        );
        // Nothing token-like is echoed back.
        if let Some(token) = serde_json::from_str::<Value>(&body_text)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
        {
            if token.len() > 8 {
                assert!(
                    !text.contains(&token),
                    "{}: the token was echoed: {text}",
                    case.name
                );
            }
        }
    }

    // A confirmed publish lands in the queue before its 200, in order: if any rejected
    // postback had been published, it would be ahead of this one.
    let valid = postback(&invoice());
    assert_eq!(app.post(&valid, PostbackFormat::Json).await.status(), 200);
    let (first, _) = app.observer.next().await;
    assert_eq!(first.message_id, expected_message_id(&valid));
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_refused_with_413_and_publishes_nothing() {
    let app = spawn_app(|_| {}).await;
    let mut body = postback(&invoice()).to_json_body();
    let pad = webhook_ingest::routes::BODY_LIMIT + 1 - body.len();
    body.splice(1..1, std::iter::repeat_n(b' ', pad));

    let response = app.post_raw(Some("application/json"), body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await.0, "payload_too_large");

    // Without Content-Length (chunked), the limit is enforced while streaming.
    let chunked = post_chunked(&app.address, &vec![b' '; 100 * 1024]).await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

    let valid = postback(&invoice());
    assert_eq!(app.post(&valid, PostbackFormat::Json).await.status(), 200);
    assert_eq!(
        app.observer.next().await.0.message_id,
        expected_message_id(&valid)
    );
    app.observer.assert_empty().await;
    app.cleanup().await;
}

#[tokio::test]
async fn other_methods_and_paths_get_json_errors() {
    let app = spawn_app(|_| {}).await;
    let response = app
        .client
        .get(app.url("/api/webhook/payment"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(error_code(response).await.0, "method_not_allowed");
    let response = app
        .client
        .post(app.url("/api/webhook/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await.0, "not_found");
    app.cleanup().await;
}

/// Sends a chunked POST by hand (reqwest always knows the length of an in-memory body)
/// and returns the raw response head.
async fn post_chunked(address: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/webhook/payment HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before it has read everything.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// A body trickled in slower than the deadline is answered 408 and frees the connection;
/// nothing is published.
#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_deadline_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(|s| s.ingest_body_timeout_ms = 400).await;
    let body = postback(&invoice()).to_json_body();
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/webhook/payment HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let (mut read, mut write) = stream.into_split();
        let trickle = async {
            for byte in body {
                if write.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        };
        let answer = async {
            // Until the error body is in (the server may keep the connection open).
            let mut response = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&response).contains("}}") {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => response.extend_from_slice(&buf[..n]),
                }
            }
            response
        };
        let mut response = Vec::new();
        tokio::select! {
            _ = trickle => {}
            r = answer => response = r,
        }
        String::from_utf8_lossy(&response).into_owned()
    });
    let response = tokio::time::timeout(std::time::Duration::from_secs(10), writer)
        .await
        .expect("answered before the whole body was sent")
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("body_timeout"), "{response}");
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    app.observer.assert_empty().await;
    app.cleanup().await;
}
