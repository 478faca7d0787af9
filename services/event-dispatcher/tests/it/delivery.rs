//! Delivery: signed bodies, retries with the same id, failure then resend and recover,
//! one delivery per event and endpoint, a slow endpoint delaying no other.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::receiver::Receiver;

use crate::helpers::{eventually, verify_independently, World, ADMIN, WAIT};

/// A payment event reaches the endpoint subscribed to it as the contract's JSON, signed so
/// that both an independent HMAC and the reference library verify it; an endpoint
/// subscribed to other types gets nothing.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_event_arrives_signed_at_every_subscribed_endpoint(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let subscribed = Receiver::start();
    let everything = Receiver::start();
    let other = Receiver::start();
    let (_, secret) = world
        .endpoint(&d, &subscribed.url(), &["payment.completed"])
        .await;
    let (_, all_secret) = world.endpoint(&d, &everything.url(), &["*"]).await;
    world
        .endpoint(&d, &other.url(), &["subscription.expired"])
        .await;

    let id = world.publish_payment(41).await;
    eventually(WAIT, "both subscribed endpoints got it", || async {
        subscribed.received().len() == 1 && everything.received().len() == 1
    })
    .await;
    let got = &subscribed.received()[0];
    assert_eq!(got.header("webhook-id"), Some(id.as_str()));
    assert_eq!(got.header("content-type"), Some("application/json"));
    let ts: i64 = got.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert!(
        verify_independently(&secret, got),
        "an independent HMAC verifies it"
    );
    assert!(
        !verify_independently(&all_secret, got),
        "another endpoint's secret does not"
    );
    let mut headers = http_headers(got);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&got.body, &headers)
        .expect("the reference library verifies it");
    headers.insert("webhook-id", "payment.completed-999".parse().unwrap());
    assert!(standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&got.body, &headers)
        .is_err());

    let body = got.json();
    assert_eq!(body["id"], id);
    assert_eq!(body["type"], "payment.completed");
    assert_eq!(body["data"]["payment_id"], 41);
    assert_eq!(body["data"]["amount"], "99.00");
    assert_eq!(body["data"]["invoice_id"], "INV-41");
    assert!(body["created_at"].is_string());
    assert!(verify_independently(&all_secret, &everything.received()[0]));
    // The endpoint subscribed elsewhere stays quiet (its log has nothing either).
    assert!(other.received().is_empty());
    d.stop().await;
}

fn http_headers(r: &test_support::receiver::Received) -> reqwest::header::HeaderMap {
    r.headers
        .iter()
        .map(|(k, v)| {
            (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            )
        })
        .collect()
}

/// An endpoint answering 500 twice is attempted again on the schedule, with the same
/// `webhook-id` every time, and its log shows the three attempts.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn failed_attempts_are_retried_with_the_same_id(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    receiver.fail_first(2);
    let (endpoint, secret) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    let id = world.publish_payment(1).await;
    eventually(WAIT, "the third attempt succeeded", || async {
        world.log(&d, &endpoint, "?status=delivered").await.len() == 1
    })
    .await;
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == Some(id.as_str())));
    assert!(got.iter().all(|r| verify_independently(&secret, r)));
    let log = world.log(&d, &endpoint, "").await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    let statuses: Vec<i64> = attempts
        .iter()
        .map(|a| a["response_status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(log[0]["event_type"], "payment.completed");
    assert!(log[0]["next_attempt_at"].is_null());
    d.stop().await;
}

/// Past its schedule a delivery is `failed`; a resend delivers it with the same id, and a
/// recover makes every failed one since a time due again.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_failed_delivery_is_resent_and_failures_recovered(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    receiver.answer_with(503);
    let (endpoint, _) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    let before = chrono::Utc::now();
    let first = world.publish_payment(1).await;
    let second = world.publish_payment(2).await;
    eventually(WAIT, "both deliveries failed", || async {
        world.log(&d, &endpoint, "?status=failed").await.len() == 2
    })
    .await;
    // The schedule (two retries) was spent: three attempts each.
    assert_eq!(receiver.received().len(), 6);
    assert!(world.log(&d, &endpoint, "?status=pending").await.is_empty());

    receiver.answer_with(204);
    let failed = world.log(&d, &endpoint, "?status=failed").await;
    let one = failed.iter().find(|l| l["event_id"] == first).unwrap();
    let res = world
        .http
        .post(d.url(&format!(
            "/api/v1/admin/deliveries/{}/resend",
            one["delivery_id"].as_str().unwrap()
        )))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["attempt"]["response_status"], 204);
    assert_eq!(
        receiver.received().last().unwrap().header("webhook-id"),
        Some(first.as_str())
    );

    let res = world
        .http
        .post(d.url(&format!(
            "/api/v1/admin/webhook-endpoints/{endpoint}/recover"
        )))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "since": before }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["recovered"], 1, "only the one still failed");
    eventually(WAIT, "the recovered delivery arrived", || async {
        world.log(&d, &endpoint, "?status=delivered").await.len() == 2
    })
    .await;
    assert_eq!(
        receiver.received().last().unwrap().header("webhook-id"),
        Some(second.as_str())
    );
    // The time window: nothing was made after now.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let query = format!("?since={}", urlencode(&later));
    assert!(world.log(&d, &endpoint, &query).await.is_empty());
    d.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// The same event published twice (the relay re-sends after a lost confirm) is delivered
/// once to each endpoint.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_redelivered_event_is_delivered_once(opts: PgPoolOptions, connect: PgConnectOptions) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    let (endpoint, _) = world.endpoint(&d, &receiver.url(), &["*"]).await;
    world.publish_payment(5).await;
    world.publish_payment(5).await;
    world.publish_payment(6).await;
    eventually(WAIT, "two events delivered", || async {
        world.log(&d, &endpoint, "?status=delivered").await.len() == 2
    })
    .await;
    // The later event (6) was stored after both copies of 5: nothing more will come.
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(events, 2);
    d.stop().await;
}

/// An endpoint that takes seconds to answer holds only its own slots: another endpoint
/// gets every event while the slow one is still working through its first few.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_slow_endpoint_delays_no_other(opts: PgPoolOptions, connect: PgConnectOptions) {
    let world = World::new(opts, connect).await;
    let mut settings = world.settings();
    settings.dispatch_concurrency = 12;
    settings.dispatch_endpoint_concurrency = 4;
    settings.dispatch_timeout_secs = 30;
    let d = world.start(settings).await;
    let slow = Receiver::start();
    slow.delay(Duration::from_secs(3));
    let fast = Receiver::start();
    world.endpoint(&d, &slow.url(), &["*"]).await;
    world.endpoint(&d, &fast.url(), &["*"]).await;
    let started = Instant::now();
    for n in 0..30 {
        world.publish_payment(n).await;
    }
    eventually(WAIT, "the fast endpoint got all 30", || async {
        fast.received().len() == 30
    })
    .await;
    // 30 answers at 3 s each, 4 at a time, take over 20 s; the fast one did not wait.
    // And the slow one never had more than its 4 slots: at most 4 more per 3 s round.
    let rounds = started.elapsed().as_secs() / 3 + 1;
    assert!(
        slow.received().len() as u64 <= 4 * rounds,
        "{} requests to the slow endpoint in {:?}",
        slow.received().len(),
        started.elapsed()
    );
    assert!(
        slow.answered() < 30,
        "the slow endpoint answered {} in {:?}",
        slow.answered(),
        started.elapsed()
    );
    d.stop().await;
}

/// The backlog gauges count what waits to be attempted: not the deliveries of a disabled
/// endpoint, which wait for it to be enabled again.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_backlog_leaves_out_disabled_endpoints(pool: sqlx::PgPool) {
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled)
         VALUES ($1, 'https://example.com/', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '{*}', false)",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, body, occurred_at)
         VALUES ('e1', 'payment.completed', '{}', now())",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at)
         VALUES (gen_random_uuid(), 'e1', $1, 'pending', now() - interval '1 hour')",
    )
    .bind(id)
    .execute(&pool)
    .await
    .unwrap();
    let b = event_dispatcher::deliveries::backlog(&pool).await.unwrap();
    assert_eq!((b.pending, b.oldest_due_secs), (0, 0.0));
    sqlx::query("UPDATE webhook_endpoints SET enabled = true")
        .execute(&pool)
        .await
        .unwrap();
    let b = event_dispatcher::deliveries::backlog(&pool).await.unwrap();
    assert_eq!(b.pending, 1);
    assert!(b.oldest_due_secs >= 3599.0, "{b:?}");
}

/// A message that is not an event (undecodable, or a type we do not send) goes to the
/// dispatcher's DLQ and holds up nothing: the event after it is delivered.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn what_is_not_an_event_is_dead_lettered_and_blocks_nothing(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let receiver = Receiver::start();
    world.endpoint(&d, &receiver.url(), &["*"]).await;
    world
        .publish(
            events::messaging::ROUTING_KEY_PAYMENT_COMPLETED,
            "garbage-1",
            &[0xff, 0xff],
        )
        .await;
    world
        .publish("subscription.refunded", "unknown-1", b"")
        .await;
    let id = world.publish_payment(8).await;
    eventually(WAIT, "the event after them is delivered", || async {
        receiver.received().len() == 1
    })
    .await;
    assert_eq!(
        receiver.received()[0].header("webhook-id"),
        Some(id.as_str())
    );
    eventually(WAIT, "both are in the DLQ", || async {
        world.queue_len(&world.topology.dead_letter_queue).await == 2
    })
    .await;
    d.stop().await;
}

/// A backlog is stored in groups (one transaction per group of what arrived together):
/// every event once, one delivery per subscribed endpoint, a copy of an event in the same
/// backlog adds nothing, and a message in the middle that is not an event is dead-lettered
/// alone while the rest of its group is stored and delivered, each with its one id.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_backlog_is_stored_in_groups_each_event_once_per_endpoint(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const EVENTS: i64 = 250;
    let world = World::new(opts, connect).await;
    let d = world.start(world.settings()).await;
    let payments = Receiver::start();
    let everything = Receiver::start();
    world
        .endpoint(&d, &payments.url(), &["payment.completed"])
        .await;
    world.endpoint(&d, &everything.url(), &["*"]).await;
    // Stopped, so the backlog waits in the queue and arrives in full groups.
    d.stop().await;
    for n in 1..=EVENTS {
        world.publish_payment(n).await;
        if n == EVENTS / 2 {
            world
                .publish(
                    events::messaging::ROUTING_KEY_PAYMENT_COMPLETED,
                    "garbage-in-a-group",
                    &[0xff],
                )
                .await;
            world.publish_payment(1).await; // a copy of the first
        }
    }
    let d = world.start(world.settings()).await;
    eventually(WAIT, "every event reaches both endpoints", || async {
        payments.received().len() >= EVENTS as usize
            && everything.received().len() >= EVENTS as usize
    })
    .await;
    for receiver in [&payments, &everything] {
        let ids: std::collections::BTreeSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_string))
            .collect();
        assert_eq!(ids.len(), EVENTS as usize, "one id per event");
    }
    let (events, deliveries): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhook_events), (SELECT count(*) FROM webhook_deliveries)",
    )
    .fetch_one(&world.pool)
    .await
    .unwrap();
    assert_eq!((events, deliveries), (EVENTS, 2 * EVENTS));
    // Rows written by one transaction share its id (`xmin`): far fewer than one per event.
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM webhook_events")
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert!(
        transactions <= EVENTS / 4,
        "{transactions} transactions stored {EVENTS} events"
    );
    eventually(
        WAIT,
        "the queue is empty and the DLQ holds the one bad message",
        || async {
            world.queue_len(&world.topology.work_queue).await == 0
                && world.queue_len(&world.topology.dead_letter_queue).await == 1
        },
    )
    .await;
    d.stop().await;
}
