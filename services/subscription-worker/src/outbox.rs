//! The outbox relay: events written in the apply transaction are published after commit,
//! confirmed by the broker, then marked sent. Several workers may relay at once (rows are
//! taken with SKIP LOCKED); a crash between confirm and mark re-sends, so consumers of
//! `SubscriptionUpgraded` deduplicate by `event_id` (also the AMQP `message_id`).

use std::sync::Arc;
use std::time::Duration;

use lapin::BasicProperties;
use platform::broker::Broker;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const BATCH: i64 = 50;
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed round (an event returned as unroutable, nacked, the broker gone) the
/// relay waits this long, doubling up to `MAX_BACKOFF`, whatever commits wake it: a
/// returned event is never re-sent in a tight loop.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Relays until `shutdown`: after every wake-up (an apply committed) and every `interval`;
/// after a failure, only once its back-off has passed. Each tick refreshes the age gauge.
pub async fn run(
    pool: PgPool,
    broker: Broker,
    wake: Arc<Notify>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = MIN_BACKOFF;
    let mut failed = false;
    loop {
        if failed {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            refresh_age(&pool).await;
        } else {
            tokio::select! {
                _ = wake.notified() => {}
                _ = ticker.tick() => refresh_age(&pool).await,
                _ = shutdown.cancelled() => break,
            }
        }
        if !broker.is_ready() {
            continue;
        }
        failed = false;
        loop {
            match publish_pending(&pool, &broker, BATCH).await {
                Ok(n) if n == BATCH as usize => continue,
                Ok(_) => break,
                Err(e) => {
                    crate::counters::outbox_failure();
                    tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay failed; will try again");
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            backoff = MIN_BACKOFF;
        }
    }
}

/// `worker_outbox_oldest_unpublished_seconds`: how long the oldest unsent event has waited
/// (0 when none). Alerted on: events that cannot be published pile up here.
async fn refresh_age(pool: &PgPool) {
    let oldest = sqlx::query_scalar!(
        r#"SELECT EXTRACT(EPOCH FROM now() - created_at)::float8 AS "age!"
           FROM outbox_events WHERE published_at IS NULL ORDER BY id LIMIT 1"#
    )
    .fetch_optional(pool)
    .await;
    match oldest {
        Ok(age) => metrics::gauge!(crate::counters::OUTBOX_OLDEST).set(age.unwrap_or(0.0).max(0.0)),
        Err(e) => tracing::warn!(error = %e, "cannot read the outbox's age"),
    }
}

/// Publishes up to `limit` unsent events; returns how many were confirmed and marked.
#[tracing::instrument(skip(pool, broker))]
pub async fn publish_pending(pool: &PgPool, broker: &Broker, limit: i64) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        r#"SELECT id, event_id, routing_key, payload
           FROM outbox_events
           WHERE published_at IS NULL
           ORDER BY id
           LIMIT $1
           FOR UPDATE SKIP LOCKED"#,
        limit
    )
    .fetch_all(&mut *tx)
    .await?;
    let exchange = broker.topology().exchange.clone();
    // All at once on the shared channel: one round of confirms instead of one per event.
    let results = futures::future::join_all(rows.iter().map(|row| {
        let properties = BasicProperties::default()
            .with_message_id(row.event_id.clone().into())
            .with_content_type(events::CONTENT_TYPE.into())
            .with_type(events::event_type_of(&row.routing_key).into())
            .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64);
        let exchange = &exchange;
        async move {
            broker
                .publish(
                    exchange,
                    &row.routing_key,
                    &row.payload,
                    properties,
                    PUBLISH_TIMEOUT,
                )
                .await
                .map(|()| row.id)
        }
    }))
    .await;
    let mut confirmed = Vec::with_capacity(results.len());
    let mut failure = None;
    for result in results {
        match result {
            Ok(id) => confirmed.push(id),
            Err(e) => failure = Some(e),
        }
    }
    // Only what the broker confirmed is marked; the rest goes again on the next round.
    sqlx::query!(
        "UPDATE outbox_events SET published_at = now() WHERE id = ANY($1::bigint[])",
        &confirmed
    )
    .execute(&mut *tx)
    .await?;
    let published = confirmed.len();
    tx.commit().await?;
    if published > 0 {
        metrics::counter!(crate::counters::OUTBOX_PUBLISHED).increment(published as u64);
        tracing::debug!(published, "outbox events published");
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(published),
    }
}
