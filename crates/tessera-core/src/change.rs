//! Changes that can revoke, and how every process learns of them at once.
//!
//! Each process keeps what can deny a credential in memory (the revocation
//! index, the session cache, the key ring) so that checks need no network
//! hop. When one process revokes something it writes the durable record
//! first, applies the [`Change`] to its own memory, then publishes it on the
//! [`ChangeFeed`] (Redis pub/sub across nodes). Receivers apply it to their
//! memory. A feed can lose messages (a reconnect), so a receiver that was cut
//! off resynchronises from the durable store before trusting its memory
//! again, and the revision poll remains as a backstop: nothing is missed,
//! only delayed, and while a process is unsure it fails closed.

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::refresh::FamilyId;
use crate::service::Tessera;
use crate::store::StoreError;
use crate::user::UserId;

/// Something that can deny a credential, as announced to other processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An access token was revoked (RFC 7009) until it expires.
    TokenRevoked {
        /// The token's `jti`.
        jti: String,
        /// The token's `exp`.
        expires_at: Timestamp,
    },
    /// A refresh family, and every access token naming it as `sid`, ended.
    FamilyRevoked(FamilyId),
    /// No token of `user` issued before `at` is valid any more.
    NotBeforeRaised {
        /// The user.
        user: UserId,
        /// The new not-before.
        at: Timestamp,
    },
    /// A browser session ended (its end is durable): refuse it from now on,
    /// whatever the session store says.
    SessionEnded {
        /// The session.
        id: crate::session::SessionId,
        /// When it would have expired anyway (how long to remember it).
        until: Timestamp,
    },
    /// Sessions ended or a user changed (logout, disable, password): cached
    /// sessions must be read again.
    SessionsChanged,
    /// The signing key ring changed: reload it.
    KeysChanged,
}

impl Change {
    /// The wire form: one line of ASCII, the kind first.
    pub fn encode(&self) -> String {
        match self {
            Self::TokenRevoked { jti, expires_at } => format!("t {} {jti}", expires_at.unix()),
            Self::FamilyRevoked(id) => format!("f {id}"),
            Self::NotBeforeRaised { user, at } => format!("n {} {user}", at.unix()),
            Self::SessionEnded { id, until } => format!("e {} {id}", until.unix()),
            Self::SessionsChanged => "s".to_owned(),
            Self::KeysChanged => "k".to_owned(),
        }
    }

    /// Reads the wire form; `None` for anything else (receivers then
    /// resynchronise from the store rather than guess).
    pub fn decode(line: &str) -> Option<Self> {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let stamped = || {
            let (unix, tail) = rest.split_once(' ')?;
            Some((Timestamp::from_unix(unix.parse().ok()?), tail))
        };
        match kind {
            "t" => {
                let (expires_at, jti) = stamped()?;
                (!jti.is_empty()).then(|| Self::TokenRevoked { jti: jti.to_owned(), expires_at })
            }
            "f" => FamilyId::parse(rest).map(Self::FamilyRevoked),
            "n" => {
                let (at, user) = stamped()?;
                Some(Self::NotBeforeRaised { user: UserId::parse(user)?, at })
            }
            "e" => {
                let (until, id) = stamped()?;
                Some(Self::SessionEnded { id: crate::session::SessionId::parse(id)?, until })
            }
            "s" if rest.is_empty() => Some(Self::SessionsChanged),
            "k" if rest.is_empty() => Some(Self::KeysChanged),
            _ => None,
        }
    }
}

/// What a change-feed subscriber reports, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedEvent {
    /// (Re)subscribed: anything may have been missed before this point.
    Connected,
    /// A change another process (or this one) announced.
    Change(Change),
    /// A message that is not a [`Change`] this version understands.
    Unreadable,
    /// The subscription is cut; a `Connected` follows when it is back.
    Lost,
}

/// Publishes changes to every other process sharing the stores.
#[async_trait]
pub trait ChangeFeed: Send + Sync + fmt::Debug {
    /// Sends `change` to every subscriber. Delivery is best effort: receivers
    /// that miss it catch up from the store.
    async fn publish(&self, change: &Change) -> std::result::Result<(), StoreError>;

    /// Starts a subscription that reports [`FeedEvent`]s, in order, until the
    /// receiver is dropped; `None` for a feed with nothing to follow.
    fn subscribe(&self) -> Option<tokio::sync::mpsc::Receiver<FeedEvent>> {
        None
    }
}

/// The feed of a single node: publishes nothing. Other processes on the same
/// store (the CLI) are covered by the revision poll.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalFeed;

#[async_trait]
impl ChangeFeed for LocalFeed {
    async fn publish(&self, _change: &Change) -> std::result::Result<(), StoreError> {
        Ok(())
    }
}

impl Tessera {
    /// Applies a change made here to this process's memory, then tells the
    /// others. The durable record is already written; if publishing fails,
    /// the others learn of it through their revision poll instead.
    pub(crate) async fn announce(&self, change: Change) {
        self.apply_local(&change);
        if let Err(e) = self.stores.feed.publish(&change).await {
            tracing::warn!(error = %e, "could not publish a revocation; other nodes learn of it by polling");
        }
    }

    /// Applies a change another process announced. Only a key change needs
    /// the store (to load the new ring).
    pub async fn apply_change(&self, change: &Change) -> Result<()> {
        self.apply_local(change);
        if *change == Change::KeysChanged {
            self.reload_token_state().await?;
        }
        Ok(())
    }

    fn apply_local(&self, change: &Change) {
        let index = &self.tokens.revocations;
        match change {
            Change::TokenRevoked { jti, expires_at } => index.add_token(jti, *expires_at),
            Change::FamilyRevoked(id) => index.add_family(*id),
            Change::NotBeforeRaised { user, at } => index.raise_not_before(*user, *at),
            Change::SessionEnded { id, until } => index.end_session(*id, *until),
            Change::SessionsChanged | Change::KeysChanged => {}
        }
        // Any change may concern a cached session (a family's login, a
        // disabled user): dropping the cache is cheap and always safe.
        self.session_cache.invalidate_all();
    }

    /// The feed was cut: until [`resync`](Self::resync) succeeds, this
    /// process may have missed revocations, so it fails closed (cached
    /// sessions dropped, bearer checks answer `Store`).
    pub fn feed_lost(&self) {
        self.tokens.feed_current.store(false, std::sync::atomic::Ordering::Release);
        self.session_cache.invalidate_all();
        self.session_cache.forget_revision();
    }

    /// Catches up after a (re)connection to the feed: drops cached sessions
    /// and reloads revocations and keys from the durable store. Call it after
    /// subscribing, so that nothing published meanwhile is missed.
    pub async fn resync(&self) -> Result<()> {
        self.session_cache.invalidate_all();
        let outcome = self.reload_token_state().await;
        self.tokens.feed_current.store(outcome.is_ok(), std::sync::atomic::Ordering::Release);
        outcome
    }

    /// Subscribes to the stores' change feed; `None` on a single node.
    pub fn subscribe_feed(&self) -> Option<tokio::sync::mpsc::Receiver<FeedEvent>> {
        self.stores.feed.subscribe()
    }

    /// Follows a change feed until its sender is dropped. Fails closed at
    /// once (nothing is known yet); on every connection, catches up from the
    /// store, retrying every [`RESYNC_RETRY`] until it can; then applies each
    /// change; fails closed again whenever the feed is cut.
    pub async fn follow_feed(&self, mut events: tokio::sync::mpsc::Receiver<FeedEvent>) {
        self.feed_lost();
        let (mut connected, mut caught_up) = (false, false);
        loop {
            let event = if connected && !caught_up {
                tokio::select! {
                    event = events.recv() => event,
                    () = tokio::time::sleep(RESYNC_RETRY) => {
                        caught_up = self.catch_up().await;
                        continue;
                    }
                }
            } else {
                events.recv().await
            };
            let Some(event) = event else { break };
            match event {
                FeedEvent::Connected | FeedEvent::Unreadable => {
                    connected = true;
                    caught_up = self.catch_up().await;
                }
                // Changes met before catching up are in the store already
                // (announced after their durable write): the resync sees them.
                FeedEvent::Change(change) if caught_up => {
                    if let Err(e) = self.apply_change(&change).await {
                        tracing::warn!(error = %e, "could not apply a change; resynchronising");
                        self.feed_lost();
                        caught_up = false;
                    }
                }
                FeedEvent::Change(_) => {}
                FeedEvent::Lost => {
                    tracing::warn!("change feed lost; failing closed until it is back");
                    self.feed_lost();
                    (connected, caught_up) = (false, false);
                }
            }
        }
    }

    async fn catch_up(&self) -> bool {
        match self.resync().await {
            Ok(()) => true,
            Err(e) => {
                self.feed_lost();
                tracing::warn!(error = %e, "change feed cannot catch up from the store yet");
                false
            }
        }
    }
}

/// How often a connected feed retries catching up from an unreachable store.
pub const RESYNC_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn change_encode_decode_roundtrips_every_kind() {
        let changes = [
            Change::TokenRevoked { jti: "a b:c".into(), expires_at: Timestamp::from_unix(9) },
            Change::FamilyRevoked(FamilyId::generate(&OsEntropy)),
            Change::NotBeforeRaised {
                user: UserId::generate(&OsEntropy),
                at: Timestamp::from_unix(1_790_000_000),
            },
            Change::SessionEnded {
                id: crate::session::SessionId::generate(&OsEntropy),
                until: Timestamp::from_unix(1_790_000_000),
            },
            Change::SessionsChanged,
            Change::KeysChanged,
        ];
        for c in changes {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
    }

    #[test]
    fn change_decode_garbage_is_none() {
        for line in [
            "",
            "x",
            "t",
            "t 5",
            "t five jti",
            "t 5 ",
            "f nope",
            "n 1 nope",
            "e 1 nope",
            "s x",
            "k 1",
        ] {
            assert_eq!(Change::decode(line), None, "{line:?}");
        }
    }
}
