//! Authentication by username and password, with uniform failure.
//!
//! Unknown user, wrong password and disabled user fail with the same error
//! after the same Argon2 work (a dummy hash stands in for a missing user), so
//! neither the answer nor its timing says which accounts exist.

use crate::error::{Error, Result};
use crate::password::{MAX_PASSWORD_BYTES, PasswordCheck};
use crate::service::Tessera;
use crate::session::ClientInfo;
use crate::throttle::AttemptKeys;
use crate::user::{User, Username};

impl Tessera {
    /// The user whose credentials these are, throttled per account and per
    /// client address (`RateLimited`, before any hashing, the correct
    /// password included); `InvalidCredentials` otherwise.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User> {
        let keys = AttemptKeys::new(username, client.ip.as_deref());
        let attempts = self.stores.attempts.as_ref();
        self.throttle.check_at(attempts, &keys, self.clock.now()).await?;
        let outcome = self.check_credentials(username, password).await;
        match &outcome {
            Ok(_) => self.throttle.record_success(attempts, &keys).await?,
            Err(Error::InvalidCredentials(_)) => {
                self.throttle.record_failure_at(attempts, &keys, self.clock.now()).await?
            }
            Err(_) => {}
        }
        outcome
    }

    /// The credential check itself, with uniform failure.
    async fn check_credentials(&self, username: &str, password: &str) -> Result<User> {
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
