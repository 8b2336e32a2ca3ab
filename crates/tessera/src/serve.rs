//! `tessera serve`.

use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_server::{
    AppState, serve, spawn_change_follower, spawn_revocation_watcher, spawn_session_sweeper,
};
use tokio::net::TcpListener;

use crate::settings::Settings;

/// Runs the server until SIGINT or SIGTERM, then shuts down in order:
/// `/readyz` turns 503, the listener closes, in-flight requests finish (at
/// most the drain timeout), background tasks stop, and the stores are
/// released.
pub async fn run(mut settings: Settings) -> Result<()> {
    // TLS first: a bad certificate or key fails before any store is touched.
    if let Some(files) = &settings.tls {
        settings.server.transport.tls = Some(tessera_server::tls::load(&files.cert, &files.key)?);
    }
    let tessera = crate::wiring::tessera(&settings).await?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let sweeper = spawn_session_sweeper(Arc::clone(&tessera), settings.sweep_interval);
    let watcher = spawn_revocation_watcher(Arc::clone(&tessera), settings.revocation_poll);
    let follower = spawn_change_follower(Arc::clone(&tessera));
    let state = AppState { tessera, config: Arc::new(settings.server) };
    let shutdown = shutdown_signal()?;
    tracing::info!(
        addr = %listener.local_addr()?, tls = settings.tls.is_some(),
        store = %crate::wiring::redact(&settings.store), redis = settings.redis.is_some(),
        issuer = %settings.issuer, "tessera serving"
    );
    serve(listener, state, shutdown).await.context("server failed")?;
    // The stores close when the last handle to them goes: the server's went
    // with `serve`, these tasks hold the others. (Stores are trait objects
    // without a close method; dropping the SQLite pool closes its
    // connections, and every commit is already durable.)
    for task in [Some(sweeper), Some(watcher), follower].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    tracing::info!("tessera stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed here, before
/// the server announces itself, so a signal sent as soon as it is up is
/// handled gracefully rather than killing the process.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    })
}
