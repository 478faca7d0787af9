//! Retries with back-off, the dead-letter queue and replaying from it.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::dlq::{self, Selector};

use crate::helpers::{eventually, World, PRICE};

const WAIT: Duration = Duration::from_secs(20);

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_postback_that_arrives_before_its_payment_row_is_applied_once_the_row_appears(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let order_id = world.unique("order");
    let invoice = world.create_invoice(&order_id, PRICE).await;
    world.pay(&invoice, None).await;
    let worker = world.start_worker().await;

    // Checkout has not committed its row yet.
    world.publish_postback("early", &invoice).await;
    eventually(WAIT, "the postback is retried", || async {
        worker.stat("retried") >= 2
    })
    .await;
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        0
    );

    let payment_id = world
        .insert_payment(1, Some(&invoice), &order_id, PRICE, 1, "pending")
        .await;
    eventually(WAIT, "the payment is completed", || async {
        world.payment_status(payment_id).await == "completed"
    })
    .await;
    // The delivery is counted after its commit and ack: poll for it too.
    eventually(WAIT, "the delivery is counted as completed", || async {
        worker.stat("completed") == 1
    })
    .await;
    assert_eq!(worker.stat("dead_lettered"), 0);
    assert_eq!(world.user(1).await.0, "pro");

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_payment_found_by_order_id_before_checkout_stored_the_invoice_is_applied(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let order_id = world.unique("order");
    let invoice = world.create_invoice(&order_id, PRICE).await;
    // Checkout timed out waiting for CryptoCloud: the row is `failed` without an invoice id.
    let payment_id = world
        .insert_payment(1, None, &order_id, PRICE, 1, "failed")
        .await;
    world.pay(&invoice, None).await;

    let outcome =
        crate::helpers::process_one(&world.context(), &world.postback("by-order", &invoice)).await;
    assert!(
        matches!(outcome, subscription_worker::Outcome::Applied { .. }),
        "{outcome:?}"
    );
    let stored: Option<String> =
        sqlx::query_scalar("SELECT invoice_id FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        Some(invoice.uuid.prefixed()),
        "the invoice id is filled in"
    );
    assert_eq!(world.payment_status(payment_id).await, "completed");

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_postback_for_a_payment_that_never_appears_is_dead_lettered_and_replay_applies_it(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let order_id = world.unique("order");
    let invoice = world.create_invoice(&order_id, PRICE).await;
    world.pay(&invoice, None).await;
    let mut settings = world.settings();
    settings.worker_max_attempts = 3;
    let worker = world.start_worker_with(settings).await;

    world.publish_postback("orphan", &invoice).await;
    eventually(WAIT, "the postback is dead-lettered", || async {
        worker.stat("dead_lettered") == 1
    })
    .await;
    assert_eq!(
        worker.stat("retried"),
        2,
        "attempts 1 and 2 were retried, attempt 3 gave up"
    );

    let listed = dlq::list(&world.broker).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = &listed[0];
    assert_eq!(entry.message_id.as_deref(), Some("orphan"));
    assert_eq!(entry.invoice_id.as_deref(), Some(invoice.uuid.code()));
    assert_eq!(entry.attempts, 3);
    assert_eq!(entry.reason_code.as_deref(), Some("payment_not_found"));
    assert!(
        entry
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("gave up after 3 attempts"),
        "{entry:?}"
    );
    // Listing leaves the message where it is.
    assert_eq!(dlq::list(&world.broker).await.unwrap().len(), 1);

    // An id that is not there replays nothing.
    assert!(dlq::replay(&world.broker, &Selector::Id("nope".into()))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 1);

    // The operator finds the cause, adds the row and replays.
    let payment_id = world
        .insert_payment(1, Some(&invoice), &order_id, PRICE, 1, "pending")
        .await;
    let replayed = dlq::replay(&world.broker, &Selector::Id("orphan".into()))
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    eventually(WAIT, "the replayed postback is applied", || async {
        world.payment_status(payment_id).await == "completed"
    })
    .await;
    assert_eq!(world.user(1).await.0, "pro");
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);

    // Replaying it again (say, from a stale copy) is recognised.
    world.publish_postback("orphan", &invoice).await;
    eventually(WAIT, "the copy is handled", || async {
        worker.stat("duplicate") == 1
    })
    .await;

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn undecodable_messages_go_straight_to_the_dead_letter_queue(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let worker = world.start_worker().await;

    world
        .publish_raw("garbage-1", b"\xff\xff\xff not protobuf")
        .await;
    eventually(WAIT, "the garbage is dead-lettered", || async {
        worker.stat("dead_lettered") == 1
    })
    .await;
    assert_eq!(
        worker.stat("retried"),
        0,
        "no retries for what can never decode"
    );

    let listed = dlq::list(&world.broker).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message_id.as_deref(), Some("garbage-1"));
    assert_eq!(listed[0].reason_code.as_deref(), Some("undecodable"));

    // `replay --all` puts it back; it fails the same way and returns to the DLQ.
    assert_eq!(
        dlq::replay(&world.broker, &Selector::All)
            .await
            .unwrap()
            .len(),
        1
    );
    eventually(
        WAIT,
        "the replayed garbage is dead-lettered again",
        || async { worker.stat("dead_lettered") == 2 },
    )
    .await;
    eventually(WAIT, "it is back in the DLQ", || async {
        world.queue_len(&world.topology.dead_letter_queue).await == 1
    })
    .await;

    worker.stop().await;
    world.cleanup().await;
}

/// CryptoCloud down for longer than the attempt budget: the paid postback is retried at the
/// back-off steps for as long as the outage lasts, never dead-lettered, consumption pauses,
/// and the payment is applied once CryptoCloud answers again.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_outage_longer_than_the_attempt_budget_never_dead_letters_a_payment(
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
            serde_json::json!({"error_rate": 1.0, "error_status": 503}),
        )
        .await;
    let mut settings = world.settings();
    settings.worker_max_attempts = 2;
    let worker = world.start_worker_with(settings).await;

    world.publish_postback("during-long-outage", &invoice).await;
    eventually(WAIT, "retried past the attempt budget", || async {
        worker.stat("retried") >= 4
    })
    .await;
    assert!(
        worker.context.gate.is_closed(),
        "consumption pauses while CryptoCloud is down"
    );
    assert_eq!(worker.stat("dead_lettered"), 0);
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);
    assert_eq!(world.payment_status(payment_id).await, "pending");

    world
        .sandbox_control("/sandbox/faults", serde_json::json!({}))
        .await;
    eventually(
        Duration::from_secs(60),
        "applied after the outage",
        || async { world.payment_status(payment_id).await == "completed" },
    )
    .await;
    eventually(WAIT, "consumption resumes", || async {
        !worker.context.gate.is_closed()
    })
    .await;
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);
    assert_eq!(world.user(1).await.0, "pro");

    worker.stop().await;
    world.cleanup().await;
}

/// During an outage, a backlog waits at the dependency gate; every worker restart (a
/// deployment, a scale-down) hands the waiting deliveries back, and the quorum queue counts
/// each return towards its delivery limit. A copy returned that often is re-published fresh
/// by the worker first, so the broker never dead-letters a payment on its own.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn restarts_during_an_outage_never_let_the_broker_dead_letter_a_payment(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    const PAYMENTS: i64 = 30;
    let world = World::new(opts, connect).await;
    let mut payments = Vec::new();
    for user in 1..=PAYMENTS {
        world.create_user(user).await;
        let (invoice, payment_id) = world.pending_payment(user, 1).await;
        world.pay(&invoice, None).await;
        world
            .publish_postback(&format!("backlog-{user}"), &invoice)
            .await;
        payments.push(payment_id);
    }
    world
        .sandbox_control(
            "/sandbox/faults",
            serde_json::json!({"error_rate": 1.0, "error_status": 503}),
        )
        .await;
    let mut settings = world.settings();
    settings.worker_batch_size = 1;
    settings.worker_concurrency = 1;
    settings.worker_prefetch = PAYMENTS as u16;

    // More restarts than the delivery limit: most of the backlog waits through each one.
    let limit = world.topology.delivery_limit;
    let mut retried = 0;
    for _ in 0..limit + 5 {
        let worker = world.start_worker_with(settings.clone()).await;
        eventually(WAIT, "the outage closes the gate", || async {
            worker.context.gate.is_closed()
        })
        .await;
        retried += worker.stat("retried");
        worker.stop().await;
    }
    assert_eq!(
        world.queue_len(&world.topology.dead_letter_queue).await,
        0,
        "the broker dead-lettered a message past its delivery limit"
    );
    assert!(retried > 0, "the outage was retried");

    world
        .sandbox_control("/sandbox/faults", serde_json::json!({}))
        .await;
    let worker = world.start_worker_with(settings).await;
    eventually(Duration::from_secs(90), "every payment applied", || async {
        world
            .count("SELECT count(*) FROM payments WHERE status = 'completed'")
            .await
            == PAYMENTS
    })
    .await;
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);
    assert_eq!(
        world
            .count("SELECT count(*) FROM users WHERE subscription_tier = 'pro'")
            .await,
        PAYMENTS
    );
    worker.stop().await;
    world.cleanup().await;
}
