//! One invoice and its life cycle:
//! `created` → `paid` | `overpaid` | `partial` (→ `paid`/`overpaid` on a top-up) | `canceled`
//! (by the API while `created`, or when `time_to_pay` runs out).
//!
//! A `partial` invoice whose time runs out stays `partial` (money was received; CryptoCloud
//! leaves it for the merchant to settle) but takes no more payments.

use chrono::{DateTime, Utc};
use cryptocloud::{Invoice, InvoiceId, InvoiceStatus, PostbackInvoiceInfo, Project};
use rust_decimal::Decimal;

use crate::currencies::{fiat_usd_rate, round, Coin};

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
    pub amount_usd: Decimal,
    /// What the payer owes, in `coin`.
    pub amount_crypto: Decimal,
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
        let amount_usd = round(new.amount_fiat * rate, 2);
        let amount_crypto = fiat_to_crypto(new.coin, rate, new.amount_fiat);
        InvoiceRecord {
            id,
            number,
            created: now,
            expiry: now + new.time_to_pay,
            fiat_currency: new.fiat_currency,
            amount_fiat: new.amount_fiat,
            amount_usd,
            amount_crypto,
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

    /// A fiat amount (in the invoice's currency) in the invoice's coin.
    pub fn fiat_to_crypto(&self, fiat: Decimal) -> Decimal {
        let rate = fiat_usd_rate(&self.fiat_currency).unwrap_or(Decimal::ONE);
        fiat_to_crypto(self.coin, rate, fiat)
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

    /// The invoice object of create, info and list.
    pub fn view(&self, ctx: &ViewContext<'_>) -> Invoice {
        let zero = Some(Decimal::ZERO);
        let received = round(self.received, self.coin.decimals);
        Invoice {
            uuid: self.id.clone(),
            created: self.created,
            address: Some(self.address.clone()),
            expiry_date: Some(self.expiry),
            side_commission: Some("client".to_owned()),
            side_commission_cc: Some("client".to_owned()),
            amount: self.amount_crypto,
            amount_usd: Some(self.amount_usd),
            amount_in_fiat: Some(self.amount_fiat),
            fee: zero,
            fee_usd: zero,
            service_fee: zero,
            service_fee_usd: zero,
            type_payments: Some("crypto".to_owned()),
            fiat_currency: Some(self.fiat_currency.clone()),
            status: self.status.api(),
            is_email_required: Some(false),
            link: format!("{}/{}", ctx.public_url, self.id.code()),
            invoice_id: None,
            currency: Some(self.coin.invoice_currency()),
            project: Some(ctx.project.clone()),
            test_mode: Some(true),
            order_id: self.order_id.clone(),
            received: Some(received),
            received_usd: Some(self.coin.to_usd(self.received)),
            to_surcharge: Some(if self.status == Status::Partial {
                self.remaining()
            } else {
                Decimal::ZERO
            }),
            to_surcharge_usd: Some(if self.status == Status::Partial {
                self.coin.to_usd(self.remaining())
            } else {
                Decimal::ZERO
            }),
            date_finished: self.date_finished,
            invoice_status: self.status.is_paid().then(|| "success".to_owned()),
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
        info.side_commission = Some("client".to_owned());
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
        };
        let mut inv = InvoiceRecord::new(
            InvoiceId::parse("EURBTC01").unwrap(),
            2,
            new,
            "bc1q".into(),
            now,
        );
        assert_eq!(inv.amount_usd, dec!(21.59));
        let owed = inv.fiat_to_crypto(dec!(19.99));
        assert_eq!(owed, inv.amount_crypto);
        assert_eq!(inv.pay(owed, now).unwrap().after, Status::Paid);
    }
}
