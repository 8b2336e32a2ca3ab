//! `/v1/verify`: forward authentication for nginx `auth_request`, Traefik
//! `forwardAuth`, Envoy `ext_authz` and Caddy `forward_auth`.
//!
//! Answers only 200, 400, 401, 403 or 503, and every gateway refuses the
//! request on anything but a 2xx, so it fails closed. Every method is
//! answered here by the same rules (never by CORS: Envoy's `ext_authz`
//! forwards the client's method, `OPTIONS` included). Identity headers the
//! client sent (`X-Auth-*`, `Remote-User`, …) are never read: the answer's
//! headers are built here from the verified credential only.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Serialize;
use tessera_core::Error;
use tessera_core::token::VerifiedBearer;

use crate::AppState;
use crate::bearer::bearer_token;
use crate::cookie::{ACCESS, CookiePolicy};
use crate::error::{ApiError, BEARER, BEARER_INVALID};
use crate::session_auth::CSRF_HEADER;

/// The forward-auth endpoint's path (outside CORS preflights: see `origin`).
pub const PATH: &str = "/v1/verify";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, any(verify))
}

/// Who the credential belongs to (also sent as `X-Auth-*` headers).
#[derive(Serialize, utoipa::ToSchema)]
struct Identity {
    /// The user id, or the client id for a client-credentials token.
    subject: String,
    /// The username; empty for a client.
    username: String,
    /// Space-separated scopes.
    scope: String,
    /// How the request was authenticated.
    #[schema(value_type = crate::openapi::AuthMethod)]
    method: &'static str,
    /// The session id or token family (`sid`); empty for client credentials.
    session: String,
}

impl Identity {
    fn into_response(self) -> Response {
        let h = |name: &'static str, v: &str| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            )
        };
        let headers = [
            h("x-auth-subject", &self.subject),
            h("x-auth-username", &self.username),
            h("x-auth-scope", &self.scope),
            h("x-auth-method", self.method),
            h("x-auth-session", &self.session),
        ];
        (StatusCode::OK, headers, Json(self)).into_response()
    }
}

/// Whether the original request may change state. Both forwarded-method
/// headers count, and any one naming an unsafe method (or an unreadable
/// one) makes the request unsafe: a gateway that forwards client headers
/// (Traefik and Caddy by default) would otherwise let a client send
/// `X-Original-Method: GET` on a POST to skip the CSRF check. With neither
/// header, the request's own method is the original one (Envoy `ext_authz`).
fn original_is_unsafe(method: &Method, headers: &HeaderMap) -> bool {
    let mut forwarded = ["x-original-method", "x-forwarded-method"]
        .iter()
        .flat_map(|n| headers.get_all(*n).iter())
        .peekable();
    if forwarded.peek().is_none() {
        return !method.is_safe();
    }
    forwarded.any(|v| Method::from_bytes(v.as_bytes()).map_or(true, |m| !m.is_safe()))
}

/// `?scope=a%20b` (or `a+b`): every listed scope is required.
fn required_scope(query: Option<&str>) -> Result<String, ApiError> {
    let Some(q) = query else { return Ok(String::new()) };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|_| insufficient())?;
    Ok(pairs
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join(" "))
}

fn insufficient() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        "the credential lacks a required scope",
    )
}

/// Maps every credential failure onto 401, 403 or 503.
fn gateway_error(e: Error, presented: bool) -> ApiError {
    match e {
        Error::Store(_) => ApiError::from(e),
        Error::CsrfFailed(_) => ApiError::from(e),
        _ if presented => {
            ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "the credential is invalid")
                .with_challenge(BEARER_INVALID)
        }
        _ => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a credential is required")
            .with_challenge(BEARER),
    }
}

/// Verify a request (forward auth)
///
/// For nginx `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz` and Caddy
/// `forward_auth`; every method is answered by the same rules, `OPTIONS` included
/// (it is never a CORS preflight here). Credentials are read from
/// `Authorization: Bearer`, then the hybrid cookie, then the session cookie. Answers
/// only 200, 400, 401, 403 or 503: 400 `invalid_request` when the request presents a
/// token twice (`Authorization` and an `access_token` query parameter, here or in the
/// original URI; RFC 6750 §3.1). When the original method is unsafe and the credential
/// is a cookie, the CSRF token is required.
#[utoipa::path(
    get,
    path = "/v1/verify",
    operation_id = "verify",
    tag = "verify",
    params(crate::openapi::VerifyQuery, crate::openapi::VerifyHeaders),
    responses(
        (status = 200, description = "Authenticated", body = Identity,
            headers(
                ("X-Auth-Subject" = String, description = "`subject`"),
                ("X-Auth-Username" = String, description = "`username`"),
                ("X-Auth-Scope" = String, description = "`scope`"),
                ("X-Auth-Method" = String, description = "`method`"),
                ("X-Auth-Session" = String, description = "`session`"),
            )),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []), ("hybrid_cookie" = []), ("session_cookie" = []))
)]
async fn verify(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match check(&state, &method, &headers, query.as_deref()).await {
        Ok(identity) => identity.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn check(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Identity, ApiError> {
    let required = required_scope(query)?;
    let identity = identify(state, method, headers, query).await?;
    if !tessera_core::scope::covers(&identity.scope, &required) {
        return Err(insufficient());
    }
    Ok(identity)
}

async fn token_identity(
    state: &AppState,
    bearer: &VerifiedBearer,
    method: &'static str,
) -> Result<Identity, ApiError> {
    let c = bearer.claims();
    let username = match bearer.user_id() {
        Some(id) => state.tessera.username_of(&id).await.map_err(|e| gateway_error(e, true))?,
        None => String::new(),
    };
    Ok(Identity {
        subject: c.sub.clone(),
        username,
        scope: c.scope.clone(),
        method,
        session: c.sid.clone().unwrap_or_default(),
    })
}

/// The query strings of the request being verified: this one's, and the
/// original request's as the gateway forwards it (a client's
/// `?access_token=` reaches Tessera there).
fn queries<'a>(query: Option<&'a str>, headers: &'a HeaderMap) -> [Option<&'a str>; 3] {
    let original = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|u| u.split_once('?')).map(|p| p.1)
    };
    [query, original("x-original-uri"), original("x-forwarded-uri")]
}

async fn identify(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Identity, ApiError> {
    // 1. Authorization: Bearer (RFC 6750's edges answered as everywhere else).
    if let Some(token) = bearer_token(headers, &queries(query, headers))? {
        let bearer =
            state.tessera.verify_access_token(token).map_err(|e| gateway_error(e, true))?;
        return token_identity(state, &bearer, "bearer").await;
    }
    // Cookies ride along with cross-site requests, so with a cookie
    // credential an unsafe original method also needs the CSRF token.
    let unsafe_method = original_is_unsafe(method, headers);
    let presented_csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    // 2. The hybrid access-token cookie.
    if let Some(token) = cookies.get(ACCESS, headers) {
        let bearer =
            state.tessera.verify_access_token(token).map_err(|e| gateway_error(e, true))?;
        let sid =
            bearer.family_id().ok_or_else(|| gateway_error(Error::InvalidToken("no sid"), true))?;
        if unsafe_method {
            state
                .tessera
                .verify_hybrid_csrf(&sid, presented_csrf)
                .map_err(|e| gateway_error(e, true))?;
        }
        return token_identity(state, &bearer, "hybrid").await;
    }
    // 3. The session cookie.
    let Some(secret) = cookies.session_secret(headers) else {
        return Err(gateway_error(Error::Unauthorized("no credential"), false));
    };
    let session = state.tessera.resume_session(secret).await.map_err(|e| gateway_error(e, true))?;
    if unsafe_method {
        session.verify_csrf(presented_csrf).map_err(|e| gateway_error(e, true))?;
    }
    let user = session.user();
    Ok(Identity {
        subject: user.id.to_string(),
        username: user.username.to_string(),
        scope: user.scope.clone(),
        method: "session",
        session: session.record().id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_query_forms() {
        assert_eq!(required_scope(None).unwrap(), "");
        assert_eq!(required_scope(Some("scope=a%20b")).unwrap(), "a b");
        assert_eq!(required_scope(Some("scope=a+b")).unwrap(), "a b");
        assert_eq!(required_scope(Some("scope=a&scope=b")).unwrap(), "a b");
    }

    #[test]
    fn original_method_any_unsafe_header_makes_it_unsafe() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, HeaderValue::from_static(v));
            }
            h
        };
        let get = Method::GET;
        assert!(!original_is_unsafe(&get, &with(&[])));
        assert!(original_is_unsafe(&Method::POST, &with(&[])), "Envoy: the request's own method");
        assert!(!original_is_unsafe(&Method::POST, &with(&[("x-forwarded-method", "GET")])));
        assert!(original_is_unsafe(&get, &with(&[("x-forwarded-method", "DELETE")])));
        // A client-sent X-Original-Method: GET cannot mask the gateway's POST.
        let spoofed = with(&[("x-original-method", "GET"), ("x-forwarded-method", "POST")]);
        assert!(original_is_unsafe(&get, &spoofed));
        assert!(
            original_is_unsafe(&get, &with(&[("x-original-method", "G E T")])),
            "unreadable: unsafe"
        );
    }
}
