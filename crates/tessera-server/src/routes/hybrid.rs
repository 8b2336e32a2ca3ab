//! Hybrid mode: `/v1/hybrid/login`, `/v1/hybrid/refresh`, `/v1/hybrid/logout`.
//!
//! The access token travels in an `HttpOnly` cookie (out of page scripts'
//! reach), the refresh token in a `SameSite=Strict` cookie scoped to
//! `/v1/hybrid`, and a CSRF token bound to the login in a cookie scripts can
//! read and echo in `X-CSRF-Token`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera_core::refresh::{FamilyId, FamilyKind};
use tessera_core::token::TokenGrant;
use tessera_core::user::User;
use tessera_core::{Error, Tessera};

use crate::AppState;
use crate::arrival::Arrival;
use crate::client::Client;
use crate::cookie::{ACCESS, CSRF, CookiePolicy, REFRESH};
use crate::error::ApiError;
use crate::payload::JsonOrForm;
use crate::session_auth::CSRF_HEADER;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/hybrid/login", post(login))
        .route("/v1/hybrid/refresh", post(refresh))
        .route("/v1/hybrid/logout", post(logout))
}

/// A username and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = HybridLoginRequest)]
struct Credentials {
    #[schema(examples("alice"))]
    username: String,
    #[schema(examples("correct horse battery staple"))]
    password: String,
}

fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

/// The three `Set-Cookie` headers for a grant. `AppendHeaders`, because a
/// plain header array inserts, and each `Set-Cookie` would replace the last.
fn grant_cookies(
    tessera: &Tessera,
    cookies: CookiePolicy,
    grant: &TokenGrant,
) -> (String, AppendHeaders<[(HeaderName, HeaderValue); 4]>) {
    let csrf = tessera.hybrid_csrf_token(&grant.refresh.family.id);
    let headers = AppendHeaders([
        (header::SET_COOKIE, cookies.set(ACCESS, &grant.access.token)),
        (header::SET_COOKIE, cookies.set(REFRESH, grant.refresh.secret.expose())),
        (header::SET_COOKIE, cookies.set(CSRF, &csrf)),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]);
    (csrf, headers)
}

fn cleared(cookies: CookiePolicy, status: StatusCode) -> Response {
    let headers = AppendHeaders([
        (header::SET_COOKIE, cookies.clear(ACCESS)),
        (header::SET_COOKIE, cookies.clear(REFRESH)),
        (header::SET_COOKIE, cookies.clear(CSRF)),
    ]);
    (status, headers).into_response()
}

/// Log in (hybrid mode)
///
/// Sets three cookies: the access token (`__Host-tessera_at`), the refresh token
/// (`__Secure-tessera_rt`) and the CSRF token (`__Host-tessera_csrf`, readable by
/// scripts). A hybrid login the browser carried is revoked. Same failure rules as the
/// session login.
#[utoipa::path(
    post,
    path = "/v1/hybrid/login",
    operation_id = "hybridLogin",
    tag = "hybrid",
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = crate::openapi::HybridLogin,
            headers(("Set-Cookie" = String, description = "Three cookies: `__Host-tessera_at`, `__Secure-tessera_rt`, `__Host-tessera_csrf`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    JsonOrForm(c): JsonOrForm<Credentials>,
) -> Result<Response, ApiError> {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    let (user, grant) = state
        .tessera
        .login_for_tokens(&c.username, &c.password, None, None, FamilyKind::Hybrid, client)
        .await?;
    // A login replaces whatever hybrid login the browser carried (fixation).
    if let Some(old) = cookies.get(REFRESH, &headers)
        && let Ok(family) = state.tessera.family_of_refresh_token(old).await
    {
        state.tessera.revoke_family(&family.id).await?;
    }
    let (csrf, set) = grant_cookies(&state.tessera, cookies, &grant);
    let User { id, username, .. } = user;
    let body = json!({
        "user": {"id": id, "username": username},
        "csrf_token": csrf,
        "expires_in": grant.access.expires_in,
    });
    Ok((set, Json(body)).into_response())
}

/// Refresh (hybrid mode)
///
/// Rotates all three cookies. Needs the refresh cookie and the CSRF token. Presenting
/// an already-rotated refresh token is reuse: 400 `invalid_grant`, the whole family is
/// revoked and the cookies are cleared.
#[utoipa::path(
    post,
    path = "/v1/hybrid/refresh",
    operation_id = "hybridRefresh",
    tag = "hybrid",
    params(crate::openapi::CsrfHeader),
    responses(
        (status = 200, description = "Rotated", body = crate::openapi::HybridRefresh,
            headers(("Set-Cookie" = String, description = "The three rotated cookies"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("hybrid_refresh_cookie" = []))
)]
async fn refresh(
    State(state): State<AppState>,
    Arrival(arrived_at): Arrival,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    let Some(rt) = cookies.get(REFRESH, &headers) else {
        return Err(Error::Unauthorized("no refresh cookie").into());
    };
    // The family of a live or consumed token in a live family: CSRF is
    // checked before anything is consumed, and the rotation below then
    // detects reuse of a consumed token (and revokes the family).
    let family = match state.tessera.family_of_refresh_token(rt).await {
        Ok(f) => f,
        Err(e @ Error::InvalidGrant(_)) => return Ok(with_cleared(ApiError::from(e), cookies)),
        Err(e) => return Err(e.into()),
    };
    state.tessera.verify_hybrid_csrf(&family.id, csrf_header(&headers))?;
    match state.tessera.refresh_tokens(rt, &family.client_id, None, arrived_at).await {
        Ok(grant) => {
            let (csrf, set) = grant_cookies(&state.tessera, cookies, &grant);
            Ok((set, Json(json!({"csrf_token": csrf, "expires_in": grant.access.expires_in})))
                .into_response())
        }
        Err(e @ Error::InvalidGrant(_)) => Ok(with_cleared(ApiError::from(e), cookies)),
        Err(e) => Err(e.into()),
    }
}

fn with_cleared(err: ApiError, cookies: CookiePolicy) -> Response {
    let mut res = err.into_response();
    for spec in [ACCESS, REFRESH, CSRF] {
        res.headers_mut().append(header::SET_COOKIE, cookies.clear(spec));
    }
    res
}

/// Log out (hybrid mode)
///
/// Revokes the login's token family and clears the cookies. Needs the CSRF token.
#[utoipa::path(
    post,
    path = "/v1/hybrid/logout",
    operation_id = "hybridLogout",
    tag = "hybrid",
    params(crate::openapi::CsrfHeader),
    responses(
        (status = 204, description = "Logged out; the cookies are cleared",
            headers(("Set-Cookie" = String, description = "The three cookies with `Max-Age=0`"))),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("hybrid_cookie" = []), ("hybrid_refresh_cookie" = []))
)]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    let sid = login_of(&state, cookies, &headers).await?;
    state.tessera.verify_hybrid_csrf(&sid, csrf_header(&headers))?;
    state.tessera.revoke_family(&sid).await?;
    // Its three cookies only: no `Clear-Site-Data`, which would take every
    // cookie of the site with it (the application's, a session-mode login).
    Ok(cleared(cookies, StatusCode::NO_CONTENT))
}

/// The login a hybrid request belongs to: from the access-token cookie, or
/// (once that has expired) from the refresh cookie.
async fn login_of(
    state: &AppState,
    cookies: CookiePolicy,
    headers: &HeaderMap,
) -> Result<FamilyId, ApiError> {
    if let Some(at) = cookies.get(ACCESS, headers)
        && let Ok(bearer) = state.tessera.verify_access_token(at)
        && let Some(sid) = bearer.family_id()
    {
        return Ok(sid);
    }
    if let Some(rt) = cookies.get(REFRESH, headers) {
        match state.tessera.family_of_refresh_token(rt).await {
            Ok(f) => return Ok(f.id),
            Err(Error::Store(e)) => return Err(Error::Store(e).into()),
            Err(_) => {}
        }
    }
    Err(Error::Unauthorized("no live hybrid login").into())
}
