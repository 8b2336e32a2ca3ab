//! HTTP Basic client authentication (`basic_client`, RFC 6749 §2.3.1:
//! `client_id` and `client_secret` form-urlencoded, joined by `:`, base64).
//!
//! Input: first byte = mode (% 3).
//! - 0: the rest is the whole `Authorization` header value.
//! - 1: the rest is `client_id 0x00 client_secret` (lossy UTF-8), which the
//!   harness encodes as a conforming client would.
//! - 2: the rest is the text inside the base64: the header is
//!   `Basic base64(rest)`.
//!
//! Properties:
//! - modes 0 and 2: no panic, and the result is exactly what an independent
//!   reading of RFC 6749 §2.3.1 gives: `Ok(None)` when the header is not the
//!   Basic scheme; otherwise the credentials split at the first `:` of the
//!   decoded text, each side decoded as one form-urlencoded value (`+` a space,
//!   `%XX` a byte, anything else itself, `&` and `=` included), or an error
//!   when the base64, the UTF-8, the `:` or an escape is bad (refused, never
//!   lossily repaired);
//! - mode 1, encode-decode round trip: the decoded pair is the pair encoded.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tessera_fuzz::split_at_zero;
use tessera_server::fuzzing::basic_client;

/// What `basic_client` must return, computed without it.
#[derive(Debug, PartialEq)]
enum Expected {
    NotBasic,
    Refused,
    Credentials(String, String),
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 3 != 1 {
        let value = if mode % 3 == 0 {
            HeaderValue::from_bytes(rest)
        } else {
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(rest)))
        };
        let Ok(value) = value else { return };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        let got = match basic_client(&headers) {
            Ok(None) => Expected::NotBasic,
            Err(_) => Expected::Refused,
            Ok(Some((id, secret))) => Expected::Credentials(id, secret),
        };
        let text = headers[AUTHORIZATION].to_str().ok();
        assert_eq!(got, expected(text), "Authorization: {text:?}");
    } else {
        let (id, secret) = split_at_zero(rest);
        let (id, secret) = (String::from_utf8_lossy(id), String::from_utf8_lossy(secret));
        let encode = |s: &str| form_urlencoded_value(s);
        let text = format!("{}:{}", encode(&id), encode(&secret));
        let header = format!("Basic {}", STANDARD.encode(text));
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&header).expect("base64 is ASCII"));
        let got = basic_client(&headers).expect("conforming Basic credentials refused");
        assert_eq!(got, Some((id.into_owned(), secret.into_owned())));
    }
});

fn expected(header: Option<&str>) -> Expected {
    let Some((scheme, b64)) = header.and_then(|t| t.split_once(' ')) else {
        return Expected::NotBasic;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Expected::NotBasic;
    }
    let decoded = STANDARD.decode(b64.trim()).ok().and_then(|d| String::from_utf8(d).ok());
    let pair = decoded.as_deref().and_then(|d| d.split_once(':'));
    match pair.map(|(id, secret)| (form_decode(id), form_decode(secret))) {
        Some((Some(id), Some(secret))) => Expected::Credentials(id, secret),
        _ => Expected::Refused,
    }
}

/// One application/x-www-form-urlencoded value: `+` is a space, `%XX` a
/// byte, every other character itself; `None` for a `%` without two hex
/// digits or a result that is not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                u8::try_from(hi * 16 + lo).ok()?
            }
            b => b,
        });
    }
    String::from_utf8(out).ok()
}

/// application/x-www-form-urlencoded encoding of one value, as serde_urlencoded writes it.
fn form_urlencoded_value(s: &str) -> String {
    let pair = serde_urlencoded::to_string([("v", s)]).expect("encode");
    pair.strip_prefix("v=").expect("v=").to_owned()
}
