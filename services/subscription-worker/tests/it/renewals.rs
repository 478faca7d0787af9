//! Renewal invoices and reminders: opened once per user and expiry whatever the number of
//! workers and sweeps, one reminder per notice window, and paying the renewal extends from
//! the current expiry.

use std::sync::Arc;

use chrono::{Duration as Days, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::renewals::{run_once, RenewalPolicy};
use subscription_worker::{Context, Outcome};

use crate::helpers::{all, process_one, World};

fn with_renewals(world: &World) -> Context {
    let mut ctx = world.context();
    ctx.renewals = Some(Arc::new(RenewalPolicy {
        notice_days: vec![7, 3, 1],
        months: 1,
        shop_id: world.shop_id.clone(),
    }));
    ctx
}

/// Outbox events of one type.
async fn events_of(world: &World, routing_key: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox_events WHERE routing_key = $1")
        .bind(routing_key)
        .fetch_one(&world.pool)
        .await
        .unwrap()
}

async fn sweep(ctx: &Context) -> subscription_worker::renewals::RenewalReport {
    run_once(ctx, ctx.renewals.as_ref().unwrap()).await.unwrap()
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_renewing_plan_gets_one_renewal_invoice_and_one_reminder_whatever_the_sweeps(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let soon = Utc::now() + Days::days(2);
    for (user, tier, expires) in [
        (1, "pro", Some(soon)),                        // inside the 3-day window
        (2, "pro", Some(Utc::now() + Days::days(10))), // no window yet
        (3, "free", None),
        (4, "pro", Some(soon)),  // cancelled: does not renew
        (5, "gold", Some(soon)), // a plan no longer in PLANS
        (6, "pro", None),        // legacy: paid tier without an expiry
    ] {
        world.create_user(user).await;
        world.set_expiry(user, tier, expires).await;
    }
    sqlx::query("UPDATE users SET renews = false WHERE id = 4")
        .execute(&world.pool)
        .await
        .unwrap();

    // Two workers sweeping at once, then again and again.
    let (a, b) = (with_renewals(&world), with_renewals(&world));
    let reports = all([sweep(&a), sweep(&b)]).await;
    let again = [sweep(&a).await, sweep(&b).await];
    let opened: usize = reports.iter().chain(&again).map(|r| r.opened).sum();
    let reminded: usize = reports.iter().chain(&again).map(|r| r.reminded).sum();
    assert_eq!((opened, reminded), (1, 1), "{reports:?} {again:?}");
    assert!(reports.iter().all(|r| r.unknown_plans == 1), "{reports:?}");
    // The removed plan and the user without an expiry are seen at every sweep, and each
    // worker names them once: two warnings on its first sweep, none after.
    assert!(
        reports.iter().chain(&again).all(|r| r.without_expiry == 1),
        "{reports:?} {again:?}"
    );
    assert_eq!(
        reports.iter().map(|r| r.warned).collect::<Vec<_>>(),
        [2, 2],
        "{reports:?}"
    );
    assert!(again.iter().all(|r| r.warned == 0), "{again:?}");

    type Row = (
        i64,
        String,
        String,
        i32,
        String,
        Option<String>,
        Option<String>,
        bool,
    );
    let renewals: Vec<Row> =
        sqlx::query_as(
            "SELECT user_id, status, amount::text, subscription_months, subscription_tier, \
                    invoice_id, payment_data->>'kind', renewal_for = (SELECT subscription_expires FROM users WHERE id = 1) \
             FROM payments WHERE renewal_for IS NOT NULL",
        )
        .fetch_all(&world.pool)
        .await
        .unwrap();
    assert_eq!(renewals.len(), 1, "{renewals:?}");
    let (user, status, amount, months, tier, invoice_id, kind, renews_this_expiry) = &renewals[0];
    assert_eq!(
        (*user, status.as_str(), *months, tier.as_str()),
        (1, "pending", 1, "pro")
    );
    assert_eq!(
        amount.parse::<rust_decimal::Decimal>().unwrap(),
        rust_decimal::Decimal::from(99)
    );
    assert!(invoice_id.as_deref().unwrap().starts_with("INV-"));
    assert_eq!(kind.as_deref(), Some("renewal"));
    assert!(renews_this_expiry);

    // One reminder, for the smallest window the plan is inside (3 days), none for 7.
    let notices: Vec<(i64, i32)> = sqlx::query_as("SELECT user_id, days FROM renewal_notices")
        .fetch_all(&world.pool)
        .await
        .unwrap();
    assert_eq!(notices, vec![(1, 3)]);
    let (routing_key, payload): (String, Vec<u8>) =
        sqlx::query_as("SELECT routing_key, payload FROM outbox_events")
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert_eq!(routing_key, "subscription.renewal_due");
    let event: events::SubscriptionRenewalDue = events::decode(&payload).unwrap();
    assert_eq!(
        (event.user_id, event.days, event.amount.as_str()),
        (1, 3, "99")
    );
    assert_eq!(event.invoice_id, invoice_id.clone().unwrap());
    assert!(event.payment_url.starts_with("http"), "{event:?}");

    // A day later the plan enters the 1-day window: one more reminder, same renewal.
    sqlx::query("UPDATE users SET subscription_expires = now() + interval '12 hours' WHERE id = 1")
        .execute(&world.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET renewal_for = (SELECT subscription_expires FROM users WHERE id = 1) WHERE renewal_for IS NOT NULL")
        .execute(&world.pool)
        .await
        .unwrap();
    let later = all([sweep(&a), sweep(&b)]).await;
    assert_eq!(
        later
            .iter()
            .map(|r| (r.opened, r.reminded))
            .fold((0, 0), |s, x| (s.0 + x.0, s.1 + x.1)),
        (0, 1),
        "{later:?}"
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM renewal_notices WHERE days = 1")
            .await,
        1
    );
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn paying_the_renewal_extends_from_the_current_expiry_once(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let expires = (Utc::now() + Days::days(5))
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    world.create_user(1).await;
    world.set_expiry(1, "pro", Some(expires)).await;
    let ctx = with_renewals(&world);
    assert_eq!(sweep(&ctx).await.opened, 1);

    let invoice_id: String =
        sqlx::query_scalar("SELECT invoice_id FROM payments WHERE renewal_for IS NOT NULL")
            .fetch_one(&world.pool)
            .await
            .unwrap();
    let id = cryptocloud::InvoiceId::parse(&invoice_id).unwrap();
    let invoice = world
        .cryptocloud
        .invoice_info(&[id])
        .await
        .unwrap()
        .remove(0);
    world.pay(&invoice, None).await;
    let postback = world.postback("renewal-paid", &invoice);
    assert!(matches!(
        process_one(&ctx, &postback).await,
        Outcome::Applied { .. }
    ));
    assert_eq!(process_one(&ctx, &postback).await, Outcome::Duplicate);

    let (tier, new_expiry, _) = world.user(1).await;
    assert_eq!(tier, "pro");
    assert_eq!(
        new_expiry,
        Some(world.months_from(expires, 1).await),
        "from the old expiry"
    );
    let kind: Option<String> = sqlx::query_scalar(
        "SELECT payment_data->>'kind' FROM payments WHERE renewal_for IS NOT NULL AND status = 'completed'",
    )
    .fetch_one(&world.pool)
    .await
    .unwrap();
    assert_eq!(
        kind.as_deref(),
        Some("renewal"),
        "still marked a renewal once paid"
    );

    // One event per change, the duplicate postback making none.
    assert_eq!(events_of(&world, "payment.completed").await, 1);
    assert_eq!(events_of(&world, "subscription.upgraded").await, 1);

    // The new period is outside every window: nothing more is opened.
    assert_eq!(sweep(&ctx).await.opened, 0);
    assert_eq!(world.count("SELECT count(*) FROM payments").await, 1);
    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn an_unpaid_renewal_is_canceled_at_cryptocloud_and_here_when_the_plan_ends(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    world.create_user(1).await;
    world
        .set_expiry(1, "pro", Some(Utc::now() + Days::days(1)))
        .await;
    let ctx = with_renewals(&world);
    assert_eq!(sweep(&ctx).await.opened, 1);
    // Time passes: the period ends unpaid.
    sqlx::query("UPDATE users SET subscription_expires = now() - interval '1 minute' WHERE id = 1")
        .execute(&world.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET renewal_for = now() - interval '1 minute'")
        .execute(&world.pool)
        .await
        .unwrap();
    let report = sweep(&ctx).await;
    assert_eq!(
        (report.lapsed, report.opened, report.reminded),
        (1, 0, 0),
        "{report:?}"
    );
    let (status, invoice_id): (String, String) =
        sqlx::query_as("SELECT status, invoice_id FROM payments")
            .fetch_one(&world.pool)
            .await
            .unwrap();
    assert_eq!(status, "canceled");
    let id = cryptocloud::InvoiceId::parse(&invoice_id).unwrap();
    let at_cryptocloud = world
        .cryptocloud
        .invoice_info(&[id])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(at_cryptocloud.status, cryptocloud::InvoiceStatus::Canceled);
    assert_eq!(sweep(&ctx).await.lapsed, 0, "once");
    assert_eq!(events_of(&world, "payment.canceled").await, 1);
    world.cleanup().await;
}

/// `GRACE_PERIOD_DAYS`: the tier is kept past the expiry for the grace, then falls to free;
/// a payment applied in grace extends from the old expiry (grace is not free time).
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn grace_keeps_the_tier_then_expires_and_a_payment_in_grace_extends_from_the_old_expiry(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut ctx = world.context();
    ctx.grace_days = 3;
    let in_grace = (Utc::now() - Days::days(1))
        .date_naive()
        .and_hms_opt(6, 0, 0)
        .unwrap()
        .and_utc();
    for (user, expires) in [
        (1, in_grace),
        (2, Utc::now() - Days::days(4)),
        (3, in_grace),
    ] {
        world.create_user(user).await;
        world.set_expiry(user, "pro", Some(expires)).await;
    }
    let plans = subscription_worker::plans::Plans::default();
    let expired = subscription_worker::sweep::expire_subscriptions(&world.pool, &plans, 3)
        .await
        .unwrap();
    assert_eq!(expired, 1, "only the plan past its grace");
    assert_eq!(world.user(1).await.0, "pro", "kept in grace");
    assert_eq!(world.user(2).await.0, "free");
    // A second sweep changes nothing and announces nothing again.
    subscription_worker::sweep::expire_subscriptions(&world.pool, &plans, 3)
        .await
        .unwrap();
    assert_eq!(events_of(&world, "subscription.grace_started").await, 2);
    assert_eq!(events_of(&world, "subscription.expired").await, 1);
    let expired_event: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM outbox_events WHERE routing_key = 'subscription.expired'",
    )
    .fetch_one(&world.pool)
    .await
    .unwrap();
    let expired_event: events::SubscriptionChanged = events::decode(&expired_event).unwrap();
    assert_eq!(
        (
            expired_event.user_id,
            expired_event.tier.as_str(),
            expired_event.status.as_str(),
            expired_event.previous_tier.as_str()
        ),
        (2, "free", "free", "pro")
    );

    let (invoice, _) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;
    let outcome = process_one(&ctx, &world.postback("in-grace", &invoice)).await;
    assert!(matches!(outcome, Outcome::Applied { .. }), "{outcome:?}");
    assert_eq!(
        world.user(1).await.1,
        Some(world.months_from(in_grace, 1).await),
        "from the old expiry, not from now"
    );
    // Without grace the same late payment starts from now.
    let mut no_grace = world.context();
    no_grace.grace_days = 0;
    let (invoice, _) = world.pending_payment(3, 1).await;
    world.pay(&invoice, None).await;
    process_one(&no_grace, &world.postback("no-grace", &invoice)).await;
    let started = world.user(3).await.1.unwrap();
    assert!(started > world.months_from(in_grace, 1).await + Days::hours(12));
    world.cleanup().await;
}

/// Cancel racing the sweep: whichever commits first, a canceled plan never keeps an open
/// renewal invoice (the cancel cancels a pending one; the sweep withdraws one it opened
/// while the cancel ran).
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_cancel_racing_the_sweep_never_leaves_an_open_renewal(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let ctx = with_renewals(&world);
    for user in 1..=20 {
        world.create_user(user).await;
        world
            .set_expiry(user, "pro", Some(Utc::now() + Days::days(2)))
            .await;
    }
    // What checkout's cancel does: renews = false, then cancel a pending renewal.
    let cancel = |user: i64| {
        let (pool, client) = (world.pool.clone(), world.cryptocloud.clone());
        async move {
            let user = payments::UserId::new(user).unwrap();
            payments::plan::set_renews(&pool, user, false)
                .await
                .unwrap();
            if let Some(open) = payments::renewal::open_of(&pool, user).await.unwrap() {
                let invoice =
                    cryptocloud::InvoiceId::parse(open.invoice_id.as_deref().unwrap()).unwrap();
                // The sweep may have withdrawn it first: CryptoCloud then refuses, as checkout
                // sees it.
                match client.cancel_invoice(&invoice).await {
                    Ok(()) | Err(cryptocloud::Error::Validation { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
                payments::closing::cancel_for_user(&pool, user, open.id)
                    .await
                    .unwrap();
            }
        }
    };
    let cancels = async {
        for user in 1..=20 {
            cancel(user).await;
            tokio::task::yield_now().await;
        }
    };
    // Two workers sweep while the cancels run.
    let other = with_renewals(&world);
    let (report, other_report, ()) = tokio::join!(sweep(&ctx), sweep(&other), cancels);
    let report = [report, other_report];
    let open = world
        .count(
            "SELECT count(*) FROM payments p JOIN users u ON u.id = p.user_id \
             WHERE p.renewal_for IS NOT NULL AND p.status IN ('creating', 'pending') AND NOT u.renews",
        )
        .await;
    assert_eq!(open, 0, "{report:?}");
    assert_eq!(
        world.count("SELECT count(*) FROM users WHERE renews").await,
        0
    );
    world.cleanup().await;
}

/// Resumes racing two workers' sweeps: whatever the interleaving, every resumed plan ends
/// with exactly one open renewal once a sweep has run after the resume, and none twice.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn resumes_racing_two_workers_sweeps_end_with_one_renewal_each(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let (a, b) = (with_renewals(&world), with_renewals(&world));
    for user in 1..=20 {
        world.create_user(user).await;
        world
            .set_expiry(user, "pro", Some(Utc::now() + Days::days(2)))
            .await;
    }
    // Canceled first (as checkout's cancel leaves them): no renewal is opened for them.
    sqlx::query("UPDATE users SET renews = false")
        .execute(&world.pool)
        .await
        .unwrap();
    assert_eq!(sweep(&a).await.opened, 0);

    // What checkout's resume does, for each user in turn, while both workers sweep.
    let resumes = async {
        for user in 1..=20 {
            let user = payments::UserId::new(user).unwrap();
            let plan = payments::plan::set_renews(&world.pool, user, true)
                .await
                .unwrap()
                .expect("a paid plan running");
            assert!(plan.renews);
            tokio::task::yield_now().await;
        }
    };
    let (first, second, ()) = tokio::join!(sweep(&a), sweep(&b), resumes);
    // The sweep after the last resume opens what the racing ones did not see.
    let after = [sweep(&a).await, sweep(&b).await];
    let opened: usize = [&first, &second]
        .into_iter()
        .chain(&after)
        .map(|r| r.opened)
        .sum();
    assert_eq!(opened, 20, "{first:?} {second:?} {after:?}");
    let per_user: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT user_id, count(*) FROM payments \
         WHERE renewal_for IS NOT NULL AND status IN ('creating', 'pending') \
         GROUP BY user_id ORDER BY user_id",
    )
    .fetch_all(&world.pool)
    .await
    .unwrap();
    assert_eq!(per_user, (1..=20).map(|u| (u, 1)).collect::<Vec<_>>());
    // One resumed event per user, whatever the sweeps did.
    assert_eq!(events_of(&world, "subscription.resumed").await, 20);
    world.cleanup().await;
}

/// Cancel and resume racing each other (two tabs, two devices): each user ends renewing or
/// not, and the events say how it got there: a `subscription.canceled` only for a change
/// to not renewing, a `.resumed` only back, the last one naming the final state.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn cancel_and_resume_racing_each_other_end_consistently(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    for user in 1..=20 {
        world.create_user(user).await;
        world
            .set_expiry(user, "pro", Some(Utc::now() + Days::days(20)))
            .await;
    }
    let flip = |user: i64, renews: bool| {
        let pool = world.pool.clone();
        async move {
            payments::plan::set_renews(&pool, payments::UserId::new(user).unwrap(), renews)
                .await
                .unwrap()
                .expect("a paid plan running");
        }
    };
    let mut races = Vec::new();
    for user in 1..=20 {
        races.push(flip(user, false));
        races.push(flip(user, true));
    }
    futures::future::join_all(races).await;

    for user in 1..=20_i64 {
        let renews: bool = sqlx::query_scalar("SELECT renews FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&world.pool)
            .await
            .unwrap();
        let events: Vec<String> = sqlx::query_scalar(
            "SELECT routing_key FROM outbox_events WHERE event_id LIKE $1 ORDER BY id",
        )
        .bind(format!("subscription.%-{user}-%"))
        .fetch_all(&world.pool)
        .await
        .unwrap();
        // Started renewing: resume-then-cancel makes [canceled]; cancel-then-resume makes
        // [canceled, resumed].
        let expected: &[&str] = if renews {
            &["subscription.canceled", "subscription.resumed"]
        } else {
            &["subscription.canceled"]
        };
        assert_eq!(events, expected, "user {user}");
    }
    world.cleanup().await;
}
