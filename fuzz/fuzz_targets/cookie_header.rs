//! The session cookie lookup (`CookiePolicy::session_secret`) on arbitrary
//! `Cookie` headers.
//!
//! Input: first byte = policy (bit 0: secure `__Host-tessera_session`, else
//! development `tessera_session`) and mode (bit 1). The rest is split at `\n`
//! into up to 8 `Cookie` header values (invalid ones are skipped, as
//! `HeaderValue` would refuse them on the wire).
//!
//! Properties:
//! - a returned value is a substring of one header value, contains no `;`,
//!   and that header contains `<name>=`; in secure mode the unprefixed name
//!   alone never yields a value (cookie tossing);
//! - mode 1, round trip: for a value made only of RFC 6265 cookie-octets (the
//!   input's first line, filtered), the `name=value` that `set_session` writes,
//!   put before any other cookies, reads back as exactly that value; put after
//!   them, it never overrides a session cookie they already carry.
#![no_main]

use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tessera_server::fuzzing::CookiePolicy;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let secure = mode & 1 != 0;
    let policy = CookiePolicy::new(secure);
    let name = if secure { "__Host-tessera_session" } else { "tessera_session" };

    let mut headers = HeaderMap::new();
    for line in rest.split(|&b| b == b'\n').take(8) {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, v);
        }
    }
    let texts: Vec<&str> = headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
    let found = policy.session_secret(&headers);
    if let Some(value) = found {
        assert!(!value.contains(';'), "cookie value spans a `;`: {value:?}");
        let prefix = format!("{name}=");
        assert!(
            texts.iter().any(|t| t.contains(value) && t.contains(&prefix)),
            "value {value:?} is not from a header carrying {prefix}"
        );
    }
    if secure && !texts.iter().any(|t| t.contains("__Host-tessera_session")) {
        assert_eq!(found, None);
    }

    if mode & 2 != 0 {
        round_trip(policy, name, rest);
    }
});

fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

fn round_trip(policy: CookiePolicy, name: &str, rest: &[u8]) {
    let (first, others) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let value: String =
        first.iter().copied().filter(|&b| is_cookie_octet(b)).map(char::from).collect();
    let set_cookie = policy.set_session(&value);
    let set_cookie = set_cookie.to_str().expect("Set-Cookie is ASCII");
    let pair = set_cookie.split(';').next().expect("name=value");
    assert_eq!(pair, format!("{name}={value}"));

    // The other cookies: the rest of the input as one header, if it is a
    // valid one that `to_str` reads (visible ASCII).
    let Ok(others) = std::str::from_utf8(others) else { return };
    if !HeaderValue::from_str(others).is_ok_and(|v| v.to_str().is_ok()) {
        return;
    }
    let lookup = |text: &str| {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_str(text).expect("valid header"));
        policy.session_secret(&h).map(str::to_owned)
    };
    assert_eq!(lookup(&format!("{pair}; {others}")).as_deref(), Some(value.as_str()));
    let existing = lookup(others);
    let after = lookup(&format!("{others}; {pair}"));
    assert_eq!(after, existing.clone().or(Some(value)), "a later cookie overrode an earlier one");
}
