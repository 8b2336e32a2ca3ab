//! Hybrid mode: access and refresh tokens in `HttpOnly` cookies, with a CSRF
//! token page scripts can read.
//!
//! The CSRF token is a signed double submit: `HMAC(k, sid)`, where `sid` is
//! the login (refresh family) every access token of the family carries and
//! `k` is derived from the master key. It is checked without server state,
//! differs for every login (a token from another login fails), and can be
//! checked at refresh from the refresh cookie's family even after the
//! access-token cookie has expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::csrf::CsrfVerified;
use crate::error::{Error, Result};
use crate::refresh::{FamilyId, RefreshFamily};
use crate::service::Tessera;

impl Tessera {
    /// The CSRF token bound to the login `sid`.
    pub fn hybrid_csrf_token(&self, sid: &FamilyId) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.hybrid_csrf_key);
        URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, sid.to_string().as_bytes()))
    }

    /// Checks a presented CSRF token against the login `sid`, in constant time.
    pub fn verify_hybrid_csrf(
        &self,
        sid: &FamilyId,
        presented: Option<&str>,
    ) -> Result<CsrfVerified> {
        let Some(presented) = presented.filter(|p| !p.is_empty()) else {
            return Err(Error::CsrfFailed("token missing"));
        };
        let expected = self.hybrid_csrf_token(sid);
        if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(crate::csrf::verified())
        } else {
            Err(Error::CsrfFailed("token mismatch"))
        }
    }

    /// The live family a refresh cookie belongs to, without consuming it
    /// (for the CSRF check before a rotation or a logout).
    pub async fn family_of_refresh_token(&self, presented: &str) -> Result<RefreshFamily> {
        let family = self.resolve_refresh(presented).await?.map(|(_, f)| f);
        family
            .filter(|f| f.is_live_at(self.clock.now()))
            .ok_or(Error::InvalidGrant("unknown, revoked or expired refresh token"))
    }
}
