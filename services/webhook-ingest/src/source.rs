//! Who is posting: the source address (the TCP peer, or the client named by a trusted
//! proxy), the optional allow-list of networks and the optional per-source rate limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;

/// Past this many tracked sources, idle ones are forgotten (an idle bucket is full, which
/// is the same as no bucket).
const PRUNE_ABOVE: usize = 4096;

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
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        RateLimiter {
            capacity,
            per_sec: capacity / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `source`, or says how long until one is available.
    pub fn take(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = bucket_key(source);
        // A poisoned lock only means another request panicked mid-update; the map is
        // still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            let full_after = Duration::from_secs_f64(self.capacity / self.per_sec);
            buckets.retain(|_, b| now.saturating_duration_since(b.updated) < full_after);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_sec).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_sec,
            ))
        }
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
    fn idle_sources_are_forgotten_when_many_are_tracked() {
        let limiter = RateLimiter::new(60);
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            limiter.take(IpAddr::from(i.to_be_bytes()), t0).unwrap();
        }
        limiter
            .take("192.0.2.1".parse().unwrap(), t0 + Duration::from_secs(61))
            .unwrap();
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
