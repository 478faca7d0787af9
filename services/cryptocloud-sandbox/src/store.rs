//! The sandbox's only state, in memory: invoices, static wallets, the delivery log, the API
//! request log, the API faults and the clock offset. One mutex, never held across an await.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cryptocloud::InvoiceId;
use rand::Rng;
use serde::Serialize;
use tokio::sync::Notify;

use crate::currencies::Coin;
use crate::delivery::DeliveryAttempt;
use crate::faults::{ApiFaults, Decision, FaultState, Overrides};
use crate::invoice::{InvoiceRecord, NewInvoice};

/// Most API requests kept in the request log.
const KEPT_REQUESTS: usize = 1_000;
const CODE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One API call as the sandbox saw it (`GET /sandbox/requests`).
#[derive(Debug, Clone, Serialize)]
pub struct ApiRequest {
    pub at: DateTime<Utc>,
    pub method: String,
    pub path: String,
    /// `error_500`, `error_429`, `drop` or none.
    pub fault: Option<String>,
    pub latency_ms: u64,
    /// What was answered (none when the connection was dropped).
    pub status: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct StaticWallet {
    pub coin: &'static Coin,
    pub identify: String,
    pub address: String,
    pub uuid: String,
}

struct State {
    invoices: HashMap<InvoiceId, InvoiceRecord>,
    next_number: i64,
    postbacks: HashMap<InvoiceId, u32>,
    deliveries: Vec<DeliveryAttempt>,
    static_wallets: Vec<StaticWallet>,
    requests: Vec<ApiRequest>,
    faults: FaultState,
    clock_offset: chrono::Duration,
}

pub struct Store {
    state: Mutex<State>,
    deliveries_changed: Notify,
}

impl Store {
    pub fn new(faults: ApiFaults) -> Self {
        Store {
            state: Mutex::new(State {
                invoices: HashMap::new(),
                next_number: 1,
                postbacks: HashMap::new(),
                deliveries: Vec::new(),
                static_wallets: Vec::new(),
                requests: Vec::new(),
                faults: FaultState::new(faults),
                clock_offset: chrono::Duration::zero(),
            }),
            deliveries_changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the whole sandbox down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sandbox's clock: real time plus the offset set by `POST /sandbox/clock`,
    /// to the microsecond (what the API's timestamps can express).
    pub fn now(&self) -> DateTime<Utc> {
        let offset = self.lock().clock_offset;
        let now = Utc::now() + offset;
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    pub fn clock_offset(&self) -> chrono::Duration {
        self.lock().clock_offset
    }

    pub fn advance_clock(&self, by: chrono::Duration) -> chrono::Duration {
        let mut state = self.lock();
        state.clock_offset += by;
        state.clock_offset
    }

    pub fn create_invoice(&self, new: NewInvoice, address: String) -> InvoiceRecord {
        let now = self.now();
        let mut state = self.lock();
        let id = loop {
            let id = random_code(8);
            if let Ok(id) = InvoiceId::parse(&id) {
                if !state.invoices.contains_key(&id) {
                    break id;
                }
            }
        };
        let number = state.next_number;
        state.next_number += 1;
        let record = InvoiceRecord::new(id.clone(), number, new, address, now);
        state.invoices.insert(id, record.clone());
        record
    }

    /// The invoice as of now (expiry applied).
    pub fn invoice(&self, id: &InvoiceId) -> Option<InvoiceRecord> {
        self.update(id, |invoice, _| invoice.clone())
    }

    /// Runs `f` on the invoice (expiry applied first) under the lock.
    pub fn update<R>(
        &self,
        id: &InvoiceId,
        f: impl FnOnce(&mut InvoiceRecord, DateTime<Utc>) -> R,
    ) -> Option<R> {
        let now = self.now();
        let mut state = self.lock();
        let invoice = state.invoices.get_mut(id)?;
        invoice.refresh(now);
        Some(f(invoice, now))
    }

    /// Every invoice as of now, newest first.
    pub fn invoices(&self) -> Vec<InvoiceRecord> {
        let now = self.now();
        let mut state = self.lock();
        let mut all: Vec<InvoiceRecord> = state
            .invoices
            .values_mut()
            .map(|invoice| {
                invoice.refresh(now);
                invoice.clone()
            })
            .collect();
        all.sort_by_key(|invoice| std::cmp::Reverse(invoice.number));
        all
    }

    /// The static wallet for (`coin`, `identify`), created on first use.
    pub fn static_wallet(
        &self,
        coin: &'static Coin,
        identify: &str,
        address: String,
    ) -> StaticWallet {
        let mut state = self.lock();
        if let Some(wallet) = state
            .static_wallets
            .iter()
            .find(|w| std::ptr::eq(w.coin, coin) && w.identify == identify)
        {
            return wallet.clone();
        }
        let wallet = StaticWallet {
            coin,
            identify: identify.to_owned(),
            address,
            uuid: random_code(32).to_ascii_lowercase(),
        };
        state.static_wallets.push(wallet.clone());
        wallet
    }

    /// Reserves `count` postback numbers for the invoice; returns the first.
    pub fn reserve_postbacks(&self, id: &InvoiceId, count: u32) -> u32 {
        let mut state = self.lock();
        let counter = state.postbacks.entry(id.clone()).or_insert(0);
        let first = *counter + 1;
        *counter += count;
        first
    }

    pub fn record_delivery(&self, attempt: DeliveryAttempt) {
        self.lock().deliveries.push(attempt);
        self.deliveries_changed.notify_waiters();
    }

    /// The delivery log, optionally of one invoice, oldest first.
    pub fn deliveries(&self, invoice: Option<&InvoiceId>) -> Vec<DeliveryAttempt> {
        let prefixed = invoice.map(InvoiceId::prefixed);
        self.lock()
            .deliveries
            .iter()
            .filter(|d| prefixed.as_ref().is_none_or(|p| &d.invoice_id == p))
            .cloned()
            .collect()
    }

    /// The delivery log once it holds at least `min` entries, or when `wait` has passed.
    pub async fn wait_for_deliveries(
        &self,
        invoice: Option<&InvoiceId>,
        min: usize,
        wait: Duration,
    ) -> Vec<DeliveryAttempt> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register interest before looking, so a delivery in between is not missed.
            let notified = self.deliveries_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let current = self.deliveries(invoice);
            if current.len() >= min {
                return current;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.deliveries(invoice);
            }
        }
    }

    pub fn faults(&self) -> ApiFaults {
        self.lock().faults.config()
    }

    pub fn set_faults(&self, faults: ApiFaults) {
        self.lock().faults = FaultState::new(faults);
    }

    pub fn decide_fault(&self, overrides: Overrides) -> Decision {
        self.lock().faults.decide(overrides)
    }

    pub fn record_request(&self, request: ApiRequest) {
        let mut state = self.lock();
        if state.requests.len() >= KEPT_REQUESTS {
            state.requests.remove(0);
        }
        state.requests.push(request);
    }

    pub fn requests(&self) -> Vec<ApiRequest> {
        self.lock().requests.clone()
    }
}

/// Uppercase letters and digits, as CryptoCloud's invoice codes.
pub fn random_code(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A plausible-looking deposit address for the coin's network.
pub fn fake_address(coin: &Coin) -> String {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const HEX: &[u8] = b"0123456789abcdef";
    let mut rng = rand::thread_rng();
    let mut pick = |alphabet: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
            .collect()
    };
    match coin.network {
        "TRC20" => format!("T{}", pick(BASE58, 33)),
        "BTC" => format!("bc1q{}", pick(b"023456789acdefghjklmnpqrstuvwxyz", 38)),
        "LTC" => format!("ltc1q{}", pick(b"023456789acdefghjklmnpqrstuvwxyz", 38)),
        "SOL" => pick(BASE58, 44),
        "TON" => format!("UQ{}", pick(BASE58, 46)),
        _ => format!("0x{}", pick(HEX, 40)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_uppercase_alphanumerics() {
        for _ in 0..100 {
            let code = random_code(8);
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "{code}"
            );
        }
    }

    #[test]
    fn addresses_follow_the_network() {
        let trc = fake_address(crate::currencies::find_coin("USDT_TRC20").unwrap());
        assert!(trc.starts_with('T') && trc.len() == 34, "{trc}");
        let erc = fake_address(crate::currencies::find_coin("USDT_ERC20").unwrap());
        assert!(erc.starts_with("0x") && erc.len() == 42, "{erc}");
    }
}
