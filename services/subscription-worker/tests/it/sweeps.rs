//! The periodic sweeps: expiry and reconciliation of lost postbacks.

use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::sweep::{self, ReconcileReport};

use crate::helpers::{all, eventually, World};

const WAIT: Duration = Duration::from_secs(30);

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_expiry_sweep_returns_lapsed_plans_to_free(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    for id in 1..=3 {
        world.create_user(id).await;
    }
    let lapsed = Utc::now() - chrono::Duration::hours(1);
    let running = Utc::now() + chrono::Duration::days(20);
    world.set_expiry(1, "pro", Some(lapsed)).await;
    world.set_expiry(2, "pro", Some(running)).await;
    sqlx::query("UPDATE users SET requests_limit = 100000 WHERE id IN (1, 2)")
        .execute(&world.pool)
        .await
        .unwrap();

    let mut settings = world.settings();
    settings.worker_sweep_interval_secs = 1;
    let worker = world.start_worker_with(settings).await;
    eventually(WAIT, "the lapsed plan is back to free", || async {
        world.user(1).await.0 == "free"
    })
    .await;

    let (tier, expires, limit) = world.user(1).await;
    assert_eq!((tier.as_str(), limit), ("free", 100));
    assert_eq!(
        expires.map(|e| e.timestamp_micros()),
        Some(lapsed.timestamp_micros()),
        "history kept"
    );
    let (tier, _, limit) = world.user(2).await;
    assert_eq!(
        (tier.as_str(), limit),
        ("pro", 100_000),
        "a running plan is untouched"
    );
    assert_eq!(world.user(3).await, ("free".to_string(), None, 100));

    worker.stop().await;
    // Two sweeps at once (two workers) do the job once, without errors.
    world.set_expiry(2, "pro", Some(lapsed)).await;
    let plans = world.settings().plans().unwrap();
    let counts = all((0..2).map(|_| sweep::expire_subscriptions(&world.pool, &plans, 0))).await;
    let total: u64 = counts.into_iter().map(Result::unwrap).sum();
    assert_eq!(total, 1);
    assert_eq!(world.user(2).await.0, "free");

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn reconciliation_settles_pending_payments_whose_postback_never_came(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let events = world.event_queue().await;
    // More than one batch of 100 paid invoices, each for its own user.
    let paid_users: Vec<i64> = (1..=101).collect();
    let mut paid = Vec::new();
    for &user in &paid_users {
        world.create_user(user).await;
        let (invoice, payment_id) = world.pending_payment(user, 1).await;
        world.pay(&invoice, None).await;
        paid.push(payment_id);
    }
    world.create_user(500).await;
    let (_, still_open) = world.pending_payment(500, 1).await;
    let (expired_invoice, expired) = world.pending_payment(500, 1).await;
    world
        .sandbox_control(
            &format!(
                "/sandbox/invoices/{}/expire",
                expired_invoice.uuid.prefixed()
            ),
            serde_json::json!({}),
        )
        .await;
    let (canceled_invoice, canceled) = world.pending_payment(500, 1).await;
    world
        .cryptocloud
        .cancel_invoice(&canceled_invoice.uuid)
        .await
        .unwrap();
    let (partial_invoice, partial) = world.pending_payment(500, 1).await;
    world
        .pay(&partial_invoice, Some(rust_decimal_macros::dec!(1)))
        .await;

    let ctx = world.context();
    // Too young to be looked at yet.
    let report = sweep::reconcile(&ctx, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(report, ReconcileReport::default());

    let report = sweep::reconcile(&ctx, Duration::ZERO).await.unwrap();
    assert_eq!(
        report,
        ReconcileReport {
            checked: 105,
            completed: 101,
            partial: 1,
            canceled: 1,
            expired: 1,
            unchanged: 1,
            ..Default::default()
        }
    );
    for (&user, &payment_id) in paid_users.iter().zip(&paid) {
        assert_eq!(world.payment_status(payment_id).await, "completed");
        assert_eq!(world.user(user).await.0, "pro");
    }
    assert_eq!(world.payment_status(still_open).await, "pending");
    assert_eq!(world.payment_status(expired).await, "expired");
    assert_eq!(world.payment_status(canceled).await, "canceled");
    assert_eq!(world.payment_status(partial).await, "partial");
    assert_eq!(world.user(500).await.0, "free");

    // A second pass changes nothing more.
    let again = sweep::reconcile(&ctx, Duration::ZERO).await.unwrap();
    assert_eq!(
        again,
        ReconcileReport {
            // The open one and the partial one, looked at again.
            checked: 2,
            unchanged: 2,
            ..Default::default()
        }
    );

    // The running worker's relay publishes one event per completed payment.
    let worker = world.start_worker().await;
    eventually(WAIT, "every event is published", || async {
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NOT NULL")
            .await
            == 101
    })
    .await;
    let published = world.drain_events(&events).await;
    let mut payment_ids: Vec<i64> = published.iter().map(|(_, e)| e.payment_id).collect();
    payment_ids.sort_unstable();
    assert_eq!(
        payment_ids, paid,
        "exactly one SubscriptionUpgraded per applied payment"
    );

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn the_worker_reconciles_on_its_own_and_two_reconcilers_do_not_collide(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 2).await;
    world.pay(&invoice, None).await;

    // Two reconcilers at once: one does the work, the other skips.
    let ctx = world.context();
    let reports = all((0..2).map(|_| sweep::reconcile(&ctx, Duration::ZERO))).await;
    let reports: Vec<ReconcileReport> = reports.into_iter().map(Result::unwrap).collect();
    let completed: usize = reports.iter().map(|r| r.completed).sum();
    assert_eq!(completed, 1, "{reports:?}");
    assert_eq!(world.payment_status(payment_id).await, "completed");

    // The periodic sweep of a running worker does the same for a new lost postback.
    world.create_user(2).await;
    let (invoice, payment_id) = world.pending_payment(2, 1).await;
    world.pay(&invoice, None).await;
    let mut settings = world.settings();
    settings.worker_sweep_interval_secs = 1;
    settings.worker_reconcile_after_secs = 0;
    let worker = world.start_worker_with(settings).await;
    eventually(WAIT, "the sweep completes the payment", || async {
        world.payment_status(payment_id).await == "completed"
    })
    .await;
    assert_eq!(world.user(2).await.0, "pro");
    // The sweep counts pending payments after reconciling: poll for the gauge.
    let metrics_url = format!("http://127.0.0.1:{}/metrics", worker.port);
    eventually(
        WAIT,
        "the sweep reports pending payments by age",
        || async {
            let metrics = reqwest::get(&metrics_url)
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            metrics.contains("worker_pending_payments")
        },
    )
    .await;

    worker.stop().await;
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn pruning_drops_old_inbox_rows_and_old_sent_events_only(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    sqlx::raw_sql(
        "INSERT INTO processed_messages (message_id, outcome, processed_at) VALUES \
           ('old', 'completed', now() - interval '100 days'), ('recent', 'completed', now() - interval '1 day'); \
         INSERT INTO outbox_events (event_id, routing_key, payload, created_at, published_at) VALUES \
           ('sent-long-ago', 'subscription.upgraded', '', now() - interval '30 days', now() - interval '30 days'), \
           ('sent-today', 'subscription.upgraded', '', now(), now()), \
           ('never-sent', 'subscription.upgraded', '', now() - interval '30 days', NULL);",
    )
    .execute(&world.pool)
    .await
    .unwrap();

    sweep::prune(&world.pool).await.unwrap();

    let inbox: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM processed_messages ORDER BY message_id")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(inbox, ["recent"]);
    let outbox: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM outbox_events ORDER BY event_id")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(
        outbox,
        ["never-sent", "sent-today"],
        "an unsent event is never dropped"
    );

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn checkouts_stuck_in_creating_are_marked_failed_after_half_an_hour(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    sqlx::raw_sql(
        "INSERT INTO payments (user_id, order_id, amount, currency, subscription_tier, subscription_months, status, created_at) VALUES \
           (1, 'stuck', 99, 'USD', 'pro', 1, 'creating', now() - interval '31 minutes'), \
           (1, 'in-flight', 99, 'USD', 'pro', 1, 'creating', now() - interval '10 seconds');",
    )
    .execute(&world.pool)
    .await
    .unwrap();

    assert_eq!(sweep::fail_abandoned(&world.pool).await.unwrap(), 1);

    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT order_id, status, failure_reason FROM payments ORDER BY order_id")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("in-flight".to_string(), "creating".to_string(), None),
            (
                "stuck".to_string(),
                "failed".to_string(),
                Some("abandoned".to_string())
            ),
        ]
    );
    world.cleanup().await;
}

/// A partial payment whose top-up postback was lost: reconciliation looks at `partial`
/// payments too, and completes it once CryptoCloud says it is paid.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_partial_payment_whose_top_up_postback_was_lost_is_completed(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(7).await;
    let (invoice, payment_id) = world.pending_payment(7, 1).await;
    let ctx = world.context();
    world
        .pay(&invoice, Some(rust_decimal_macros::dec!(1)))
        .await;
    sweep::reconcile(&ctx, Duration::ZERO).await.unwrap();
    assert_eq!(world.payment_status(payment_id).await, "partial");

    // The top-up: CryptoCloud now says paid, and its postback never arrives.
    world
        .pay(
            &invoice,
            Some(invoice.amount - rust_decimal_macros::dec!(1)),
        )
        .await;
    let report = sweep::reconcile(&ctx, Duration::ZERO).await.unwrap();
    assert_eq!((report.checked, report.completed), (1, 1), "{report:?}");
    assert_eq!(world.payment_status(payment_id).await, "completed");
    assert_eq!(world.user(7).await.0, "pro");
}

/// `PAYMENT_TOLERANCE_PERCENT`: an underpayment within it completes the payment.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_underpayment_within_the_tolerance_completes_the_payment(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(8).await;
    world.create_user(9).await;
    let (close, close_id) = world.pending_payment(8, 1).await;
    let (far, far_id) = world.pending_payment(9, 1).await;
    // 0.4 % and 5 % short of the invoiced amount.
    let short = |invoice: &cryptocloud::Invoice, percent: rust_decimal::Decimal| {
        (invoice.amount * (rust_decimal::Decimal::ONE_HUNDRED - percent)
            / rust_decimal::Decimal::ONE_HUNDRED)
            .round_dp(6)
    };
    world
        .pay(&close, Some(short(&close, rust_decimal_macros::dec!(0.4))))
        .await;
    world
        .pay(&far, Some(short(&far, rust_decimal_macros::dec!(5))))
        .await;
    let mut ctx = world.context();
    ctx.tolerance_percent = rust_decimal_macros::dec!(0.5);
    sweep::reconcile(&ctx, Duration::ZERO).await.unwrap();
    assert_eq!(world.payment_status(close_id).await, "completed");
    assert_eq!(world.user(8).await.0, "pro");
    assert_eq!(world.payment_status(far_id).await, "partial");
    assert_eq!(world.user(9).await.0, "free");
}
