//! Our own order reference, sent to CryptoCloud before the invoice exists so a payment row
//! and its invoice can always be matched.

use std::fmt;

/// `ord_<uuid v7, simple form>`: unique, and sortable by creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderId(String);

impl OrderId {
    pub fn generate() -> Self {
        Self(format!("ord_{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_prefixed_unique_and_short() {
        let a = OrderId::generate();
        let b = OrderId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("ord_"));
        assert_eq!(a.as_str().len(), 4 + 32);
        assert!(a.as_str()[4..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
