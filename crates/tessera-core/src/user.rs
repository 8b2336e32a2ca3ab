//! Users: identity, username rules and the stored account record.

use std::fmt;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::password::PasswordHash;

/// Longest accepted username, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;

crate::id::random_id! {
    /// A user's stable identifier (a random UUID).
    UserId
}

/// A username as typed, validated: 1 to 64 of `A-Z a-z 0-9 . _ @ -`.
///
/// Usernames are unique case-insensitively ([`Username::key`]) so that
/// `Alice` and `alice` cannot be two people, but are shown as registered.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates `s`.
    pub fn parse(s: &str) -> Result<Self> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-');
        if s.is_empty() || s.len() > MAX_USERNAME_LEN || !s.chars().all(ok_char) {
            return Err(Error::InvalidRequest(format!(
                "username must be 1 to {MAX_USERNAME_LEN} characters of A-Z a-z 0-9 . _ @ -"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// Rebuilds a username read from a store, without re-validating.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The username as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: ASCII lower case.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A stored account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Name as registered.
    pub username: Username,
    /// Argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Space-separated scopes granted to the user.
    pub scope: String,
    /// Registration time.
    pub created_at: Timestamp,
    /// A disabled user cannot log in and has no live sessions.
    pub disabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn username_valid_forms_accepted() {
        for ok in ["a", "alice", "Alice.Smith", "a_b-c@example.com", &"x".repeat(64)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn username_invalid_forms_rejected() {
        for bad in ["", " ", "al ice", "al\u{0}ice", "ålice", "a/b", &"x".repeat(65), "a\nb"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn username_key_is_case_insensitive() {
        assert_eq!(
            Username::parse("Alice").unwrap().key(),
            Username::parse("aLiCe").unwrap().key()
        );
    }

    #[test]
    fn user_id_roundtrips_through_text() {
        let id = UserId::generate(&OsEntropy);
        assert_eq!(UserId::parse(&id.to_string()), Some(id));
        assert_eq!(UserId::parse("nope"), None);
    }
}
