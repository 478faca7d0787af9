//! The inbox (`processed_messages`): a message id is claimed by the first statement of the
//! transaction that applies it, so a message is applied at most once.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Inserts the inbox row; false when the message id is already there.
#[tracing::instrument(skip(conn))]
pub async fn claim(
    conn: &mut PgConnection,
    message_id: &str,
    received_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        r#"INSERT INTO processed_messages (message_id, outcome, received_at)
           VALUES ($1, 'processing', $2)
           ON CONFLICT (message_id) DO NOTHING
           RETURNING message_id"#,
        message_id,
        received_at,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(claimed.is_some())
}

/// Removes this transaction's claim of a message that was not applied after all.
#[tracing::instrument(skip(conn))]
pub async fn unclaim(conn: &mut PgConnection, message_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM processed_messages WHERE message_id = $1 AND outcome = 'processing'",
        message_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Completes the inbox rows with what came of each message, in one statement. It runs
/// last before the commit, so `processed_at` is when the change became final.
#[tracing::instrument(skip_all, fields(count = entries.len()))]
pub async fn record(
    conn: &mut PgConnection,
    entries: &[(&str, i64, &'static str)],
) -> Result<(), sqlx::Error> {
    let message_ids: Vec<String> = entries.iter().map(|e| e.0.to_string()).collect();
    let payment_ids: Vec<i64> = entries.iter().map(|e| e.1).collect();
    let outcomes: Vec<String> = entries.iter().map(|e| e.2.to_string()).collect();
    sqlx::query!(
        r#"UPDATE processed_messages AS pm
           SET payment_id = r.payment_id, outcome = r.outcome, processed_at = clock_timestamp()
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS r(message_id, payment_id, outcome)
           WHERE pm.message_id = r.message_id"#,
        &message_ids,
        &payment_ids,
        &outcomes,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
