//! Who is posting: the source address (the TCP peer, or the client named by a trusted
//! proxy), the optional allow-list of networks and the optional per-source rate limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Most sources with a bucket of their own. Past it, new sources share one overflow
/// bucket until idle ones are forgotten: a flood of spoofed or rotating addresses costs
/// bounded memory, and sources already tracked keep their own budget.
pub const MAX_SOURCES: usize = 65_536;
/// The buckets are split over this many independently locked shards.
const SHARDS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceDenied {
    #[error("the source address is not allowed to post")]
    NotAllowed,
    #[error("too many postbacks from this source")]
    RateLimited { retry_after: Duration },
}

#[derive(Debug)]
pub struct SourcePolicy {
    allowed: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    limiter: Option<RateLimiter>,
}

impl SourcePolicy {
    pub fn new(allowed: Vec<IpNet>, trusted_proxies: Vec<IpNet>, per_minute: u32) -> Self {
        SourcePolicy {
            allowed,
            trusted_proxies,
            limiter: (per_minute > 0).then(|| RateLimiter::new(per_minute)),
        }
    }

    /// Checks one request; `forwarded_for` is its `X-Forwarded-For` header.
    pub fn admit(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: Option<&str>,
    ) -> Result<(), SourceDenied> {
        if self.allowed.is_empty() && self.limiter.is_none() {
            return Ok(());
        }
        let Some(source) = source_address(peer, forwarded_for, &self.trusted_proxies) else {
            // No address to judge by (not a TCP peer): only an open door lets it in.
            return if self.allowed.is_empty() {
                Ok(())
            } else {
                Err(SourceDenied::NotAllowed)
            };
        };
        if !self.allowed.is_empty() && !self.allowed.iter().any(|net| net.contains(&source)) {
            return Err(SourceDenied::NotAllowed);
        }
        match &self.limiter {
            Some(limiter) => limiter
                .take(source, Instant::now())
                .map_err(|retry_after| SourceDenied::RateLimited { retry_after }),
            None => Ok(()),
        }
    }
}

/// The TCP peer, unless it is a trusted proxy: then the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy (the left part is client-written
/// and cannot be believed).
pub fn source_address(
    peer: Option<SocketAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for.unwrap_or("").split(',').rev();
    for hop in hops {
        match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            // Garbage in the chain: stop at the last hop we can vouch for.
            Err(_) => break,
        }
    }
    Some(peer)
}

/// Token buckets per source: `per_minute` postbacks in a burst, refilled evenly over a
/// minute. IPv6 sources share one bucket per /64, since a host usually owns a whole /64.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    /// An idle bucket is full again after this long, the same as having none.
    full_after: Duration,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<Shard>>,
    /// Shared by the sources that found their shard full.
    overflow: Mutex<Bucket>,
}

#[derive(Debug)]
struct Shard {
    buckets: HashMap<IpAddr, Bucket>,
    /// When idle buckets were last forgotten: at most once per `full_after`, so the sweep
    /// costs O(1) per request amortised, not O(n) on every request of a flood.
    swept: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Refills for the time since the last update, then takes one token or says how long
    /// until one is available.
    fn take(&mut self, capacity: f64, per_sec: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_sec).min(capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_sec))
        }
    }
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        let now = Instant::now();
        let full = Bucket {
            tokens: capacity,
            updated: now,
        };
        RateLimiter {
            capacity,
            per_sec: capacity / 60.0,
            full_after: Duration::from_secs(60),
            hasher: Default::default(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        swept: now,
                    })
                })
                .collect(),
            overflow: Mutex::new(full),
        }
    }

    /// Takes one token for `source`, or says how long until one is available.
    pub fn take(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        use std::hash::BuildHasher;
        let key = bucket_key(source);
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        // A poisoned lock only means another request panicked mid-update; the map is
        // still usable.
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let per_shard = MAX_SOURCES / SHARDS;
        if shard.buckets.len() >= per_shard
            && now.saturating_duration_since(shard.swept) >= self.full_after
        {
            let full_after = self.full_after;
            shard
                .buckets
                .retain(|_, b| now.saturating_duration_since(b.updated) < full_after);
            shard.swept = now;
        }
        if !shard.buckets.contains_key(&key) && shard.buckets.len() >= per_shard {
            drop(shard);
            let mut overflow = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
            return overflow.take(self.capacity, self.per_sec, now);
        }
        let capacity = self.capacity;
        shard
            .buckets
            .entry(key)
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            })
            .take(capacity, self.per_sec, now)
    }

    /// Sources with a bucket of their own.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).buckets.len())
            .sum()
    }
}

fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpNet::new(IpAddr::V6(v6), 64)
            .map(|n| n.network())
            .unwrap_or(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::parse_network;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| parse_network(s).unwrap()).collect()
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn the_peer_is_the_source_unless_it_is_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            source_address(peer("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            source_address(
                peer("10.1.1.1"),
                Some("6.6.6.6, 203.0.113.9, 10.2.2.2"),
                &trusted
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            source_address(peer("10.1.1.1"), None, &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            source_address(peer("10.1.1.1"), Some("garbage"), &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            source_address(peer("::ffff:203.0.113.9"), None, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(source_address(None, Some("1.2.3.4"), &trusted), None);
    }

    #[test]
    fn the_allow_list_admits_only_its_networks() {
        let policy = SourcePolicy::new(nets(&["193.232.179.110", "10.0.0.0/8"]), vec![], 0);
        assert_eq!(policy.admit(peer("193.232.179.110"), None), Ok(()));
        assert_eq!(policy.admit(peer("10.200.0.1"), None), Ok(()));
        assert_eq!(
            policy.admit(peer("193.232.179.111"), None),
            Err(SourceDenied::NotAllowed)
        );
        assert_eq!(policy.admit(None, None), Err(SourceDenied::NotAllowed));
        assert_eq!(
            SourcePolicy::new(vec![], vec![], 0).admit(peer("8.8.8.8"), None),
            Ok(())
        );
    }

    #[test]
    fn the_rate_limit_allows_a_burst_then_refills_over_the_minute() {
        let limiter = RateLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.take(a, t0).is_ok());
        assert!(limiter.take(a, t0).is_ok());
        let wait = limiter.take(a, t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.take(b, t0).is_ok(), "sources have separate budgets");
        assert!(
            limiter.take(a, t0 + Duration::from_secs(30)).is_ok(),
            "one token back after 30 s"
        );
        assert!(limiter.take(a, t0 + Duration::from_secs(30)).is_err());
    }

    #[test]
    fn ipv6_sources_in_one_slash_64_share_a_budget() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        assert!(limiter.take("2001:db8::1".parse().unwrap(), t0).is_ok());
        assert!(limiter.take("2001:db8::ffff".parse().unwrap(), t0).is_err());
        assert!(limiter.take("2001:db8:0:1::1".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn memory_is_capped_and_idle_sources_are_forgotten() {
        let limiter = RateLimiter::new(1);
        let t0 = Instant::now();
        let known: IpAddr = "192.0.2.1".parse().unwrap();
        limiter.take(known, t0).unwrap();
        // A flood of distinct addresses, each one postback.
        let mut overflowed = 0;
        for i in 0..(MAX_SOURCES as u32 * 2) {
            if limiter
                .take(IpAddr::from(((i + 1) << 8).to_be_bytes()), t0)
                .is_err()
            {
                overflowed += 1;
            }
        }
        assert!(limiter.tracked() <= MAX_SOURCES, "{}", limiter.tracked());
        assert!(
            overflowed >= MAX_SOURCES - 1,
            "sources past the cap share one budget: {overflowed}"
        );
        // The known source kept its own bucket: empty now, as before the flood.
        assert!(limiter.take(known, t0).is_err());
        // A minute later the idle buckets are forgotten as new sources come.
        let later = t0 + Duration::from_secs(61);
        for i in 0..(SHARDS as u32 * 64) {
            limiter
                .take(IpAddr::from((0xC633_6400u32 + i).to_be_bytes()), later)
                .unwrap();
        }
        assert!(limiter.tracked() < MAX_SOURCES / 4, "{}", limiter.tracked());
    }
}
