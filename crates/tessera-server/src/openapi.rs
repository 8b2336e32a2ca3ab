//! The OpenAPI 3.1 document served at `GET /openapi.json`, generated from the
//! handlers' `#[utoipa::path]` annotations.
//!
//! Request and response types that exist in the route modules derive
//! `ToSchema` there; the bodies that handlers build with `json!` are described
//! by the documentation-only types below, as are the shared error responses.
//! `tests/openapi.golden.json` pins the output, and schemathesis checks in CI
//! that the server keeps to it (`crates/tessera/tests/schemathesis.rs`).

// The types below describe bodies and are never built: the handlers that
// send these shapes build them with `json!`.
#![allow(dead_code, reason = "documentation-only types: described, never constructed")]

use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToResponse, ToSchema};

use crate::routes;

/// The document, built once.
pub static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

const DESCRIPTION: &str = "Tessera: sessions and tokens for browsers, SPAs, mobile apps, \
gateways and services.\n\n\
Bodies are JSON (`application/json`); the login endpoints and `/oauth/*` also take \
`application/x-www-form-urlencoded`. Every error body has one shape, \
`{\"error\": \"<code>\", \"error_description\": \"<text>\"}` (RFC 6749 §5.2). Times in bodies \
are RFC 3339 UTC strings; `expires_in` is seconds. Responses that carry a secret have \
`Cache-Control: no-store`.\n\n\
Credentials: a bearer access token (`Authorization: Bearer`, an RFC 9068 JWT), the session \
cookie (session mode), the access-token cookie (hybrid mode), or HTTP Basic for OAuth \
clients. Every state-changing request authenticated by a cookie must carry the CSRF token \
in `X-CSRF-Token`, and an unsafe request whose `Origin` (or `Sec-Fetch-Site: cross-site`) \
names a site outside the allowed origins is refused with 403 `csrf_failed`. Cookie names \
are given for the default secure mode; with secure cookies turned off for plain-HTTP \
development they lose their `__Host-`/`__Secure-` prefix.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera", version = env!("CARGO_PKG_VERSION"), description = DESCRIPTION),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::metrics::render,
        routes::openapi::document,
        routes::discovery::jwks,
        routes::discovery::metadata,
        routes::users::register,
        routes::password::change,
        routes::session::login,
        routes::session::current,
        routes::session::logout,
        routes::session::data,
        routes::session::replace_data,
        routes::token::login,
        routes::hybrid::login,
        routes::hybrid::refresh,
        routes::hybrid::logout,
        routes::oauth::token,
        routes::oauth::revoke,
        routes::oauth::introspect,
        routes::verify::verify,
        routes::devices::list,
        routes::devices::end,
        routes::devices::logout_all,
        routes::admin::list_keys,
        routes::admin::rotate_keys,
        routes::admin::logout_all,
        routes::admin::disable,
    ),
    components(
        schemas(ErrorBody, ErrorCode, LogoutForm),
        responses(
            InvalidRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            RateLimited,
            Unavailable
        )
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness, readiness and this document"),
        (name = "discovery", description = "Key set (RFC 7517) and server metadata (RFC 8414)"),
        (name = "accounts", description = "Registration and password change"),
        (name = "session", description = "Session mode: state on the server, an opaque cookie"),
        (name = "token", description = "Token mode: JWT access tokens and rotating refresh tokens"),
        (name = "hybrid", description = "Hybrid mode: the access token in an HttpOnly cookie"),
        (name = "oauth", description = "OAuth 2.0 token, revocation (RFC 7009) and introspection (RFC 7662)"),
        (name = "verify", description = "Forward authentication for gateways"),
        (name = "devices", description = "The caller's sessions and token families"),
        (name = "admin", description = "Administration: a bearer token with the `admin` scope"),
    )
)]
struct ApiDoc;

/// Names of the security schemes, as the operations refer to them.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An RFC 9068 access token (`typ: at+jwt`) in `Authorization: Bearer`; never \
                 accepted from a query string. A failed token gets 401 with \
                 `WWW-Authenticate: Bearer realm=\"tessera\", error=\"invalid_token\"`.",
            ))
            .build();
        let basic = HttpBuilder::new()
            .scheme(HttpAuthScheme::Basic)
            .description(Some(
                "Confidential OAuth client authentication (RFC 6749 §2.3.1): `client_id` and \
                 `client_secret`, form-urlencoded, then base64. The same credentials are also \
                 accepted as `client_id` and `client_secret` body fields.",
            ))
            .build();
        let cookie = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                name.to_owned(),
                description.to_owned(),
            )))
        };
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session_cookie",
            cookie(
                "__Host-tessera_session",
                "Session mode: the opaque session secret (HttpOnly). Unsafe requests also need \
                 `X-CSRF-Token`.",
            ),
        );
        components.add_security_scheme(
            "hybrid_cookie",
            cookie(
                "__Host-tessera_at",
                "Hybrid mode: the access-token JWT (HttpOnly). Unsafe requests also need \
                 `X-CSRF-Token` (the value of the `__Host-tessera_csrf` cookie).",
            ),
        );
        components.add_security_scheme(
            "hybrid_refresh_cookie",
            cookie(
                "__Secure-tessera_rt",
                "Hybrid mode: the refresh token (HttpOnly, `Path=/v1/hybrid`, \
                 `SameSite=Strict`).",
            ),
        );
        components.add_security_scheme("client_basic", SecurityScheme::Http(basic));
    }
}

/// Every error: `{"error": code, "error_description": text}` (RFC 6749 §5.2).
#[derive(ToSchema)]
pub struct ErrorBody {
    /// A machine-readable code.
    pub error: ErrorCode,
    /// Printable ASCII for humans; never a stack trace, SQL, path or key material.
    #[schema(examples("invalid username or password"))]
    pub error_description: String,
}

/// The error codes, each with its one status.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400
    InvalidRequest,
    /// 400
    InvalidGrant,
    /// 400
    InvalidScope,
    /// 400
    UnsupportedGrantType,
    /// 401
    InvalidCredentials,
    /// 401
    Unauthorized,
    /// 401
    InvalidToken,
    /// 401
    InvalidClient,
    /// 403
    CsrfFailed,
    /// 403
    InsufficientScope,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 409
    Conflict,
    /// 413
    PayloadTooLarge,
    /// 415
    UnsupportedMediaType,
    /// 429
    RateLimited,
    /// 500
    ServerError,
    /// 503
    Unavailable,
}

/// `invalid_request` (malformed or missing fields, a body that is not a JSON
/// object), or on the OAuth endpoints also `invalid_grant`, `invalid_scope`
/// or `unsupported_grant_type`.
#[derive(ToResponse)]
pub struct InvalidRequest(ErrorBody);

/// No credential (`unauthorized`), a bad one (`invalid_token`,
/// `invalid_credentials`), or failed client authentication (`invalid_client`).
#[derive(ToResponse)]
#[response(headers((
    "WWW-Authenticate" = String,
    description = "`Bearer realm=\"tessera\"` (with `error=\"invalid_token\"` when a token \
                   failed), or `Basic realm=\"tessera\"` for client authentication"
)))]
pub struct Unauthorized(ErrorBody);

/// `csrf_failed` (missing or wrong CSRF token, or a cross-site `Origin`),
/// `insufficient_scope`, or `forbidden`.
#[derive(ToResponse)]
pub struct Forbidden(ErrorBody);

/// `not_found`.
#[derive(ToResponse)]
pub struct NotFound(ErrorBody);

/// `payload_too_large`: the body is over the configured limit (default 64 KiB).
#[derive(ToResponse)]
pub struct PayloadTooLarge(ErrorBody);

/// `unsupported_media_type`: the `Content-Type` is not one this operation takes.
#[derive(ToResponse)]
pub struct UnsupportedMediaType(ErrorBody);

/// `rate_limited`: too many failed logins for this account or client
/// address; the correct password is refused too until `Retry-After`.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait")))]
pub struct RateLimited(ErrorBody);

/// `unavailable`: a backing store did not answer, so the server fails closed.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait")))]
pub struct Unavailable(ErrorBody);

/// `{"status": "ok"}`.
#[derive(ToSchema)]
pub struct Status {
    /// Always `ok`.
    #[schema(examples("ok"))]
    pub status: String,
}

/// The user a login belongs to.
#[derive(ToSchema)]
pub struct LoginUser {
    /// The user's id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The username as registered.
    pub username: String,
}

/// `POST /v1/hybrid/login`: the tokens are in the cookies, not here.
#[derive(ToSchema)]
pub struct HybridLogin {
    /// Who logged in.
    pub user: LoginUser,
    /// Echo in `X-CSRF-Token` on unsafe requests (also in the `__Host-tessera_csrf` cookie).
    pub csrf_token: String,
    /// Seconds until the access-token cookie expires.
    pub expires_in: i64,
}

/// `POST /v1/hybrid/refresh`: the rotated tokens are in the cookies.
#[derive(ToSchema)]
pub struct HybridRefresh {
    /// The new CSRF token (also in the `__Host-tessera_csrf` cookie).
    pub csrf_token: String,
    /// Seconds until the new access-token cookie expires.
    pub expires_in: i64,
}

/// An RFC 7662 introspection response: `{"active": false}` for an unknown,
/// expired or revoked token, else the token's claims.
#[derive(ToSchema)]
pub struct Introspection {
    /// Whether the token is live.
    pub active: bool,
    /// The subject: a user id, or a client id for client credentials.
    #[schema(required = false)]
    pub sub: String,
    /// Space-separated scopes.
    #[schema(required = false)]
    pub scope: String,
    /// Expiry (Unix seconds).
    #[schema(required = false)]
    pub exp: i64,
    /// Issue time (Unix seconds).
    #[schema(required = false)]
    pub iat: i64,
    /// The token id.
    #[schema(required = false)]
    pub jti: String,
    /// The client the token was issued to.
    #[schema(required = false)]
    pub client_id: String,
    /// Always `Bearer`.
    #[schema(required = false)]
    pub token_type: String,
    /// The user's name; null when the subject is a client.
    pub username: Option<String>,
    /// The issuer.
    #[schema(required = false)]
    pub iss: String,
    /// The audience: one string or several.
    #[schema(required = false)]
    pub aud: Audience,
    /// The login the token descends from; null for client credentials.
    pub sid: Option<String>,
}

/// An `aud` claim: one audience or several.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

/// An RFC 7517 key set: the public parts of the next, current and still-valid retired keys.
#[derive(ToSchema)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A public JSON Web Key (RFC 7517). Which members appear depends on `kty`.
#[derive(ToSchema)]
pub struct Jwk {
    /// `OKP`, `EC` or `RSA`.
    pub kty: String,
    /// The key id (`kid` in token headers).
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[schema(rename = "use")]
    pub use_: String,
    /// Curve (`OKP`, `EC`).
    #[schema(required = false)]
    pub crv: String,
    /// Public x coordinate, base64url (`OKP`, `EC`).
    #[schema(required = false)]
    pub x: String,
    /// Public y coordinate, base64url (`EC`).
    #[schema(required = false)]
    pub y: String,
    /// Modulus, base64url (`RSA`).
    #[schema(required = false)]
    pub n: String,
    /// Exponent, base64url (`RSA`).
    #[schema(required = false)]
    pub e: String,
    /// Permitted operations.
    #[schema(required = false)]
    pub key_ops: Vec<String>,
}

/// RFC 8414 authorization server metadata.
#[derive(ToSchema)]
pub struct ServerMetadata {
    /// The issuer (`iss` of tokens).
    pub issuer: String,
    /// `POST` endpoint for refresh and client-credentials grants.
    pub token_endpoint: String,
    /// The key set.
    pub jwks_uri: String,
    /// RFC 7009 revocation.
    pub revocation_endpoint: String,
    /// RFC 7662 introspection.
    pub introspection_endpoint: String,
    /// `refresh_token`, `client_credentials`.
    pub grant_types_supported: Vec<String>,
    /// Empty: no authorization endpoint.
    pub response_types_supported: Vec<String>,
    /// Client authentication at the token endpoint.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication at the revocation endpoint.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication at the introspection endpoint.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
}

/// The sessions and token families of the caller.
#[derive(ToSchema)]
pub struct DeviceList {
    /// Oldest first.
    pub sessions: Vec<Device>,
}

/// What kind of login a device entry is.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A server-side session (session mode).
    Session,
    /// A refresh-token family (token mode).
    Token,
    /// A refresh-token family held in cookies (hybrid mode).
    Hybrid,
}

/// One live browser session or refresh-token family.
#[derive(ToSchema)]
pub struct Device {
    /// The session id or family id (`sid`): a public handle, never a secret.
    pub id: String,
    /// Its kind.
    pub kind: DeviceKind,
    /// Login time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Last use recorded.
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// End of its absolute lifetime.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The `User-Agent` of the login.
    pub user_agent: Option<String>,
    /// The client address of the login.
    pub ip: Option<String>,
    /// Whether it is the caller's own.
    pub current: bool,
}

/// The signing keys.
#[derive(ToSchema)]
pub struct KeyList {
    /// Next, current and retired keys.
    pub keys: Vec<KeyInfo>,
}

/// A signing key's state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing.
    Current,
    /// Published until the tokens it signed expire.
    Retired,
}

/// One signing key (public facts only).
#[derive(ToSchema)]
pub struct KeyInfo {
    /// The key id.
    pub kid: String,
    /// JOSE algorithm name.
    pub alg: String,
    /// Its state.
    pub state: KeyState,
    /// Creation time.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it became current; null while next.
    #[schema(format = DateTime)]
    pub activated_at: Option<String>,
    /// When it was retired; null unless retired.
    #[schema(format = DateTime)]
    pub retired_at: Option<String>,
}

/// The new current key.
#[derive(ToSchema)]
pub struct RotatedKey {
    /// Its key id.
    pub kid: String,
}

/// The CSRF token, for state-changing requests authenticated by a cookie.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct CsrfHeader {
    /// The `csrf_token` of the session or hybrid login. Required when a cookie carries
    /// the credential; ignored with a bearer token.
    #[param(rename = "X-CSRF-Token", value_type = String, required = false)]
    pub x_csrf_token: Option<String>,
}

/// The query of `/v1/verify`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// Space-separated scopes the credential must all have (else 403
    /// `insufficient_scope`); may also be repeated.
    #[param(example = "read write", value_type = String, required = false)]
    pub scope: Option<String>,
}

/// The forwarded request, as `/v1/verify` reads it from the gateway's headers.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct VerifyHeaders {
    /// The original request's method (nginx). Any unsafe method named here or in
    /// `X-Forwarded-Method` makes a cookie credential need the CSRF token; with neither
    /// header the request's own method counts.
    #[param(rename = "X-Original-Method", value_type = String, required = false)]
    pub x_original_method: Option<String>,
    /// The original request's method (Traefik, Caddy).
    #[param(rename = "X-Forwarded-Method", value_type = String, required = false)]
    pub x_forwarded_method: Option<String>,
    /// The original request's URI (nginx).
    #[param(rename = "X-Original-URI", value_type = String, required = false)]
    pub x_original_uri: Option<String>,
    /// The original request's URI (Traefik, Caddy).
    #[param(rename = "X-Forwarded-Uri", value_type = String, required = false)]
    pub x_forwarded_uri: Option<String>,
    /// The CSRF token, needed for a cookie credential when the original method is unsafe.
    #[param(rename = "X-CSRF-Token", value_type = String, required = false)]
    pub x_csrf_token: Option<String>,
}

/// An HTML form logout: the CSRF token as a form field instead of the header.
#[derive(ToSchema)]
pub struct LogoutForm {
    /// The session's CSRF token.
    #[schema(required = false)]
    pub csrf_token: String,
}

/// The OAuth grant types the token endpoint supports.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantType {
    /// Rotate a refresh token.
    RefreshToken,
    /// A confidential client's own access token.
    ClientCredentials,
}

/// How a request was authenticated.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The session cookie.
    Session,
    /// `Authorization: Bearer`.
    Bearer,
    /// The hybrid access-token cookie.
    Hybrid,
    /// A DPoP-bound token.
    Dpop,
}
