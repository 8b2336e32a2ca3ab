//! Session mode: `/v1/session/login`, `/v1/session`, `/v1/session/logout`,
//! `/v1/session/data`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera_core::Timestamp;
use tessera_core::session::{SessionId, SessionRecord};
use tessera_core::store::SessionData;
use tessera_core::user::{UserId, Username};

use crate::AppState;
use crate::client::Client;
use crate::cookie::CookiePolicy;
use crate::error::ApiError;
use crate::payload::{JsonBody, JsonOrForm, form_csrf_token};
use crate::session_auth::SessionAuth;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/session/login", post(login))
        .route("/v1/session", get(current))
        .route("/v1/session/logout", post(logout))
        .route("/v1/session/data", get(data).put(replace_data))
}

/// A username and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SessionLoginRequest)]
struct Credentials {
    #[schema(examples("alice"))]
    username: String,
    #[schema(examples("correct horse battery staple"))]
    password: String,
}

/// The session's user.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SessionUser)]
struct UserView<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: UserId,
    #[schema(value_type = String)]
    username: &'a Username,
    /// Space-separated scopes (`GET /v1/session` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    scope: Option<&'a str>,
}

/// A server-side session.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
struct SessionView {
    /// A public handle (for `DELETE /v1/sessions/{id}`), never the cookie secret.
    #[schema(value_type = String, format = "uuid")]
    id: SessionId,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    last_seen_at: Timestamp,
    /// When the session ends unless used before.
    #[schema(value_type = String, format = DateTime)]
    idle_expires_at: Timestamp,
    /// The end of its absolute lifetime.
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

/// A session, its user and its CSRF token.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SessionInfo)]
struct SessionBody<'a> {
    user: UserView<'a>,
    session: SessionView,
    /// Echo in `X-CSRF-Token` on every unsafe request made with the session cookie.
    csrf_token: &'a str,
}

fn session_view(state: &AppState, r: &SessionRecord) -> SessionView {
    let policy = &state.tessera.config().session;
    SessionView {
        id: r.id,
        created_at: r.created_at,
        last_seen_at: r.last_seen_at,
        idle_expires_at: policy.idle_expires_at(r).min(policy.expires_at(r)),
        expires_at: policy.expires_at(r),
    }
}

/// Log in (session mode)
///
/// Starts a server-side session and sets the session cookie. A session cookie sent
/// with the login is destroyed and a new secret issued. Unknown user and wrong password
/// give the same 401 `invalid_credentials`; repeated failures give 429.
#[utoipa::path(
    post,
    path = "/v1/session/login",
    operation_id = "sessionLogin",
    tag = "session",
    request_body(content(
        (Credentials = "application/json"),
        (Credentials = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in", body = SessionBody,
            headers(("Set-Cookie" = String, description = "`__Host-tessera_session=…; Path=/; HttpOnly; Secure; SameSite=Lax`"))),
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
    JsonOrForm(creds): JsonOrForm<Credentials>,
) -> Result<Response, ApiError> {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    let user = state.tessera.authenticate(&creds.username, &creds.password, &client).await?;
    // Whatever session cookie came with the login is destroyed and never
    // reused: a new secret every time (fixation).
    let carried = cookies.session_secret(&headers);
    let issued = state.tessera.start_session(&user, client, carried).await?;
    let body = SessionBody {
        user: UserView { id: user.id, username: &user.username, scope: None },
        session: session_view(&state, &issued.record),
        csrf_token: issued.record.csrf_token.expose(),
    };
    let set_cookie = cookies.set_session(issued.secret.expose());
    Ok(([(header::SET_COOKIE, set_cookie)], Json(body)).into_response())
}

/// The current session
///
/// 401 `unauthorized` without a live session.
#[utoipa::path(
    get,
    path = "/v1/session",
    operation_id = "getSession",
    tag = "session",
    responses(
        (status = 200, description = "The session", body = SessionBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("session_cookie" = []))
)]
async fn current(State(state): State<AppState>, auth: SessionAuth) -> Response {
    let s = &auth.session;
    let body = SessionBody {
        user: UserView {
            id: s.user().id,
            username: &s.user().username,
            scope: Some(&s.user().scope),
        },
        session: session_view(&state, s.record()),
        csrf_token: s.record().csrf_token.expose(),
    };
    Json(body).into_response()
}

/// Log out (session mode)
///
/// Deletes the server session and clears the cookie. Needs the CSRF token, in
/// `X-CSRF-Token` or (from an HTML form) the `csrf_token` field.
#[utoipa::path(
    post,
    path = "/v1/session/logout",
    operation_id = "sessionLogout",
    tag = "session",
    params(crate::openapi::CsrfHeader),
    request_body(content = ref("#/components/schemas/LogoutForm"), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Logged out; the cookie is cleared",
            headers(("Set-Cookie" = String, description = "The session cookie with `Max-Age=0`"))),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("session_cookie" = []))
)]
async fn logout(
    State(state): State<AppState>,
    auth: SessionAuth,
    req: Request,
) -> Result<Response, ApiError> {
    let presented = match auth.csrf_header {
        Some(h) => Some(h),
        None => form_csrf_token(req, &state).await?,
    };
    let proof = auth.session.verify_csrf(presented.as_deref())?;
    state.tessera.end_session(&auth.session, proof).await?;
    Ok(cleared(&state))
}

/// 204 clearing the session cookie, and only it: no `Clear-Site-Data`, which
/// a browser applies to every cookie of the registrable domain (the
/// application's own, and a login of the other cookie mode).
fn cleared(state: &AppState) -> Response {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookies.clear_session())]).into_response()
}

/// The session's data
///
/// The JSON object stored with the session (initially `{}`).
#[utoipa::path(
    get,
    path = "/v1/session/data",
    operation_id = "getSessionData",
    tag = "session",
    responses(
        (status = 200, description = "The session's data", body = Object),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("session_cookie" = []))
)]
async fn data(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> Result<Json<SessionData>, ApiError> {
    Ok(Json(state.tessera.session_data(&auth.session).await?))
}

/// Replace the session's data
///
/// Needs the CSRF token. Over the configured size (default 16 KiB) is 413.
#[utoipa::path(
    put,
    path = "/v1/session/data",
    operation_id = "putSessionData",
    tag = "session",
    params(crate::openapi::CsrfHeader),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 204, description = "Replaced"),
        (status = 400, response = crate::openapi::InvalidRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("session_cookie" = []))
)]
async fn replace_data(
    State(state): State<AppState>,
    auth: SessionAuth,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let proof = auth.session.verify_csrf(auth.csrf_header.as_deref())?;
    let serde_json::Value::Object(map) = body else {
        return Err(ApiError::invalid_request("session data must be a JSON object"));
    };
    state.tessera.replace_session_data(&auth.session, map, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}
