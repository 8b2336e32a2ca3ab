//! Sessions and devices: `GET /v1/sessions`, `DELETE /v1/sessions/{id}`,
//! `POST /v1/logout-all`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tessera_core::device::CurrentLogin;
use tessera_core::refresh::FamilyId;
use tessera_core::session::SessionId;

use crate::AppState;
use crate::cookie::{ACCESS, CSRF, CookiePolicy, CookieSpec, REFRESH, SESSION};
use crate::error::ApiError;
use crate::principal::{Authenticated, Credential};
use crate::routes::PathId;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", get(list))
        .route("/v1/sessions/{id}", delete(end))
        .route("/v1/logout-all", post(logout_all))
}

/// List the caller's sessions
///
/// Every live browser session and refresh-token family of the caller.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    operation_id = "listSessions",
    tag = "devices",
    responses(
        (status = 200, description = "The caller's sessions and families", body = crate::openapi::DeviceList),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("hybrid_cookie" = []))
)]
async fn list(State(state): State<AppState>, auth: Authenticated) -> Result<Json<Value>, ApiError> {
    let devices = state.tessera.list_devices(&auth.user_id, auth.current()).await?;
    let sessions: Vec<Value> = devices
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id,
                "kind": d.kind.as_str(),
                "created_at": d.created_at,
                "last_seen_at": d.last_seen_at,
                "expires_at": d.expires_at,
                "user_agent": d.client.user_agent,
                "ip": d.client.ip,
                "current": d.current,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// End one of the caller's sessions
///
/// The session or token family is dead at once on every node. Someone else's id is 404.
/// Ending the login the request's own cookie belongs to also clears that login's
/// cookies (and no other cookie).
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    operation_id = "deleteSession",
    tag = "devices",
    params(
        ("id" = String, Path, description = "A session id or token family id (`sid`)"),
        crate::openapi::CsrfHeader,
    ),
    responses(
        (status = 204, description = "Ended",
            headers(("Set-Cookie" = String, description = "When the request's own cookie login was ended: that login's cookies with `Max-Age=0`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::NotFound),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("hybrid_cookie" = []))
)]
async fn end(
    State(state): State<AppState>,
    auth: Authenticated,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    state.tessera.end_device(&auth.user_id, &id).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    // Ending the very login the request came with: its cookies are dead, clear them.
    let own = match auth.current() {
        CurrentLogin::Session(sid) => SessionId::parse(&id) == Some(sid),
        CurrentLogin::Family(fid) => FamilyId::parse(&id) == Some(fid),
        CurrentLogin::None => false,
    };
    if own {
        clear_login_cookies(&mut res, &state, &auth);
    }
    Ok(res)
}

/// Log out everywhere
///
/// Every session and family of the caller is revoked and every access token issued
/// before now rejected. A cookie caller's own login cookies are cleared too (the session
/// cookie, or the three hybrid cookies), and no other cookie.
#[utoipa::path(
    post,
    path = "/v1/logout-all",
    operation_id = "logoutAll",
    tag = "devices",
    params(crate::openapi::CsrfHeader),
    responses(
        (status = 204, description = "Logged out everywhere",
            headers(("Set-Cookie" = String, description = "By cookie: the cookies of the request's own login with `Max-Age=0`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []), ("session_cookie" = []), ("hybrid_cookie" = []))
)]
async fn logout_all(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    state.tessera.log_out_everywhere(&auth.user_id).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    if auth.by_cookie() {
        clear_login_cookies(&mut res, &state, &auth);
    }
    Ok(res)
}

/// Appends the `Set-Cookie` headers clearing the cookies of the login `auth`
/// came with, and no others. A cookie of the other mode may be another user's
/// live login in the same browser (the credential order reads the hybrid
/// cookie first); the application's own cookies are none of Tessera's
/// business. So never `Clear-Site-Data`: a browser applies it to every cookie
/// of the registrable domain, every port and scheme included.
fn clear_login_cookies(res: &mut Response, state: &AppState, auth: &Authenticated) {
    let specs: &[CookieSpec] = match auth.credential {
        Credential::Session(_) => &[SESSION],
        Credential::Hybrid(_) => &[ACCESS, REFRESH, CSRF],
        Credential::Bearer(_) => &[],
    };
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    for spec in specs {
        res.headers_mut().append(header::SET_COOKIE, cookies.clear(*spec));
    }
}
