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
    /// Peers whose `X-Forwarded-For` is believed.
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

    /// The client address of a request from `peer`: the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy, when the
    /// peer is trusted; the peer otherwise.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops = forwarded_for.unwrap_or("").split(',').rev().map(str::trim);
        let mut client = peer;
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.contains(ip) => client = ip,
                Ok(ip) => return ip,
                Err(_) => return client,
            }
        }
        client
    }
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
        let spoof = Some("6.6.6.6");
        assert_eq!(t.client_address(ip("203.0.113.9"), spoof), ip("203.0.113.9"), "untrusted peer");
        assert_eq!(t.client_address(ip("10.0.0.2"), Some("1.2.3.4, 10.0.0.5")), ip("1.2.3.4"));
        assert_eq!(
            t.client_address(ip("10.0.0.2"), Some("6.6.6.6, 1.2.3.4")),
            ip("1.2.3.4"),
            "right-most untrusted"
        );
        assert_eq!(t.client_address(ip("10.0.0.2"), None), ip("10.0.0.2"));
        assert_eq!(t.client_address(ip("10.0.0.2"), Some("garbage")), ip("10.0.0.2"));
    }
}
