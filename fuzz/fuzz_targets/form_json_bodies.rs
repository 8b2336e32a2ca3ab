//! Request bodies: `from_json` and `from_form` (tessera-server's `payload`,
//! through `tessera_server::fuzzing`) into the login and `/oauth/token`
//! request shapes.
//!
//! The shapes are mirrors of the private route structs (same field names and
//! types, serde defaults): `SessionLogin` is `/v1/session/login` and
//! `/v1/hybrid/login`, `TokenLogin` is `/v1/token/login`, `TokenRequest` is
//! `/oauth/token`, `TokenParam` is `/oauth/revoke` and `/oauth/introspect`.
//! If a route struct changes, change its mirror here.
//!
//! Input: first byte = mode (bit 0: 0 = the rest is the body, 1 = the rest is
//! edits on a known-good JSON body; bit 1 in mode 1: a form body instead).
//!
//! Properties, for every shape (and `serde_json::Value`, the session-data body):
//! - no panic; a JSON result implies the first non-whitespace byte is `{`
//!   and that the whole body is well-formed JSON (so: one object);
//! - parse-encode round trips: a parsed JSON body re-encoded with serde_json,
//!   and a parsed form body re-encoded with serde_urlencoded, parse back to
//!   the same value.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use tessera_fuzz::{JSON_DICT, mutate};
use tessera_server::fuzzing::{from_form, from_json};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SessionLogin {
    username: String,
    password: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TokenLogin {
    username: String,
    password: String,
    scope: Option<String>,
    client_id: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct TokenParam {
    token: Option<String>,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

const JSON_SEED: &[u8] = br#"{"username":"alice","password":"p\u00e4ss w0rd","scope":"read write","client_id":"first-party","grant_type":"refresh_token","refresh_token":"rt.abc","client_secret":"s3cret","token":"t","token_type_hint":"access_token"}"#;
const FORM_SEED: &[u8] = b"username=alice&password=p%C3%A4ss+w0rd&scope=read%20write&client_id=first-party&grant_type=refresh_token&refresh_token=rt.abc&client_secret=s3cret&token=t&token_type_hint=access_token";
const FORM_DICT: &[&[u8]] = &[
    b"&",
    b"=",
    b"+",
    b"%",
    b"%2",
    b"%26",
    b"%3D",
    b"%00",
    b"%FF",
    b"%C3%A4",
    b"username",
    b"password",
    b"grant_type",
    b"client_id",
    b"scope",
    b";",
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else if mode & 2 == 0 {
        mutate(JSON_SEED, rest, JSON_DICT)
    } else {
        mutate(FORM_SEED, rest, FORM_DICT)
    };
    json::<SessionLogin>(&body);
    json::<TokenLogin>(&body);
    json::<TokenRequest>(&body);
    json::<TokenParam>(&body);
    json::<serde_json::Value>(&body);
    form::<SessionLogin>(&body);
    form::<TokenLogin>(&body);
    form::<TokenRequest>(&body);
    form::<TokenParam>(&body);
});

fn json<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8]) {
    let Ok(parsed) = from_json::<T>(body) else { return };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    assert_eq!(first, Some(&b'{'), "a JSON body not starting with `{{` was accepted");
    // Syntax only (`IgnoredAny`): RFC 8259 §8.2 lets a string hold a lone
    // surrogate escape, which serde skips in ignored members but cannot put
    // into a `Value`.
    serde_json::from_slice::<IgnoredAny>(body).expect("an accepted body is not JSON");
    let encoded = serde_json::to_vec(&parsed).expect("re-encode JSON");
    let again: T = from_json(&encoded).expect("re-encoded JSON refused");
    assert_eq!(again, parsed, "JSON body does not round-trip");
}

fn form<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8]) {
    let Ok(parsed) = from_form::<T>(body) else { return };
    let encoded = serde_urlencoded::to_string(&parsed).expect("re-encode form");
    let again: T = from_form(encoded.as_bytes()).expect("re-encoded form refused");
    assert_eq!(again, parsed, "form body does not round-trip");
}
