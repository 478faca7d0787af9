//! The SSRF guard: where a webhook may go. Only `http`/`https` URLs with a host; unless
//! `DISPATCH_ALLOW_PRIVATE`, no loopback, private, link-local (cloud metadata included),
//! shared or unspecified address. Checked when an endpoint is saved (after resolving its
//! name) and again at connect time by [`GuardedResolver`], the resolver every attempt
//! uses, so a name that re-binds to a refused address later cannot slip through.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Longest URL accepted.
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadDestination {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("only http and https URLs are delivered to")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("{0} is a loopback, private or link-local address (DISPATCH_ALLOW_PRIVATE is off)")]
    Refused(IpAddr),
    #[error("the host {0} does not resolve")]
    Unresolvable(String),
}

/// An address no webhook goes to unless private destinations are allowed.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is AWS metadata)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                // NAT64 (64:ff9b::/96) carries an IPv4 address.
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]
                    && refused_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32)))
        }
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, the metadata address among them
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// The URL as stored: parsed and checked for form (no network).
pub fn parse_url(raw: &str) -> Result<Url, BadDestination> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(BadDestination::TooLong);
    }
    let url = Url::parse(raw).map_err(|e| BadDestination::NotAUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BadDestination::Scheme);
    }
    if url.host().is_none() {
        return Err(BadDestination::NoHost);
    }
    Ok(url)
}

/// The host's address when the URL names one literally (the resolver is not asked then).
pub fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

/// Whether `url` may be delivered to now: its literal address, or every address its name
/// resolves to, allowed. A name resolving to any refused address is refused.
pub async fn check(url: &Url, allow_private: bool) -> Result<(), BadDestination> {
    if allow_private {
        return Ok(());
    }
    if let Some(ip) = literal_address(url) {
        return if is_refused(ip) {
            Err(BadDestination::Refused(ip))
        } else {
            Ok(())
        };
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| BadDestination::Unresolvable(host.clone()))?
        .collect();
    if addrs.is_empty() {
        return Err(BadDestination::Unresolvable(host));
    }
    match addrs.iter().find(|a| is_refused(a.ip())) {
        Some(refused) => Err(BadDestination::Refused(refused.ip())),
        None => Ok(()),
    }
}

/// reqwest's resolver for deliveries: the system's answer without the refused addresses;
/// none left is a connect error, so the attempt fails and is recorded as refused.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to refused addresses (loopback, private or link-local)")]
struct RefusedName(String);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_refused(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver to give the HTTP client.
pub fn resolver(allow_private: bool) -> Option<Arc<GuardedResolver>> {
    (!allow_private).then_some(Arc::new(GuardedResolver))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_refused(ip.parse().unwrap()), "{ip} is refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert!(!is_refused(ip.parse().unwrap()), "{ip} is allowed");
        }
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert!(parse_url("https://example.com/hook").is_ok());
        assert_eq!(parse_url("ftp://example.com/"), Err(BadDestination::Scheme));
        assert_eq!(parse_url("file:///etc/passwd"), Err(BadDestination::Scheme));
        assert!(matches!(
            parse_url("not a url"),
            Err(BadDestination::NotAUrl(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(parse_url(&long), Err(BadDestination::TooLong));
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let literal = parse_url("http://127.0.0.1:9/x").unwrap();
        assert!(matches!(
            check(&literal, false).await,
            Err(BadDestination::Refused(_))
        ));
        let named = parse_url("http://localhost:9/x").unwrap();
        assert!(matches!(
            check(&named, false).await,
            Err(BadDestination::Refused(_))
        ));
        let metadata = parse_url("http://[::ffff:169.254.169.254]/latest").unwrap();
        assert!(check(&metadata, false).await.is_err());
        assert_eq!(check(&literal, true).await, Ok(()));
    }
}
