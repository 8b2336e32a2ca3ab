//! Accounts: registration, password change, disabling, listing.

use crate::change::Change;
use crate::device::CurrentLogin;
use crate::error::{Error, Result};
use crate::password::PasswordCheck;
use crate::service::{Registration, Tessera};
use crate::store::StoreError;
use crate::user::{User, UserId, Username};

impl Tessera {
    /// Self-registration (`POST /v1/users`): refused when registration is closed.
    pub async fn register(&self, username: &str, password: &str) -> Result<User> {
        if self.config.registration == Registration::Closed {
            return Err(Error::Forbidden("self-registration is closed".to_owned()));
        }
        self.create_user(username, password, "").await
    }

    /// Creates an account (operators and registration alike).
    pub async fn create_user(&self, username: &str, password: &str, scope: &str) -> Result<User> {
        let username = Username::parse(username)?;
        self.config.password.check(password)?;
        let scope = crate::scope::normalize(scope)?;
        // Checked before hashing to spare the Argon2 work; the insert below
        // still decides races.
        if self.stores.users.find_user_by_name(&username).await?.is_some() {
            return Err(taken());
        }
        let user = User {
            id: UserId::generate(self.entropy.as_ref()),
            username,
            password_hash: self.hashes.hash(password.to_owned(), self.entropy.as_ref()).await?,
            scope,
            created_at: self.clock.now(),
            disabled: false,
        };
        match self.stores.users.insert_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes `user`'s password after checking the current one, then ends
    /// every other session and refresh family of the user (their access
    /// tokens with them); the caller's own login (`keep`) survives.
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep: CurrentLogin,
    ) -> Result<()> {
        self.config.password.check(new)?;
        self.check_current_password(user, current).await?;
        let hash = self.hashes.hash(new.to_owned(), self.entropy.as_ref()).await?;
        if !self.stores.users.set_password_hash(&user.id, &hash).await? {
            return Err(Error::Unauthorized("user deleted"));
        }
        self.session_cache.invalidate_all();
        let keep_session = match keep {
            CurrentLogin::Session(id) => Some(id),
            _ => None,
        };
        let keep_family = match keep {
            CurrentLogin::Family(id) => Some(id),
            _ => None,
        };
        self.end_user_sessions(&user.id, keep_session.as_ref()).await?;
        let now = self.clock.now();
        for id in
            self.stores.refresh.revoke_user_families(&user.id, keep_family.as_ref(), now).await?
        {
            self.announce(Change::FamilyRevoked(id)).await;
        }
        self.announce(Change::SessionsChanged).await;
        Ok(())
    }

    /// Checks `current` as `user`'s password, counted in the same
    /// per-account throttle as a login (a stolen access token must not
    /// buy unlimited guesses): `RateLimited` past the limit, before any
    /// hashing; `InvalidCredentials` when wrong.
    async fn check_current_password(&self, user: &User, current: &str) -> Result<()> {
        let keys = self.throttle.keys(user.username.as_str(), None);
        let reservation = self
            .throttle
            .reserve_at(self.stores.attempts.as_ref(), &keys, self.clock.now())
            .await?;
        let checked = self
            .hashes
            .verify_for(&keys.all(), current.to_owned(), user.password_hash.clone())
            .await
            .and_then(|check| match check {
                PasswordCheck::Match => Ok(()),
                PasswordCheck::Mismatch => Err(Error::InvalidCredentials("wrong current password")),
            });
        self.settle(reservation, &checked).await;
        checked
    }

    /// Disables (or re-enables) a user by name. Disabling ends every session
    /// and refresh family.
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<User> {
        let mut user = self.find_user_by_name(username).await?;
        if !self.stores.users.set_disabled(&user.id, disabled).await? {
            return Err(Error::NotFound);
        }
        self.session_cache.invalidate_all();
        if disabled {
            // Tokens first: the not-before also ends sessions created before it.
            self.end_all_tokens(&user.id).await?;
            self.end_user_sessions(&user.id, None).await?;
        }
        self.announce(Change::SessionsChanged).await;
        user.disabled = disabled;
        Ok(user)
    }

    /// Revokes every refresh family of `user` and every access token issued
    /// until now (the per-user not-before): the token half of "log out everywhere".
    pub(crate) async fn end_all_tokens(&self, user: &UserId) -> Result<()> {
        let now = self.clock.now();
        for id in self.stores.refresh.revoke_user_families(user, None, now).await? {
            self.announce(Change::FamilyRevoked(id)).await;
        }
        // `iat` has one-second resolution. Tokens of earlier seconds die by
        // the not-before; tokens of this second die with their family (every
        // user token carries its `sid`), so a login made right after this, in
        // the same second, is not refused.
        let not_before = now.minus(crate::Duration::seconds(1));
        self.stores.revocations.raise_tokens_not_before(user, not_before).await?;
        self.announce(Change::NotBeforeRaised { user: *user, at: not_before }).await;
        Ok(())
    }

    /// Ends every session, refresh family and access token of `user` (log
    /// out everywhere; forced by an admin).
    pub async fn log_out_everywhere(&self, user: &UserId) -> Result<()> {
        self.stores.users.find_user(user).await?.ok_or(Error::NotFound)?;
        self.session_cache.invalidate_all();
        // Tokens first: the not-before also ends sessions created before it.
        self.end_all_tokens(user).await?;
        self.end_user_sessions(user, None).await?;
        Ok(())
    }

    /// Disables a user by id: login refused, everything ended.
    pub async fn disable_user(&self, user: &UserId) -> Result<()> {
        let found = self.stores.users.find_user(user).await?.ok_or(Error::NotFound)?;
        self.set_user_disabled(found.username.as_str(), true).await.map(drop)
    }

    /// The username of `user` (for gateway identity headers). Usernames never
    /// change, so they are cached without invalidation.
    pub async fn username_of(&self, user: &UserId) -> Result<String> {
        if let Some(name) = self.usernames.get(user) {
            return Ok(name.to_string());
        }
        let found =
            self.stores.users.find_user(user).await?.ok_or(Error::Unauthorized("user deleted"))?;
        let name: std::sync::Arc<str> = found.username.as_str().into();
        self.usernames.insert(*user, name.clone());
        Ok(name.to_string())
    }

    /// The user with `id`, if any.
    pub async fn find_user(&self, id: &UserId) -> Result<Option<User>> {
        Ok(self.stores.users.find_user(id).await?)
    }

    /// The user named `username`, or `NotFound`.
    pub async fn find_user_by_name(&self, username: &str) -> Result<User> {
        let name = Username::parse(username).map_err(|_| Error::NotFound)?;
        self.stores.users.find_user_by_name(&name).await?.ok_or(Error::NotFound)
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(self.stores.users.list_users().await?)
    }
}

fn taken() -> Error {
    Error::Conflict("username is taken".to_owned())
}
