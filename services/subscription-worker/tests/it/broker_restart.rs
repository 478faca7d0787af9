//! A broker "restart" in the middle of consumption, staged with a TCP proxy between the
//! worker and RabbitMQ (the real broker keeps running for the other tests).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform::config::AmqpUrl;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, World};

const WAIT: Duration = Duration::from_secs(60);

/// Forwards 127.0.0.1:port to RabbitMQ; can cut every connection and refuse new ones.
struct Proxy {
    port: u16,
    refusing: Arc<AtomicBool>,
    /// Cancelling it closes every connection made so far.
    connections: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Proxy {
    async fn start(upstream: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refusing = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        let (r, c, s) = (refusing.clone(), connections.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = tokio::select! {
                    accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
                    _ = s.cancelled() => return,
                };
                if r.load(Ordering::SeqCst) {
                    drop(inbound); // the "broker" is down
                    continue;
                }
                let cut = c.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.cancelled() => {}
                    }
                });
            }
        });
        Self {
            port,
            refusing,
            connections,
            stop,
        }
    }

    /// Kills every connection and refuses new ones until `recover`.
    fn go_down(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        let mut token = self.connections.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }

    fn recover(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.connections.lock().unwrap().cancel();
    }
}

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

    let proxy = Proxy::start("127.0.0.1:5672").await;
    let mut settings = world.settings();
    settings.amqp_url =
        AmqpUrl::parse(&format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port)).unwrap();
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
    proxy.go_down();
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
    proxy.recover();

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
            .count("SELECT count(*) FROM outbox_events WHERE published_at IS NOT NULL")
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
