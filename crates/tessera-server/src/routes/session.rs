//! Session mode: `/v1/session/login`, `/v1/session`, `/v1/session/logout`,
//! `/v1/session/data`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
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

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct UserView<'a> {
    id: UserId,
    username: &'a Username,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

#[derive(Serialize)]
struct SessionView {
    id: SessionId,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    idle_expires_at: Timestamp,
    expires_at: Timestamp,
}

#[derive(Serialize)]
struct SessionBody<'a> {
    user: UserView<'a>,
    session: SessionView,
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

/// 204 clearing the session cookie (and telling the browser to drop cookies).
fn cleared(state: &AppState) -> Response {
    let cookies = CookiePolicy::new(state.config.secure_cookies);
    let clear_site = HeaderName::from_static("clear-site-data");
    (
        StatusCode::NO_CONTENT,
        [
            (header::SET_COOKIE, cookies.clear_session()),
            (clear_site, HeaderValue::from_static("\"cookies\"")),
        ],
    )
        .into_response()
}

async fn data(
    State(state): State<AppState>,
    auth: SessionAuth,
) -> Result<Json<SessionData>, ApiError> {
    Ok(Json(state.tessera.session_data(&auth.session).await?))
}

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
