//! Facts about the client a request came from: its address (from the peer,
//! or from `X-Forwarded-For` when the peer is a trusted proxy) and its user
//! agent. A forwarding header from any other peer is ignored, and said so in
//! a warning at most once a minute: it usually means a proxy that
//! `TESSERA_TRUSTED_PROXIES` does not list, which makes every client look
//! like the proxy (and locks them all out together).

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use tessera_core::Timestamp;
use tessera_core::session::ClientInfo;

use crate::AppState;

/// Headers a proxy uses to pass the client's address on.
const FORWARDING_HEADERS: [&str; 3] = ["x-forwarded-for", "forwarded", "x-real-ip"];

/// Seconds between two warnings about forwarding headers from untrusted peers.
const WARNING_PERIOD: i64 = 60;

/// The process's limit on those warnings (one per period for the whole
/// process, however many requests carry such a header).
static UNTRUSTED_FORWARDING: WarningGate = WarningGate::new(WARNING_PERIOD);

/// The peer address and user agent, for the devices list.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| {
            let peer = c.0.ip();
            let proxies = &state.config.trusted_proxies;
            if !proxies.contains(peer) {
                warn_if_forwarded(&parts.headers, peer, state.tessera.clock().now());
            }
            // A line that is not text is kept as an unreadable hop: it stops the walk.
            let lines: Vec<&str> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            proxies.client_address(peer, &lines).to_string()
        });
        let user_agent =
            parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self(ClientInfo { user_agent, ip }))
    }
}

/// Warns (rate-limited) that a forwarding header from `peer`, which is not
/// a trusted proxy, was ignored.
fn warn_if_forwarded(headers: &HeaderMap, peer: IpAddr, now: Timestamp) {
    let Some(name) = forwarding_header(headers) else { return };
    if let Some(suppressed) = UNTRUSTED_FORWARDING.admit_at(now) {
        tracing::warn!(
            %peer,
            header = name,
            suppressed,
            "ignored a forwarding header from a peer that is not in TESSERA_TRUSTED_PROXIES; \
             if a proxy stands in front of this server, list it there, or every client is \
             counted (and throttled) as the proxy's address"
        );
    }
}

/// The first forwarding header `headers` carry, if any.
fn forwarding_header(headers: &HeaderMap) -> Option<&'static str> {
    FORWARDING_HEADERS.into_iter().find(|h| headers.contains_key(*h))
}

/// At most one warning per `period` seconds, counting the ones held back.
#[derive(Debug)]
pub struct WarningGate {
    period: i64,
    /// The second of the last warning given, and how many were held back since.
    state: Mutex<(Option<i64>, u64)>,
}

impl WarningGate {
    /// A gate letting one warning through per `period` seconds.
    pub const fn new(period: i64) -> Self {
        Self { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(held back since the last one)` when a warning may be given at
    /// `now`; `None` (and one more held back) otherwise.
    pub fn admit_at(&self, now: Timestamp) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, held_back) = &mut *state;
        let now = now.unix();
        if last.is_some_and(|at| now < at + self.period) {
            *held_back += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held_back))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_header_any_of_the_three_names_in_any_case() {
        for name in ["X-Forwarded-For", "forwarded", "X-REAL-IP"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_static("198.51.100.7"),
            );
            assert!(forwarding_header(&headers).is_some(), "{name}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, axum::http::HeaderValue::from_static("curl"));
        assert_eq!(forwarding_header(&headers), None);
    }

    #[test]
    fn warning_gate_one_per_period_counting_the_held_back() {
        let gate = WarningGate::new(60);
        let at = |s: i64| Timestamp::from_unix(1_790_000_000 + s);
        assert_eq!(gate.admit_at(at(0)), Some(0));
        for s in 1..60 {
            assert_eq!(gate.admit_at(at(s)), None);
        }
        assert_eq!(gate.admit_at(at(60)), Some(59));
        assert_eq!(gate.admit_at(at(61)), None);
        assert_eq!(gate.admit_at(at(200)), Some(1));
    }
}
