//! Field shapes the parser in `cryptocloud` leaves open: a status is a short lower-case
//! word, a currency is a code such as `BTC` or `USDT_TRC20`. Parsed once, at the edge.

use std::fmt;

const MAX_STATUS_LEN: usize = 32;
const MAX_CURRENCY_LEN: usize = 32;
const MAX_CURRENCY_SEGMENT_LEN: usize = 16;

/// A postback or invoice status (`success`, `paid`, `partial`, ...). Values other than the
/// documented ones are kept: the worker asks CryptoCloud before acting on any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status(String);

impl Status {
    pub fn parse(raw: &str) -> Result<Status, String> {
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if s.len() > MAX_STATUS_LEN {
            return Err(format!("longer than {MAX_STATUS_LEN} characters"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("must be a word of letters, digits, `_` or `-`".to_owned());
        }
        Ok(Status(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A crypto currency code: upper-case letters and digits, optionally followed by
/// `_NETWORK` parts (`BTC`, `USDT_TRC20`, `USDC_ERC20`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(raw: &str) -> Result<CurrencyCode, String> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() < 2 || s.len() > MAX_CURRENCY_LEN {
            return Err(format!("must be 2 to {MAX_CURRENCY_LEN} characters long"));
        }
        let well_formed = s.split('_').enumerate().all(|(i, part)| {
            let min = if i == 0 { 2 } else { 1 };
            (min..=MAX_CURRENCY_SEGMENT_LEN).contains(&part.len())
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !well_formed {
            return Err("must be a currency code such as BTC or USDT_TRC20".to_owned());
        }
        Ok(CurrencyCode(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn statuses_are_normalised_words() {
        assert_eq!(Status::parse(" Success ").unwrap().as_str(), "success");
        assert_eq!(Status::parse("overpaid").unwrap().as_str(), "overpaid");
        for bad in ["", "   ", "paid!", "pa id", "a\u{0}b", &"x".repeat(33), "ü"] {
            assert!(Status::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn currency_codes_have_a_ticker_and_optional_networks() {
        for good in ["BTC", "usdt_trc20", "USDC_ERC20", "TON", "ETH_BASE", "A1_B"] {
            assert!(
                CurrencyCode::parse(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
        assert_eq!(
            CurrencyCode::parse(" usdt_trc20 ").unwrap().as_str(),
            "USDT_TRC20"
        );
        for bad in [
            "",
            "B",
            "USDT__TRC20",
            "_BTC",
            "BTC_",
            "US DT",
            "USD-T",
            "€UR",
            &"A".repeat(33),
            "A_B",
        ] {
            assert!(
                CurrencyCode::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,40}") {
            if let Ok(status) = Status::parse(&s) {
                prop_assert_eq!(Status::parse(status.as_str()).unwrap(), status);
            }
            if let Ok(code) = CurrencyCode::parse(&s) {
                prop_assert_eq!(CurrencyCode::parse(code.as_str()).unwrap(), code);
            }
        }
    }
}
