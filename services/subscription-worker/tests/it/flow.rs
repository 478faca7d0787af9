//! The main path: a paid postback upgrades, unpaid, partial and overpaid invoices do what
//! the contract says, and nothing is taken from the postback itself.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal_macros::dec;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::Outcome;

use crate::helpers::{eventually, process_one, World};

const WAIT: Duration = Duration::from_secs(15);

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_paid_invoices_postback_upgrades_the_user_once(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let events = world.event_queue().await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    let worker = world.start_worker().await;

    world.publish_postback("postback-1", &invoice).await;
    eventually(WAIT, "the payment is completed", || async {
        world.payment_status(payment_id).await == "completed"
    })
    .await;

    let (tier, expires, limit) = world.user(1).await;
    let paid_at: DateTime<Utc> = sqlx::query_scalar("SELECT paid_at FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(tier, "pro");
    assert_eq!(limit, 100_000);
    assert_eq!(
        expires,
        Some(world.months_from(paid_at, 1).await),
        "expiry is now + 1 calendar month"
    );
    let stored_status: String =
        sqlx::query_scalar("SELECT payment_data->>'status' FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert_eq!(
        stored_status, "paid",
        "CryptoCloud's invoice info is kept in payment_data"
    );
    let (outcome, with_received_at): (String, bool) = sqlx::query_as(
        "SELECT outcome, received_at IS NOT NULL FROM processed_messages WHERE message_id = 'postback-1'",
    )
    .fetch_one(&world.pool)
    .await
    .unwrap();
    assert_eq!((outcome.as_str(), with_received_at), ("completed", true));

    // The relay publishes the events after commit (payment.completed and
    // subscription.upgraded) and marks them sent.
    eventually(WAIT, "the outbox events are published", || async {
        world
            .count("SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL")
            .await
            == 2
    })
    .await;
    let published = world.drain_events(&events).await;
    assert_eq!(published.len(), 1, "{published:?}");
    // The event also has its home: the dispatcher's queue, declared by the worker.
    let home = world.events_home();
    assert_eq!(home.bindings, ["payment.#", "subscription.#"]);
    assert_eq!(world.queue_len(&home.work_queue).await, 2);
    let (message_id, event) = &published[0];
    assert_eq!(
        (event.user_id, event.payment_id, event.months),
        (1, payment_id, 1)
    );
    assert_eq!(event.tier, "pro");
    assert_eq!(event.invoice_id, invoice.uuid.prefixed());
    assert_eq!(message_id.as_deref(), Some(event.event_id.as_str()));
    eventually(WAIT, "the delivery is counted as completed", || async {
        worker.stat("completed") == 1
    })
    .await;

    // Operations endpoints.
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", worker.port);
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("worker_messages_total{outcome=\"completed\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("worker_postback_to_applied_seconds"),
        "{metrics}"
    );

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_postback_for_an_invoice_still_created_changes_nothing(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    let worker = world.start_worker().await;

    // Signed and well-formed, and it claims "paid": CryptoCloud says `created`.
    world.publish_postback("forged-hint", &invoice).await;
    eventually(WAIT, "the postback is handled", || async {
        worker.stat("ignored") == 1
    })
    .await;

    assert_eq!(world.payment_status(payment_id).await, "pending");
    assert_eq!(world.user(1).await, ("free".to_string(), None, 100));
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        0
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        0
    );
    assert_eq!(
        world.queue_len(&world.topology.work_queue).await,
        0,
        "the message was acked"
    );
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);

    // A canceled invoice changes nothing either.
    world
        .sandbox_control(
            &format!("/sandbox/invoices/{}/expire", invoice.uuid.prefixed()),
            serde_json::json!({}),
        )
        .await;
    world.publish_postback("after-expiry", &invoice).await;
    eventually(WAIT, "the second postback is handled", || async {
        worker.stat("ignored") == 2
    })
    .await;
    assert_eq!(world.payment_status(payment_id).await, "pending");

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_partial_payment_is_recorded_without_upgrade_and_completes_when_topped_up(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    let ctx = world.context();

    world.pay(&invoice, Some(dec!(1))).await;
    let outcome = process_one(&ctx, &world.postback("partial-1", &invoice)).await;
    assert_eq!(outcome, Outcome::Partial { payment_id });
    assert_eq!(world.payment_status(payment_id).await, "partial");
    assert_eq!(
        world.user(1).await,
        ("free".to_string(), None, 100),
        "no upgrade for a partial payment"
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        0
    );

    // The payer tops up; CryptoCloud's next postback is a new message.
    world.pay(&invoice, None).await;
    let outcome = process_one(&ctx, &world.postback("paid-1", &invoice)).await;
    assert!(
        matches!(outcome, Outcome::Applied { payment_id: p, user_id: 1, .. } if p == payment_id),
        "{outcome:?}"
    );
    assert_eq!(world.payment_status(payment_id).await, "completed");
    assert_eq!(world.user(1).await.0, "pro");
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        1
    );

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_overpaid_invoice_completes_like_a_paid_one(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 3).await;
    world.pay(&invoice, Some(dec!(1000000))).await;
    let info = world
        .cryptocloud
        .invoice_info(std::slice::from_ref(&invoice.uuid))
        .await
        .unwrap();
    assert_eq!(
        info[0].status.as_str(),
        "overpaid",
        "the sandbox reports the overpayment"
    );

    let outcome = process_one(&world.context(), &world.postback("overpaid-1", &invoice)).await;
    let Outcome::Applied { new_expiry, .. } = outcome else {
        panic!("{outcome:?}")
    };
    let paid_at: DateTime<Utc> = sqlx::query_scalar("SELECT paid_at FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(new_expiry, world.months_from(paid_at, 3).await);
    assert_eq!(
        world.user(1).await,
        ("pro".to_string(), Some(new_expiry), 100_000)
    );

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_invoice_for_another_amount_is_dead_lettered_and_changes_nothing(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let order_id = world.unique("order");
    // The invoice asks for 5 USD, our payment says 99.
    let invoice = world.create_invoice(&order_id, "5").await;
    let payment_id = world
        .insert_payment(1, Some(&invoice), &order_id, "99", 1, "pending")
        .await;
    world.pay(&invoice, None).await;
    let worker = world.start_worker().await;

    world.publish_postback("cheap", &invoice).await;
    eventually(WAIT, "the message is dead-lettered", || async {
        worker.stat("dead_lettered") == 1
    })
    .await;
    assert_eq!(world.payment_status(payment_id).await, "pending");
    assert_eq!(world.user(1).await.0, "free");
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        0
    );
    let listed = subscription_worker::dlq::list(&world.broker).await.unwrap();
    assert_eq!(listed.len(), 1);
    let reason = listed[0].reason.clone().unwrap_or_default();
    assert!(reason.contains("amount"), "{reason}");
    assert_eq!(listed[0].reason_code.as_deref(), Some("mismatch"));

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cryptocloud_errors_are_retried_not_taken_as_answers(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    world
        .sandbox_control(
            "/sandbox/faults",
            serde_json::json!({"error_rate": 1.0, "error_status": 500}),
        )
        .await;
    let worker = world.start_worker().await;

    world.publish_postback("during-outage", &invoice).await;
    eventually(WAIT, "the postback is retried twice", || async {
        worker.stat("retried") >= 2
    })
    .await;
    assert_eq!(world.payment_status(payment_id).await, "pending");

    world
        .sandbox_control("/sandbox/faults", serde_json::json!({}))
        .await;
    eventually(
        WAIT,
        "the payment is completed after the outage",
        || async { world.payment_status(payment_id).await == "completed" },
    )
    .await;
    // Counted after the commit and the ack.
    eventually(WAIT, "the delivery is counted as completed", || async {
        worker.stat("completed") == 1
    })
    .await;
    assert_eq!(worker.stat("dead_lettered"), 0);

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_tier_the_worker_does_not_know_is_refused_until_it_is_configured(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    sqlx::query("UPDATE payments SET subscription_tier = 'team' WHERE id = $1")
        .bind(payment_id)
        .execute(&world.pool)
        .await
        .unwrap();
    world.pay(&invoice, None).await;

    let outcome = process_one(&world.context(), &world.postback("team-1", &invoice)).await;
    assert_eq!(
        outcome,
        Outcome::DeadLetter(subscription_worker::Reason::UnknownTier("team".into()))
    );
    assert_eq!(world.payment_status(payment_id).await, "pending");

    // Checkout's `plans` setting adds the tier; the worker reads the same setting.
    let mut settings = world.settings();
    settings.plans = serde_json::from_value(
        serde_json::json!({"team": {"price": "299", "requests_limit": 5000}}),
    )
    .unwrap();
    let ctx = subscription_worker::Context::new(
        world.pool.clone(),
        world.cryptocloud.clone(),
        settings.plans().unwrap(),
    );
    let outcome = process_one(&ctx, &world.postback("team-1", &invoice)).await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    assert_eq!(world.user(1).await.0, "team");
    assert_eq!(world.user(1).await.2, 5000);

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_test_mode_invoice_is_applied_and_marked_unless_test_invoices_are_refused(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    // The sandbox's invoices are test-mode invoices, as a new CryptoCloud project's are.
    world.create_user(1).await;
    world.create_user(2).await;
    let (accepted, accepted_id) = world.pending_payment(1, 1).await;
    let (refused, refused_id) = world.pending_payment(2, 1).await;
    world.pay(&accepted, None).await;
    world.pay(&refused, None).await;

    // Default: applied, and payment_data says it was a test.
    let worker = world.start_worker().await;
    world.publish_postback("test-accepted", &accepted).await;
    eventually(WAIT, "the test invoice is applied", || async {
        world.payment_status(accepted_id).await == "completed"
    })
    .await;
    let marked: Option<bool> =
        sqlx::query_scalar("SELECT (payment_data->>'test_mode')::bool FROM payments WHERE id = $1")
            .bind(accepted_id)
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert_eq!(marked, Some(true));
    assert_eq!(world.user(1).await.0, "pro");
    worker.stop().await;

    // WORKER_ACCEPT_TEST_INVOICES=false: acknowledged, nothing changes.
    let mut settings = world.settings();
    settings.worker_accept_test_invoices = false;
    let worker = world.start_worker_with(settings).await;
    world.publish_postback("test-refused", &refused).await;
    eventually(WAIT, "the refused test invoice is handled", || async {
        worker.stat("ignored") == 1
    })
    .await;
    assert_eq!(world.payment_status(refused_id).await, "pending");
    assert_eq!(world.user(2).await, ("free".to_string(), None, 100));
    assert_eq!(
        world
            .count("SELECT count(*) FROM processed_messages WHERE message_id = 'test-refused'")
            .await,
        0
    );
    assert_eq!(
        world.queue_len(&world.topology.work_queue).await,
        0,
        "acked"
    );
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);

    // Reconciliation refuses it the same way.
    let report = subscription_worker::sweep::reconcile(&worker.context, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.completed, 0, "{report:?}");
    assert_eq!(world.payment_status(refused_id).await, "pending");

    worker.stop().await;
    world.cleanup().await;
}

/// A completed payment for another tier converts the time left at the ratio of monthly
/// prices, in either direction, then adds the paid months: nothing paid is lost.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_plan_change_converts_the_time_left_at_the_price_ratio(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let settings: subscription_worker::plans::PlanSettings = serde_json::from_value(
        serde_json::json!(r#"{"team": {"price": "297", "requests_limit": 1000000}}"#),
    )
    .unwrap();
    let ctx = subscription_worker::Context::new(
        world.pool.clone(),
        world.cryptocloud.clone(),
        subscription_worker::plans::Plans::from_settings(&settings).unwrap(),
    );
    // (user, tier now, days left, tier bought, price, days left afterwards before the month)
    let cases = [
        (1, "pro", 30, "team", "297", 10),
        (2, "team", 10, "pro", "99", 30),
    ];
    for (user, from, days, to, price, _) in cases {
        world.create_user(user).await;
        sqlx::query(
            "UPDATE users SET subscription_tier = $2, \
                              subscription_expires = now() + make_interval(days => $3) WHERE id = $1",
        )
        .bind(user)
        .bind(from)
        .bind(days)
        .execute(&world.pool)
        .await
        .unwrap();
        let order_id = world.unique("order");
        let invoice = world.create_invoice(&order_id, price).await;
        let payment = world
            .insert_payment(user, Some(&invoice), &order_id, price, 1, "pending")
            .await;
        sqlx::query("UPDATE payments SET subscription_tier = $2 WHERE id = $1")
            .bind(payment)
            .bind(to)
            .execute(&world.pool)
            .await
            .unwrap();
        world.pay(&invoice, None).await;
        let postback = world.postback(&format!("change-{user}"), &invoice);
        assert!(
            matches!(process_one(&ctx, &postback).await, Outcome::Applied { .. }),
            "user {user}"
        );
    }
    for (user, _, _, to, _, left) in cases {
        let (tier, expires, limit) = world.user(user).await;
        assert_eq!(tier, to);
        assert_eq!(limit, if to == "team" { 1_000_000 } else { 100_000 });
        let expected: DateTime<Utc> = sqlx::query_scalar(
            "SELECT ((now() + make_interval(days => $1)) AT TIME ZONE 'UTC' + interval '1 month') AT TIME ZONE 'UTC'",
        )
        .bind(left)
        .fetch_one(&world.pool)
        .await
        .unwrap();
        let off = (expires.unwrap() - expected).num_seconds().abs();
        assert!(
            off < 120,
            "user {user}: {expires:?} vs {expected} ({off} s off)"
        );
    }
    world.cleanup().await;
}
