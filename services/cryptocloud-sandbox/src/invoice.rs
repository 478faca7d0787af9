//! One invoice and its life cycle:
//! `created` → `paid` | `overpaid` | `partial` (→ `paid`/`overpaid` on a top-up) | `canceled`
//! (by the API while `created`, or when `time_to_pay` runs out).
//!
//! A `partial` invoice whose time runs out stays `partial` (money was received; CryptoCloud
//! leaves it for the merchant to settle) but takes no more payments.

use chrono::{DateTime, Utc};
use cryptocloud::{InvoiceId, InvoiceStatus, PostbackInvoiceInfo, Project};
use rust_decimal::Decimal;

use crate::currencies::{fiat_usd_rate, round, Coin};
use crate::fees::{network_fee, service_fee_usd, SideCommission};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    Partial,
    Paid,
    Overpaid,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Partial => "partial",
            Status::Paid => "paid",
            Status::Overpaid => "overpaid",
            Status::Canceled => "canceled",
        }
    }

    pub fn api(self) -> InvoiceStatus {
        InvoiceStatus::from(self.as_str())
    }

    /// Settled in full: the statuses that trigger a postback.
    pub fn is_paid(self) -> bool {
        matches!(self, Status::Paid | Status::Overpaid)
    }
}

/// What an invoice is created from (already validated).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub fiat_currency: String,
    pub amount_fiat: Decimal,
    pub coin: &'static Coin,
    /// A coin was pre-selected, so the invoice has a deposit address.
    pub coin_selected: bool,
    pub order_id: Option<String>,
    pub email: Option<String>,
    pub time_to_pay: chrono::Duration,
    pub side_commission: SideCommission,
}

#[derive(Debug, Clone)]
pub struct InvoiceRecord {
    pub id: InvoiceId,
    /// Internal sequence number (the integer form of the token's `id` claim).
    pub number: i64,
    pub created: DateTime<Utc>,
    pub expiry: DateTime<Utc>,
    pub fiat_currency: String,
    pub amount_fiat: Decimal,
    /// What the payer owes, in USD (with the network fee when the client pays it).
    pub amount_usd: Decimal,
    /// What the payer owes, in `coin` (likewise).
    pub amount_crypto: Decimal,
    pub side_commission: SideCommission,
    /// Network fee, in `coin` and in USD.
    pub fee: Decimal,
    pub fee_usd: Decimal,
    /// CryptoCloud's fee, always taken from the merchant, in `coin` and in USD.
    pub service_fee: Decimal,
    pub service_fee_usd: Decimal,
    pub coin: &'static Coin,
    pub address: String,
    pub order_id: Option<String>,
    pub email: Option<String>,
    pub status: Status,
    /// Received so far, in `coin`.
    pub received: Decimal,
    pub date_finished: Option<DateTime<Utc>>,
}

/// Why a payment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    #[error("the amount must be positive")]
    InvalidAmount,
    #[error("the invoice is {} and takes no payment", .0.as_str())]
    NotPayable(Status),
    #[error("the invoice's time to pay has run out")]
    Expired,
}

/// The effect of one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub before: Status,
    pub after: Status,
    /// This payment, in the invoice's coin.
    pub amount: Decimal,
}

impl Payment {
    /// The payment settled the invoice: CryptoCloud sends a postback.
    pub fn completes(&self) -> bool {
        self.after.is_paid() && !self.before.is_paid()
    }
}

/// What the API objects need besides the invoice itself.
pub struct ViewContext<'a> {
    pub public_url: &'a str,
    pub project: &'a Project,
}

impl InvoiceRecord {
    pub fn new(
        id: InvoiceId,
        number: i64,
        new: NewInvoice,
        address: String,
        now: DateTime<Utc>,
    ) -> Self {
        let rate = fiat_usd_rate(&new.fiat_currency).unwrap_or(Decimal::ONE);
        let base_usd = round(new.amount_fiat * rate, 2);
        let base_crypto = fiat_to_crypto(new.coin, rate, new.amount_fiat);
        let fee = network_fee(new.coin);
        let fee_usd = new.coin.to_usd(fee);
        let (amount_usd, amount_crypto) = match new.side_commission {
            SideCommission::Client => (
                round(base_usd + fee_usd, 2),
                round(base_crypto + fee, new.coin.decimals),
            ),
            SideCommission::Merchant => (base_usd, base_crypto),
        };
        let service_fee_usd = service_fee_usd(base_usd);
        let service_fee = round(service_fee_usd / new.coin.usd_rate(), new.coin.decimals);
        InvoiceRecord {
            id,
            number,
            created: now,
            expiry: now + new.time_to_pay,
            fiat_currency: new.fiat_currency,
            amount_fiat: new.amount_fiat,
            amount_usd,
            amount_crypto,
            side_commission: new.side_commission,
            fee,
            fee_usd,
            service_fee,
            service_fee_usd,
            coin: new.coin,
            address: if new.coin_selected {
                address
            } else {
                String::new()
            },
            order_id: new.order_id,
            email: new.email,
            status: Status::Created,
            received: Decimal::ZERO,
            date_finished: None,
        }
    }

    /// Applies the passage of time: an unpaid invoice past its expiry is canceled.
    pub fn refresh(&mut self, now: DateTime<Utc>) {
        if self.status == Status::Created && now >= self.expiry {
            self.status = Status::Canceled;
            self.date_finished = Some(self.expiry);
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expiry
    }

    /// Still owed, in the coin (zero once paid).
    pub fn remaining(&self) -> Decimal {
        (self.amount_crypto - self.received).max(Decimal::ZERO)
    }

    /// A fiat amount (in the invoice's currency) in the invoice's coin. When the client pays
    /// the network fee, its share of the fee is added, so the invoice's own fiat amount pays
    /// it exactly.
    pub fn fiat_to_crypto(&self, fiat: Decimal) -> Decimal {
        let rate = fiat_usd_rate(&self.fiat_currency).unwrap_or(Decimal::ONE);
        let base = fiat_to_crypto(self.coin, rate, fiat);
        match self.side_commission {
            SideCommission::Client if self.amount_fiat > Decimal::ZERO => {
                base + round(self.fee * fiat / self.amount_fiat, self.coin.decimals)
            }
            _ => base,
        }
    }

    /// What the merchant's balance gets from this invoice: what was received, less the
    /// network and service fees (charged once anything arrived).
    pub fn merchant_credit(&self) -> Decimal {
        if self.received <= Decimal::ZERO {
            return Decimal::ZERO;
        }
        (self.received - self.fee - self.service_fee).max(Decimal::ZERO)
    }

    /// Takes a payment of `amount` coins.
    pub fn pay(&mut self, amount: Decimal, now: DateTime<Utc>) -> Result<Payment, PayError> {
        self.refresh(now);
        if amount <= Decimal::ZERO {
            return Err(PayError::InvalidAmount);
        }
        match self.status {
            Status::Created | Status::Partial => {}
            other => return Err(PayError::NotPayable(other)),
        }
        if self.is_expired(now) {
            return Err(PayError::Expired);
        }
        let before = self.status;
        self.received += amount;
        self.status = match self.received.cmp(&self.amount_crypto) {
            std::cmp::Ordering::Less => Status::Partial,
            std::cmp::Ordering::Equal => Status::Paid,
            std::cmp::Ordering::Greater => Status::Overpaid,
        };
        if self.status.is_paid() {
            self.date_finished = Some(now);
        }
        Ok(Payment {
            before,
            after: self.status,
            amount,
        })
    }

    /// The API cancel: only while `created`; otherwise the current status is returned.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<(), Status> {
        self.refresh(now);
        if self.status != Status::Created {
            return Err(self.status);
        }
        self.status = Status::Canceled;
        self.date_finished = Some(now);
        Ok(())
    }

    /// Lets the time to pay run out now (`created` → `canceled`; `partial` stays, unpayable).
    pub fn expire(&mut self, now: DateTime<Utc>) -> Result<(), Status> {
        self.refresh(now);
        match self.status {
            Status::Created | Status::Partial => {
                self.expiry = self.expiry.min(now);
                self.refresh(now);
                Ok(())
            }
            other => Err(other),
        }
    }

    /// The `invoice_info` snapshot of a postback.
    pub fn postback_info(&self, ctx: &ViewContext<'_>) -> PostbackInvoiceInfo {
        let mut info = PostbackInvoiceInfo::new(self.id.clone(), self.status.api());
        info.invoice_status = self.status.is_paid().then(|| "success".to_owned());
        info.amount = Some(self.amount_crypto);
        info.amount_usd = Some(self.amount_usd);
        info.amount_paid = Some(self.received);
        info.received = Some(self.received);
        info.received_usd = Some(self.coin.to_usd(self.received));
        info.created = Some(self.created);
        info.date_finished = self.date_finished;
        info.expiry_date = Some(self.expiry);
        info.address = Some(self.address.clone());
        info.currency = Some(self.coin.invoice_currency());
        info.side_commission = Some(self.side_commission.as_str().to_owned());
        info.type_payments = Some("crypto".to_owned());
        info.is_email_required = Some(false);
        info.project = Some(ctx.project.clone());
        info.order_id = self.order_id.clone();
        info.test_mode = Some(true);
        info
    }
}

fn fiat_to_crypto(coin: &Coin, usd_rate: Decimal, fiat: Decimal) -> Decimal {
    round(fiat * usd_rate / coin.usd_rate(), coin.decimals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currencies::default_coin;
    use chrono::Duration;
    use rust_decimal_macros::dec;

    fn invoice(amount: Decimal) -> (InvoiceRecord, DateTime<Utc>) {
        let now = Utc::now();
        let new = NewInvoice {
            fiat_currency: "USD".to_owned(),
            amount_fiat: amount,
            coin: default_coin(),
            coin_selected: false,
            order_id: None,
            email: None,
            time_to_pay: Duration::minutes(30),
            side_commission: SideCommission::Merchant,
        };
        (
            InvoiceRecord::new(
                InvoiceId::parse("AB12CD34").unwrap(),
                1,
                new,
                "T".into(),
                now,
            ),
            now,
        )
    }

    #[test]
    fn full_payment_pays_and_completes() {
        let (mut inv, now) = invoice(dec!(25));
        let p = inv.pay(dec!(25), now).unwrap();
        assert_eq!((p.before, p.after), (Status::Created, Status::Paid));
        assert!(p.completes());
        assert_eq!(inv.date_finished, Some(now));
        assert_eq!(
            inv.pay(dec!(1), now),
            Err(PayError::NotPayable(Status::Paid))
        );
    }

    #[test]
    fn partial_then_top_up() {
        let (mut inv, now) = invoice(dec!(25));
        let p = inv.pay(dec!(10), now).unwrap();
        assert_eq!(p.after, Status::Partial);
        assert!(!p.completes());
        assert_eq!(inv.remaining(), dec!(15));
        let p = inv.pay(dec!(15), now).unwrap();
        assert_eq!((p.before, p.after), (Status::Partial, Status::Paid));
        assert!(p.completes());
    }

    #[test]
    fn overpayment() {
        let (mut inv, now) = invoice(dec!(25));
        assert_eq!(inv.pay(dec!(30), now).unwrap().after, Status::Overpaid);
        assert!(inv.status.is_paid());
    }

    #[test]
    fn expiry_cancels_only_unpaid_invoices() {
        let (mut inv, now) = invoice(dec!(25));
        inv.refresh(now + Duration::minutes(29));
        assert_eq!(inv.status, Status::Created);
        inv.refresh(now + Duration::minutes(30));
        assert_eq!(inv.status, Status::Canceled);
        assert_eq!(inv.date_finished, Some(now + Duration::minutes(30)));

        let (mut inv, now) = invoice(dec!(25));
        inv.pay(dec!(5), now).unwrap();
        let later = now + Duration::hours(1);
        inv.refresh(later);
        assert_eq!(inv.status, Status::Partial);
        assert_eq!(inv.pay(dec!(20), later), Err(PayError::Expired));
    }

    #[test]
    fn cancel_only_while_created() {
        let (mut inv, now) = invoice(dec!(25));
        inv.pay(dec!(5), now).unwrap();
        assert_eq!(inv.cancel(now), Err(Status::Partial));
        let (mut inv, now) = invoice(dec!(25));
        assert_eq!(inv.cancel(now), Ok(()));
        assert_eq!(inv.cancel(now), Err(Status::Canceled));
        assert_eq!(
            inv.pay(dec!(25), now),
            Err(PayError::NotPayable(Status::Canceled))
        );
    }

    #[test]
    fn zero_and_negative_payments_are_refused() {
        let (mut inv, now) = invoice(dec!(25));
        assert_eq!(inv.pay(dec!(0), now), Err(PayError::InvalidAmount));
        assert_eq!(inv.pay(dec!(-1), now), Err(PayError::InvalidAmount));
        assert_eq!(inv.status, Status::Created);
    }

    #[test]
    fn a_client_side_fee_is_owed_by_the_payer_and_never_credited() {
        let (mut inv, now) = invoice(dec!(25));
        assert_eq!((inv.amount_crypto, inv.fee), (dec!(25), dec!(0.5)));
        inv.side_commission = SideCommission::Client;
        inv.amount_crypto += inv.fee;
        assert_eq!(inv.fiat_to_crypto(dec!(25)), dec!(25.5));
        assert_eq!(inv.fiat_to_crypto(dec!(10)), dec!(10.2));
        assert_eq!(inv.merchant_credit(), dec!(0));
        inv.pay(dec!(25.5), now).unwrap();
        // Less the network fee (0.5) and the service fee (0.48).
        assert_eq!(inv.merchant_credit(), dec!(24.52));
    }

    #[test]
    fn fiat_amounts_convert_exactly_for_the_invoice_amount() {
        let now = Utc::now();
        let new = NewInvoice {
            fiat_currency: "EUR".to_owned(),
            amount_fiat: dec!(19.99),
            coin: crate::currencies::find_coin("BTC").unwrap(),
            coin_selected: true,
            order_id: None,
            email: None,
            time_to_pay: Duration::hours(24),
            side_commission: SideCommission::Client,
        };
        let mut inv = InvoiceRecord::new(
            InvoiceId::parse("EURBTC01").unwrap(),
            2,
            new,
            "bc1q".into(),
            now,
        );
        // 19.99 EUR is 21.59 USD, plus the BTC network fee of 0.09 USD.
        assert_eq!(inv.amount_usd, dec!(21.68));
        assert_eq!(inv.fee, dec!(0.0000015));
        let owed = inv.fiat_to_crypto(dec!(19.99));
        assert_eq!(owed, inv.amount_crypto);
        assert_eq!(inv.pay(owed, now).unwrap().after, Status::Paid);
    }
}
