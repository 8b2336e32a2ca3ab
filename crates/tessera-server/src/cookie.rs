//! The session cookie: its name, attributes, and reading it from requests.
//!
//! With secure cookies (the default) the name carries the `__Host-` prefix,
//! which browsers only accept from a secure origin with `Path=/` and no
//! `Domain`: a sibling subdomain cannot plant or overwrite it (cookie tossing).
//! A cookie of the unprefixed name is never read in that mode.

use axum::http::{HeaderMap, HeaderValue, header};

/// Cookie names and attributes for one deployment.
#[derive(Clone, Copy, Debug)]
pub struct CookiePolicy {
    secure: bool,
}

impl CookiePolicy {
    /// Secure (prefixed, `Secure`) unless explicitly turned off for plain-HTTP development.
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// Name of the session cookie.
    pub fn session_name(self) -> &'static str {
        if self.secure { "__Host-tessera_session" } else { "tessera_session" }
    }

    /// `Set-Cookie` carrying a new session secret.
    pub fn set_session(self, secret: &str) -> HeaderValue {
        self.header(&format!("{}={secret}; Path=/; HttpOnly", self.session_name()))
    }

    /// `Set-Cookie` clearing the session cookie: same name and path, `Max-Age=0`.
    pub fn clear_session(self) -> HeaderValue {
        self.header(&format!("{}=; Path=/; Max-Age=0; HttpOnly", self.session_name()))
    }

    fn header(self, head: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        // Only base64url secrets and fixed names are interpolated: always valid.
        HeaderValue::from_str(&format!("{head}{secure}; SameSite=Lax"))
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// The session secret the request carries, if any.
    pub fn session_secret(self, headers: &HeaderMap) -> Option<&str> {
        find_cookie(headers, self.session_name())
    }
}

/// The first value of cookie `name` across all `Cookie` headers. Browsers send
/// the most specific path first; with `__Host-` names only one can exist.
fn find_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn secure_cookie_attributes_exact() {
        let p = CookiePolicy::new(true);
        assert_eq!(
            p.set_session("abc"),
            "__Host-tessera_session=abc; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            p.clear_session(),
            "__Host-tessera_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn insecure_cookie_drops_prefix_and_secure() {
        let p = CookiePolicy::new(false);
        assert_eq!(p.set_session("abc"), "tessera_session=abc; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn cookie_found_among_others_and_headers() {
        let p = CookiePolicy::new(true);
        let h = headers(&["a=1; __Host-tessera_session=s3cret", "b=2"]);
        assert_eq!(p.session_secret(&h), Some("s3cret"));
        let h = headers(&["a=1", "__Host-tessera_session=x"]);
        assert_eq!(p.session_secret(&h), Some("x"));
    }

    #[test]
    fn unprefixed_cookie_ignored_in_secure_mode() {
        let p = CookiePolicy::new(true);
        assert_eq!(p.session_secret(&headers(&["tessera_session=tossed"])), None);
        assert_eq!(p.session_secret(&headers(&["x__Host-tessera_session=no"])), None);
    }

    #[test]
    fn malformed_cookie_headers_do_not_panic() {
        let p = CookiePolicy::new(true);
        assert_eq!(p.session_secret(&headers(&[";;;=;", "=", "__Host-tessera_session"])), None);
    }
}
