//! CSRF defences: the token bound to a session, and the origin check.
//!
//! Two independent layers. The origin check refuses any unsafe request whose
//! `Origin` (or, absent that, `Sec-Fetch-Site: cross-site`) names a site
//! outside the allowed origins, login included (login CSRF). The token check
//! requires every unsafe request authenticated by a cookie to echo the token
//! bound to that session, which a cross-site page cannot read.

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Proof that a request passed the CSRF token check. Only [`verify_token`]
/// makes one, so a handler that needs it cannot forget the check.
#[derive(Debug)]
pub struct CsrfVerified(());

/// The proof, for checks implemented elsewhere in the core (hybrid mode).
pub(crate) fn verified() -> CsrfVerified {
    CsrfVerified(())
}

/// Checks `presented` against the token `bound` to the credential, in constant time.
pub fn verify_token(bound: &Secret, presented: Option<&str>) -> Result<CsrfVerified> {
    match presented {
        None | Some("") => Err(Error::CsrfFailed("token missing")),
        Some(p) if bound.matches(p) => Ok(CsrfVerified(())),
        Some(_) => Err(Error::CsrfFailed("token mismatch")),
    }
}

/// The origins allowed to make credentialed, state-changing requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// Parses origins such as `https://app.example.com` (scheme, host, optional
    /// port; a trailing `/` and a default port are dropped).
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let allowed = origins
            .into_iter()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                normalize_origin(o)
                    .ok_or_else(|| Error::InvalidRequest(format!("not an origin: {o:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { allowed })
    }

    /// The allowed origins, normalised.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    /// Whether `origin` (an `Origin` header value) is allowed. `null` never is.
    pub fn allows(&self, origin: &str) -> bool {
        normalize_origin(origin).is_some_and(|o| self.allowed.contains(&o))
    }

    /// The check applied to every unsafe request. Requests with neither header
    /// (curl, native apps) pass: they are not made by a browser on behalf of
    /// another site.
    pub fn check(&self, origin: Option<&str>, sec_fetch_site: Option<&str>) -> Result<()> {
        match (origin, sec_fetch_site) {
            (Some(o), _) if self.allows(o) => Ok(()),
            (Some(_), _) => Err(Error::CsrfFailed("origin not allowed")),
            (None, Some(site)) if site.eq_ignore_ascii_case("cross-site") => {
                Err(Error::CsrfFailed("cross-site request"))
            }
            (None, _) => Ok(()),
        }
    }
}

/// `scheme://host[:port]`, lower-cased, default port and trailing slash removed.
fn normalize_origin(o: &str) -> Option<String> {
    let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = o.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains(['/', '?', '#', '@'])
    {
        return None;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = rest.strip_suffix(default_port).unwrap_or(rest);
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OriginPolicy {
        OriginPolicy::new(["https://app.example.com", "http://localhost:3000/"]).unwrap()
    }

    #[test]
    fn origin_allowed_exact_and_normalised() {
        let p = policy();
        assert!(p.allows("https://app.example.com"));
        assert!(p.allows("HTTPS://APP.example.com:443"));
        assert!(p.allows("http://localhost:3000"));
    }

    #[test]
    fn origin_foreign_null_and_lookalikes_refused() {
        let p = policy();
        for o in [
            "null",
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com.evil.example",
            "https://app.example.com:8443",
            "http://localhost:3001",
            "",
        ] {
            assert!(!p.allows(o), "{o}");
            assert!(p.check(Some(o), None).is_err(), "{o}");
        }
    }

    #[test]
    fn origin_check_without_headers_passes() {
        assert!(policy().check(None, None).is_ok());
        assert!(policy().check(None, Some("same-origin")).is_ok());
        assert!(policy().check(None, Some("none")).is_ok());
    }

    #[test]
    fn origin_check_cross_site_fetch_refused() {
        assert!(policy().check(None, Some("cross-site")).is_err());
    }

    #[test]
    fn origin_policy_rejects_non_origins() {
        assert!(OriginPolicy::new(["app.example.com"]).is_err());
        assert!(OriginPolicy::new(["https://a.example/path"]).is_err());
        assert!(OriginPolicy::new(["ftp://a.example"]).is_err());
    }

    #[test]
    fn csrf_token_exact_match_only() {
        let bound = Secret::from_presented("abc123");
        assert!(verify_token(&bound, Some("abc123")).is_ok());
        assert!(verify_token(&bound, Some("abc124")).is_err());
        assert!(verify_token(&bound, Some("")).is_err());
        assert!(verify_token(&bound, None).is_err());
    }
}
