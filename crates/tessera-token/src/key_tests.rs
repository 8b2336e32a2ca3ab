//! Unit tests for `key.rs`.

use super::*;
use aws_lc_rs::rand::SystemRandom;

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg, &format!("k-{alg}"), &SystemRandom::new()).unwrap()
}

fn jwk_of(alg: Algorithm) -> Jwk {
    key(alg).public_jwk().unwrap()
}

#[test]
fn signing_key_each_algorithm_signs_and_verifies() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        assert_eq!(k.algorithm(), alg);
        assert_eq!(k.verifying_key().algorithm(), alg);
        let sig = k.sign(b"message").unwrap();
        assert_eq!(k.verifying_key().verify(b"message", &sig), Ok(()), "{alg}");
        assert_eq!(k.verifying_key().verify(b"messagf", &sig), Err(SignatureError), "{alg}");
    }
}

#[test]
fn signing_key_signature_sizes_match_jws() {
    assert_eq!(key(Algorithm::EdDSA).sign(b"m").unwrap().len(), 64);
    // ES256 in JWS is the fixed 64-byte r || s form, never DER.
    assert_eq!(key(Algorithm::ES256).sign(b"m").unwrap().len(), 64);
    assert_eq!(key(Algorithm::RS256).sign(b"m").unwrap().len(), 256);
    assert_eq!(key(Algorithm::HS256).sign(b"m").unwrap().len(), 32);
}

#[test]
fn signing_key_rsa_generated_modulus_is_2048_bits() {
    let jwk = jwk_of(Algorithm::RS256);
    let n = base64url::decode(jwk.n.as_deref().unwrap()).unwrap();
    assert_eq!(bit_len(&n), 2048);
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
}

#[test]
fn signing_key_pkcs8_round_trip_keeps_key() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let der = k.to_pkcs8_der().unwrap();
        let back = SigningKey::from_pkcs8(alg, k.kid(), &der).unwrap();
        assert_eq!(back.public_jwk(), k.public_jwk());
        let sig = back.sign(b"m").unwrap();
        assert_eq!(k.verifying_key().verify(b"m", &sig), Ok(()), "{alg}");
    }
}

#[test]
fn signing_key_pkcs8_of_other_algorithm_rejected() {
    let der = key(Algorithm::EdDSA).to_pkcs8_der().unwrap();
    assert!(SigningKey::from_pkcs8(Algorithm::ES256, "k", &der).is_err());
    assert!(SigningKey::from_pkcs8(Algorithm::RS256, "k", &der).is_err());
    assert!(SigningKey::from_pkcs8(Algorithm::EdDSA, "k", b"junk").is_err());
}

#[test]
fn signing_key_hmac_secret_under_256_bits_rejected() {
    assert!(SigningKey::from_pkcs8(Algorithm::HS256, "k", &[7u8; 31]).is_err());
    assert!(SigningKey::from_pkcs8(Algorithm::HS256, "k", &[]).is_err());
    assert!(SigningKey::from_pkcs8(Algorithm::HS256, "k", &[7u8; 32]).is_ok());
    assert!(VerifyingKey::from_hmac_secret("k", &[7u8; 31]).is_err());
}

#[test]
fn signing_key_bad_kid_rejected() {
    let rng = SystemRandom::new();
    assert!(SigningKey::generate(Algorithm::EdDSA, "", &rng).is_err());
    assert!(SigningKey::generate(Algorithm::EdDSA, "a\nb", &rng).is_err());
    assert!(SigningKey::generate(Algorithm::EdDSA, &"a".repeat(256), &rng).is_err());
}

#[test]
fn signing_key_debug_is_redacted() {
    let k = SigningKey::from_pkcs8(Algorithm::HS256, "k", &[0x41; 32]).unwrap();
    let shown = format!("{k:?} {:?}", k.verifying_key());
    assert!(!shown.contains("AAAA"), "{shown}");
    assert!(!shown.contains("65, 65"), "{shown}");
    assert!(shown.contains("redacted"));
}

#[test]
fn public_jwk_hs256_is_none() {
    assert_eq!(key(Algorithm::HS256).public_jwk(), None);
}

#[test]
fn public_jwk_shapes_follow_rfcs() {
    let okp = jwk_of(Algorithm::EdDSA);
    assert_eq!((okp.kty.as_str(), okp.crv.as_deref()), ("OKP", Some("Ed25519")));
    assert_eq!(base64url::decode(okp.x.as_deref().unwrap()).unwrap().len(), 32);
    let ec = jwk_of(Algorithm::ES256);
    assert_eq!((ec.kty.as_str(), ec.crv.as_deref()), ("EC", Some("P-256")));
    assert_eq!(base64url::decode(ec.y.as_deref().unwrap()).unwrap().len(), 32);
    for jwk in [okp, ec, jwk_of(Algorithm::RS256)] {
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert!(jwk.kid.is_some() && jwk.alg.is_some());
    }
}

#[test]
fn from_jwk_round_trip_verifies() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let k = key(alg);
        let vk = VerifyingKey::from_jwk(&k.public_jwk().unwrap()).unwrap();
        assert_eq!((vk.kid(), vk.algorithm()), (k.kid(), alg));
        assert_eq!(vk.verify(b"m", &k.sign(b"m").unwrap()), Ok(()));
    }
}

fn rejected(jwk: &Jwk) -> bool {
    VerifyingKey::from_jwk(jwk).is_err()
}

#[test]
fn from_jwk_missing_kid_or_alg_rejected() {
    let mut j = jwk_of(Algorithm::EdDSA);
    j.kid = None;
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::EdDSA);
    j.alg = None;
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::EdDSA);
    j.alg = Some("none".into());
    assert!(rejected(&j));
}

#[test]
fn from_jwk_alg_kty_crv_mismatch_rejected() {
    let mut j = jwk_of(Algorithm::ES256);
    j.alg = Some("EdDSA".into());
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::ES256);
    j.crv = Some("P-384".into());
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::EdDSA);
    j.crv = Some("X25519".into());
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::ES256);
    j.kty = "RSA".into();
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::EdDSA);
    j.alg = Some("HS256".into());
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::EdDSA);
    j.kty = "oct".into();
    assert!(rejected(&j));
}

#[test]
fn from_jwk_foreign_members_rejected() {
    let mut j = jwk_of(Algorithm::EdDSA);
    j.y = j.x.clone();
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::RS256);
    j.crv = Some("P-256".into());
    assert!(rejected(&j));
}

#[test]
fn from_jwk_wrong_use_or_key_ops_rejected() {
    let mut j = jwk_of(Algorithm::ES256);
    j.use_ = Some("enc".into());
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::ES256);
    j.key_ops = Some(vec!["encrypt".into()]);
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::ES256);
    j.use_ = None;
    j.key_ops = Some(vec!["verify".into()]);
    assert!(!rejected(&j));
}

#[test]
fn from_jwk_wrong_sizes_rejected() {
    let mut j = jwk_of(Algorithm::EdDSA);
    j.x = Some(base64url::encode(&[9u8; 31]));
    assert!(rejected(&j));
    let mut j = jwk_of(Algorithm::ES256);
    let x = base64url::decode(j.x.as_deref().unwrap()).unwrap();
    j.x = Some(base64url::encode(&x[1..]));
    assert!(rejected(&j));
}

#[test]
fn from_jwk_point_off_curve_rejected() {
    let mut j = jwk_of(Algorithm::ES256);
    let mut y = base64url::decode(j.y.as_deref().unwrap()).unwrap();
    y[31] ^= 1;
    j.y = Some(base64url::encode(&y));
    assert!(rejected(&j));
}

#[test]
fn from_jwk_rsa_small_modulus_or_bad_exponent_rejected() {
    let good = jwk_of(Algorithm::RS256);
    let n = base64url::decode(good.n.as_deref().unwrap()).unwrap();
    let mut j = good.clone();
    j.n = Some(base64url::encode(&n[..128])); // 1024 bits
    assert!(rejected(&j));
    let mut j = good.clone();
    let mut padded = vec![0u8];
    padded.extend_from_slice(&n);
    j.n = Some(base64url::encode(&padded)); // leading zero: not minimal
    assert!(rejected(&j));
    for e in [&[1u8][..], &[2], &[0, 1, 0, 1], &[1, 0, 0, 0, 1]] {
        let mut j = good.clone();
        j.e = Some(base64url::encode(e));
        assert!(rejected(&j), "{e:?}");
    }
    let mut j = good;
    j.e = Some(base64url::encode(&[3]));
    assert!(!rejected(&j));
}

#[test]
fn from_symmetric_jwk_checks_alg_and_length() {
    let ok = |json: &str| {
        let jwk: SymmetricJwk = serde_json::from_str(json).unwrap();
        VerifyingKey::from_symmetric_jwk(&jwk).is_ok()
    };
    let k32 = base64url::encode(&[1u8; 32]);
    let k31 = base64url::encode(&[1u8; 31]);
    assert!(ok(&format!(r#"{{"kty":"oct","kid":"a","alg":"HS256","k":"{k32}"}}"#)));
    assert!(!ok(&format!(r#"{{"kty":"oct","kid":"a","alg":"HS256","k":"{k31}"}}"#)));
    assert!(!ok(&format!(r#"{{"kty":"oct","kid":"a","alg":"A256GCM","k":"{k32}"}}"#)));
    assert!(!ok(&format!(r#"{{"kty":"oct","kid":"a","k":"{k32}"}}"#)));
    assert!(!ok(&format!(r#"{{"kty":"oct","kid":"a","alg":"HS256","use":"enc","k":"{k32}"}}"#)));
}

#[test]
fn roca_fingerprint_random_moduli_clean() {
    for _ in 0..3 {
        let n = base64url::decode(jwk_of(Algorithm::RS256).n.as_deref().unwrap()).unwrap();
        assert!(!has_roca_fingerprint(&n));
    }
}

#[test]
fn roca_fingerprint_power_of_generator_detected() {
    // 65537^k has the fingerprint by construction; pad it to the bit size so
    // only the ROCA test can refuse it.
    let mut n = vec![1u8];
    for _ in 0..3 {
        // n *= 65537 (big-endian schoolbook)
        let mut carry = 0u64;
        for b in n.iter_mut().rev() {
            let v = u64::from(*b) * 65537 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            n.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    assert!(has_roca_fingerprint(&n));
}
