//! Refresh-token families: the state behind token and hybrid mode.
//!
//! A login in token or hybrid mode starts a *family* (its id is the `sid` of
//! every access token it yields). Each refresh consumes the presented refresh
//! token and stores a successor in one atomic store operation
//! ([`RefreshStore::rotate_refresh`]). Presenting a consumed token again is
//! reuse, and the core revokes the whole family. The store reports what
//! happened; the core decides what it means (a consumption a moment ago is a
//! concurrent refresh, not an attack).
//!
//! Refresh tokens are 256-bit secrets; stores keep only their SHA-256.

use crate::change::Change;
use std::fmt;

use async_trait::async_trait;

use crate::clock::{Duration, Timestamp};
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretHash};
use crate::service::Tessera;
use crate::session::ClientInfo;
use crate::store::StoreError;
use crate::user::{User, UserId};

crate::id::random_id! {
    /// A family's public id: the `sid` claim of its access tokens.
    FamilyId
}

/// How the family's tokens reach the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKind {
    /// `Authorization: Bearer` and a refresh token in the response body.
    Token,
    /// The access and refresh tokens in `HttpOnly` cookies.
    Hybrid,
}

impl FamilyKind {
    /// The stored and listed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Hybrid => "hybrid",
        }
    }

    /// Parses [`Self::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "token" => Some(Self::Token),
            "hybrid" => Some(Self::Hybrid),
            _ => None,
        }
    }
}

/// A stored refresh-token family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshFamily {
    /// Public id (`sid`).
    pub id: FamilyId,
    /// Owner.
    pub user_id: UserId,
    /// The client the family is bound to.
    pub client_id: String,
    /// The scope granted at login; a refresh may narrow an access token's
    /// scope but never the family's.
    pub scope: String,
    /// Token or hybrid mode.
    pub kind: FamilyKind,
    /// Login time (`auth_time`).
    pub created_at: Timestamp,
    /// End of the absolute lifetime, however often it is refreshed.
    pub expires_at: Timestamp,
    /// Last successful refresh (or the login).
    pub last_used_at: Timestamp,
    /// Where the login came from.
    pub client: ClientInfo,
    /// Set once the family is revoked; it never comes back.
    pub revoked_at: Option<Timestamp>,
}

impl RefreshFamily {
    /// Whether the family may still mint tokens at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What an attempt to consume a refresh token found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was unconsumed; it is now consumed and the successor stored
    /// in its family. The family is returned as updated (`last_used_at`);
    /// it may be revoked or expired: the caller checks.
    Rotated(RefreshFamily),
    /// The token had already been consumed, at `consumed_at`: a concurrent
    /// refresh or a replay. Nothing was written.
    AlreadyConsumed {
        /// Its family.
        family: RefreshFamily,
        /// When it was consumed.
        consumed_at: Timestamp,
    },
    /// No such token (never issued, or purged with an expired family).
    Unknown,
}

/// Persistence of refresh-token families.
#[async_trait]
pub trait RefreshStore: Send + Sync + fmt::Debug {
    /// Stores a new family with its first refresh token. `Conflict` if the
    /// family id or the token hash exists.
    async fn insert_family(
        &self,
        family: &RefreshFamily,
        first_token: &SecretHash,
    ) -> Result<(), StoreError>;

    /// Atomically consumes `presented` and stores `successor` in its family,
    /// setting the family's `last_used_at` to `now`. Of any number of
    /// concurrent calls with the same `presented`, exactly one returns
    /// [`Rotation::Rotated`].
    async fn rotate_refresh(
        &self,
        presented: &SecretHash,
        successor: &SecretHash,
        now: Timestamp,
    ) -> Result<Rotation, StoreError>;

    /// The family holding `token` (consumed or not), or `None`.
    async fn find_family_by_token(
        &self,
        token: &SecretHash,
    ) -> Result<Option<RefreshFamily>, StoreError>;

    /// The family with `id`, or `None`.
    async fn find_family(&self, id: &FamilyId) -> Result<Option<RefreshFamily>, StoreError>;

    /// Marks the family revoked at `at`. `false` if it does not exist or was
    /// already revoked (the first revocation time is kept).
    async fn revoke_family(&self, id: &FamilyId, at: Timestamp) -> Result<bool, StoreError>;

    /// Revokes every unrevoked family of `user` except `keep`; returns
    /// their ids.
    async fn revoke_user_families(
        &self,
        user: &UserId,
        keep: Option<&FamilyId>,
        at: Timestamp,
    ) -> Result<Vec<FamilyId>, StoreError>;

    /// The unrevoked families of `user` (expired ones included), oldest first.
    async fn list_user_families(&self, user: &UserId) -> Result<Vec<RefreshFamily>, StoreError>;

    /// Deletes families (and their tokens) whose absolute lifetime ended
    /// before `cutoff`; returns how many families.
    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}

/// Refresh-family lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Absolute lifetime of a family, however often it is refreshed.
    pub family_ttl: Duration,
    /// A consumed token presented again within this long of its consumption
    /// is taken for a concurrent refresh (several tabs at once) and refused
    /// without revoking the family; later, it is reuse. Kept short: within
    /// it, a thief who refreshed first is not detected by the owner's retry.
    pub race_window: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self { family_ttl: Duration::seconds(2_592_000), race_window: Duration::seconds(2) }
    }
}

/// A refresh token handed to a client, with the family it belongs to.
#[derive(Debug)]
pub struct IssuedRefresh {
    /// The token, shown to the client once, never stored.
    pub secret: Secret,
    /// The family (its id is the access tokens' `sid`).
    pub family: RefreshFamily,
}

/// What a family is started for.
#[derive(Clone, Debug)]
pub struct FamilyRequest {
    /// The client the tokens are bound to.
    pub client_id: String,
    /// The scope granted.
    pub scope: String,
    /// Token or hybrid mode.
    pub kind: FamilyKind,
    /// Where the login came from.
    pub client: ClientInfo,
}

impl Tessera {
    /// Starts a refresh family for `user` after a successful login.
    pub async fn start_family(&self, user: &User, req: FamilyRequest) -> Result<IssuedRefresh> {
        let now = self.clock.now();
        for _ in 0..3 {
            let secret = Secret::generate(self.entropy.as_ref());
            let family = RefreshFamily {
                id: FamilyId::generate(self.entropy.as_ref()),
                user_id: user.id,
                client_id: req.client_id.clone(),
                scope: req.scope.clone(),
                kind: req.kind,
                created_at: now,
                expires_at: now.plus(self.config.refresh.family_ttl),
                last_used_at: now,
                client: req.client.clone(),
                revoked_at: None,
            };
            match self.stores.refresh.insert_family(&family, &secret.hash()).await {
                Ok(()) => {
                    // Bounded per user: past the cap, the oldest others end.
                    let own = crate::device::LoginHandle::Family(family.id);
                    self.enforce_login_cap(&user.id, own).await?;
                    return Ok(IssuedRefresh { secret, family });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Internal("refresh family id collided three times".to_owned()))
    }

    /// Rotates `presented` for the authenticated client `client_id`: the
    /// token dies and a successor is issued in the same family.
    ///
    /// `InvalidGrant` for an unknown, malformed, expired or revoked token, one
    /// bound to another client (which is left unconsumed), a disabled user,
    /// or a consumed one. A consumed token presented after the race window
    /// is reuse: the whole family is revoked before answering.
    pub async fn rotate_refresh(
        &self,
        presented: &str,
        client_id: &str,
        scope: Option<&str>,
    ) -> Result<IssuedRefresh> {
        let presented = Secret::from_presented(presented);
        if !presented.is_well_formed() {
            return Err(Error::InvalidGrant("malformed refresh token"));
        }
        let hash = presented.hash();
        let store = &self.stores.refresh;
        // A family's client never changes, so this read before the atomic
        // rotation is safe; it keeps a wrong client from consuming the token.
        let family = store.find_family_by_token(&hash).await?;
        match family {
            None => return Err(Error::InvalidGrant("unknown refresh token")),
            Some(f) if f.client_id != client_id => {
                return Err(Error::InvalidGrant("refresh token of another client"));
            }
            // A scope that would grow is refused before the token is consumed.
            Some(f) => {
                crate::scope::narrow(scope, &f.scope)?;
            }
        }
        let successor = Secret::generate(self.entropy.as_ref());
        let now = self.clock.now();
        match store.rotate_refresh(&hash, &successor.hash(), now).await? {
            Rotation::Rotated(family) => self.check_rotated(family, successor, now).await,
            Rotation::AlreadyConsumed { family, consumed_at } => {
                if now <= consumed_at.plus(self.config.refresh.race_window) {
                    return Err(Error::InvalidGrant(
                        "refresh token consumed by a concurrent refresh",
                    ));
                }
                // Reuse: someone holds a token that was already rotated. Either
                // party may be the thief, so the whole family dies.
                tracing::warn!(sid = %family.id, user = %family.user_id, "refresh token reuse; family revoked");
                self.revoke_family(&family.id).await?;
                Err(Error::InvalidGrant("refresh token reuse"))
            }
            Rotation::Unknown => Err(Error::InvalidGrant("unknown refresh token")),
        }
    }

    async fn check_rotated(
        &self,
        family: RefreshFamily,
        successor: Secret,
        now: Timestamp,
    ) -> Result<IssuedRefresh> {
        if !family.is_live_at(now) {
            return Err(Error::InvalidGrant("refresh family revoked or expired"));
        }
        let user = self.stores.users.find_user(&family.user_id).await?;
        if user.is_none_or(|u| u.disabled) {
            return Err(Error::InvalidGrant("user disabled or deleted"));
        }
        Ok(IssuedRefresh { secret: successor, family })
    }

    /// Revokes one family now (logout, reuse, `DELETE /v1/sessions/{id}`):
    /// its refresh tokens and its access tokens (`sid`) die at once.
    pub async fn revoke_family(&self, id: &FamilyId) -> Result<()> {
        self.stores.refresh.revoke_family(id, self.clock.now()).await?;
        self.announce(Change::FamilyRevoked(*id)).await;
        Ok(())
    }
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
