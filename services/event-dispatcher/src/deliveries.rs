//! Deliveries (`webhook_deliveries`): one per (event, endpoint), made when the event is
//! received, attempted on their own schedule from the database, so an endpoint that is
//! slow or down delays nothing else, and a dispatcher that dies mid-attempt loses nothing
//! (its lease runs out and the delivery is due again, with the same event id).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// `pending` while attempts remain, then `delivered` or `failed`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// What started an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Its turn on the schedule.
    Schedule,
    /// `POST …/deliveries/{id}/resend`: one attempt now, the schedule untouched.
    Resend,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Resend => "resend",
        }
    }
}

/// An event as the intake stores it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The webhook body, JSON.
    pub body: String,
}

/// Stores the events (each once, whatever the redeliveries) and a pending delivery, due
/// now, for every enabled endpoint subscribed to each one's type, in one transaction (one
/// commit for a whole group, as the worker's group commit); how many deliveries were new.
#[tracing::instrument(skip_all, fields(count = events.len()))]
pub async fn record_events(pool: &PgPool, events: &[NewEvent]) -> sqlx::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    for e in events {
        ids.push(e.id.as_str());
        types.push(e.event_type.as_str());
        bodies.push(e.body.as_str());
        times.push(e.occurred_at);
    }
    let mut tx = pool.begin().await?;
    // A redelivered copy in the same group is one more conflict, nothing else.
    sqlx::query!(
        r#"INSERT INTO webhook_events (id, event_type, body, occurred_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (id) DO NOTHING"#,
        &ids as &[&str],
        &types as &[&str],
        &bodies as &[&str],
        &times,
    )
    .execute(&mut *tx)
    .await?;
    let made = sqlx::query!(
        r#"INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at)
           SELECT gen_random_uuid(), ev.id, e.id, 'pending', now()
           FROM unnest($1::text[], $2::text[]) AS ev(id, event_type)
           JOIN webhook_endpoints e
             ON e.enabled AND ('*' = ANY(e.event_types) OR ev.event_type = ANY(e.event_types))
           ON CONFLICT (event_id, endpoint_id) DO NOTHING"#,
        &ids as &[&str],
        &types as &[&str],
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(made.rows_affected())
}

/// A delivery to attempt, with what the attempt needs.
#[derive(Clone)]
pub struct Due {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    pub occurred_at: DateTime<Utc>,
    /// Scheduled attempts made before this one.
    pub attempts: i32,
}

impl std::fmt::Debug for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Due")
            .field("delivery_id", &self.delivery_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("event_id", &self.event_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Takes up to `limit` due deliveries of enabled endpoints, oldest first, at most
/// `per_endpoint` in flight per endpoint counting `in_flight` (endpoint, attempts running
/// here), and leases them for `lease`: another dispatcher skips them until it ends. Only
/// the oldest few due rows are looked at (the partial index on `next_attempt_at`), so a
/// claim costs the same with ten or a million waiting. The UPDATE re-checks that each is
/// still due, so two dispatchers never take the same one.
#[tracing::instrument(skip(pool, in_flight))]
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    per_endpoint: i64,
    in_flight: &[(Uuid, i64)],
    lease: Duration,
) -> sqlx::Result<Vec<Due>> {
    let (endpoints, running): (Vec<Uuid>, Vec<i64>) = in_flight.iter().copied().unzip();
    let saturated: Vec<Uuid> = in_flight
        .iter()
        .filter(|(_, n)| *n >= per_endpoint)
        .map(|(id, _)| *id)
        .collect();
    sqlx::query_as!(
        Due,
        r#"WITH running AS (
               SELECT * FROM unnest($3::uuid[], $4::bigint[]) AS r(endpoint_id, n)),
           -- Written so the planner walks the partial index in order and stops early.
           candidates AS (
               SELECT d.id, d.endpoint_id, d.next_attempt_at
               FROM webhook_deliveries d
               WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                 AND d.endpoint_id <> ALL($6::uuid[])
                 AND EXISTS (SELECT 1 FROM webhook_endpoints e
                             WHERE e.id = d.endpoint_id AND e.enabled)
               ORDER BY d.next_attempt_at
               LIMIT $1::bigint * 4),
           due AS (
               SELECT id FROM (
                   SELECT c.id, c.next_attempt_at, c.endpoint_id,
                          row_number() OVER (PARTITION BY c.endpoint_id
                                             ORDER BY c.next_attempt_at) AS nth
                   FROM candidates c) ranked
               LEFT JOIN running r ON r.endpoint_id = ranked.endpoint_id
               WHERE ranked.nth <= $2 - COALESCE(r.n, 0)
               ORDER BY ranked.next_attempt_at
               LIMIT $1)
           UPDATE webhook_deliveries d
           SET next_attempt_at = now() + make_interval(secs => $5), updated_at = now()
           FROM due, webhook_endpoints e, webhook_events ev
           WHERE d.id = due.id AND e.id = d.endpoint_id AND ev.id = d.event_id
             AND d.status = 'pending' AND d.next_attempt_at <= now()
           RETURNING d.id AS delivery_id, e.id AS endpoint_id, e.url, e.secret,
                     ev.id AS event_id, ev.event_type, ev.body, ev.occurred_at, d.attempts"#,
        limit,
        per_endpoint,
        &endpoints,
        &running,
        lease.as_secs_f64(),
        &saturated,
    )
    .fetch_all(pool)
    .await
}

/// One delivery with what an attempt needs, whatever its status (for a resend).
#[tracing::instrument(skip(pool))]
pub async fn due_for_resend(pool: &PgPool, delivery_id: Uuid) -> sqlx::Result<Option<Due>> {
    sqlx::query_as!(
        Due,
        r#"SELECT d.id AS delivery_id, e.id AS endpoint_id, e.url, e.secret,
                  ev.id AS event_id, ev.event_type, ev.body, ev.occurred_at, d.attempts
           FROM webhook_deliveries d
           JOIN webhook_endpoints e ON e.id = d.endpoint_id
           JOIN webhook_events ev ON ev.id = d.event_id
           WHERE d.id = $1"#,
        delivery_id
    )
    .fetch_optional(pool)
    .await
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub attempted_at: DateTime<Utc>,
    pub duration: Duration,
    /// The HTTP status, when an answer came.
    pub response_status: Option<u16>,
    /// Why it failed without an answer (or why the answer is not a delivery).
    pub error: Option<String>,
}

impl AttemptResult {
    pub fn delivered(&self) -> bool {
        self.response_status
            .is_some_and(|s| (200..300).contains(&s))
    }
}

/// What recording an attempt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub status: DeliveryStatus,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The endpoint was disabled by this failure.
    pub disabled_endpoint: bool,
}

/// Records the attempt and moves the delivery on, in one transaction: delivered on a 2xx;
/// otherwise a scheduled attempt waits the next step of `schedule` or, past its end,
/// fails; a resend leaves the schedule as it was. The endpoint's failing streak starts or
/// ends with it, and an endpoint failing for `disable_after` is disabled.
#[tracing::instrument(skip(pool, due, schedule), fields(delivery_id = %due.delivery_id))]
pub async fn record_attempt(
    pool: &PgPool,
    due: &Due,
    result: &AttemptResult,
    trigger: Trigger,
    schedule: &[Duration],
    disable_after: Duration,
) -> sqlx::Result<Recorded> {
    let delivered = result.delivered();
    let attempts = match trigger {
        Trigger::Schedule => due.attempts + 1,
        Trigger::Resend => due.attempts,
    };
    // After the n-th failed attempt, wait the n-th step; past the last one, give up.
    let wait = usize::try_from(attempts - 1)
        .ok()
        .and_then(|n| schedule.get(n));
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"INSERT INTO webhook_attempts
               (delivery_id, attempted_at, response_status, error, duration_ms, trigger)
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        due.delivery_id,
        result.attempted_at,
        result.response_status.map(i32::from),
        result.error,
        i32::try_from(result.duration.as_millis()).unwrap_or(i32::MAX),
        trigger.as_str(),
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query!(
        r#"UPDATE webhook_deliveries SET
               status = CASE WHEN $2 THEN 'delivered'
                             WHEN $3 THEN status
                             WHEN $5::float8 IS NULL THEN 'failed'
                             ELSE 'pending' END,
               attempts = $4,
               next_attempt_at = CASE WHEN $2 THEN NULL
                                      WHEN $3 THEN next_attempt_at
                                      WHEN $5::float8 IS NULL THEN NULL
                                      ELSE now() + make_interval(secs => $5::float8) END,
               updated_at = now()
           WHERE id = $1
           RETURNING status AS "status: DeliveryStatus", next_attempt_at"#,
        due.delivery_id,
        delivered,
        trigger == Trigger::Resend,
        attempts,
        wait.map(Duration::as_secs_f64),
    )
    .fetch_optional(&mut *tx)
    .await?;
    // Deleted meanwhile (with its endpoint): nothing left to record.
    let Some(row) = row else {
        return Ok(Recorded {
            status: DeliveryStatus::Failed,
            next_attempt_at: None,
            disabled_endpoint: false,
        });
    };
    // Only a change of streak writes the endpoint's row, so deliveries to one endpoint
    // rarely wait for each other here.
    sqlx::query!(
        r#"UPDATE webhook_endpoints
           SET failing_since = CASE WHEN $2 THEN now() ELSE NULL END
           WHERE id = $1 AND (failing_since IS NULL) = $2"#,
        due.endpoint_id,
        !delivered, // $2: failed
    )
    .execute(&mut *tx)
    .await?;
    let disabled_endpoint = !delivered
        && sqlx::query!(
            r#"UPDATE webhook_endpoints
               SET enabled = false, updated_at = now(),
                   disabled_reason = 'every attempt failed since '
                       || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
               WHERE id = $1 AND enabled
                 AND failing_since <= now() - make_interval(secs => $2)"#,
            due.endpoint_id,
            disable_after.as_secs_f64(),
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
    tx.commit().await?;
    Ok(Recorded {
        status: row.status,
        next_attempt_at: row.next_attempt_at,
        disabled_endpoint,
    })
}

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttemptLog {
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<i32>,
    /// Why the attempt failed without an answer (or why the answer is not a delivery).
    pub error: Option<String>,
    pub duration_ms: i32,
    /// `schedule` or `resend`.
    #[schema(example = "schedule")]
    pub trigger: String,
}

/// One delivery with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryLog {
    pub delivery_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub created_at: DateTime<Utc>,
    /// While pending: the next attempt (or the end of the one in flight).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptLog>,
}

/// The endpoint's deliveries made since `since` (all when `None`), newest first, at most
/// `limit`, only those in `status` when given.
#[tracing::instrument(skip(pool))]
pub async fn log(
    pool: &PgPool,
    endpoint_id: Uuid,
    status: Option<DeliveryStatus>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryLog>> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.event_id, ev.event_type, d.status AS "status: DeliveryStatus",
                  d.created_at, d.next_attempt_at
           FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
           WHERE d.endpoint_id = $1
             AND ($2::text IS NULL OR d.status = $2)
             AND ($3::timestamptz IS NULL OR d.created_at >= $3)
           ORDER BY d.created_at DESC, d.id DESC
           LIMIT $4"#,
        endpoint_id,
        status.map(|s| match s {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }),
        since,
        limit,
    )
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = sqlx::query!(
        r#"SELECT delivery_id, attempted_at, response_status, error, duration_ms, trigger
           FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY id"#,
        &ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryLog {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == r.id)
                .map(|a| AttemptLog {
                    attempted_at: a.attempted_at,
                    response_status: a.response_status,
                    error: a.error.clone(),
                    duration_ms: a.duration_ms,
                    trigger: a.trigger.clone(),
                })
                .collect(),
            delivery_id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            status: r.status,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
        })
        .collect())
}

/// Every failed delivery of the endpoint made since `since` starts a new schedule, due now;
/// how many.
#[tracing::instrument(skip(pool))]
pub async fn recover(pool: &PgPool, endpoint_id: Uuid, since: DateTime<Utc>) -> sqlx::Result<u64> {
    let recovered = sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
           WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2"#,
        endpoint_id,
        since,
    )
    .execute(pool)
    .await?;
    Ok(recovered.rows_affected())
}

/// What the metrics report of the backlog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    pub pending: i64,
    /// Seconds the longest-waiting due delivery has been due.
    pub oldest_due_secs: f64,
    /// Enabled endpoints whose last attempt failed.
    pub failing_endpoints: i64,
}

#[tracing::instrument(skip(pool))]
pub async fn backlog(pool: &PgPool) -> sqlx::Result<Backlog> {
    // Deliveries to a disabled endpoint wait for it to be enabled again: not a backlog.
    let row = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e
                  ON e.id = d.endpoint_id
              WHERE d.status = 'pending' AND e.enabled) AS "pending!",
             (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(d.next_attempt_at))::float8, 0)
              FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
              WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled) AS "oldest!",
             (SELECT count(*) FROM webhook_endpoints
              WHERE enabled AND failing_since IS NOT NULL) AS "failing!""#
    )
    .fetch_one(pool)
    .await?;
    Ok(Backlog {
        pending: row.pending,
        oldest_due_secs: row.oldest,
        failing_endpoints: row.failing,
    })
}
