//! Gauges of what waits: pending deliveries, how long the oldest due one has been due
//! (delivery lag), and enabled endpoints whose last attempt failed.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::deliveries;

pub async fn run(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    loop {
        match deliveries::backlog(&pool).await {
            Ok(b) => {
                metrics::gauge!("dispatch_pending_deliveries").set(b.pending as f64);
                metrics::gauge!("dispatch_oldest_due_seconds").set(b.oldest_due_secs);
                metrics::gauge!("dispatch_failing_endpoints").set(b.failing_endpoints as f64);
            }
            Err(e) => tracing::debug!(error = %e, "backlog gauges not updated"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
