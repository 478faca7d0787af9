//! Attempts due deliveries: claims them from the database (woken by new events and every
//! second otherwise), runs each attempt as its own task under two limits (attempts in
//! flight overall, and exactly `per_endpoint` per endpoint, so a slow endpoint holds only
//! its own slots), and records every outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::deliveries::{self, AttemptResult, DeliveryStatus, Due, Recorded, Trigger};
use crate::sender::Sender;

/// How often due deliveries are looked for when nothing wakes the scheduler.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a wake-up waits for others before claiming.
const CLAIM_PAUSE: Duration = Duration::from_millis(5);
/// A lease outlives the attempt's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// What every attempt needs; cheap to clone.
#[derive(Clone)]
pub struct Dispatch {
    pub pool: PgPool,
    pub sender: Sender,
    pub schedule: Arc<Vec<Duration>>,
    pub disable_after: Duration,
}

impl Dispatch {
    /// Attempts `due` and records the outcome (metrics and a line for a disabled endpoint
    /// included).
    pub async fn attempt(
        &self,
        due: &Due,
        trigger: Trigger,
    ) -> sqlx::Result<(AttemptResult, Recorded)> {
        let result = self.sender.attempt(due).await;
        let outcome = if result.delivered() {
            "delivered"
        } else {
            "failed_attempt"
        };
        metrics::histogram!("dispatch_attempt_duration_seconds", "outcome" => outcome)
            .record(result.duration.as_secs_f64());
        let recorded = deliveries::record_attempt(
            &self.pool,
            due,
            &result,
            trigger,
            &self.schedule,
            self.disable_after,
        )
        .await?;
        let status = match recorded.status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        };
        metrics::counter!("dispatch_deliveries_total", "outcome" => status).increment(1);
        if recorded.status == DeliveryStatus::Delivered {
            let lag = (chrono::Utc::now() - due.occurred_at)
                .num_milliseconds()
                .max(0);
            metrics::histogram!("dispatch_event_lag_seconds").record(lag as f64 / 1000.0);
        }
        tracing::info!(
            delivery_id = %due.delivery_id,
            endpoint_id = %due.endpoint_id,
            event_id = %due.event_id,
            event_type = %due.event_type,
            response_status = result.response_status,
            error = result.error.as_deref(),
            status,
            "attempt"
        );
        if recorded.disabled_endpoint {
            metrics::counter!("dispatch_endpoints_disabled_total").increment(1);
            tracing::warn!(
                endpoint_id = %due.endpoint_id,
                "endpoint disabled: every attempt failed for DISPATCH_DISABLE_AFTER_HOURS"
            );
        }
        Ok((result, recorded))
    }
}

/// Limits of one process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub concurrency: usize,
    pub per_endpoint: usize,
    pub timeout: Duration,
}

/// Runs until `shutdown`, then waits for the attempts in flight.
pub async fn run(
    dispatch: Dispatch,
    limits: Limits,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.concurrency.max(1)));
    let in_flight: Arc<Mutex<HashMap<Uuid, usize>>> = Arc::default();
    let per_endpoint = limits.per_endpoint.max(1);
    let lease = limits.timeout + LEASE_MARGIN;
    let mut tasks = JoinSet::new();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        while tasks.try_join_next().is_some() {}
        let free = slots.available_permits();
        let running: Vec<(Uuid, i64)> = in_flight
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(id, n)| (*id, *n as i64))
            .collect();
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            deliveries::claim_due(
                &dispatch.pool,
                free as i64,
                per_endpoint as i64,
                &running,
                lease,
            )
            .await
        };
        let claimed = match claimed {
            Ok(claimed) => {
                failures = 0;
                claimed
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(error = %e, "cannot claim due deliveries; retrying");
                }
                Vec::new()
            }
        };
        let full = claimed.len() == free && free > 0;
        for due in claimed {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            *in_flight
                .lock()
                .expect("not poisoned")
                .entry(due.endpoint_id)
                .or_default() += 1;
            let dispatch = dispatch.clone();
            let in_flight = in_flight.clone();
            let wake = wake.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                if let Err(e) = dispatch.attempt(&due, Trigger::Schedule).await {
                    // The lease runs out and the delivery is attempted again.
                    tracing::warn!(delivery_id = %due.delivery_id, error = %e,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "cannot record an attempt; it will be made again");
                }
                let mut map = in_flight.lock().expect("not poisoned");
                if let Some(n) = map.get_mut(&due.endpoint_id) {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&due.endpoint_id);
                    }
                }
                drop(map);
                drop(permit);
                // A slot is free: there may be more to claim at once.
                wake.notify_one();
            });
        }
        if full {
            continue; // more may be due right now
        }
        tokio::select! {
            // Under load, wake-ups come with every event and every finished attempt: a
            // moment's pause lets them add up to one claim instead of one each.
            _ = wake.notified() => tokio::time::sleep(CLAIM_PAUSE).await,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    // Attempts in flight finish (each within its timeout) and are recorded.
    while tasks.join_next().await.is_some() {}
}
