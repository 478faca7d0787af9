//! `Idempotency-Key` on `POST /api/v1/checkout`.
//!
//! A request claims its (user, key) row with `INSERT ... ON CONFLICT DO NOTHING` and a hash
//! of what it asks for. The winner creates the payment and stores its response; a request
//! that finds the row waits (polling with a deadline) until the response is there and
//! returns it. A different request under the same key is refused. Rows live 24 hours;
//! an expired row, or a claim whose holder died without answering, counts as absent.
//!
//! When the payment provider fails, the claim is released rather than answered: the
//! failed payment stays recorded, and a retry with the same key makes a fresh attempt.
//! That is what clients retrying a 502/503 with the same key want.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::domain::UserId;

/// How often a waiting request looks for the winner's response.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const MAX_KEY_LEN: usize = 255;

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 255 visible ASCII characters")]
pub struct InvalidKey;

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, InvalidKey> {
        let valid =
            !raw.is_empty() && raw.len() <= MAX_KEY_LEN && raw.iter().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(InvalidKey);
        }
        Ok(Self(
            String::from_utf8(raw.to_vec()).map_err(|_| InvalidKey)?,
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 over the normalised request fields, so two bodies that ask for the same thing
/// (`"PRO"` and `"pro"`, different field order) share a fingerprint.
pub fn fingerprint(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.as_bytes());
        // Unit separator: cannot occur in the fields, so ("ab","c") ≠ ("a","bc").
        hasher.update([0x1f]);
    }
    hex::encode(hasher.finalize())
}

/// A response stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What a request holding a key does next.
#[derive(Debug)]
pub enum Begun {
    /// This request owns the key: do the work, then [`complete`] or [`release`].
    Claimed,
    /// An earlier identical request already answered: send this.
    Replay(StoredResponse),
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("this Idempotency-Key was used for a different request")]
    Mismatch,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    StillRunning,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Claims `key` for `user`, or waits up to `wait` for the holder's response.
/// `lease`: a claim older than this with no response is abandoned and may be taken over.
#[tracing::instrument(skip(pool, key, hash), fields(key = key.as_str()))]
pub async fn begin(
    pool: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    hash: &str,
    wait: Duration,
    lease: Duration,
) -> Result<Begun, IdempotencyError> {
    let deadline = Instant::now() + wait;
    loop {
        if try_claim(pool, user, key, hash, lease).await? {
            return Ok(Begun::Claimed);
        }
        if let Some(row) = load(pool, user, key).await? {
            if row.request_hash != hash {
                return Err(IdempotencyError::Mismatch);
            }
            if let (Some(status), Some(body)) = (row.response_status, row.response_body) {
                let status = u16::try_from(status).unwrap_or(500);
                return Ok(Begun::Replay(StoredResponse { status, body }));
            }
        }
        // Still being worked on (or released a moment ago: the next round claims it).
        if Instant::now() >= deadline {
            return Err(IdempotencyError::StillRunning);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Deletes the key's row if it expired or was abandoned, then tries to insert ours.
async fn try_claim(
    pool: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    hash: &str,
    lease: Duration,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "DELETE FROM idempotency_keys \
         WHERE user_id = $1 AND idempotency_key = $2 \
           AND (expires_at <= now() \
                OR (response_status IS NULL AND created_at < now() - make_interval(secs => $3::float8)))",
        user.get(),
        key.as_str(),
        lease.as_secs_f64()
    )
    .execute(pool)
    .await?;
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, idempotency_key, request_hash) \
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        user.get(),
        key.as_str(),
        hash
    )
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

struct KeyRow {
    request_hash: String,
    response_status: Option<i16>,
    response_body: Option<serde_json::Value>,
}

async fn load(pool: &PgPool, user: UserId, key: &IdempotencyKey) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as!(
        KeyRow,
        "SELECT request_hash, response_status, response_body FROM idempotency_keys \
         WHERE user_id = $1 AND idempotency_key = $2 AND expires_at > now()",
        user.get(),
        key.as_str()
    )
    .fetch_optional(pool)
    .await
}

/// Stores the response of the claimed key.
#[tracing::instrument(skip(pool, key, response), fields(key = key.as_str()))]
pub async fn complete(
    pool: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    payment_id: i64,
    response: &StoredResponse,
) -> sqlx::Result<()> {
    let status = i16::try_from(response.status).unwrap_or(500);
    sqlx::query!(
        "UPDATE idempotency_keys SET payment_id = $3, response_status = $4, response_body = $5 \
         WHERE user_id = $1 AND idempotency_key = $2",
        user.get(),
        key.as_str(),
        payment_id,
        status,
        response.body
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives the key up without an answer, so the next request with it starts afresh.
#[tracing::instrument(skip(pool, key), fields(key = key.as_str()))]
pub async fn release(pool: &PgPool, user: UserId, key: &IdempotencyKey) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM idempotency_keys \
         WHERE user_id = $1 AND idempotency_key = $2 AND response_status IS NULL",
        user.get(),
        key.as_str()
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes expired keys (run periodically); returns how many went.
#[tracing::instrument(skip(pool))]
pub async fn delete_expired(pool: &PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query!("DELETE FROM idempotency_keys WHERE expires_at <= now()")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(IdempotencyKey::parse(b"abc-123_XYZ").is_ok());
        assert!(IdempotencyKey::parse(&[b'a'; 255]).is_ok());
        assert!(IdempotencyKey::parse(&[b'a'; 256]).is_err());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"has space").is_err());
        assert!(IdempotencyKey::parse("ключ".as_bytes()).is_err());
    }

    #[test]
    fn fingerprints_separate_fields() {
        assert_eq!(fingerprint(&["pro", "1"]), fingerprint(&["pro", "1"]));
        assert_ne!(fingerprint(&["pro", "1"]), fingerprint(&["pro", "2"]));
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["x"]).len(), 64);
    }

    proptest! {
        #[test]
        fn parse_accepts_only_visible_ascii(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let ok = !bytes.is_empty() && bytes.len() <= 255 && bytes.iter().all(u8::is_ascii_graphic);
            prop_assert_eq!(IdempotencyKey::parse(&bytes).is_ok(), ok);
        }
    }
}
