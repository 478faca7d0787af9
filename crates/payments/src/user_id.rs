//! A user id: the positive 64-bit integer in the user token's `sub` and `users.id`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
#[sqlx(transparent)]
pub struct UserId(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is a positive integer")]
pub struct InvalidUserId;

impl UserId {
    pub fn new(value: i64) -> Result<Self, InvalidUserId> {
        if value > 0 {
            Ok(Self(value))
        } else {
            Err(InvalidUserId)
        }
    }

    /// From a `sub` claim: digits only, no sign, no spaces.
    pub fn parse(text: &str) -> Result<Self, InvalidUserId> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidUserId);
        }
        text.parse::<i64>()
            .map_err(|_| InvalidUserId)
            .and_then(Self::new)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_positive_integers_are_user_ids() {
        assert_eq!(UserId::parse("42").unwrap().get(), 42);
        assert_eq!(UserId::parse("9000000000").unwrap().get(), 9_000_000_000);
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "abc",
            "99999999999999999999",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
        assert!(UserId::new(0).is_err());
    }
}
