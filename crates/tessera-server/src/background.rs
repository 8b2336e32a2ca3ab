//! Background tasks: the expired-session sweep, the revocation watcher and
//! the change-feed follower.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::Tessera;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Every `every` until aborted: purges expired sessions, rotates the signing
/// key when its interval is up, prunes retired keys whose tokens have all
/// expired, and purges expired revocations and refresh families. A failed
/// round is logged and retried next time; expiry is enforced on every read
/// regardless, so the purges only reclaim space.
pub fn spawn_session_sweeper(tessera: Arc<Tessera>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match tessera.purge_expired_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
            if let Err(e) = tessera.maintain_keys().await {
                tracing::warn!(error = %e, "key maintenance failed");
            }
        }
    })
}

/// Polls the store's revision every `every`, so that a logout, disable or
/// password change made by another process (the CLI, another node) reaches
/// this process's session cache within that period. A poll that gets no
/// answer within [`poll_limit`] marks the stores down (503 at once) until
/// one succeeds: a lost store is noticed within a poll interval or two,
/// never after a pool's connect timeout.
pub fn spawn_revocation_watcher(tessera: Arc<Tessera>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match tessera.watch_revocations(poll_limit(every)).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("revocation watcher recovered");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "revocation watcher cannot reach the store; cache dropped");
                }
                Err(_) => {}
            }
        }
    })
}

/// How long one revision poll may take before the stores count as down:
/// twice the interval, at least 250 ms (a loaded but live database answers a
/// one-row read well within that; a poll that is merely slow fails closed
/// only until its answer comes).
pub fn poll_limit(every: Duration) -> Duration {
    (every * 2).max(Duration::from_millis(250))
}

/// Follows the stores' change feed (Redis pub/sub), if they have one, so that
/// revocations made on other nodes apply here within milliseconds; `None` on
/// a single node.
pub fn spawn_change_follower(tessera: Arc<Tessera>) -> Option<JoinHandle<()>> {
    let events = tessera.subscribe_feed()?;
    Some(tokio::spawn(async move { tessera.follow_feed(events).await }))
}
