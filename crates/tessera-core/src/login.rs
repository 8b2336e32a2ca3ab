//! Authentication by username and password, with uniform failure.
//!
//! Unknown user, wrong password and disabled user fail with the same error
//! after the same Argon2 work (a dummy hash stands in for a missing user), so
//! neither the answer nor its timing says which accounts exist. Every attempt
//! is counted by the throttle before its password is hashed (see
//! [`crate::throttle`]).

use crate::error::{Error, Result};
use crate::password::{MAX_PASSWORD_BYTES, PasswordCheck};
use crate::service::Tessera;
use crate::session::ClientInfo;
use crate::throttle::{AttemptKeys, Reservation};
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
        self.authenticate_for(username, password, client, |_| Ok(())).await.map(|(user, ())| user)
    }

    /// [`authenticate`](Self::authenticate), then `grant` (what the login
    /// asks of the user, e.g. a scope) while the attempt is still counted:
    /// a refusal by `grant` is answered and counted exactly as a wrong
    /// password (`InvalidCredentials`), so that it says nothing about the
    /// password and never gives the attempt back.
    pub(crate) async fn authenticate_for<T>(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
        grant: impl FnOnce(&User) -> Result<T>,
    ) -> Result<(User, T)> {
        let keys = self.throttle.keys(username, client.ip.as_deref());
        // Counted before hashing (check-then-count let concurrent guesses
        // through): at most the limit per window is ever checked.
        let reservation = self
            .throttle
            .reserve_at(self.stores.attempts.as_ref(), &keys, self.clock.now())
            .await?;
        let outcome = self.check_credentials(username, password, &keys).await.and_then(|user| {
            let granted = grant(&user).map_err(|refused| {
                tracing::info!(username, reason = %refused, "login refused after the password");
                Error::InvalidCredentials("request refused for this user")
            })?;
            Ok((user, granted))
        });
        self.settle(reservation, &outcome).await;
        outcome
    }

    /// The credential check itself, with uniform failure.
    async fn check_credentials(
        &self,
        username: &str,
        password: &str,
        keys: &AttemptKeys,
    ) -> Result<User> {
        let found = match Username::parse(username) {
            Ok(name) => self.stores.users.find_user_by_name(&name).await?,
            Err(_) => None,
        };
        let hash = found.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash).clone();
        // No stored password is longer than the policy allows; verifying a
        // bounded input keeps the cost uniform for oversized guesses.
        let oversized = password.len() > MAX_PASSWORD_BYTES;
        let candidate = if oversized { "" } else { password };
        let check = self.hashes.verify_for(&keys.all(), candidate.to_owned(), hash).await?;
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

    /// Settles a counted attempt by its outcome: a success and a guess that
    /// was never checked (the user lookup failed, the hash queue was full)
    /// give their count back; anything else keeps it (a failure, or a hash
    /// that may have run).
    pub(crate) async fn settle<T>(&self, reservation: Reservation, outcome: &Result<T>) {
        let unchecked = matches!(outcome, Err(Error::Store(_) | Error::Overloaded(_)));
        if outcome.is_err() && !unchecked {
            reservation.keep();
            return;
        }
        let keys = reservation.keys().clone();
        if let Err(e) = self.throttle.release(self.stores.attempts.as_ref(), reservation).await {
            // The count stays: the throttle is stricter for one window, never
            // weaker; the outcome itself stands.
            tracing::warn!(error = %e, account = keys.account(), "login count not given back");
        }
    }
}
