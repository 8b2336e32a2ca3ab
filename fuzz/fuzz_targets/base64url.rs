//! Strict base64url (tessera-token's `base64url`, through `tessera_token::fuzzing`).
//!
//! Properties, for arbitrary bytes `x` and (when `x` is UTF-8) the text `s = x`:
//! - `decode(encode(x)) == x`, and `encode(x)` is unpadded URL-safe alphabet
//!   of length `ceil(4 * len / 3)`;
//! - canonical: if `decode(s)` accepts, `encode(decode(s)) == s`;
//! - `decode(s)` agrees exactly with an independent strict reference decoder
//!   written here (alphabet, no padding, no whitespace, length mod 4 != 1,
//!   unused trailing bits zero).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_token::fuzzing::{base64url_decode as decode, base64url_encode as encode};

fuzz_target!(|data: &[u8]| {
    let e = encode(data);
    assert_eq!(e.len(), (data.len() * 4).div_ceil(3));
    assert!(e.bytes().all(|b| value(b).is_some()), "encoder left the alphabet: {e:?}");
    assert_eq!(decode(&e).as_deref(), Some(data), "decode(encode(x)) != x");

    if let Ok(s) = std::str::from_utf8(data) {
        let got = decode(s);
        if let Some(bytes) = &got {
            assert_eq!(encode(bytes), s, "decode accepted a non-canonical spelling");
        }
        assert_eq!(got, reference_decode(s), "decoder disagrees with the reference on {s:?}");
    }
});

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// RFC 4648 §5 without padding, canonical only: a bit-by-bit decoder.
fn reference_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits (2 or 4) must be zero.
    (acc == 0).then_some(out)
}
