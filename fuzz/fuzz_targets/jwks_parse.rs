//! JWKS documents: JSON → `JwkSet` → `KeySet::from_jwks`, and symmetric JWKs.
//!
//! Input: first byte = mode (bit 0: 0 = the rest is the document, 1 = the rest
//! is edits on a known-good JWKS with an Ed25519, a P-256 and an RSA-2048 key;
//! bit 1: also read the document as a `SymmetricJwk`).
//!
//! Properties:
//! - any `JwkSet` that parses serialises and parses back to itself;
//! - if `KeySet::from_jwks` accepts it: one key per JWK, unique kids, and each
//!   key's published JWK has exactly the input's `kty`, `crv`, `x`, `y`, `n`,
//!   `e`, `kid`, `alg` (strict base64url means one spelling per key), `use`
//!   `sig`, no private member; that JWK serialises, parses and builds the same
//!   key again (round trip), and the published set builds an equal set;
//! - a symmetric JWK that is accepted is HS256 with the input's kid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{JSON_DICT, mutate};
use tessera_token::{Algorithm, Jwk, JwkSet, KeySet, SymmetricJwk, VerifyingKey};

/// Public keys generated once by `SigningKey::generate` (private halves discarded).
const KNOWN_JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"bjnwUS0RTqSTltLNU0Tfaw1pXqFcUKVSxHYmeMiNXMk","kid":"ed-1","alg":"EdDSA","use":"sig"},{"kty":"EC","crv":"P-256","x":"JjUtVtntQBdV5lDs7XJ8t4rNS4YX5Czrp9nRcVHTMOM","y":"72XP5Ysz08ikMa9JCmaihnE8Q-H8x4vT4sLCDGgKVvM","kid":"ec-1","alg":"ES256","use":"sig"},{"kty":"RSA","n":"p39q9jhDMQiee2QOteYRHlCIpN5j99EfIXJq7o3E25X3tLd1DCqo93jqQ8v0eAiZpQwN3k2gjmEtlqg-IgKTeA452EdXD1flk_h1sSLsaOmm_FeSCZ--tC_vNiDJaSus6auo5tZYuLUORkTIaJqQ6323vq6r5bpQSTHx5Y3TjvQAJFzFHHUNx42XGhkE-x0fgdnql9oAB6rWCRUhSWPbMFqZP5u6vAcjbPbl7O3WINGeU4ir1nQbZ6EDJkHi7361DVV95FZPhyn23fF1PWlb7oujkoLJVwpf7fvInm5Gkypkq5UIW_U4v3ktxOgAW6bQt7PEH2fDdPmT_ysGpp6D1w","e":"AQAB","kid":"rsa-1","alg":"RS256","use":"sig"}]}"#;

/// Base64url fragments: flip padding, alphabet and trailing bits in key material.
const DICT: &[&[u8]] = &[b"=", b"+", b"/", b"-", b"_", b"A", b"B", b"\\/", b"\\u0041"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let doc = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let (&pick, ops) = rest.split_first().unwrap_or((&0, &[]));
        let dict = if pick & 1 == 0 { JSON_DICT } else { DICT };
        mutate(KNOWN_JWKS.as_bytes(), ops, dict)
    };
    if let Ok(jwks) = serde_json::from_slice::<JwkSet>(&doc) {
        check_set(&jwks);
    }
    if mode & 2 != 0 {
        if let Ok(jwk) = serde_json::from_slice::<SymmetricJwk>(&doc) {
            if let Ok(key) = VerifyingKey::from_symmetric_jwk(&jwk) {
                assert_eq!(key.algorithm(), Algorithm::HS256);
                assert_eq!(Some(key.kid()), jwk.kid.as_deref());
                assert!(key.public_jwk().is_none(), "an HMAC secret would be published");
            }
        }
    }
});

fn check_set(jwks: &JwkSet) {
    let text = serde_json::to_string(jwks).expect("serialise JwkSet");
    let again: JwkSet = serde_json::from_str(&text).expect("re-parse JwkSet");
    assert_eq!(&again, jwks, "JwkSet does not round-trip");

    let Ok(set) = KeySet::from_jwks(jwks) else { return };
    assert_eq!(set.keys().len(), jwks.keys.len());
    let mut published = Vec::with_capacity(jwks.keys.len());
    for (i, (key, input)) in set.keys().iter().zip(&jwks.keys).enumerate() {
        assert!(set.keys()[..i].iter().all(|k| k.kid() != key.kid()), "duplicate kid accepted");
        assert!(!key.algorithm().is_symmetric(), "symmetric key accepted from a JWKS");
        let jwk = key.public_jwk().expect("asymmetric key has a public JWK");
        same_material(&jwk, input);
        assert_eq!(jwk.use_.as_deref(), Some("sig"));
        assert_eq!(jwk.key_ops, None);

        let text = serde_json::to_string(&jwk).expect("serialise Jwk");
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"k\""] {
            assert!(!text.contains(&format!("{private}:")), "private member published");
        }
        let back: Jwk = serde_json::from_str(&text).expect("re-parse Jwk");
        assert_eq!(back, jwk);
        let rebuilt = VerifyingKey::from_jwk(&back).expect("published JWK refused");
        assert_eq!(rebuilt.kid(), key.kid());
        assert_eq!(rebuilt.algorithm(), key.algorithm());
        assert_eq!(rebuilt.public_jwk().as_ref(), Some(&jwk));
        published.push(jwk);
    }
    let republished =
        KeySet::from_jwks(&JwkSet { keys: published.clone() }).expect("published set refused");
    let jwks_again: Vec<Jwk> =
        republished.keys().iter().filter_map(VerifyingKey::public_jwk).collect();
    assert_eq!(jwks_again, published);
}

fn same_material(out: &Jwk, input: &Jwk) {
    assert_eq!(out.kty, input.kty);
    assert_eq!(out.crv, input.crv);
    assert_eq!(out.x, input.x);
    assert_eq!(out.y, input.y);
    assert_eq!(out.n, input.n);
    assert_eq!(out.e, input.e);
    assert_eq!(out.kid, input.kid);
    assert_eq!(out.alg, input.alg);
}
