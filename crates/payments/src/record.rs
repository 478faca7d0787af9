//! A payment row as the services read it, and the cursor of a user's history.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{PaymentStatus, Tier, UserId};

/// One payment as stored.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: i64,
    pub user_id: UserId,
    pub invoice_id: Option<String>,
    pub order_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub payment_method: Option<String>,
    pub status: PaymentStatus,
    pub subscription_tier: Tier,
    pub subscription_months: i32,
    pub payment_url: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// Where a page of history starts: after the row with this `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn of(record: &PaymentRecord) -> Self {
        Self {
            created_at: record.created_at,
            id: record.id,
        }
    }

    /// `<microseconds since the epoch>_<id>`.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.created_at.timestamp_micros(), self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        let micros: i64 = micros.parse().ok()?;
        let id: i64 = id.parse().ok()?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros)?,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            created_at: DateTime::from_timestamp_micros(1_733_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "_",
            "1_",
            "_1",
            "a_1",
            "1_b",
            "1-2",
            "99999999999999999999_1",
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
