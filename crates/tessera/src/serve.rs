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
    tracing::info!(
        addr = %listener.local_addr()?, store = %settings.store, issuer = %settings.issuer,
        "tessera serving"
    );
    serve(listener, state, shutdown_signal()).await.context("server failed")?;
    sweeper.abort();
    watcher.abort();
    tracing::info!("tessera stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
