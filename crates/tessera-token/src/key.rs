//! Signing keys (private material) and verifying keys (their public half, or
//! the shared secret for HS256), all backed by aws-lc-rs.
//!
//! RSA is signed with aws-lc-rs, never the `rsa` crate (RUSTSEC-2023-0071,
//! the Marvin timing attack). Every way into a [`VerifyingKey`] goes through
//! the same strict constructors, so a key read from a JWKS meets the same rules
//! as one Tessera generated: right curve, right sizes, RSA modulus of at least
//! 2048 bits, HMAC secrets of at least 256 bits.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use aws_lc_rs::{hmac, rsa};

use crate::algorithm::Algorithm;
use crate::base64url;
use crate::jwk::{Jwk, SymmetricJwk};

/// Smallest HMAC secret accepted: 256 bits (RFC 7518 §3.2 requires a key at
/// least as long as the hash output).
pub const MIN_HMAC_SECRET_LEN: usize = 32;
/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3; NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (bounds verification cost).
pub const MAX_RSA_BITS: usize = 8192;
/// Longest key id accepted, in bytes.
pub const MAX_KID_LEN: usize = 255;

/// Why key material was refused, or the crypto library failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key material or its description breaks a rule; the text says which.
    #[error("invalid key: {0}")]
    Invalid(&'static str),
    /// The crypto library failed to generate or use a key.
    #[error("crypto library failure: {0}")]
    Crypto(&'static str),
}

/// A signature that does not verify. Deliberately carries no detail: the
/// reason a forgery failed is of no use to anyone but the forger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature verification failed")]
pub struct SignatureError;

/// Checks a key id: non-empty, bounded, printable ASCII (it lands in headers,
/// logs and URLs).
fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(KeyError::Invalid("kid must be 1 to 255 bytes"));
    }
    if !kid.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(KeyError::Invalid("kid must be printable ASCII"));
    }
    Ok(())
}

/// Private key material with its key id. `Debug` is redacted.
pub struct SigningKey {
    kid: String,
    inner: SigningInner,
    verifying: VerifyingKey,
}

enum SigningInner {
    EdDSA(Ed25519KeyPair),
    ES256(EcdsaKeyPair),
    RS256(RsaKeyPair),
    // Boxed: an HMAC context is several times larger than the other variants.
    HS256 { key: Box<hmac::Key>, secret: Vec<u8> },
}

impl SigningKey {
    /// A fresh key (RSA: 2048 bits). HS256 secrets are drawn from `rng`;
    /// aws-lc-rs generates EdDSA, ES256 and RS256 keys from its own DRBG and
    /// ignores the `rng` it is handed, so tests cannot make those deterministic.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for a bad `kid`, [`KeyError::Crypto`] if generation fails.
    pub fn generate(alg: Algorithm, kid: &str, rng: &dyn SecureRandom) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let gen_failed = KeyError::Crypto("key generation failed");
        match alg {
            Algorithm::EdDSA => {
                let doc = Ed25519KeyPair::generate_pkcs8(rng).map_err(|_| gen_failed)?;
                Self::from_pkcs8(alg, kid, doc.as_ref())
            }
            Algorithm::ES256 => {
                let doc =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, rng)
                        .map_err(|_| gen_failed)?;
                Self::from_pkcs8(alg, kid, doc.as_ref())
            }
            Algorithm::RS256 => {
                let kp = RsaKeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| gen_failed)?;
                Self::from_inner(kid, SigningInner::RS256(kp))
            }
            Algorithm::HS256 => {
                let mut secret = vec![0u8; MIN_HMAC_SECRET_LEN];
                rng.fill(&mut secret).map_err(|_| gen_failed)?;
                Self::from_pkcs8(alg, kid, &secret)
            }
        }
    }

    /// Loads a key from its stored form: PKCS#8 DER for EdDSA, ES256 and RS256;
    /// for HS256 the raw secret, at least [`MIN_HMAC_SECRET_LEN`] bytes.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] when the bytes are not a key of `alg`, an RSA
    /// modulus is under [`MIN_RSA_BITS`], or an HMAC secret is too short.
    pub fn from_pkcs8(alg: Algorithm, kid: &str, der: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let rejected = |_| KeyError::Invalid("not a PKCS#8 key of the expected algorithm");
        let inner = match alg {
            Algorithm::EdDSA => {
                SigningInner::EdDSA(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?)
            }
            Algorithm::ES256 => SigningInner::ES256(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            Algorithm::RS256 => SigningInner::RS256(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            Algorithm::HS256 => {
                check_hmac_secret(der)?;
                SigningInner::HS256 {
                    key: Box::new(hmac::Key::new(hmac::HMAC_SHA256, der)),
                    secret: der.to_vec(),
                }
            }
        };
        Self::from_inner(kid, inner)
    }

    fn from_inner(kid: &str, inner: SigningInner) -> Result<Self, KeyError> {
        let verifying = match &inner {
            SigningInner::EdDSA(kp) => VerifyingKey::ed25519(kid, kp.public_key().as_ref())?,
            SigningInner::ES256(kp) => {
                VerifyingKey::p256_uncompressed(kid, kp.public_key().as_ref())?
            }
            SigningInner::RS256(kp) => {
                let pk = kp.public_key();
                VerifyingKey::rsa(
                    kid,
                    pk.modulus().big_endian_without_leading_zero(),
                    pk.exponent().big_endian_without_leading_zero(),
                )?
            }
            SigningInner::HS256 { secret, .. } => VerifyingKey::from_hmac_secret(kid, secret)?,
        };
        Ok(Self { kid: kid.to_owned(), inner, verifying })
    }

    /// The stored form (see [`SigningKey::from_pkcs8`]). This is secret
    /// material: encrypt it before it leaves memory.
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the crypto library cannot serialise the key.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Crypto("key serialisation failed");
        Ok(match &self.inner {
            SigningInner::EdDSA(kp) => kp.to_pkcs8().map_err(failed)?.as_ref().to_vec(),
            SigningInner::ES256(kp) => kp.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            SigningInner::RS256(kp) => {
                AsDer::<Pkcs8V1Der<'static>>::as_der(kp).map_err(failed)?.as_ref().to_vec()
            }
            SigningInner::HS256 { secret, .. } => secret.clone(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.alg
    }

    /// The key that checks this key's signatures.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The public JWK; `None` for HS256 (an HMAC secret is never published).
    pub fn public_jwk(&self) -> Option<Jwk> {
        self.verifying.public_jwk()
    }

    /// Signs `msg` as JWS requires for this algorithm (ES256: fixed 64-byte
    /// `r || s`, RFC 7518 §3.4, not DER).
    ///
    /// # Errors
    /// [`KeyError::Crypto`] if the crypto library fails.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Crypto("signing failed");
        match &self.inner {
            SigningInner::EdDSA(kp) => Ok(kp.sign(msg).as_ref().to_vec()),
            SigningInner::ES256(kp) => {
                Ok(kp.sign(&SystemRandom::new(), msg).map_err(failed)?.as_ref().to_vec())
            }
            SigningInner::RS256(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
            SigningInner::HS256 { key, .. } => Ok(hmac::sign(key, msg).as_ref().to_vec()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .field("private", &"<redacted>")
            .finish()
    }
}

fn check_hmac_secret(secret: &[u8]) -> Result<(), KeyError> {
    if secret.len() < MIN_HMAC_SECRET_LEN {
        return Err(KeyError::Invalid("HMAC secret shorter than 256 bits"));
    }
    Ok(())
}

/// A key that checks signatures: a public key, or the shared secret for HS256
/// (then `Debug` is redacted and [`VerifyingKey::public_jwk`] is `None`).
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    inner: VerifyInner,
}

#[derive(Clone)]
enum VerifyInner {
    Public { parsed: ParsedPublicKey, material: PublicMaterial },
    // Boxed: an HMAC context is several times larger than a parsed public key.
    Hmac(Box<hmac::Key>),
}

#[derive(Clone)]
enum PublicMaterial {
    Okp { x: Vec<u8> },
    Ec { x: Vec<u8>, y: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl VerifyingKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies. A token naming this key must carry
    /// exactly this `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Checks `sig` over `msg` with this key's algorithm. HMAC tags are compared
    /// in constant time (timing: an early exit would leak the tag byte by byte).
    ///
    /// # Errors
    /// [`SignatureError`] when the signature does not verify.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        match &self.inner {
            VerifyInner::Public { parsed, .. } => parsed.verify_sig(msg, sig),
            VerifyInner::Hmac(key) => hmac::verify(key, msg, sig),
        }
        .map_err(|_| SignatureError)
    }

    /// The public JWK (RFC 7517/7518/8037) with `kid`, `alg` and `use: "sig"`;
    /// `None` for HS256.
    pub fn public_jwk(&self) -> Option<Jwk> {
        let VerifyInner::Public { material, .. } = &self.inner else {
            return None;
        };
        let mut jwk = Jwk {
            kty: String::new(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            kid: Some(self.kid.clone()),
            alg: Some(self.alg.jose_name().to_owned()),
            use_: Some("sig".to_owned()),
            key_ops: None,
        };
        match material {
            PublicMaterial::Okp { x } => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(base64url::encode(x));
            }
            PublicMaterial::Ec { x, y } => {
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(base64url::encode(x));
                jwk.y = Some(base64url::encode(y));
            }
            PublicMaterial::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(base64url::encode(n));
                jwk.e = Some(base64url::encode(e));
            }
        }
        Some(jwk)
    }

    /// A verifying key from a public JWK, strictly: `kid` and `alg` required,
    /// `alg` one of EdDSA/ES256/RS256 with the matching `kty` (and `crv`), no
    /// members of another key type, `use` (if present) `sig`, `key_ops` (if
    /// present) including `verify`, exact coordinate sizes, points on the
    /// curve, RSA modulus of [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`] bits. A
    /// symmetric (`oct`) key is refused: it has no business in a published set.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] naming the broken rule.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let kid = jwk.kid.as_deref().ok_or(KeyError::Invalid("JWK without kid"))?;
        let alg: Algorithm = jwk
            .alg
            .as_deref()
            .ok_or(KeyError::Invalid("JWK without alg"))?
            .parse()
            .map_err(|_| KeyError::Invalid("JWK alg not supported"))?;
        check_use(jwk.use_.as_deref(), jwk.key_ops.as_deref())?;
        let field = |v: &Option<String>, what: &'static str| -> Result<Vec<u8>, KeyError> {
            v.as_deref().and_then(base64url::decode).ok_or(KeyError::Invalid(what))
        };
        let absent = |ok: bool| {
            if ok { Ok(()) } else { Err(KeyError::Invalid("JWK has members of another key type")) }
        };
        match (alg, jwk.kty.as_str()) {
            (Algorithm::EdDSA, "OKP") => {
                crv_is(jwk, "Ed25519")?;
                absent(jwk.y.is_none() && jwk.n.is_none() && jwk.e.is_none())?;
                Self::ed25519(kid, &field(&jwk.x, "OKP JWK x missing or not base64url")?)
            }
            (Algorithm::ES256, "EC") => {
                crv_is(jwk, "P-256")?;
                absent(jwk.n.is_none() && jwk.e.is_none())?;
                let x = field(&jwk.x, "EC JWK x missing or not base64url")?;
                let y = field(&jwk.y, "EC JWK y missing or not base64url")?;
                Self::p256(kid, &x, &y)
            }
            (Algorithm::RS256, "RSA") => {
                absent(jwk.crv.is_none() && jwk.x.is_none() && jwk.y.is_none())?;
                let n = field(&jwk.n, "RSA JWK n missing or not base64url")?;
                let e = field(&jwk.e, "RSA JWK e missing or not base64url")?;
                Self::rsa(kid, &n, &e)
            }
            (Algorithm::HS256, _) | (_, "oct") => {
                Err(KeyError::Invalid("symmetric keys are never published"))
            }
            _ => Err(KeyError::Invalid("JWK kty does not match its alg")),
        }
    }

    /// An HS256 key from a symmetric JWK handed over out of band: `kty` `oct`,
    /// `alg` `HS256`, `kid` present, `use`/`key_ops` as in [`VerifyingKey::from_jwk`].
    ///
    /// # Errors
    /// [`KeyError::Invalid`] naming the broken rule.
    pub fn from_symmetric_jwk(jwk: &SymmetricJwk) -> Result<Self, KeyError> {
        if jwk.kty != "oct" {
            return Err(KeyError::Invalid("symmetric JWK must have kty oct"));
        }
        if jwk.alg.as_deref() != Some(Algorithm::HS256.jose_name()) {
            return Err(KeyError::Invalid("symmetric JWK alg must be HS256"));
        }
        check_use(jwk.use_.as_deref(), jwk.key_ops.as_deref())?;
        let kid = jwk.kid.as_deref().ok_or(KeyError::Invalid("JWK without kid"))?;
        let secret = base64url::decode(&jwk.k).ok_or(KeyError::Invalid("JWK k not base64url"))?;
        Self::from_hmac_secret(kid, &secret)
    }

    /// An HS256 key from the raw secret (at least [`MIN_HMAC_SECRET_LEN`] bytes).
    ///
    /// # Errors
    /// [`KeyError::Invalid`] for a bad `kid` or a short secret.
    pub fn from_hmac_secret(kid: &str, secret: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        check_hmac_secret(secret)?;
        Ok(Self {
            kid: kid.to_owned(),
            alg: Algorithm::HS256,
            inner: VerifyInner::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        })
    }

    fn ed25519(kid: &str, x: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        if x.len() != 32 {
            return Err(KeyError::Invalid("Ed25519 public key must be 32 bytes"));
        }
        let parsed = ParsedPublicKey::new(&signature::ED25519, x)
            .map_err(|_| KeyError::Invalid("not an Ed25519 public key"))?;
        Ok(Self::public(kid, Algorithm::EdDSA, parsed, PublicMaterial::Okp { x: x.to_vec() }))
    }

    fn p256_uncompressed(kid: &str, point: &[u8]) -> Result<Self, KeyError> {
        match point {
            [0x04, xy @ ..] if xy.len() == 64 => Self::p256(kid, &xy[..32], &xy[32..]),
            _ => Err(KeyError::Invalid("P-256 public key must be an uncompressed point")),
        }
    }

    fn p256(kid: &str, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        // RFC 7518 §6.2.1.2: each coordinate is exactly the field size, zero-padded.
        if x.len() != 32 || y.len() != 32 {
            return Err(KeyError::Invalid("P-256 coordinates must be 32 bytes each"));
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        // Parsing checks the point is on the curve (invalid-curve attacks).
        let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
            .map_err(|_| KeyError::Invalid("not a point on P-256"))?;
        let material = PublicMaterial::Ec { x: x.to_vec(), y: y.to_vec() };
        Ok(Self::public(kid, Algorithm::ES256, parsed, material))
    }

    fn rsa(kid: &str, n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        check_rsa_modulus(n)?;
        check_rsa_exponent(e)?;
        let parsed = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| KeyError::Invalid("not an RSA public key"))?;
        let material = PublicMaterial::Rsa { n: n.to_vec(), e: e.to_vec() };
        Ok(Self::public(kid, Algorithm::RS256, parsed, material))
    }

    fn public(
        kid: &str,
        alg: Algorithm,
        parsed: ParsedPublicKey,
        material: PublicMaterial,
    ) -> Self {
        Self { kid: kid.to_owned(), alg, inner: VerifyInner::Public { parsed, material } }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("VerifyingKey");
        d.field("kid", &self.kid).field("alg", &self.alg);
        if let VerifyInner::Hmac(_) = self.inner {
            d.field("secret", &"<redacted>");
        }
        d.finish()
    }
}

fn crv_is(jwk: &Jwk, crv: &str) -> Result<(), KeyError> {
    if jwk.crv.as_deref() == Some(crv) {
        Ok(())
    } else {
        Err(KeyError::Invalid("JWK crv does not match its alg"))
    }
}

/// RFC 7517 §4.2–4.3: a key published for encryption must not verify signatures.
fn check_use(use_: Option<&str>, key_ops: Option<&[String]>) -> Result<(), KeyError> {
    if use_.is_some_and(|u| u != "sig") {
        return Err(KeyError::Invalid("JWK use is not sig"));
    }
    if key_ops.is_some_and(|ops| !ops.iter().any(|o| o == "verify")) {
        return Err(KeyError::Invalid("JWK key_ops lacks verify"));
    }
    Ok(())
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&b) => (be.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn check_rsa_modulus(n: &[u8]) -> Result<(), KeyError> {
    // RFC 7518 §6.3.1.1: the minimum number of octets, so no leading zero.
    if n.first().is_none_or(|&b| b == 0) {
        return Err(KeyError::Invalid("RSA modulus has a leading zero"));
    }
    let bits = bit_len(n);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(KeyError::Invalid("RSA modulus must be 2048 to 8192 bits"));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::Invalid("RSA modulus is even"));
    }
    if has_roca_fingerprint(n) {
        // CVE-2017-15361: such moduli are factorable; the key is compromised.
        return Err(KeyError::Invalid("RSA modulus has the ROCA fingerprint"));
    }
    Ok(())
}

fn check_rsa_exponent(e: &[u8]) -> Result<(), KeyError> {
    // e = 1 makes every "signature" its own message; even e is not RSA; bounded
    // to 32 bits as common implementations are.
    if e.first().is_none_or(|&b| b == 0) || e.len() > 4 {
        return Err(KeyError::Invalid("RSA exponent malformed or over 32 bits"));
    }
    let value = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if value < 3 || value % 2 == 0 {
        return Err(KeyError::Invalid("RSA exponent must be odd and at least 3"));
    }
    Ok(())
}

/// The ROCA test (Nemec et al., CCS 2017): moduli from the vulnerable
/// Infineon library are, modulo each small prime below, in the subgroup
/// generated by 65537. A random modulus passes all 38 with negligible
/// probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u64; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n.iter().fold(0u64, |acc, &b| (acc * 256 + u64::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1u64;
        // Walk the cyclic subgroup <g> mod p (order divides p - 1).
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                break;
            }
        }
        false
    })
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
