//! The operator commands: each connects to what it needs, does its job once and returns.

use std::time::Duration;

use platform::broker::{Broker, Topology};
use tokio_util::sync::CancellationToken;

use crate::context::Context;
use crate::dlq::{self, DeadLetter, Selector};
use crate::outbox;
use crate::settings::{BrokerSettings, DatabaseSettings, Settings};
use crate::startup::cryptocloud_client;
use crate::sweep::{self, ReconcileReport};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// `subscription-worker migrate`.
pub async fn migrate(settings: &DatabaseSettings) -> anyhow::Result<()> {
    let pool = platform::database::connect_and_migrate(&settings.database_url, 2).await?;
    pool.close().await;
    Ok(())
}

/// Connects to RabbitMQ for a one-off command; the token closes the connection.
async fn connect(
    settings: &BrokerSettings,
    topology: Topology,
    token: &CancellationToken,
) -> anyhow::Result<Broker> {
    let broker = Broker::start(settings.amqp_url.clone(), topology, token.clone());
    if !broker.wait_ready(CONNECT_TIMEOUT).await {
        anyhow::bail!("cannot connect to RabbitMQ (AMQP_URL) within {CONNECT_TIMEOUT:?}");
    }
    Ok(broker)
}

/// `subscription-worker dlq list`.
pub async fn dlq_list(
    settings: &BrokerSettings,
    topology: Topology,
) -> anyhow::Result<Vec<DeadLetter>> {
    let token = CancellationToken::new();
    let _close = token.clone().drop_guard();
    let broker = connect(settings, topology, &token).await?;
    dlq::list(&broker).await
}

/// `subscription-worker dlq replay`.
pub async fn dlq_replay(
    settings: &BrokerSettings,
    topology: Topology,
    selector: &Selector,
) -> anyhow::Result<Vec<DeadLetter>> {
    let token = CancellationToken::new();
    let _close = token.clone().drop_guard();
    let broker = connect(settings, topology, &token).await?;
    dlq::replay(&broker, selector).await
}

/// `subscription-worker reconcile --now`: one pass, then the upgrade events it wrote are
/// published if the broker is reachable (a running worker's relay does it otherwise).
pub async fn reconcile_now(
    settings: &Settings,
    topology: Topology,
    older_than: Option<Duration>,
) -> anyhow::Result<ReconcileReport> {
    let pool = platform::database::connect_and_migrate(&settings.database_url, 4).await?;
    let ctx = Context::new(
        pool.clone(),
        cryptocloud_client(settings)?,
        settings.plans()?,
    );
    let report = sweep::reconcile(
        &ctx,
        older_than.unwrap_or_else(|| settings.reconcile_after()),
    )
    .await?;
    if report.completed > 0 {
        let token = CancellationToken::new();
        let _close = token.clone().drop_guard();
        let broker_settings = BrokerSettings {
            amqp_url: settings.amqp_url.clone(),
        };
        match connect(&broker_settings, topology, &token).await {
            Ok(broker) => while outbox::publish_pending(&pool, &broker, 50).await? == 50 {},
            Err(e) => {
                tracing::warn!(error = %e, "upgrade events stay in the outbox for a running worker")
            }
        }
    }
    pool.close().await;
    Ok(report)
}
