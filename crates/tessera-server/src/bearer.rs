//! Bearer credentials (RFC 6750) and HTTP Basic client authentication (RFC 6749 §2.3.1).
//!
//! A bearer token is read from the `Authorization` header only: never from
//! a query string or a form body, where it would leak into logs and caches.
//! [`bearer_token`] is the one reading of it that every bearer-protected
//! endpoint shares (the [`Bearer`] and `Authenticated` extractors and
//! `/v1/verify`), so RFC 6750's edge cases get one answer everywhere.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tessera_core::Error;
use tessera_core::client::AuthenticatedClient;
use tessera_core::token::VerifiedBearer;

use crate::AppState;
use crate::error::{ApiError, BEARER, BEARER_INVALID_REQUEST};

/// A request authenticated by a verified, unrevoked access token.
#[derive(Debug, Clone)]
pub struct Bearer(pub VerifiedBearer);

/// The `Authorization` header's credentials for `scheme` (case-insensitive), if any.
pub fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The bearer token a request presents in `Authorization` (RFC 6750 §2.1),
/// `None` without one (another scheme is not a bearer credential).
///
/// - `Bearer` with an empty or malformed token (not RFC 7235 `token68`, or
///   not ASCII) is a credential that fails: 401 `invalid_token`, never "no
///   credential" (and never a fall-through to a cookie credential).
/// - A token in the `access_token` query parameter beside the header is two
///   ways of presenting a token at once (RFC 6750 §3.1): 400
///   `invalid_request`. So are two `Authorization` headers. A query token
///   alone is never read, so it is simply no credential.
///
/// `queries` are the query strings that belong to the request (for
/// `/v1/verify`, the gateway's original request too).
pub fn bearer_token<'h>(
    headers: &'h HeaderMap,
    queries: &[Option<&str>],
) -> Result<Option<&'h str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    let Some(token) = bearer_scheme(value.as_bytes()) else { return Ok(None) };
    if values.next().is_some() {
        return Err(invalid_request("more than one Authorization header"));
    }
    if queries.iter().flatten().any(|q| has_access_token(q)) {
        return Err(invalid_request("an access token both in Authorization and the query"));
    }
    match std::str::from_utf8(token) {
        Ok(t) if is_token68(t) => Ok(Some(t)),
        _ => Err(Error::InvalidToken("empty or malformed bearer token").into()),
    }
}

/// What follows `Bearer` and its spaces, when the scheme is `Bearer`
/// (case-insensitive, RFC 7235 §2.1). The scheme ends at any whitespace, so
/// `Bearer<TAB>abc` is a malformed bearer credential, not another scheme.
fn bearer_scheme(value: &[u8]) -> Option<&[u8]> {
    let scheme_end = value.iter().position(|b| matches!(b, b' ' | b'\t')).unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

/// RFC 7235 `token68`, the syntax of RFC 6750's `b64token`.
fn is_token68(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Whether a query string carries RFC 6750 §2.3's `access_token` parameter.
fn has_access_token(query: &str) -> bool {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .map_or(query.contains("access_token"), |pairs| {
            pairs.iter().any(|(k, _)| k == "access_token")
        })
}

fn invalid_request(description: &str) -> ApiError {
    ApiError::invalid_request(description).with_challenge(BEARER_INVALID_REQUEST)
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer_token(&parts.headers, &[parts.uri.query()])? else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required",
            )
            .with_challenge(BEARER));
        };
        Ok(Self(state.tessera.verify_access_token(token)?))
    }
}

impl Bearer {
    /// 403 `insufficient_scope` unless every scope in `required` was granted.
    pub fn require(&self, required: &str) -> Result<(), ApiError> {
        if self.0.has_scopes(required) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("the token lacks the scope {required:?}"),
            )
            .with_challenge(r#"Bearer realm="tessera", error="insufficient_scope""#))
        }
    }
}

/// HTTP Basic client credentials, decoded: `client_id` and `client_secret`
/// are form-urlencoded inside the base64 (RFC 6749 §2.3.1).
pub fn basic_client(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let Some(encoded) = credentials(headers, "Basic") else { return Ok(None) };
    let invalid = || ApiError::from(Error::InvalidClient("malformed Basic credentials"));
    let decoded = STANDARD.decode(encoded).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (id, secret) = text.split_once(':').ok_or_else(invalid)?;
    Ok(Some((form_unescape(id).ok_or_else(invalid)?, form_unescape(secret).ok_or_else(invalid)?)))
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space,
/// `%XX` a byte; everything else, `&` and `=` included, stands for itself
/// (a value is never split into several). `None` for a bad escape or bytes
/// that are not UTF-8.
fn form_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex =
                    bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Authenticates a confidential client from HTTP Basic; `None` without the header.
pub async fn authenticate_basic(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<AuthenticatedClient>, ApiError> {
    match basic_client(headers)? {
        Some((id, secret)) => Ok(Some(state.tessera.authenticate_client(&id, &secret).await?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_case_insensitive_and_exact() {
        assert_eq!(credentials(&with_auth("Bearer abc"), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_auth("bearer abc"), "Bearer"), Some("abc"));
        assert_eq!(credentials(&with_auth("Bearerabc"), "Bearer"), None);
        assert_eq!(credentials(&with_auth("Basic abc"), "Bearer"), None);
    }

    #[test]
    fn bearer_token_empty_malformed_or_doubled() {
        let token = |v: &str, q: Option<&str>| {
            bearer_token(&with_auth(v), &[q]).map(|t| t.map(str::to_owned)).map_err(|e| e.code())
        };
        assert_eq!(token("Bearer abc.DEF-_~+/==", None), Ok(Some("abc.DEF-_~+/==".into())));
        assert_eq!(token("bearer   abc", None), Ok(Some("abc".into())));
        assert_eq!(token("Basic abc", None), Ok(None));
        assert_eq!(token("Bearerabc", None), Ok(None), "another scheme's name");
        for bad in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer \"a\"",
            "Bearer =",
            "Bearer a=b",
            "Bearer\tabc",
        ] {
            assert_eq!(token(bad, None), Err("invalid_token"), "{bad:?}");
        }
        assert_eq!(token("Bearer abc", Some("access_token=x")), Err("invalid_request"));
        assert_eq!(token("Bearer abc", Some("a=1&access%5Ftoken=x")), Err("invalid_request"));
        assert_eq!(token("Bearer abc", Some("scope=a")), Ok(Some("abc".into())));
        assert_eq!(token("Basic abc", Some("access_token=x")), Ok(None));
        let mut two = with_auth("Bearer abc");
        two.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer def"));
        assert_eq!(bearer_token(&two, &[]).map_err(|e| e.code()), Err("invalid_request"));
        let mut raw = HeaderMap::new();
        raw.insert(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer \xff").unwrap());
        assert_eq!(bearer_token(&raw, &[]).map_err(|e| e.code()), Err("invalid_token"));
    }

    #[test]
    fn basic_client_decodes_form_escapes() {
        // "my%20app:s%3Acret" → ("my app", "s:cret")
        let h = with_auth(&format!("Basic {}", STANDARD.encode("my%20app:s%3Acret")));
        assert_eq!(basic_client(&h).unwrap(), Some(("my app".into(), "s:cret".into())));
        assert!(basic_client(&with_auth("Basic !!!")).is_err());
        assert!(
            basic_client(&with_auth(&format!("Basic {}", STANDARD.encode("nocolon")))).is_err()
        );
        assert_eq!(basic_client(&HeaderMap::new()).unwrap(), None);
    }

    /// Found by `fuzz/fuzz_targets/basic_auth.rs` (`Basic base64(":&")`): a raw
    /// `&` in a Basic credential split it, because each part was unescaped as
    /// the form `v=<part>` keeping the last pair, so `x&v=admin` read as the
    /// client id `admin`. Each part is now decoded as one value.
    #[test]
    fn basic_client_raw_ampersand_splits_credential() {
        let basic = |text: &str| with_auth(&format!("Basic {}", STANDARD.encode(text)));
        // The secret "&" was read as "".
        let got = basic_client(&basic(":&"));
        assert!(!matches!(got, Ok(Some((_, ref s))) if s.is_empty()), "{got:?}");
        // The client id "x&v=admin" was read as "admin".
        let got = basic_client(&basic("x&v=admin:pw"));
        assert!(!matches!(got, Ok(Some((ref id, _))) if id == "admin"), "{got:?}");
        assert_eq!(
            basic_client(&basic("x&v=admin:pw")).unwrap(),
            Some(("x&v=admin".into(), "pw".into()))
        );
        assert_eq!(basic_client(&basic("a+b:%2B%26")).unwrap(), Some(("a b".into(), "+&".into())));
        assert!(basic_client(&basic("a:%2")).is_err(), "truncated escape");
        assert!(basic_client(&basic("a:%+f")).is_err(), "a sign is not a hex digit");
        assert!(basic_client(&basic("a:%ff")).is_err(), "not UTF-8");
    }
}
