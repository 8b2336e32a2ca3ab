//! Unit tests for `verify.rs` and `jws.rs`: round trips and every attack the
//! verifier must refuse.

use super::*;
use crate::base64url;
use crate::claims::Audience;
use crate::key::SigningKey;
use crate::key_set::KeySet;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://auth.example";
const AUD: &str = "https://api.example";

fn signing(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, kid, &SystemRandom::new()).unwrap()
}

fn ring(alg: Algorithm) -> KeyRing {
    KeyRing::bootstrap_at(NOW - 100, signing(alg, "cur"), signing(alg, "nxt")).unwrap()
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: Audience::One(AUD.into()),
        exp: NOW + 900,
        iat: NOW,
        nbf: None,
        jti: "jti-1".into(),
        client_id: "first-party".into(),
        scope: "read".into(),
        sid: Some("sid-1".into()),
        auth_time: Some(NOW - 10),
    }
}

fn v() -> Validation {
    Validation::new(ISS, AUD)
}

fn claims_json(c: &AccessClaims) -> String {
    serde_json::to_string(c).unwrap()
}

/// A token with any header and payload, signed by `key` (whatever `alg` says).
fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(payload.as_bytes())
    );
    let sig = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url::encode(&sig))
}

fn forge_hmac(secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header.as_bytes()),
        base64url::encode(payload.as_bytes())
    );
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", base64url::encode(tag.as_ref()))
}

fn header(alg: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"cur"}}"#)
}

fn check(token: &str, r: &KeyRing) -> Result<VerifiedAccessToken, TokenError> {
    verify_at(token, r, &v(), NOW)
}

#[test]
fn verify_at_each_algorithm_round_trip_accepted() {
    for alg in Algorithm::ALL {
        let r = ring(alg);
        let token = sign_at(&r, &claims()).unwrap();
        let ok = check(&token, &r).unwrap();
        assert_eq!(ok.claims(), &claims(), "{alg}");
        assert_eq!((ok.kid(), ok.algorithm()), ("cur", alg));
        assert_eq!(
            (ok.sub(), ok.jti(), ok.sid(), ok.scope()),
            ("user-1", "jti-1", Some("sid-1"), "read")
        );
    }
}

#[test]
fn sign_at_header_is_alg_typ_kid() {
    let token = sign_at(&ring(Algorithm::EdDSA), &claims()).unwrap();
    let h = base64url::decode(token.split('.').next().unwrap()).unwrap();
    assert_eq!(String::from_utf8(h).unwrap(), r#"{"alg":"EdDSA","typ":"at+jwt","kid":"cur"}"#);
}

#[test]
fn verify_at_token_from_before_rotation_still_accepted() {
    let r = ring(Algorithm::ES256);
    let token = sign_at(&r, &claims()).unwrap();
    let rotated = r.rotate_at(NOW, signing(Algorithm::ES256, "new")).unwrap();
    assert_eq!(check(&token, &rotated).unwrap().kid(), "cur");
    assert_eq!(
        sign_at(&rotated, &claims())
            .map(|t| check(&t, &rotated).unwrap().kid().to_owned())
            .unwrap(),
        "nxt"
    );
}

#[test]
fn verify_at_through_jwks_key_set_accepted() {
    let r = ring(Algorithm::RS256);
    let set = KeySet::from_jwks(&r.jwks()).unwrap();
    let token = sign_at(&r, &claims()).unwrap();
    let dyn_set: &dyn KeyResolver = &set;
    assert!(verify_at(&token, dyn_set, &v(), NOW).is_ok());
}

#[test]
fn verify_at_alg_none_any_casing_rejected() {
    let r = ring(Algorithm::EdDSA);
    let payload = base64url::encode(claims_json(&claims()).as_bytes());
    for none in ["none", "None", "NONE", "nOnE"] {
        for sig in ["", "AAAA", "c2lnbmF0dXJl"] {
            let h = base64url::encode(header(none).as_bytes());
            let token = format!("{h}.{payload}.{sig}");
            assert_eq!(
                check(&token, &r).unwrap_err(),
                TokenError::AlgorithmMismatch,
                "{none} {sig:?}"
            );
            let no_kid =
                base64url::encode(format!(r#"{{"alg":"{none}","typ":"at+jwt"}}"#).as_bytes());
            assert_eq!(
                check(&format!("{no_kid}.{payload}.{sig}"), &r).unwrap_err(),
                TokenError::MissingKid
            );
        }
    }
}

#[test]
fn verify_at_hs256_keyed_with_public_key_rejected() {
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let r = ring(alg);
        let jwk = r.current().public_jwk().unwrap();
        let jwk_json = serde_json::to_string(&jwk).unwrap();
        let raw = base64url::decode(jwk.x.as_deref().or(jwk.n.as_deref()).unwrap()).unwrap();
        let x_text = jwk.x.clone().or(jwk.n.clone()).unwrap();
        for secret in [jwk_json.as_bytes(), &raw, x_text.as_bytes()] {
            let token = forge_hmac(secret, &header("HS256"), &claims_json(&claims()));
            assert_eq!(check(&token, &r).unwrap_err(), TokenError::AlgorithmMismatch, "{alg}");
        }
    }
}

#[test]
fn verify_at_header_alg_of_other_family_rejected() {
    let r = ring(Algorithm::ES256);
    for alg in ["EdDSA", "RS256", "es256", "ES384"] {
        let token = forge(r.current(), &header(alg), &claims_json(&claims()));
        assert_eq!(check(&token, &r).unwrap_err(), TokenError::AlgorithmMismatch, "{alg}");
    }
}

#[test]
fn verify_at_kid_of_another_key_rejected() {
    let r = ring(Algorithm::EdDSA);
    // Signed by the next key but claiming to be the current one.
    let nxt = r.find("nxt").unwrap().key();
    let token = forge(nxt, &header("EdDSA"), &claims_json(&claims()));
    assert_eq!(check(&token, &r).unwrap_err(), TokenError::BadSignature);
    // Signed by a stranger's key.
    let stranger = signing(Algorithm::EdDSA, "cur");
    let token = forge(&stranger, &header("EdDSA"), &claims_json(&claims()));
    assert_eq!(check(&token, &r).unwrap_err(), TokenError::BadSignature);
    // A kid we do not hold, including path and SQL games.
    for kid in ["other", "../../etc/passwd", "cur' OR '1'='1", ""] {
        let h = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}"}}"#);
        let token = forge(&stranger, &h, &claims_json(&claims()));
        assert_eq!(check(&token, &r).unwrap_err(), TokenError::UnknownKey, "{kid}");
    }
}

#[test]
fn verify_at_key_source_or_crit_header_rejected() {
    let r = ring(Algorithm::EdDSA);
    let jwk = serde_json::to_string(&r.current().public_jwk().unwrap()).unwrap();
    for (member, value) in [
        ("jwk", jwk.as_str()),
        ("jku", r#""http://127.0.0.1:9/jwks""#),
        ("x5u", r#""http://127.0.0.1:9/cert""#),
        ("x5c", r#"["MIIB"]"#),
        ("crit", r#"["exp"]"#),
        ("crit", "[]"),
        ("jku", "null"),
    ] {
        let h = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"cur","{member}":{value}}}"#);
        let token = forge(r.current(), &h, &claims_json(&claims()));
        assert_eq!(check(&token, &r).unwrap_err(), TokenError::ForbiddenHeader(member), "{member}");
    }
}

#[test]
fn verify_at_duplicate_header_member_rejected() {
    let r = ring(Algorithm::EdDSA);
    for h in [
        r#"{"alg":"EdDSA","typ":"at+jwt","kid":"cur","alg":"none"}"#,
        r#"{"alg":"EdDSA","typ":"at+jwt","kid":"cur","kid":"nxt"}"#,
        r#"{"alg":"EdDSA","typ":"JWT","kid":"cur","typ":"at+jwt"}"#,
    ] {
        let token = forge(r.current(), h, &claims_json(&claims()));
        assert!(matches!(check(&token, &r).unwrap_err(), TokenError::Malformed(_)), "{h}");
    }
}

#[test]
fn verify_at_duplicate_claim_rejected() {
    let r = ring(Algorithm::EdDSA);
    let payload = claims_json(&claims()).replacen('{', r#"{"sub":"admin","#, 1);
    let token = forge(r.current(), &header("EdDSA"), &payload);
    assert!(matches!(check(&token, &r).unwrap_err(), TokenError::Malformed(_)));
}

#[test]
fn verify_at_header_not_json_object_rejected() {
    let r = ring(Algorithm::EdDSA);
    for h in [
        "[]",
        "\"EdDSA\"",
        "",
        "{\"alg\":\"EdDSA\",\"kid\":\"cur\",\"typ\":\"at+jwt\"",
        "{\"alg\":1,\"kid\":\"cur\"}",
    ] {
        let token = forge(r.current(), h, &claims_json(&claims()));
        assert!(matches!(check(&token, &r).unwrap_err(), TokenError::Malformed(_)), "{h:?}");
    }
    // Invalid UTF-8 in the header.
    let bad =
        format!("{}.{}.AAAA", base64url::encode(b"{\"alg\":\"\xff\"}"), base64url::encode(b"{}"));
    assert!(matches!(check(&bad, &r).unwrap_err(), TokenError::Malformed(_)));
}

#[test]
fn verify_at_claims_not_json_object_rejected_after_signature() {
    let r = ring(Algorithm::EdDSA);
    for p in ["[]", "null", "not json", "{\"sub\":\"x\"}"] {
        let token = forge(r.current(), &header("EdDSA"), p);
        assert!(matches!(check(&token, &r).unwrap_err(), TokenError::Malformed(_)), "{p}");
    }
    // With a bad signature, the payload is never parsed.
    let token = forge(&signing(Algorithm::EdDSA, "x"), &header("EdDSA"), "not json");
    assert_eq!(check(&token, &r).unwrap_err(), TokenError::BadSignature);
}

#[test]
fn verify_at_wrong_typ_rejected() {
    let r = ring(Algorithm::EdDSA);
    for typ in [Some("JWT"), Some("at+jwt2"), Some("application/jwt"), Some("xat+jwt"), None] {
        let h = match typ {
            Some(t) => format!(r#"{{"alg":"EdDSA","typ":"{t}","kid":"cur"}}"#),
            None => r#"{"alg":"EdDSA","kid":"cur"}"#.to_owned(),
        };
        let token = forge(r.current(), &h, &claims_json(&claims()));
        assert_eq!(check(&token, &r).unwrap_err(), TokenError::WrongType, "{typ:?}");
    }
}

#[test]
fn verify_at_typ_variants_per_rfc9068_accepted() {
    let r = ring(Algorithm::EdDSA);
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+Jwt"] {
        let h = format!(r#"{{"alg":"EdDSA","typ":"{typ}","kid":"cur"}}"#);
        let token = forge(r.current(), &h, &claims_json(&claims()));
        assert!(check(&token, &r).is_ok(), "{typ}");
    }
}

#[test]
fn verify_at_expired_at_exp_plus_leeway_rejected() {
    let r = ring(Algorithm::EdDSA);
    let token = sign_at(&r, &claims()).unwrap();
    let exp = claims().exp;
    let leeway = v().leeway_secs();
    assert!(verify_at(&token, &r, &v(), exp + leeway - 1).is_ok());
    assert_eq!(verify_at(&token, &r, &v(), exp + leeway).unwrap_err(), TokenError::Expired);
    let strict = v().with_leeway_secs(0);
    assert!(verify_at(&token, &r, &strict, exp - 1).is_ok());
    assert_eq!(verify_at(&token, &r, &strict, exp).unwrap_err(), TokenError::Expired);
}

#[test]
fn verify_at_before_nbf_minus_leeway_rejected() {
    let r = ring(Algorithm::EdDSA);
    let mut c = claims();
    c.nbf = Some(NOW + 100);
    let token = sign_at(&r, &c).unwrap();
    let leeway = v().leeway_secs();
    assert_eq!(
        verify_at(&token, &r, &v(), NOW + 100 - leeway - 1).unwrap_err(),
        TokenError::NotYetValid
    );
    assert!(verify_at(&token, &r, &v(), NOW + 100 - leeway).is_ok());
}

#[test]
fn verify_at_iat_in_future_rejected() {
    let r = ring(Algorithm::EdDSA);
    let leeway = v().leeway_secs();
    let mut c = claims();
    c.iat = NOW + leeway + 1;
    assert_eq!(check(&sign_at(&r, &c).unwrap(), &r).unwrap_err(), TokenError::IssuedInFuture);
    c.iat = NOW + leeway;
    assert!(check(&sign_at(&r, &c).unwrap(), &r).is_ok());
}

#[test]
fn verify_at_wrong_issuer_rejected() {
    let r = ring(Algorithm::EdDSA);
    for iss in ["https://auth.example/", "https://AUTH.example", "https://evil.example", ""] {
        let mut c = claims();
        c.iss = iss.into();
        assert_eq!(
            check(&sign_at(&r, &c).unwrap(), &r).unwrap_err(),
            TokenError::WrongIssuer,
            "{iss}"
        );
    }
}

#[test]
fn verify_at_wrong_audience_rejected_array_accepted() {
    let r = ring(Algorithm::EdDSA);
    let mut c = claims();
    c.aud = Audience::One("https://other.example".into());
    assert_eq!(check(&sign_at(&r, &c).unwrap(), &r).unwrap_err(), TokenError::WrongAudience);
    c.aud = Audience::Many(vec![]);
    assert_eq!(check(&sign_at(&r, &c).unwrap(), &r).unwrap_err(), TokenError::WrongAudience);
    c.aud = Audience::Many(vec!["https://other.example".into(), AUD.into()]);
    assert!(check(&sign_at(&r, &c).unwrap(), &r).is_ok());
}

#[test]
fn verify_at_padding_or_standard_alphabet_rejected() {
    let r = ring(Algorithm::EdDSA);
    let token = sign_at(&r, &claims()).unwrap();
    let [h, p, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    assert_eq!(s.len() % 4, 2); // 64-byte signature: "==" would be valid standard padding
    for bad in [
        format!("{h}.{p}.{s}=="),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}=.{s}"),
        format!("{h}.{p}+.{s}"),
        format!("{h}.+{p}.{s}"),
        format!("{h}.{p}.{}", s.replace(['-', '_'], "/")),
        format!("{h}.{p}./{s}"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s}\n"),
    ] {
        if bad == token {
            continue;
        }
        assert!(matches!(check(&bad, &r).unwrap_err(), TokenError::Malformed(_)), "{bad}");
    }
}

#[test]
fn verify_at_non_canonical_trailing_bits_rejected() {
    let r = ring(Algorithm::EdDSA);
    let token = sign_at(&r, &claims()).unwrap();
    // 64 bytes use 86 characters; the last one carries 4 unused bits.
    let last = token.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    assert_eq!(idx & 0b1111, 0);
    let tweaked = alphabet.chars().nth(idx | 1).unwrap();
    let bad = format!("{}{tweaked}", &token[..token.len() - 1]);
    assert!(matches!(check(&bad, &r).unwrap_err(), TokenError::Malformed(_)));
}

#[test]
fn verify_at_wrong_segment_count_rejected() {
    let r = ring(Algorithm::EdDSA);
    let token = sign_at(&r, &claims()).unwrap();
    let (hp, _) = token.rsplit_once('.').unwrap();
    for bad in
        [format!("{token}.AAAA"), format!("{token}."), hp.to_owned(), String::new(), "...".into()]
    {
        assert!(matches!(check(&bad, &r).unwrap_err(), TokenError::Malformed(_)), "{bad}");
    }
}

#[test]
fn verify_at_nine_kib_token_rejected_before_parsing() {
    let r = ring(Algorithm::EdDSA);
    let junk = "a".repeat(9 * 1024);
    assert_eq!(check(&junk, &r).unwrap_err(), TokenError::TooLong);
    // Even a genuine token over the bound.
    let mut c = claims();
    c.scope = "s ".repeat(4096);
    let big = sign_at(&r, &c).unwrap();
    assert!(big.len() > DEFAULT_MAX_TOKEN_BYTES);
    assert_eq!(check(&big, &r).unwrap_err(), TokenError::TooLong);
    assert!(verify_at(&big, &r, &v().with_max_token_bytes(64 * 1024), NOW).is_ok());
}

#[test]
fn verify_at_flipped_signature_bit_rejected() {
    for alg in Algorithm::ALL {
        let r = ring(alg);
        let token = sign_at(&r, &claims()).unwrap();
        let (hp, s) = token.rsplit_once('.').unwrap();
        let mut sig = base64url::decode(s).unwrap();
        sig[0] ^= 0x01;
        let bad = format!("{hp}.{}", base64url::encode(&sig));
        assert_eq!(check(&bad, &r).unwrap_err(), TokenError::BadSignature, "{alg}");
        // Truncated, extended and stripped signatures too.
        let sig = base64url::decode(s).unwrap();
        for other in [&sig[..sig.len() - 1], &[sig.as_slice(), &[0]].concat(), &[]] {
            let bad = format!("{hp}.{}", base64url::encode(other));
            assert_eq!(check(&bad, &r).unwrap_err(), TokenError::BadSignature, "{alg}");
        }
    }
}

#[test]
fn verify_at_es256_high_s_malleated_signature_outcome_is_pinned() {
    // s' = n - s is also a valid ECDSA signature; aws-lc accepts it (ECDSA is
    // malleable), so replay protection must key on jti/sid, never token bytes.
    let r = ring(Algorithm::ES256);
    let token = sign_at(&r, &claims()).unwrap();
    let (hp, s) = token.rsplit_once('.').unwrap();
    let sig = base64url::decode(s).unwrap();
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let mut s2 = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        s2[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    let malleated = format!("{hp}.{}", base64url::encode(&[&sig[..32], &s2[..]].concat()));
    assert_ne!(malleated, token);
    let out = check(&malleated, &r).map(|t| t.jti().to_owned());
    assert_eq!(out, Ok("jti-1".to_owned()));
}

#[test]
fn verify_at_reencoded_or_altered_payload_rejected() {
    let r = ring(Algorithm::EdDSA);
    let token = sign_at(&r, &claims()).unwrap();
    let [h, _, s]: [&str; 3] = token.split('.').collect::<Vec<_>>().try_into().unwrap();
    // Same claims, different bytes (pretty-printed JSON).
    let same = serde_json::to_string_pretty(&claims()).unwrap();
    let bad = format!("{h}.{}.{s}", base64url::encode(same.as_bytes()));
    assert_eq!(check(&bad, &r).unwrap_err(), TokenError::BadSignature);
    // Altered claims.
    let mut c = claims();
    c.sub = "admin".into();
    c.scope = "admin".into();
    let bad = format!("{h}.{}.{s}", base64url::encode(claims_json(&c).as_bytes()));
    assert_eq!(check(&bad, &r).unwrap_err(), TokenError::BadSignature);
}

#[test]
fn validation_leeway_clamped_and_defaults_secure() {
    assert_eq!(v().leeway_secs(), DEFAULT_LEEWAY_SECS);
    assert_eq!(v().max_token_bytes(), DEFAULT_MAX_TOKEN_BYTES);
    assert_eq!(v().with_leeway_secs(600).leeway_secs(), MAX_LEEWAY_SECS);
    assert_eq!(v().with_leeway_secs(-5).leeway_secs(), 0);
    assert_eq!((v().issuer(), v().audience()), (ISS, AUD));
}
