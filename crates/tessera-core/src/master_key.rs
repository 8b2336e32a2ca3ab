//! The master key: seals signing keys before they reach a store.
//!
//! AES-256-GCM with a random 96-bit nonce per sealing and the key id as
//! associated data, so a sealed blob cannot be moved to another `kid`. The
//! sealed form is `nonce || ciphertext || tag`. A database without the master
//! key holds no usable signing key.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::entropy::{self, Entropy};
use crate::error::{Error, Result};

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// A 256-bit master key. `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A fresh random key.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        Self(entropy::bytes::<MASTER_KEY_LEN>(entropy))
    }

    /// Parses the text form: 32 bytes in base64url (no padding) or hex.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let bytes =
            if text.len() == 2 * MASTER_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                (0..MASTER_KEY_LEN)
                    .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                    .collect::<std::result::Result<Vec<u8>, _>>()
                    .map_err(|_| bad_master_key())?
            } else {
                URL_SAFE_NO_PAD.decode(text).map_err(|_| bad_master_key())?
            };
        Ok(Self(bytes.try_into().map_err(|_| bad_master_key())?))
    }

    /// The text form (base64url), for writing a key file.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// A 256-bit subkey for one purpose (HMAC-SHA-256 of `label` under the
    /// master key), so each use has its own key and none exposes the master.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, label.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn aead(&self) -> Result<LessSafeKey> {
        let key = UnboundKey::new(&AES_256_GCM, &self.0)
            .map_err(|_| Error::Internal("AES-256-GCM key setup failed".into()))?;
        Ok(LessSafeKey::new(key))
    }

    /// Encrypts `plaintext` bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8], entropy: &dyn Entropy) -> Result<Vec<u8>> {
        let nonce_bytes = entropy::bytes::<NONCE_LEN>(entropy);
        let mut buf = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`Self::seal`] produced for `kid`. Fails for another
    /// master key, another `kid` or any altered byte.
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let unsealable = || {
            Error::Internal(format!("signing key {kid} cannot be unsealed with this master key"))
        };
        if sealed.len() < NONCE_LEN {
            return Err(unsealable());
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unsealable())?;
        let mut buf = ct.to_vec();
        let plain = self
            .aead()?
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| unsealable())?;
        Ok(plain.to_vec())
    }
}

fn bad_master_key() -> Error {
    Error::InvalidRequest("the master key must be 32 bytes as base64url or hex".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn master_key_seal_open_roundtrip() {
        let k = MasterKey::generate(&OsEntropy);
        let sealed = k.seal("kid-1", b"private", &OsEntropy).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"), "plaintext not visible");
        assert_eq!(k.open("kid-1", &sealed).unwrap(), b"private");
    }

    #[test]
    fn master_key_wrong_key_kid_or_tamper_fails() {
        let k = MasterKey::generate(&OsEntropy);
        let sealed = k.seal("kid-1", b"private", &OsEntropy).unwrap();
        assert!(MasterKey::generate(&OsEntropy).open("kid-1", &sealed).is_err());
        assert!(k.open("kid-2", &sealed).is_err());
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(k.open("kid-1", &bad).is_err());
        assert!(k.open("kid-1", &sealed[..5]).is_err());
    }

    #[test]
    fn master_key_text_forms_parse() {
        let k = MasterKey::generate(&OsEntropy);
        assert_eq!(MasterKey::parse(&k.to_text()).unwrap().0, k.0);
        let hex: String = k.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(MasterKey::parse(&hex).unwrap().0, k.0);
        assert!(MasterKey::parse("short").is_err());
        assert!(format!("{k:?}").contains("redacted"));
    }

    #[test]
    fn master_key_derived_subkeys_differ_by_label_and_master() {
        let k = MasterKey::generate(&OsEntropy);
        assert_ne!(k.derive("a"), k.derive("b"));
        assert_eq!(k.derive("a"), k.derive("a"));
        assert_ne!(k.derive("a"), MasterKey::generate(&OsEntropy).derive("a"));
    }

    #[test]
    fn master_key_nonces_differ_per_seal() {
        let k = MasterKey::generate(&OsEntropy);
        let a = k.seal("k", b"x", &OsEntropy).unwrap();
        let b = k.seal("k", b"x", &OsEntropy).unwrap();
        assert_ne!(a, b);
    }
}
