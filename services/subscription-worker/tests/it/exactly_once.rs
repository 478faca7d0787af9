//! Every payment applied exactly once, whatever arrives twice, at once, or after a crash.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use lapin::options::BasicGetOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::Outcome;

use crate::helpers::{all, eventually, process_one, World};

const WAIT: Duration = Duration::from_secs(20);

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_same_postback_ten_times_with_two_workers_extends_the_plan_once(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let events = world.event_queue().await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    let first = world.start_worker().await;
    let second = world.start_worker().await;
    let handled = || first.handled() + second.handled();

    // Ten times, one after the other.
    for _ in 0..10 {
        world.publish_postback("same-postback", &invoice).await;
    }
    eventually(WAIT, "10 deliveries handled", || async { handled() == 10 }).await;
    let after_first_round = world.user(1).await;
    assert_eq!(after_first_round.0, "pro");

    // Ten times, all at once.
    all((0..10).map(|_| world.publish_postback("same-postback", &invoice))).await;
    eventually(WAIT, "20 deliveries handled", || async { handled() == 20 }).await;

    assert_eq!(
        first.stat("completed") + second.stat("completed"),
        1,
        "applied once"
    );
    assert_eq!(first.stat("duplicate") + second.stat("duplicate"), 19);
    assert_eq!(
        world.user(1).await,
        after_first_round,
        "the plan was extended once"
    );
    let paid_at: DateTime<Utc> = sqlx::query_scalar("SELECT paid_at FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_one(&world.pool)
        .await
        .unwrap();
    assert_eq!(
        after_first_round.1,
        Some(world.months_from(paid_at, 1).await)
    );
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        1
    );
    assert_eq!(world.queue_len(&world.topology.work_queue).await, 0);

    eventually(WAIT, "the event is published", || async {
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NOT NULL")
            .await
            == 1
    })
    .await;
    assert_eq!(
        world.drain_events(&events).await.len(),
        1,
        "one SubscriptionUpgraded"
    );

    first.stop().await;
    second.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn concurrent_processing_of_one_message_applies_it_once(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, _) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    let ctx = world.context();
    let payload = world.postback("raced", &invoice);

    let outcomes = all((0..10).map(|_| process_one(&ctx, &payload))).await;
    let applied = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Applied { .. }))
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Duplicate))
        .count();
    assert_eq!((applied, duplicates), (1, 9), "{outcomes:?}");

    // A different message for the same, already completed payment does not extend again.
    let before = world.user(1).await;
    let again = process_one(&ctx, &world.postback("resent-by-operator", &invoice)).await;
    assert!(
        matches!(again, Outcome::AlreadyCompleted { .. }),
        "{again:?}"
    );
    assert_eq!(world.user(1).await, before);
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        1
    );

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn two_payments_of_one_user_applied_at_the_same_moment_both_count(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    // A plan that runs until the 15th (no month-end rounding whichever applies first).
    let current = Utc.with_ymd_and_hms(2031, 1, 15, 12, 0, 0).unwrap();
    world.set_expiry(1, "pro", Some(current)).await;
    let (one_month, _) = world.pending_payment(1, 1).await;
    let (two_months, _) = world.pending_payment(1, 2).await;
    world.pay(&one_month, None).await;
    world.pay(&two_months, None).await;
    let ctx = world.context();

    let a = world.postback("a", &one_month);
    let b = world.postback("b", &two_months);
    let (first, second) = tokio::join!(process_one(&ctx, &a), process_one(&ctx, &b));
    assert!(matches!(first, Outcome::Applied { .. }), "{first:?}");
    assert!(matches!(second, Outcome::Applied { .. }), "{second:?}");

    let expected = Utc.with_ymd_and_hms(2031, 4, 15, 12, 0, 0).unwrap();
    assert_eq!(
        world.user(1).await,
        ("pro".to_string(), Some(expected), 100_000),
        "expiry + 1 + 2 months"
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        2
    );

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_worker_dying_after_commit_before_ack_is_recognised_on_redelivery(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    world.publish_postback("commit-then-crash", &invoice).await;

    // "Worker" one: takes the delivery, commits, and dies before acking (its channel goes).
    let channel = world.channel().await;
    let message = channel
        .basic_get(
            world.topology.work_queue.as_str().into(),
            BasicGetOptions { no_ack: false },
        )
        .await
        .unwrap()
        .expect("the postback is queued");
    let outcome = process_one(&world.context(), &message.delivery.data).await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    let after_commit = world.user(1).await;
    channel.close(320, "worker died".into()).await.unwrap();

    // The broker redelivers to the next worker, which recognises the message.
    let worker = world.start_worker().await;
    eventually(WAIT, "the redelivery is handled", || async {
        worker.handled() == 1
    })
    .await;
    assert_eq!(worker.stat("duplicate"), 1);
    assert_eq!(world.user(1).await, after_commit, "not extended twice");
    assert_eq!(world.payment_status(payment_id).await, "completed");
    assert_eq!(
        world.queue_len(&world.topology.work_queue).await,
        0,
        "acked this time"
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        1
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'payment.completed'")
            .await,
        1,
        "one payment event too"
    );

    worker.stop().await;
    world.cleanup().await;
}
