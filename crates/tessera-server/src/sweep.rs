//! The background sweep that deletes expired sessions.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::Tessera;
use tokio::task::JoinHandle;

/// Purges expired sessions every `every` until the task is aborted. A failed
/// sweep is logged and retried next round; expiry is enforced on every read
/// regardless, so the sweep only reclaims space.
pub fn spawn_session_sweeper(tessera: Arc<Tessera>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match tessera.purge_expired_sessions().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "expired sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
        }
    })
}
