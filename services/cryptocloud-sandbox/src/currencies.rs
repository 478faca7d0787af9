//! The fiat currencies CryptoCloud accepts and the coins the sandbox offers, with fixed
//! exchange rates (1 USD = 1 USDT, so the usual USD invoice pays 1:1 in `USDT_TRC20`).

use cryptocloud::{BalanceCurrency, InvoiceCurrency, Network};
use rust_decimal::{Decimal, RoundingStrategy};

/// The coin of an invoice when none is pre-selected.
pub const DEFAULT_COIN: &str = "USDT_TRC20";

/// Fiat codes of the docs with the USD value of one unit, as (mantissa, scale).
const FIATS: &[(&str, i64, u32)] = &[
    ("USD", 1, 0),
    ("EUR", 108, 2),
    ("GBP", 127, 2),
    ("RUB", 11, 3),
    ("UAH", 24, 3),
    ("KZT", 21, 4),
    ("UZS", 79, 6),
    ("KGS", 115, 4),
    ("AMD", 26, 4),
    ("AZN", 59, 2),
    ("BYN", 31, 2),
    ("AUD", 66, 2),
    ("TRY", 31, 3),
    ("AED", 27, 2),
    ("CAD", 73, 2),
    ("CNY", 14, 2),
    ("HKD", 128, 3),
    ("IDR", 63, 6),
    ("INR", 12, 3),
    ("JPY", 67, 4),
    ("PHP", 175, 4),
    ("SGD", 74, 2),
    ("THB", 28, 3),
    ("VND", 40, 6),
    ("MYR", 21, 2),
];

/// USD value of one unit of a fiat currency (`None`: not accepted).
pub fn fiat_usd_rate(code: &str) -> Option<Decimal> {
    FIATS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, m, s)| Decimal::new(*m, *s))
}

/// A coin the sandbox can be paid in.
#[derive(Debug, PartialEq, Eq)]
pub struct Coin {
    pub id: i64,
    /// Full code, e.g. `USDT_TRC20`.
    pub fullcode: &'static str,
    /// Short code, e.g. `USDT`.
    pub code: &'static str,
    pub name: &'static str,
    pub network: &'static str,
    pub network_name: &'static str,
    pub stablecoin: bool,
    /// USD value of one coin, as (mantissa, scale).
    usd: (i64, u32),
    /// Decimal places amounts are rounded to.
    pub decimals: u32,
}

// One row of the table below; a function keeps the rows on one line each.
#[allow(clippy::too_many_arguments)]
const fn coin(
    id: i64,
    fullcode: &'static str,
    code: &'static str,
    name: &'static str,
    network: &'static str,
    network_name: &'static str,
    usd: (i64, u32),
    decimals: u32,
) -> Coin {
    Coin {
        id,
        fullcode,
        code,
        name,
        network,
        network_name,
        stablecoin: usd.0 == 1 && usd.1 == 0,
        usd,
        decimals,
    }
}

pub static COINS: &[Coin] = &[
    coin(
        4,
        "USDT_TRC20",
        "USDT",
        "Tether",
        "TRC20",
        "Tron",
        (1, 0),
        6,
    ),
    coin(
        5,
        "USDT_ERC20",
        "USDT",
        "Tether",
        "ERC20",
        "Ethereum",
        (1, 0),
        6,
    ),
    coin(
        6,
        "USDT_BSC",
        "USDT",
        "Tether",
        "BSC",
        "BNB Smart Chain",
        (1, 0),
        6,
    ),
    coin(7, "USDT_TON", "USDT", "Tether", "TON", "TON", (1, 0), 6),
    coin(8, "USDT_SOL", "USDT", "Tether", "SOL", "Solana", (1, 0), 6),
    coin(
        9,
        "USDC_ERC20",
        "USDC",
        "USD Coin",
        "ERC20",
        "Ethereum",
        (1, 0),
        6,
    ),
    coin(
        10,
        "USDC_BSC",
        "USDC",
        "USD Coin",
        "BSC",
        "BNB Smart Chain",
        (1, 0),
        6,
    ),
    coin(
        11,
        "USDC_SOL",
        "USDC",
        "USD Coin",
        "SOL",
        "Solana",
        (1, 0),
        6,
    ),
    coin(
        12,
        "DAI_ERC20",
        "DAI",
        "Dai",
        "ERC20",
        "Ethereum",
        (1, 0),
        6,
    ),
    coin(1, "BTC", "BTC", "Bitcoin", "BTC", "Bitcoin", (60_000, 0), 8),
    coin(2, "LTC", "LTC", "Litecoin", "LTC", "Litecoin", (80, 0), 8),
    coin(
        3,
        "ETH",
        "ETH",
        "Ethereum",
        "ERC20",
        "Ethereum",
        (3_000, 0),
        8,
    ),
    coin(13, "TRX", "TRX", "Tron", "TRC20", "Tron", (12, 2), 6),
    coin(14, "SOL", "SOL", "Solana", "SOL", "Solana", (150, 0), 8),
    coin(15, "TON", "TON", "Toncoin", "TON", "TON", (5, 0), 8),
    coin(
        16,
        "BNB",
        "BNB",
        "BNB",
        "BSC",
        "BNB Smart Chain",
        (550, 0),
        8,
    ),
];

/// The coin with this full code (case-insensitive).
pub fn find_coin(fullcode: &str) -> Option<&'static Coin> {
    COINS
        .iter()
        .find(|c| c.fullcode.eq_ignore_ascii_case(fullcode.trim()))
}

pub fn default_coin() -> &'static Coin {
    find_coin(DEFAULT_COIN).unwrap_or(&COINS[0])
}

impl Coin {
    pub fn usd_rate(&self) -> Decimal {
        Decimal::new(self.usd.0, self.usd.1)
    }

    /// USD value of `amount` coins, to the cent.
    pub fn to_usd(&self, amount: Decimal) -> Decimal {
        round(amount * self.usd_rate(), 2)
    }

    /// The smallest amount this coin can express.
    pub fn unit(&self) -> Decimal {
        Decimal::new(1, self.decimals)
    }

    fn icon(&self, what: &str) -> String {
        format!(
            "https://cdn.cryptocloud.plus/currency/icons/{what}/{}.svg",
            self.fullcode.to_ascii_lowercase()
        )
    }

    fn network(&self) -> Network {
        Network {
            code: self.network.to_owned(),
            id: Some(self.id),
            icon: Some(self.icon("network")),
            fullname: Some(self.network_name.to_owned()),
        }
    }

    /// The invoice-shaped currency object.
    pub fn invoice_currency(&self) -> InvoiceCurrency {
        InvoiceCurrency {
            id: Some(self.id),
            code: self.code.to_owned(),
            fullcode: self.fullcode.to_owned(),
            network: Some(self.network()),
            name: Some(self.name.to_owned()),
            is_email_required: Some(false),
            stablecoin: Some(self.stablecoin),
            icon_base: Some(self.icon("main")),
            icon_network: Some(self.icon("network")),
            icon_qr: Some(self.icon("qr")),
            order: Some(self.id),
        }
    }

    /// The balance/static-wallet-shaped currency object (`code` is the full code).
    pub fn balance_currency(&self) -> BalanceCurrency {
        BalanceCurrency {
            id: Some(self.id),
            code: self.fullcode.to_owned(),
            short_code: Some(self.code.to_owned()),
            name: Some(self.name.to_owned()),
            is_email_required: Some(false),
            stablecoin: Some(self.stablecoin),
            icon_base: Some(self.icon("main")),
            icon_network: Some(self.icon("network")),
            icon_qr: Some(self.icon("qr")),
            order: Some(self.id),
            obj_network: Some(self.network()),
            enable: Some(true),
        }
    }
}

/// Half-up rounding, then trailing zeros dropped (`25.000000` reads `25`).
pub fn round(value: Decimal, places: u32) -> Decimal {
    value
        .round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn usd_pays_one_to_one_in_the_default_coin() {
        let coin = default_coin();
        assert_eq!(coin.fullcode, "USDT_TRC20");
        assert_eq!(
            round(dec!(25.50) / coin.usd_rate(), coin.decimals),
            dec!(25.5)
        );
        assert_eq!(coin.to_usd(dec!(25.5)), dec!(25.5));
        assert_eq!(fiat_usd_rate("USD"), Some(dec!(1)));
    }

    #[test]
    fn every_documented_fiat_is_accepted() {
        for code in [
            "USD", "UZS", "KGS", "KZT", "AMD", "AZN", "BYN", "AUD", "TRY", "AED", "CAD", "CNY",
            "HKD", "IDR", "INR", "JPY", "PHP", "SGD", "THB", "VND", "MYR", "RUB", "UAH", "EUR",
            "GBP",
        ] {
            assert!(
                fiat_usd_rate(code).is_some_and(|r| r > Decimal::ZERO),
                "{code}"
            );
        }
        assert_eq!(fiat_usd_rate("XYZ"), None);
    }

    #[test]
    fn volatile_coins_round_to_their_precision() {
        let btc = find_coin("btc").unwrap();
        assert_eq!(round(dec!(30) / btc.usd_rate(), btc.decimals), dec!(0.0005));
        assert_eq!(
            round(dec!(1) / btc.usd_rate(), btc.decimals),
            dec!(0.00001667)
        );
        assert_eq!(btc.unit(), dec!(0.00000001));
    }
}
