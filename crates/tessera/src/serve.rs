//! `tessera serve`.

use std::sync::Arc;

use anyhow::{Context, Result};
use tessera_server::{AppState, serve, spawn_revocation_watcher, spawn_session_sweeper};
use tokio::net::TcpListener;

use crate::settings::Settings;

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> Result<()> {
    let tessera = crate::wiring::tessera(&settings).await?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let sweeper = spawn_session_sweeper(Arc::clone(&tessera), settings.sweep_interval);
    let watcher = spawn_revocation_watcher(Arc::clone(&tessera), settings.revocation_poll);
    let state = AppState { tessera, config: Arc::new(settings.server) };
    let shutdown = shutdown_signal()?;
    tracing::info!(
        addr = %listener.local_addr()?, store = %settings.store, issuer = %settings.issuer,
        "tessera serving"
    );
    serve(listener, state, shutdown).await.context("server failed")?;
    sweeper.abort();
    watcher.abort();
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
