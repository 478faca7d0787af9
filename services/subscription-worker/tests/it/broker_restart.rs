//! A broker "restart" in the middle of consumption, staged with a TCP proxy between the
//! worker and RabbitMQ (the real broker keeps running for the other tests).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use test_support::broker_proxy::{BrokerProxy, Mode};

use crate::helpers::{eventually, World};

const WAIT: Duration = Duration::from_secs(60);

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_broker_restart_during_consumption_loses_nothing(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let events = world.event_queue().await;
    const N: i64 = 40;
    let mut invoices = Vec::new();
    for user in 1..=N {
        world.create_user(user).await;
        let (invoice, payment_id) = world.pending_payment(user, 1).await;
        world.pay(&invoice, None).await;
        invoices.push((invoice, payment_id));
    }

    let proxy = BrokerProxy::start(Mode::Open).await;
    let mut settings = world.settings();
    settings.amqp_url = proxy.amqp_url();
    settings.worker_prefetch = 4;
    settings.worker_concurrency = 2;
    let worker = world.start_worker_with(settings).await;
    let first_generation = worker.broker.link().unwrap().generation;

    let completed = || world.count("SELECT count(*) FROM payments WHERE status = 'completed'");
    let (first_half, second_half) = invoices.split_at(N as usize / 2);
    for (invoice, _) in first_half {
        world
            .publish_postback(&format!("pb-{}", invoice.uuid), invoice)
            .await;
    }
    // Cut the broker off while deliveries are in flight.
    eventually(WAIT, "consumption has started", || async {
        completed().await >= 3
    })
    .await;
    proxy.set(Mode::Down);
    // Postbacks keep arriving while the worker has no broker.
    for (invoice, _) in second_half {
        world
            .publish_postback(&format!("pb-{}", invoice.uuid), invoice)
            .await;
    }
    eventually(WAIT, "the worker noticed", || async {
        !worker.broker.is_ready()
    })
    .await;
    proxy.set(Mode::Open);

    eventually(WAIT, "every payment is completed", || async {
        completed().await == N
    })
    .await;
    let reconnected = worker.broker.link().expect("reconnected").generation;
    assert!(
        reconnected > first_generation,
        "a new connection ({first_generation} -> {reconnected})"
    );
    for user in 1..=N {
        let (tier, expires, _) = world.user(user).await;
        let paid_at: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT paid_at FROM payments WHERE user_id = $1")
                .bind(user)
                .fetch_one(&world.pool)
                .await
                .unwrap();
        assert_eq!(tier, "pro");
        assert_eq!(
            expires,
            Some(world.months_from(paid_at, 1).await),
            "user {user} extended exactly once"
        );
    }
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        N
    );
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);
    eventually(WAIT, "the work queue is drained", || async {
        world.queue_len(&world.topology.work_queue).await == 0
    })
    .await;
    eventually(WAIT, "every event is published", || async {
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NOT NULL")
            .await
            == N
    })
    .await;
    let mut published: Vec<i64> = world
        .drain_events(&events)
        .await
        .iter()
        .map(|(_, e)| e.payment_id)
        .collect();
    published.sort_unstable();
    published.dedup();
    assert_eq!(published.len(), N as usize, "an event for every payment");

    worker.stop().await;
    drop(proxy);
    world.cleanup().await;
}
