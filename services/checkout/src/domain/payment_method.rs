//! The coin a payer chose on our upgrade form, passed to CryptoCloud as the only
//! `available_currencies` entry.

use std::fmt;

/// Crypto codes CryptoCloud documents (`cryptocloud-api.md`, create invoice).
const KNOWN: &[&str] = &[
    "BTC",
    "LTC",
    "TRX",
    "SOL",
    "TON",
    "BNB",
    "ETH",
    "ETH_ARB",
    "ETH_BASE",
    "ETH_OPT",
    "USDT_ARB",
    "USDT_BSC",
    "USDT_ERC20",
    "USDT_OPT",
    "USDT_SOL",
    "USDT_TON",
    "USDT_TRC20",
    "USDC_ARB",
    "USDC_BASE",
    "USDC_BSC",
    "USDC_ERC20",
    "USDC_OPT",
    "USDC_SOL",
    "DAI_ARB",
    "DAI_BASE",
    "DAI_BSC",
    "DAI_ERC20",
    "DAI_OPT",
    "USDD_TRC20",
    "PYUSD_ERC20",
    "PYUSD_SOL",
    "XAUT_ERC20",
    "XAUT_TON",
    "ARB_ARB",
    "OP_OPT",
    "PEPE_BSC",
    "PEPE_ERC20",
    "SHIB_BSC",
    "SHIB_ERC20",
    "TRUMP_SOL",
];

/// The ones the dashboard offers, in this order.
pub const OFFERED: &[&str] = &["USDT_TRC20", "BTC", "ETH", "USDT_ERC20", "LTC", "TON"];

/// A known crypto code, upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod(&'static str);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment method {0:?}; use a CryptoCloud code such as USDT_TRC20 or BTC")]
pub struct InvalidPaymentMethod(pub String);

impl PaymentMethod {
    /// `None` (the payer picks the coin on CryptoCloud's page) for no value, an empty one,
    /// `crypto` (what the original guide's own upgrade example sends) or `any`.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, InvalidPaymentMethod> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        if ["crypto", "any"]
            .iter()
            .any(|w| raw.eq_ignore_ascii_case(w))
        {
            return Ok(None);
        }
        KNOWN
            .iter()
            .find(|code| code.eq_ignore_ascii_case(raw))
            .map(|code| Some(Self(code)))
            .ok_or_else(|| InvalidPaymentMethod(raw.chars().take(32).collect()))
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for PaymentMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_case_insensitively() {
        let m = PaymentMethod::parse_optional(Some("usdt_trc20"))
            .unwrap()
            .unwrap();
        assert_eq!(m.as_str(), "USDT_TRC20");
        assert_eq!(PaymentMethod::parse_optional(None).unwrap(), None);
        assert_eq!(PaymentMethod::parse_optional(Some(" ")).unwrap(), None);
        assert_eq!(PaymentMethod::parse_optional(Some("any")).unwrap(), None);
        assert_eq!(PaymentMethod::parse_optional(Some("crypto")).unwrap(), None);
        assert_eq!(
            PaymentMethod::parse_optional(Some(" Crypto ")).unwrap(),
            None
        );
        assert!(PaymentMethod::parse_optional(Some("DOGE")).is_err());
        assert!(PaymentMethod::parse_optional(Some("<script>")).is_err());
        for code in OFFERED {
            assert!(PaymentMethod::parse_optional(Some(code)).unwrap().is_some());
        }
    }
}
