//! The fees an invoice carries: a fixed network (transfer) fee per coin, and CryptoCloud's
//! service fee as a share of the invoice's USD amount. The values are plausible, not live.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::currencies::{round, Coin};

/// Service fee, in percent of the invoice amount (CryptoCloud's base tariff).
const SERVICE_FEE_PERCENT: Decimal = Decimal::from_parts(19, 0, 0, false, 1);

/// Network fee per coin, as (mantissa, scale) in the coin's own units: roughly what one
/// transfer costs on that network, and always at least a cent at the sandbox's rates, so
/// `fee_usd` is never `0.0`.
const NETWORK_FEES: &[(&str, i64, u32)] = &[
    ("USDT_TRC20", 5, 1),
    ("USDT_ERC20", 25, 1),
    ("USDT_BSC", 1, 1),
    ("USDT_TON", 5, 2),
    ("USDT_SOL", 2, 2),
    ("USDC_ERC20", 25, 1),
    ("USDC_BSC", 1, 1),
    ("USDC_SOL", 2, 2),
    ("DAI_ERC20", 25, 1),
    ("BTC", 15, 7),
    ("LTC", 1, 4),
    ("ETH", 5, 5),
    ("TRX", 11, 1),
    ("SOL", 2, 4),
    ("TON", 1, 2),
    ("BNB", 5, 5),
];

/// Who pays the network fee (`side_commission`), a project setting at CryptoCloud.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideCommission {
    /// Added to what the payer owes.
    #[default]
    Client,
    /// Taken from what the merchant receives.
    Merchant,
}

impl SideCommission {
    pub fn as_str(self) -> &'static str {
        match self {
            SideCommission::Client => "client",
            SideCommission::Merchant => "merchant",
        }
    }
}

/// The network fee of one payment in `coin`, in the coin's units (never zero).
pub fn network_fee(coin: &Coin) -> Decimal {
    NETWORK_FEES
        .iter()
        .find(|(code, _, _)| *code == coin.fullcode)
        .map(|(_, m, s)| Decimal::new(*m, *s))
        .unwrap_or_else(|| coin.unit())
}

/// The service fee of an invoice of `amount_usd`, in USD, to the cent.
pub fn service_fee_usd(amount_usd: Decimal) -> Decimal {
    round(amount_usd * SERVICE_FEE_PERCENT / Decimal::ONE_HUNDRED, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currencies::{find_coin, COINS};
    use rust_decimal_macros::dec;

    #[test]
    fn every_coin_has_a_positive_fee_it_can_express() {
        for coin in COINS {
            let fee = network_fee(coin);
            assert!(fee > Decimal::ZERO, "{}", coin.fullcode);
            assert_eq!(round(fee, coin.decimals), fee, "{}", coin.fullcode);
            assert!(
                coin.to_usd(fee) > Decimal::ZERO,
                "{} fee_usd",
                coin.fullcode
            );
            assert!(
                NETWORK_FEES.iter().any(|(c, _, _)| *c == coin.fullcode),
                "{} has no fee row",
                coin.fullcode
            );
        }
        assert_eq!(network_fee(find_coin("BTC").unwrap()), dec!(0.0000015));
    }

    #[test]
    fn service_fee_is_a_share_of_the_amount() {
        assert_eq!(service_fee_usd(dec!(25)), dec!(0.48));
        assert_eq!(service_fee_usd(dec!(0)), dec!(0));
    }
}
