//! `jws::verify_compact` on arbitrary text, with a `KeySet` resolver (the
//! resource-server path) and a length bound chosen by the input.
//!
//! Input: first byte = key set (high bit: HS256, else EdDSA), length bound
//! (bits 1..=2), mode (bit 0: 0 = the rest is the token, 1 = the rest is edits
//! on one of the known JWS).
//!
//! Property: `Ok` only for one of the JWS we signed (byte-identical), never
//! over the length bound, and the verified kid, alg, typ and payload are
//! exactly the signed ones.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tessera_fuzz::{EDDSA, HS256, JSON_DICT, mutate};
use tessera_token::{KeyRing, KeySet, jws};

struct Known {
    token: String,
    kid: String,
    typ: Option<&'static str>,
    payload: &'static [u8],
}

struct Fixture {
    set: KeySet,
    known: Vec<Known>,
}

fn fixture(ring: &KeyRing) -> Fixture {
    let set = KeySet::new(ring.keys().iter().map(|k| k.key().verifying_key().clone()).collect())
        .expect("key set");
    // One JWS per key, with and without typ, non-JSON and empty payloads.
    let specs: [(Option<&'static str>, &'static [u8]); 2] =
        [(Some("JWT"), b"not json at all"), (None, b"")];
    let known = ring
        .keys()
        .iter()
        .zip(specs)
        .map(|(k, (typ, payload))| Known {
            token: jws::sign_compact(k.key(), typ, payload).expect("sign"),
            kid: k.key().kid().to_owned(),
            typ,
            payload,
        })
        .collect();
    Fixture { set, known }
}

static ED: LazyLock<Fixture> = LazyLock::new(|| fixture(&EDDSA.ring));
static HS: LazyLock<Fixture> = LazyLock::new(|| fixture(&HS256.ring));

const BOUNDS: [usize; 4] = [0, 100, 8192, usize::MAX];
const DICT: &[&[u8]] = &[b".", b"=", b"+", b"/", b"-", b"_", b"A", b"eyJ", b"e30"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let fx: &Fixture = if mode & 0x80 != 0 { &HS } else { &ED };
    let max = BOUNDS[usize::from((mode >> 1) & 3)];
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let (&pick, ops) = rest.split_first().unwrap_or((&0, &[]));
        let base = &fx.known[usize::from(pick) % fx.known.len()].token;
        let dict = if pick & 0x80 != 0 { JSON_DICT } else { DICT };
        String::from_utf8_lossy(&mutate(base.as_bytes(), ops, dict)).into_owned()
    };
    let Ok(verified) = jws::verify_compact(&token, &fx.set, max) else { return };
    assert!(token.len() <= max, "a JWS over the length bound verified");
    let known = fx
        .known
        .iter()
        .find(|k| k.token == token)
        .unwrap_or_else(|| panic!("a JWS we did not sign verified: {token:?}"));
    assert_eq!(verified.kid(), known.kid);
    assert_eq!(verified.typ(), known.typ);
    assert_eq!(verified.payload(), known.payload);
    assert_eq!(Some(verified.algorithm()), fx.set.keys().first().map(|k| k.algorithm()));
});
