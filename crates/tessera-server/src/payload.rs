//! Request bodies: JSON (and, where the contract allows, HTML forms), bounded.
//!
//! A JSON endpoint refuses `text/plain` and every other type with 415: the
//! types a cross-site `<form>` can send without a CORS preflight never reach
//! a JSON handler. Bodies over the limit are 413; malformed ones are 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body (`application/json` or `application/*+json`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A JSON or `application/x-www-form-urlencoded` body.
#[derive(Debug)]
pub struct JsonOrForm<T>(pub T);

#[derive(PartialEq)]
enum Kind {
    Json,
    Form,
    Other,
}

fn kind(headers: &HeaderMap) -> Kind {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Kind::Other;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Kind::Json,
        "application/x-www-form-urlencoded" => Kind::Form,
        e if e.starts_with("application/") && e.ends_with("+json") => Kind::Json,
        _ => Kind::Other,
    }
}

async fn read(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.config.body_limit;
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::payload_too_large(format!("request body is over {limit} bytes")))
}

/// Parses a JSON body that must be an object (also used by `fuzz/`).
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body in the contract is an object; serde would otherwise also
    // read a struct from an array (`["alice","pw"]`).
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::invalid_request("the JSON body must be an object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's message names the field and position, never our internals.
        ApiError::invalid_request(format!("malformed JSON body: {e}"))
    })
}

/// Parses an `application/x-www-form-urlencoded` body (also used by `fuzz/`).
pub fn from_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::invalid_request(format!("malformed form body: {e}")))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if kind(req.headers()) != Kind::Json {
            return Err(ApiError::unsupported_media_type(
                "expected Content-Type: application/json",
            ));
        }
        from_json(&read(req, state).await?).map(Self)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let typed = req.headers().contains_key(header::CONTENT_TYPE);
        match kind(req.headers()) {
            Kind::Json => from_json(&read(req, state).await?).map(Self),
            Kind::Form => from_form(&read(req, state).await?).map(Self),
            // No body and no type: a request with every parameter missing,
            // so the handler's 400 `invalid_request` names the one it needs
            // (RFC 7009 §2.1, RFC 7662 §2.1, RFC 6749 §5.2), as for a form
            // without it. A body of no stated type is still 415.
            Kind::Other if !typed => match read(req, state).await? {
                body if body.is_empty() => from_form(&body).map(Self),
                _ => Err(ApiError::unsupported_media_type(
                    "expected application/json or application/x-www-form-urlencoded",
                )),
            },
            Kind::Other => Err(ApiError::unsupported_media_type(
                "expected application/json or application/x-www-form-urlencoded",
            )),
        }
    }
}

/// An optional form body carrying only `csrf_token` (HTML form logout).
pub async fn form_csrf_token(req: Request, state: &AppState) -> Result<Option<String>, ApiError> {
    #[derive(serde::Deserialize)]
    struct Form {
        csrf_token: Option<String>,
    }
    if kind(req.headers()) != Kind::Form {
        return Ok(None);
    }
    Ok(from_form::<Form>(&read(req, state).await?)?.csrf_token)
}
