//! Events' home and the relay under an event nothing can route.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::helpers::{eventually, World};

const WAIT: Duration = Duration::from_secs(20);

async fn metric(port: u16, name: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// With the events' home gone (nothing binds the key), the event is returned; the relay
/// backs off instead of re-sending it on every commit, the age gauge shows it waiting,
/// and it is published as soon as the home is back.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_returned_event_is_retried_with_back_off_and_published_once_it_has_a_home(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let worker = world.start_worker().await;
    let home = world.events_home();
    let channel = world.channel().await;
    // The worker declared the home on connect; take it away.
    channel
        .queue_delete(home.work_queue.as_str().into(), Default::default())
        .await
        .unwrap();

    for user in 1..=5 {
        world.create_user(user).await;
        let (invoice, _) = world.pending_payment(user, 1).await;
        world.pay(&invoice, None).await;
        world
            .publish_postback(&format!("returned-{user}"), &invoice)
            .await;
    }
    eventually(WAIT, "all five applied", || async {
        world
            .count("SELECT count(*) FROM payments WHERE status = 'completed'")
            .await
            == 5
    })
    .await;
    eventually(WAIT, "a relay round failed", || async {
        metric(worker.port, "worker_outbox_publish_failures_total").await >= 1.0
    })
    .await;
    // Every commit woke the relay; a spinning relay would fail hundreds of times a second.
    let failures_before = metric(worker.port, "worker_outbox_publish_failures_total").await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await; // a window to count retries in
    let failures = metric(worker.port, "worker_outbox_publish_failures_total").await;
    assert!(
        failures - failures_before <= 3.0,
        "{} failed rounds in {:?}: the relay spins",
        failures - failures_before,
        started.elapsed()
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NULL")
            .await,
        5
    );
    eventually(WAIT, "the age gauge shows the waiting events", || async {
        metric(worker.port, "worker_outbox_oldest_unpublished_seconds").await > 0.0
    })
    .await;

    // The home is back: everything is published, once, and lands there.
    home.declare(&channel).await.unwrap();
    eventually(Duration::from_secs(60), "the outbox drains", || async {
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NULL")
            .await
            == 0
    })
    .await;
    // Each payment: payment.completed and subscription.upgraded.
    assert_eq!(world.queue_len(&home.work_queue).await, 10);

    worker.stop().await;
    world.cleanup().await;
}
