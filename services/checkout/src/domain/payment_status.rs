//! The `payments.status` values of the contract.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Our row exists; CryptoCloud has not answered yet.
    Creating,
    Pending,
    Completed,
    Partial,
    Canceled,
    Expired,
    Failed,
}

impl PaymentStatus {
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
        Some(match text {
            "creating" => Self::Creating,
            "pending" => Self::Pending,
            "completed" => Self::Completed,
            "partial" => Self::Partial,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips() {
        for s in [
            PaymentStatus::Creating,
            PaymentStatus::Pending,
            PaymentStatus::Completed,
            PaymentStatus::Partial,
            PaymentStatus::Canceled,
            PaymentStatus::Expired,
            PaymentStatus::Failed,
        ] {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(PaymentStatus::parse("paid"), None);
    }
}
