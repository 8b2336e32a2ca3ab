//! HTTP-level settings: cookies, origins, body bounds.

use std::net::IpAddr;

use tessera_core::csrf::OriginPolicy;

/// Settings of the HTTP adapter (the core's policies live in `TesseraConfig`).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `true` (the default) sets `Secure` and the `__Host-`/`__Secure-` name
    /// prefixes; `false` only for plain-HTTP development.
    pub secure_cookies: bool,
    /// Origins allowed to make credentialed, state-changing requests.
    pub origins: OriginPolicy,
    /// Largest request body, in bytes (default 64 KiB).
    pub body_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed (every field line of it,
    /// as one list).
    pub trusted_proxies: TrustedProxies,
    /// Send `Strict-Transport-Security` on every response: set when the
    /// server itself speaks TLS (default off).
    pub hsts: bool,
    /// TLS, connection bounds, timeouts and the shutdown state.
    pub transport: crate::Transport,
}

impl ServerConfig {
    /// Defaults with the given allowed origins.
    pub fn new(origins: OriginPolicy) -> Self {
        Self {
            secure_cookies: true,
            origins,
            body_limit: 64 * 1024,
            trusted_proxies: TrustedProxies::default(),
            hsts: false,
            transport: crate::Transport::default(),
        }
    }
}

/// Addresses and CIDR ranges of reverse proxies whose `X-Forwarded-For` is
/// believed. Any other peer's header is ignored: a client could write
/// anything there, and login throttling keys on the address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `"10.0.0.0/8, 192.0.2.7, ::1"`; empty means none.
    pub fn parse(text: &str) -> Result<Self, String> {
        let nets = text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| {
            let (addr, len) = t.split_once('/').unwrap_or((t, ""));
            let ip: IpAddr = addr.parse().map_err(|_| format!("not an address: {t:?}"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = if len.is_empty() {
                max
            } else {
                len.parse().map_err(|_| format!("bad prefix: {t:?}"))?
            };
            if len > max {
                return Err(format!("bad prefix: {t:?}"));
            }
            Ok((ip, len))
        });
        nets.collect::<Result<Vec<_>, _>>().map(Self)
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(net, len)| prefix_matches(net, ip, len))
    }

    /// The client address of a request from `peer`: when the peer is
    /// trusted, the right-most `X-Forwarded-For` hop that is not itself a
    /// trusted proxy (the last one a trusted proxy saw connect); the peer
    /// otherwise. `forwarded_for` holds the header's field lines in order:
    /// they are one list (RFC 9110 §5.3), so a line a client sent and the
    /// line its proxy appended are read together, right to left. A hop that
    /// is not an address stops the walk at the last trusted hop.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_for.iter().rev().flat_map(|line| line.split(',').rev()).map(str::trim);
        let mut client = peer;
        for hop in hops {
            match hop_address(hop) {
                Some(ip) if self.contains(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` hop: an address, or one with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`), which some proxies write.
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

fn prefix_matches(net: IpAddr, ip: IpAddr, len: u8) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_proxies_parse_and_match_cidrs() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7, fd00::/8").unwrap();
        assert!(
            t.contains(ip("10.1.2.3")) && t.contains(ip("192.0.2.7")) && t.contains(ip("fd12::1"))
        );
        assert!(
            !t.contains(ip("11.0.0.1")) && !t.contains(ip("192.0.2.8")) && !t.contains(ip("::1"))
        );
        assert!(TrustedProxies::parse("nope").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
    }

    #[test]
    fn forwarded_for_believed_only_from_trusted_peers() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoof = &["6.6.6.6"];
        assert_eq!(t.client_address(ip("203.0.113.9"), spoof), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(t.client_address(ip("10.0.0.2"), &["1.2.3.4, 10.0.0.5"]), ip("1.2.3.4"));
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &["6.6.6.6, 1.2.3.4"]),
            ip("1.2.3.4"),
            "right-most untrusted"
        );
        assert_eq!(t.client_address(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        assert_eq!(t.client_address(ip("10.0.0.2"), &["garbage"]), ip("10.0.0.2"));
        assert_eq!(t.client_address(ip("10.0.0.2"), &["1.2.3.4:4711"]), ip("1.2.3.4"));
        assert_eq!(t.client_address(ip("10.0.0.2"), &["[2001:db8::1]:80"]), ip("2001:db8::1"));
    }

    /// Issue 12 item 12: behind a proxy that appends its own field line
    /// (HAProxy `option forwardfor`), only the first line, the client's own,
    /// was read: the client chose its address.
    #[test]
    fn regression_only_first_forwarded_for_line_read() {
        let t = TrustedProxies::parse("10.0.0.2").unwrap();
        let lines = ["6.6.6.6", "203.0.113.50"];
        assert_eq!(t.client_address(ip("10.0.0.2"), &lines), ip("203.0.113.50"));
        let lines = ["6.6.6.6, 7.7.7.7", "203.0.113.50, 10.0.0.2"];
        assert_eq!(t.client_address(ip("10.0.0.2"), &lines), ip("203.0.113.50"));
    }
}
