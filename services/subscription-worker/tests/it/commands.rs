//! The operator commands as `main` runs them: they connect by themselves from settings.

use std::time::Duration;

use lapin::BasicProperties;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::commands;
use subscription_worker::dlq::Selector;
use subscription_worker::settings::{BrokerSettings, DatabaseSettings};

use crate::helpers::{World, AMQP};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn reconcile_now_settles_and_publishes_without_a_running_worker(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let events = world.event_queue().await;
    world.create_user(1).await;
    let (invoice, payment_id) = world.pending_payment(1, 1).await;
    world.pay(&invoice, None).await;

    commands::migrate(&DatabaseSettings {
        database_url: world.database_url.clone(),
    })
    .await
    .unwrap();
    let report = commands::reconcile_now(
        &world.settings(),
        world.topology.clone(),
        Some(Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!((report.checked, report.completed), (1, 1), "{report:?}");
    assert_eq!(world.payment_status(payment_id).await, "completed");
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded' AND published_at IS NOT NULL")
            .await,
        1,
        "the command published the event itself"
    );
    assert_eq!(world.drain_events(&events).await.len(), 1);

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn dlq_list_and_replay_commands_move_messages_back_to_work(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    for id in ["dead-1", "dead-2"] {
        let properties = BasicProperties::default().with_message_id(id.into());
        world
            .broker
            .publish(
                "",
                &world.topology.dead_letter_queue,
                b"payload",
                properties,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let settings = BrokerSettings {
        amqp_url: platform::config::AmqpUrl::parse(AMQP).unwrap(),
    };

    let listed = commands::dlq_list(&settings, world.topology.clone())
        .await
        .unwrap();
    let ids: Vec<_> = listed
        .iter()
        .map(|e| e.message_id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["dead-1", "dead-2"]);
    assert_eq!(listed[0].invoice_id, None);
    assert_eq!(listed[0].attempts, 1);
    let table = subscription_worker::report::dead_letters(
        &listed,
        false,
        subscription_worker::report::Format::Table,
    );
    assert!(
        table.contains("| dead-1 ") && table.ends_with("2 message(s) dead-lettered"),
        "{table}"
    );

    let replayed = commands::dlq_replay(
        &settings,
        world.topology.clone(),
        &Selector::Id("dead-2".into()),
    )
    .await
    .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(world.queue_len(&world.topology.work_queue).await, 1);
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 1);
    let replayed = commands::dlq_replay(&settings, world.topology.clone(), &Selector::All)
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(world.queue_len(&world.topology.work_queue).await, 2);
    assert_eq!(world.queue_len(&world.topology.dead_letter_queue).await, 0);

    world.cleanup().await;
}
