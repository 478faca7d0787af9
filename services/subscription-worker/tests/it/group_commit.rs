//! Group commit: deliveries that arrive together share one CryptoCloud call and one
//! transaction, yet each is applied once or leaves no trace, exactly as it would alone.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use subscription_worker::pipeline::{process, Message};
use subscription_worker::{Outcome, Reason};

use crate::helpers::{all, World, PRICE};

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn a_group_commits_its_good_payments_and_leaves_no_trace_of_the_others(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    for user in 1..=4 {
        world.create_user(user).await;
    }
    let (a, _) = world.pending_payment(1, 1).await;
    let (b, _) = world.pending_payment(2, 1).await;
    let (c, _) = world.pending_payment(3, 1).await;
    // Paid at CryptoCloud, but checkout never stored the payment (yet).
    let orphan = world.create_invoice(&world.unique("order"), PRICE).await;
    // Our payment asked for another amount than the invoice's.
    let order = world.unique("order");
    let wrong = world.create_invoice(&order, PRICE).await;
    world
        .insert_payment(4, Some(&wrong), &order, "98", 1, "pending")
        .await;
    for invoice in [&a, &b, &c, &orphan, &wrong] {
        world.pay(invoice, None).await;
    }
    let ctx = world.context();
    let messages = [
        world.postback("m-a", &a),
        world.postback("m-b", &b),
        world.postback("m-a", &a), // the same message twice in one group
        world.postback("m-orphan", &orphan),
        world.postback("m-wrong", &wrong),
        world.postback("m-c", &c),
        b"not protobuf at all".to_vec(),
    ];
    let batch: Vec<Message<'_>> = messages
        .iter()
        .map(|m| Message::new(m, Some("amqp-id")))
        .collect();

    let outcomes = process(&ctx, &batch).await;

    assert!(
        matches!(outcomes[0], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[1], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], Outcome::Duplicate, "{outcomes:?}");
    assert!(
        matches!(&outcomes[3], Outcome::Retry(Reason::PaymentNotFound(_))),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[4], Outcome::DeadLetter(Reason::Mismatch(_))),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[5], Outcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[6], Outcome::DeadLetter(Reason::Undecodable(_))),
        "{outcomes:?}"
    );
    // Exactly the three applied messages are in the inbox, completed, with their payment.
    assert_eq!(
        world
            .count(
                "SELECT count(*) FROM processed_messages \
                 WHERE outcome = 'completed' AND payment_id IS NOT NULL AND processed_at IS NOT NULL"
            )
            .await,
        3
    );
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        3
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM payments WHERE status = 'completed'")
            .await,
        3
    );
    for user in 1..=3 {
        assert_eq!(world.user(user).await.0, "pro", "user {user} upgraded");
    }
    assert_eq!(
        world.user(4).await.0,
        "free",
        "the mismatched payment changed nothing"
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        3
    );

    // The retried and dead-lettered messages can still be applied later: nothing of them
    // was kept. Once its payment appears, the orphan's postback applies.
    let order_id = orphan.order_id.clone().unwrap();
    world
        .insert_payment(4, Some(&orphan), &order_id, PRICE, 1, "pending")
        .await;
    let again = process(&ctx, &batch[3..4]).await;
    assert!(matches!(again[0], Outcome::Applied { .. }), "{again:?}");

    world.cleanup().await;
}

#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn groups_racing_over_the_same_messages_apply_each_once(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let mut messages = Vec::new();
    for user in 1..=6 {
        world.create_user(user).await;
        let (invoice, _) = world.pending_payment(user, 1).await;
        world.pay(&invoice, None).await;
        messages.push(world.postback(&format!("m-{user}"), &invoice));
    }
    let ctx = world.context();
    let forward: Vec<Message<'_>> = messages.iter().map(|m| Message::new(m, None)).collect();
    let backward: Vec<Message<'_>> = forward.iter().rev().copied().collect();

    // Four groups with the same six messages, in both orders, at the same moment.
    let groups = all([&forward, &backward, &forward, &backward].map(|g| process(&ctx, g))).await;

    let applied = groups
        .iter()
        .flatten()
        .filter(|o| matches!(o, Outcome::Applied { .. }))
        .count();
    assert_eq!(applied, 6, "{groups:?}");
    assert!(
        groups
            .iter()
            .flatten()
            .all(|o| matches!(o, Outcome::Applied { .. } | Outcome::Duplicate)),
        "{groups:?}"
    );
    assert_eq!(
        world.count("SELECT count(*) FROM processed_messages").await,
        6
    );
    assert_eq!(
        world
            .count("SELECT count(*) FROM outbox_events WHERE routing_key = 'subscription.upgraded'")
            .await,
        6
    );

    world.cleanup().await;
}

/// Two groups over the same two payments, whose messages (resends, so other message ids)
/// come in opposite orders: each locks the users and then the payments in one order, so
/// neither deadlocks and falls back to one-by-one.
#[sqlx::test(migrator = "platform::database::MIGRATOR")]
async fn groups_over_the_same_payments_in_opposite_orders_do_not_deadlock(
    opts: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let world = World::new(opts, connect).await;
    let ctx = world.context();
    for round in 0..5 {
        let (a_user, b_user) = (100 + 2 * round, 101 + 2 * round);
        world.create_user(a_user).await;
        world.create_user(b_user).await;
        let (a, _) = world.pending_payment(a_user, 1).await;
        let (b, _) = world.pending_payment(b_user, 1).await;
        world.pay(&a, None).await;
        world.pay(&b, None).await;
        // Sorted by message id, group one goes A then B, group two B then A.
        let one = [
            world.postback(&format!("{round}-1-a"), &a),
            world.postback(&format!("{round}-2-b"), &b),
        ];
        let two = [
            world.postback(&format!("{round}-1-b"), &b),
            world.postback(&format!("{round}-2-a"), &a),
        ];
        let one: Vec<Message<'_>> = one.iter().map(|m| Message::new(m, None)).collect();
        let two: Vec<Message<'_>> = two.iter().map(|m| Message::new(m, None)).collect();
        let (first, second) = tokio::join!(process(&ctx, &one), process(&ctx, &two));
        let applied = first
            .iter()
            .chain(&second)
            .filter(|o| matches!(o, Outcome::Applied { .. }))
            .count();
        assert_eq!(applied, 2, "{first:?} {second:?}");
    }
    assert_eq!(
        ctx.stats
            .group_fallbacks
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no group had to fall back"
    );
    world.cleanup().await;
}
