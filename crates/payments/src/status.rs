//! The `payments.status` values and which changes between them are legal. Every query that
//! changes a status asks [`PaymentStatus::sources_of`] which rows it may touch, so the
//! rules below are the only place the state machine is written down.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Our row exists; CryptoCloud has not answered yet.
    Creating,
    /// The invoice exists and waits for the payer.
    Pending,
    /// Paid (in full or more): the plan was extended. Final.
    Completed,
    /// CryptoCloud reports part of the amount.
    Partial,
    /// Canceled by the user (or at CryptoCloud before its expiry date).
    Canceled,
    /// CryptoCloud canceled the unpaid invoice at its expiry date.
    Expired,
    /// Never became an invoice (CryptoCloud failed, or the checkout was abandoned).
    Failed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        Self::Creating,
        Self::Pending,
        Self::Completed,
        Self::Partial,
        Self::Canceled,
        Self::Expired,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Partial => "partial",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a payment in `self` may become `next`.
    ///
    /// - `creating` becomes `pending` (the invoice exists) or `failed` (it never will).
    /// - Money decides over everything but `creating`: CryptoCloud reporting the invoice
    ///   paid completes the payment even after a cancel, an expiry or an abandoned
    ///   checkout (found by its order id), and a partial payment is recorded likewise.
    ///   `creating` waits: checkout has not stored the invoice yet.
    /// - Only an open invoice (`pending`, `partial`) is canceled or expires.
    /// - `completed` is final.
    pub fn can_become(self, next: Self) -> bool {
        use PaymentStatus::*;
        match (self, next) {
            (Completed, _) => false,
            (Creating, Pending | Failed) => true,
            (Creating, _) => false,
            (_, Completed) => true,
            (_, Partial) => true,
            (Pending | Partial, Canceled | Expired) => true,
            _ => false,
        }
    }

    /// Every status that may become `next`, as the text array the queries filter on.
    pub fn sources_of(next: Self) -> Vec<String> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_become(next))
            .map(|from| from.as_str().to_string())
            .collect()
    }

    /// Whether the payer can still pay this invoice.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Partial)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored as `TEXT` (the guide's column); a value outside the contract fails to decode.
impl sqlx::Type<sqlx::Postgres> for PaymentStatus {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for PaymentStatus {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Self::parse(text).ok_or_else(|| format!("unknown payment status {text:?}").into())
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for PaymentStatus {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    #[test]
    fn every_status_round_trips() {
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
    }

    #[test]
    fn the_state_machine_allows_exactly_these_changes() {
        let legal = [
            (Creating, Pending),
            (Creating, Failed),
            (Pending, Completed),
            (Pending, Partial),
            (Pending, Canceled),
            (Pending, Expired),
            (Partial, Completed),
            (Partial, Partial),
            (Partial, Canceled),
            (Partial, Expired),
            (Canceled, Completed),
            (Canceled, Partial),
            (Expired, Completed),
            (Expired, Partial),
            (Failed, Completed),
            (Failed, Partial),
        ];
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert_eq!(PaymentStatus::sources_of(Pending), vec!["creating"]);
        assert!(PaymentStatus::sources_of(Canceled).contains(&"partial".to_string()));
    }
}
