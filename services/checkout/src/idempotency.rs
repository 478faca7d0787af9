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

/// Proof of holding a key: [`complete`] and [`release`] act only while the row still
/// carries it, so a holder whose lease lapsed cannot overwrite its successor's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim(uuid::Uuid);

/// What a request holding a key does next.
#[derive(Debug)]
pub enum Begun {
    /// This request owns the key: do the work, then [`complete`] or [`release`].
    Claimed(Claim),
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
        if let Some(claim) = try_claim(pool, user, key, hash, lease).await? {
            return Ok(Begun::Claimed(claim));
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
) -> sqlx::Result<Option<Claim>> {
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
    let claim = Claim(uuid::Uuid::new_v4());
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (user_id, idempotency_key, request_hash, claim_token) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        user.get(),
        key.as_str(),
        hash,
        claim.0
    )
    .execute(pool)
    .await?;
    Ok((inserted.rows_affected() == 1).then_some(claim))
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

/// Stores the response of the claimed key; false when the claim was lost meanwhile (its
/// lease lapsed and another request took the key over: that one's row is left alone).
#[tracing::instrument(skip(pool, key, response), fields(key = key.as_str()))]
pub async fn complete(
    pool: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    claim: Claim,
    payment_id: i64,
    response: &StoredResponse,
) -> sqlx::Result<bool> {
    let status = i16::try_from(response.status).unwrap_or(500);
    let done = sqlx::query!(
        "UPDATE idempotency_keys SET payment_id = $4, response_status = $5, response_body = $6 \
         WHERE user_id = $1 AND idempotency_key = $2 AND claim_token = $3 \
           AND response_status IS NULL",
        user.get(),
        key.as_str(),
        claim.0,
        payment_id,
        status,
        response.body
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the key up without an answer, so the next request with it starts afresh (only
/// while this claim still holds it).
#[tracing::instrument(skip(pool, key), fields(key = key.as_str()))]
pub async fn release(
    pool: &PgPool,
    user: UserId,
    key: &IdempotencyKey,
    claim: Claim,
) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM idempotency_keys \
         WHERE user_id = $1 AND idempotency_key = $2 AND claim_token = $3 \
           AND response_status IS NULL",
        user.get(),
        key.as_str(),
        claim.0
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

    /// A holder whose lease lapsed while it still worked: the request that took the key
    /// over keeps its row, whatever the first holder does afterwards.
    #[sqlx::test(migrator = "platform::database::MIGRATOR")]
    async fn a_lapsed_holder_cannot_overwrite_the_request_that_took_over(pool: PgPool) {
        let user = UserId::new(5).unwrap();
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH u AS (INSERT INTO users (id) VALUES (5)) \
             INSERT INTO payments (user_id, order_id, amount, currency, subscription_tier, subscription_months) \
             VALUES (5, 'o1', 1, 'USD', 'pro', 1), (5, 'o2', 1, 'USD', 'pro', 1) RETURNING id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let key = IdempotencyKey::parse(b"key-1").unwrap();
        let hash = fingerprint(&["pro", "1"]);
        let wait = Duration::from_millis(100);
        let Begun::Claimed(first) = begin(&pool, user, &key, &hash, wait, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("the first request claims the key")
        };
        // The first holder is still running; its lease (zero here) has lapsed.
        let Begun::Claimed(second) = begin(&pool, user, &key, &hash, wait, Duration::ZERO)
            .await
            .unwrap()
        else {
            panic!("the lapsed claim is taken over")
        };
        assert_ne!(first, second);
        let answer = |id: i64| StoredResponse {
            status: 201,
            body: serde_json::json!({"payment_id": id}),
        };
        // The first holder finishes late: neither its answer nor its release lands.
        assert!(!complete(&pool, user, &key, first, ids[0], &answer(ids[0]))
            .await
            .unwrap());
        release(&pool, user, &key, first).await.unwrap();
        assert!(complete(&pool, user, &key, second, ids[1], &answer(ids[1]))
            .await
            .unwrap());
        let long = Duration::from_secs(3600);
        match begin(&pool, user, &key, &hash, wait, long).await.unwrap() {
            Begun::Replay(stored) => assert_eq!(stored, answer(ids[1])),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn parse_accepts_only_visible_ascii(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let ok = !bytes.is_empty() && bytes.len() <= 255 && bytes.iter().all(u8::is_ascii_graphic);
            prop_assert_eq!(IdempotencyKey::parse(&bytes).is_ok(), ok);
        }
    }
}
