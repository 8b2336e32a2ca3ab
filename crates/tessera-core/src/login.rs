//! Authentication by username and password, with uniform failure.
//!
//! Unknown user, wrong password and disabled user fail with the same error
//! after the same Argon2 work (a dummy hash stands in for a missing user), so
//! neither the answer nor its timing says which accounts exist.

use crate::error::{Error, Result};
use crate::password::{MAX_PASSWORD_BYTES, PasswordCheck};
use crate::service::Tessera;
use crate::user::{User, Username};

impl Tessera {
    /// The user whose credentials these are, or `InvalidCredentials`.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<User> {
        let found = match Username::parse(username) {
            Ok(name) => self.stores.users.find_user_by_name(&name).await?,
            Err(_) => None,
        };
        let hash = found.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash).clone();
        // No stored password is longer than the policy allows; verifying a
        // bounded input keeps the cost uniform for oversized guesses.
        let oversized = password.len() > MAX_PASSWORD_BYTES;
        let candidate = if oversized { "" } else { password };
        let check = self.hashes.verify(candidate.to_owned(), hash).await?;
        match (found, check) {
            (None, _) => Err(Error::InvalidCredentials("unknown user")),
            (Some(_), _) if oversized => Err(Error::InvalidCredentials("oversized password")),
            (Some(_), PasswordCheck::Mismatch) => Err(Error::InvalidCredentials("wrong password")),
            (Some(u), PasswordCheck::Match) if u.disabled => {
                Err(Error::InvalidCredentials("user disabled"))
            }
            (Some(u), PasswordCheck::Match) => Ok(u),
        }
    }
}
