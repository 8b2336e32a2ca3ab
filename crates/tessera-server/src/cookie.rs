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

/// One of Tessera's cookies: its name (secure and development forms) and attributes.
#[derive(Clone, Copy, Debug)]
pub struct CookieSpec {
    secure_name: &'static str,
    plain_name: &'static str,
    path: &'static str,
    http_only: bool,
    same_site: &'static str,
}

/// The opaque session secret (session mode).
pub const SESSION: CookieSpec = CookieSpec {
    secure_name: "__Host-tessera_session",
    plain_name: "tessera_session",
    path: "/",
    http_only: true,
    same_site: "Lax",
};
/// The access token (hybrid mode).
pub const ACCESS: CookieSpec = CookieSpec {
    secure_name: "__Host-tessera_at",
    plain_name: "tessera_at",
    path: "/",
    http_only: true,
    same_site: "Lax",
};
/// The refresh token (hybrid mode): sent only to `/v1/hybrid/*`, never cross-site.
pub const REFRESH: CookieSpec = CookieSpec {
    secure_name: "__Secure-tessera_rt",
    plain_name: "tessera_rt",
    path: "/v1/hybrid",
    http_only: true,
    same_site: "Strict",
};
/// The CSRF token (hybrid mode): readable by page scripts on purpose.
pub const CSRF: CookieSpec = CookieSpec {
    secure_name: "__Host-tessera_csrf",
    plain_name: "tessera_csrf",
    path: "/",
    http_only: false,
    same_site: "Lax",
};

impl CookiePolicy {
    /// Secure (prefixed, `Secure`) unless explicitly turned off for plain-HTTP development.
    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    /// The cookie's name in this deployment.
    pub fn name(self, spec: CookieSpec) -> &'static str {
        if self.secure { spec.secure_name } else { spec.plain_name }
    }

    /// `Set-Cookie` carrying `value`.
    pub fn set(self, spec: CookieSpec, value: &str) -> HeaderValue {
        self.header(spec, value, "")
    }

    /// `Set-Cookie` clearing the cookie: same name and path, `Max-Age=0`.
    pub fn clear(self, spec: CookieSpec) -> HeaderValue {
        self.header(spec, "", "; Max-Age=0")
    }

    fn header(self, spec: CookieSpec, value: &str, extra: &str) -> HeaderValue {
        let http_only = if spec.http_only { "; HttpOnly" } else { "" };
        let secure = if self.secure { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path={}{extra}{http_only}{secure}; SameSite={}",
            self.name(spec),
            spec.path,
            spec.same_site
        );
        // Only base64url / JWT values and fixed names are interpolated: always valid.
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// The value of `spec`'s cookie in the request, if any.
    pub fn get(self, spec: CookieSpec, headers: &HeaderMap) -> Option<&str> {
        find_cookie(headers, self.name(spec))
    }

    /// `Set-Cookie` carrying a new session secret.
    pub fn set_session(self, secret: &str) -> HeaderValue {
        self.set(SESSION, secret)
    }

    /// `Set-Cookie` clearing the session cookie.
    pub fn clear_session(self) -> HeaderValue {
        self.clear(SESSION)
    }

    /// The session secret the request carries, if any.
    pub fn session_secret(self, headers: &HeaderMap) -> Option<&str> {
        self.get(SESSION, headers)
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
    fn hybrid_cookie_attributes_exact() {
        let p = CookiePolicy::new(true);
        assert_eq!(
            p.set(ACCESS, "j.w.t"),
            "__Host-tessera_at=j.w.t; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            p.set(REFRESH, "r"),
            "__Secure-tessera_rt=r; Path=/v1/hybrid; HttpOnly; Secure; SameSite=Strict"
        );
        assert_eq!(p.set(CSRF, "c"), "__Host-tessera_csrf=c; Path=/; Secure; SameSite=Lax");
        assert_eq!(
            p.clear(REFRESH),
            "__Secure-tessera_rt=; Path=/v1/hybrid; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
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
