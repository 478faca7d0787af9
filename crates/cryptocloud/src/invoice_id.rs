//! CryptoCloud invoice ids: `INV-7Q2K9XAB` in API objects, bare `7Q2K9XAB` in
//! postbacks. Both forms parse into one normalised value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const PREFIX: &str = "INV-";
const MIN_LEN: usize = 4;
const MAX_LEN: usize = 32;

/// A CryptoCloud invoice id, stored as its bare uppercase code.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvoiceId(String);

/// The text is not an invoice id (`INV-XXXXXXXX` or `XXXXXXXX`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invoice id {input:?}: {reason}")]
pub struct InvalidInvoiceId {
    /// The rejected input, cut to a sane length.
    pub input: String,
    pub reason: &'static str,
}

impl InvoiceId {
    /// Accepts `INV-XXXXXXXX` (prefix in any case) or the bare code; the code is
    /// 4..=32 ASCII alphanumerics and is normalised to uppercase.
    pub fn parse(s: &str) -> Result<InvoiceId, InvalidInvoiceId> {
        let fail = |reason| InvalidInvoiceId {
            input: s.chars().take(64).collect(),
            reason,
        };
        let code = match s.get(..PREFIX.len()) {
            Some(head) if head.eq_ignore_ascii_case(PREFIX) => &s[PREFIX.len()..],
            _ => s,
        };
        if code.len() < MIN_LEN {
            return Err(fail("code is shorter than 4 characters"));
        }
        if code.len() > MAX_LEN {
            return Err(fail("code is longer than 32 characters"));
        }
        if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(fail("code must be ASCII letters and digits"));
        }
        Ok(InvoiceId(code.to_ascii_uppercase()))
    }

    /// The bare uppercase code, as in postbacks (`7Q2K9XAB`).
    pub fn code(&self) -> &str {
        &self.0
    }

    /// The prefixed form, as in API objects and our `payments` table (`INV-7Q2K9XAB`).
    pub fn prefixed(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }

    /// True when `other` names this invoice, in either form and any case.
    pub fn matches(&self, other: &str) -> bool {
        InvoiceId::parse(other).is_ok_and(|o| o == *self)
    }
}

impl fmt::Display for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.0)
    }
}

impl fmt::Debug for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvoiceId({PREFIX}{})", self.0)
    }
}

impl FromStr for InvoiceId {
    type Err = InvalidInvoiceId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InvoiceId::parse(s)
    }
}

impl TryFrom<&str> for InvoiceId {
    type Error = InvalidInvoiceId;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        InvoiceId::parse(s)
    }
}

impl TryFrom<String> for InvoiceId {
    type Error = InvalidInvoiceId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        InvoiceId::parse(&s)
    }
}

impl Serialize for InvoiceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InvoiceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        InvoiceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_both_forms_and_normalises() {
        for input in [
            "INV-7Q2K9XAB",
            "inv-7q2k9xab",
            "Inv-7Q2k9xAB",
            "7Q2K9XAB",
            "7q2k9xab",
        ] {
            let id = InvoiceId::parse(input).unwrap();
            assert_eq!(id.code(), "7Q2K9XAB", "{input}");
            assert_eq!(id.prefixed(), "INV-7Q2K9XAB");
            assert_eq!(id.to_string(), "INV-7Q2K9XAB");
        }
    }

    #[test]
    fn accepts_long_static_wallet_codes() {
        let code = "A".repeat(32);
        assert_eq!(InvoiceId::parse(&code).unwrap().code(), code);
    }

    #[test]
    fn rejects_bad_ids() {
        for input in [
            "",
            "INV-",
            "INV-ABC",
            "ABC",
            "INV-7Q2K 9XAB",
            "INV_7Q2K9XAB",
            "INV-7Q2K-9XAB",
            "7Q2K9XAB\n",
            "ÄÖÜÄÖÜÄÖ",
            &"A".repeat(33),
            "INV-INV-7Q2K9XAB",
        ] {
            assert!(
                InvoiceId::parse(input).is_err(),
                "{input:?} should be rejected"
            );
        }
    }

    #[test]
    fn serde_writes_prefixed_and_reads_both() {
        let id: InvoiceId = serde_json::from_str("\"7q2k9xab\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"INV-7Q2K9XAB\"");
        let id2: InvoiceId = serde_json::from_str("\"INV-7Q2K9XAB\"").unwrap();
        assert_eq!(id, id2);
        assert!(serde_json::from_str::<InvoiceId>("\"INV-!!\"").is_err());
        assert!(serde_json::from_str::<InvoiceId>("12345678").is_err());
    }

    #[test]
    fn from_str_and_matches() {
        let id: InvoiceId = "inv-abcd1234".parse().unwrap();
        assert!(id.matches("ABCD1234"));
        assert!(id.matches("INV-abcd1234"));
        assert!(!id.matches("ABCD1235"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,40}") {
            if let Ok(id) = InvoiceId::parse(&s) {
                prop_assert_eq!(InvoiceId::parse(&id.prefixed()).unwrap(), id.clone());
                prop_assert_eq!(InvoiceId::parse(id.code()).unwrap(), id);
            }
        }

        #[test]
        fn valid_codes_parse(code in "[A-Za-z0-9]{4,32}") {
            let id = InvoiceId::parse(&code).unwrap();
            prop_assert_eq!(id.code(), code.to_ascii_uppercase());
        }
    }
}
