//! Scopes: space-separated tokens (RFC 6749 §3.3), normalised, narrowed and
//! compared in one place.

use crate::error::{Error, Result};

/// Space-separated scope tokens of RFC 6749 §3.3 characters, deduplicated
/// and sorted; `InvalidRequest` for a token with another character.
pub fn normalize(scope: &str) -> Result<String> {
    let ok = |t: &str| {
        t.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    };
    let mut tokens: Vec<&str> = scope.split(' ').filter(|t| !t.is_empty()).collect();
    if let Some(bad) = tokens.iter().find(|t| !ok(t)) {
        return Err(Error::InvalidRequest(format!("invalid scope token {bad:?}")));
    }
    tokens.sort_unstable();
    tokens.dedup();
    Ok(tokens.join(" "))
}

/// Whether `granted` includes every token of `required`.
pub fn covers(granted: &str, required: &str) -> bool {
    let granted: Vec<&str> = granted.split(' ').collect();
    required.split(' ').filter(|s| !s.is_empty()).all(|s| granted.contains(&s))
}

/// `requested` (normalised) if `allowed` covers it, `allowed` when nothing
/// was requested; `InvalidScope` otherwise. A scope can narrow, never grow.
pub fn narrow(requested: Option<&str>, allowed: &str) -> Result<String> {
    let Some(requested) = requested else { return Ok(allowed.to_owned()) };
    let requested =
        normalize(requested).map_err(|_| Error::InvalidScope("malformed scope".into()))?;
    let granted: Vec<&str> = allowed.split(' ').collect();
    match requested.split(' ').filter(|s| !s.is_empty()).find(|s| !granted.contains(s)) {
        Some(extra) => Err(Error::InvalidScope(format!("scope {extra:?} cannot be granted"))),
        None => Ok(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_normalised_sorted_deduplicated() {
        assert_eq!(normalize(" b a  b ").unwrap(), "a b");
        assert_eq!(normalize("").unwrap(), "");
    }

    #[test]
    fn scope_invalid_characters_rejected() {
        assert!(normalize("a\"b").is_err());
        assert!(normalize("a\\b").is_err());
        assert!(normalize("é").is_err());
    }

    #[test]
    fn scope_covers_subsets_only() {
        assert!(covers("a b c", "a c") && covers("a", "") && covers("", ""));
        assert!(!covers("a", "a b") && !covers("ab", "a"));
    }

    #[test]
    fn scope_narrow_never_grows() {
        assert_eq!(narrow(None, "a b").unwrap(), "a b");
        assert_eq!(narrow(Some("b"), "a b").unwrap(), "b");
        assert!(matches!(narrow(Some("c"), "a b"), Err(Error::InvalidScope(_))));
        assert!(matches!(narrow(Some("a\\"), "a b"), Err(Error::InvalidScope(_))));
    }
}
