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

use std::fmt;

use async_trait::async_trait;
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::entropy::{self, Entropy};
use crate::secret::SecretHash;
use crate::session::ClientInfo;
use crate::store::StoreError;
use crate::user::UserId;

/// A family's public id: the `sid` claim of its access tokens.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct FamilyId(Uuid);

impl FamilyId {
    /// A fresh random id.
    pub fn generate(entropy: &dyn Entropy) -> Self {
        Self(uuid::Builder::from_random_bytes(entropy::bytes::<16>(entropy)).into_uuid())
    }

    /// Parses the hyphenated form.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
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

    /// Revokes every unrevoked family of `user` except `keep`; returns how many.
    async fn revoke_user_families(
        &self,
        user: &UserId,
        keep: Option<&FamilyId>,
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    /// The unrevoked families of `user` (expired ones included), oldest first.
    async fn list_user_families(&self, user: &UserId) -> Result<Vec<RefreshFamily>, StoreError>;

    /// Deletes families (and their tokens) whose absolute lifetime ended
    /// before `cutoff`; returns how many families.
    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}
