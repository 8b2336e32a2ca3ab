//! HTTP-level settings: cookies, origins, body bounds.

use tessera_core::csrf::OriginPolicy;

/// Settings of the HTTP adapter (the core's policies live in `TesseraConfig`).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// `true` (the default) sets `Secure` and the `__Host-`/`__Secure-` name
    /// prefixes; `false` only for plain-HTTP development.
    pub secure_cookies: bool,
    /// Origins allowed to make credentialed, state-changing requests.
    pub origins: OriginPolicy,
    /// Largest request body, in bytes (default 64 KiB).
    pub body_limit: usize,
}

impl ServerConfig {
    /// Defaults with the given allowed origins.
    pub fn new(origins: OriginPolicy) -> Self {
        Self { secure_cookies: true, origins, body_limit: 64 * 1024 }
    }
}
