//! End-to-end: the five real binaries as processes on free ports, with their own database
//! and RabbitMQ vhost, driven only through HTTP.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use stack::client::StackClient;
use stack::receiver::DemoReceiver;
use stack::{Stack, StackConfig};

/// The service binaries sit next to the test's `deps` folder (`target/debug`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target/debug")
        .to_path_buf();
    for name in [
        "checkout",
        "webhook-ingest",
        "subscription-worker",
        "event-dispatcher",
        "cryptocloud-sandbox",
    ] {
        assert!(
            dir.join(name).exists(),
            "{name} is not built in {}: run `cargo build --workspace --bins` first (scripts/test.sh does)",
            dir.display()
        );
    }
    dir
}

fn artifacts(test: &str) -> PathBuf {
    let root = std::env::var("ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts"));
    let dir = root.join("e2e").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

async fn start(test: &str, postback_format: &str) -> (Stack, StackClient) {
    let (stack, client, _) = start_with_receiver(test, postback_format).await;
    (stack, client)
}

/// A stack whose dispatcher delivers every event to a receiver (the run command's demo
/// receiver, verifying each signature with the reference library).
async fn start_with_receiver(
    test: &str,
    postback_format: &str,
) -> (Stack, StackClient, DemoReceiver) {
    let receiver =
        DemoReceiver::start("127.0.0.1:0", stack::dev_credentials::WEBHOOK_SECRET, false).unwrap();
    let mut config = StackConfig::isolated(bin_dir(), artifacts(test)).expect("config");
    config.postback_format = postback_format.to_string();
    config.webhook_endpoints = Some(receiver.endpoints_setting());
    let stack = Stack::start(config).await.expect("stack starts");
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url()).unwrap();
    (stack, client, receiver)
}

fn expiry(sub: &Value) -> chrono::DateTime<chrono::Utc> {
    let raw = sub["expires_at"]
        .as_str()
        .or(sub["subscription_expires"].as_str())
        .unwrap_or_else(|| panic!("no expiry in {sub}"));
    chrono::DateTime::parse_from_rfc3339(raw)
        .expect("RFC 3339 expiry")
        .with_timezone(&chrono::Utc)
}

async fn pays_and_upgrades(format: &str) {
    let (stack, client, receiver) = start_with_receiver(&format!("pay-{format}"), format).await;
    let user = 101;
    let before = client.subscription(user).await.unwrap();
    assert_eq!(before["tier"], "free");

    let payment = client.checkout(user, "pro", 1).await.unwrap();
    assert_eq!(payment["status"], "pending");
    let invoice = payment["invoice_id"].as_str().unwrap().to_string();
    assert!(invoice.starts_with("INV-"), "{invoice}");
    client.pay(&invoice, json!({})).await.unwrap();

    let after = client
        .wait_for_subscription(user, Duration::from_secs(30), |s| s["tier"] == "pro")
        .await
        .unwrap();
    assert_eq!(after["requests_limit"], 100000);
    let days = (expiry(&after) - chrono::Utc::now()).num_days();
    assert!(
        (27..=31).contains(&days),
        "one month of pro, got {days} days"
    );
    let paid = client
        .payment(user, payment["payment_id"].as_i64().unwrap())
        .await
        .unwrap();
    assert_eq!(paid["status"], "completed");
    let deliveries = client.deliveries(&invoice).await.unwrap();
    assert!(
        deliveries.to_string().contains("200"),
        "the ingest accepted the postback: {deliveries}"
    );

    // The merchant's endpoint hears of it: the payment and the plan, each signed, once.
    let payment_id = payment["payment_id"].as_i64().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let of = |t: &str| -> Vec<stack::receiver::ReceivedEvent> {
        receiver
            .received()
            .into_iter()
            .filter(|e| e.event_type == t)
            .collect()
    };
    while of("payment.completed").is_empty() || of("subscription.upgraded").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhooks within 30 s: got {:?}",
            receiver.received()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let completed = of("payment.completed");
    assert_eq!(completed.len(), 1);
    assert!(completed[0].verified, "the signature verifies");
    let data = &completed[0].body["data"];
    assert_eq!(data["payment_id"], payment_id);
    assert_eq!(data["user_id"], user);
    assert_eq!(data["invoice_id"], invoice);
    assert_eq!(data["status"], "completed");
    let upgraded = of("subscription.upgraded");
    assert_eq!(upgraded.len(), 1);
    assert!(upgraded[0].verified);
    let data = &upgraded[0].body["data"];
    assert_eq!(data["tier"], "pro");
    assert_eq!(data["status"], "active");
    assert_eq!(data["previous_tier"], "free");
    assert_eq!(data["renews"], true);
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(data["expires_at"].as_str().unwrap()).unwrap(),
        expiry(&after)
    );
    stack.destroy().await.unwrap();
    receiver.stop().await;
}

#[tokio::test]
async fn a_json_postback_upgrades_the_user() {
    pays_and_upgrades("json").await;
}

#[tokio::test]
async fn a_form_postback_upgrades_the_user() {
    pays_and_upgrades("form").await;
}

#[tokio::test]
async fn duplicate_and_delayed_postbacks_extend_the_plan_once() {
    let (stack, client) = start("duplicates", "json").await;
    let user = 202;
    let payment = client.checkout(user, "pro", 2).await.unwrap();
    let invoice = payment["invoice_id"].as_str().unwrap().to_string();
    client
        .pay(
            &invoice,
            json!({"times": 5, "concurrent": true, "delay_ms": 300}),
        )
        .await
        .unwrap();
    let after = client
        .wait_for_subscription(user, Duration::from_secs(30), |s| s["tier"] == "pro")
        .await
        .unwrap();
    // Wait until every copy was delivered and answered, then check nothing moved.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = client.deliveries(&invoice).await.unwrap();
        let answered = d
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["status"].as_u64() == Some(200))
                    .count()
            })
            .unwrap_or(0);
        if answered >= 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all 5 postbacks were answered 200: {d}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the worker drain the copies: poll its metrics for duplicates seen.
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http
            .get(format!("{}/metrics", stack.worker_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let duplicates: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("worker_messages_total{outcome=\"duplicate\"}"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if duplicates >= 4.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker did not see 4 duplicates:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let finally = client.subscription(user).await.unwrap();
    assert_eq!(
        expiry(&after),
        expiry(&finally),
        "duplicates did not extend the plan"
    );
    let days = (expiry(&finally) - chrono::Utc::now()).num_days();
    assert!(
        (56..=62).contains(&days),
        "two months exactly once, got {days} days"
    );
    stack.destroy().await.unwrap();
}

#[tokio::test]
async fn a_lost_postback_is_recovered_by_reconciliation() {
    let (stack, client) = start("lost", "json").await;
    let user = 303;
    let payment = client.checkout(user, "pro", 1).await.unwrap();
    let invoice = payment["invoice_id"].as_str().unwrap().to_string();
    client.pay(&invoice, json!({"lost": true})).await.unwrap();
    // No postback was sent: only the worker's reconciliation (after 3 s, every 2 s) can find it.
    let deliveries = client.deliveries(&invoice).await.unwrap();
    let sent = deliveries
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["outcome"] != "lost")
        .count();
    assert_eq!(sent, 0, "{deliveries}");
    client
        .wait_for_subscription(user, Duration::from_secs(45), |s| s["tier"] == "pro")
        .await
        .unwrap();
    stack.destroy().await.unwrap();
}

/// What CryptoCloud may really send, through the real binaries: numeric and absent token
/// ids, tokens in quotes or as a Python bytes repr, an `invoice_info` that is not JSON, sent
/// as nested form keys or left out, and info answers without `created` or any other
/// informational field. Every payment is applied.
#[tokio::test]
async fn cryptocloud_variants_of_postbacks_and_answers_all_upgrade() {
    let (stack, client) = start("variants", "form").await;
    let faults = reqwest::Client::new()
        .post(format!("{}/sandbox/faults", stack.sandbox_url()))
        .json(&json!({"sparse_info": true}))
        .send()
        .await
        .unwrap();
    assert!(faults.status().is_success(), "{faults:?}");
    // Each with a piece of the body it must have sent.
    let variants = [
        (
            json!({"id_claim": "int", "token_wrap": "quotes", "invoice_info": "not_json"}),
            "token=%22eyJ",
        ),
        (
            json!({"id_claim": "none", "token_wrap": "bytes", "invoice_info": "nested"}),
            "invoice_info%5Bstatus%5D=paid",
        ),
        (
            json!({"id_claim": "int", "invoice_info": "absent", "format": "json"}),
            "\"token\":\"eyJ",
        ),
        (
            json!({"token_wrap": "quotes", "invoice_info": "not_json", "format": "json"}),
            "\"invoice_info\":\"{'uuid'",
        ),
    ];
    for (i, (options, sent)) in variants.iter().enumerate() {
        let user = 400 + i as i64;
        let payment = client.checkout(user, "pro", 1).await.unwrap();
        let invoice = payment["invoice_id"].as_str().unwrap().to_string();
        client.pay(&invoice, options.clone()).await.unwrap();
        let after = client
            .wait_for_subscription(user, Duration::from_secs(30), |s| s["tier"] == "pro")
            .await
            .unwrap_or_else(|e| panic!("{options}: {e}"));
        assert_eq!(after["requests_limit"], 100000, "{options}");
        let deliveries = client.deliveries(&invoice).await.unwrap();
        let first = &deliveries[0];
        assert_eq!(first["status"], 200, "{options}: {first}");
        let body = first["request_body"].as_str().unwrap();
        assert!(body.contains(sent), "{options}: {body}");
    }
    stack.destroy().await.unwrap();
}

/// A whole renewal through the four real binaries: a month of Pro, the worker's sweep opens
/// the renewal invoice (a notice window longer than the month here), the subscription shows
/// it, paying it at the sandbox extends from the old expiry, and cancel and resume answer.
#[tokio::test]
async fn a_renewal_invoice_is_opened_paid_and_extends_the_plan() {
    let mut config = StackConfig::isolated(bin_dir(), artifacts("renewal")).expect("config");
    config.extra_env.insert(
        "subscription-worker".into(),
        [("RENEWAL_NOTICE_DAYS".to_string(), "40".to_string())].into(),
    );
    let stack = Stack::start(config).await.expect("stack starts");
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url()).unwrap();
    let user = 606;
    let payment = client.checkout(user, "pro", 1).await.unwrap();
    client
        .pay(payment["invoice_id"].as_str().unwrap(), json!({}))
        .await
        .unwrap();
    let first = client
        .wait_for_subscription(user, Duration::from_secs(30), |s| s["tier"] == "pro")
        .await
        .unwrap();
    let with_renewal = client
        .wait_for_subscription(user, Duration::from_secs(30), |s| !s["renewal"].is_null())
        .await
        .unwrap();
    let renewal = &with_renewal["renewal"];
    assert_eq!(renewal["amount"], "99.00", "{renewal}");
    assert_eq!(with_renewal["renews"], true);
    client
        .pay(renewal["invoice_id"].as_str().unwrap(), json!({}))
        .await
        .unwrap();
    let renewed = client
        .wait_for_subscription(user, Duration::from_secs(30), |s| {
            s["renewal"].is_null() && expiry(s) > expiry(&first)
        })
        .await
        .unwrap();
    let added = (expiry(&renewed) - expiry(&first)).num_days();
    assert!(
        (28..=31).contains(&added),
        "one more month from the old expiry: {added} days"
    );

    let canceled = client.change_subscription(user, "cancel").await.unwrap();
    assert_eq!(
        (canceled["renews"].as_bool(), canceled["tier"].as_str()),
        (Some(false), Some("pro"))
    );
    let resumed = client.change_subscription(user, "resume").await.unwrap();
    assert_eq!(resumed["renews"], true);
    assert_eq!(expiry(&resumed), expiry(&renewed), "the paid time stays");
    stack.destroy().await.unwrap();
}

/// The event dispatcher SIGKILLed while an attempt is in flight: once restarted, the event
/// arrives, with the same `webhook-id` as the attempt that was cut off.
#[tokio::test]
async fn a_webhook_survives_a_dispatcher_sigkill_mid_attempt() {
    let receiver = test_support::receiver::Receiver::start();
    // The first attempt hangs: the dispatcher is killed while waiting for the answer.
    receiver.delay(Duration::from_secs(60));
    let mut config = StackConfig::isolated(bin_dir(), artifacts("dispatcher-kill")).unwrap();
    config.webhook_endpoints = Some(
        json!([{"url": receiver.url(), "secret": stack::dev_credentials::WEBHOOK_SECRET,
                "events": ["payment.completed"]}])
        .to_string(),
    );
    config.extra_env.insert(
        "event-dispatcher".into(),
        [("DISPATCH_TIMEOUT_SECS".to_string(), "2".to_string())].into(),
    );
    let mut stack = Stack::start(config).await.unwrap();
    let client = StackClient::new(&stack.checkout_url(), &stack.sandbox_url()).unwrap();
    let payment = client.checkout(303, "pro", 1).await.unwrap();
    client
        .pay(payment["invoice_id"].as_str().unwrap(), json!({}))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while receiver.received().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stack.service_mut("event-dispatcher").kill().await.unwrap();
    receiver.delay(Duration::ZERO);
    assert_eq!(receiver.answered(), 0, "killed before it was answered");
    stack.service_mut("event-dispatcher").start().unwrap();

    // Its lease (the timeout plus a margin) runs out; the new process attempts it again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while receiver.answered() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not redelivered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    let expected = format!("payment.completed-{}", payment["payment_id"]);
    assert!(ids.len() >= 2, "{ids:?}");
    assert!(ids.iter().all(|id| *id == expected), "{ids:?}");
    stack.destroy().await.unwrap();
}

/// `BINARY healthcheck` (the compose healthcheck) exits 0 against each running service
/// and 1, saying why, once it is gone.
#[tokio::test]
async fn every_binary_checks_its_own_health() {
    let (mut stack, _) = start("healthcheck", "json").await;
    let p = stack.config.ports;
    let services = [
        ("checkout", "CHECKOUT_LISTEN", p.checkout),
        ("webhook-ingest", "INGEST_LISTEN", p.ingest),
        ("subscription-worker", "WORKER_LISTEN", p.worker),
        ("event-dispatcher", "DISPATCH_LISTEN", p.dispatcher),
        ("cryptocloud-sandbox", "SANDBOX_LISTEN", p.sandbox),
    ];
    let check = |name: &str, var: &str, port: u16| {
        std::process::Command::new(bin_dir().join(name))
            .arg("healthcheck")
            .env_clear()
            .env(var, format!("0.0.0.0:{port}"))
            .output()
            .expect("the binary runs")
    };
    for (name, var, port) in services {
        let out = check(name, var, port);
        assert!(
            out.status.success(),
            "{name} healthcheck: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stack.service_mut("event-dispatcher").kill().await.unwrap();
    let out = check("event-dispatcher", "DISPATCH_LISTEN", p.dispatcher);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stack.destroy().await.unwrap();
}

/// `stack trigger` drives every scenario through a running stack and reports what the
/// contract expects (it fails otherwise), and `stack listen` follows it meanwhile with a
/// line for each postback, payment change, event and webhook attempt.
#[tokio::test]
async fn stack_trigger_runs_every_scenario_and_stack_listen_follows_it() {
    use tokio::io::AsyncBufReadExt;

    let receiver =
        DemoReceiver::start("127.0.0.1:0", stack::dev_credentials::WEBHOOK_SECRET, false).unwrap();
    let mut config = StackConfig::isolated(bin_dir(), artifacts("toolbox")).expect("config");
    config.webhook_endpoints = Some(receiver.endpoints_setting());
    // A lost postback stays lost for the length of this test (reconciliation is tested above).
    config.worker_reconcile_after_secs = 600;
    let stack = Stack::start(config).await.expect("stack starts");
    let target = [
        "--checkout-url".to_string(),
        stack.checkout_url(),
        "--sandbox-url".into(),
        stack.sandbox_url(),
        "--dispatcher-url".into(),
        stack.dispatcher_url(),
    ];
    let tool = bin_dir().join("stack");
    assert!(
        tool.exists(),
        "the stack binary is built next to the services"
    );

    let mut listen = tokio::process::Command::new(&tool)
        .arg("listen")
        .args(["--database-url", &stack.database_url()])
        .args(&target)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("stack listen starts");
    let mut lines = tokio::io::BufReader::new(listen.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("stack listen is ready in time")
        .unwrap()
        .unwrap();
    assert!(first.starts_with("listening"), "{first}");
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let collector = {
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                heard.lock().unwrap().push(line);
            }
        })
    };

    let scenarios = [
        ("paid", "completed", vec![200], true),
        ("duplicate", "completed", vec![200, 200], true),
        ("overpaid", "completed", vec![200], true),
        ("partial", "partial", vec![200], false),
        ("expired", "pending", vec![200], false),
        ("bad-token", "pending", vec![401], false),
        ("lost", "pending", vec![], false),
    ];
    let mut payments = Vec::new();
    for (user, (scenario, status, answers, upgraded)) in (700..).zip(scenarios) {
        let out = tokio::process::Command::new(&tool)
            .args(["trigger", scenario, "--json", "--wait-secs", "20"])
            .args(["--user", &user.to_string()])
            .args(&target)
            .output()
            .await
            .expect("stack trigger runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "stack trigger {scenario}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_str(&stdout).expect("a JSON report");
        assert_eq!(report["payment_status"], status, "{scenario}: {report}");
        assert_eq!(report["postback_answers"], json!(answers), "{scenario}");
        assert_eq!(report["tier_after"] == "pro", upgraded, "{scenario}");
        assert_eq!(report["unexpected"], json!([]), "{scenario}");
        let services: Vec<&str> = report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["service"].as_str().unwrap())
            .collect();
        for service in ["checkout", "sandbox", "worker"] {
            assert!(
                services.contains(&service),
                "{scenario}: {service} in {services:?}"
            );
        }
        payments.push((scenario, report["payment_id"].as_i64().unwrap()));
    }
    // The paid one in detail: a webhook delivered per event, once each.
    let paid_webhooks = |scenario: &str| {
        payments
            .iter()
            .find(|(s, _)| *s == scenario)
            .map(|(_, id)| *id)
            .unwrap()
    };
    let paid = paid_webhooks("paid");
    let duplicate = paid_webhooks("duplicate");

    // What listen printed: the postbacks with the ingest's answers, the payments reaching
    // their states, the events written and published, the webhook attempts.
    let wanted = [
        "ingest answered 200".to_string(),
        "ingest answered 401".to_string(),
        "lost on the way".to_string(),
        format!("payment {paid} of user 700: completed"),
        format!("payment {duplicate} of user 701: completed"),
        "partial".to_string(),
        format!("payment.completed written (payment.completed-{paid})"),
        format!("payment.completed published to RabbitMQ (payment.completed-{paid})"),
        format!("subscription.upgraded (subscription-upgraded-{paid}) → "),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let missing: Vec<&String> = {
            let heard = heard.lock().unwrap();
            wanted
                .iter()
                .filter(|w| !heard.iter().any(|l| l.contains(w.as_str())))
                .collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stack listen did not print {missing:?}; it printed:\n{}",
            heard.lock().unwrap().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The duplicate's second postback made no second event.
    let heard = heard.lock().unwrap().clone();
    let written = heard
        .iter()
        .filter(|l| l.contains(&format!("written (payment.completed-{duplicate})")))
        .count();
    assert_eq!(
        written,
        1,
        "one event for the duplicate:\n{}",
        heard.join("\n")
    );

    listen.kill().await.unwrap();
    collector.abort();
    stack.destroy().await.unwrap();
    receiver.stop().await;
}

/// `stack --demo-lifecycle` (the run command's `--demo-lifecycle`): a whole subscription in
/// seconds on an isolated stack whose clock it moves: purchase, reminder and renewal
/// invoice, renewal paid from the old expiry, cancel, expiry to free, each with its webhook.
#[tokio::test]
async fn the_lifecycle_demo_shows_a_whole_subscription_in_seconds() {
    let out = tokio::process::Command::new(bin_dir().join("stack"))
        .arg("--demo-lifecycle")
        .output()
        .await
        .expect("stack --demo-lifecycle runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "1. bought Pro for a month",
        "2. inside the 7-day notice: renewal invoice INV-",
        "3. renewal paid: extended from the old expiry",
        "4. canceled: renews=false",
        "5. the plan ended: tier=free",
        "lifecycle demo: every step as the contract says",
    ] {
        assert!(stdout.contains(step), "{step:?} missing from:\n{stdout}");
    }
    for event in [
        "subscription.renewal_due",
        "subscription.canceled",
        "subscription.expired",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(event) && l.contains("signature ok")),
            "{event} webhook:\n{stdout}"
        );
    }
}
