//! Refresh-token families: the state behind token and hybrid mode.
//!
//! A login in token or hybrid mode starts a *family* (its id is the `sid` of
//! every access token it yields). Each refresh consumes the presented refresh
//! token and makes its successor current in one atomic store operation
//! ([`RefreshStore::rotate_refresh`]), a compare-and-set on the family's
//! generation. Presenting a consumed token again is reuse, and the core
//! revokes the whole family; the store reports what happened, the core
//! decides what it means.
//!
//! **The arrival rule.** A consumed token presented again counts as a
//! concurrent refresh (several tabs at once: refused, family kept) only if
//! that request arrived before the rotation that consumed it committed; any
//! later presentation is reuse. "Before" is shown one of two ways: the
//! request's own read of the family, made after it arrived, still found the
//! token current (the store's single order: no clock involved), or its
//! arrival [`Moment`] is no later than the moment the consuming rotation
//! recorded, which the rotating node read just before its commit, plus
//! [`RefreshPolicy::arrival_tolerance`] (a handler reads the clock only once
//! the request is scheduled, which under load lags its arrival by
//! milliseconds). Across nodes the second way compares two nodes' clocks:
//! see the README ("Security, as built") for the skew this tolerates.
//!
//! **What is stored.** A token names its family and generation under a MAC
//! (see `refresh_token.rs`), so a family row holds only the current token's
//! hash, its generation and the last rotation's moment: any earlier
//! generation that verifies is known to be consumed without keeping a row
//! per consumed token. A family costs one row however often it rotates.

use crate::change::Change;
use std::fmt;

use async_trait::async_trait;

use crate::clock::{Duration, Moment, Timestamp};
use crate::error::{Error, Result};
use crate::secret::{Secret, SecretHash};

#[path = "refresh_token.rs"]
mod refresh_token;
use crate::service::Tessera;
use crate::session::ClientInfo;
use crate::store::StoreError;
use crate::user::{User, UserId};
use refresh_token::Presented;
pub use refresh_token::TokenRef;

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
    /// The current token's generation: 0 at login, one more per rotation.
    pub generation: u64,
    /// When the last rotation (the one that consumed generation
    /// `generation - 1`) was made, as the rotating node's clock read it just
    /// before committing; `None` until the first rotation.
    pub rotated_at: Option<Moment>,
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
    /// The token was current; its successor now is. The family is returned
    /// as updated (generation, `rotated_at`, `last_used_at`); it may be
    /// revoked or expired: the caller checks.
    Rotated(RefreshFamily),
    /// The family has moved past the token's generation: the token was
    /// consumed (by a concurrent refresh, or it is replayed). Nothing was
    /// written; the family is returned as it stands.
    AlreadyConsumed(RefreshFamily),
    /// No such family, or the token is not one it issued (a generation ahead
    /// of it, or another hash for its current generation).
    Unknown,
}

/// Persistence of refresh-token families: one record per family, holding
/// the current token's hash and generation; consumed tokens leave nothing.
#[async_trait]
pub trait RefreshStore: Send + Sync + fmt::Debug {
    /// Stores a new family (its `generation` and `rotated_at` as given) with
    /// `first_token` as the hash of its current token. `Conflict` if the
    /// family id exists.
    async fn insert_family(
        &self,
        family: &RefreshFamily,
        first_token: &SecretHash,
    ) -> Result<(), StoreError>;

    /// Atomically (compare-and-set): if `presented` is the current token of
    /// its family (same generation, same hash), makes `successor` current at
    /// generation + 1, records `rotated_at` and sets `last_used_at` to at
    /// least `now`. Of any number of concurrent calls with the same
    /// `presented`, exactly one returns [`Rotation::Rotated`]. Otherwise
    /// [`Rotation::AlreadyConsumed`] if the family's generation is past the
    /// token's, else [`Rotation::Unknown`]; nothing is written.
    async fn rotate_refresh(
        &self,
        presented: &TokenRef,
        successor: &SecretHash,
        now: Timestamp,
        rotated_at: Moment,
    ) -> Result<Rotation, StoreError>;

    /// The family of a refresh token issued before tokens named their family
    /// (the one that was current when the store was upgraded; it is that
    /// family's generation 0), or `None`. Such records are never written
    /// again and go with their family.
    async fn find_legacy_token(&self, token: &SecretHash) -> Result<Option<FamilyId>, StoreError>;

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

    /// Deletes families (and their legacy token records) whose absolute
    /// lifetime ended before `cutoff`; returns how many families.
    async fn purge_families(&self, cutoff: Timestamp) -> Result<u64, StoreError>;
}

/// Refresh-family lifetimes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Absolute lifetime of a family, however often it is refreshed.
    pub family_ttl: Duration,
    /// How late a request's arrival may be measured, against the moment the
    /// consuming rotation recorded, and still count as before it: the
    /// handler reads the clock only once the request is scheduled (measured
    /// on a loaded two-core host with three nodes: concurrent requests seen
    /// 1 to 15 ms after the winner's commit), and nodes' clocks differ by
    /// their skew. A replay within it of the commit is refused but does not
    /// revoke; any later one does.
    pub arrival_tolerance: std::time::Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            family_ttl: Duration::seconds(2_592_000),
            arrival_tolerance: std::time::Duration::from_millis(100),
        }
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
                generation: 0,
                rotated_at: None,
            };
            let (secret, first) = self.mint_refresh(&family.id, 0);
            match self.stores.refresh.insert_family(&family, &first.hash).await {
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

    fn mint_refresh(&self, family: &FamilyId, generation: u64) -> (Secret, TokenRef) {
        refresh_token::mint(&self.master_key, family, generation, self.entropy.as_ref())
    }

    /// Which token of which family `presented` is, and that family as it
    /// stands, or `None` for junk, a forgery or a token of a purged family.
    /// Consumed tokens resolve too: callers decide what they may do.
    pub(crate) async fn resolve_refresh(
        &self,
        presented: &str,
    ) -> Result<Option<(TokenRef, RefreshFamily)>> {
        let token = match refresh_token::parse(&self.master_key, presented) {
            Presented::Sealed(token) => token,
            Presented::Legacy(hash) => match self.stores.refresh.find_legacy_token(&hash).await? {
                Some(family) => TokenRef { family, generation: 0, hash },
                None => return Ok(None),
            },
            Presented::Invalid => return Ok(None),
        };
        let family = self.stores.refresh.find_family(&token.family).await?;
        Ok(family.map(|f| (token, f)))
    }

    /// Rotates `presented` for the authenticated client `client_id`: the
    /// token dies and a successor is issued in the same family.
    /// `arrived_at` is when the request arrived, read from the clock before
    /// anything else was done with it (the arrival rule, in the module docs).
    ///
    /// `InvalidGrant` for an unknown, malformed, forged, expired or revoked
    /// token, one bound to another client (which is left unconsumed), a
    /// disabled user, or a consumed one. A consumed token whose request
    /// arrived after the consuming rotation committed is reuse: the whole
    /// family is revoked (on every node) before answering.
    pub async fn rotate_refresh(
        &self,
        presented: &str,
        client_id: &str,
        scope: Option<&str>,
        arrived_at: Moment,
    ) -> Result<IssuedRefresh> {
        // A family's client never changes, so this read before the atomic
        // rotation is safe; it keeps a wrong client from consuming the token.
        // It is also this request's first look at the family, made after it
        // arrived: if the token was current then, any rotation that beats us
        // committed after our arrival.
        let Some((token, family)) = self.resolve_refresh(presented).await? else {
            return Err(Error::InvalidGrant("unknown refresh token"));
        };
        if family.client_id != client_id {
            return Err(Error::InvalidGrant("refresh token of another client"));
        }
        // A scope that would grow is refused before the token is consumed.
        crate::scope::narrow(scope, &family.scope)?;
        let current_when_read = family.generation == token.generation;
        let (successor, next) = self.mint_refresh(&family.id, token.generation.saturating_add(1));
        let now = self.clock.now();
        // Read as late as possible before the commit: a request arriving
        // later than this and finding the token consumed is reuse.
        let rotated_at = self.clock.moment();
        match self.stores.refresh.rotate_refresh(&token, &next.hash, now, rotated_at).await? {
            Rotation::Rotated(family) => self.check_rotated(family, successor, now).await,
            Rotation::AlreadyConsumed(family) => {
                let tolerance = self.config.refresh.arrival_tolerance;
                if current_when_read
                    || arrived_before_consumed(&token, &family, arrived_at, tolerance)
                {
                    return Err(Error::InvalidGrant(
                        "refresh token consumed by a concurrent refresh",
                    ));
                }
                // Reuse: someone holds a token that was already rotated. Either
                // party may be the thief, so the whole family dies.
                // How long after the consuming rotation the request arrived
                // (negative: before it, but read after it): for operators
                // judging false alarms against clock skew.
                let after_us = family.rotated_at.map(|c| arrived_at.micros() - c.micros());
                tracing::warn!(sid = %family.id, user = %family.user_id, generation = token.generation,
                    current = family.generation, ?after_us, "refresh token reuse; family revoked");
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

/// Whether a request that arrived at `arrived_at` came before the rotation
/// that consumed `token` committed, within the measurement's `tolerance`. Only the last rotation's moment
/// is kept, so only the token it consumed (generation `current - 1`) can be
/// shown to be concurrent this way; an older one was consumed by an earlier
/// rotation whose moment is gone, and "only if it arrived before" cannot be
/// shown, so it is reuse.
fn arrived_before_consumed(
    token: &TokenRef,
    family: &RefreshFamily,
    arrived_at: Moment,
    tolerance: std::time::Duration,
) -> bool {
    let tolerance = i64::try_from(tolerance.as_micros()).unwrap_or(i64::MAX);
    family.generation == token.generation.saturating_add(1)
        && family.rotated_at.is_some_and(|committed| {
            arrived_at.micros() <= committed.micros().saturating_add(tolerance)
        })
}

#[cfg(test)]
#[path = "refresh_tests.rs"]
mod tests;
