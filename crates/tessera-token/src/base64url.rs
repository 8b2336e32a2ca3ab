//! Strict base64url (RFC 4648 §5) as JOSE uses it (RFC 7515 §2).
//!
//! Strict means: the URL-safe alphabet only, no padding, no whitespace, and
//! canonical encodings only (the unused low bits of the last character must be
//! zero). A lenient decoder lets one token have many spellings, which breaks
//! anything keyed on the token's bytes and hides tampering from logs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes `bytes` as base64url without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes strict base64url; `None` for anything non-canonical.
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    // The engine already refuses padding, characters outside the alphabet and
    // non-zero trailing bits (`decode_allow_trailing_bits` is false by default);
    // the explicit alphabet check keeps that guarantee independent of the
    // engine's configuration.
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_canonical_round_trips() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn decode_padding_rejected() {
        assert_eq!(decode("Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(decode("Zm8"), Some(b"fo".to_vec()));
        assert_eq!(decode("Zm8="), None);
        assert_eq!(decode("Zg=="), None);
    }

    #[test]
    fn decode_standard_alphabet_or_whitespace_rejected() {
        assert_eq!(decode("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode("+/8"), None);
        assert_eq!(decode("Zm9 v"), None);
        assert_eq!(decode("Zm9v\n"), None);
        assert_eq!(decode(" Zm9v"), None);
        assert_eq!(decode("Zm9v?"), None);
    }

    #[test]
    fn decode_non_zero_trailing_bits_rejected() {
        // "AA" is the canonical encoding of one zero byte; "AB" sets an unused bit.
        assert_eq!(decode("AA"), Some(vec![0]));
        assert_eq!(decode("AB"), None);
        assert_eq!(decode("AAA"), Some(vec![0, 0]));
        assert_eq!(decode("AAB"), None);
    }

    #[test]
    fn decode_impossible_length_rejected() {
        assert_eq!(decode("A"), None);
        assert_eq!(decode("AAAAA"), None);
    }
}
